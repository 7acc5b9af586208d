/*
 * core/compose — the messages tern sends: building RFC 5322/MIME messages
 * from command-line input (`tern send`), and reading ready messages for
 * `tern send -t`, `--batch` and sendmail mode (recipients from the header,
 * Bcc removed from what is transmitted, missing fields added).
 * Owner: the sending engineer (core/smtp, core/compose, core/outbox).
 *
 *   addrlist.c  address lists (command line and header fields): parsing to
 *               display name + addr-spec, validation, rendering with RFC 2047
 *               display names
 *   header.c    field names and values: CR/LF/NUL checks, RFC 2047 for
 *               non-ASCII text, folding at 78 columns (never past 998),
 *               Date and Message-ID, scanning and editing header blocks
 *   build.c     `tern send`: the whole message (text part as 7bit or
 *               quoted-printable, multipart/mixed with attachments)
 *   attach.c    attachments: read, type from libmagic (fallback
 *               /etc/mime.types), base64, RFC 2231 file names
 *   ready.c     ready messages: canonical CRLF, recipients, Bcc removal,
 *               long lines, the sendmail "." end of input
 *
 * Every message produced is in canonical form: CRLF line ends, no bare CR
 * or LF, no NUL, no line over 998 octets. It still holds its Bcc field (the
 * copy for the Sent folder keeps it); compose_strip_bcc gives the form that
 * is transmitted.
 *
 * Ownership: the caller owns what it passes in; results are owned by the
 * caller and freed with the matching *_free.
 */
#ifndef TERN_COMPOSE_LIB_H
#define TERN_COMPOSE_LIB_H

#include "core/base/lib.h"

#include <time.h>

#define COMPOSE_MSG_MAX ((size_t)256 << 20)    /* a built or ready message */
#define COMPOSE_ATTACH_MAX ((size_t)100 << 20) /* one attachment file */
#define COMPOSE_ADDRS_MAX 1000                 /* addresses in one list */
#define COMPOSE_HEADERS_MAX 256                /* --header options */

/* --- addresses ---------------------------------------------------------- */

struct compose_addr {
    char *name; /* owned; UTF-8 display name, NULL when none */
    char *addr; /* owned; addr-spec, checked with smtp_addr_check */
};
struct compose_addrs {
    struct compose_addr *v; /* owned */
    size_t n;
};

/* Parse an address list — "a@b", "Name <a@b>", "\"Doe, J\" <a@b>",
 * comma-separated, groups ("team: a@b, c@d;") — and append each mailbox to
 * out. Every addr-spec must pass smtp_addr_check, and the input must have
 * no CR, LF or NUL: anything else is TERN_EDATA naming the offending
 * entry (sanitised). An empty group adds nothing. */
enum tern_rc compose_parse_addrs(const char *s, size_t n, struct compose_addrs *out,
                                 struct tern_err *err);
/* Same for a raw header field value from a ready message: folding (CRLF
 * followed by WSP) is allowed and comments are skipped. */
enum tern_rc compose_parse_header_addrs(const char *s, size_t n, struct compose_addrs *out,
                                        struct tern_err *err);
void compose_addrs_free(struct compose_addrs *l); /* NULL-safe, leaves l empty */
/* Append "Name <addr>" (display name quoted or RFC 2047-encoded as needed)
 * or the bare addr when there is no name. */
enum tern_rc compose_render_addr(const struct compose_addr *a, struct tbuf *out);

/* --- header fields ------------------------------------------------------ */

/* A field name: 1..76 printable ASCII octets other than ':' . */
bool compose_field_name_ok(const char *name, size_t n);
/* Append "Name: value" as one or more folded lines, each ending in CRLF.
 * unstructured: value is UTF-8 text, RFC 2047-encoded when not ASCII (or
 * when an ASCII word is too long to fold). Otherwise value is already in
 * wire form (e.g. a rendered address list) and is only folded; a line that
 * cannot be folded under 998 octets is TERN_EDATA. CR, LF or NUL in value
 * is TERN_EDATA. */
