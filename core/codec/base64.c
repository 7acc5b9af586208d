/* Base64 (RFC 2045 6.8): lenient decoding, because real mail carries
 * line noise, and plain encoding with CRLF line breaks. */
#include "private.h"

enum tern_rc base64_decode(const char *in, size_t n, struct tbuf *out)
{
    struct tbuf_stage e;
    uint32_t acc = 0;
    unsigned got = 0; /* sextets in acc */
    tbuf_stage_init(&e, out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '=')
            break;
        int v = tern_base64_value(c, '/');
        if (v < 0)
            continue; /* whitespace, line breaks, junk */
        acc = (acc << 6) | (uint32_t)v;
        if (++got == 4) {
            tbuf_stage_putc(&e, (char)(acc >> 16));
            tbuf_stage_putc(&e, (char)(acc >> 8));
            tbuf_stage_putc(&e, (char)acc);
            acc = 0;
            got = 0;
        }
    }
    /* A partial quantum: 2 sextets carry one byte, 3 carry two; a lone
     * sextet carries none. */
    if (got == 2) {
        tbuf_stage_putc(&e, (char)(acc >> 4));
    } else if (got == 3) {
        tbuf_stage_putc(&e, (char)(acc >> 10));
        tbuf_stage_putc(&e, (char)(acc >> 2));
    }
    return tbuf_stage_done(&e);
}

enum tern_rc base64_encode(const void *in, size_t n, size_t line_len, struct tbuf *out)
{
    const unsigned char *p = in;
    struct tbuf_stage e;
    size_t col = 0;
    tbuf_stage_init(&e, out);
    for (size_t i = 0; i < n; i += 3) {
        if (line_len && col >= line_len) {
            tbuf_stage_put(&e, "\r\n", 2);
            col = 0;
        }
        char q[4];
        tern_base64_quantum(p + i, n - i, q);
        tbuf_stage_put(&e, q, 4);
        col += 4;
    }
    return tbuf_stage_done(&e);
}
