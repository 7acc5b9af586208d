/* New mail, reply, group reply and forward: a draft file with editable
 * headers, $VISUAL/$EDITOR, a review screen, then core/compose builds the
 * message and the worker hands it to core/outbox (the path `tern send`
 * takes). */
#include "core/charset/lib.h"
#include "core/compose/lib.h"
#include "core/index/lib.h"
#include "core/mime/lib.h"
#include "ui/private.h"

#include <curses.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DRAFT_MAX ((size_t)64 << 20)
#define DRAFT_HEADERS_MAX 64
#define POSTPONED_DIR "postponed"
/* References kept in a reply (the newest ones). */
#define REPLY_REFS_MAX 20

struct draft {
    char *dir;      /* private temporary directory */
    char *path;     /* the draft file in it */
    char *recalled; /* a postponed file this draft came from */
    enum ui_compose_kind kind;
    int64_t orig_id;
    char **attach; /* files in dir (forwarded attachments) */
    size_t nattach;
};

/* The parsed draft. */
struct parsed {
    char *from, *to, *cc, *bcc, *subject, *reply_to;
    char *headers[DRAFT_HEADERS_MAX]; /* other "Name: value" fields */
    size_t nheaders;
    const char *body;
    size_t body_len;
};

static void parsed_free(struct parsed *p)
{
    free(p->from);
    free(p->to);
    free(p->cc);
    free(p->bcc);
    free(p->subject);
    free(p->reply_to);
    for (size_t i = 0; i < p->nheaders; i++)
        free(p->headers[i]);
    memset(p, 0, sizeof *p);
}

static void draft_free(struct draft *d)
{
    for (size_t i = 0; i < d->nattach; i++) {
        unlink(d->attach[i]);
        free(d->attach[i]);
    }
    free(d->attach);
    if (d->path)
        unlink(d->path);
    if (d->dir)
        rmdir(d->dir);
    free(d->dir);
    free(d->path);
    free(d->recalled);
    memset(d, 0, sizeof *d);
}

/* ----------------------------------------------------- building text */

/* A display name for an address header the user edits: made safe (no
 * controls, so no line breaks), quoted when it holds specials. */
static void put_name_addr(struct tbuf *b, const char *name, const char *addr)
{
    char *n = name && *name ? safe_text_dup(name, strlen(name), SAFE_TAB_AS_SPACE) : NULL;
    char *a = safe_text_dup(addr, strlen(addr), SAFE_TAB_AS_SPACE);
    if (n && *n) {
        bool quote = strpbrk(n, "()<>[]:;@\\,.\"") != NULL;
        if (quote) {
            tbuf_putc(b, '"');
            for (const char *s = n; *s; s++) {
                if (*s == '"' || *s == '\\')
                    tbuf_putc(b, '\\');
                tbuf_putc(b, *s);
            }
            tbuf_putc(b, '"');
        } else {
            tbuf_puts(b, n);
        }
        tbuf_printf(b, " <%s>", a ? a : "");
    } else {
        tbuf_puts(b, a ? a : "");
    }
    free(n);
    free(a);
}

struct alist {
    const struct mime_addr *v[256];
    size_t n;
};

static bool same_addr(const char *a, const char *b)
{
    return a && b && !tern_strcasecmp(a, b);
}

/* Add unless it is already there or is one of ours. */
static void alist_add(struct alist *l, const struct mime_addr *a, const char *self)
{
    if (!a->address || !*a->address || l->n >= 256)
        return;
    if (self && same_addr(a->address, self))
        return;
    for (size_t i = 0; i < l->n; i++)
        if (same_addr(l->v[i]->address, a->address))
            return;
    l->v[l->n++] = a;
}

static void put_alist(struct tbuf *b, const struct alist *l, size_t from)
{
    for (size_t i = from; i < l->n; i++) {
        if (i > from)
            tbuf_puts(b, ", ");
        put_name_addr(b, l->v[i]->name, l->v[i]->address);
    }
}

/* An id fit for In-Reply-To/References: no spaces, brackets or controls. */
static bool id_ok(const char *id)
{
    if (!id || !*id || strlen(id) > 900)
        return false;
    for (const unsigned char *s = (const unsigned char *)id; *s; s++)
        if (*s <= ' ' || *s == '<' || *s == '>' || *s == 0x7f)
            return false;
    return true;
}

