/* RFC 2231 parameter values: charset'lang'%XX... and continuations. */
#include "private.h"

#include "core/charset/lib.h"

/* RFC 2045 token characters minus what RFC 2231 reserves ("*", "'", "%"):
 * these stand for themselves in an extended value. */
static bool attr_char(unsigned char c)
{
    if (c <= 0x20 || c >= 0x7F)
        return false;
    return !strchr("()<>@,;:\\\"/[]?=*'%", c);
}

static bool token_char(unsigned char c)
{
    return c > 0x20 && c < 0x7F && !strchr("()<>@,;:\\\"/[]?=", c);
}

enum tern_rc rfc2231_decode_segment(const char *in, size_t n, bool extended, const char *charset,
                                    struct tbuf *raw_out)
{
    (void)charset; /* the bytes are converted once all segments are joined */
    if (!in)
        n = 0;
    if (!extended)
        return tbuf_append(raw_out, in ? in : "", n);
    struct tbuf_stage e;
    tbuf_stage_init(&e, raw_out);
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (in[i] == '%' && i + 2 < n && (hi = cd_hex((unsigned char)in[i + 1])) >= 0 &&
            (lo = cd_hex((unsigned char)in[i + 2])) >= 0) {
            tbuf_stage_putc(&e, (char)(hi << 4 | lo));
            i += 2;
        } else {
            tbuf_stage_putc(&e, in[i]); /* a bad escape stays as written */
        }
    }
    return tbuf_stage_done(&e);
}

const char *rfc2231_split_charset(const char *in, size_t n, char *cs, size_t cs_size)
{
    if (cs && cs_size)
        cs[0] = '\0';
    if (!in)
        return in;
    const char *q1 = memchr(in, '\'', n);
    if (!q1)
        return in;
    const char *q2 = memchr(q1 + 1, '\'', n - (size_t)(q1 + 1 - in));
    if (!q2)
        return in;
    if (cs && cs_size) {
        size_t len = (size_t)(q1 - in);
        if (len > cs_size - 1)
            len = cs_size - 1;
        memcpy(cs, in, len);
        cs[len] = '\0';
    }
    return q2 + 1;
}

enum tern_rc rfc2231_decode_value(const char *in, size_t n, struct tbuf *out)
{
    char cs[RFC2231_CHARSET_MAX];
    if (!in)
        n = 0;
    const char *rest = rfc2231_split_charset(in, n, cs, sizeof cs);
    size_t rn = rest ? n - (size_t)(rest - in) : 0;
    struct tbuf raw;
    tbuf_init(&raw, n + 16);
    enum tern_rc rc = rfc2231_decode_segment(rest, rn, true, cs, &raw);
    if (rc == TERN_OK)
        rc = charset_to_utf8(cs, raw.data, raw.len, out);
    tbuf_free(&raw);
    return rc;
}

/* Longest line an encoded parameter makes, counting the leading blank of
 * a folded line and the ";" after it. */
#define PARAM_LINE_MAX 76

enum tern_rc rfc2231_encode_param(const char *name, const char *value, struct tbuf *out)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!name || !*name || !value)
        return TERN_EDATA;
    for (const char *p = name; *p; p++)
        if (!token_char((unsigned char)*p) || *p == '*' || *p == '\'' || *p == '%')
            return TERN_EDATA;
    size_t nl = strlen(name), vl = strlen(value);

    /* Percent-encode; each character's escape is one piece so that a
     * continuation never splits a UTF-8 sequence or a %XX. */
    struct tbuf enc;
    tbuf_init(&enc, 0);
    enum tern_rc rc = tbuf_puts(&enc, "utf-8''");
    for (size_t i = 0; i < vl && rc == TERN_OK; i++) {
        unsigned char c = (unsigned char)value[i];
        char t[3] = {'%', hex[c >> 4], hex[c & 15]};
        rc = attr_char(c) ? tbuf_putc(&enc, (char)c) : tbuf_append(&enc, t, 3);
    }
    if (rc != TERN_OK)
        goto done;
    if (1 + nl + 2 + enc.len + 1 <= PARAM_LINE_MAX) {
        rc = tbuf_printf(out, "%s*=%s", name, enc.data);
        goto done;
    }
    /* name*0*=utf-8''...;CRLF SP name*1*=...; */
    size_t pos = 0;
    for (unsigned seg = 0; pos < enc.len && rc == TERN_OK; seg++) {
        char head[32];
        if (!tern_snprintf(head, sizeof head, "*%u*=", seg)) {
            rc = TERN_EINTERNAL;
            break;
        }
        size_t fixed = 1 + nl + strlen(head) + 1;
        size_t cap = fixed < PARAM_LINE_MAX ? PARAM_LINE_MAX - fixed : 0;
        size_t end = pos;
        /* Take whole characters (the charset prefix counts as one unit
         * of single bytes) until the line is full; always at least one. */
        while (end < enc.len) {
            size_t piece = 1;
            if (enc.data[end] == '%') {
                unsigned char b = (unsigned char)(cd_hex((unsigned char)enc.data[end + 1]) << 4 |
                                                  cd_hex((unsigned char)enc.data[end + 2]));
                size_t seq = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
                piece = 3;
                /* keep a UTF-8 sequence's continuation escapes with it */
                for (size_t k = 1; k < seq; k++) {
                    size_t at = end + piece;
                    if (at + 2 < enc.len && enc.data[at] == '%' &&
                        (cd_hex((unsigned char)enc.data[at + 1]) & 0xC) == 0x8)
                        piece += 3;
                    else
                        break;
                }
            }
            if (end > pos && end - pos + piece > cap)
                break;
            end += piece;
        }
        if (seg > 0)
            rc = tbuf_append(out, ";\r\n ", 4);
        if (rc == TERN_OK)
            rc = tbuf_printf(out, "%s%s%.*s", name, head, (int)(end - pos), enc.data + pos);
        pos = end;
    }
done:
    tbuf_free(&enc);
    return rc;
}
