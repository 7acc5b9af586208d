#include "lib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The client. With PIPELINING (RFC 2920) a message costs two round trips:
 * the group [MAIL, RCPT..., DATA] is written at once, then the data (with
 * QUIT behind the last message); RSET after a refused envelope rides in
 * front of the next envelope; with `ahead` the next envelope also rides
 * behind the data (see smtp_session_pipeline_ahead in lib.h). Replies are
 * read in order; the reply to the end of DATA is handed to the caller
 * (done) before anything else is read, so "sent" can be recorded durably
 * right after the 250. Without PIPELINING every command waits for its
 * reply.
 */

struct smtp_session {
    struct smtp_io io;
    struct conn *conn; /* owned when opened by smtp_open, else NULL */
    struct smtp_caps caps;
    struct tbuf out;  /* command lines waiting to be written */
    struct tbuf line; /* the reply line being read */
    struct smtp_reply reply;
    bool broken; /* stream unusable: no more commands, no QUIT */
    bool quit_sent;
    bool ahead; /* pipeline the next envelope behind the data */
    size_t lead; /* out starts with this many bytes of a data terminator
                  * (not command lines: not traced) */
};

/* One message in flight. */
struct txn {
    bool used;
    size_t idx;
    struct smtp_message m;
    struct smtp_result res;
    struct tbuf payload; /* dot-stuffed DATA payload with terminator */
    bool failed;         /* decided before anything was sent */
    bool env_sent;       /* MAIL/RCPT/DATA written */
    bool eightbit, utf8;
    /* envelope replies */
    int mail_code;
    int data_code;
    bool body_sent;
};

#define SMTP_PAYLOAD_MAX ((size_t)1 << 31) /* 2 GiB: far above any server's SIZE */

static enum tern_rc io_conn_send(void *arg, const void *buf, size_t n, struct tern_err *err)
{
    return conn_send(arg, buf, n, err);
}

static enum tern_rc io_conn_read_line(void *arg, struct tbuf *line, size_t max,
                                      struct tern_err *err)
{
    return conn_read_line(arg, line, max, err);
}

static void io_conn_trace(void *arg, bool outgoing, const char *line, size_t n)
{
    conn_trace_line(arg, outgoing, line, n);
}

enum tern_rc smtp_session_new(const struct smtp_io *io, const struct smtp_caps *caps,
                              struct smtp_session **out, struct tern_err *err)
{
    *out = NULL;
    struct smtp_session *s = calloc(1, sizeof *s);
    if (!s)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    s->io = *io;
    if (caps)
        s->caps = *caps;
    tbuf_init(&s->out, 0);
    tbuf_init(&s->line, SMTP_REPLY_LINE_MAX);
    smtp_reply_init(&s->reply);
    *out = s;
    return TERN_OK;
}

enum tern_rc smtp_open(const struct conn_params *p, struct smtp_session **out, struct tern_err *err)
{
    *out = NULL;
    struct conn_params q = *p;
    q.proto = CONN_SMTP;
    struct conn *c = NULL;
    enum tern_rc rc = conn_open(&q, &c, err);
    if (rc)
        return rc;
    struct smtp_caps caps;
    const char *tr = conn_connect_transcript(c);
    smtp_caps_parse(tr ? tr : "", tr ? strlen(tr) : 0, &caps);
    if (q.user && !(caps.flags & SMTP_CAP_AUTH)) {
        /* libcurl skips AUTH silently when none is offered; submitting
         * unauthenticated would only fail later with a confusing 530. */
        conn_close(&c);
        return tern_fail(err, TERN_ENOTSUP,
                         "%s:%u offers no authentication (no AUTH in its EHLO reply after TLS)",
                         q.host ? q.host : "?",
                         q.port ? q.port : conn_default_port(CONN_SMTP, q.tls));
    }
    struct smtp_io io = {
        .send = io_conn_send,
        .read_line = io_conn_read_line,
        .trace = io_conn_trace,
        .arg = c,
    };
    rc = smtp_session_new(&io, &caps, out, err);
    if (rc) {
        conn_close(&c);
        return rc;
    }
    (*out)->conn = c;
    return TERN_OK;
}

