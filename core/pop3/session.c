/* One POP3 session: commands go into a queue and out in one send (so with
 * PIPELINING many are in flight), responses are read strictly in order.
 * The transport is abstract so tests can script the server. */
#include "core/pop3/private.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const cmd_names[] = {
    [POP3_CMD_CAPA] = "CAPA", [POP3_CMD_UIDL] = "UIDL", [POP3_CMD_RETR] = "RETR",
    [POP3_CMD_DELE] = "DELE", [POP3_CMD_QUIT] = "QUIT",
};

static bool cmd_multiline(enum pop3_cmd_kind k)
{
    return k == POP3_CMD_CAPA || k == POP3_CMD_UIDL || k == POP3_CMD_RETR;
}

void pop3_sess_init(struct pop3_sess *s, const struct pop3_transport *tr, pop3_trace_fn *trace,
                    void *trace_arg)
{
    memset(s, 0, sizeof *s);
    s->tr = *tr;
    pop3_parser_init(&s->parser);
    /* A full queue of "RETR 10000000\r\n" fits. */
    tbuf_init(&s->out, POP3_QUEUE_MAX * 32);
    s->trace = trace;
    s->trace_arg = trace_arg;
}

void pop3_sess_free(struct pop3_sess *s)
{
    tbuf_free(&s->out);
}

static void trace(struct pop3_sess *s, bool out, const char *fmt, ...) TERN_PRINTF(3, 4);
static void trace(struct pop3_sess *s, bool out, const char *fmt, ...)
{
    if (!s->trace)
        return;
    char line[POP3_STATUS_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->trace(s->trace_arg, out, line);
}

enum tern_rc pop3_sess_queue(struct pop3_sess *s, enum pop3_cmd_kind kind, uint32_t msgno,
                             size_t ref, struct tern_err *err)
{
    if (s->qlen >= POP3_QUEUE_MAX)
        return tern_fail(err, TERN_EINTERNAL, "pop3 command queue full");
    enum tern_rc rc;
    if (kind == POP3_CMD_RETR || kind == POP3_CMD_DELE)
        rc = tbuf_printf(&s->out, "%s %u\r\n", cmd_names[kind], (unsigned)msgno);
    else
        rc = tbuf_printf(&s->out, "%s\r\n", cmd_names[kind]);
    if (rc)
        return tern_fail(err, rc, "pop3: cannot queue a command: %s", tern_rc_str(rc));
    struct pop3_cmd *c = &s->q[(s->qhead + s->qlen) % POP3_QUEUE_MAX];
    c->kind = kind;
    c->msgno = msgno;
    c->ref = ref;
    s->qlen++;
    if (kind == POP3_CMD_RETR || kind == POP3_CMD_DELE)
        trace(s, true, "%s %u", cmd_names[kind], (unsigned)msgno);
    else
        trace(s, true, "%s", cmd_names[kind]);
    return TERN_OK;
}

enum tern_rc pop3_sess_flush(struct pop3_sess *s, struct tern_err *err)
{
    if (!s->out.len)
        return TERN_OK;
    enum tern_rc rc = s->tr.send(s->tr.arg, s->out.data, s->out.len, err);
    tbuf_reset(&s->out);
    return rc;
}

size_t pop3_sess_outstanding(const struct pop3_sess *s)
{
    return s->qlen;
}

const struct pop3_cmd *pop3_sess_head(const struct pop3_sess *s)
{
    return s->qlen ? &s->q[s->qhead] : NULL;
}

enum tern_rc pop3_sess_read(struct pop3_sess *s, enum pop3_data_mode mode, pop3_sink_fn *sink,
                            void *arg, struct pop3_cmd *cmd, bool *ok, struct tern_err *err)
{
    if (!s->qlen)
        return tern_fail(err, TERN_EINTERNAL, "pop3: reading a response to no command");
    enum tern_rc rc = pop3_sess_flush(s, err);
    if (rc)
        return rc;
    struct pop3_cmd c = s->q[s->qhead];
    pop3_parser_begin(&s->parser, cmd_multiline(c.kind), mode, sink, arg);
    while (!s->parser.done) {
        if (!s->in_len) {
            rc = s->tr.recv(s->tr.arg, &s->in, &s->in_len, err);
            if (rc)
                return rc;
        }
        size_t used = 0;
        rc = pop3_parser_feed(&s->parser, s->in, s->in_len, &used, err);
        s->in += used;
        s->in_len -= used;
        if (rc)
            return rc;
    }
    s->qhead = (s->qhead + 1) % POP3_QUEUE_MAX;
    s->qlen--;
    trace(s, false, "%s %s", s->parser.ok ? "+OK" : "-ERR", s->parser.status);
    if (cmd)
        *cmd = c;
    *ok = s->parser.ok;
    /* Bytes after the last response of a session without anything else in
     * flight would be the server answering a command we never sent. */
    if (!s->qlen && s->in_len)
        return tern_fail(err, TERN_EPROTO, "server sent data nobody asked for");
    return TERN_OK;
}

static enum tern_rc capa_sink(void *arg, const char *line, size_t n)
{
    unsigned *caps = arg;
    *caps |= pop3_capa_line(line, n);
    return TERN_OK;
}

enum tern_rc pop3_sess_capa(struct pop3_sess *s, struct tern_err *err)
{
    unsigned caps = 0;
    bool ok;
    enum tern_rc rc = pop3_sess_queue(s, POP3_CMD_CAPA, 0, 0, err);
    if (!rc)
        rc = pop3_sess_read(s, POP3_DATA_LINES, capa_sink, &caps, NULL, &ok, err);
    if (rc)
        return rc;
    s->caps = ok ? caps : 0;
    return TERN_OK;
}
