/*
 * core/imap — the IMAP driver: an IMAP engine spoken over core/conn's
 * CONNECT_ONLY stream (libcurl logs in; everything after that is ours),
 * header-only sync into core/index, bodies on demand, write-back of
 * flags/moves/deletes and the folder list.
 * Owner: the IMAP engineer.
 *
 *   parse.c     streaming response parser: tagged/untagged/continuation
 *               responses, response codes, atoms, quoted strings, {n} and
 *               ~{n} literals (routed to memory or to a sink), nested lists
 *   util.c      reading parsed data: numbers, strings, FETCH items,
 *               sequence sets, BODYSTRUCTURE attachment test, flag names
 *   session.c   the engine: tags (A1, A2, ...), pipelined sends, reading
 *               responses until a tag completes, capability and selected-
 *               mailbox state, untagged dispatch
 *   sync.c      header sync of the configured folders, UIDVALIDITY checks,
 *               CONDSTORE/QRESYNC and full flag/expunge diffs, per-chunk
 *               commits
 *   folders.c   LIST (LIST-EXTENDED, SPECIAL-USE, LIST-STATUS) into the index
 *   body.c      body download into the cache (tmp + rename), prefetch
 *   push.c      replay of the index's queued changes: STORE, MOVE (or COPY
 *               + STORE \Deleted + UID EXPUNGE), delete to Trash / expunge
 *   append.c    APPEND (LITERAL+ or a synchronizing literal, TRYCREATE ->
 *               CREATE + retry once), finding the Sent folder, and the
 *               appender: one connection storing messages in one folder
 *               (core/outbox's copy to Sent)
 *   driver.c    the `imap_driver` table and lazy connection handling
 *   idle.c      IDLE (RFC 2177) on one folder for the wait_changes slot
 *               (owner: the TUI engineer)
 *
 * Server bytes are hostile: every size below is a ceiling whose breach is
 * TERN_EPROTO (the connection is then dropped), never a truncation.
 */
#ifndef TERN_IMAP_LIB_H
#define TERN_IMAP_LIB_H

#include "core/base/lib.h"
#include "core/conn/lib.h"
#include "core/driver/lib.h"

#include <stdint.h>

extern const struct acct_driver imap_driver;

/* The driver's wait_changes slot (idle.c; state is the driver's): a
 * CAPABILITY check (no IDLE: TERN_ENOTSUP), EXAMINE of the folder (with
 * w->compare: UIDVALIDITY/UIDNEXT unlike the index's is a change at once),
 * IDLE until an untagged EXISTS (a new count), EXPUNGE, FETCH or VANISHED,
 * the wake flag or the timeout, then DONE and the tagged reply. A broken
 * session is dropped; the next call reconnects. */
enum tern_rc imap_wait_changes(void *state, struct acct_wait *w, struct tern_err *err);

/* ------------------------------------------------------------- ceilings */

#define IMAP_LINE_MAX ((size_t)8 << 20)          /* one line between literals */
#define IMAP_LITERAL_MAX ((size_t)1 << 20)       /* a literal kept in memory (header fields) */
#define IMAP_RESP_MAX ((size_t)16 << 20)         /* one response held in memory */
#define IMAP_TOKENS_MAX ((uint32_t)1 << 21)      /* tokens in one response */
#define IMAP_DEPTH_MAX 64                        /* list nesting */
#define IMAP_BODY_MAX ((uint64_t)1 << 31)        /* a body streamed to a file */
#define IMAP_LITERAL_NUM_MAX ((uint64_t)1 << 40) /* any {n} the parser accepts */

/* --------------------------------------------------------------- parser */

enum imap_type {
    IMAP_ATOM = 1, /* also numbers, flags (\Seen) and BODY[...]<n> items */
    IMAP_QUOTED,   /* unescaped content */
    IMAP_LITERAL,  /* content held in memory */
    IMAP_EXTERNAL, /* literal streamed to a caller's sink; len = size, no bytes */
    IMAP_NIL,
    IMAP_LIST, /* children follow it; `end` is past the last one */
};

struct imap_tok {
    uint32_t type; /* enum imap_type */
    uint32_t end;  /* index of the next sibling */
    size_t off;    /* bytes at resp->buf + off */
    size_t len;
};

enum imap_kind { IMAP_UNTAGGED, IMAP_TAGGED, IMAP_CONT };
enum imap_status {
    IMAP_ST_NONE = 0, /* a data response (* 3 FETCH ..., * LIST ...) */
    IMAP_ST_OK,
    IMAP_ST_NO,
    IMAP_ST_BAD,
    IMAP_ST_BYE,
    IMAP_ST_PREAUTH,
};

