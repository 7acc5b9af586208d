/*
 * core/mime — reading messages: RFC 5322 header blocks, addresses and
 * dates, the MIME part tree (RFC 2045-2049), choosing and decoding the text
 * to show, attachments, and rendering a message as safe text or JSON.
 * Owner: the message-engine engineer.
 *
 *   header.c   header block scanning (unfolding, caps), raw lookup
 *   address.c  address lists -> (display name, address) pairs
 *   date.c     RFC 5322 and obsolete dates -> UTC time_t
 *   param.c    Content-Type / Content-Disposition parameters: RFC 2231
 *              continuations and charsets, RFC 2047 inside quoted values
 *   envelope.c mime_parse_headers: From/To/Cc/Subject/Date/ids, decoded
 *   tree.c     the part tree as offsets into the message buffer, decoding
 *              a part on demand
 *   text.c     best text part, decoding a part to UTF-8 text, format=flowed
 *   html.c     HTML to text: external html_filter (timeout, output cap) and
 *              the built-in fallback converter
 *   attach.c   attachment list, safe file names, saving with openat
 *   render.c   the header block + body as sanitised UTF-8, and JSON
 *   local.c    mime_parse_local: the message with LF line ends in its text
 *   private.h  helpers shared by the files above
 *
 * Ownership: the caller owns what it passes in and nothing is kept after a
 * call returns, except that a struct mime_message (and the parts and
 * header entries from it) BORROWS the message buffer given to mime_parse()
 * or mime_headers_scan(): keep the buffer alive and unchanged until the
 * message is freed. Everything else these functions return is owned by the
 * returned object (free with its *_free) or by the caller where stated.
 *
 * All parsers are total and lenient: hostile or broken input gives some
 * result, never a crash; they fail only with TERN_ENOMEM (or TERN_EPROTO
 * when a caller-given tbuf ceiling is reached). Work and memory are bounded
 * by the ceilings below: beyond a ceiling the rest is ignored, never an
 * error, and never quadratic.
 */
#ifndef TERN_MIME_LIB_H
#define TERN_MIME_LIB_H

#include "core/base/lib.h"

#include <time.h>

/* Ceilings for hostile messages. */
#define MIME_MAX_HEADERS 1024            /* header fields kept per header block */
#define MIME_MAX_HEADER_BYTES (1u << 20) /* header block bytes looked at for fields */
#define MIME_MAX_DEPTH 64                /* multipart / message nesting; deeper = opaque leaf */
#define MIME_MAX_PARTS 4096              /* parts per message; later ones are not split out */
#define MIME_MAX_PARAMS 64               /* parameters per Content-Type/-Disposition */
#define MIME_MAX_ADDRESSES 1024          /* addresses kept per header */
#define MIME_MAX_REFERENCES 128          /* References ids kept (the last ones) */
#define MIME_MAX_FILENAME 200            /* bytes of a sanitised file name */
#define MIME_HTML_FILTER_TIMEOUT_MS 5000 /* default html_filter deadline */
#define MIME_HTML_FILTER_MAX_OUT (8u << 20) /* html_filter output read at most */

/* ---- Raw header fields ---------------------------------------------- */

/* One header field; name and value point into the scanned buffer. value is
 * raw: still folded, not decoded, without the line end and without the
 * whitespace after the colon. */
struct mime_header {
    const char *name; /* borrowed */
    size_t name_len;
    const char *value; /* borrowed */
    size_t value_len;
};

struct mime_headers {
    struct mime_header *v; /* owned array */
    size_t n;
    size_t body_off;  /* offset of the body: after the blank line (or len) */
    bool truncated;   /* a ceiling was hit: some fields were ignored */
};

/* Scan the header block at the start of buf[0..len) (an mbox "From " line
 * first is skipped). Stops at the first empty line, or at a line that is
 * neither a field nor a continuation (the body then starts there), or at
 * len. Accepts LF or CRLF, `Name : value`, raw 8-bit values. Entries borrow
 * buf. */
