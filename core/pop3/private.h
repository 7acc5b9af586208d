/* core/pop3 internals shared by session.c, sync.c and driver.c (and the
 * unit tests, which drive a session over a scripted transport). */
#ifndef TERN_POP3_PRIVATE_H
#define TERN_POP3_PRIVATE_H

#include "core/pop3/lib.h"

/* How a session moves bytes: a conn stream in real use, a script in tests.
 * recv hands out a borrowed slice (valid until the next recv) of at least
 * one byte; a closed connection is TERN_ECONN. */
struct pop3_transport {
    enum tern_rc (*send)(void *arg, const char *buf, size_t n, struct tern_err *err);
    enum tern_rc (*recv)(void *arg, const char **data, size_t *len, struct tern_err *err);
    void *arg;
};

/* Trace of commands and status lines (never message data). */
typedef void pop3_trace_fn(void *arg, bool outgoing, const char *line);

enum pop3_cmd_kind { POP3_CMD_CAPA, POP3_CMD_UIDL, POP3_CMD_RETR, POP3_CMD_DELE, POP3_CMD_QUIT };

struct pop3_cmd {
    enum pop3_cmd_kind kind;
    uint32_t msgno;
    size_t ref; /* caller's index (position in its message table) */
};

/* Ceiling on commands queued but not answered (pipelining window plus a
 * batch of DELEs). */
#define POP3_QUEUE_MAX 4096

struct pop3_sess {
    struct pop3_transport tr;
    struct pop3_parser parser;
    const char *in; /* unconsumed bytes of the last recv (borrowed) */
    size_t in_len;
    struct tbuf out;                   /* commands queued, not yet sent */
    struct pop3_cmd q[POP3_QUEUE_MAX]; /* ring of commands sent or queued */
    size_t qhead, qlen;
    unsigned caps;        /* POP3_CAP_* after CAPA */
    pop3_trace_fn *trace; /* may be NULL */
    void *trace_arg;
};

void pop3_sess_init(struct pop3_sess *s, const struct pop3_transport *tr, pop3_trace_fn *trace,
                    void *trace_arg);
void pop3_sess_free(struct pop3_sess *s);
/* Queue a command (sent by the next flush); EPROTO-free, fails only when
 * the queue is full (TERN_EINTERNAL) or out of memory. */
enum tern_rc pop3_sess_queue(struct pop3_sess *s, enum pop3_cmd_kind kind, uint32_t msgno,
                             size_t ref, struct tern_err *err);
enum tern_rc pop3_sess_flush(struct pop3_sess *s, struct tern_err *err);
/* Commands waiting for a response, and the oldest of them (NULL if none). */
size_t pop3_sess_outstanding(const struct pop3_sess *s);
const struct pop3_cmd *pop3_sess_head(const struct pop3_sess *s);
/* Read the response to the oldest command (flushing first), multi-line
 * data to sink in the given mode. On success *cmd is that command, and
 * *ok / s->parser.status tell +OK or -ERR. A -ERR is not a failure here. */
enum tern_rc pop3_sess_read(struct pop3_sess *s, enum pop3_data_mode mode, pop3_sink_fn *sink,
                            void *arg, struct pop3_cmd *cmd, bool *ok, struct tern_err *err);
/* CAPA round trip: fills s->caps; a -ERR leaves caps 0 (old server). */
enum tern_rc pop3_sess_capa(struct pop3_sess *s, struct tern_err *err);

/* ---- the driver's state (driver.c, sync.c) ---- */

struct maildir;

/* Tuning: RETRs in flight with PIPELINING, refilled in bursts once half
 * the window is answered (few large writes instead of one tiny packet per
 * message; measured on Dovecot: 10,000 messages took 4-17 s with a window
 * of 32 and 2-4 s with 1,000). The window's commands (< 16 KiB) always fit
 * the socket buffers, so the pipelined sends cannot deadlock against the
 * server's replies. Then when a batch of stored messages is made durable
 * (and its DELEs go out). */
#define POP3_WINDOW 1000
#define POP3_BURST 512
#define POP3_BATCH_MSGS 512
#define POP3_BATCH_BYTES (64u << 20)
#define POP3_BATCH_SECONDS 2
/* Downloads of more messages than this make batches durable with one
 * syncfs each; fewer fsync each file (see sync.c). */
#define POP3_SYNCFS_MIN 64
/* Header bytes kept per message for the index (the rest still streams to
 * the file). */
#define POP3_HEADER_MAX (256u << 10)
/* The batch journal in the account's data dir (see sync.c). */
#define POP3_JOURNAL_NAME "pop3.journal"
#define POP3_JOURNAL_MAX (1u << 20)

struct pop3_state {
    const struct acct_env *env; /* borrowed */
    struct conn *conn;          /* owned; NULL when a test transport is used */
    struct tbuf line;           /* the conn transport's current line */
    struct pop3_sess sess;
    bool sess_live;     /* session initialised, QUIT not yet sent */
    struct maildir *md; /* owned */
    unsigned md_mode;   /* enum maildir_sync it was opened with */
    int64_t folder_id;  /* the index folder "INBOX" */
    char *journal_path; /* owned */
    int journal_fd;
    int64_t now;     /* time of this sync (unix seconds) */
    unsigned window; /* RETRs in flight (1 without PIPELINING) */
    /* per-message problems that did not stop the sync: the first one's
     * text and code, and how many there were */
    struct tern_err msg_err;
    unsigned msg_errors;
};

/* sync.c */
enum tern_rc pop3_sync_run(struct pop3_state *s, struct acct_sync_stats *st, struct tern_err *err);
/* Adopt messages a crash left between rename and ledger commit. */
enum tern_rc pop3_journal_recover(struct pop3_state *s, uint64_t *adopted, struct tern_err *err);
/* Fingerprint of stored bytes, for recognising a message file after a
 * crash (not cryptographic: it tells apart the messages of one batch). */
struct pop3_fp {
    uint64_t h;
    uint64_t carry;
    unsigned ncarry;
};
void pop3_fp_init(struct pop3_fp *f);
void pop3_fp_update(struct pop3_fp *f, const void *p, size_t n);
uint64_t pop3_fp_final(const struct pop3_fp *f);

#endif