enum tern_rc compose_put_field(struct tbuf *out, const char *name, const char *value,
                               bool unstructured, struct tern_err *err);
/* RFC 5322 date for t in local time, "Sat, 22 Nov 2025 03:41:00 +0100",
 * with English names whatever the locale. */
bool compose_date(time_t t, char *buf, size_t size);
/* A new Message-ID "<20251122034100.3f9c...@domain>" (random part from
 * gnutls_rnd); domain falls back to "localhost" when unusable. */
enum tern_rc compose_message_id(const char *domain, time_t t, char *buf, size_t size,
                                struct tern_err *err);

/* The transmitted form: the message without its Bcc and Resent-Bcc fields
 * (with their continuation lines); the rest byte for byte. */
enum tern_rc compose_strip_bcc(const char *msg, size_t n, struct tbuf *out, struct tern_err *err);

/* --- building a message (`tern send`) --------------------------------- */

struct compose_opts {
    const struct compose_addr *from; /* From: (required) */
    const struct compose_addrs *to;  /* may be NULL or empty */
    const struct compose_addrs *cc;
    const struct compose_addrs *bcc;
    const struct compose_addrs *reply_to;
    const char *subject;        /* UTF-8, NULL: no Subject field */
    const char *const *headers; /* "Name: value" (UTF-8), nheaders */
    size_t nheaders;
    const char *const *attach; /* file paths, nattach */
    size_t nattach;
    const char *body; /* the text, any line ends; invalid
                       * UTF-8 is read as windows-1252 */
    size_t body_len;
    const char *msgid_domain; /* the account's domain */
    time_t now;               /* 0: time(NULL) */
};

/* The result of compose: the message (with Bcc) and its envelope. */
struct compose_msg {
    struct tbuf data; /* canonical message, Bcc kept */
    char **rcpts;     /* owned; envelope recipients, duplicates removed */
    size_t nrcpts;
    char *from; /* owned; envelope sender ("" for <>), NULL if unset */
};
void compose_msg_init(struct compose_msg *m);
void compose_msg_free(struct compose_msg *m); /* NULL-safe, leaves m empty */
/* Add an envelope recipient unless already there (case-insensitive). */
enum tern_rc compose_msg_add_rcpt(struct compose_msg *m, const char *addr, struct tern_err *err);

/* Build the message. Fails before producing anything with TERN_EDATA
 * (CR/LF/NUL in any value, a bad address or header, a header tern sets
 * itself given with --header), TERN_ENOTFOUND (an attachment missing or
 * unreadable), TERN_EUSAGE (no recipient). Envelope recipients are To, Cc
 * and Bcc; the envelope sender is left NULL for the caller. */
enum tern_rc compose_build(const struct compose_opts *o, struct compose_msg *out,
                           struct tern_err *err);

/* --- ready messages (-t, --batch, sendmail) ------------------------------ */

struct compose_ready_opts {
    bool extract;             /* -t: recipients from To/Cc/Bcc (or the
                               * Resent- ones when present) */
    bool dot_ends;            /* no -i: a line "." alone ends the input */
    const char *const *rcpts; /* recipients given as arguments (added) */
    size_t nrcpts;
    const struct compose_addr *from; /* From: to add when missing */
    const char *msgid_domain;
    time_t now; /* 0: time(NULL) */
};

/* Turn a ready message into canonical form in out->data: line ends CRLF,
 * an mbox "From " first line dropped, Date / Message-ID / From added when
 * missing, header lines over 998 octets folded, a body with lines over 998
 * octets re-encoded as quoted-printable (single-part text only; otherwise
 * TERN_EDATA). Envelope recipients: the arguments, plus with extract the
 * header's. NUL anywhere is TERN_EDATA. No recipient is TERN_EUSAGE. */
enum tern_rc compose_ready(const char *in, size_t n, const struct compose_ready_opts *o,
                           struct compose_msg *out, struct tern_err *err);

/* The address in the first From field of a canonical message (for
 * choosing the account in sendmail mode), a new string or NULL. */
char *compose_from_address(const char *msg, size_t n);

#endif
