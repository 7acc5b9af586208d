/* core/compose internals shared by its files. */
#ifndef TERN_COMPOSE_PRIVATE_H
#define TERN_COMPOSE_PRIVATE_H

#include "lib.h"

/* Append s[0..n) as RFC 2047 B-encoded words of UTF-8 (each at most 75
 * columns, split on character boundaries), separated by one space. */
enum tern_rc compose_encode_words(const char *s, size_t n, struct tbuf *out);
/* Copy of s[0..n) for an error message: controls become '?', at most 80
 * bytes, "..." when cut. */
void compose_quote_for_msg(const char *s, size_t n, char *buf, size_t size);
/* True when s[0..n) holds CR, LF or NUL. */
bool compose_has_ctl_line(const char *s, size_t n);
/* Fold one logical field line ("Name: value" without CRLF) at whitespace
 * so lines stay under 78 columns where possible and under 998 always;
 * appends with CRLF. TERN_EDATA when a piece cannot be made short enough. */
enum tern_rc compose_fold(const char *line, size_t n, struct tbuf *out, struct tern_err *err);
/* Random hex digits from gnutls_rnd (nbytes random bytes -> 2*nbytes). */
enum tern_rc compose_random_hex(char *buf, size_t nbytes, struct tern_err *err);

/* attach.c */
struct compose_attachment {
    char *type;    /* "type/subtype" */
    char *charset; /* text types: "us-ascii", "utf-8", ... or NULL */
    char *name;    /* UTF-8 base name */
    struct tbuf data;
};
/* Read a whole file; missing or unreadable is TERN_ENOTFOUND. */
enum tern_rc compose_read_file(const char *path, size_t max, struct tbuf *out,
                               struct tern_err *err);
enum tern_rc compose_attach_load(const char *path, struct compose_attachment *a,
                                 struct tern_err *err);
void compose_attach_free(struct compose_attachment *a);
/* Append "--boundary" and the attachment as a base64 MIME part. */
enum tern_rc compose_attach_part(const struct compose_attachment *a, const char *boundary,
                                 struct tbuf *out, struct tern_err *err);

/* ready.c / build.c */
/* Body text to canonical CRLF lines: 7bit when ASCII with short lines,
 * else quoted-printable; *cte gets the Content-Transfer-Encoding. */
enum tern_rc compose_text_body(const char *text, size_t n, struct tbuf *out, const char **cte,
                               struct tern_err *err);

#endif
