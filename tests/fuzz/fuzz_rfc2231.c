/* libFuzzer target: RFC 2231 segment decoding and charset split, the
 * base64 and quoted-printable decoders, and the encoders' round trips
 * (base64, QP, RFC 2231 parameters). Any broken property aborts. */
#include "core/charset/lib.h"
#include "core/codec/lib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void same(const struct tbuf *b, const char *p, size_t n)
{
    if (b->len != n || (n && memcmp(b->data, p, n) != 0))
        abort();
}

static void check_qp(const char *in, size_t n)
{
    struct tbuf enc, dec, want;
    tbuf_init(&enc, 0);
    tbuf_init(&dec, 0);
    tbuf_init(&want, 0);
    if (qp_encode(in, n, &enc) != TERN_OK)
        abort();
    size_t col = 0;
    for (size_t i = 0; i < enc.len; i++) {
        unsigned char c = (unsigned char)enc.data[i];
        if (c == '\r' && i + 1 < enc.len && enc.data[i + 1] == '\n') {
            col = 0;
            i++;
            continue;
        }
        if (c >= 0x7F || (c < 0x20 && c != '\t') || ++col > 76)
            abort();
    }
    if (qp_decode(enc.data, enc.len, &dec) != TERN_OK)
        abort();
    /* the encoder writes every line end as CRLF */
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
            tbuf_putc(&want, '\r');
        tbuf_putc(&want, in[i]);
    }
    same(&dec, want.data, want.len);
    tbuf_free(&enc);
    tbuf_free(&dec);
    tbuf_free(&want);
}

static void check_param(const char *value)
{
    struct tbuf enc, raw, one;
    tbuf_init(&enc, 0);
    tbuf_init(&raw, 0);
    tbuf_init(&one, 0);
    if (rfc2231_encode_param("filename", value, &enc) != TERN_OK)
        abort();
    char cs[RFC2231_CHARSET_MAX];
    char *p = enc.data;
    for (unsigned seg = 0; p && *p; seg++) {
        char *end = strstr(p, ";\r\n ");
        if (end)
            *end = '\0';
        if (strlen(p) + 2 > 76) /* leading blank and ";" */
            abort();
        char head[40];
        if (end || seg)
            snprintf(head, sizeof head, "filename*%u*=", seg);
        else
            snprintf(head, sizeof head, "filename*=");
        if (strncmp(p, head, strlen(head)) != 0)
            abort();
        const char *body = p + strlen(head);
        if (seg == 0) {
            body = rfc2231_split_charset(body, strlen(body), cs, sizeof cs);
            if (strcmp(cs, "utf-8") != 0)
                abort();
        }
        if (rfc2231_decode_segment(body, strlen(body), true, cs, &raw) != TERN_OK)
            abort();
        if (utf8_valid(value, strlen(value))) { /* no character split */
            tbuf_reset(&one);
            rfc2231_decode_segment(body, strlen(body), true, cs, &one);
            if (!utf8_valid(one.data, one.len))
                abort();
        }
        p = end ? end + 4 : NULL;
    }
    same(&raw, value, strlen(value));
    tbuf_free(&enc);
    tbuf_free(&raw);
    tbuf_free(&one);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    struct tbuf a, b;
    tbuf_init(&a, 0);
    tbuf_init(&b, 0);

    /* RFC 2231 */
    char cs[RFC2231_CHARSET_MAX];
    size_t cs_size = size ? data[0] % sizeof cs + 1 : sizeof cs;
    const char *rest = rfc2231_split_charset(in, size, cs, cs_size);
    if (strnlen(cs, cs_size) >= cs_size || (size && (rest < in || rest > in + size)))
        abort();
    size_t rn = size ? size - (size_t)(rest - in) : 0;
    if (rfc2231_decode_segment(rest, rn, true, cs, &a) != TERN_OK || a.len > rn)
        abort();
    if (charset_to_utf8(cs[0] ? cs : NULL, a.data, a.len, &b) != TERN_OK ||
        !utf8_valid(b.data, b.len))
        abort();
    tbuf_reset(&a);
    if (rfc2231_decode_segment(in, size, false, NULL, &a) != TERN_OK)
        abort();
    same(&a, in, size);
    tbuf_reset(&a);
    if (rfc2231_decode_value(in, size, &a) != TERN_OK || !utf8_valid(a.data, a.len))
        abort();

    /* base64: decoder bounds, encoder round trip */
    tbuf_reset(&a);
    tbuf_reset(&b);
    if (base64_decode(in, size, &a) != TERN_OK || a.len > size / 4 * 3 + 2)
        abort();
    tbuf_reset(&a);
    if (base64_encode(in, size, 76, &a) != TERN_OK || base64_decode(a.data, a.len, &b) != TERN_OK)
        abort();
    same(&b, in, size);

    /* quoted-printable */
    tbuf_reset(&a);
    if (qp_decode(in, size, &a) != TERN_OK || a.len > size)
        abort();
    check_qp(in, size);

    /* parameter encoding of the text up to the first NUL */
    char *value = malloc(size + 1);
    if (value) {
        memcpy(value, in, size);
        value[size] = '\0';
        check_param(value);
        free(value);
    }
    tbuf_free(&a);
    tbuf_free(&b);
    return 0;
}
