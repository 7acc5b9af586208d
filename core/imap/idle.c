/*
 * IMAP IDLE (RFC 2177) for the driver's wait_changes slot: EXAMINE the
 * folder, IDLE, wait for an untagged EXISTS/EXPUNGE/FETCH/VANISHED, then
 * DONE and the tagged reply. Owner: the TUI engineer.
 *
 * The wait can last many minutes, so it is cut into slices of
 * IMAP_IDLE_SLICE_MS (the conn's per-wait timeout is lowered for the
 * duration): between slices the caller's wake flag and the overall timeout
 * are looked at. A slice that ends in the middle of a line keeps the bytes
 * already read (conn_read_line hands them over with the timeout) and goes
 * on; a line that stays unfinished longer than the account's normal
 * timeout, a line over IMAP_IDLE_LINE_MAX or more than IMAP_IDLE_RESP_MAX
 * responses in one IDLE end the session (TERN_EPROTO / TERN_ETIMEOUT, the
 * connection is dropped): server bytes are hostile, nothing here grows
 * without a ceiling. Everything after the first line of a response (its
 * literals, the rest after a literal) and everything after DONE is read
 * with the normal timeout.
 */
#include "private.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IMAP_IDLE_SLICE_MS 250
#define IMAP_IDLE_LINE_MAX ((size_t)65536)    /* one line while idling */
#define IMAP_IDLE_RESP_MAX ((uint64_t)100000) /* responses in one IDLE */

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct idle_state {
    bool idle_cap; /* CAPABILITY listed IDLE */
    bool changed;
    uint32_t exists; /* the folder's size as the server last said */
};

/* Does this response report a change in the examined folder? */
static bool is_change(struct idle_state *st, const struct imap_resp *r)
{
    if (r->kind != IMAP_UNTAGGED || r->status != IMAP_ST_NONE)
        return false;
    uint64_t n;
    uint32_t rest;
    if (imap_is_numbered(r, "EXISTS", &n, &rest)) {
        bool ch = n != st->exists; /* some servers repeat the same count */
        st->exists = (uint32_t)(n > UINT32_MAX ? UINT32_MAX : n);
        return ch;
    }
    if (imap_is_numbered(r, "EXPUNGE", &n, &rest)) {
        if (st->exists)
            st->exists--;
        return true;
    }
    return imap_is_numbered(r, "FETCH", &n, &rest) || imap_is_named(r, "VANISHED", &rest);
}

static enum tern_rc caps_fn(void *arg, const struct imap_resp *r, struct tern_err *err)
{
    (void)err;
    struct idle_state *st = arg;
    uint32_t rest;
    if (imap_is_named(r, "CAPABILITY", &rest))
        for (uint32_t c = rest; c != IMAP_NONE; c = imap_next(r, 0, c))
            if (imap_eq(r, c, "IDLE"))
                st->idle_cap = true;
    return TERN_OK;
}

static enum tern_rc watch_fn(void *arg, const struct imap_resp *r, struct tern_err *err)
{
    (void)err;
    struct idle_state *st = arg;
    if (is_change(st, r))
        st->changed = true;
    return TERN_OK;
}

static void set_slice(struct imap_drv *d, bool slice)
{
    if (d->conn)
        conn_set_timeout_ms(d->conn, slice ? IMAP_IDLE_SLICE_MS : 0);
}

static unsigned normal_timeout_ms(const struct imap_drv *d)
{
    unsigned t = d->env && d->env->cfg ? d->env->cfg->timeout : 0;
    return (t ? t : CONN_DEFAULT_TIMEOUT_S) * 1000u;
}

static enum tern_rc broken(struct imap_sess *s, enum tern_rc rc, struct tern_err *err,
                           const char *what)
{
    s->broken = true;
    return tern_fail(err, rc, "%s", what);
}

/*
 * Read one response while idling. *got false: nothing came before the
 * wake flag or `end` (the stream is between responses: DONE may be sent).
 */