static const char *strip_prefixes(const char *s)
{
    for (;;) {
        while (*s == ' ')
            s++;
        if (!tern_strncasecmp(s, "re:", 3))
            s += 3;
        else if (!tern_strncasecmp(s, "aw:", 3))
            s += 3;
        else
            return s;
    }
}

static void quote_text(struct tbuf *b, const char *text, size_t n)
{
    const char *s = text;
    while (n) {
        const char *nl = memchr(s, '\n', n);
        size_t ll = nl ? (size_t)(nl - s) : n;
        if (ll == 0)
            tbuf_puts(b, ">\n");
        else {
            tbuf_puts(b, s[0] == '>' ? ">" : "> ");
            tbuf_append(b, s, ll);
            tbuf_putc(b, '\n');
        }
        s += ll + (nl ? 1 : 0);
        n -= ll + (nl ? 1 : 0);
    }
}

static enum tern_rc original_text(struct ui *u, struct tbuf *out)
{
    const struct mime_part *p = mime_best_text(u->msg);
    if (!p)
        return TERN_OK;
    struct tbuf t;
    tbuf_init(&t, 0);
    struct mime_text_opts o = {.html_filter = u->cfg->html_filter};
    enum tern_rc rc = mime_part_text(u->msg, p, &o, &t);
    /* what goes into the editor is made safe too: escape sequences from
     * a hostile message must not reach the terminal through vi */
    if (!rc)
        rc = safe_text(t.data ? t.data : "", t.len, SAFE_ALLOW_NEWLINE | SAFE_ALLOW_TAB, out);
    tbuf_free(&t);
    return rc;
}

static enum tern_rc write_file(const char *path, const char *data, size_t n, int flags)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | flags, 0600);
    if (fd < 0)
        return TERN_EIO;
    if (!tern_write_all(fd, data, n)) {
        close(fd);
        return TERN_EIO;
    }
    if (fsync(fd) < 0 || close(fd) < 0)
        return TERN_EIO;
    return TERN_OK;
}

static enum tern_rc read_file(const char *path, struct tbuf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? TERN_ENOTFOUND : TERN_EIO;
    tbuf_reset(out);
    enum tern_rc rc = tbuf_read_fd(out, fd);
    close(fd);
    return rc;
}

/* The draft for kind, from the message in u->msg when replying. */
static enum tern_rc make_draft(struct ui *u, struct draft *d, struct tbuf *b)
{
    const struct tern_account *a = u->acct;
    tbuf_puts(b, "From: ");
    put_name_addr(b, a->display_name, a->address);
    tbuf_putc(b, '\n');
    if (d->kind == UI_NEW) {
        tbuf_puts(b, "To: \nCc: \nBcc: \nSubject: \n\n");
        return b->data ? TERN_OK : TERN_ENOMEM;
    }
    const struct mime_envelope *e = u->msg->env;
    const char *subject = e->subject ? e->subject : "";
    char *safe_subject = safe_text_dup(subject, strlen(subject), SAFE_TAB_AS_SPACE);
    struct alist to = {0}, cc = {0};
    if (d->kind == UI_REPLY || d->kind == UI_GROUP_REPLY) {
        const struct mime_addr_list *who = e->reply_to.n ? &e->reply_to : &e->from;
        for (size_t i = 0; i < who->n; i++)
            alist_add(&to, &who->v[i], d->kind == UI_GROUP_REPLY ? a->address : NULL);
        if (d->kind == UI_GROUP_REPLY) {
            for (size_t i = 0; i < e->to.n; i++)
                alist_add(&to, &e->to.v[i], a->address);
            for (size_t i = 0; i < e->cc.n; i++) {
                bool dup = false;
                for (size_t k = 0; k < to.n; k++)
                    if (same_addr(to.v[k]->address, e->cc.v[i].address))
                        dup = true;
                if (!dup)
                    alist_add(&cc, &e->cc.v[i], a->address);
            }
            if (!to.n && cc.n) {
                to.v[to.n++] = cc.v[0];
                memmove(cc.v, cc.v + 1, (cc.n - 1) * sizeof cc.v[0]);
                cc.n--;
            }
            if (!to.n) /* a message to ourselves */
                for (size_t i = 0; i < who->n; i++)
                    alist_add(&to, &who->v[i], NULL);
        }
    }
    tbuf_puts(b, "To: ");
    put_alist(b, &to, 0);
    tbuf_puts(b, "\nCc: ");
    put_alist(b, &cc, 0);
    tbuf_puts(b, "\nBcc: \nSubject: ");
    if (d->kind == UI_FORWARD)
        tbuf_printf(b, "Fwd: %s\n", safe_subject ? safe_subject : "");
    else
        tbuf_printf(b, "Re: %s\n", safe_subject ? strip_prefixes(safe_subject) : "");
    if (d->kind != UI_FORWARD && id_ok(e->message_id)) {
        tbuf_printf(b, "In-Reply-To: <%s>\n", e->message_id);
        tbuf_puts(b, "References:");
        size_t first = e->nreferences > REPLY_REFS_MAX ? e->nreferences - REPLY_REFS_MAX : 0;
        for (size_t i = first; i < e->nreferences; i++)
            if (id_ok(e->references[i]))
                tbuf_printf(b, " <%s>", e->references[i]);
        tbuf_printf(b, " <%s>\n", e->message_id);
    }
    tbuf_putc(b, '\n');
    free(safe_subject);

