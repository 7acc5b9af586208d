/* HTML to text. The built-in converter is a single forward pass with no
 * DOM: good enough to read a newsletter, and linear on any input. The
 * external filter is the user's own command line (html_filter), so it runs
 * under /bin/sh -c, fed through a socket (so a filter that exits early
 * cannot kill us with SIGPIPE), with a deadline and an output cap. */
#include "private.h"

#include "core/charset/lib.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- built-in converter ------------------------------------------------ */

struct html_out {
    struct tbuf *out;
    size_t start;     /* out->len when we began: never trim before it */
    int newlines;     /* trailing newlines already written (capped at 2) */
    bool space;       /* whitespace pending */
    bool any;         /* some text written */
    int pre;          /* inside <pre> */
    enum tern_rc rc;
};

static void put_raw(struct html_out *h, const char *s, size_t n)
{
    if (!h->rc && n)
        h->rc = tbuf_append(h->out, s, n);
}

static void put_text(struct html_out *h, const char *s, size_t n)
{
    if (!n)
        return;
    if (h->space && h->newlines == 0 && h->any)
        put_raw(h, " ", 1);
    h->space = false;
    put_raw(h, s, n);
    h->newlines = 0;
    h->any = true;
    for (size_t i = 0; i < n; i++)
        h->newlines = s[i] == '\n' ? h->newlines + 1 : 0;
}

/* End the line (k = 1) or the paragraph (k = 2). */
static void put_break(struct html_out *h, int k)
{
    h->space = false;
    if (!h->any)
        return;
    while (h->newlines < k) {
        put_raw(h, "\n", 1);
        h->newlines++;
    }
}

static const struct {
    const char *name;
    uint32_t cp;
} entities[] = {
    {"amp", '&'},     {"lt", '<'},       {"gt", '>'},       {"quot", '"'},
    {"apos", '\''},   {"nbsp", ' '},     {"copy", 0xA9},    {"reg", 0xAE},
    {"trade", 0x2122}, {"hellip", 0x2026}, {"mdash", 0x2014}, {"ndash", 0x2013},
    {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"sbquo", 0x201A}, {"ldquo", 0x201C},
    {"rdquo", 0x201D}, {"bdquo", 0x201E}, {"bull", 0x2022},  {"middot", 0xB7},
    {"laquo", 0xAB},  {"raquo", 0xBB},   {"euro", 0x20AC},  {"pound", 0xA3},
    {"yen", 0xA5},    {"cent", 0xA2},    {"sect", 0xA7},    {"para", 0xB6},
    {"deg", 0xB0},    {"plusmn", 0xB1},  {"times", 0xD7},   {"divide", 0xF7},
    {"frac12", 0xBD}, {"frac14", 0xBC},  {"frac34", 0xBE},  {"iexcl", 0xA1},
    {"iquest", 0xBF}, {"shy", 0},        {"zwnj", 0},       {"zwj", 0},
    {"ensp", ' '},    {"emsp", ' '},     {"thinsp", ' '},   {"dagger", 0x2020},
    {"auml", 0xE4},   {"ouml", 0xF6},    {"uuml", 0xFC},    {"Auml", 0xC4},
    {"Ouml", 0xD6},   {"Uuml", 0xDC},    {"szlig", 0xDF},   {"eacute", 0xE9},
    {"egrave", 0xE8}, {"ecirc", 0xEA},   {"euml", 0xEB},    {"Eacute", 0xC9},
    {"aacute", 0xE1}, {"agrave", 0xE0},  {"acirc", 0xE2},   {"aring", 0xE5},
    {"ccedil", 0xE7}, {"iacute", 0xED},  {"oacute", 0xF3},  {"ocirc", 0xF4},
    {"uacute", 0xFA}, {"ntilde", 0xF1},  {"oslash", 0xF8},  {"aelig", 0xE6},
};

/* Decode the entity at s[0..n) (s[0] == '&'); returns bytes consumed, 0
 * when it is not one (the '&' is then literal). */