static enum tern_rc idle_read(struct imap_drv *d, struct tbuf *pend, const struct acct_wait *w,
                              uint64_t end, bool *got, const struct imap_resp **out,
                              struct tern_err *err)
{
    struct imap_sess *s = d->s;
    *got = false;
    *out = NULL;
    uint64_t partial_since = 0;
    tbuf_reset(pend);
    for (;;) {
        uint64_t now = mono_ms();
        if (!pend->len && ((w->wake && *w->wake) || now >= end))
            return TERN_OK;
        if (pend->len && now - partial_since > normal_timeout_ms(d))
            return broken(s, TERN_ETIMEOUT, err, "IMAP server stopped in the middle of a line");
        if (IMAP_IDLE_LINE_MAX - pend->len < 2)
            return broken(s, TERN_EPROTO, err, "IMAP server sent an overlong line");
        set_slice(d, true);
        struct tern_err e = {0};
        enum tern_rc rc = s->io.read_line(s->io.arg, &s->line, IMAP_IDLE_LINE_MAX - pend->len, &e);
        if (rc == TERN_ETIMEOUT || rc == TERN_ECANCELED) {
            /* a slice ended: keep what part of a line came */
            if (s->line.len) {
                if (!pend->len)
                    partial_since = now;
                if (tbuf_append(pend, s->line.data, s->line.len))
                    return broken(s, TERN_EPROTO, err, "IMAP server sent an overlong line");
            }
            continue;
        }
        if (rc) {
            s->broken = true;
            if (s->bye && rc == TERN_ECONN)
                return tern_fail(err, TERN_ECONN, "the IMAP server closed the session (BYE)");
            return tern_fail(err, rc, "%s", e.msg);
        }
        if (pend->len) {
            if (tbuf_append(pend, s->line.data, s->line.len))
                return broken(s, TERN_EPROTO, err, "IMAP server sent an overlong line");
            tbuf_reset(&s->line);
            if (tbuf_append(&s->line, pend->data, pend->len))
                return broken(s, TERN_ENOMEM, err, "out of memory");
            tbuf_reset(pend);
        }
        break;
    }
    /* the first line is here: the rest of this response comes at the
     * normal pace */
    set_slice(d, false);
    *got = true;
    enum imap_step step;
    enum tern_rc rc = imap_parser_feed(s->p, s->line.data, s->line.len, &step, err);
    while (!rc && step != IMAP_STEP_DONE) {
        if (step == IMAP_STEP_LITERAL) {
            /* kept out of memory: only the response's kind matters here */
            uint64_t n = imap_parser_literal_size(s->p);
            if (n > IMAP_LITERAL_MAX)
                return broken(s, TERN_EPROTO, err, "IMAP server sent a huge literal while idling");
            imap_parser_literal_external(s->p);
            rc = s->io.read_exact(s->io.arg, n, NULL, NULL, err);
            step = IMAP_STEP_LINE; /* then the rest of the line after it */
            continue;
        }
        rc = s->io.read_line(s->io.arg, &s->line, IMAP_IDLE_LINE_MAX, err);
        if (!rc)
            rc = imap_parser_feed(s->p, s->line.data, s->line.len, &step, err);
    }
    if (rc) {
        s->broken = true;
        return rc;
    }
    *out = imap_parser_resp(s->p);
    return TERN_OK;
}

static enum tern_rc wait_changes(struct imap_drv *d, struct acct_wait *w, struct tern_err *err)
{
    w->changed = false;
    enum tern_rc rc = imap_drv_connect(d, err);
    if (rc)
        return rc;
    struct imap_sess *s = d->s;
    struct idle_state st = {0};
    if ((rc = imap_simple(s, caps_fn, &st, err, "CAPABILITY")))
        return rc;
    if (!st.idle_cap)
        return tern_fail(err, TERN_ENOTSUP, "the IMAP server does not offer IDLE");

