/*
 * The IMAP engine: numbered tags, a send queue so several commands go out
 * in one write (pipelining), and a read loop that runs until a given tag
 * completes, keeping the capability and selected-mailbox facts current
 * and handing everything else to the caller's handler.
 */
#include "private.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Command text queued but not yet sent; a pipelined burst stays well
 * below this. */
#define IMAP_OUT_MAX ((size_t)4 << 20)

struct imap_sess *imap_sess_new(const struct imap_io *io)
{
    struct imap_sess *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->io = *io;
    s->p = imap_parser_new();
    if (!s->p) {
        free(s);
        return NULL;
    }
    tbuf_init(&s->line, IMAP_LINE_MAX);
    tbuf_init(&s->out, IMAP_OUT_MAX);
    s->tag_next = 1;
    s->done_below = 1;
    s->untagged_max = IMAP_UNTAGGED_MAX;
    return s;
}

void imap_sess_free(struct imap_sess **ps)
{
    if (!ps || !*ps)
        return;
    struct imap_sess *s = *ps;
    imap_parser_free(&s->p);
    tbuf_free(&s->line);
    tbuf_free(&s->out);
    free(s->ahead);
    free(s);
    *ps = NULL;
}

void imap_sess_caps(struct imap_sess *s, const struct imap_resp *r, uint32_t l, uint32_t first)
{
    static const struct {
        const char *name;
        unsigned bit;
    } known[] = {
        {"IMAP4rev1", CAP_IMAP4REV1},
        {"CONDSTORE", CAP_CONDSTORE},
        {"QRESYNC", CAP_QRESYNC},
        {"ENABLE", CAP_ENABLE},
        {"MOVE", CAP_MOVE},
        {"UIDPLUS", CAP_UIDPLUS},
        {"SPECIAL-USE", CAP_SPECIAL_USE},
        {"LIST-EXTENDED", CAP_LIST_EXTENDED},
        {"LIST-STATUS", CAP_LIST_STATUS},
        {"ESEARCH", CAP_ESEARCH},
        {"LITERAL+", CAP_LITERALPLUS},
        {"LITERAL-", CAP_LITERALMINUS},
    };
    unsigned caps = CAP_KNOWN;
    for (uint32_t c = first; c != IMAP_NONE; c = imap_next(r, l, c))
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            if (imap_eq(r, c, known[i].name))
                caps |= known[i].bit;
    s->caps = caps;
}

/* Parse one transcript line; true and caps set when it carries a
 * capability list (response code or "* CAPABILITY"). */
static bool caps_line(struct imap_sess *s, struct imap_parser *p, const char *l, size_t n)
{
    enum imap_step step;
    struct tern_err err = {0};
    if (imap_parser_feed(p, l, n, &step, &err) != TERN_OK || step != IMAP_STEP_DONE)
        return false;
    const struct imap_resp *r = imap_parser_resp(p);
    uint32_t rest;
    if (r && r->status == IMAP_ST_OK && r->has_code && imap_eq(r, imap_child(r, 0), "CAPABILITY")) {
        imap_sess_caps(s, r, 0, imap_next(r, 0, imap_child(r, 0)));
        return true;
    }
    if (r && imap_is_named(r, "CAPABILITY", &rest)) {
        imap_sess_caps(s, r, 0, rest);
        return true;
    }
    return false;
}

bool imap_sess_caps_from_transcript(struct imap_sess *s, const char *t)
{
    if (!t)
        return false;
    /* The last line is the login reply. Capabilities sent with it (in its
     * response code, or untagged after the previous tagged line, i.e. in
     * answer to the login command) are the post-login ones. */
    size_t n = strlen(t);
    while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == '\r'))
        n--;
    size_t b = n;
    while (b > 0 && t[b - 1] != '\n')
        b--;
    if (b == n || t[b] == '*' || t[b] == '+')
        return false;
    struct imap_parser *p = imap_parser_new();
    if (!p)
        return false;
    bool ok = caps_line(s, p, t + b, n - b);
    /* walk back over the untagged lines before it */
    size_t end = b;
    while (!ok && end > 0) {
        size_t e = end - 1; /* the '\n' ending the previous line */
        size_t st = e;
        while (st > 0 && t[st - 1] != '\n')
            st--;
        if (t[st] != '*')
            break; /* reached the previous command's tagged reply */
        ok = caps_line(s, p, t + st, e - st);
        end = st;
    }
    imap_parser_free(&p);
    return ok;
}

