/*
 * core/outbox — submission as the rest of tern sees it: the durable queue
 * of messages waiting to be sent, and the one flow every sender uses
 * (`tern send`, `tern queue --flush`, the end of `tern fetch`): submit over
 * one SMTP connection, record "sent" durably right after the server's 250
 * to the end of DATA, copy to the Sent folder, queue what failed for a
 * while, keep what was refused in failed/.
 * Owner: the sending engineer (core/smtp, core/compose, core/outbox).
 *
 *   store.c   the queue on disk: <data_dir>/outbox/ with tmp/ (staging),
 *             new/ID (the message, Bcc kept), meta/ID (a small text file:
 *             state, envelope, attempts, next try, last error), failed/
 *             (ID and ID.meta), and a lock file; every change is write to
 *             tmp/ + fsync + rename + fsync of the directory
 *   submit.c  outbox_submit (fresh messages) and outbox_flush (the queue):
 *             SMTP batch, bookkeeping per message, backoff
 *   sent.c    the copy to Sent: POP3 accounts into the local Maildir's
 *             .Sent (core/maildir); IMAP accounts by APPEND (core/imap's
 *             appender: one connection per run, \Seen, the send time as
 *             internal date, Bcc kept) into sent_folder, else the folder
 *             marked \Sent, else "Sent" (created when missing)
 *
 * Guarantees. A message tern reported as queued is on stable storage. A
 * queued message is removed (or marked sent) only after the 250 to the end
 * of its DATA, and the "sent" mark is written and fsynced before the next
 * server reply is read, so a later flush never sends it again; the only
 * window for a duplicate is a crash between the server's 250 and that
 * fsync (SMTP cannot close it). A refused message is moved to failed/,
 * never deleted. A failed Sent copy never makes the send look failed: the
 * entry stays (state "sent") and a flush retries the copy only. A copy is
 * made only after the server's OK (APPEND) or fsync (Maildir), and for a
 * queue entry the "copied" mark is written and fsynced before the next
 * copy is tried, so a later flush never stores it twice; the only window
 * for a second copy is a crash between the APPEND's OK and that fsync.
 *
 * Ownership: the caller owns what it passes in; results are owned by the
 * caller and freed with the matching *_free.
 */
#ifndef TERN_OUTBOX_LIB_H
#define TERN_OUTBOX_LIB_H

#include "core/base/lib.h"
#include "core/config/lib.h"
#include "core/conn/lib.h"

#include <time.h>

#define OUTBOX_DIR "outbox"
#define OUTBOX_META_MAX 65536     /* one metadata file */
#define OUTBOX_ENTRIES_MAX 100000 /* entries looked at per scan */
#define OUTBOX_BACKOFF_FIRST 60   /* seconds after the first failed flush */
#define OUTBOX_BACKOFF_MAX (4 * 3600)
#define OUTBOX_GIVE_UP (5 * 86400) /* temporary failures for longer: failed/ */

enum outbox_state {
    OUTBOX_QUEUED, /* waiting to be submitted */
    OUTBOX_SENT,   /* submitted; the copy to Sent is still to be made */
};

/* One queue entry as listed. */
struct outbox_entry {
    char *id; /* owned; file name in new/ and meta/ */
    enum outbox_state state;
    char *from;   /* owned; envelope sender ("" for <>) */
    char **rcpts; /* owned; recipients still to send to */
    size_t nrcpts;
    unsigned attempts; /* submissions tried so far */
    time_t created;
    time_t next_try; /* not before (flush without force) */
    time_t last_try; /* 0: never */
    bool save_sent;  /* a copy to Sent is wanted after sending */
    char *error;     /* owned; last error, one line, or NULL */
    char *subject;   /* owned; decoded Subject for listings, or NULL */
    uint64_t size;   /* bytes of the message file */
};

struct outbox_list {
    struct outbox_entry *v; /* owned, oldest first */
    size_t n;
    size_t orphans; /* message files without metadata (ignored) */
};

/* The account's queue, oldest first; an absent outbox lists nothing.
 * Unreadable or malformed metadata files are skipped and counted in
 * orphans. */
enum tern_rc outbox_list(const struct tern_account *a, struct outbox_list *out,
                         struct tern_err *err);
void outbox_list_free(struct outbox_list *l); /* NULL-safe, leaves l empty */

/* How one message fared, for the caller to print. */
enum outbox_fate {
    OUTBOX_FATE_SENT,    /* accepted for every recipient */
    OUTBOX_FATE_PARTIAL, /* accepted for some; others refused or queued */
    OUTBOX_FATE_QUEUED,  /* not sent; in the outbox for a later flush */
    OUTBOX_FATE_FAILED,  /* not sent and not queued */
    OUTBOX_FATE_SKIPPED, /* flush: not due yet */
};

