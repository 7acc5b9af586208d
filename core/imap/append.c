/*
 * APPEND: storing a message the client has (the copy of a sent message)
 * in a server folder.
 *
 * The literal: its announced size is the exact number of bytes sent after
 * the command line, so the message is checked first (no NUL: a plain
 * literal cannot carry one) and put into canonical CRLF form only when it
 * is not already (the outbox stores canonical messages; those go out
 * byte for byte). With LITERAL+ (or LITERAL- and at most 4096 bytes) the
 * literal follows the command line at once ({n+}); otherwise the engine
 * waits for the server's "+" first, and a server that refuses at once
 * (NO [TRYCREATE] before the "+") never gets the bytes.
 *
 * NO [TRYCREATE]: the folder is missing; it is created (and subscribed,
 * so a sync sees it) and the APPEND is tried once more.
 *
 * The Sent folder: `sent_folder` from the config (the server's raw name
 * when the index knows that folder, else the name in modified UTF-7),
 * else the folder the index marks \Sent, else the one the server's LIST
 * marks \Sent (an account never synced), else "Sent".
 */
#include "core/charset/lib.h"
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* LITERAL- (RFC 7888): non-synchronizing literals up to this size. */
#define IMAP_LITERALMINUS_MAX 4096

/* "dd-Mon-yyyy hh:mm:ss +0000" (UTC) for unix time t; false when t does
 * not fit a four-digit year. */