const struct smtp_caps *smtp_session_caps(const struct smtp_session *s)
{
    return &s->caps;
}

void smtp_session_pipeline_ahead(struct smtp_session *s, bool on)
{
    s->ahead = on;
}

static enum tern_rc out_printf(struct smtp_session *s, struct tern_err *err, const char *fmt, ...)
    TERN_PRINTF(3, 4);
static enum tern_rc out_printf(struct smtp_session *s, struct tern_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[SMTP_ADDR_MAX + 128];
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof tmp)
        return tern_fail(err, TERN_EINTERNAL, "SMTP command too long");
    enum tern_rc rc = tbuf_append(&s->out, tmp, (size_t)k);
    return rc ? tern_fail(err, rc, "out of memory") : TERN_OK;
}

/* Write the queued command lines. */
static enum tern_rc flush_cmds(struct smtp_session *s, struct tern_err *err)
{
    if (!s->out.len)
        return TERN_OK;
    /* one write for the whole group (that is the point of pipelining);
     * the trace shows it line by line */
    for (size_t i = s->lead; s->io.trace && i < s->out.len;) {
        const char *l = s->out.data + i;
        const char *e = memchr(l, '\n', s->out.len - i);
        size_t n = e ? (size_t)(e - l) + 1 : s->out.len - i;
        s->io.trace(s->io.arg, true, l, n >= 2 && l[n - 2] == '\r' ? n - 2 : n);
        i += n;
    }
    enum tern_rc rc = s->io.send(s->io.arg, s->out.data, s->out.len, err);
    tbuf_reset(&s->out);
    s->lead = 0;
    if (rc)
        s->broken = true;
    return rc;
}

/* Read one complete reply into s->reply. 421 means the server is closing
 * the connection: the session ends as a temporary failure. */
static enum tern_rc read_reply(struct smtp_session *s, struct tern_err *err)
{
    smtp_reply_reset(&s->reply);
    while (!s->reply.done) {
        tbuf_reset(&s->line);
        enum tern_rc rc = s->io.read_line(s->io.arg, &s->line, SMTP_REPLY_LINE_MAX, err);
        if (!rc && s->io.trace) {
            size_t n = s->line.len;
            while (n && (s->line.data[n - 1] == '\n' || s->line.data[n - 1] == '\r'))
                n--;
            s->io.trace(s->io.arg, false, s->line.data, n);
        }
        if (!rc)
            rc = smtp_reply_feed(&s->reply, s->line.data ? s->line.data : "", s->line.len, err);
        if (rc) {
            s->broken = true;
            return rc;
        }
    }
    if (s->reply.code == 421) {
        char sum[SMTP_TEXT_MAX];
        smtp_reply_summary(&s->reply, sum, sizeof sum);
        s->broken = true;
        return tern_fail(err, TERN_ETEMP, "server closed the session: %s", sum);
    }
    return TERN_OK;
}

static void set_text(struct smtp_result *r, const char *what, const struct smtp_reply *rep)
{
    char sum[SMTP_TEXT_MAX];
    smtp_reply_summary(rep, sum, sizeof sum);
    if (!tern_snprintf(r->text, sizeof r->text, "%s: %s", what, sum))
        r->text[sizeof r->text - 1] = '\0';
}

static enum tern_rc class_rc(int code)
{
    return code >= 500 ? TERN_EREFUSED : TERN_ETEMP;
}

/* Validate and encode message t->m; sets t->failed with a result on a
 * problem that concerns only this message. */