enum tern_rc imap_cmd(struct imap_sess *s, uint32_t *tag, struct tern_err *err, const char *fmt,
                      ...)
{
    uint32_t t = s->tag_next;
    size_t start = s->out.len;
    char small[512];
    char *buf = small;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    enum tern_rc rc = n < 0 ? TERN_EINTERNAL : TERN_OK;
    if (!rc && (size_t)n >= sizeof small) {
        if (!(buf = malloc((size_t)n + 1))) {
            rc = TERN_ENOMEM;
        } else {
            va_start(ap, fmt);
            vsnprintf(buf, (size_t)n + 1, fmt, ap);
            va_end(ap);
        }
    }
    /* a command is one line: a stray CR/LF would start a second command
     * chosen by whoever supplied the text */
    if (!rc && tern_has_crlf(buf, (size_t)n))
        rc = TERN_EINTERNAL;
    if (!rc)
        rc = tbuf_printf(&s->out, "A%u ", t);
    if (!rc)
        rc = tbuf_append(&s->out, buf, (size_t)n);
    if (!rc)
        rc = tbuf_append(&s->out, "\r\n", 2);
    if (buf != small)
        free(buf);
    if (rc) {
        s->out.len = start;
        return tern_fail(err, rc, "cannot build an IMAP command (%s)", tern_rc_str(rc));
    }
    if (s->io.trace)
        s->io.trace(s->io.arg, true, s->out.data + start, s->out.len - start - 2);
    s->tag_next++;
    if (tag)
        *tag = t;
    return TERN_OK;
}

enum tern_rc imap_flush(struct imap_sess *s, struct tern_err *err)
{
    if (s->out.len == 0)
        return TERN_OK;
    enum tern_rc rc = s->io.send(s->io.arg, s->out.data, s->out.len, err);
    tbuf_reset(&s->out);
    if (rc)
        s->broken = true;
    return rc;
}

uint32_t imap_tag_num(const struct imap_resp *r)
{
    uint64_t v;
    if (r->kind != IMAP_TAGGED || r->tag_len < 2 || r->tag[0] != 'A' ||
        !tern_parse_u64(r->tag + 1, r->tag_len - 1, UINT32_MAX, &v))
        return 0;
    return (uint32_t)v;
}

bool imap_code_is(const struct imap_resp *r, const char *name)
{
    return r->has_code && imap_eq(r, imap_child(r, 0), name);
}

