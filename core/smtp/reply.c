#include "lib.h"

#include <string.h>

void smtp_reply_init(struct smtp_reply *r)
{
    memset(r, 0, sizeof *r);
    tbuf_init(&r->text, SMTP_REPLY_TEXT_MAX);
}

void smtp_reply_reset(struct smtp_reply *r)
{
    r->code = 0;
    r->enh[0] = '\0';
    r->nlines = 0;
    r->done = false;
    tbuf_reset(&r->text);
}

void smtp_reply_free(struct smtp_reply *r)
{
    tbuf_free(&r->text);
    smtp_reply_reset(r);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* An RFC 3463 status code "c.sss.ddd" at the start of t whose class
 * matches the reply code; copied into enh when found. Returns its length
 * (0: none). */
static size_t parse_enh(const char *t, size_t n, int code, char enh[16])
{
    size_t i = 0;
    if (n < 5 || t[0] != '0' + code / 100 || t[1] != '.')
        return 0;
    i = 2;
    size_t d = 0;
    while (i < n && is_digit(t[i]) && d < 3) {
        i++;
        d++;
    }
    if (!d || i >= n || t[i] != '.')
        return 0;
    i++;
    d = 0;
    while (i < n && is_digit(t[i]) && d < 3) {
        i++;
        d++;
    }
    if (!d || (i < n && t[i] != ' '))
        return 0;
    memcpy(enh, t, i);
    enh[i] = '\0';
    return i;
}

enum tern_rc smtp_reply_feed(struct smtp_reply *r, const char *line, size_t n, struct tern_err *err)
{
    if (r->done)
        return tern_fail(err, TERN_EPROTO, "server sent more after a final reply line");
    if (n > SMTP_REPLY_LINE_MAX)
        return tern_fail(err, TERN_EPROTO, "server reply line longer than %d octets",
                         SMTP_REPLY_LINE_MAX);
    if (memchr(line, '\0', n))
        return tern_fail(err, TERN_EPROTO, "NUL byte in server reply");
    /* Strip the line end; a bare LF is tolerated (servers exist), a CR
     * elsewhere is not text. */
    if (n && line[n - 1] == '\n')
        n--;
    if (n && line[n - 1] == '\r')
        n--;
    if (n < 3 || !(line[0] >= '2' && line[0] <= '5') || !(line[1] >= '0' && line[1] <= '5') ||
        !is_digit(line[2]) || (n > 3 && line[3] != ' ' && line[3] != '-'))
        return tern_fail(err, TERN_EPROTO, "malformed server reply line");
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (r->nlines && code != r->code)
        return tern_fail(err, TERN_EPROTO, "reply code changed within a multi-line reply");
    if (r->nlines >= SMTP_REPLY_LINES_MAX)
        return tern_fail(err, TERN_EPROTO, "server reply has more than %d lines",
                         SMTP_REPLY_LINES_MAX);
    const char *t = n > 4 ? line + 4 : "";
    size_t tn = n > 4 ? n - 4 : 0;
    if (r->nlines == 0) {
        r->code = code;
        size_t e = parse_enh(t, tn, code, r->enh);
        (void)e;
    }
    enum tern_rc rc = TERN_OK;
    if (r->nlines)
        rc = tbuf_putc(&r->text, '\n');
    if (!rc)
        rc = tbuf_append(&r->text, t, tn);
    if (rc == TERN_EPROTO)
        return tern_fail(err, rc, "server reply longer than %d octets", SMTP_REPLY_TEXT_MAX);
    if (rc)
        return tern_fail(err, rc, "out of memory");
    r->nlines++;
    if (n == 3 || line[3] == ' ')
        r->done = true;
    return TERN_OK;
}

void smtp_reply_summary(const struct smtp_reply *r, char *out, size_t size)
{
    if (!size)
        return;
    size_t o = 0;
    char code[8];
    tern_snprintf(code, sizeof code, "%03d", r->code);
    for (const char *p = code; *p && o + 1 < size; p++)
        out[o++] = *p;
    const char *t = r->text.data ? r->text.data : "";
    size_t tn = r->text.len;
    if (tn && o + 1 < size)
        out[o++] = ' ';
    bool space = false;
    for (size_t i = 0; i < tn && o + 1 < size; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c == '\n' || c == '\t' || c == ' ') {
            space = true;
            continue;
        }
        if (space && o + 2 < size)
            out[o++] = ' ';
        space = false;
        out[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    out[o] = '\0';
}

static bool word_is(const char *w, size_t n, const char *kw)
{
    return strlen(kw) == n && tern_strncasecmp(w, kw, n) == 0;
}

/* One EHLO keyword line (text after "250-"/"250 "). */
static void cap_line(const char *t, size_t n, struct smtp_caps *caps)
{
    size_t k = 0;
    while (k < n && t[k] != ' ' && t[k] != '=')
        k++;
    if (word_is(t, k, "PIPELINING"))
        caps->flags |= SMTP_CAP_PIPELINING;
    else if (word_is(t, k, "8BITMIME"))
        caps->flags |= SMTP_CAP_8BITMIME;
    else if (word_is(t, k, "SMTPUTF8"))
        caps->flags |= SMTP_CAP_SMTPUTF8;
    else if (word_is(t, k, "ENHANCEDSTATUSCODES"))
        caps->flags |= SMTP_CAP_ENHANCED;
    else if (word_is(t, k, "STARTTLS"))
        caps->flags |= SMTP_CAP_STARTTLS;
    else if (word_is(t, k, "DSN"))
        caps->flags |= SMTP_CAP_DSN;
    else if (word_is(t, k, "AUTH"))
        caps->flags |= SMTP_CAP_AUTH;
    else if (word_is(t, k, "SIZE")) {
        caps->flags |= SMTP_CAP_SIZE;
        size_t v = k;
        while (v < n && (t[v] == ' ' || t[v] == '='))
            v++;
        size_t e = v;
        while (e < n && is_digit(t[e]))
            e++;
        uint64_t lim = 0;
        /* SIZE 0 (or none) means "no fixed limit" (RFC 1870 4). */
        if (e > v && tern_parse_u64(t + v, e - v, UINT64_MAX / 2, &lim))
            caps->size_max = lim;
    }
}

void smtp_caps_parse(const char *transcript, size_t n, struct smtp_caps *caps)
{
    memset(caps, 0, sizeof *caps);
    /* Find the start of the last run of consecutive 250 lines that follows
     * a non-250 line (greeting 220, STARTTLS 220, ...): that run is the
     * last EHLO reply. AUTH replies (334/235) come after it and end no run
     * of their own. */
    size_t run_start = SIZE_MAX, run_end = 0, cur = SIZE_MAX;
    size_t i = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && transcript[e] != '\n')
            e++;
        size_t ln = e - i;
        if (ln && transcript[i + ln - 1] == '\r')
            ln--;
        bool is250 = ln >= 3 && !memcmp(transcript + i, "250", 3) &&
                     (ln == 3 || transcript[i + 3] == '-' || transcript[i + 3] == ' ');
        if (is250) {
            if (cur == SIZE_MAX)
                cur = i;
            run_start = cur;
            run_end = e;
            /* "250 " ends the reply: the next 250 line starts a new run */
            if (ln == 3 || transcript[i + 3] == ' ')
                cur = SIZE_MAX;
        } else {
            cur = SIZE_MAX;
        }
        i = e < n ? e + 1 : n;
    }
    if (run_start == SIZE_MAX)
        return;
    bool first = true;
    i = run_start;
    while (i < run_end) {
        size_t e = i;
        while (e < run_end && transcript[e] != '\n')
            e++;
        size_t ln = e - i;
        if (ln && transcript[i + ln - 1] == '\r')
            ln--;
        /* The first line is the server's name, not a keyword. */
        if (!first && ln > 4)
            cap_line(transcript + i + 4, ln - 4, caps);
        first = false;
        i = e + 1;
    }
}
