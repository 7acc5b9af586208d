/*
 * core/codec internals shared by base64.c, qp.c, rfc2047.c and rfc2231.c.
 * Nothing outside core/codec includes this.
 */
#ifndef TERN_CODEC_PRIVATE_H
#define TERN_CODEC_PRIVATE_H

#include "core/codec/lib.h"

#include <string.h>

/* Output staged in a local buffer so byte-at-a-time decoders do not pay a
 * tbuf_append per byte; the first failure sticks in rc. */
struct cd_emit {
    struct tbuf *out;
    enum tern_rc rc;
    size_t len;
    char buf[2048];
};

static inline void cd_emit_init(struct cd_emit *e, struct tbuf *out)
{
    e->out = out;
    e->rc = TERN_OK;
    e->len = 0;
}

static inline void cd_emit_flush(struct cd_emit *e)
{
    if (e->rc == TERN_OK)
        e->rc = tbuf_append(e->out, e->buf, e->len);
    e->len = 0;
}

static inline void cd_emit_c(struct cd_emit *e, char c)
{
    if (e->len == sizeof e->buf)
        cd_emit_flush(e);
    e->buf[e->len++] = c;
}

static inline void cd_emit(struct cd_emit *e, const char *p, size_t n)
{
    if (n == 0)
        return;
    if (n > sizeof e->buf - e->len) {
        cd_emit_flush(e);
        if (n > sizeof e->buf) {
            if (e->rc == TERN_OK)
                e->rc = tbuf_append(e->out, p, n);
            return;
        }
    }
    memcpy(e->buf + e->len, p, n);
    e->len += n;
}

/* Finish: flush and make out->data a string even when nothing was added. */
static inline enum tern_rc cd_emit_done(struct cd_emit *e)
{
    cd_emit_flush(e);
    if (e->rc == TERN_OK)
        e->rc = tbuf_append(e->out, "", 0);
    return e->rc;
}

/* Value of an ASCII hex digit (either case), or -1. */
static inline int cd_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* RFC 2047 "Q": like quoted-printable without line structure, "_" is a
 * space, a bad "=" escape is kept literally. */
enum tern_rc cd_q_decode(const char *in, size_t n, struct tbuf *out);

#endif