    const struct mime_addr *sender = e->from.n ? &e->from.v[0] : NULL;
    enum tern_rc rc = TERN_OK;
    if (d->kind == UI_FORWARD) {
        struct tbuf r;
        tbuf_init(&r, 0);
        struct mime_text_opts o = {.html_filter = u->cfg->html_filter};
        rc = mime_render_text(u->msg, &o, &r);
        tbuf_puts(b, "\n\n----- Forwarded message");
        if (sender) {
            tbuf_puts(b, " from ");
            put_name_addr(b, sender->name, sender->address);
        }
        tbuf_puts(b, " -----\n");
        if (!rc)
            tbuf_append(b, r.data ? r.data : "", r.len);
        if (b->len && b->data[b->len - 1] != '\n')
            tbuf_putc(b, '\n');
        tbuf_puts(b, "----- End forwarded message -----\n");
        tbuf_free(&r);
    } else {
        tbuf_puts(b, "On ");
        if (e->date_raw) {
            char *dr = safe_text_dup(e->date_raw, strlen(e->date_raw), 0);
            tbuf_puts(b, dr ? dr : "");
            free(dr);
        } else {
            tbuf_puts(b, "an unknown date");
        }
        tbuf_puts(b, ", ");
        if (sender && *sender->name) {
            char *n = safe_text_dup(sender->name, strlen(sender->name), SAFE_TAB_AS_SPACE);
            tbuf_puts(b, n ? n : "");
            free(n);
        } else if (sender) {
            put_name_addr(b, NULL, sender->address);
        } else {
            tbuf_puts(b, "someone");
        }
        tbuf_puts(b, " wrote:\n");
        struct tbuf t;
        tbuf_init(&t, 0);
        rc = original_text(u, &t);
        if (!rc)
            quote_text(b, t.data ? t.data : "", t.len);
        tbuf_free(&t);
    }
    if (!b->data)
        return TERN_ENOMEM;
    return rc;
}

/* Forward: the original's attachments go along (saved into the draft's
 * private directory, attached by core/compose). */
static void forward_attachments(struct ui *u, struct draft *d)
{
    struct mime_attachments at = {0};
    if (mime_attachments_list(u->msg, &at))
        return;
    int dfd = open(d->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        mime_attachments_free(&at);
        return;
    }
    if (at.n && (d->attach = calloc(at.n, sizeof *d->attach))) {
        for (size_t i = 0; i < at.n; i++) {
            char *written = NULL;
            struct tern_err err = {0};
            if (mime_save_part(u->msg, at.v[i].part, dfd, at.v[i].safe_name, &written, &err))
                continue;
            struct tbuf p;
            tbuf_init(&p, 0);
            tbuf_printf(&p, "%s/%s", d->dir, written);
            free(written);
            if (p.data)
                d->attach[d->nattach++] = tbuf_steal(&p);
            tbuf_free(&p);
        }
    }
    close(dfd);
    mime_attachments_free(&at);
}

