/* Header block scanning: one linear pass over the lines, fields kept as
 * offsets into the caller's buffer, both ceilings enforced while scanning
 * so thousands of fields or a 10 MB line cost one pass and bounded memory. */
#include "private.h"

#include "core/codec/lib.h"

#include <stdlib.h>
#include <string.h>

static enum tern_rc add_field(struct mime_headers *h, size_t *cap, const char *name,
                              size_t name_len, const char *value, size_t value_len)
{
    if (h->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 32;
        if (ncap > MIME_MAX_HEADERS)
            ncap = MIME_MAX_HEADERS;
        struct mime_header *v = realloc(h->v, ncap * sizeof *v);
        if (!v)
            return TERN_ENOMEM;
        h->v = v;
        *cap = ncap;
    }
    h->v[h->n++] = (struct mime_header){name, name_len, value, value_len};
    return TERN_OK;
}

static bool is_name_char(unsigned char c)
{
    return c > 32 && c < 127 && c != ':';
}

enum tern_rc mime_headers_scan(const char *buf, size_t len, struct mime_headers *out)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0, pos = 0;
    bool have_cur = false; /* continuation lines extend the last kept field */
    /* An mbox separator line is not a field. */
    if (len >= 5 && !memcmp(buf, "From ", 5)) {
        const char *nl = memchr(buf, '\n', len);
        pos = nl ? (size_t)(nl - buf) + 1 : len;
    }
    while (pos < len) {
        const char *line = buf + pos;
        size_t content;
        size_t next = mime_next_line(buf, pos, len, &content);
        if (content == 0) {
            out->body_off = next;
            return TERN_OK;
        }
        if (mime_is_wsp(line[0])) {
            if (have_cur) {
                struct mime_header *f = &out->v[out->n - 1];
                if (pos + content <= MIME_MAX_HEADER_BYTES) {
                    f->value_len = (size_t)(line + content - f->value);
                } else {
                    have_cur = false;
                    out->truncated = true;
                }
            }
            pos = next;
            continue;
        }
        size_t i = 0;
        while (i < content && is_name_char((unsigned char)line[i]))
            i++;
        size_t name_len = i;
        while (i < content && mime_is_wsp(line[i])) /* obsolete `Name : value` */
            i++;
        if (name_len == 0 || i >= content || line[i] != ':') {
            /* Neither a field nor a continuation: the body starts here. */
            out->body_off = pos;
            return TERN_OK;
        }
        i++;
        while (i < content && mime_is_wsp(line[i]))
            i++;
        have_cur = false;
        if (out->n < MIME_MAX_HEADERS && pos + content <= MIME_MAX_HEADER_BYTES) {
            if (add_field(out, &cap, line, name_len, line + i, content - i)) {
                mime_headers_free(out);
                return TERN_ENOMEM;
            }
            have_cur = true;
        } else {
            out->truncated = true;
        }
        pos = next;
    }
    out->body_off = len;
    return TERN_OK;
}

void mime_headers_free(struct mime_headers *h)
{
    if (!h)
        return;
    free(h->v);
    memset(h, 0, sizeof *h);
}

const struct mime_header *mime_headers_find(const struct mime_headers *h, const char *name,
                                            size_t nth)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < h->n; i++) {
        const struct mime_header *f = &h->v[i];
        if (f->name_len == nl && !tern_strncasecmp(f->name, name, nl) && nth-- == 0)
            return f;
    }
    return NULL;
}

enum tern_rc mime_header_unfold(const char *value, size_t n, struct tbuf *out)
{
    while (n && mime_is_space(value[0])) {
        value++;
        n--;
    }
    while (n && mime_is_space(value[n - 1]))
        n--;
    /* Copy runs between line-end bytes: the whitespace that starts a
     * continuation line stays, the CR/LF go. */
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || value[i] == '\r' || value[i] == '\n') {
            if (i > start) {
                enum tern_rc rc = tbuf_append(out, value + start, i - start);
                if (rc)
                    return rc;
            }
            start = i + 1;
        }
    }
    /* Make the result a string even when empty. */
    return tbuf_append(out, "", 0);
}

enum tern_rc mime_field_unfolded(const struct mime_headers *h, const char *name, char **out)
{
    *out = NULL;
    const struct mime_header *f = mime_headers_find(h, name, 0);
    if (!f)
        return TERN_OK;
    struct tbuf b;
    tbuf_init(&b, 0);
    enum tern_rc rc = mime_header_unfold(f->value, f->value_len, &b);
    if (rc) {
        tbuf_free(&b);
        return rc;
    }
    *out = mime_take_str(&b);
    return *out ? TERN_OK : TERN_ENOMEM;
}

char *mime_header_get(const char *buf, size_t len, const char *name, bool decode)
{
    struct mime_headers h;
    if (mime_headers_scan(buf, len, &h))
        return NULL;
    char *raw = NULL;
    enum tern_rc rc = mime_field_unfolded(&h, name, &raw);
    mime_headers_free(&h);
    if (rc || !raw || !decode)
        return raw;
    char *dec = mime_decode_text(raw, strlen(raw));
    free(raw);
    return dec;
}

char *mime_take_str(struct tbuf *b)
{
    if (b->data && memchr(b->data, '\0', b->len)) {
        struct tbuf c;
        tbuf_init(&c, 0);
        for (size_t i = 0; i < b->len; i++) {
            enum tern_rc rc = b->data[i] ? tbuf_putc(&c, b->data[i])
                                         : tbuf_append(&c, "\xef\xbf\xbd", 3);
            if (rc) {
                tbuf_free(&c);
                tbuf_free(b);
                return NULL;
            }
        }
        tbuf_free(b);
        return tbuf_steal(&c);
    }
    return tbuf_steal(b);
}

char *mime_decode_text(const char *s, size_t n)
{
    struct tbuf b;
    tbuf_init(&b, 0);
    if (rfc2047_decode(s, n, &b) || tbuf_append(&b, "", 0)) {
        tbuf_free(&b);
        return NULL;
    }
    size_t a = 0, e = b.len;
    while (a < e && mime_is_space(b.data[a]))
        a++;
    while (e > a && mime_is_space(b.data[e - 1]))
        e--;
    if (a > 0)
        memmove(b.data, b.data + a, e - a);
    b.len = e - a;
    b.data[b.len] = '\0';
    return mime_take_str(&b);
}