    struct index_folder f = {0};
    if ((rc = index_folder_get(d->ix, w->folder_id, NULL, &f, err)))
        return rc;
    if (!f.remote_name) {
        rc = tern_fail(err, TERN_ENOTFOUND, "folder '%s' is not on the server", f.name);
        index_folder_clear(&f);
        return rc;
    }
    /* EXAMINE: read-only, so watching never changes \Recent or flags; the
     * session's selected-folder facts are not a SELECT's any more */
    struct tbuf cmd;
    tbuf_init(&cmd, 2 * IMAP_NAME_MAX + 32);
    rc = tbuf_puts(&cmd, "EXAMINE ");
    if (!rc)
        rc = imap_put_mailbox(&cmd, f.remote_name, err);
    else
        rc = tern_fail(err, rc, "out of memory");
    memset(&s->sel, 0, sizeof s->sel);
    d->sel_fid = 0;
    if (!rc)
        rc = imap_simple(s, NULL, NULL, err, "%s", cmd.data);
    tbuf_free(&cmd);
    if (!rc && w->compare &&
        ((f.uidvalidity && s->sel.uidvalidity && f.uidvalidity != s->sel.uidvalidity) ||
         (s->sel.uidnext && s->sel.uidnext != f.uidnext)))
        w->changed = true; /* mail came before we started watching */
    index_folder_clear(&f);
    if (rc || w->changed)
        return rc;
    st.exists = s->sel.exists;

    uint32_t tag;
    bool cont = false;
    const struct imap_resp *final = NULL;
    if ((rc = imap_cmd(s, &tag, err, "IDLE")) ||
        (rc = imap_wait_cont(s, tag, watch_fn, &st, &cont, &final, err)))
        return rc;
    if (!cont) {
        /* refused (or done) without idling: the server's word on it */
        w->changed = st.changed;
        rc = imap_check(final, "IDLE", err);
        return rc ? rc : tern_fail(err, TERN_EPROTO, "IMAP server ended IDLE at once");
    }

    uint64_t end = mono_ms() + w->timeout_ms;
    struct tbuf pend;
    tbuf_init(&pend, IMAP_IDLE_LINE_MAX);
    uint64_t nresp = 0;
    while (!st.changed) {
        bool got;
        const struct imap_resp *r;
        if ((rc = idle_read(d, &pend, w, end, &got, &r, err)))
            break;
        if (!got)
            break; /* woken or timed out: leave IDLE */
        if (++nresp > IMAP_IDLE_RESP_MAX) {
            rc = broken(s, TERN_EPROTO, err, "IMAP server sent too many responses while idling");
            break;
        }
        if (r->kind == IMAP_UNTAGGED && r->status == IMAP_ST_BYE) {
            s->bye = true;
            continue; /* the close comes next */
        }
        if (r->kind != IMAP_UNTAGGED) {
            /* a tagged reply or "+" in the middle of IDLE: out of step */
            rc = broken(s, TERN_EPROTO, err, "IMAP server ended IDLE unasked");
            break;
        }
        if (is_change(&st, r))
            st.changed = true;
    }
    set_slice(d, false);
    tbuf_free(&pend);
    if (rc)
        return rc;
    /* DONE, then the tagged reply (changes reported meanwhile count) */
    static const char done[] = "DONE\r\n";
    if (s->io.trace)
        s->io.trace(s->io.arg, true, "DONE", 4);
    if ((rc = s->io.send(s->io.arg, done, sizeof done - 1, err))) {
        s->broken = true;
        return rc;
    }
    rc = imap_wait(s, tag, watch_fn, &st, &final, err);
    if (!rc)
        rc = imap_check(final, "IDLE", err);
    w->changed = st.changed;
    return rc;
}

enum tern_rc imap_wait_changes(void *state, struct acct_wait *w, struct tern_err *err)
{
    struct imap_drv *d = state;
    enum tern_rc rc = wait_changes(d, w, err);
    if (d->s && d->s->broken)
        imap_drv_drop(d); /* the next call reconnects */
    return rc;
}