/* ------------------------------------------------------------ parsing */

static char *trimmed(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    return tern_strndup(s, n);
}

/* Split the draft into its fields and body. why: one line on failure. */
static bool parse_draft(const char *text, size_t n, struct parsed *p, char *why, size_t whysize)
{
    memset(p, 0, sizeof *p);
    size_t pos = 0;
    unsigned lineno = 0;
    struct tbuf field;
    tbuf_init(&field, 0);
    bool ok = true;
    for (;;) {
        const char *line = text + pos;
        const char *nl = pos < n ? memchr(line, '\n', n - pos) : NULL;
        size_t ll = nl ? (size_t)(nl - line) : n - pos;
        bool end = pos >= n || ll == 0 || (ll == 1 && line[0] == '\r');
        bool cont = !end && (line[0] == ' ' || line[0] == '\t');
        lineno++;
        /* a finished field (the next line is not its continuation) */
        if (!cont && field.len) {
            const char *f = field.data;
            const char *colon = memchr(f, ':', field.len);
            size_t nlen = colon ? (size_t)(colon - f) : 0;
            if (!colon || !compose_field_name_ok(f, nlen)) {
                tern_snprintf(why, whysize, "header line %u is not 'Name: value'", lineno - 1);
                ok = false;
                break;
            }
            char *v = trimmed(colon + 1, field.len - nlen - 1);
            char **slot = NULL;
            if (nlen == 4 && !tern_strncasecmp(f, "From", 4))
                slot = &p->from;
            else if (nlen == 2 && !tern_strncasecmp(f, "To", 2))
                slot = &p->to;
            else if (nlen == 2 && !tern_strncasecmp(f, "Cc", 2))
                slot = &p->cc;
            else if (nlen == 3 && !tern_strncasecmp(f, "Bcc", 3))
                slot = &p->bcc;
            else if (nlen == 7 && !tern_strncasecmp(f, "Subject", 7))
                slot = &p->subject;
            else if (nlen == 8 && !tern_strncasecmp(f, "Reply-To", 8))
                slot = &p->reply_to;
            if (slot) {
                free(*slot);
                *slot = v;
            } else if (v && *v) {
                if (p->nheaders >= DRAFT_HEADERS_MAX) {
                    free(v);
                    tern_snprintf(why, whysize, "too many header fields");
                    ok = false;
                    break;
                }
                struct tbuf h;
                tbuf_init(&h, 0);
                tbuf_append(&h, f, nlen);
                tbuf_printf(&h, ": %s", v);
                free(v);
                if (!h.data) {
                    ok = false;
                    break;
                }
                p->headers[p->nheaders++] = tbuf_steal(&h);
            } else {
                free(v);
            }
            tbuf_reset(&field);
        }
        if (end) {
            size_t body = pos < n ? pos + ll + (nl ? 1 : 0) : n;
            p->body = text + body;
            p->body_len = n - body;
            break;
        }
        if (cont) {
            tbuf_putc(&field, ' ');
            size_t k = 0;
            while (k < ll && (line[k] == ' ' || line[k] == '\t'))
                k++;
            tbuf_append(&field, line + k, ll - k);
        } else {
            tbuf_append(&field, line, ll);
        }
        pos += ll + (nl ? 1 : 0);
    }
    tbuf_free(&field);
    if (!ok)
        parsed_free(p);
    return ok;
}

/* ----------------------------------------------------------- review */

