#include "private.h"

#include "core/charset/lib.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FOLD_SOFT 78 /* RFC 5322 2.1.1 SHOULD */
#define FOLD_HARD 998

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

bool compose_field_name_ok(const char *name, size_t n)
{
    if (!name || n == 0 || n > 76)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 33 || c > 126 || c == ':')
            return false;
    }
    return true;
}

enum tern_rc compose_fold(const char *line, size_t n, struct tbuf *out, struct tern_err *err)
{
    const char *colon = memchr(line, ':', n);
    size_t body = colon ? (size_t)(colon - line) + 1 : 0; /* never fold in the name */
    size_t start = 0;
    enum tern_rc rc = TERN_OK;
    while (!rc && n - start > FOLD_SOFT) {
        /* the last blank within the soft limit that has text before it on
         * this line and text after it */
        size_t best = SIZE_MAX;
        bool text_before = false;
        size_t lim = start + FOLD_SOFT;
        for (size_t j = start; j < n; j++) {
            if (j > start + FOLD_HARD)
                break;
            if (is_wsp(line[j]) && j > body && text_before) {
                size_t k = j;
                while (k < n && is_wsp(line[k]))
                    k++;
                if (k < n) {
                    if (j <= lim || best == SIZE_MAX)
                        best = j;
                    if (j > lim)
                        break;
                }
            }
            if (!is_wsp(line[j]) && j >= body)
                text_before = true;
        }
        if (best == SIZE_MAX) {
            if (n - start <= FOLD_HARD)
                break;
            return tern_fail(err, TERN_EDATA, "header line cannot be folded under %d octets",
                             FOLD_HARD);
        }
        if (best - start > FOLD_HARD)
            return tern_fail(err, TERN_EDATA, "header line cannot be folded under %d octets",
                             FOLD_HARD);
        rc = tbuf_append(out, line + start, best - start);
        if (!rc)
            rc = tbuf_append(out, "\r\n", 2);
        start = best;
    }
    if (!rc)
        rc = tbuf_append(out, line + start, n - start);
    if (!rc)
        rc = tbuf_append(out, "\r\n", 2);
    if (rc)
        return tern_fail(err, rc == TERN_ENOMEM ? TERN_ENOMEM : TERN_EDATA, "message too large");
    return TERN_OK;
}

static bool word_needs_encoding(const char *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)w[i];
        if (c >= 0x80 || c < 0x20 || c == 0x7f)
            return true;
        if (c == '=' && i + 1 < n && w[i + 1] == '?')
            return true; /* would be read as an encoded word */
    }
    return n > 900; /* too long to fold: encoded words split it */
}

/* Unstructured text: ASCII words stay readable, runs of words that need
 * encoding become encoded words (the blanks inside a run are encoded too,
 * since blanks between encoded words vanish when decoded). */
static enum tern_rc encode_unstructured(const char *v, size_t n, struct tbuf *out)
{
    enum tern_rc rc = TERN_OK;
    size_t i = 0;
    while (i < n && !rc) {
        if (is_wsp(v[i])) {
            rc = tbuf_putc(out, v[i]);
            i++;
            continue;
        }
        size_t e = i;
        while (e < n && !is_wsp(v[e]))
            e++;
        if (!word_needs_encoding(v + i, e - i)) {
            rc = tbuf_append(out, v + i, e - i);
            i = e;
            continue;
        }
        /* extend the run over following words that need encoding */
        size_t end = e;
        for (;;) {
            size_t b = end;
            while (b < n && is_wsp(v[b]))
                b++;
            size_t we = b;
            while (we < n && !is_wsp(v[we]))
                we++;
            if (b == n || b == end || !word_needs_encoding(v + b, we - b))
                break;
            end = we;
        }
        rc = compose_encode_words(v + i, end - i, out);
        i = end;
    }
    return rc;
}