static void txn_prepare(struct smtp_session *s, struct txn *t)
{
    struct tern_err e = {0};
    struct smtp_message *m = &t->m;
    struct smtp_result *r = &t->res;
    r->nrcpts = m->nrcpts;
    enum tern_rc rc = TERN_OK;
    bool u = false;
    if (m->nrcpts == 0 || !m->rcpts)
        rc = tern_fail(&e, TERN_EDATA, "no recipients");
    else if (m->nrcpts > SMTP_RCPTS_MAX)
        rc = tern_fail(&e, TERN_EDATA, "more than %d recipients", SMTP_RCPTS_MAX);
    if (!rc && (rc = smtp_addr_check(m->from, true, &u, &e)))
        tern_snprintf(e.msg, sizeof e.msg, "envelope sender: %s", "invalid address");
    t->utf8 = u;
    for (size_t i = 0; !rc && i < m->nrcpts; i++) {
        rc = smtp_addr_check(m->rcpts[i], false, &u, &e);
        t->utf8 |= u;
    }
    if (!rc) {
        r->rcpt = calloc(m->nrcpts, sizeof *r->rcpt);
        if (!r->rcpt)
            rc = tern_fail(&e, TERN_ENOMEM, "out of memory");
    }
    if (!rc) {
        tbuf_init(&t->payload, SMTP_PAYLOAD_MAX);
        rc = smtp_data_encode(m->data ? m->data : "", m->data ? m->len : 0, &t->payload,
                              &t->eightbit, &e);
    }
    if (!rc && t->eightbit && !(s->caps.flags & SMTP_CAP_8BITMIME))
        rc = tern_fail(&e, TERN_ENOTSUP,
                       "the message has 8-bit data and the server does not offer 8BITMIME");
    if (!rc && t->utf8 && !(s->caps.flags & SMTP_CAP_SMTPUTF8))
        rc = tern_fail(&e, TERN_ENOTSUP,
                       "a non-ASCII address needs SMTPUTF8, which the server does not offer");
    if (!rc && s->caps.size_max && t->payload.len > s->caps.size_max)
        rc = tern_fail(&e, TERN_ENOTSUP, "message of %zu octets exceeds the server's limit of %llu",
                       t->payload.len, (unsigned long long)s->caps.size_max);
    if (rc) {
        t->failed = true;
        r->rc = rc;
        tern_snprintf(r->text, sizeof r->text, "%s", e.msg);
    }
}

static void txn_clear(struct txn *t)
{
    free(t->res.rcpt);
    tbuf_free(&t->payload);
    memset(t, 0, sizeof *t);
}

static void txn_load(struct smtp_session *s, const struct smtp_batch_ops *ops, size_t idx,
                     struct txn *t)
{
    memset(t, 0, sizeof *t);
    tbuf_init(&t->payload, SMTP_PAYLOAD_MAX);
    t->used = true;
    t->idx = idx;
    struct tern_err e = {0};
    enum tern_rc rc = ops->load(ops->arg, idx, &t->m, &e);
    if (rc) {
        t->failed = true;
        t->res.rc = rc;
        tern_snprintf(t->res.text, sizeof t->res.text, "%s", e.msg[0] ? e.msg : tern_rc_str(rc));
        return;
    }
    txn_prepare(s, t);
}

