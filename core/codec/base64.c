/* Base64 (RFC 2045 6.8): lenient decoding, because real mail carries
 * line noise, and plain encoding with CRLF line breaks. */
#include "private.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

enum tern_rc base64_decode(const char *in, size_t n, struct tbuf *out)
{
    struct cd_emit e;
    uint32_t acc = 0;
    unsigned got = 0; /* sextets in acc */
    cd_emit_init(&e, out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '=')
            break;
        int v = b64_value(c);
        if (v < 0)
            continue; /* whitespace, line breaks, junk */
        acc = (acc << 6) | (uint32_t)v;
        if (++got == 4) {
            cd_emit_c(&e, (char)(acc >> 16));
            cd_emit_c(&e, (char)(acc >> 8));
            cd_emit_c(&e, (char)acc);
            acc = 0;
            got = 0;
        }
    }
    /* A partial quantum: 2 sextets carry one byte, 3 carry two; a lone
     * sextet carries none. */
    if (got == 2) {
        cd_emit_c(&e, (char)(acc >> 4));
    } else if (got == 3) {
        cd_emit_c(&e, (char)(acc >> 10));
        cd_emit_c(&e, (char)(acc >> 2));
    }
    return cd_emit_done(&e);
}

enum tern_rc base64_encode(const void *in, size_t n, size_t line_len, struct tbuf *out)
{
    const unsigned char *p = in;
    struct cd_emit e;
    size_t col = 0;
    cd_emit_init(&e, out);
    for (size_t i = 0; i < n; i += 3) {
        if (line_len && col >= line_len) {
            cd_emit(&e, "\r\n", 2);
            col = 0;
        }
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char q[4] = {alphabet[(v >> 18) & 63], alphabet[(v >> 12) & 63],
                     i + 1 < n ? alphabet[(v >> 6) & 63] : '=', i + 2 < n ? alphabet[v & 63] : '='};
        cd_emit(&e, q, 4);
        col += 4;
    }
    return cd_emit_done(&e);
}