static size_t entity(const char *s, size_t n, struct tbuf *cp_out, enum tern_rc *rc)
{
    size_t i = 1;
    uint32_t cp;
    if (i < n && s[i] == '#') {
        i++;
        bool hex = i < n && (s[i] == 'x' || s[i] == 'X');
        if (hex)
            i++;
        size_t a = i;
        uint32_t v = 0;
        while (i < n && i - a < 8) {
            char c = s[i];
            int d = c >= '0' && c <= '9'                ? c - '0'
                    : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                        : -1;
            if (d < 0)
                break;
            v = v * (hex ? 16 : 10) + (uint32_t)d;
            i++;
        }
        if (i == a)
            return 0;
        if (i < n && s[i] == ';')
            i++;
        cp = (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) ? 0xFFFD : v;
    } else {
        size_t a = i;
        while (i < n && i - a < 10 &&
               ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                (s[i] >= '0' && s[i] <= '9')))
            i++;
        if (i >= n || s[i] != ';')
            return 0;
        size_t k = 0;
        for (; k < sizeof entities / sizeof entities[0]; k++)
            if (strlen(entities[k].name) == i - a && !memcmp(entities[k].name, s + a, i - a))
                break;
        if (k == sizeof entities / sizeof entities[0])
            return 0;
        cp = entities[k].cp;
        i++;
    }
    if (cp)
        *rc = utf8_put(cp_out, cp);
    return i;
}

/* Case-insensitive search for needle in s[0..n); n when absent. */
static size_t find_ci(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (mime_lower(s[i]) == needle[0] && !tern_strncasecmp(s + i, needle, k))
            return i;
    return n;
}

static bool in_list(const char *name, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(name, *list))
            return true;
    return false;
}

static const char *const para_tags[] = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol",
                                        "table", "blockquote", "pre", "hr", "dl", NULL};
static const char *const line_tags[] = {"br", "div", "tr", "li", "dt", "dd", "section",
                                        "article", "header", "footer", "nav", "form",
                                        "address", "center", "tbody", "thead", "title",
                                        "caption", "figure", "main", "aside", NULL};

/* Parse the attribute attr from the tag text s[0..n) into dst; false
 * when absent. */
static bool tag_attr(const char *s, size_t n, const char *attr, struct tbuf *dst)
{
    size_t k = strlen(attr);
    size_t i = 0;
    /* skip the tag name */
    while (i < n && !mime_is_space(s[i]))
        i++;
    while (i < n) {
        while (i < n && (mime_is_space(s[i]) || s[i] == '/'))
            i++;
        size_t a = i;
        while (i < n && !mime_is_space(s[i]) && s[i] != '=' && s[i] != '/')
            i++;
        size_t an = i - a;
        while (i < n && mime_is_space(s[i]))
            i++;
        size_t va = i, vn = 0;
        if (i < n && s[i] == '=') {
            i++;
            while (i < n && mime_is_space(s[i]))
                i++;
            if (i < n && (s[i] == '"' || s[i] == '\'')) {
                char q = s[i++];
                va = i;
                while (i < n && s[i] != q)
                    i++;
                vn = i - va;
                if (i < n)
                    i++;
            } else {
                va = i;
                while (i < n && !mime_is_space(s[i]))
                    i++;
                vn = i - va;
            }
        }
        if (an == k && !tern_strncasecmp(s + a, attr, k)) {
            /* Attribute values carry entities too (&amp; in URLs). */
            enum tern_rc rc = TERN_OK;
            for (size_t j = 0; j < vn && !rc;) {
                size_t used = s[va + j] == '&' ? entity(s + va + j, vn - j, dst, &rc) : 0;
                if (used) {
                    j += used;
                } else {
                    char c = s[va + j++];
                    rc = tbuf_putc(dst, mime_is_space(c) ? ' ' : c);
                }
            }
            return !rc && tbuf_append(dst, "", 0) == TERN_OK;
        }
        if (an == 0 && i < n)
            i++;
    }
    return false;
}