/*
 * One parsed response; borrowed from the parser and valid until the next
 * line is fed. tok[0] is a LIST holding the data tokens (data responses:
 * `3 FETCH (...)`) or, for status responses, the tokens of the response
 * code inside [...] (has_code true); `text` is the human text after it.
 */
struct imap_resp {
    enum imap_kind kind;
    enum imap_status status;
    const char *tag; /* tagged only; tag_len bytes */
    size_t tag_len;
    bool has_code;
    const char *text; /* raw, may hold any byte; text_len bytes */
    size_t text_len;
    const struct imap_tok *tok;
    uint32_t ntok;
    const char *buf;
};

struct imap_parser;

enum imap_step {
    IMAP_STEP_LINE,    /* feed the next line */
    IMAP_STEP_LITERAL, /* a literal of imap_parser_literal_size bytes comes next */
    IMAP_STEP_DONE,    /* imap_parser_resp is complete */
};

struct imap_parser *imap_parser_new(void);
void imap_parser_free(struct imap_parser **p);
/* Feed one line (with or without its CRLF/LF). The first line of a
 * response starts a new one (the previous view becomes invalid). */
enum tern_rc imap_parser_feed(struct imap_parser *p, const char *line, size_t n,
                              enum imap_step *step, struct tern_err *err);
/* After IMAP_STEP_LITERAL: its size, and the atom before it at the same
 * list level (e.g. "BODY[]" or "BODY[HEADER.FIELDS (...)]"), or NULL. */
uint64_t imap_parser_literal_size(const struct imap_parser *p);
const char *imap_parser_literal_key(const struct imap_parser *p, size_t *n);
/* Either append the literal's bytes (in pieces; the total must match and
 * stay within `cap`) ... */
enum tern_rc imap_parser_literal_data(struct imap_parser *p, const char *buf, size_t n, size_t cap);
/* ... or declare that the caller streamed it elsewhere. */
void imap_parser_literal_external(struct imap_parser *p);
const struct imap_resp *imap_parser_resp(const struct imap_parser *p);

/* Byte source the engine reads from: core/conn in real life, memory in
 * tests and the fuzzer. Semantics as conn_read_line / conn_read_exact /
 * conn_send. */
struct imap_io {
    enum tern_rc (*read_line)(void *arg, struct tbuf *line, size_t max, struct tern_err *err);
    enum tern_rc (*read_exact)(void *arg, uint64_t n, conn_sink_fn *sink, void *sarg,
                               struct tern_err *err);
    enum tern_rc (*send)(void *arg, const void *buf, size_t n, struct tern_err *err);
    /* --debug: one line judged safe (commands, status replies; never
     * message data). May be NULL. */
    void (*trace)(void *arg, bool outgoing, const char *line, size_t n);
    void *arg;
};

/* Where a literal goes: return a sink (and its argument and size cap) to
 * stream it out of memory, or NULL to keep it in memory (up to
 * IMAP_LITERAL_MAX). key/key_len as imap_parser_literal_key. */
typedef conn_sink_fn *imap_route_fn(void *arg, const char *key, size_t key_len, uint64_t size,
                                    void **sink_arg);

/* Read one complete response: lines and literals from io into p. line is
 * the caller's scratch buffer. */
enum tern_rc imap_read_resp(struct imap_parser *p, const struct imap_io *io, struct tbuf *line,
                            imap_route_fn *route, void *route_arg, const struct imap_resp **out,
                            struct tern_err *err);

/* --------------------------------------------------------- reading data */

#define IMAP_NONE UINT32_MAX

/* Children of list token `l`: for (c = imap_child(r, l); c != IMAP_NONE;
 * c = imap_next(r, l, c)). */
uint32_t imap_child(const struct imap_resp *r, uint32_t l);
uint32_t imap_next(const struct imap_resp *r, uint32_t l, uint32_t c);
/* The n-th child (0-based) or IMAP_NONE. */
uint32_t imap_nth(const struct imap_resp *r, uint32_t l, uint32_t n);
uint32_t imap_count(const struct imap_resp *r, uint32_t l);
bool imap_is_list(const struct imap_resp *r, uint32_t t);
bool imap_is_nil(const struct imap_resp *r, uint32_t t);
/* String content of an atom, quoted or literal (not NIL/list/external). */
bool imap_str(const struct imap_resp *r, uint32_t t, const char **s, size_t *n);
/* Case-insensitive compare of an atom/string token with a C string. */
bool imap_eq(const struct imap_resp *r, uint32_t t, const char *s);
/* An atom made of digits only, <= max (tern_parse_u64). */
bool imap_num(const struct imap_resp *r, uint32_t t, uint64_t max, uint64_t *out);
/* In a FETCH attribute list (KEY value KEY value ...), the value token of
 * the first key equal to `key` (case-insensitive); with prefix true, keys
 * that start with `key` match (BODY[HEADER.FIELDS ...]). */