static void review_draw(struct ui *u, const struct parsed *p, const struct draft *d,
                        const char *problem)
{
    erase();
    int attr = draw_attr(UI_C_TITLE);
    draw_fill(0, 0, COLS, attr);
    draw_str(0, 0, COLS, "y:Send  e:Edit  q:Postpone or abort", attr, true);
    int y = 1;
    const struct {
        const char *label, *value;
    } rows[] = {{"From: ", p->from},
                {"To: ", p->to},
                {"Cc: ", p->cc},
                {"Bcc: ", p->bcc},
                {"Subject: ", p->subject}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0] && y < LINES - 2; i++, y++) {
        int x = draw_str(y, 0, 12, rows[i].label, draw_attr(UI_C_HEADER), false);
        draw_str(y, x, COLS - x, rows[i].value ? rows[i].value : "", A_NORMAL, false);
    }
    for (size_t i = 0; i < d->nattach && y < LINES - 2; i++, y++) {
        const char *base = strrchr(d->attach[i], '/');
        int x = draw_str(y, 0, 14, "Attachment: ", draw_attr(UI_C_HEADER), false);
        draw_str(y, x, COLS - x, base ? base + 1 : d->attach[i], A_NORMAL, false);
    }
    y++;
    /* the start of the text */
    const char *s = p->body;
    size_t n = p->body_len;
    while (n && y < LINES - 2) {
        const char *nl = memchr(s, '\n', n);
        size_t ll = nl ? (size_t)(nl - s) : n;
        draw_text(y++, 0, COLS, s, ll, A_NORMAL, false, true);
        s += ll + (nl ? 1 : 0);
        n -= ll + (nl ? 1 : 0);
    }
    ui_draw_status(u, "compose: review", "");
    if (problem)
        draw_message(problem, true);
    refresh();
}

/* ------------------------------------------------------------ sending */

static void domain_of(const char *addr, char *buf, size_t size)
{
    const char *at = addr ? strrchr(addr, '@') : NULL;
    tern_snprintf(buf, size, "%s", at ? at + 1 : "localhost");
}

/* Build and queue the message. false with why when it cannot be built. */
static bool send_draft(struct ui *u, const struct draft *d, const struct parsed *p, char *why,
                       size_t whysize)
{
    struct tern_err err = {0};
    struct compose_addrs from = {0}, to = {0}, cc = {0}, bcc = {0}, rt = {0};
    enum tern_rc rc = TERN_OK;
    const char *fs = p->from && *p->from ? p->from : u->acct->address;
    rc = compose_parse_addrs(fs, strlen(fs), &from, &err);
    if (!rc && from.n != 1)
        rc = tern_fail(&err, TERN_EDATA, "From must hold one address");
    if (!rc && p->to && *p->to)
        rc = compose_parse_addrs(p->to, strlen(p->to), &to, &err);
    if (!rc && p->cc && *p->cc)
        rc = compose_parse_addrs(p->cc, strlen(p->cc), &cc, &err);
    if (!rc && p->bcc && *p->bcc)
        rc = compose_parse_addrs(p->bcc, strlen(p->bcc), &bcc, &err);
    if (!rc && p->reply_to && *p->reply_to)
        rc = compose_parse_addrs(p->reply_to, strlen(p->reply_to), &rt, &err);
    if (!rc && !to.n && !cc.n && !bcc.n)
        rc = tern_fail(&err, TERN_EUSAGE, "no recipients: fill in To, Cc or Bcc");
    char domain[256];
    domain_of(u->acct->address, domain, sizeof domain);
    struct compose_msg msg;
    compose_msg_init(&msg);
    if (!rc) {
        struct compose_opts o = {
            .from = &from.v[0],
            .to = &to,
            .cc = &cc,
            .bcc = &bcc,
            .reply_to = &rt,
            .subject = p->subject && *p->subject ? p->subject : NULL,
            .headers = (const char *const *)p->headers,
            .nheaders = p->nheaders,
            .attach = (const char *const *)d->attach,
            .nattach = d->nattach,
            .body = p->body,
            .body_len = p->body_len,
            .msgid_domain = domain,
        };
        rc = compose_build(&o, &msg, &err);
    }
    struct ui_job *j = NULL;
    if (!rc) {
        j = job_new(UI_JOB_SEND);
        if (!j || !(j->rcpts = calloc(msg.nrcpts ? msg.nrcpts : 1, sizeof *j->rcpts)))
            rc = tern_fail(&err, TERN_ENOMEM, "out of memory");
    }
    if (!rc) {
        for (size_t i = 0; i < msg.nrcpts && !rc; i++) {
            if (!(j->rcpts[i] = tern_strdup(msg.rcpts[i])))
                rc = tern_fail(&err, TERN_ENOMEM, "out of memory");
            else
                j->nrcpts++;
        }
        /* the envelope sender is the account's address */
        if (!rc && !(j->arg = tern_strdup(u->acct->address)))
            rc = tern_fail(&err, TERN_ENOMEM, "out of memory");
        j->len = msg.data.len;
        if (!rc && !(j->data = tbuf_steal(&msg.data)))
            rc = tern_fail(&err, TERN_ENOMEM, "out of memory");
        if (!rc && d->orig_id && d->kind != UI_NEW) {
            j->after_id = d->orig_id;
            j->after_flag = d->kind == UI_FORWARD ? INDEX_FLAG_FORWARDED : INDEX_FLAG_ANSWERED;
        }
    }
    compose_msg_free(&msg);
    compose_addrs_free(&from);
    compose_addrs_free(&to);
    compose_addrs_free(&cc);
    compose_addrs_free(&bcc);
    compose_addrs_free(&rt);
    if (rc) {
        job_free(j);
        char *s = safe_text_dup(err.msg, strlen(err.msg), 0);
        tern_snprintf(why, whysize, "%s", s ? s : "cannot build the message");
        free(s);
        return false;
    }
    worker_submit(u->w, j);
    ui_set_status(u, false, "sending...");
    return true;
}

