/*
 * core/charset — turning bytes in any charset real mail uses into valid
 * UTF-8, and checking and cleaning UTF-8 for display.
 *
 *   charset.c  iconv wrapper with a cache of converters, the alias table for
 *              names iconv lacks, guessing for undeclared 8-bit text
 *   utf8.c     UTF-8 validation and decoding helpers
 *   utf7imap.c modified UTF-7 (RFC 3501 5.1.3) for IMAP folder names
 *   safe.c     terminal safety: neutralise controls, escape sequences and
 *              bidi overrides; JSON string escaping
 *
 * Conversions never fail on bad input bytes: each invalid or unconvertible
 * sequence becomes U+FFFD and the rest survives. They fail only on
 * TERN_ENOMEM or when `out` reaches its ceiling (TERN_EPROTO).
 */
#ifndef TERN_CHARSET_LIB_H
#define TERN_CHARSET_LIB_H

#include "core/base/lib.h"

/* Append the UTF-8 form of in[0..n), declared as `charset` (may be NULL or
 * empty or unknown: then guessed — UTF-8 if valid, else windows-1252), to
 * out. Names are matched case-insensitively, RFC 2231 `*lang` suffixes are
 * ignored, and aliases real mail uses (ks_c_5601-1987, iso-8859-8-i,
 * x-mac-roman, unicode-1-1-utf-7, cp-850, x-unknown, ...) are mapped. */
enum tern_rc charset_to_utf8(const char *charset, const char *in, size_t n, struct tbuf *out);

/* The iconv name tern would use for a declared charset, or NULL when it is
 * unknown (the caller then guesses). Result is a static string. */
const char *charset_canonical(const char *charset);

/* True when s[0..n) is valid UTF-8 (no overlongs, no surrogates). */
bool utf8_valid(const char *s, size_t n);
/* Decode one code point at s[0..n); returns its byte length (>= 1), and
 * *cp = 0xFFFD with length 1 for an invalid sequence. n must be > 0. */
size_t utf8_decode(const char *s, size_t n, uint32_t *cp);
/* Append code point cp as UTF-8. */
enum tern_rc utf8_put(struct tbuf *out, uint32_t cp);
/* Number of terminal columns of a valid UTF-8 string (wcwidth semantics,
 * non-printables 0); needs setlocale(LC_CTYPE) with a UTF-8 locale. */
size_t utf8_width(const char *s, size_t n);

/* IMAP folder names: modified UTF-7 <-> UTF-8. decode fails with TERN_EDATA
 * on malformed input. */
enum tern_rc utf7imap_decode(const char *in, size_t n, struct tbuf *out);
enum tern_rc utf7imap_encode(const char *in, size_t n, struct tbuf *out);

/* Terminal safety, applied to UTF-8 text at every output boundary.
 * Controls C0 (except those allowed by flags), DEL, C1 (U+0080..U+009F),
 * whole ESC sequences (CSI, OSC, DCS, APC, PM, SOS — through their
 * terminator, capped), and bidi overrides/isolates (U+202A..U+202E,
 * U+2066..U+2069) each become one visible placeholder (U+FFFD, or '?' with
 * SAFE_ASCII); invalid UTF-8 becomes U+FFFD. The text around stays. */
enum safe_flags {
    SAFE_ALLOW_TAB = 1 << 0,     /* keep TAB (bodies) */
    SAFE_ALLOW_NEWLINE = 1 << 1, /* keep LF; CR LF becomes LF, lone CR is a placeholder */
    SAFE_ASCII = 1 << 2,         /* placeholder '?' instead of U+FFFD */
};
enum tern_rc safe_text(const char *in, size_t n, unsigned flags, struct tbuf *out);
/* Same, into a new string the caller frees; NULL on out of memory. */
char *safe_text_dup(const char *in, size_t n, unsigned flags);
/* Append in[0..n) as a JSON string literal with quotes; every control
 * character escaped, invalid UTF-8 as U+FFFD. */
enum tern_rc json_put_string(struct tbuf *out, const char *in, size_t n);

#endif
