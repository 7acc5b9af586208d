/*
 * Fuzz what an SMTP server can send: the reply parser line by line, the
 * EHLO capability parser on the whole input, and the client state machine
 * (a two-message pipelined or lock-step batch) reading the input as the
 * server's replies. Input byte 0 picks the capability flags.
 */
#include "core/smtp/lib.h"

#include <stdint.h>
#include <string.h>

struct fz {
    const uint8_t *p;
    size_t n, pos;
};

static enum tern_rc f_send(void *arg, const void *buf, size_t n, struct tern_err *err)
{
    (void)arg;
    (void)buf;
    (void)n;
    (void)err;
    return TERN_OK;
}

static enum tern_rc f_read_line(void *arg, struct tbuf *line, size_t max, struct tern_err *err)
{
    struct fz *f = arg;
    tbuf_reset(line);
    if (f->pos >= f->n)
        return tern_fail(err, TERN_ECONN, "eof");
    size_t e = f->pos;
    while (e < f->n && f->p[e] != '\n')
        e++;
    if (e < f->n)
        e++;
    if (e - f->pos > max)
        return tern_fail(err, TERN_EPROTO, "long");
    enum tern_rc rc = tbuf_append(line, f->p + f->pos, e - f->pos);
    f->pos = e;
    return rc;
}

static enum tern_rc load(void *arg, size_t i, struct smtp_message *m, struct tern_err *err)
{
    static const char *rc3[] = {"a@example.org", "b@example.org", "c@example.org"};
    (void)arg;
    (void)err;
    m->from = "me@example.org";
    m->rcpts = rc3;
    m->nrcpts = i ? 1 : 3;
    m->data = "Subject: x\r\n\r\n.body\r\n";
    m->len = 22;
    return TERN_OK;
}

static enum tern_rc done(void *arg, size_t i, const struct smtp_message *m,
                         const struct smtp_result *r)
{
    (void)arg;
    (void)i;
    (void)m;
    /* touch everything the caller may read */
    size_t k = strlen(r->text);
    for (size_t j = 0; r->rcpt && j < r->nrcpts; j++)
        k += strlen(r->rcpt[j].text) + (size_t)r->rcpt[j].code;
    return k == (size_t)-1 ? TERN_EIO : TERN_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned flags = data[0];
    data++;
    size--;

    struct smtp_caps caps;
    smtp_caps_parse((const char *)data, size, &caps);

    struct smtp_reply r;
    smtp_reply_init(&r);
    size_t i = 0;
    while (i < size) {
        size_t e = i;
        while (e < size && data[e] != '\n')
            e++;
        if (r.done)
            smtp_reply_reset(&r);
        if (smtp_reply_feed(&r, (const char *)data + i, e - i + (e < size), NULL))
            smtp_reply_reset(&r);
        char sum[SMTP_TEXT_MAX];
        smtp_reply_summary(&r, sum, sizeof sum);
        i = e + 1;
    }
    smtp_reply_free(&r);

    struct fz f = {data, size, 0};
    struct smtp_io io = {.send = f_send, .read_line = f_read_line, .arg = &f};
    struct smtp_caps c = {.flags = flags & 0x1f, .size_max = (flags & 0x80) ? 30 : 0};
    struct smtp_session *s = NULL;
    if (smtp_session_new(&io, &c, &s, NULL))
        return 0;
    smtp_session_pipeline_ahead(s, flags & 0x20);
    struct smtp_batch_ops ops = {.load = load, .done = done, .arg = NULL};
    struct tern_err err = {0};
    (void)smtp_send_batch(s, 2, &ops, flags & 0x40, &err);
    smtp_close(&s);
    return 0;
}