/* -------------------------------------------------------- postponing */

static char *postponed_dir(const struct tern_account *a)
{
    struct tbuf b;
    tbuf_init(&b, 0);
    tbuf_printf(&b, "%s/%s", a->data_dir, POSTPONED_DIR);
    return tbuf_steal(&b);
}

/* The newest postponed draft, or NULL. */
static char *newest_postponed(const struct tern_account *a)
{
    char *dir = postponed_dir(a);
    DIR *dp = dir ? opendir(dir) : NULL;
    char *best = NULL;
    if (dp) {
        struct dirent *e;
        while ((e = readdir(dp)))
            if (e->d_name[0] != '.' && (!best || strcmp(e->d_name, best) > 0)) {
                free(best);
                best = tern_strdup(e->d_name);
            }
        closedir(dp);
    }
    char *path = NULL;
    if (best) {
        struct tbuf b;
        tbuf_init(&b, 0);
        tbuf_printf(&b, "%s/%s", dir, best);
        path = tbuf_steal(&b);
    }
    free(best);
    free(dir);
    return path;
}

static bool postpone(struct ui *u, const struct tbuf *text)
{
    char *dir = postponed_dir(u->acct);
    if (!dir || (mkdir(dir, 0700) < 0 && errno != EEXIST)) {
        free(dir);
        return false;
    }
    struct tbuf p;
    tbuf_init(&p, 0);
    tbuf_printf(&p, "%s/%lld-%ld.txt", dir, (long long)time(NULL), (long)getpid());
    bool ok = p.data && !write_file(p.data, text->data ? text->data : "", text->len, O_EXCL);
    if (ok)
        ui_set_status(u, false, "postponed as %s", p.data);
    tbuf_free(&p);
    free(dir);
    return ok;
}

/* ---------------------------------------------------------- the flow */

static int run_editor(struct ui *u, const char *path)
{
    const char *ed = getenv("VISUAL");
    if (!ed || !*ed)
        ed = getenv("EDITOR");
    if (!ed || !*ed)
        ed = "vi";
    struct tbuf cmd;
    tbuf_init(&cmd, 0);
    /* the editor setting is a command line of its own (it may carry
     * options), the file name goes in as "$1", never through the shell */
    tbuf_printf(&cmd, "%s \"$1\"", ed);
    const char *argv[] = {"/bin/sh", "-c", cmd.data, "sh", path, NULL};
    int st = cmd.data ? ui_run_external(u, argv, NULL, 0, false) : -1;
    tbuf_free(&cmd);
    return st;
}

