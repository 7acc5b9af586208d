/* UTF-8 validation, decoding, repair and display width. The rules are those
 * of RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. */
#include "private.h"

#include <string.h>
#include <wchar.h>

static inline bool is_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

size_t utf8_decode(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned c = p[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c < 0xC2) /* a continuation byte, or the lead of an overlong 2-byte form */
        goto bad;
    if (c < 0xE0) {
        if (n < 2 || !is_cont(p[1]))
            goto bad;
        *cp = ((uint32_t)(c & 0x1F) << 6) | (p[1] & 0x3F);
        return 2;
    }
    if (c < 0xF0) {
        if (n < 3 || !is_cont(p[1]) || !is_cont(p[2]))
            goto bad;
        if (c == 0xE0 && p[1] < 0xA0) /* overlong */
            goto bad;
        if (c == 0xED && p[1] >= 0xA0) /* UTF-16 surrogate */
            goto bad;
        *cp = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
        return 3;
    }
    if (c < 0xF5) {
        if (n < 4 || !is_cont(p[1]) || !is_cont(p[2]) || !is_cont(p[3]))
            goto bad;
        if (c == 0xF0 && p[1] < 0x90) /* overlong */
            goto bad;
        if (c == 0xF4 && p[1] >= 0x90) /* above U+10FFFF */
            goto bad;
        *cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
              ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
        return 4;
    }
bad:
    *cp = 0xFFFD;
    return 1;
}

/* Length of the longest prefix of s[0..n) that is plain ASCII, eight bytes
 * at a time: most header and body text is ASCII. */
static size_t ascii_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (n - i >= 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080ull)
            break;
        i += 8;
    }
    while (i < n && s[i] < 0x80)
        i++;
    return i;
}

/* Length of the longest valid UTF-8 prefix of s[0..n). */
static size_t valid_prefix(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    for (;;) {
        i += ascii_prefix(p + i, n - i);
        if (i >= n)
            return n;
        uint32_t cp;
        size_t len = utf8_decode(s + i, n - i, &cp);
        if (cp == 0xFFFD && len == 1)
            return i;
        i += len;
    }
}

bool utf8_valid(const char *s, size_t n)
{
    if (n == 0)
        return true;
    return s && valid_prefix(s, n) == n;
}

size_t cs_utf8_encode(uint32_t cp, char b[4])
{
    if (cp < 0x80) {
        b[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    b[0] = (char)(0xF0 | (cp >> 18));
    b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

enum tern_rc utf8_put(struct tbuf *out, uint32_t cp)
{
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = 0xFFFD;
    char b[4];
    return tbuf_append(out, b, cs_utf8_encode(cp, b));
}

enum tern_rc utf8_sanitize(const char *s, size_t n, struct tbuf *out)
{
    enum tern_rc rc = TERN_OK;
    size_t i = 0;
    if (n == 0 || !s)
        return tbuf_append(out, "", 0);
    while (i < n && rc == TERN_OK) {
        size_t good = valid_prefix(s + i, n - i);
        rc = tbuf_append(out, s + i, good);
        i += good;
        if (i < n && rc == TERN_OK) { /* one bad byte */
            rc = tbuf_append(out, CS_REPL, CS_REPL_LEN);
            i++;
        }
    }
    return rc;
}

size_t utf8_width(const char *s, size_t n)
{
    size_t w = 0, i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7F) { /* printable ASCII: one column */
            w++;
            i++;
            continue;
        }
        uint32_t cp;
        size_t len = utf8_decode(s + i, n - i, &cp);
        i += len;
        int cw = wcwidth((wchar_t)cp);
        if (cp == 0xFFFD && len == 1)
            cw = 1; /* shown as U+FFFD */
        if (cw > 0)
            w += (size_t)cw;
    }
    return w;
}