/* One message given to outbox_submit; the out fields are filled in. */
struct outbox_item {
    /* in (borrowed) */
    const char *data; /* canonical message with Bcc (compose) */
    size_t len;
    const char *from; /* envelope sender */
    const char *const *rcpts;
    size_t nrcpts;
    /* out */
    enum outbox_fate fate;
    enum tern_rc rc;   /* TERN_OK, or the failure that decides the
                        * exit code (ETEMP when queued) */
    char text[512];    /* one line: what happened */
    struct tbuf notes; /* more lines ('\n'-separated): refused
                        * recipients, Sent copy problems; owned,
                        * free with outbox_item_free */
    char queue_id[64]; /* set when (partly) queued or kept in failed/ */
};
void outbox_item_free(struct outbox_item *it); /* frees notes only */

/* What outbox_flush reports per entry. */
struct outbox_event {
    const struct outbox_entry *entry;
    enum outbox_fate fate;
    enum tern_rc rc;
    const char *text;  /* one line */
    const char *notes; /* more lines or "" */
};
typedef void outbox_report_fn(void *arg, const struct outbox_event *ev);

struct outbox_opts {
    bool queue;            /* submit: queue on temporary failure (not with --no-queue) */
    bool force;            /* flush: ignore next-try times */
    const char *ehlo_name; /* NULL: the account address's domain */
    conn_trace_fn *trace;  /* --debug */
    void *trace_arg;
    outbox_report_fn *report; /* flush: per entry; may be NULL */
    void *report_arg;
    time_t now; /* 0: time(NULL) (tests) */
    /* nonzero: the SMTP session's waits end with TERN_ECANCELED; submit
     * then queues the message (as for a lost connection). NULL: none */
    const volatile sig_atomic_t *cancel;
};

/*
 * Submit fresh messages (tern send, --batch, sendmail mode) for account a
 * over one connection. Per item: sent / queued (temporary failure with
 * o->queue) / failed; refused recipients are listed in notes; recipients
 * that failed temporarily while others got the message are queued alone.
 * A message the server refused for good is also kept in failed/ so its
 * text is not lost. Sent copies are made after the batch. Returns
 * TERN_OK when every item was handled (look at each item), or the session
 * failure when nothing could be done at all and nothing was queued (e.g.
 * TERN_EAUTH, TERN_ETLS, TERN_ENOTLS, TERN_ECONFIG; items then carry it).
 */
enum tern_rc outbox_submit(const struct tern_account *a, struct outbox_item *items, size_t n,
                           const struct outbox_opts *o, struct tern_err *err);

/* Counters of one flush. */
struct outbox_flush_stats {
    size_t sent, queued, failed, skipped, copies, copies_pending;
};

/*
 * Retry the account's queue: copies to Sent still pending, then every due
 * message (all with o->force) over one connection. Success removes the
 * entry (after the Sent copy) — the "sent" mark is durable before the next
 * server reply is read; a temporary failure counts an attempt and sets the
 * next try (1 min, doubling, at most 4 h; after 5 days the entry moves to
 * failed/); a permanent one moves it to failed/. Another flush running is
 * TERN_ELOCKED. An empty or absent outbox is TERN_OK without connecting
 * or running the password command. Returns the connection failure when
 * the server could not be reached (entries then counted as queued), else
 * TERN_OK; per-entry outcomes go to o->report and stats. A copy to Sent
 * that fails again is reported as OUTBOX_FATE_QUEUED with TERN_ETEMP (the
 * entry stays); one made is OUTBOX_FATE_SENT "copied to Sent".
 *
 * `tern fetch` calls this at its end for each account (o->force false).
 */
enum tern_rc outbox_flush(const struct tern_account *a, const struct outbox_opts *o,
                          struct outbox_flush_stats *stats, struct tern_err *err);

/* Remove entry `id` from the queue (tern queue --delete): the message is
 * moved to failed/ with the note "deleted by the user". */
enum tern_rc outbox_delete(const struct tern_account *a, const char *id, struct tern_err *err);

/* The copy to the Sent folder for one message (sent.c), on its own
 * connection (IMAP), dated now: TERN_OK when made or when save_sent is
 * off; failures as they come (TERN_ECONN, TERN_EAUTH, TERN_EREFUSED, ...). */
enum tern_rc outbox_save_sent(const struct tern_account *a, const char *data, size_t len,
                              struct tern_err *err);

#endif
