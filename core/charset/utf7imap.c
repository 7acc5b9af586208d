/* Modified UTF-7 for IMAP mailbox names (RFC 3501 5.1.3): printable ASCII
 * stands for itself except "&", which is written "&-"; everything else is
 * UTF-16BE in a base64 variant ("," for "/", no padding) between "&" and
 * "-". Written by hand rather than through glibc's UTF-7-IMAP so that the
 * strictness (what counts as malformed) is ours and tested. */
#include "private.h"

/* A malformed name: keep what was decoded so far (out may hold part of
 * the result) and report TERN_EDATA unless out itself failed first. */
static enum tern_rc malformed(struct tbuf_stage *e)
{
    tbuf_stage_flush(e);
    return e->rc != TERN_OK ? e->rc : TERN_EDATA;
}

enum tern_rc utf7imap_decode(const char *in, size_t n, struct tbuf *out)
{
    struct tbuf_stage e;
    size_t i = 0;
    tbuf_stage_init(&e, out);
    while (i < n) {
        unsigned char c = (unsigned char)in[i];
        if (c < 0x20 || c > 0x7E)
            goto bad;
        i++;
        if (c != '&') {
            tbuf_stage_putc(&e, (char)c);
            continue;
        }
        if (i < n && in[i] == '-') { /* "&-" is "&" */
            tbuf_stage_putc(&e, '&');
            i++;
            continue;
        }
        uint32_t bits = 0, high = 0;
        unsigned nbits = 0;
        for (;;) {
            if (i >= n)
                goto bad; /* unterminated */
            if (in[i] == '-')
                break;
            int v = tern_base64_value((unsigned char)in[i++], ',');
            if (v < 0)
                goto bad;
            bits = (bits << 6) | (uint32_t)v;
            nbits += 6;
            if (nbits < 16)
                continue;
            nbits -= 16;
            uint32_t unit = (bits >> nbits) & 0xFFFF;
            bits &= (1u << nbits) - 1;
            uint32_t cp;
            if (high) {
                if (unit < 0xDC00 || unit > 0xDFFF)
                    goto bad; /* high surrogate without its low half */
                cp = 0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00);
                high = 0;
            } else if (unit >= 0xD800 && unit <= 0xDBFF) {
                high = unit;
                continue;
            } else if (unit >= 0xDC00 && unit <= 0xDFFF) {
                goto bad; /* lone low surrogate */
            } else {
                cp = unit;
            }
            if (cp == 0 || (cp >= 0x20 && cp <= 0x7E))
                goto bad; /* printable ASCII must be written directly */
            char b[4];
            tbuf_stage_put(&e, b, cs_utf8_encode(cp, b));
        }
        i++; /* the '-' */
        /* What is left is padding: fewer than 6 bits, all zero. A run of
         * one base64 char or an odd number of bytes leaves more. */
        if (nbits >= 6 || bits != 0 || high)
            goto bad;
    }
    return tbuf_stage_done(&e);
bad:
    return malformed(&e);
}

struct b64w {
    struct tbuf_stage *e;
    uint32_t bits;
    unsigned nbits;
};

static void b64w_unit(struct b64w *w, uint32_t unit)
{
    w->bits = (w->bits << 16) | unit;
    w->nbits += 16;
    while (w->nbits >= 6) {
        w->nbits -= 6;
        tbuf_stage_putc(w->e, tern_base64_digit(w->bits >> w->nbits, ','));
    }
    w->bits &= (1u << w->nbits) - 1;
}

static void b64w_close(struct b64w *w)
{
    if (w->nbits)
        tbuf_stage_putc(w->e, tern_base64_digit(w->bits << (6 - w->nbits), ','));
    tbuf_stage_putc(w->e, '-');
    w->bits = 0;
    w->nbits = 0;
}

enum tern_rc utf7imap_encode(const char *in, size_t n, struct tbuf *out)
{
    struct tbuf_stage e;
    struct b64w w = {&e, 0, 0};
    bool shifted = false;
    size_t i = 0;
    tbuf_stage_init(&e, out);
    while (i < n) {
        uint32_t cp;
        size_t len = utf8_decode(in + i, n - i, &cp);
        if ((cp == 0xFFFD && len == 1) || cp == 0)
            goto bad;
        i += len;
        if (cp >= 0x20 && cp <= 0x7E) {
            if (shifted) {
                b64w_close(&w);
                shifted = false;
            }
            if (cp == '&')
                tbuf_stage_put(&e, "&-", 2);
            else
                tbuf_stage_putc(&e, (char)cp);
            continue;
        }
        if (!shifted) {
            tbuf_stage_putc(&e, '&');
            shifted = true;
        }
        if (cp >= 0x10000) {
            b64w_unit(&w, 0xD800 + ((cp - 0x10000) >> 10));
            b64w_unit(&w, 0xDC00 + ((cp - 0x10000) & 0x3FF));
        } else {
            b64w_unit(&w, cp);
        }
    }
    if (shifted)
        b64w_close(&w);
    return tbuf_stage_done(&e);
bad:
    return malformed(&e);
}
