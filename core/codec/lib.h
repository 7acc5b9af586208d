/*
 * core/codec — content and header encodings of mail (no charsets here
 * beyond calling core/charset).
 *
 * Owner: the charset/codec engineer.
 *
 *   base64.c   tolerant base64 decoding, strict encoding with line length
 *   qp.c       quoted-printable decode (body and RFC 2047 Q) and encode
 *   rfc2047.c  encoded words in header text: decode to UTF-8, encode
 *   rfc2231.c  MIME parameter values: continuations, charset, percent
 *   private.h  helpers shared by the files above
 *
 * Decoders are lenient (real mail is broken) and total: any input gives
 * some output, never a crash. They fail only on TERN_ENOMEM or a full out
 * (TERN_EPROTO); on failure out may hold part of the result. The caller
 * owns everything passed in; nothing is kept after a call returns.
 */
#ifndef TERN_CODEC_LIB_H
#define TERN_CODEC_LIB_H

#include "core/base/lib.h"

struct charset_cache; /* core/charset */

/* Base64: skips whitespace and any non-alphabet byte, stops at '=' padding
 * or end, accepts missing padding; decodes a trailing partial quantum as far
 * as it goes. */
enum tern_rc base64_decode(const char *in, size_t n, struct tbuf *out);
/* Encode with CRLF line breaks every `line_len` output chars (0: no breaks;
 * line_len a multiple of 4). No CRLF after the last line. */
enum tern_rc base64_encode(const void *in, size_t n, size_t line_len, struct tbuf *out);

/* Quoted-printable body decoding: soft line breaks (`=` at line end, with
 * trailing whitespace tolerated) removed, `=XX` (either case) decoded, a bad
 * escape kept literally. Blanks at the end of a line are dropped (RFC 2045
 * 6.7 rule 3: they were added in transit); line ends are kept as sent. */
enum tern_rc qp_decode(const char *in, size_t n, struct tbuf *out);
/* Encode body text (lines separated by LF or CRLF in the input) as QP with
 * CRLF line ends, soft breaks keeping lines <= 76 chars, trailing space and
 * leading "." / "From " made safe. The output ends with CRLF only when the
 * input ended with a line end. */
enum tern_rc qp_encode(const char *in, size_t n, struct tbuf *out);

/* Decode the text of an unstructured header value (or a display name /
 * comment / quoted string already unquoted) to UTF-8: encoded words
 * =?charset[*lang]?B|Q?text?= decoded, whitespace between adjacent encoded
 * words dropped, words inside quotes or not separated by space accepted,
 * malformed words kept as text; text outside encoded words that is not
 * ASCII is taken as UTF-8 if valid, else windows-1252 (RFC 6532 headers). */
enum tern_rc rfc2047_decode(const char *in, size_t n, struct tbuf *out);
/* Same, with converters kept in a caller-owned cache (may be NULL); for
 * decoding the headers of many messages in one loop. */
enum tern_rc rfc2047_decode_cached(struct charset_cache *cc, const char *in, size_t n,
                                   struct tbuf *out);
/* Encode UTF-8 text for an unstructured header: returned unchanged when it
 * is printable ASCII, else as =?UTF-8?Q?...?= or B words of at most 75
 * chars, separated by CRLF SP so the caller can put them on folded lines.
 * `used` is how many columns the header line already has before the value.
 * Only the blank-separated words from the first to the last one that needs
 * it are encoded (everything, when the text holds "=?"); the ASCII words
 * around stay as they are. Unfolding the result (CRLF before SP removed)
 * and decoding it gives the input back, except that when `used` leaves no
 * room for a first word on the line the result starts with CRLF SP, which
 * unfolds to one leading blank (header parsers drop it). */
enum tern_rc rfc2047_encode(const char *in, size_t n, size_t used, struct tbuf *out);

/* RFC 2231 extended parameter value decoding: given the raw value of
 * `name*=` (charset'lang'%XX...), append UTF-8. For continuations, the
 * caller joins the parts (name*0*, name*1, ...) — see mime's parameter
 * parser; only segments marked with `*` are percent-decoded, which is why
 * this takes one segment at a time: `extended` says whether it had `*`, and
 * `charset` is the charset from segment 0 (NULL if none). */
enum tern_rc rfc2231_decode_segment(const char *in, size_t n, bool extended, const char *charset,
                                    struct tbuf *raw_out);
/* How the pieces fit: rfc2231_decode_segment appends the segment's BYTES
 * (percent-decoded when extended, else as is) to raw_out without any
 * charset conversion, so a UTF-8 sequence split across segments joins up;
 * `charset` is accepted for symmetry and not used. After the last segment
 * the caller converts the joined bytes once:
 *     rest = rfc2231_split_charset(seg0, n0, cs, sizeof cs);
 *     rfc2231_decode_segment(rest, ..., true, cs, &raw);   (segment 0)
 *     rfc2231_decode_segment(seg1, n1, seg1_had_star, cs, &raw); ...
 *     charset_to_utf8(cs[0] ? cs : NULL, raw.data, raw.len, out);
 * For a single `name*=charset'lang'%XX` value, rfc2231_decode_value does
 * all of it. */
enum tern_rc rfc2231_decode_value(const char *in, size_t n, struct tbuf *out);
/* Room callers need for the charset of rfc2231_split_charset. */
#define RFC2231_CHARSET_MAX 72
/* Split the first segment `charset'lang'rest`: copies charset (at most
 * cs_size-1 bytes) and returns a pointer to rest within in (or in itself
 * when there are not two quotes). */
const char *rfc2231_split_charset(const char *in, size_t n, char *cs, size_t cs_size);
/* Encode a UTF-8 parameter value as RFC 2231 (`utf-8''%XX...`), appending
 * `name*=value` or, when long, `name*0*=...; name*1*=...` with CRLF SP
 * folding (";" CRLF SP between segments, lines <= 76 counting a leading
 * blank and a trailing ";"; a UTF-8 sequence is never split). The caller
 * writes the "; " before it. TERN_EDATA when name is empty, NULL or not
 * a token (or holds "*", "'" or "%"), or value is NULL. */
enum tern_rc rfc2231_encode_param(const char *name, const char *value, struct tbuf *out);

#endif
