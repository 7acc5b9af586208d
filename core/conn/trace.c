/*
 * The redactor behind --debug. libcurl's own verbose output shows
 * passwords and SASL payloads in full, so every protocol line goes through
 * here before it reaches a trace. The rules err towards hiding:
 *   - arguments of LOGIN (password), AUTHENTICATE/AUTH (initial response),
 *     PASS, APOP are masked; user names stay visible;
 *   - after a continuation prompt ("+ ..." in IMAP/POP3, "334 ..." in SMTP)
 *     every client line is masked until the server says something else;
 *   - a LOGIN whose arguments continue in a literal masks until the reply;
 *   - IMAP literals ({N} at the end of a line) in either direction and SMTP
 *     DATA content are replaced by one note.
 */
#include "private.h"

#include <stdio.h>
#include <string.h>

void conn_redact_init(struct conn_redact *r, enum conn_proto proto)
{
    memset(r, 0, sizeof *r);
    r->proto = proto;
}

/* Strip CRLF/LF from the end. */
static size_t chomp(const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    return n;
}

/* Length of the valid UTF-8 sequence at s[0..n) that is not a C1
 * control (U+0080..U+009F, which some terminals obey like ESC), or 0. */
static size_t utf8_ok(const unsigned char *s, size_t n)
{
    uint32_t cp;
    size_t len = tern_utf8_seq(s, n, &cp);
    if (len && cp >= 0x80 && cp <= 0x9f)
        return 0;
    return len;
}

size_t conn_safe_text(char *out, size_t outsz, const char *s, size_t n)
{
    size_t o = 0;
    if (outsz == 0)
        return 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n && o + 1 < outsz;) {
        if (u[i] >= 0x20 && u[i] < 0x7f) {
            out[o++] = (char)u[i++];
            continue;
        }
        size_t k = u[i] >= 0x80 ? utf8_ok(u + i, n - i) : 0;
        if (k == 0) {
            out[o++] = '?';
            i++;
        } else if (o + k < outsz) {
            memcpy(out + o, u + i, k);
            o += k;
            i += k;
        } else {
            break; /* no room for the whole character */
        }
    }
    out[o] = '\0';
    return o;
}

/* Append printable text (see conn_safe_text), cut at the end. */
static void put(char *out, size_t outsz, size_t *len, const char *s, size_t n)
{
    *len += conn_safe_text(out + *len, outsz - *len, s, n);
}

static void puts_(char *out, size_t outsz, size_t *len, const char *s)
{
    put(out, outsz, len, s, strlen(s));
}

/* The word starting at s[*pos] (up to a space); advances *pos past it and
 * the spaces after it. */
static void next_word(const char *s, size_t n, size_t *pos, size_t *wstart, size_t *wlen)
{
    size_t i = *pos;
    *wstart = i;
    while (i < n && s[i] != ' ')
        i++;
    *wlen = i - *wstart;
    while (i < n && s[i] == ' ')
        i++;
    *pos = i;
}

static bool word_is(const char *s, size_t start, size_t len, const char *w)
{
    return strlen(w) == len && tern_strncasecmp(s + start, w, len) == 0;
}

/* A line ending in an IMAP literal marker "{N}" or "{N+}" (RFC 7888);
 * returns N through *lit. */
static bool trailing_literal(const char *s, size_t n, uint64_t *lit)
{
    if (n < 3 || s[n - 1] != '}')
        return false;
    size_t end = n - 1;
    if (s[end - 1] == '+')
        end--;
    size_t open = end;
    while (open > 0 && s[open - 1] != '{')
        open--;
    if (open == 0)
        return false;
    /* Ceiling only guards the arithmetic; the real size limits live in
     * the protocol modules. */
    return tern_parse_u64(s + open, end - open, UINT64_C(1) << 50, lit);
}

static bool is_continuation(enum conn_proto proto, const char *s, size_t n)
{
    if (proto == CONN_SMTP)
        return n >= 3 && memcmp(s, "334", 3) == 0 && (n == 3 || s[3] == ' ');
    /* IMAP "+ text" and POP3 SASL "+ base64"; "+OK" is not one. */
    return n >= 1 && s[0] == '+' && (n == 1 || s[1] == ' ');
}

/* Show "<prefix><first keep bytes> [redacted]". */
static void mask_after(char *out, size_t outsz, size_t *len, const char *s, size_t keep, size_t n)
{
    while (keep > 0 && s[keep - 1] == ' ')
        keep--;
    put(out, outsz, len, s, keep);
    if (keep < n)
        puts_(out, outsz, len, keep ? " [redacted]" : "[redacted]");
}

/* End of a possibly quoted IMAP string starting at s[i]: a quoted string
 * (with backslash escapes) or an atom. Returns the index after it, or
 * SIZE_MAX for anything else (a literal). */
static size_t imap_astring_end(const char *s, size_t n, size_t i)
{
    if (i >= n)
        return SIZE_MAX;
    if (s[i] == '"') {
        for (size_t j = i + 1; j < n; j++) {
            if (s[j] == '\\')
                j++;
            else if (s[j] == '"')
                return j + 1;
        }
        return SIZE_MAX;
    }
    if (s[i] == '{')
        return SIZE_MAX;
    size_t j = i;
    while (j < n && s[j] != ' ')
        j++;
    return j;
}