/* Queue (pipelining) or run one by one (no pipelining) MAIL, RCPT..., DATA. */
static enum tern_rc send_envelope(struct smtp_session *s, struct txn *t, struct tern_err *err)
{
    bool pipe = s->caps.flags & SMTP_CAP_PIPELINING;
    struct smtp_result *r = &t->res;
    char params[96] = "";
    size_t pl = 0;
    if (t->eightbit)
        pl += (size_t)snprintf(params + pl, sizeof params - pl, " BODY=8BITMIME");
    if (s->caps.flags & SMTP_CAP_SIZE)
        pl += (size_t)snprintf(params + pl, sizeof params - pl, " SIZE=%zu", t->payload.len);
    if (t->utf8)
        snprintf(params + pl, sizeof params - pl, " SMTPUTF8");
    t->env_sent = true;
    enum tern_rc rc = out_printf(s, err, "MAIL FROM:<%s>%s\r\n", t->m.from, params);
    if (rc)
        return rc;
    if (!pipe) {
        if ((rc = flush_cmds(s, err)) || (rc = read_reply(s, err)))
            return rc;
        t->mail_code = s->reply.code;
        if (s->reply.code / 100 != 2) {
            set_text(r, "MAIL FROM", &s->reply);
            return TERN_OK;
        }
    }
    for (size_t i = 0; i < t->m.nrcpts; i++) {
        if ((rc = out_printf(s, err, "RCPT TO:<%s>\r\n", t->m.rcpts[i])))
            return rc;
        if (!pipe) {
            if ((rc = flush_cmds(s, err)) || (rc = read_reply(s, err)))
                return rc;
            r->rcpt[i].code = s->reply.code;
            smtp_reply_summary(&s->reply, r->rcpt[i].text, sizeof r->rcpt[i].text);
        }
    }
    if (!pipe) {
        size_t ok = 0;
        for (size_t i = 0; i < t->m.nrcpts; i++)
            ok += r->rcpt[i].code / 100 == 2;
        if (!ok)
            return TERN_OK; /* no DATA: nobody to send to */
    }
    if ((rc = out_printf(s, err, "DATA\r\n")))
        return rc;
    if (!pipe) {
        if ((rc = flush_cmds(s, err)) || (rc = read_reply(s, err)))
            return rc;
        t->data_code = s->reply.code;
        if (s->reply.code != 354)
            set_text(r, "DATA", &s->reply);
    }
    return TERN_OK;
}

/* Pipelining: read the replies to what send_envelope queued. */
static enum tern_rc read_envelope(struct smtp_session *s, struct txn *t, struct tern_err *err)
{
    struct smtp_result *r = &t->res;
    enum tern_rc rc = read_reply(s, err);
    if (rc)
        return rc;
    t->mail_code = s->reply.code;
    if (s->reply.code / 100 != 2)
        set_text(r, "MAIL FROM", &s->reply);
    for (size_t i = 0; i < t->m.nrcpts; i++) {
        if ((rc = read_reply(s, err)))
            return rc;
        r->rcpt[i].code = s->reply.code;
        smtp_reply_summary(&s->reply, r->rcpt[i].text, sizeof r->rcpt[i].text);
    }
    if ((rc = read_reply(s, err)))
        return rc;
    t->data_code = s->reply.code;
    if (s->reply.code != 354 && t->mail_code / 100 == 2)
        set_text(r, "DATA", &s->reply);
    return TERN_OK;
}

/* Fill the counters and the verdict of the envelope; returns true when the
 * message data should go out (MAIL and at least one RCPT accepted, 354 to
 * DATA). */
static bool envelope_verdict(struct txn *t)
{
    struct smtp_result *r = &t->res;
    for (size_t i = 0; i < r->nrcpts; i++) {
        int c = r->rcpt[i].code;
        if (c / 100 == 2)
            r->accepted++;
        else if (c / 100 == 4)
            r->temp_failed++;
        else if (c / 100 == 5)
            r->perm_failed++;
    }
    if (t->mail_code / 100 != 2) {
        r->code = t->mail_code;
        r->rc = class_rc(t->mail_code);
        r->accepted = r->temp_failed = r->perm_failed = 0;
        return false;
    }
    if (!r->accepted) {
        /* Name the first refused recipient; temporary wins, so a message
         * with any 4xx recipient is retried. */
        int code = 0;
        size_t which = 0;
        for (size_t i = 0; i < r->nrcpts; i++)
            if (r->rcpt[i].code && (!code || (r->rcpt[i].code / 100 == 4 && code / 100 != 4))) {
                code = r->rcpt[i].code;
                which = i;
            }
        r->code = code;
        r->rc = r->temp_failed ? TERN_ETEMP : TERN_EREFUSED;
        if (!tern_snprintf(r->text, sizeof r->text, "RCPT TO:<%s>: %s", t->m.rcpts[which],
                           r->rcpt[which].text))
            r->text[sizeof r->text - 1] = '\0';
        return false;
    }
    if (t->data_code == 354)
        return true;
    r->code = t->data_code;
    r->rc = t->data_code ? class_rc(t->data_code) : TERN_EPROTO;
    r->accepted = 0;
    return false;
}