enum tern_rc compose_put_field(struct tbuf *out, const char *name, const char *value,
                               bool unstructured, struct tern_err *err)
{
    size_t nn = strlen(name), vn = strlen(value);
    if (!compose_field_name_ok(name, nn))
        return tern_fail(err, TERN_EDATA, "bad header field name");
    if (compose_has_ctl_line(value, vn)) {
        char q[100];
        compose_quote_for_msg(value, vn, q, sizeof q);
        return tern_fail(err, TERN_EDATA, "CR or LF in the value of %s: '%s'", name, q);
    }
    if (unstructured && !utf8_valid(value, vn))
        return tern_fail(err, TERN_EDATA, "the value of %s is not valid UTF-8", name);
    struct tbuf line;
    tbuf_init(&line, COMPOSE_MSG_MAX);
    enum tern_rc rc = tbuf_printf(&line, "%s: ", name);
    if (!rc)
        rc = unstructured ? encode_unstructured(value, vn, &line) : tbuf_append(&line, value, vn);
    if (rc) {
        tbuf_free(&line);
        return tern_fail(err, rc, "out of memory");
    }
    /* "Name:" followed by nothing but the space is fine, but don't leave
     * trailing blank for an empty value */
    size_t len = line.len;
    if (vn == 0)
        len--;
    rc = compose_fold(line.data, len, out, err);
    tbuf_free(&line);
    return rc;
}

bool compose_date(time_t t, char *buf, size_t size)
{
    static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    if (!localtime_r(&t, &tm) || tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 ||
        tm.tm_mon > 11)
        return false;
    long off = tm.tm_gmtoff / 60;
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    return tern_snprintf(buf, size, "%s, %d %s %04d %02d:%02d:%02d %c%02ld%02ld", days[tm.tm_wday],
                         tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                         tm.tm_sec, sign, off / 60, off % 60);
}

enum tern_rc compose_random_hex(char *buf, size_t nbytes, struct tern_err *err)
{
    unsigned char r[64];
    if (nbytes > sizeof r)
        return tern_fail(err, TERN_EINTERNAL, "too many random bytes asked for");
    if (gnutls_rnd(GNUTLS_RND_NONCE, r, nbytes) != 0)
        return tern_fail(err, TERN_EINTERNAL, "gnutls_rnd failed");
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < nbytes; i++) {
        buf[2 * i] = hex[r[i] >> 4];
        buf[2 * i + 1] = hex[r[i] & 15];
    }
    buf[2 * nbytes] = '\0';
    return TERN_OK;
}

enum tern_rc compose_message_id(const char *domain, time_t t, char *buf, size_t size,
                                struct tern_err *err)
{
    bool ok = domain && *domain && strlen(domain) < 200;
    for (const char *p = domain; ok && *p; p++) {
        char c = *p;
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '.';
    }
    if (ok && (domain[0] == '.' || strstr(domain, "..")))
        ok = false;
    char rnd[33];
    enum tern_rc rc = compose_random_hex(rnd, 16, err);
    if (rc)
        return rc;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return tern_fail(err, TERN_EINTERNAL, "bad time");
    if (!tern_snprintf(buf, size, "<%04d%02d%02d%02d%02d%02d.%s@%s>", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, rnd,
                       ok ? domain : "localhost"))
        return tern_fail(err, TERN_EINTERNAL, "Message-ID buffer too small");
    return TERN_OK;
}

/* Length of the line at p (up to and excluding its end), and of the end. */
static size_t line_len(const char *p, size_t n, size_t *eol)
{
    size_t i = 0;
    while (i < n && p[i] != '\n' && p[i] != '\r')
        i++;
    *eol = 0;
    if (i < n && p[i] == '\r')
        *eol = (i + 1 < n && p[i + 1] == '\n') ? 2 : 1;
    else if (i < n)
        *eol = 1;
    return i;
}

static bool field_is(const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);
    if (n <= k || tern_strncasecmp(line, name, k))
        return false;
    size_t i = k;
    while (i < n && is_wsp(line[i]))
        i++;
    return i < n && line[i] == ':';
}

enum tern_rc compose_strip_bcc(const char *msg, size_t n, struct tbuf *out, struct tern_err *err)
{
    size_t i = 0;
    bool skipping = false;
    enum tern_rc rc = TERN_OK;
    while (i < n && !rc) {
        size_t eol;
        size_t ll = line_len(msg + i, n - i, &eol);
        if (ll == 0) /* end of the header block: the rest as is */
            break;
        if (is_wsp(msg[i])) {
            if (!skipping)
                rc = tbuf_append(out, msg + i, ll + eol);
        } else {
            skipping = field_is(msg + i, ll, "Bcc") || field_is(msg + i, ll, "Resent-Bcc");
            if (!skipping)
                rc = tbuf_append(out, msg + i, ll + eol);
        }
        i += ll + eol;
    }
    if (!rc && i < n)
        rc = tbuf_append(out, msg + i, n - i);
    if (rc)
        return tern_fail(err, rc == TERN_ENOMEM ? TERN_ENOMEM : TERN_EDATA, "message too large");
    return TERN_OK;
}