enum tern_rc mime_headers_scan(const char *buf, size_t len, struct mime_headers *out);
void mime_headers_free(struct mime_headers *h); /* NULL-safe, leaves h empty */
/* The nth (0-based) field called name (case-insensitive), or NULL. */
const struct mime_header *mime_headers_find(const struct mime_headers *h, const char *name,
                                            size_t nth);
/* Append value[0..n) unfolded (CRLF/LF before whitespace removed, stray
 * CR/LF dropped) with surrounding whitespace trimmed. Not decoded. */
enum tern_rc mime_header_unfold(const char *value, size_t n, struct tbuf *out);
/* Convenience: the first field `name` of the header block in buf, unfolded
 * and RFC 2047-decoded to UTF-8 (decode=true) or raw (false); a new string
 * the caller frees, NULL when absent or out of memory. */
char *mime_header_get(const char *buf, size_t len, const char *name, bool decode);

/* ---- Addresses -------------------------------------------------------- */

struct mime_addr {
    char *name;    /* owned; UTF-8 display name, decoded; "" when none */
    char *address; /* owned; addr-spec as written (route removed); never NULL */
};

struct mime_addr_list {
    struct mime_addr *v; /* owned array */
    size_t n;
};

/* Parse an address-list header value (raw, may be folded): mailboxes,
 * quoted display names with commas, comments (a comment names the mailbox
 * when there is no phrase), groups (members are listed; an empty group
 * like `undisclosed-recipients:;` adds nothing), obsolete route addresses,
 * RFC 2047 display names. Appends to out (at most MIME_MAX_ADDRESSES). */
enum tern_rc mime_parse_addresses(const char *s, size_t n, struct mime_addr_list *out);
void mime_addr_list_free(struct mime_addr_list *l); /* NULL-safe, leaves l empty */

/* ---- Dates ------------------------------------------------------------ */

/* Parse an RFC 5322 date (and obsolete forms: two/three-digit years, named
 * and military zones, missing seconds or weekday, comments, odd spacing,
 * the asctime order) to UTC. Returns false (and leaves *out alone) when
 * the text is not a date it can trust; never invents one. */
bool mime_parse_date(const char *s, size_t n, time_t *out);
/* Format t as RFC 3339 UTC, "2024-03-01T12:00:00Z", into buf (>= 21 bytes;
 * years outside 0..9999 fail). Returns false when it does not fit. */
bool mime_format_rfc3339(time_t t, char *buf, size_t size);

/* ---- Envelope: the decoded header block ------------------------------ */

struct mime_envelope {
    struct mime_addr_list from, to, cc, reply_to;
    char *subject;     /* owned; UTF-8, unfolded and decoded; NULL when absent */
    char *date_raw;    /* owned; the Date field as written (unfolded); NULL when absent */
    time_t date;       /* valid only when date_known */
    bool date_known;
    char *message_id;  /* owned; without angle brackets; NULL when absent */
    char *in_reply_to; /* owned; first id, without brackets; NULL when absent */
    char **references; /* owned; ids without brackets, oldest first */
    size_t nreferences;
    char *list_id;     /* owned; the id inside <...> of List-Id; NULL when absent */
    char *content_type; /* owned; lower-case "type/subtype" of the top part */
    size_t header_len; /* bytes of the header block including the blank line */
    bool truncated;    /* a header ceiling was hit */
};

/* Decode the header block at the start of buf[0..len): stops at the blank
 * line and never looks at the body, so it is cheap enough for listing
 * thousands of messages (POP3/IMAP sync, index). buf may hold only the
 * header block. *out is new, owned by the caller; it does not borrow buf. */
enum tern_rc mime_parse_headers(const char *buf, size_t len, struct mime_envelope **out,
                                struct tern_err *err);
void mime_envelope_free(struct mime_envelope **e); /* NULL-safe */

/* ---- The part tree ---------------------------------------------------- */