static enum tern_rc report(const struct smtp_batch_ops *ops, struct txn *t)
{
    enum tern_rc rc = ops->done(ops->arg, t->idx, t->m.data || t->m.rcpts ? &t->m : NULL, &t->res);
    txn_clear(t);
    return rc;
}

/* The session failed (srv): every message not finished gets a temporary
 * failure (or srv itself when it is not about the network). */
static void fail_rest(const struct smtp_batch_ops *ops, struct txn *cur, struct txn *nxt,
                      size_t from, size_t n, enum tern_rc srv, const struct tern_err *err)
{
    enum tern_rc mrc =
        (srv == TERN_ECONN || srv == TERN_ETIMEOUT || srv == TERN_ETEMP || srv == TERN_EPROTO)
            ? TERN_ETEMP
            : srv;
    struct txn *ts[2] = {cur, nxt};
    for (int k = 0; k < 2; k++) {
        struct txn *t = ts[k];
        if (!t || !t->used)
            continue;
        if (!t->failed) {
            t->res.rc = mrc;
            t->res.unknown = t->body_sent;
            t->res.accepted = 0;
            tern_snprintf(t->res.text, sizeof t->res.text, "%s",
                          err && err->msg[0] ? err->msg : tern_rc_str(srv));
        }
        (void)ops->done(ops->arg, t->idx, &t->m, &t->res);
        txn_clear(t);
    }
    for (size_t i = from; i < n; i++) {
        struct smtp_result r = {.rc = mrc};
        tern_snprintf(r.text, sizeof r.text, "not sent: %s",
                      err && err->msg[0] ? err->msg : tern_rc_str(srv));
        (void)ops->done(ops->arg, i, NULL, &r);
    }
}

