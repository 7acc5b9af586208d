/*
 * core/codec internals shared by base64.c, qp.c, rfc2047.c and rfc2231.c.
 * Nothing outside core/codec includes this.
 */
#ifndef TERN_CODEC_PRIVATE_H
#define TERN_CODEC_PRIVATE_H

#include "core/codec/lib.h"

#include <string.h>

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