enum mime_encoding {
    MIME_ENC_7BIT,
    MIME_ENC_8BIT,
    MIME_ENC_BINARY,
    MIME_ENC_QP,
    MIME_ENC_BASE64,
    MIME_ENC_UNKNOWN, /* passed through undecoded */
};

enum mime_disposition { MIME_DISP_NONE, MIME_DISP_INLINE, MIME_DISP_ATTACHMENT };

struct mime_part {
    /* Offsets into the message buffer. */
    size_t off;      /* start of this part's header block */
    size_t body_off; /* start of the (still encoded) body */
    size_t body_len;
    char *type;      /* owned; lower-case "type/subtype", defaulted */
    char *charset;   /* owned; as declared (lower-case), NULL when none */
    char *filename;  /* owned; UTF-8 from Content-Disposition filename or
                      * Content-Type name, fully decoded but NOT safe for the
                      * file system (see mime_safe_filename); NULL when none */
    char *content_id; /* owned; without brackets; NULL when none */
    enum mime_encoding encoding;
    enum mime_disposition disposition;
    bool flowed;     /* text/plain; format=flowed */
    bool delsp;      /* ... ; delsp=yes */
    bool opaque;     /* a multipart/message below the depth or part ceiling,
                      * kept as one undecoded leaf */
    unsigned depth;  /* 0 for the top part */
    struct mime_envelope *env; /* owned; for a message/rfc822 part: the
                                * embedded message's header (its content is
                                * the single child); NULL otherwise */
    struct mime_part *parent;  /* borrowed */
    struct mime_part *child;   /* owned; first child (multipart, message) */
    struct mime_part *next;    /* owned; next sibling */
};

struct mime_message {
    const char *buf; /* borrowed: the raw message */
    size_t len;
    struct mime_envelope *env; /* owned; the top header */
    struct mime_part *root;    /* owned; the top part */
    size_t nparts;
};

/* Parse the whole structure of buf[0..len) without copying or decoding
 * bodies. Nested multipart (digest parts default to message/rfc822),
 * message/rfc822 parsed recursively, missing close delimiters, delimiter
 * lines with trailing whitespace or junk, preamble/epilogue ignored, no
 * Content-Type = text/plain us-ascii. *out borrows buf (see top). */
enum tern_rc mime_parse(const char *buf, size_t len, struct mime_message **out,
                        struct tern_err *err);
void mime_message_free(struct mime_message **m); /* NULL-safe */
/* mime_parse for showing or saving: when buf has CRLF line ends (an IMAP
 * body; a Maildir file has LF) *out is parsed from *copy (caller frees it
 * after *out), a copy in which headers, text and message parts and
 * base64 bodies use LF, while other 7bit/8bit/binary/QP bodies stay byte
 * for byte. Otherwise *copy is NULL and *out borrows buf. */
enum tern_rc mime_parse_local(const char *buf, size_t len, char **copy, struct mime_message **out,
                              struct tern_err *err);

/* Depth-first walk: the part after p (NULL = the root), or NULL at the end. */
const struct mime_part *mime_part_next(const struct mime_message *m, const struct mime_part *p);
/* Append p's body with the transfer encoding undone (bytes, any charset). */
enum tern_rc mime_part_decode(const struct mime_message *m, const struct mime_part *p,
                              struct tbuf *out);
/* Decoded size of p's body in bytes (decodes to count; 0 on out of memory). */
size_t mime_part_size(const struct mime_message *m, const struct mime_part *p);

/* ---- Text to show ----------------------------------------------------- */

struct mime_text_opts {
    const char *html_filter; /* command line run by /bin/sh -c, html on stdin,
                              * text on stdout; NULL/empty: built-in */
    unsigned filter_timeout_ms; /* 0: MIME_HTML_FILTER_TIMEOUT_MS */
};

/* The part whose text to show: text/plain preferred inside
 * multipart/alternative, else text/html, else the first inline text part;
 * NULL when the message has no text. */