enum tern_rc smtp_send_batch(struct smtp_session *s, size_t n, const struct smtp_batch_ops *ops,
                             bool quit, struct tern_err *err)
{
    struct txn slots[2];
    memset(slots, 0, sizeof slots);
    struct txn *cur = &slots[0], *nxt = &slots[1];
    size_t loaded = 0; /* messages handed to load so far */
    enum tern_rc srv = TERN_OK;
    bool quit_queued = false;
    bool pipe = s->caps.flags & SMTP_CAP_PIPELINING;

    if (s->broken || s->quit_sent) {
        srv = tern_fail(err, TERN_ECONN, "SMTP session already closed");
        fail_rest(ops, NULL, NULL, 0, n, srv, err);
        return srv;
    }
    if (n)
        txn_load(s, ops, loaded++, cur);
    while (cur->used) {
        bool last = loaded >= n;
        if (cur->failed) {
            /* Nothing was sent for it: report and move on. */
            size_t idx = cur->idx;
            if (report(ops, cur)) {
                srv = tern_fail(err, TERN_ECANCELED, "batch stopped after message %zu", idx + 1);
                break;
            }
            if (!last)
                txn_load(s, ops, loaded++, cur);
            continue;
        }
        if (!cur->env_sent) {
            if ((srv = send_envelope(s, cur, err)) || (pipe && (srv = flush_cmds(s, err))))
                break;
        }
        if (pipe && (srv = read_envelope(s, cur, err)))
            break;
        bool go = envelope_verdict(cur);
        bool need_rset = false, lone_dot = false;
        if (!go && cur->data_code == 354) {
            /* DATA was accepted although MAIL or every RCPT failed (RFC
             * 2920 3.1: the client cannot assume DATA fails): end it with
             * a single dot, which the server refuses or delivers nowhere */
            if ((srv = out_printf(s, err, ".\r\n")))
                break;
            lone_dot = true;
        } else if (go) {
            /* When commands follow the data, its terminator is written
             * together with them: a server that sees the end of data with
             * nothing behind it flushes its reply at once, and the replies
             * to the commands then wait behind that segment's delayed ACK
             * (Postfix: ~40 ms per message). */
            bool followed = pipe && (last ? quit : s->ahead);
            size_t keep = followed && !s->out.len ? 5 : 0;
            if (keep > cur->payload.len)
                keep = cur->payload.len;
            size_t head = cur->payload.len - keep;
            srv = head ? s->io.send(s->io.arg, cur->payload.data, head, err) : TERN_OK;
            if (!srv && keep && (srv = tbuf_append(&s->out, cur->payload.data + head, keep)))
                srv = tern_fail(err, srv, "out of memory");
            if (srv) {
                s->broken = true;
                break;
            }
            s->lead = keep;
            cur->body_sent = true;
        } else {
            need_rset = cur->mail_code / 100 == 2;
            if (need_rset && (srv = out_printf(s, err, "RSET\r\n")))
                break;
            if (need_rset && !pipe) {
                if ((srv = flush_cmds(s, err)) || (srv = read_reply(s, err)))
                    break;
                need_rset = false;
            }
        }
        /* Pipeline the next message's envelope (or QUIT) behind this one:
         * always behind RSET, behind data only when asked (see
         * smtp_session_pipeline_ahead) */
        bool next_ready = false;
        if (pipe && !last && (s->ahead || !cur->body_sent)) {
            next_ready = true;
            txn_load(s, ops, loaded++, nxt);
            if (!nxt->failed && (srv = send_envelope(s, nxt, err)))
                break;
        } else if (pipe && last && quit) {
            if ((srv = out_printf(s, err, "QUIT\r\n")))
                break;
            quit_queued = true;
        }
        if ((srv = flush_cmds(s, err)))
            break;
        if ((need_rset || lone_dot) && (srv = read_reply(s, err)))
            break;
        if (cur->body_sent) {
            if ((srv = read_reply(s, err)))
                break;
            struct smtp_result *r = &cur->res;
            r->code = s->reply.code;
            if (s->reply.code / 100 == 2) {
                r->rc = TERN_OK;
                set_text(r, "end of DATA", &s->reply);
            } else {
                r->rc = class_rc(s->reply.code);
                r->accepted = 0;
                set_text(r, "end of DATA", &s->reply);
            }
        }
        size_t idx = cur->idx;
        if (report(ops, cur)) {
            s->broken = true; /* replies may still be pending: never reuse */
            srv = tern_fail(err, TERN_ECANCELED, "batch stopped after message %zu", idx + 1);
            break;
        }
        if (next_ready) {
            struct txn *t = cur;
            cur = nxt;
            nxt = t;
        } else if (!last) {
            txn_load(s, ops, loaded++, cur);
        }
    }
    if (srv) {
        fail_rest(ops, cur, nxt, loaded, n, srv, err);
        return srv;
    }
    if (quit) {
        if (!quit_queued) {
            if (out_printf(s, NULL, "QUIT\r\n") || flush_cmds(s, NULL))
                return TERN_OK;
        }
        s->quit_sent = true;
        struct tern_err ignored = {0};
        (void)read_reply(s, &ignored); /* 221; nothing depends on it */
    }
    return TERN_OK;
}

void smtp_close(struct smtp_session **sp)
{
    if (!sp || !*sp)
        return;
    struct smtp_session *s = *sp;
    if (!s->broken && !s->quit_sent) {
        struct tern_err ignored = {0};
        if (!out_printf(s, &ignored, "QUIT\r\n") && !flush_cmds(s, &ignored))
            (void)read_reply(s, &ignored);
    }
    conn_close(&s->conn);
    tbuf_free(&s->out);
    tbuf_free(&s->line);
    smtp_reply_free(&s->reply);
    free(s);
    *sp = NULL;
}