/* Server text, made printable and short, for an error message. */
static void clean_text(const char *s, size_t n, char *out, size_t outsz)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < outsz; i++) {
        unsigned char c = (unsigned char)s[i];
        out[k++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    out[k] = '\0';
}

enum tern_rc imap_check(const struct imap_resp *r, const char *what, struct tern_err *err)
{
    if (!r || r->status == IMAP_ST_OK)
        return TERN_OK;
    char text[200];
    clean_text(r->text, r->text_len, text, sizeof text);
    enum tern_rc rc = TERN_EREFUSED;
    if (r->status == IMAP_ST_BAD)
        rc = TERN_EPROTO;
    else if (imap_code_is(r, "NONEXISTENT") || imap_code_is(r, "TRYCREATE"))
        rc = TERN_ENOTFOUND;
    else if (imap_code_is(r, "UNAVAILABLE") || imap_code_is(r, "INUSE") ||
             imap_code_is(r, "LIMIT") || imap_code_is(r, "SERVERBUG") ||
             imap_code_is(r, "OVERQUOTA") || imap_code_is(r, "EXPUNGEISSUED"))
        rc = TERN_ETEMP;
    return tern_fail(err, rc, "IMAP %s failed: %s %s", what,
                     r->status == IMAP_ST_BAD ? "BAD" : "NO", text);
}

static int range_count(void *arg, uint32_t lo, uint32_t hi)
{
    uint64_t *n = arg;
    *n += (uint64_t)hi - lo + 1;
    return 0;
}

/* A required number that does not parse: ignoring it would leave the
 * mailbox facts at 0 (an "empty" folder whose watermark still moves to
 * UIDNEXT), so the session stops instead. */
static enum tern_rc bad_number(struct imap_sess *s, const char *what, struct tern_err *err)
{
    s->broken = true;
    return tern_fail(err, TERN_EPROTO, "IMAP server sent an out-of-range %s", what);
}

/* What every response tells the session, whoever waits for it. */
static enum tern_rc observe(struct imap_sess *s, const struct imap_resp *r, struct tern_err *err)
{
    uint64_t v;
    uint32_t rest;
    if (r->kind == IMAP_CONT)
        return TERN_OK;
    if (r->status != IMAP_ST_NONE) {
        if (r->status == IMAP_ST_BYE)
            s->bye = true;
        if (!r->has_code)
            return TERN_OK;
        uint32_t c0 = imap_child(r, 0), c1 = imap_next(r, 0, c0);
        if (imap_eq(r, c0, "CAPABILITY"))
            imap_sess_caps(s, r, 0, c1);
        if (r->kind != IMAP_UNTAGGED && !imap_eq(r, c0, "READ-ONLY") &&
            !imap_eq(r, c0, "READ-WRITE"))
            return TERN_OK;
        if (imap_eq(r, c0, "UIDVALIDITY")) {
            if (!imap_num(r, c1, UINT32_MAX, &v) || v == 0)
                return bad_number(s, "UIDVALIDITY", err);
            s->sel.uidvalidity = (uint32_t)v;
        } else if (imap_eq(r, c0, "UIDNEXT")) {
            if (!imap_num(r, c1, UINT32_MAX, &v))
                return bad_number(s, "UIDNEXT", err);
            s->sel.uidnext = (uint32_t)v;
        } else if (imap_eq(r, c0, "HIGHESTMODSEQ")) {
            if (!imap_num(r, c1, UINT64_MAX / 2, &v))
                return bad_number(s, "HIGHESTMODSEQ", err);
            s->sel.highestmodseq = v;
        } else if (imap_eq(r, c0, "NOMODSEQ"))
            s->sel.nomodseq = true;
        else if (imap_eq(r, c0, "READ-ONLY"))
            s->sel.readonly = true;
        else if (imap_eq(r, c0, "CLOSED"))
            memset(&s->sel, 0, sizeof s->sel);
        return TERN_OK;
    }
    if (r->kind != IMAP_UNTAGGED)
        return TERN_OK;
    /* "* <number> EXISTS/EXPUNGE/FETCH/RECENT": a number out of range
     * (2^32, 20 digits, "-1") is not a reason to skip the response - a
     * skipped EXISTS or FETCH loses mail behind a moved watermark */
    uint32_t c0 = imap_child(r, 0);
    const char *w;
    size_t wn;
    if (imap_str(r, c0, &w, &wn) && r->tok[c0].type == IMAP_ATOM && wn > 0 &&
        ((w[0] >= '0' && w[0] <= '9') || w[0] == '-') && !imap_num(r, c0, UINT32_MAX, &v))
        return bad_number(s, "message number", err);
    if (imap_is_numbered(r, "EXISTS", &v, &rest)) {
        s->sel.exists = (uint32_t)v;
        s->sel.exists_seen = true;
    } else if (imap_is_numbered(r, "EXPUNGE", &v, &rest)) {
        if (s->sel.exists)
            s->sel.exists--;
        s->sel.expunged = true;
    } else if (imap_is_named(r, "VANISHED", &rest)) {
        s->sel.expunged = true;
        if (imap_is_list(r, rest)) /* (EARLIER): not counted in EXISTS */
            return TERN_OK;
        const char *set;
        size_t n;
        uint64_t count = 0;
        if (imap_str(r, rest, &set, &n) &&
            imap_seqset_walk(set, n, UINT32_MAX, range_count, &count))
            s->sel.exists = count >= s->sel.exists ? 0 : s->sel.exists - (uint32_t)count;
    } else if (imap_is_named(r, "CAPABILITY", &rest)) {
        imap_sess_caps(s, r, 0, rest);
    } else if (imap_is_named(r, "ENABLED", &rest)) {
        for (uint32_t c = rest; c != IMAP_NONE; c = imap_next(r, 0, c)) {
            if (imap_eq(r, c, "QRESYNC"))
                s->qresync = s->condstore = true;
            else if (imap_eq(r, c, "CONDSTORE"))
                s->condstore = true;
        }
    }
    return TERN_OK;
}

static void trace_resp(struct imap_sess *s, const struct imap_resp *r)
{
    if (!s->io.trace || r->status == IMAP_ST_NONE)
        return;
    /* status lines only: data responses may carry message content */
    char buf[300];
    size_t k = 0;
    const char *who = r->kind == IMAP_TAGGED ? "" : r->kind == IMAP_CONT ? "+ " : "* ";
    k = (size_t)snprintf(buf, sizeof buf, "%s", who);
    if (r->kind == IMAP_TAGGED) {
        size_t t = r->tag_len < 20 ? r->tag_len : 20;
        memcpy(buf + k, r->tag, t);
        k += t;
        buf[k++] = ' ';
    }
    static const char *names[] = {"", "OK", "NO", "BAD", "BYE", "PREAUTH"};
    k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%s", names[r->status],
                          r->has_code ? " [...] " : " ");
    clean_text(r->text, r->text_len, buf + k, sizeof buf - k);
    s->io.trace(s->io.arg, false, buf, strlen(buf));
}