static void client_line(struct conn_redact *r, const char *s, size_t n, char *out, size_t outsz,
                        size_t *len)
{
    size_t pos = 0, w0, wl;
    if (r->proto == CONN_IMAP)
        next_word(s, n, &pos, &w0, &wl); /* the tag */
    next_word(s, n, &pos, &w0, &wl);
    uint64_t lit = 0;
    bool has_lit = r->proto == CONN_IMAP && trailing_literal(s, n, &lit);

    if (r->proto == CONN_IMAP && word_is(s, w0, wl, "LOGIN")) {
        /* Keep the user name when it is an atom or quoted string; the
         * password and anything sent as a literal are masked. */
        size_t uend = imap_astring_end(s, n, pos);
        if (uend == SIZE_MAX || uend >= n)
            mask_after(out, outsz, len, s, pos, n);
        else
            mask_after(out, outsz, len, s, uend, n);
        if (has_lit) {
            r->secret_out = true;
            r->out_literal = lit;
        }
        return;
    }
    if ((r->proto == CONN_IMAP && word_is(s, w0, wl, "AUTHENTICATE")) ||
        (r->proto != CONN_IMAP && word_is(s, w0, wl, "AUTH"))) {
        /* Keep the mechanism, mask the initial response. */
        size_t m0, ml;
        next_word(s, n, &pos, &m0, &ml);
        mask_after(out, outsz, len, s, m0 + ml, n);
        if (has_lit) {
            r->secret_out = true;
            r->out_literal = lit;
        }
        return;
    }
    if (r->proto == CONN_POP3 && word_is(s, w0, wl, "PASS")) {
        mask_after(out, outsz, len, s, w0 + wl, n);
        return;
    }
    if (r->proto == CONN_POP3 && word_is(s, w0, wl, "APOP")) {
        size_t u0, ul;
        next_word(s, n, &pos, &u0, &ul);
        mask_after(out, outsz, len, s, u0 + ul, n);
        return;
    }
    if (r->proto == CONN_SMTP && word_is(s, w0, wl, "DATA") && pos >= n)
        r->smtp_data_cmd = true;
    if (r->proto == CONN_SMTP && word_is(s, w0, wl, "BDAT")) {
        size_t c0, cl;
        next_word(s, n, &pos, &c0, &cl);
        uint64_t chunk;
        if (tern_parse_u64(s + c0, cl, UINT64_C(1) << 50, &chunk))
            r->out_literal = chunk;
    }
    put(out, outsz, len, s, n);
    if (has_lit)
        r->out_literal = lit;
}

/* A line that starts inside a literal (*pending bytes still to come; the
 * line is n bytes without its end, full with it): the literal's bytes are
 * counted, not shown. Whatever follows it on this line continues the
 * command or response, shown unless hide_rest, and may announce the next
 * literal. */
static void literal_line(uint64_t *pending, bool hide_rest, const char *line, size_t n, size_t full,
                         char *out, size_t outsz, size_t *len)
{
    uint64_t take = *pending < full ? *pending : full;
    *pending -= take;
    char note[64];
    snprintf(note, sizeof note, "[%llu bytes of literal data not shown]", (unsigned long long)take);
    puts_(out, outsz, len, note);
    if (take < n) {
        const char *rest = line + take;
        size_t rn = n - (size_t)take;
        uint64_t lit;
        if (hide_rest)
            puts_(out, outsz, len, " [redacted]");
        else
            put(out, outsz, len, rest, rn);
        if (trailing_literal(rest, rn, &lit))
            *pending = lit;
    }
}

bool conn_redact_line(struct conn_redact *r, bool outgoing, const char *line, size_t n, char *out,
                      size_t outsz)
{
    if (outsz == 0)
        return false;
    size_t len = 0;
    out[0] = '\0';
    size_t full = n; /* bytes on the wire, for literal counting */
    n = chomp(line, n);
    puts_(out, outsz, &len, outgoing ? "C: " : "S: ");

    if (outgoing) {
        if (r->smtp_data) {
            if (n == 1 && line[0] == '.') {
                r->smtp_data = false;
                r->data_noted = false;
                puts_(out, outsz, &len, ".");
                return true;
            }
            if (r->data_noted)
                return false;
            r->data_noted = true;
            puts_(out, outsz, &len, "[message data not shown]");
            return true;
        }
        if (r->out_literal > 0) {
            /* While a secret is in flight what follows stays hidden. */
            literal_line(&r->out_literal, r->secret_out, line, n, full, out, outsz, &len);
            return true;
        }
        if (r->secret_out) {
            uint64_t lit;
            puts_(out, outsz, &len, "[redacted]");
            if (r->proto == CONN_IMAP && trailing_literal(line, n, &lit))
                r->out_literal = lit;
            return true;
        }
        client_line(r, line, n, out, outsz, &len);
        return true;
    }

    /* Server line. */
    if (r->in_literal > 0) {
        literal_line(&r->in_literal, false, line, n, full, out, outsz, &len);
        return true;
    }
    if (is_continuation(r->proto, line, n)) {
        r->secret_out = true;
    } else {
        r->secret_out = false;
        r->out_literal = 0;
        if (r->proto == CONN_SMTP) {
            bool go = n >= 3 && memcmp(line, "354", 3) == 0;
            r->smtp_data = r->smtp_data_cmd && go;
            r->smtp_data_cmd = false;
            r->data_noted = false;
        }
    }
    put(out, outsz, &len, line, n);
    uint64_t lit;
    if (r->proto == CONN_IMAP && trailing_literal(line, n, &lit))
        r->in_literal = lit;
    return true;
}
