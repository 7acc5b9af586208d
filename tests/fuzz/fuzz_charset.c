/* libFuzzer target: charset conversion of hostile bytes (the first byte
 * picks the declared charset, stateful ones included) must give valid
 * UTF-8, the same with and without a converter cache; modified UTF-7
 * decode/encode must agree with each other. Any broken property aborts. */
#include "core/charset/lib.h"

#include <stdlib.h>
#include <string.h>

static const char *const charsets[] = {
    NULL,
    "utf-8",
    "us-ascii",
    "iso-8859-1",
    "windows-1252",
    "iso-2022-jp",
    "iso-2022-jp-2",
    "iso-2022-kr",
    "iso-2022-cn-ext",
    "utf-7",
    "utf-16",
    "utf-16le",
    "utf-32",
    "ucs-2",
    "gb18030",
    "shift_jis",
    "euc-jp",
    "ks_c_5601-1987",
    "big5",
    "koi8-r",
    "x-mac-roman",
    "cp-850",
    "utf-7-imap",
    "x-unknown",
    "ebcdic-us",
    "tscii",
    "iso-8859-8-i",
    "windows-1258",
    "tcvn",
    "euc-tw",
    "utf-8*en",
    "iso-8859-3",
    "bogus",
    "unicode-1-1-utf-7",
    "big5-hkscs",
    "ibm1364",
};
#define NCS (sizeof charsets / sizeof charsets[0])

/* A cache shared across runs finds state leaking between conversions. */
static struct charset_cache *cache;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (!cache)
        cache = charset_cache_new();
    const char *cs = charsets[data[0] % NCS];
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    struct tbuf a, b;
    tbuf_init(&a, 0);
    tbuf_init(&b, 0);
    if (charset_to_utf8(cs, in, n, &a) != TERN_OK || !utf8_valid(a.data, a.len))
        abort();
    if (charset_to_utf8_cached(cache, cs, in, n, &b) != TERN_OK || b.len != a.len ||
        memcmp(a.data, b.data, a.len) != 0)
        abort();

    /* sanitize: valid output, identity on valid input */
    tbuf_reset(&a);
    if (utf8_sanitize(in, n, &a) != TERN_OK || !utf8_valid(a.data, a.len))
        abort();
    if (utf8_valid(in, n) && (a.len != n || memcmp(a.data, in, n) != 0))
        abort();

    /* modified UTF-7: what decodes re-encodes to something that decodes
     * to the same text */
    tbuf_reset(&a);
    tbuf_reset(&b);
    if (utf7imap_decode(in, n, &a) == TERN_OK) {
        if (!utf8_valid(a.data, a.len) || utf7imap_encode(a.data, a.len, &b) != TERN_OK)
            abort();
        struct tbuf c;
        tbuf_init(&c, 0);
        if (utf7imap_decode(b.data, b.len, &c) != TERN_OK || c.len != a.len ||
            memcmp(c.data, a.data, a.len) != 0)
            abort();
        tbuf_free(&c);
    }
    /* and valid UTF-8 without NUL encodes and decodes back */
    tbuf_reset(&a);
    tbuf_reset(&b);
    if (utf8_valid(in, n) && !memchr(in, '\0', n)) {
        if (utf7imap_encode(in, n, &a) != TERN_OK ||
            utf7imap_decode(a.data, a.len, &b) != TERN_OK || b.len != n ||
            memcmp(b.data, in, n) != 0)
            abort();
        for (size_t i = 0; i < a.len; i++)
            if ((unsigned char)a.data[i] < 0x20 || (unsigned char)a.data[i] > 0x7E)
                abort();
    }
    (void)utf8_width(in, n);
    tbuf_free(&a);
    tbuf_free(&b);
    return 0;
}