/* Record tag t as answered; false when it was never sent or answered
 * twice. */
static bool tag_complete(struct imap_sess *s, uint32_t t)
{
    if (t < s->done_below || t >= s->tag_next)
        return false;
    for (size_t i = 0; i < s->nahead; i++)
        if (s->ahead[i] == t)
            return false;
    if (t == s->done_below) {
        s->done_below++;
        /* pull in what completed early */
        for (bool moved = true; moved;) {
            moved = false;
            for (size_t i = 0; i < s->nahead; i++)
                if (s->ahead[i] == s->done_below) {
                    s->ahead[i] = s->ahead[--s->nahead];
                    s->done_below++;
                    moved = true;
                    break;
                }
        }
        return true;
    }
    if (s->nahead == s->capahead) {
        size_t cap = s->capahead ? s->capahead * 2 : 16;
        uint32_t *v = realloc(s->ahead, cap * sizeof *v);
        if (!v)
            return false;
        s->ahead = v;
        s->capahead = cap;
    }
    s->ahead[s->nahead++] = t;
    return true;
}

/* The read loop of imap_wait; with cont not NULL a continuation request
 * ends the wait (*cont = true) instead of being a protocol error. */
static enum tern_rc wait_loop(struct imap_sess *s, uint32_t tag, imap_resp_fn *fn, void *arg,
                              bool *cont, const struct imap_resp **final, struct tern_err *err)
{
    if (final)
        *final = NULL;
    if (cont)
        *cont = false;
    if (s->broken)
        return tern_fail(err, TERN_EPROTO, "IMAP session is out of step after an error");
    enum tern_rc rc = imap_flush(s, err);
    if (rc)
        return rc;
    struct tern_err early = {0}; /* the awaited reply, when it was NO/BAD and early */
    uint64_t untagged = 0;
    while (s->done_below <= tag) {
        const struct imap_resp *r;
        rc = imap_read_resp(s->p, &s->io, &s->line, s->route, s->route_arg, &r, err);
        if (rc) {
            s->broken = true;
            if (s->bye && rc == TERN_ECONN)
                return tern_fail(err, TERN_ECONN, "the IMAP server closed the session (BYE)");
            return rc;
        }
        /* well-formed data without end would keep the wait going forever */
        if (r->kind == IMAP_UNTAGGED && ++untagged > s->untagged_max) {
            s->broken = true;
            return tern_fail(err, TERN_EPROTO,
                             "IMAP server sent more than %llu responses to one command",
                             (unsigned long long)s->untagged_max);
        }
        if ((rc = observe(s, r, err)))
            return rc;
        trace_resp(s, r);
        if (r->kind == IMAP_CONT && cont) {
            *cont = true;
            return TERN_OK;
        }
        if (r->kind == IMAP_CONT) {
            s->broken = true;
            return tern_fail(err, TERN_EPROTO,
                             "IMAP server asked for a continuation nobody requested");
        }
        if (r->kind == IMAP_TAGGED) {
            uint32_t t = imap_tag_num(r);
            if (!tag_complete(s, t)) {
                s->broken = true;
                return tern_fail(err, TERN_EPROTO, "IMAP server answered a tag never sent");
            }
            if (t == tag && s->done_below > tag) {
                if (final)
                    *final = r;
                break;
            }
            if (t == tag && r->status != IMAP_ST_OK)
                imap_check(r, "IMAP command", &early);
        }
        if (fn && (rc = fn(arg, r, err))) {
            s->broken = true;
            return rc;
        }
    }
    if (early.rc)
        return tern_fail(err, early.rc, "%s", early.msg);
    return TERN_OK;
}

