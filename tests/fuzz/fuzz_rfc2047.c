/* libFuzzer target: RFC 2047 decoding of hostile header text, terminal
 * safety and JSON escaping of the result, and the encode -> unfold ->
 * decode round trip, which must give valid UTF-8 input back. Any broken
 * property aborts. */
#include "core/charset/lib.h"
#include "core/codec/lib.h"

#include <stdlib.h>
#include <string.h>

/* Text that reaches a terminal must hold no C0 (but TAB/LF when allowed),
 * DEL, C1, ESC or bidi control, and must be valid UTF-8. */
static void check_safe(const char *s, size_t n, unsigned flags)
{
    if (!utf8_valid(s, n))
        abort();
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = utf8_decode(s + i, n - i, &cp);
        if (cp < 0x20 && !(cp == '\t' && (flags & SAFE_ALLOW_TAB)) &&
            !(cp == '\n' && (flags & SAFE_ALLOW_NEWLINE)))
            abort();
        if ((cp >= 0x7F && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) ||
            (cp >= 0x2066 && cp <= 0x2069))
            abort();
        i += len;
    }
}

static void check_json(const char *s, size_t n)
{
    if (!utf8_valid(s, n) || n < 2 || s[0] != '"' || s[n - 1] != '"')
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F)
            abort();
}

static void roundtrip(const char *in, size_t n, size_t used)
{
    struct tbuf enc, unf, dec;
    tbuf_init(&enc, 0);
    tbuf_init(&unf, 0);
    tbuf_init(&dec, 0);
    if (rfc2047_encode(in, n, used, &enc) != TERN_OK)
        abort();
    for (size_t i = 0; i < enc.len; i++) {
        if (enc.data[i] == '\r' || enc.data[i] == '\n') { /* only CRLF SP folds */
            if (enc.data[i] != '\r' || i + 2 >= enc.len || enc.data[i + 1] != '\n' ||
                enc.data[i + 2] != ' ')
                abort();
            i++;
            continue;
        }
        tbuf_putc(&unf, enc.data[i]);
    }
    /* each encoded word is at most 75 characters */
    for (const char *p = enc.data; p && (p = strstr(p, "=?UTF-8?")) != NULL;) {
        const char *q = strstr(p + 10, "?=");
        if (!q || q + 2 - p > 75)
            abort();
        p = q + 2;
    }
    if (rfc2047_decode(unf.data, unf.len, &dec) != TERN_OK)
        abort();
    const char *d = dec.data;
    size_t dn = dec.len;
    if (enc.len >= 3 && memcmp(enc.data, "\r\n ", 3) == 0 && (n == 0 || in[0] != ' ') && dn &&
        d[0] == ' ') {
        d++; /* the value had to start on a new line: unfolds with one blank */
        dn--;
    }
    if (dn != n || (n && memcmp(d, in, n) != 0))
        abort();
    tbuf_free(&enc);
    tbuf_free(&unf);
    tbuf_free(&dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    struct tbuf dec, safe, json;
    tbuf_init(&dec, 0);
    tbuf_init(&safe, 0);
    tbuf_init(&json, 0);
    if (rfc2047_decode(in, size, &dec) != TERN_OK || !utf8_valid(dec.data, dec.len))
        abort();
    unsigned flags = size ? data[0] & 7u : 0;
    if (safe_text(dec.data, dec.len, flags, &safe) != TERN_OK)
        abort();
    check_safe(safe.data, safe.len, flags);
    tbuf_reset(&safe);
    if (safe_text(in, size, flags, &safe) != TERN_OK) /* raw, maybe invalid */
        abort();
    check_safe(safe.data, safe.len, flags);
    if (json_put_string(&json, in, size) != TERN_OK)
        abort();
    check_json(json.data, json.len);
    if (utf8_valid(in, size))
        roundtrip(in, size, size ? data[size - 1] % 80u : 0);
    tbuf_free(&dec);
    tbuf_free(&safe);
    tbuf_free(&json);
    return 0;
}
