/* core/mime internals shared by its files; nothing outside core/mime
 * includes this. */
#ifndef TERN_MIME_PRIVATE_H
#define TERN_MIME_PRIVATE_H

#include "core/mime/lib.h"

#include <string.h>

static inline bool mime_is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

static inline bool mime_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static inline char mime_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* The line that starts at buf[pos] within buf[..end): *content is its
 * length without the "\n" or "\r\n" that ends it; returns where the next
 * line starts (end when this one has no '\n'). */
static inline size_t mime_next_line(const char *buf, size_t pos, size_t end, size_t *content)
{
    const char *line = buf + pos;
    const char *nl = memchr(line, '\n', end - pos);
    size_t len = nl ? (size_t)(nl - line) : end - pos;
    *content = len && line[len - 1] == '\r' ? len - 1 : len;
    return nl ? pos + len + 1 : end;
}

/* Take b's content as a C string with every embedded NUL replaced by
 * U+FFFD (so a hostile NUL cannot cut a string short unnoticed); b is left
 * empty. NULL on out of memory. */
char *mime_take_str(struct tbuf *b);

/* RFC 2047-decode s[0..n) into a new trimmed UTF-8 string (NUL-free);
 * NULL on out of memory. */
char *mime_decode_text(const char *s, size_t n);

/* A parsed Content-Type / Content-Disposition value. Strings point into
 * `text`, an owned, unfolded and unescaped copy of the field. */
struct mime_param {
    const char *name;  /* lower-case, without the RFC 2231 `*N*` suffix */
    const char *value; /* unquoted */
    int section;       /* RFC 2231 continuation number, -1 when none */
    bool extended;     /* name ended with '*': charset'lang'%XX */
};

struct mime_params {
    char *text;        /* owned */
    const char *value; /* lower-case main value ("text/plain", "attachment"), trimmed */
    struct mime_param v[MIME_MAX_PARAMS];
    size_t n;
};

enum tern_rc mime_params_parse(const char *raw, size_t n, struct mime_params *p);
void mime_params_free(struct mime_params *p);
/* The plain value of a parameter (first occurrence, no decoding), or NULL. */
const char *mime_param_raw(const struct mime_params *p, const char *name);
/* The decoded UTF-8 value: RFC 2231 (single, or continuations joined, with
 * charset) preferred, else the plain value with RFC 2047 words decoded.
 * *out is a new string, NULL when the parameter is absent. */
enum tern_rc mime_param_decoded(const struct mime_params *p, const char *name, char **out);

/* Header lookup + unfold into a new string (raw, not decoded); NULL when
 * absent. rc reports out of memory. */
enum tern_rc mime_field_unfolded(const struct mime_headers *h, const char *name, char **out);

/* Build the envelope from scanned fields. */
enum tern_rc mime_envelope_from_headers(const struct mime_headers *h, struct mime_envelope **out);

#endif