uint32_t imap_fetch_item(const struct imap_resp *r, uint32_t l, const char *key, bool prefix);

/* Data response shape "* <n> NAME ..." (FETCH/EXPUNGE/EXISTS...): true when
 * tok[0] starts with a number and NAME equals `name`; *num gets the number
 * and *rest the token after NAME (IMAP_NONE if none). */
bool imap_is_numbered(const struct imap_resp *r, const char *name, uint64_t *num, uint32_t *rest);
/* "* NAME ...": the token after NAME, or IMAP_NONE; false if NAME differs. */
bool imap_is_named(const struct imap_resp *r, const char *name, uint32_t *rest);

/* Sequence sets ("1:3,7,9:*"). Each range is given lo <= hi; `*` maps to
 * star. Malformed input (or more than IMAP_SEQSET_MAX ranges) fails. */
#define IMAP_SEQSET_MAX 1000000
typedef int imap_range_fn(void *arg, uint32_t lo, uint32_t hi);
bool imap_seqset_walk(const char *s, size_t n, uint32_t star, imap_range_fn *fn, void *arg);

/* Flags: a FLAGS list to INDEX_FLAG_* bits plus other keywords (space
 * separated, appended to kw when not NULL; only atoms made of printable
 * ASCII are kept). */
unsigned imap_flags_parse(const struct imap_resp *r, uint32_t l, struct tbuf *kw);
/* The IMAP flag list text for INDEX_FLAG_* bits ("\\Seen \\Flagged"). */
enum tern_rc imap_flags_format(unsigned flags, struct tbuf *out);

/* True when a BODYSTRUCTURE token shows an attachment: a part with
 * disposition "attachment", or a non-text leaf that is not inline inside
 * multipart/related or alternative and not a signature. */
bool imap_bodystructure_has_attachments(const struct imap_resp *r, uint32_t bs);

/* ----------------------------------------------------- APPEND (append.c) */

#define IMAP_APPEND_MAX ((size_t)1 << 30) /* one message stored with APPEND */

/* What a UIDPLUS server said about the stored message ([APPENDUID v u]);
 * zeros when it said nothing. */
struct imap_appenduid {
    uint32_t uidvalidity;
    uint32_t uid;
};

/*
 * An appender: one logged-in IMAP connection of an account, made to store
 * messages in one folder. Opening connects, logs in and decides the folder:
 * params->folder, else the account's sent_folder (a UTF-8 name as tern
 * shows it; the server's raw name when the index knows the folder, else
 * encoded in modified UTF-7), else the folder the index marks \Sent, else
 * the one the server's LIST marks \Sent, else "Sent". A folder that does
 * not exist is created (NO [TRYCREATE] -> CREATE, SUBSCRIBE, one retry).
 * Errors of open: those of the login (TERN_ECONN, TERN_ETLS, TERN_EAUTH,
 * ...), TERN_ECONFIG (not an IMAP account, bad folder name).
 */
struct imap_appender;
struct imap_appender_params {
    const struct tern_account *cfg; /* borrowed until close */
    const char *secret;             /* borrowed; used during open only */
    const char *folder;             /* NULL: the Sent folder as above */
    conn_trace_fn *trace;           /* --debug; may be NULL */
    void *trace_arg;
};
enum tern_rc imap_appender_open(const struct imap_appender_params *p, struct imap_appender **out,
                                struct tern_err *err);
/* The folder chosen (UTF-8, for messages); borrowed until close. */
const char *imap_appender_folder(const struct imap_appender *ap);
/* Store one message: flags are INDEX_FLAG_* bits (\Seen for a sent copy),
 * date the internal date (unix time; <= 0: the server's clock). data is
 * the whole message; it goes out byte for byte when it has CRLF line ends
 * (else a CRLF copy does), and may not hold NUL (TERN_EDATA). Returns
 * TERN_OK only after the server's tagged OK; *uid (may be NULL) gets
 * APPENDUID. A refusal is TERN_EREFUSED / TERN_ETEMP / TERN_ENOTFOUND
 * with the server's text; a broken connection makes later calls fail. */
enum tern_rc imap_appender_add(struct imap_appender *ap, unsigned flags, int64_t date,
                               const char *data, size_t len, struct imap_appenduid *uid,
                               struct tern_err *err);
/* LOGOUT (not waited for) and free. NULL-safe; sets *ap to NULL. */
void imap_appender_close(struct imap_appender **ap);

/* Quote s for a command: an IMAP quoted string, or fail (TERN_EDATA) when
 * it holds CR, LF or NUL (a literal would be needed). */
enum tern_rc imap_quote(struct tbuf *out, const char *s, size_t n);

#endif