enum tern_rc mime_html_to_text(const char *in, size_t n, struct tbuf *out)
{
    struct html_out h = {.out = out, .start = out->len};
    struct tbuf href, ent;
    tbuf_init(&href, 0);
    tbuf_init(&ent, 0);
    bool in_link = false;
    size_t link_text_at = 0;
    int skip = 0; /* depth inside <head> */
    size_t i = 0;
    while (i < n && !h.rc) {
        char c = in[i];
        if (c == '<') {
            if (i + 3 < n && !memcmp(in + i, "<!--", 4)) {
                size_t e = find_ci(in + i + 4, n - i - 4, "-->");
                i = i + 4 + e + 3;
                if (i > n)
                    i = n;
                continue;
            }
            size_t j = i + 1;
            bool closing = j < n && in[j] == '/';
            if (closing)
                j++;
            bool decl = j < n && (in[j] == '!' || in[j] == '?');
            char name[16];
            size_t nl = 0;
            while (j < n && ((in[j] >= 'a' && in[j] <= 'z') || (in[j] >= 'A' && in[j] <= 'Z') ||
                             (in[j] >= '0' && in[j] <= '9'))) {
                if (nl + 1 < sizeof name)
                    name[nl++] = mime_lower(in[j]);
                j++;
            }
            name[nl] = '\0';
            if (!decl && nl == 0) {
                /* "a < b": a literal '<' */
                put_text(&h, "<", 1);
                i++;
                continue;
            }
            /* Find the end of the tag, honouring quoted attribute values. */
            size_t tag_start = i + 1;
            char q = 0;
            while (j < n && (q || in[j] != '>')) {
                if (q && in[j] == q)
                    q = 0;
                else if (!q && (in[j] == '"' || in[j] == '\''))
                    q = in[j];
                j++;
            }
            size_t tag_len = j - tag_start;
            i = j < n ? j + 1 : n;
            if (decl)
                continue;
            if (!closing && (!strcmp(name, "script") || !strcmp(name, "style") ||
                             !strcmp(name, "template") || !strcmp(name, "svg"))) {
                /* Never text for the reader: skip the raw content up to
                 * the matching end tag. */
                char end[16];
                tern_snprintf(end, sizeof end, "</%s", name);
                i += find_ci(in + i, n - i, end);
                continue;
            }
            if (!strcmp(name, "head")) {
                skip += closing ? (skip > 0 ? -1 : 0) : 1;
                continue;
            }
            if (!strcmp(name, "body") && !closing) {
                skip = 0; /* an unclosed <head> ends here */
                continue;
            }
            if (skip)
                continue;
            if (!strcmp(name, "pre")) {
                h.pre += closing ? (h.pre > 0 ? -1 : 0) : 1;
            }
            if (!strcmp(name, "a")) {
                if (!closing) {
                    tbuf_reset(&href);
                    in_link = tag_attr(in + tag_start, tag_len, "href", &href) && href.len;
                    link_text_at = out->len;
                } else if (in_link) {
                    in_link = false;
                    const char *u = href.data;
                    const char *lt = out->data ? out->data + link_text_at : "";
                    size_t ll = out->len - link_text_at;
                    while (ll && *lt == ' ')
                        lt++, ll--;
                    /* A link whose text is its address needs no repeat. */
                    bool same = ll == href.len && !memcmp(lt, u, ll);
                    bool mailto_same = !tern_strncasecmp(u, "mailto:", 7) &&
                                       ll == href.len - 7 && !memcmp(lt, u + 7, ll);
                    if (!same && !mailto_same && tern_strncasecmp(u, "javascript:", 11) &&
                        u[0] != '#') {
                        put_text(&h, " <", 2);
                        put_raw(&h, u, href.len);
                        put_raw(&h, ">", 1);
                    }
                }
                continue;
            }
            if (!strcmp(name, "img") && !closing) {
                tbuf_reset(&href);
                if (tag_attr(in + tag_start, tag_len, "alt", &href) && href.len) {
                    put_text(&h, "[", 1);
                    put_raw(&h, href.data, href.len);
                    put_raw(&h, "]", 1);
                }
                tbuf_reset(&href);
                continue;
            }
            if (!strcmp(name, "li") && !closing) {
                put_break(&h, 1);
                put_text(&h, "* ", 2);
                continue;
            }
            if (!strcmp(name, "td") || !strcmp(name, "th")) {
                if (!closing)
                    h.space = true;
                continue;
            }
            if (in_list(name, para_tags))
                put_break(&h, 2);
            else if (in_list(name, line_tags))
                put_break(&h, 1);
            continue;
        }
        if (skip) {
            i++;
            continue;
        }
        if (c == '&') {
            tbuf_reset(&ent);
            enum tern_rc rc = TERN_OK;
            size_t used = entity(in + i, n - i, &ent, &rc);
            if (rc) {
                h.rc = rc;
                break;
            }
            if (used) {
                put_text(&h, ent.data ? ent.data : "", ent.len);
                i += used;
                continue;
            }
        }
        if (mime_is_space(c) && !h.pre) {
            h.space = true;
            i++;
            continue;
        }
        /* A run of ordinary text. */
        size_t a = i;
        while (i < n && in[i] != '<' && in[i] != '&' && (h.pre || !mime_is_space(in[i])))
            i++;
        if (i == a)
            i++;
        put_text(&h, in + a, i - a);
    }
    if (!h.rc && h.any && h.newlines == 0)
        put_raw(&h, "\n", 1);
    /* No blank lines at the end. */
    while (!h.rc && out->len > h.start + 1 && out->data[out->len - 1] == '\n' &&
           out->data[out->len - 2] == '\n')
        out->data[--out->len] = '\0';
    tbuf_free(&href);
    tbuf_free(&ent);
    return h.rc ? h.rc : tbuf_append(out, "", 0);
}

