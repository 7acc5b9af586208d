/*
 * core/pop3 — the POP3 driver: download-and-delete (or keep) that never
 * loses and never duplicates a message. Owner: the POP3 engineer.
 *
 *   parse.c    the response parser: status lines, multi-line responses with
 *              dot-unstuffing streamed to a sink, line ceilings, bounded
 *              numbers; CAPA/UIDL/LIST line helpers and UIDL validation.
 *              Pure (no I/O), resumable at any byte; has a libFuzzer target.
 *   session.c  one POP3 session over a conn stream (or a test transport):
 *              command queue with pipelining, reading responses in order
 *   sync.c     the sync: UIDL, plan against the ledger, pipelined RETR into
 *              the Maildir, batch flush + ledger commit, then DELE, QUIT
 *   driver.c   the `struct acct_driver` table (open/sync/close)
 *
 * Storage convention: messages are stored LF-normalised (each CRLF the
 * server sends becomes LF, like every Maildir MDA does); a lone CR stays.
 *
 * Safety rules (see sync.c): DELE is sent for a message only after its
 * Maildir file and directory entry are on stable storage and its UIDL is
 * committed in the index ledger; deletions count only after QUIT's +OK.
 * UIDLs are untrusted and never reach a path.
 */
#ifndef TERN_POP3_LIB_H
#define TERN_POP3_LIB_H

#include "core/base/lib.h"
#include "core/driver/lib.h"

extern const struct acct_driver pop3_driver;

/* Ceilings for everything the server sends. */
#define POP3_STATUS_MAX 1024       /* status line incl. CRLF (RFC 2449: 512) */
#define POP3_LIST_LINE_MAX 1024    /* one CAPA/UIDL/LIST line incl. CRLF */
#define POP3_UIDL_MAX 70           /* RFC 1939 unique-id length */
#define POP3_MSGNO_MAX 10000000u   /* highest message number we accept */
#define POP3_MAX_MESSAGES 1000000u /* entries in one UIDL listing */
/* Most bytes the conn transport holds at once; a longer line arrives in
 * slices (there is no ceiling on one message line). */
#define POP3_RECV_SLICE (64u << 10)
#define POP3_MESSAGE_MAX (2ull << 30) /* one message; more is a protocol error */

/* How the parser hands out the data of a multi-line response. */
enum pop3_data_mode {
    POP3_DATA_LINES,  /* sink gets one whole line at a time, without its
                         line end, dot-unstuffed; lines capped at
                         POP3_LIST_LINE_MAX; NUL bytes are EPROTO */
    POP3_DATA_STREAM, /* sink gets bytes in pieces as they arrive, dot-
                         unstuffed, CRLF turned into LF; no ceiling per line */
    POP3_DATA_RAW,    /* like STREAM but line ends kept as received */
};

/* The sink returns non-OK to abort the response (the code is returned by
 * pop3_parser_feed). */
typedef enum tern_rc pop3_sink_fn(void *arg, const char *buf, size_t n);

/* Parser state; fields are private to parse.c (exposed so it can live on
 * the stack). One response at a time: pop3_parser_begin, then feed bytes
 * until done. */
struct pop3_parser {
    int state;
    bool multiline; /* a +OK opens a multi-line body */
    enum pop3_data_mode mode;
    pop3_sink_fn *sink; /* borrowed */
    void *sink_arg;
    bool done;                    /* the response is complete */
    bool ok;                      /* +OK (true) or -ERR (false) */
    char status[POP3_STATUS_MAX]; /* status text after +OK/-ERR, NUL-terminated,
                                     without line end */
    size_t status_len;
    char line[POP3_LIST_LINE_MAX]; /* line accumulator (status, LINES mode) */
    size_t line_len;
    uint64_t data_bytes; /* bytes handed to the sink for this response */
};

void pop3_parser_init(struct pop3_parser *p);
/* Start a new response. multiline: the command answers +OK with a
 * multi-line body (CAPA, UIDL, LIST without argument, RETR, TOP); a -ERR
 * reply is always a single line. sink may be NULL (data discarded). */
void pop3_parser_begin(struct pop3_parser *p, bool multiline, enum pop3_data_mode mode,
                       pop3_sink_fn *sink, void *arg);
/* Consume bytes of the current response. Stops right after its last byte:
 * *used says how many bytes of buf were consumed (the rest belongs to the
 * next response). Returns TERN_EPROTO (text in err) when the server breaks
 * the protocol or a ceiling, or the sink's code. After done, feeding more
 * is TERN_EINTERNAL until pop3_parser_begin. */
enum tern_rc pop3_parser_feed(struct pop3_parser *p, const char *buf, size_t n, size_t *used,
                              struct tern_err *err);

/* RFC 2449 extended response codes in a -ERR text. */
enum pop3_resp_code {
    POP3_RESP_NONE,
    POP3_RESP_IN_USE,      /* [IN-USE]: maildrop locked by another session */
    POP3_RESP_LOGIN_DELAY, /* [LOGIN-DELAY] */
    POP3_RESP_SYS_TEMP,    /* [SYS/TEMP] */
    POP3_RESP_SYS_PERM,    /* [SYS/PERM] */
    POP3_RESP_AUTH,        /* [AUTH] */
    POP3_RESP_OTHER,
};
enum pop3_resp_code pop3_resp_code(const char *text);
/* The tern_rc a -ERR with this text means for a whole session. */
enum tern_rc pop3_err_rc(const char *text);

/* Capability bits from CAPA lines. */
enum pop3_caps {
    POP3_CAP_PIPELINING = 1 << 0,
    POP3_CAP_UIDL = 1 << 1,
    POP3_CAP_TOP = 1 << 2,
    POP3_CAP_RESP_CODES = 1 << 3,
    POP3_CAP_STLS = 1 << 4,
    POP3_CAP_USER = 1 << 5,
    POP3_CAP_SASL = 1 << 6,
};
/* The bit named by one CAPA line (0 for anything else). */
unsigned pop3_capa_line(const char *line, size_t n);

/* True when uid[0..n) is a valid RFC 1939 unique-id: 1..70 octets, each
 * 0x21..0x7E. */
bool pop3_uid_valid(const char *uid, size_t n);

/* Parse one UIDL listing line "MSGNO SP UID" (line end removed). EPROTO
 * for a malformed line or a number out of range; TERN_EDATA when only the
 * unique-id is invalid (*msgno is then set, so the caller can report it).
 * *uid points into line. */
enum tern_rc pop3_parse_uidl_line(const char *line, size_t n, uint32_t *msgno, const char **uid,
                                  size_t *uid_len);
/* Parse one LIST line "MSGNO SP SIZE [SP more]". */
enum tern_rc pop3_parse_list_line(const char *line, size_t n, uint32_t *msgno, uint64_t *size);

#endif