static bool format_date(int64_t t, char *out, size_t size)
{
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t tt = (time_t)t;
    struct tm tm;
    if ((int64_t)tt != t || !gmtime_r(&tt, &tm) || tm.tm_year < 0 || tm.tm_year > 9999 - 1900 ||
        tm.tm_mon < 0 || tm.tm_mon > 11)
        return false;
    return tern_snprintf(out, size, "%02d-%s-%04d %02d:%02d:%02d +0000", tm.tm_mday,
                         months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Is data in canonical form (every CR followed by LF, every LF preceded by
 * CR)? NUL is TERN_EDATA. */
static enum tern_rc check_canonical(const char *data, size_t len, bool *canonical,
                                    struct tern_err *err)
{
    *canonical = true;
    if (memchr(data, '\0', len))
        return tern_fail(err, TERN_EDATA, "the message holds a NUL byte: IMAP cannot store it");
    for (const char *p = data, *end = data + len; p < end;) {
        const char *cr = memchr(p, '\r', (size_t)(end - p));
        const char *lf = memchr(p, '\n', (size_t)(end - p));
        if (!cr && !lf)
            break;
        if (lf && (!cr || lf < cr)) { /* LF without CR before it */
            *canonical = false;
            break;
        }
        if (cr + 1 >= end || cr[1] != '\n') { /* CR without LF */
            *canonical = false;
            break;
        }
        p = cr + 2;
    }
    return TERN_OK;
}

/* data with every line end made CRLF (bare CR and bare LF alike). */
static enum tern_rc canonicalize(const char *data, size_t len, struct tbuf *out,
                                 struct tern_err *err)
{
    enum tern_rc rc = TERN_OK;
    for (size_t i = 0; i < len && !rc; i++) {
        if (data[i] == '\r') {
            rc = tbuf_append(out, "\r\n", 2);
            if (i + 1 < len && data[i + 1] == '\n')
                i++;
        } else if (data[i] == '\n') {
            rc = tbuf_append(out, "\r\n", 2);
        } else {
            size_t j = i;
            while (j < len && data[j] != '\r' && data[j] != '\n')
                j++;
            rc = tbuf_append(out, data + i, j - i);
            i = j - 1;
        }
    }
    if (rc == TERN_ENOMEM)
        return tern_fail(err, rc, "out of memory");
    if (rc)
        return tern_fail(err, TERN_EDATA, "the message is larger than %llu bytes",
                         (unsigned long long)IMAP_APPEND_MAX);
    return TERN_OK;
}

static void appenduid(const struct imap_resp *r, struct imap_appenduid *out)
{
    uint64_t v, u;
    if (!r || r->status != IMAP_ST_OK || !imap_code_is(r, "APPENDUID"))
        return;
    if (imap_num(r, imap_nth(r, 0, 1), UINT32_MAX, &v) &&
        imap_num(r, imap_nth(r, 0, 2), UINT32_MAX, &u) && v && u) {
        out->uidvalidity = (uint32_t)v;
        out->uid = (uint32_t)u;
    }
}

/* One APPEND. *trycreate is set when the server refused with
 * NO [TRYCREATE] (err then holds its text). */
static enum tern_rc append_once(struct imap_sess *s, const char *mbox_arg, const char *flags,
                                const char *date, const char *data, size_t len,
                                struct imap_appenduid *uid, bool *trycreate, struct tern_err *err)
{
    *trycreate = false;
    bool nonsync = (s->caps & CAP_LITERALPLUS) ||
                   ((s->caps & CAP_LITERALMINUS) && len <= IMAP_LITERALMINUS_MAX);
    uint32_t tag;
    enum tern_rc rc =
        imap_cmd(s, &tag, err, "APPEND %s (%s)%s%s%s {%zu%s}", mbox_arg, flags,
                 date[0] ? " \"" : "", date, date[0] ? "\"" : "", len, nonsync ? "+" : "");
    if (rc)
        return rc;
    const struct imap_resp *r = NULL;
    bool send_data = nonsync;
    if (nonsync) {
        rc = imap_flush(s, err);
    } else {
        bool cont = false;
        rc = imap_wait_cont(s, tag, NULL, NULL, &cont, &r, err);
        send_data = !rc && cont;
    }
    if (!rc && send_data) {
        /* exactly the announced bytes, then the CRLF that ends the command */
        rc = s->io.send(s->io.arg, data, len, err);
        if (!rc)
            rc = s->io.send(s->io.arg, "\r\n", 2, err);
        if (rc)
            s->broken = true;
        if (!rc)
            rc = imap_wait(s, tag, NULL, NULL, &r, err);
    }
    if (rc)
        return rc;
    if (r && r->status != IMAP_ST_OK && imap_code_is(r, "TRYCREATE"))
        *trycreate = true;
    rc = imap_check(r, "APPEND", err);
    if (!rc)
        appenduid(r, uid);
    return rc;
}

enum tern_rc imap_append(struct imap_sess *s, const char *raw_mbox, unsigned flags, int64_t date,
                         const char *data, size_t len, bool create, struct imap_appenduid *uid,
                         struct tern_err *err)
{
    struct imap_appenduid ignore;
    if (!uid)
        uid = &ignore;
    memset(uid, 0, sizeof *uid);
    if (!data && len)
        return tern_fail(err, TERN_EINTERNAL, "imap_append: no data");
    if (!data)
        data = "";
    if ((uint64_t)len > IMAP_APPEND_MAX)
        return tern_fail(err, TERN_EDATA, "the message is larger than %llu bytes",
                         (unsigned long long)IMAP_APPEND_MAX);
    bool canonical;
    enum tern_rc rc = check_canonical(data, len, &canonical, err);
    if (rc)
        return rc;
    struct tbuf canon, mbox, fl;
    tbuf_init(&canon, (size_t)IMAP_APPEND_MAX);
    tbuf_init(&mbox, 4 * IMAP_NAME_MAX + 8);
    tbuf_init(&fl, 200);
    if (!canonical && !(rc = canonicalize(data, len, &canon, err))) {
        data = canon.data ? canon.data : "";
        len = canon.len;
    }
    if (!rc)
        rc = imap_put_mailbox(&mbox, raw_mbox ? raw_mbox : "", err);
    if (!rc && imap_flags_format(flags, &fl))
        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    char when[40] = "";
    if (!rc && date > 0 && date != INDEX_NO_DATE && !format_date(date, when, sizeof when))
        when[0] = '\0'; /* out of range: the server picks the time */
    bool trycreate = false;
    struct tern_err first = {0};
    if (!rc)
        rc = append_once(s, mbox.data, fl.data ? fl.data : "", when, data, len, uid, &trycreate,
                         &first);
    if (rc && trycreate && create) {
        /* created by someone else meanwhile: [ALREADYEXISTS] is fine */
        struct tern_err ce = {0};
        uint32_t tag;
        const struct imap_resp *r = NULL;
        rc = imap_cmd(s, &tag, err, "CREATE %s", mbox.data);
        if (!rc)
            rc = imap_wait(s, tag, NULL, NULL, &r, err);
        if (!rc && r && r->status != IMAP_ST_OK && !imap_code_is(r, "ALREADYEXISTS"))
            rc = imap_check(r, "CREATE", &ce);
        if (rc && ce.rc) {
            rc = tern_fail(err, ce.rc, "%s (after: %s)", ce.msg, first.msg);
        } else if (!rc) {
            /* subscribed, so the next sync lists and fetches it; a refusal
             * changes nothing for the copy */
            if (!(rc = imap_cmd(s, &tag, err, "SUBSCRIBE %s", mbox.data)))
                rc = imap_wait(s, tag, NULL, NULL, &r, err);
            if (!rc)
                rc = append_once(s, mbox.data, fl.data ? fl.data : "", when, data, len, uid,
                                 &trycreate, err);
        }
    } else if (rc) {
        tern_fail(err, rc, "%s", first.msg);
    }
    tbuf_free(&canon);
    tbuf_free(&mbox);
    tbuf_free(&fl);
    return rc;
}

/* ------------------------------------------------- the Sent folder */

struct sent_find {
    struct tbuf *raw;
    bool found;
    size_t seen;
    bool oom;
};

/* "* LIST (attrs) delim name": remember the first name marked \Sent. */
static enum tern_rc on_sent_list(void *arg, const struct imap_resp *r, struct tern_err *err)
{
    struct sent_find *f = arg;
    uint32_t rest;
    if (!imap_is_named(r, "LIST", &rest))
        return TERN_OK;
    if (++f->seen > IMAP_FOLDERS_MAX)
        return tern_fail(err, TERN_EPROTO, "IMAP server lists more than %d folders",
                         IMAP_FOLDERS_MAX);
    uint32_t attrs = rest, delim = imap_next(r, 0, attrs), name = imap_next(r, 0, delim);
    const char *s;
    size_t n;
    if (f->found || !imap_is_list(r, attrs) || !imap_str(r, name, &s, &n) || n == 0 ||
        n > IMAP_NAME_MAX || memchr(s, '\0', n) || tern_has_crlf(s, n))
        return TERN_OK;
    bool sent = false, noselect = false;
    for (uint32_t a = imap_child(r, attrs); a != IMAP_NONE; a = imap_next(r, attrs, a)) {
        sent |= imap_eq(r, a, "\\Sent");
        noselect |= imap_eq(r, a, "\\Noselect") || imap_eq(r, a, "\\NonExistent");
    }
    if (!sent || noselect)
        return TERN_OK;
    tbuf_reset(f->raw);
    if (tbuf_append(f->raw, s, n))
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    f->found = true;
    return TERN_OK;
}

struct ix_find {
    const char *want; /* display name, or NULL: the \Sent folder */
    char *raw;
    char *display;
    bool oom;
};

static int ix_folder(void *arg, const struct index_folder *f)
{
    struct ix_find *x = arg;
    if (!f->remote_name || !f->remote_name[0])
        return 0;
    if (x->want ? strcmp(f->name, x->want) != 0 : f->special_use != INDEX_SPECIAL_SENT)
        return 0;
    x->raw = tern_strdup(f->remote_name);
    x->display = tern_strdup(f->name);
    x->oom = !x->raw || !x->display;
    return 1;
}

enum tern_rc imap_sent_mailbox(struct imap_sess *s, const char *sent_folder, struct index *ix,
                               char **raw, char **display, struct tern_err *err)
{
    *raw = *display = NULL;
    struct ix_find x = {.want = sent_folder};
    if (ix) {
        /* best effort: an unreadable index only costs a LIST */
        struct tern_err ignore = {0};
        (void)index_folder_list(ix, ix_folder, &x, &ignore);
        if (x.oom) {
            free(x.raw);
            free(x.display);
            x.raw = x.display = NULL;
        }
        if (x.raw) {
            *raw = x.raw;
            *display = x.display;
            return TERN_OK;
        }
    }
    struct tbuf b;
    tbuf_init(&b, 4 * IMAP_NAME_MAX + 8);
    enum tern_rc rc = TERN_OK;
    if (sent_folder) {
        if (!sent_folder[0] || strlen(sent_folder) > IMAP_NAME_MAX)
            rc = tern_fail(err, TERN_ECONFIG, "sent_folder is empty or too long");
        else if (utf7imap_encode(sent_folder, strlen(sent_folder), &b))
            rc = tern_fail(err, TERN_ECONFIG, "sent_folder '%s' is not valid UTF-8 text",
                           sent_folder);
        if (!rc && !(*display = tern_strdup(sent_folder)))
            rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    } else {
        struct sent_find f = {.raw = &b};
        uint32_t tag;
        const struct imap_resp *r = NULL;
        /* only the special-use folders when the server can select them */
        if ((s->caps & CAP_LIST_EXTENDED) && (s->caps & CAP_SPECIAL_USE))
            rc = imap_cmd(s, &tag, err, "LIST (SPECIAL-USE) \"\" \"*\"");
        else
            rc = imap_cmd(s, &tag, err, "LIST \"\" \"*\"");
        if (!rc)
            rc = imap_wait(s, tag, on_sent_list, &f, &r, err);
        if (!rc && r && r->status != IMAP_ST_OK)
            f.found = false; /* refused: fall back to the usual name */
        if (!rc && !f.found) {
            tbuf_reset(&b);
            if (tbuf_puts(&b, "Sent"))
                rc = tern_fail(err, TERN_ENOMEM, "out of memory");
        }
        if (!rc) {
            struct tbuf d;
            tbuf_init(&d, 4 * IMAP_NAME_MAX + 8);
            const char *show = b.data;
            if (utf7imap_decode(b.data, b.len, &d) == TERN_OK && d.data && strlen(d.data) == d.len)
                show = d.data;
            if (!(*display = tern_strdup(show)))
                rc = tern_fail(err, TERN_ENOMEM, "out of memory");
            tbuf_free(&d);
        }
    }
    if (!rc && !(*raw = tbuf_steal(&b)))
        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    tbuf_free(&b);
    if (rc) {
        free(*raw);
        free(*display);
        *raw = *display = NULL;
    }
    return rc;
}

/* ------------------------------------------------------ the appender */

struct imap_appender {
    struct acct_env env;
    struct imap_drv d;
    char *raw;     /* the folder's raw name */
    char *display; /* its UTF-8 name */
};

enum tern_rc imap_appender_open(const struct imap_appender_params *p, struct imap_appender **out,
                                struct tern_err *err)
{
    *out = NULL;
    if (!p || !p->cfg)
        return tern_fail(err, TERN_EINTERNAL, "imap_appender_open: no account");
    if (p->cfg->incoming != INCOMING_IMAP)
        return tern_fail(err, TERN_ECONFIG, "account '%s' is not an IMAP account", p->cfg->name);
    struct imap_appender *ap = calloc(1, sizeof *ap);
    if (!ap)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    ap->env.cfg = p->cfg;
    ap->env.secret = p->secret;
    ap->env.trace = p->trace;
    ap->env.trace_arg = p->trace_arg;
    ap->d.env = &ap->env;
    enum tern_rc rc = imap_drv_connect(&ap->d, err);
    ap->env.secret = NULL; /* used for the login only */
    if (!rc) {
        struct index *ix = NULL;
        struct tern_err ignore = {0};
        if (p->cfg->data_dir)
            (void)index_open_dir(p->cfg->data_dir, INDEX_OPEN_NOCREATE, &ix, &ignore);
        const char *want = p->folder ? p->folder : p->cfg->sent_folder;
        rc = imap_sent_mailbox(ap->d.s, want, ix, &ap->raw, &ap->display, err);
        index_close(&ix);
    }
    if (rc) {
        imap_appender_close(&ap);
        return rc;
    }
    *out = ap;
    return TERN_OK;
}

const char *imap_appender_folder(const struct imap_appender *ap)
{
    return ap && ap->display ? ap->display : "";
}

enum tern_rc imap_appender_add(struct imap_appender *ap, unsigned flags, int64_t date,
                               const char *data, size_t len, struct imap_appenduid *uid,
                               struct tern_err *err)
{
    if (!ap || !ap->d.s)
        return tern_fail(err, TERN_EINTERNAL, "imap_appender_add: not connected");
    enum tern_rc rc = imap_append(ap->d.s, ap->raw, flags, date, data, len, true, uid, err);
    if (rc && ap->d.s->broken)
        imap_drv_drop(&ap->d); /* later calls fail at once */
    return rc;
}

void imap_appender_close(struct imap_appender **pap)
{
    if (!pap || !*pap)
        return;
    struct imap_appender *ap = *pap;
    if (ap->d.s && !ap->d.s->broken) {
        /* not waited for: every APPEND has its reply already */
        struct tern_err ignore = {0};
        if (!imap_cmd(ap->d.s, NULL, &ignore, "LOGOUT"))
            imap_flush(ap->d.s, &ignore);
    }
    imap_drv_drop(&ap->d);
    free(ap->raw);
    free(ap->display);
    free(ap);
    *pap = NULL;
}
