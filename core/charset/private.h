/*
 * core/charset internals shared by charset.c, utf8.c, utf7imap.c and
 * safe.c. Nothing outside core/charset includes this.
 */
#ifndef TERN_CHARSET_PRIVATE_H
#define TERN_CHARSET_PRIVATE_H

#include "core/charset/lib.h"

/* UTF-8 of U+FFFD, the replacement for every bad byte or sequence. */
#define CS_REPL "\xEF\xBF\xBD"
#define CS_REPL_LEN 3

/* Write code point cp (which must be a valid scalar value) as UTF-8 into
 * b; returns the length (1..4). */
size_t cs_utf8_encode(uint32_t cp, char b[4]);

/* Output staged in a small local buffer so per-character appends do not
 * each pay for a tbuf_append call; the first failure sticks in rc. */
struct cs_emit {
    struct tbuf *out;
    enum tern_rc rc;
    size_t len;
    char buf[1024];
};

void cs_emit_init(struct cs_emit *e, struct tbuf *out);
void cs_emit_flush(struct cs_emit *e);
void cs_emit(struct cs_emit *e, const char *p, size_t n);

static inline void cs_emit_c(struct cs_emit *e, char c)
{
    if (e->len == sizeof e->buf)
        cs_emit_flush(e);
    e->buf[e->len++] = c;
}

/* windows-1252 built in (the guess for undeclared 8-bit text and what
 * us-ascii and iso-8859-1 mean in practice): no iconv needed. */
enum tern_rc cs_put_cp1252(const char *in, size_t n, struct tbuf *out);

#endif
