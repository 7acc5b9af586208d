/* Quoted-printable (RFC 2045 6.7) for bodies, and the "Q" variant of
 * RFC 2047 encoded words. */
#include "private.h"

static bool is_wsp(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* Index just past the line break at in[i], or 0 when there is none there
 * (LF or CRLF; a line break never starts at 0 when this is called). */
static size_t line_break_end(const char *in, size_t n, size_t i)
{
    if (i < n && in[i] == '\n')
        return i + 1;
    if (i + 1 < n && in[i] == '\r' && in[i + 1] == '\n')
        return i + 2;
    return 0;
}

enum tern_rc qp_decode(const char *in, size_t n, struct tbuf *out)
{
    struct tbuf_stage e;
    size_t i = 0;
    tbuf_stage_init(&e, out);
    while (i < n) {
        unsigned char c = (unsigned char)in[i];
        if (c == '=') {
            int hi = i + 2 < n ? cd_hex((unsigned char)in[i + 1]) : -1;
            int lo = i + 2 < n ? cd_hex((unsigned char)in[i + 2]) : -1;
            if (hi >= 0 && lo >= 0) {
                tbuf_stage_putc(&e, (char)(hi << 4 | lo));
                i += 3;
                continue;
            }
            /* Soft line break: "=" then optional blanks then the line end
             * (or the end of the text). */
            size_t j = i + 1;
            while (j < n && is_wsp((unsigned char)in[j]))
                j++;
            size_t k = line_break_end(in, n, j);
            if (k) {
                i = k;
                continue;
            }
            if (j == n || (in[j] == '\r' && j + 1 == n)) {
                i = n;
                continue;
            }
            tbuf_stage_putc(&e, '='); /* a bad escape stays as written */
            i++;
            continue;
        }
        if (is_wsp(c)) {
            /* Blanks at the end of a line were added in transit and are
             * dropped (RFC 2045 6.7 rule 3); elsewhere they stay. */
            size_t j = i;
            while (j < n && is_wsp((unsigned char)in[j]))
                j++;
            if (j == n || line_break_end(in, n, j)) {
                i = j;
                continue;
            }
            tbuf_stage_put(&e, in + i, j - i);
            i = j;
            continue;
        }
        tbuf_stage_putc(&e, (char)c);
        i++;
    }
    return tbuf_stage_done(&e);
}

enum tern_rc cd_q_decode(const char *in, size_t n, struct tbuf *out)
{
    struct tbuf_stage e;
    tbuf_stage_init(&e, out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '_') {
            tbuf_stage_putc(&e, ' ');
        } else if (c == '=' && i + 2 < n && cd_hex((unsigned char)in[i + 1]) >= 0 &&
                   cd_hex((unsigned char)in[i + 2]) >= 0) {
            tbuf_stage_putc(&e, (char)(cd_hex((unsigned char)in[i + 1]) << 4 |
                                       cd_hex((unsigned char)in[i + 2])));
            i += 2;
        } else {
            tbuf_stage_putc(&e, (char)c);
        }
    }
    return tbuf_stage_done(&e);
}

/* Longest encoded line: RFC 2045 6.7 rule 5. */
#define QP_LINE_MAX 76

enum tern_rc qp_encode(const char *in, size_t n, struct tbuf *out)
{
    static const char hex[] = "0123456789ABCDEF";
    struct tbuf_stage e;
    size_t col = 0, i = 0;
    tbuf_stage_init(&e, out);
    while (i < n) {
        unsigned char c = (unsigned char)in[i];
        size_t k = line_break_end(in, n, i);
        if (k) {
            tbuf_stage_put(&e, "\r\n", 2);
            col = 0;
            i = k;
            continue;
        }
        bool line_end = i + 1 == n || line_break_end(in, n, i + 1);
        bool enc = c == '=' || (c < 0x20 && c != '\t') || c >= 0x7F;
        if (is_wsp(c) && line_end)
            enc = true; /* trailing blanks would be stripped in transit */
        if (col == 0 && c == '.')
            enc = true; /* a lone "." line ends an SMTP DATA */
        if (col == 0 && c == 'F' && n - i >= 5 && memcmp(in + i, "From ", 5) == 0)
            enc = true; /* mbox would quote it as ">From " */
        size_t tok = enc ? 3 : 1;
        /* The last character of a line may use column 76; any other must
         * leave room for the "=" of a soft break. */
        size_t limit = line_end ? QP_LINE_MAX : QP_LINE_MAX - 1;
        if (col + tok > limit && col > 0) {
            tbuf_stage_put(&e, "=\r\n", 3);
            col = 0;
            continue; /* look again: column 0 has its own rules */
        }
        if (enc) {
            char t[3] = {'=', hex[c >> 4], hex[c & 15]};
            tbuf_stage_put(&e, t, 3);
        } else {
            tbuf_stage_putc(&e, (char)c);
        }
        col += tok;
        i++;
    }
    return tbuf_stage_done(&e);
}