enum tern_rc imap_wait(struct imap_sess *s, uint32_t tag, imap_resp_fn *fn, void *arg,
                       const struct imap_resp **final, struct tern_err *err)
{
    return wait_loop(s, tag, fn, arg, NULL, final, err);
}

enum tern_rc imap_wait_cont(struct imap_sess *s, uint32_t tag, imap_resp_fn *fn, void *arg,
                            bool *cont, const struct imap_resp **final, struct tern_err *err)
{
    return wait_loop(s, tag, fn, arg, cont, final, err);
}

enum tern_rc imap_simple(struct imap_sess *s, imap_resp_fn *fn, void *arg, struct tern_err *err,
                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char buf[8192];
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf)
        return tern_fail(err, TERN_EINTERNAL, "IMAP command too long");
    uint32_t tag;
    enum tern_rc rc = imap_cmd(s, &tag, err, "%s", buf);
    const struct imap_resp *r;
    if (!rc)
        rc = imap_wait(s, tag, fn, arg, &r, err);
    if (!rc) {
        /* the command word for the message */
        char what[32];
        size_t w = 0;
        while (buf[w] && buf[w] != ' ' && w + 1 < sizeof what)
            w++;
        if (!strncmp(buf, "UID ", 4)) {
            w = 4;
            while (buf[w] && buf[w] != ' ' && w + 1 < sizeof what)
                w++;
        }
        memcpy(what, buf, w);
        what[w] = '\0';
        rc = imap_check(r, what, err);
    }
    return rc;
}

enum tern_rc imap_put_mailbox(struct tbuf *out, const char *raw, struct tern_err *err)
{
    size_t n = strlen(raw);
    if (n == 0 || n > IMAP_NAME_MAX)
        return tern_fail(err, TERN_EDATA, "bad folder name");
    enum tern_rc rc = imap_quote(out, raw, n);
    if (rc == TERN_EDATA)
        return tern_fail(err, rc, "folder name holds a line break or NUL");
    if (rc)
        return tern_fail(err, rc, "out of memory");
    return TERN_OK;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* proleptic Gregorian, days since 1970-01-01 */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

bool imap_parse_internaldate(const char *s, size_t n, int64_t *out)
{
    /* "dd-Mon-yyyy hh:mm:ss +zzzz", day may be " d" */
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (n == 25 && s[0] == ' ') {
        s++;
        n--;
    }
    if (n != 26 && n != 25)
        return false;
    size_t dl = n == 26 ? 2 : 1;
    uint64_t day, year, hh, mm, ss, zh, zm;
    if (!tern_parse_u64(s, dl, 31, &day) || day == 0 || s[dl] != '-')
        return false;
    const char *mon = s + dl + 1;
    unsigned m = 0;
    for (unsigned i = 0; i < 12; i++)
        if (tern_strncasecmp(mon, months + 3 * i, 3) == 0)
            m = i + 1;
    const char *p = mon + 3;
    if (!m || p[0] != '-' || !tern_parse_u64(p + 1, 4, 9999, &year) || p[5] != ' ' ||
        !tern_parse_u64(p + 6, 2, 23, &hh) || p[8] != ':' || !tern_parse_u64(p + 9, 2, 59, &mm) ||
        p[11] != ':' || !tern_parse_u64(p + 12, 2, 60, &ss) || p[14] != ' ' ||
        (p[15] != '+' && p[15] != '-') || !tern_parse_u64(p + 16, 2, 99, &zh) ||
        !tern_parse_u64(p + 18, 2, 59, &zm))
        return false;
    int64_t t = days_from_civil((int64_t)year, m, (unsigned)day) * 86400 + (int64_t)hh * 3600 +
                (int64_t)mm * 60 + (int64_t)ss;
    int64_t off = (int64_t)zh * 3600 + (int64_t)zm * 60;
    *out = p[15] == '+' ? t - off : t + off;
    return true;
}
