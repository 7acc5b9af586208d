/*
 * core/smtp — mail submission (RFC 6409) over the authenticated stream that
 * core/conn opens (CONNECT_ONLY: libcurl does greeting, EHLO, STARTTLS,
 * certificate checks and AUTH). tern speaks MAIL/RCPT/DATA itself because
 * libcurl 7.88's SMTP request API cannot pipeline (RFC 2920), reports
 * per-recipient replies only through the header callback, and cannot
 * declare BODY=8BITMIME (see /work/shared/notes/libcurl-7.88.md §3).
 * Owner: the sending engineer (core/smtp, core/compose, core/outbox).
 *
 *   addr.c     envelope address validation (nothing unchecked reaches a
 *              command line)
 *   reply.c    reply parser: multi-line replies, code shape, enhanced status
 *              codes, ceilings; EHLO capability parsing
 *   data.c     DATA payload: CRLF canonical form, dot-stuffing, checks
 *   session.c  the client: capabilities, pipelined transactions, batches of
 *              messages on one connection, QUIT
 *
 * Ownership: the caller owns what it passes in; the callee keeps nothing
 * after it returns unless a comment says otherwise.
 */
#ifndef TERN_SMTP_LIB_H
#define TERN_SMTP_LIB_H

#include "core/base/lib.h"
#include "core/conn/lib.h"

/* Ceilings for what a server sends (RFC 5321 4.5.3.1 allows 512-octet
 * reply lines; servers write longer ones, so we allow more but not
 * unbounded). */
#define SMTP_REPLY_LINE_MAX 4096  /* one reply line including CRLF */
#define SMTP_REPLY_LINES_MAX 128  /* lines in one (multi-line) reply */
#define SMTP_REPLY_TEXT_MAX 16384 /* text of one reply, lines joined */
#define SMTP_TEXT_MAX 320         /* reply text kept in results */
#define SMTP_ADDR_MAX 254         /* RFC 5321 path limit minus the <> */
#define SMTP_RCPTS_MAX 1000       /* recipients per message */
#define SMTP_LINE_MAX 998         /* RFC 5322 2.1.1 line limit (no CRLF) */

/* --- addresses ---------------------------------------------------------- */

/* Check an envelope address (the part between < and >): 1..254 octets,
 * local@domain with both parts non-empty, no control byte (CR, LF, NUL
 * included), no space, '<' or '>', valid UTF-8. allow_empty accepts "" (the
 * null reverse-path <>). *utf8 (may be NULL) is set when the address has
 * non-ASCII octets and so needs SMTPUTF8. Fails with TERN_EDATA naming the
 * problem (the address itself is printed sanitised by the caller). */
enum tern_rc smtp_addr_check(const char *addr, bool allow_empty, bool *utf8, struct tern_err *err);

/* --- replies ------------------------------------------------------------ */

struct smtp_reply {
    int code;         /* 200..599, 0 until the first line was fed */
    char enh[16];     /* enhanced status code "5.1.1" when present, else "" */
    struct tbuf text; /* lines joined with "\n" (no codes, no CRLF); owned */
    unsigned nlines;
    bool done; /* the last line ("DDD " or "DDD") was fed */
};

void smtp_reply_init(struct smtp_reply *r);
void smtp_reply_reset(struct smtp_reply *r);
void smtp_reply_free(struct smtp_reply *r);
/* Feed one line (with or without its CRLF). Checks: three digits 2-5/0-5/
 * 0-9, then ' ', '-' or the end; the same code on every line; no NUL; the
 * ceilings above. Violations are TERN_EPROTO. Feeding after done is an
 * error too. */
enum tern_rc smtp_reply_feed(struct smtp_reply *r, const char *line, size_t n,
                             struct tern_err *err);
/* Short single-line form of the text for messages: "550 5.1.1 User unknown"
 * with controls replaced by '?', at most size-1 bytes. */
void smtp_reply_summary(const struct smtp_reply *r, char *out, size_t size);

/* Capabilities from the EHLO reply (RFC 5321 4.1.1.1). */
enum smtp_cap {
    SMTP_CAP_PIPELINING = 1 << 0, /* RFC 2920 */
    SMTP_CAP_8BITMIME = 1 << 1,   /* RFC 6152 */
    SMTP_CAP_SMTPUTF8 = 1 << 2,   /* RFC 6531 */
    SMTP_CAP_SIZE = 1 << 3,       /* RFC 1870 */
    SMTP_CAP_ENHANCED = 1 << 4,   /* RFC 2034 */
    SMTP_CAP_STARTTLS = 1 << 5,
    SMTP_CAP_AUTH = 1 << 6,
    SMTP_CAP_DSN = 1 << 7,
};
struct smtp_caps {
    unsigned flags;    /* enum smtp_cap bits */
    uint64_t size_max; /* SIZE limit, 0: none announced */
};
/* Parse the connect-phase transcript that core/conn records (greeting,
 * EHLO replies, STARTTLS, AUTH). The capabilities are those of the LAST
 * EHLO reply (after STARTTLS the earlier ones are void, RFC 3207 4.2).
 * Unknown or malformed lines are ignored; never fails. */
void smtp_caps_parse(const char *transcript, size_t n, struct smtp_caps *caps);

/* --- DATA payload ------------------------------------------------------- */

/* Append the DATA payload for msg[0..n) to out: line ends made CRLF (a bare
 * LF or bare CR becomes CRLF), a final CRLF added if missing, every line
 * starting with '.' gets one more '.', then the ".\r\n" terminator. Fails
 * with TERN_EDATA on a NUL byte or a line longer than 998 octets (never
 * cut: the composer must encode such lines). *eightbit (may be NULL) is set
 * when any octet is >= 0x80. */