const struct mime_part *mime_best_text(const struct mime_message *m);
/* Append p's text as UTF-8 (not yet terminal-safe): transfer-decoded,
 * charset-converted, format=flowed joined; text/html turned into text by
 * the filter (falling back to the built-in converter when it fails, times
 * out or is not set). opts may be NULL. */
enum tern_rc mime_part_text(const struct mime_message *m, const struct mime_part *p,
                            const struct mime_text_opts *opts, struct tbuf *out);
/* RFC 3676: join flowed lines of UTF-8 text, honouring quote depth,
 * space-stuffing, the signature separator and DelSp. */
enum tern_rc mime_flowed_join(const char *in, size_t n, bool delsp, struct tbuf *out);
/* Built-in HTML to text: tags stripped, script/style/head dropped,
 * entities decoded (common named and numeric), links kept as
 * "text <url>", block elements as line breaks. */
enum tern_rc mime_html_to_text(const char *in, size_t n, struct tbuf *out);
/* Run `cmd` through /bin/sh -c with html on stdin; append its stdout.
 * Fails (TERN_ETIMEOUT, TERN_EPROTO for output over
 * MIME_HTML_FILTER_MAX_OUT, TERN_EIO, TERN_EDATA for non-zero exit) and
 * leaves out as it was; the child is always reaped. */
enum tern_rc mime_html_filter(const char *cmd, const char *in, size_t n, unsigned timeout_ms,
                              struct tbuf *out, struct tern_err *err);

/* ---- Attachments ------------------------------------------------------ */

struct mime_attachment {
    const struct mime_part *part; /* borrowed from the message */
    char *filename;     /* owned; decoded name as sent, NULL when none */
    char *safe_name;    /* owned; mime_safe_filename() of it, never NULL */
    const char *content_type; /* borrowed: part->type */
    size_t size;        /* decoded bytes */
};

struct mime_attachments {
    struct mime_attachment *v; /* owned array */
    size_t n;
};

/* List the attachments: leaf parts that are not the text shown (see
 * mime_best_text) and are marked attachment, carry a file name, or are
 * not text; a message/rfc822 part counts as one attachment. */
enum tern_rc mime_attachments_list(const struct mime_message *m, struct mime_attachments *out);
void mime_attachments_free(struct mime_attachments *a); /* NULL-safe, leaves a empty */

/* A file name safe to create in a directory: the last path component of
 * name after all decoding, without '/', '\\', NUL, controls, bidi
 * controls, no leading '.' '-' or space, not "." or "..", at most
 * MIME_MAX_FILENAME bytes cut on a UTF-8 boundary (keeping a short
 * extension). NULL/unusable name: "attachment-N" + an extension known for
 * content_type. A new string the caller frees; NULL on out of memory. */
char *mime_safe_filename(const char *name, const char *content_type, size_t n);

/* Write p's decoded body into directory dirfd under `name` (which must
 * already be a safe name), never following or replacing an existing file
 * or symlink: when `name` exists, "name (1).ext", "name (2).ext", ... is
 * tried. *written (caller frees) is the name used. File mode 0600. */
enum tern_rc mime_save_part(const struct mime_message *m, const struct mime_part *p, int dirfd,
                            const char *name, char **written, struct tern_err *err);

/* ---- Rendering -------------------------------------------------------- */

/* Header block (From, To, Cc, Date, Subject), a blank line, the text
 * (or a note that there is none) and a list of attachments, as
 * terminal-safe UTF-8 (only LF and TAB as controls). The same text is
 * shown by `tern read` and the TUI. opts may be NULL. */
enum tern_rc mime_render_text(const struct mime_message *m, const struct mime_text_opts *opts,
                              struct tbuf *out);
/* One JSON object (no trailing newline) with the fields from, to, cc
 * (arrays of {"name","address"}), subject, date (RFC 3339 UTC or null),
 * message_id, text (or null) and attachments (array of
 * {"filename","content_type","size"}). */
enum tern_rc mime_render_json(const struct mime_message *m, const struct mime_text_opts *opts,
                              struct tbuf *out);

#endif
