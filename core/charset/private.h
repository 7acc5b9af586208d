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

/* windows-1252 built in (the guess for undeclared 8-bit text and what
 * us-ascii and iso-8859-1 mean in practice): no iconv needed. */
enum tern_rc cs_put_cp1252(const char *in, size_t n, struct tbuf *out);

#endif
