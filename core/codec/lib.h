/*
 * core/codec — content and header encodings of mail (no charsets here
 * beyond calling core/charset).
 *
 *   base64.c   tolerant base64 decoding, strict encoding with line length
 *   qp.c       quoted-printable decode (body and RFC 2047 Q) and encode
 *   rfc2047.c  encoded words in header text: decode to UTF-8, encode
 *   rfc2231.c  MIME parameter values: continuations, charset, percent
 *
 * Decoders are lenient (real mail is broken) and total: any input gives
 * some output, never a crash. They fail only on TERN_ENOMEM or a full out.
 */
#ifndef TERN_CODEC_LIB_H
#define TERN_CODEC_LIB_H

#include "core/base/lib.h"

/* Base64: skips whitespace and any non-alphabet byte, stops at '=' padding
 * or end, accepts missing padding; decodes a trailing partial quantum as far
 * as it goes. */
enum tern_rc base64_decode(const char *in, size_t n, struct tbuf *out);
/* Encode with CRLF line breaks every `line_len` output chars (0: no breaks;
 * line_len a multiple of 4). */
enum tern_rc base64_encode(const void *in, size_t n, size_t line_len, struct tbuf *out);

/* Quoted-printable body decoding: soft line breaks (`=` at line end, with
 * trailing whitespace tolerated) removed, `=XX` (either case) decoded, a bad
 * escape kept literally. */
enum tern_rc qp_decode(const char *in, size_t n, struct tbuf *out);
/* Encode body text (lines separated by LF or CRLF in the input) as QP with
 * CRLF line ends, soft breaks keeping lines <= 76 chars, trailing space and
 * leading "." / "From " made safe. */
enum tern_rc qp_encode(const char *in, size_t n, struct tbuf *out);

/* Decode the text of an unstructured header value (or a display name /
 * comment / quoted string already unquoted) to UTF-8: encoded words
 * =?charset[*lang]?B|Q?text?= decoded, whitespace between adjacent encoded
 * words dropped, words inside quotes or not separated by space accepted,
 * malformed words kept as text; text outside encoded words that is not
 * ASCII is taken as UTF-8 if valid, else windows-1252 (RFC 6532 headers). */
enum tern_rc rfc2047_decode(const char *in, size_t n, struct tbuf *out);
/* Encode UTF-8 text for an unstructured header: returned unchanged when it
 * is printable ASCII, else as =?UTF-8?Q?...?= or B words of at most 75
 * chars, separated by CRLF SP so the caller can put them on folded lines.
 * `used` is how many columns the header line already has before the value. */
enum tern_rc rfc2047_encode(const char *in, size_t n, size_t used, struct tbuf *out);

/* RFC 2231 extended parameter value decoding: given the raw value of
 * `name*=` (charset'lang'%XX...), append UTF-8. For continuations, the
 * caller joins the parts (name*0*, name*1, ...) — see mime's parameter
 * parser; only segments marked with `*` are percent-decoded, which is why
 * this takes one segment at a time: `extended` says whether it had `*`, and
 * `charset` is the charset from segment 0 (NULL if none). */
enum tern_rc rfc2231_decode_segment(const char *in, size_t n, bool extended, const char *charset,
                                    struct tbuf *raw_out);
/* Split the first segment `charset'lang'rest`: copies charset (at most
 * cs_size-1 bytes) and returns a pointer to rest within in (or in itself
 * when there are not two quotes). */
const char *rfc2231_split_charset(const char *in, size_t n, char *cs, size_t cs_size);
/* Encode a UTF-8 parameter value as RFC 2231 (`utf-8''%XX...`), appending
 * `name*=value` or, when long, `name*0*=...; name*1*=...` with CRLF SP
 * folding. */
enum tern_rc rfc2231_encode_param(const char *name, const char *value, struct tbuf *out);

#endif