void ui_compose(struct ui *u, enum ui_compose_kind kind, struct ui_row *r)
{
    if (!u->acct->smtp_host) {
        ui_set_status(u, true, "account %s has no smtp_host: it cannot send", u->acct->name);
        return;
    }
    struct draft d = {.kind = kind, .orig_id = r ? r->id : 0};
    struct tbuf text;
    tbuf_init(&text, DRAFT_MAX);
    struct tern_err err = {0};
    if (kind != UI_NEW && ui_load_message(u, r->id, &err)) {
        ui_set_status(u, true, "%s", err.msg);
        tbuf_free(&text);
        return;
    }
    const char *tmp = getenv("TMPDIR");
    struct tbuf dir;
    tbuf_init(&dir, 0);
    tbuf_printf(&dir, "%s/tern-draft-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!dir.data || !mkdtemp(dir.data)) {
        ui_set_status(u, true, "cannot create a draft directory: %s", strerror(errno));
        tbuf_free(&dir);
        tbuf_free(&text);
        return;
    }
    d.dir = tbuf_steal(&dir);
    struct tbuf p;
    tbuf_init(&p, 0);
    tbuf_printf(&p, "%s/draft.txt", d.dir);
    d.path = tbuf_steal(&p);

    enum tern_rc rc = TERN_OK;
    if (kind == UI_NEW && (d.recalled = newest_postponed(u->acct))) {
        int c = draw_ask("Recall the postponed message? ([y]/n)", "yn");
        if (c == 'y')
            rc = read_file(d.recalled, &text);
        else {
            free(d.recalled);
            d.recalled = NULL;
        }
        if (!c) {
            draft_free(&d);
            tbuf_free(&text);
            return;
        }
    }
    if (!text.len && !rc)
        rc = make_draft(u, &d, &text);
    if (!rc && kind == UI_FORWARD)
        forward_attachments(u, &d);
    if (!rc)
        rc = write_file(d.path, text.data ? text.data : "", text.len, O_EXCL);
    if (rc) {
        ui_set_status(u, true, "cannot write the draft: %s", tern_rc_str(rc));
        draft_free(&d);
        tbuf_free(&text);
        return;
    }
    bool edit = true, unchanged_check = kind == UI_NEW && !d.recalled;
    struct tbuf before;
    tbuf_init(&before, DRAFT_MAX);
    tbuf_append(&before, text.data ? text.data : "", text.len);
    const char *problem = NULL;
    char why[300];
    for (;;) {
        if (edit) {
            int st = run_editor(u, d.path);
            edit = false;
            if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
                ui_set_status(u, true, "the editor failed (status %d): message not sent",
                              st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
                break;
            }
            if (read_file(d.path, &text)) {
                ui_set_status(u, true, "cannot read the draft back: message not sent");
                break;
            }
            if (unchanged_check && text.len == before.len &&
                (!text.len || !memcmp(text.data, before.data, text.len))) {
                ui_set_status(u, false, "message unchanged: not sent");
                break;
            }
            unchanged_check = false;
            problem = NULL;
        }
        struct parsed pd;
        if (!parse_draft(text.data ? text.data : "", text.len, &pd, why, sizeof why)) {
            memset(&pd, 0, sizeof pd);
            problem = why;
        }
        review_draw(u, &pd, &d, problem);
        int32_t k = draw_getkey(-1);
        if (k == UI_KEY_FN + KEY_RESIZE) {
            parsed_free(&pd);
            continue;
        }
        if (k == 'e' || k == 'E') {
            parsed_free(&pd);
            edit = true;
            continue;
        }
        if (k == 'y' || k == 'Y') {
            if (problem) {
                parsed_free(&pd);
                continue;
            }
            bool sent = send_draft(u, &d, &pd, why, sizeof why);
            parsed_free(&pd);
            if (!sent) {
                problem = why;
                continue;
            }
            if (d.recalled)
                unlink(d.recalled);
            break;
        }
        if (k == 'q' || k == 'Q' || k == 27 || k == 3 || k == 7) {
            parsed_free(&pd);
            int c = draw_ask("Postpone this message? ([y]/n)", "yn");
            if (!c)
                continue;
            if (c == 'y') {
                if (!postpone(u, &text)) {
                    problem = "cannot save the draft";
                    continue;
                }
                if (d.recalled)
                    unlink(d.recalled);
            } else {
                ui_set_status(u, false, "message discarded");
            }
            break;
        }
        parsed_free(&pd);
    }
    tbuf_free(&before);
    tbuf_free(&text);
    draft_free(&d);
    u->redraw_all = true;
}