enum tern_rc smtp_data_encode(const char *msg, size_t n, struct tbuf *out, bool *eightbit,
                              struct tern_err *err);

/* --- sessions ----------------------------------------------------------- */

/* The byte stream a session talks over: core/conn in real use, a scripted
 * server in tests. read_line gets one line ending in LF (ceiling max,
 * longer is TERN_EPROTO). trace (may be NULL) shows one command line
 * (outgoing) or reply line in the --debug trace, without its CRLF; message
 * data is never traced. */
struct smtp_io {
    enum tern_rc (*send)(void *arg, const void *buf, size_t n, struct tern_err *err);
    enum tern_rc (*read_line)(void *arg, struct tbuf *line, size_t max, struct tern_err *err);
    void (*trace)(void *arg, bool outgoing, const char *line, size_t n);
    void *arg;
};

struct smtp_session;

/* Connect via core/conn (CONN_SMTP; p->proto is overridden) and read the
 * capabilities. Refuses to go on when the account has a user but the server
 * announced no AUTH after TLS (libcurl would silently skip the login). */
enum tern_rc smtp_open(const struct conn_params *p, struct smtp_session **out,
                       struct tern_err *err);
/* A session over any stream (tests, fuzzing): caps as parsed from the
 * transcript. io is copied; io->arg stays the caller's. */
enum tern_rc smtp_session_new(const struct smtp_io *io, const struct smtp_caps *caps,
                              struct smtp_session **out, struct tern_err *err);
/* Send QUIT unless already sent or the stream is broken (waits briefly for
 * the reply), close the stream, free. NULL-safe; sets *s to NULL. */
void smtp_close(struct smtp_session **s);
const struct smtp_caps *smtp_session_caps(const struct smtp_session *s);
/* With PIPELINING a message costs two round trips in a batch: [MAIL,
 * RCPT..., DATA] then [data]. `ahead` also sends the next message's
 * envelope right behind the data (one round trip per message), but a
 * server that writes its end-of-data reply and the envelope replies
 * separately without TCP_NODELAY (Postfix does) then stalls on the
 * client's delayed ACK (~40 ms on Linux), which costs more than the round
 * trip saved unless the stream sends quick ACKs. Off by default. */
void smtp_session_pipeline_ahead(struct smtp_session *s, bool on);

/* One message to submit. Borrowed from the caller. */
struct smtp_message {
    const char *from;         /* envelope sender; "" for <> */
    const char *const *rcpts; /* envelope recipients */
    size_t nrcpts;            /* 1..SMTP_RCPTS_MAX */
    const char *data;         /* RFC 5322 message as transmitted (Bcc
                               * already removed); line ends may be LF or
                               * CRLF; not dot-stuffed */
    size_t len;
};

struct smtp_rcpt_result {
    int code;                 /* reply to RCPT; 0: not attempted */
    char text[SMTP_TEXT_MAX]; /* summary of that reply */
};

/* What happened to one message. */
struct smtp_result {
    /* TERN_OK: the server took responsibility (250 to the end of DATA) for
     * `accepted` recipients; the others have their own codes in rcpt[].
     * TERN_ETEMP: temporary (4xx, 421, connection lost or timed out before
     * the final reply) — retry later. TERN_EREFUSED: permanent (5xx).
     * TERN_ENOTSUP: the server lacks what the message needs (8BITMIME,
     * SMTPUTF8, SIZE limit). TERN_EDATA: the message or an address is bad
     * (nothing was sent for it). Other codes: the session failed. */
    enum tern_rc rc;
    int code;                      /* the deciding reply (250 on success), 0: none */
    char text[SMTP_TEXT_MAX];      /* "MAIL FROM: 550 ..." / "RCPT ..." / reason */
    struct smtp_rcpt_result *rcpt; /* nrcpts entries (owned by the session,
                                    * valid during the done callback); NULL
                                    * when the message was never started */
    size_t nrcpts;
    size_t accepted;    /* recipients with a 2xx RCPT reply */
    size_t temp_failed; /* with a 4xx RCPT reply */
    size_t perm_failed; /* with a 5xx RCPT reply */
    bool unknown;       /* the message may have been delivered: the
                         * end of DATA was sent but no reply came */
};

/* A batch of messages on one connection. load and done are called in
 * message order, each exactly once per message (load is not called for
 * messages after a session failure; done still is, with m NULL). At most
 * two messages are loaded at a time: message i+1 may be loaded before
 * done(i) (its envelope is pipelined behind message i's data), so what
 * load returns must stay valid until its own done. */
struct smtp_batch_ops {
    /* Fill *m for message i; a failure skips the message (done gets it). */
    enum tern_rc (*load)(void *arg, size_t i, struct smtp_message *m, struct tern_err *err);
    /* The fate of message i is known. Called before any further reply is
     * read, so durable bookkeeping here ("sent") happens as early as it
     * can. A non-OK return stops the batch: later messages get done with
     * TERN_ECANCELED and the session is closed. */
    enum tern_rc (*done)(void *arg, size_t i, const struct smtp_message *m,
                         const struct smtp_result *r);
    void *arg;
};

/* Submit n messages. Returns TERN_OK when the session lasted to the end
 * (individual messages may still have failed: see done), else the session
 * failure (also set in err; every message not finished got done with a
 * temporary failure). quit: send QUIT pipelined behind the last message
 * (the session can then only be closed). */
enum tern_rc smtp_send_batch(struct smtp_session *s, size_t n, const struct smtp_batch_ops *ops,
                             bool quit, struct tern_err *err);

#endif