/* ---- external filter ----------------------------------------------------- */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reap pid, killing it if it has not exited by the deadline. */
static int reap(pid_t pid, long long deadline, bool kill_now)
{
    int status = 0;
    if (kill_now)
        kill(pid, SIGKILL);
    for (;;) {
        pid_t r = waitpid(pid, &status, kill_now ? 0 : WNOHANG);
        if (r == pid)
            return status;
        if (r < 0 && errno != EINTR)
            return -1;
        if (r == 0) {
            if (now_ms() >= deadline) {
                kill(pid, SIGKILL);
                kill_now = true;
                continue;
            }
            struct timespec ts = {0, 10 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
}

enum tern_rc mime_html_filter(const char *cmd, const char *in, size_t n, unsigned timeout_ms,
                              struct tbuf *out, struct tern_err *err)
{
    int sv[2], po[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return tern_fail(err, TERN_EIO, "html_filter: socketpair: %s", strerror(errno));
    if (pipe2(po, O_CLOEXEC) < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return tern_fail(err, TERN_EIO, "html_filter: pipe: %s", strerror(e));
    }
    char *argv[] = {"sh", "-c", (char *)cmd, NULL};
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        close(po[0]);
        close(po[1]);
        return tern_fail(err, TERN_EIO, "html_filter: fork: %s", strerror(e));
    }
    if (pid == 0) {
        /* Only async-signal-safe calls from here to exec. */
        int devnull = open("/dev/null", O_WRONLY);
        if (dup2(sv[1], 0) < 0 || dup2(po[1], 1) < 0 || (devnull >= 0 && dup2(devnull, 2) < 0))
            _exit(127);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        sigaction(SIGPIPE, &sa, NULL);
        execve("/bin/sh", argv, environ);
        _exit(127);
    }
    close(sv[1]);
    close(po[1]);
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    fcntl(po[0], F_SETFL, fcntl(po[0], F_GETFL) | O_NONBLOCK);
    long long deadline = now_ms() + (timeout_ms ? timeout_ms : MIME_HTML_FILTER_TIMEOUT_MS);
    struct tbuf got;
    tbuf_init(&got, MIME_HTML_FILTER_MAX_OUT);
    enum tern_rc rc = TERN_OK;
    size_t sent = 0;
    int wfd = sv[0], rfd = po[0];
    if (n == 0) {
        close(wfd);
        wfd = -1;
    }
    while (rfd >= 0 && !rc) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            rc = tern_fail(err, TERN_ETIMEOUT, "html_filter: no result within %u ms",
                           timeout_ms);
            break;
        }
        struct pollfd fds[2] = {{rfd, POLLIN, 0}, {wfd, POLLOUT, 0}};
        int pr = poll(fds, wfd >= 0 ? 2 : 1, (int)(left > 1000 ? 1000 : left));
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            rc = tern_fail(err, TERN_EIO, "html_filter: poll: %s", strerror(errno));
            break;
        }
        if (wfd >= 0 && fds[1].revents) {
            size_t chunk = n - sent > 65536 ? 65536 : n - sent;
            ssize_t w = send(wfd, in + sent, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0)
                sent += (size_t)w;
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || sent == n) {
                /* Done, or the filter stopped reading: it may still print. */
                close(wfd);
                wfd = -1;
            }
        }
        if (fds[0].revents) {
            char tmp[65536];
            ssize_t r = read(rfd, tmp, sizeof tmp);
            if (r > 0) {
                if ((rc = tbuf_append(&got, tmp, (size_t)r)))
                    rc = tern_fail(err, rc, "html_filter: output over %u bytes",
                                   (unsigned)MIME_HTML_FILTER_MAX_OUT);
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                close(rfd);
                rfd = -1;
            }
        }
    }
    if (wfd >= 0)
        close(wfd);
    if (rfd >= 0)
        close(rfd);
    int status = reap(pid, deadline, rc != TERN_OK);
    if (!rc && (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0))
        rc = tern_fail(err, TERN_EDATA, "html_filter: command failed (status %d)",
                       status < 0 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128);
    if (!rc)
        rc = tbuf_append(out, got.data ? got.data : "", got.len);
    tbuf_free(&got);
    return rc;
}
