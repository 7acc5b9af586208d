/*
 * core/account — an account as the rest of tern sees it: a config section
 * plus the driver chosen by `incoming`, its local index and data dir.
 * cmd/ and ui/ call these functions and never branch on POP3 versus IMAP;
 * where a driver lacks an operation they test `caps`.
 * Owner: the POP3 engineer.
 *
 *   private.h  internals shared by the files here: the account lock
 *   account.c  driver choice, open/close (data dir 0700, per-account lock,
 *              index, secret, driver), sync dispatch
 *   fetch.c    the `tern fetch` flow for one account (lock, sync, log)
 *   log.c      the per-account fetch log (appended, bounded by rotation)
 *   message.c  one message by ID: locate, local file (fetching), flags
 *
 * Drivers (core/pop3, core/imap) each export one `const struct acct_driver`
 * from their own lib.h.
 *
 * The lock: flock(LOCK_EX|LOCK_NB) on <data_dir>/lock, held from open to
 * close. A second tern on the same account gets TERN_ELOCKED at once (it
 * never waits: cron runs must not pile up). The kernel drops the lock when
 * the process dies, so a killed fetch never leaves a stale lock.
 */
#ifndef TERN_ACCOUNT_LIB_H
#define TERN_ACCOUNT_LIB_H

#include "core/base/lib.h"
#include "core/config/lib.h"
#include "core/conn/lib.h"
#include "core/driver/lib.h"

/* Fetch log: <data_dir>/fetch.log, rotated to fetch.log.1 once it passes
 * ACCT_LOG_MAX bytes (so at most about twice that on disk). */
#define ACCT_LOG_NAME "fetch.log"
#define ACCT_LOG_MAX (256u << 10)
#define ACCT_LOCK_NAME "lock"

/* The driver for a config section: TERN_ENOTSUP (text in err) when this
 * build has no driver for its `incoming`. */
enum tern_rc acct_driver_for(const struct tern_account *cfg, const struct acct_driver **out,
                             struct tern_err *err);

/* Hooks for a session; all may be NULL. Borrowed for the account's life. */
struct acct_hooks {
    conn_trace_fn *trace; /* --debug */
    void *trace_arg;
    acct_progress_fn *progress;
    void *progress_arg;
    /* nonzero: the running network operation ends with TERN_ECANCELED
     * (acct_env.cancel); NULL: no cancel. Must outlive the account. */
    const volatile sig_atomic_t *cancel;
    bool fetch_bodies; /* tern fetch --bodies: also download the bodies (acct_env) */
};

struct account; /* an open account: lock held, index open, logged in */

/* Create the data dir (0700, with parents), take the lock, open the
 * index, get the secret (password_command) and let the driver connect
 * and log in. Errors: TERN_ELOCKED (another tern has the account),
 * TERN_ENOTSUP (no driver), TERN_EIO, TERN_ECONFIG, and whatever the
 * driver's open returns (TERN_EAUTH, TERN_ECONN, TERN_ETLS, ...). On
 * failure nothing stays open. cfg and hooks are borrowed until close. */
enum tern_rc account_open(const struct tern_account *cfg, const struct acct_hooks *hooks,
                          struct account **out, struct tern_err *err);
/* The driver's sync; stats are added to (caller zeroes them). */
enum tern_rc account_sync(struct account *a, struct acct_sync_stats *stats,
                          struct tern_err *err);
/* The account's driver and its caps (borrowed). */
const struct acct_driver *account_driver(const struct account *a);
/* Driver close (LOGOUT/QUIT), index close, secret wiped, lock released.
 * NULL-safe; sets *a to NULL; returns the driver's close result. */
enum tern_rc account_close(struct account **a, struct tern_err *err);

/* One `tern fetch` of one account: open, sync, close, and one line in
 * the fetch log (also for failures after the lock was taken). stats are
 * filled even on failure (what was done before it). */
enum tern_rc acct_fetch(const struct tern_account *cfg, const struct acct_hooks *hooks,
                        struct acct_sync_stats *stats, struct tern_err *err);

/* Append one line (a newline is added; CR/LF inside become spaces) with a
 * UTC timestamp to <data_dir>/fetch.log, rotating first when the log has
 * reached ACCT_LOG_MAX. The data dir must exist. */
enum tern_rc acct_log_append(const char *data_dir, const char *line, struct tern_err *err);

/* mkdir -p with mode 0700 for what it creates (existing dirs untouched). */
enum tern_rc acct_mkdir_p(const char *path, struct tern_err *err);


/* ------------------------------------------------------------------------
 * message.c — one message by ID, for `tern read ID`, `tern attachments ID`
 * and anything else that opens or flags messages (owner: the read/attach
 * engineer). An account opened "locally": lock and index at once, the
 * secret and the driver only when the server is needed (a body not yet
 * cached, or a flag change to send) — so a cached body or a POP3 account
 * is read with no password command and no network. The lock is the same
 * flock as account_open's and is not waited for (TERN_ELOCKED).
 * --------------------------------------------------------------------- */

struct tern_config;
struct index;
struct acct_local;

/* Which account holds message `id`, reading only the indexes (no lock, no
 * network). With `name`: that account (TERN_EUSAGE when no account has
 * that name). Without: the default account when its index has the ID,
 * else the one other account whose index has it. IDs are per account, so
 * when several others have it that is TERN_EUSAGE, err naming them.
 * TERN_ENOTFOUND (err naming the accounts searched) when none has it,
 * TERN_ECONFIG when no account is configured. *out is borrowed from cfg. */
enum tern_rc account_locate_message(const struct tern_config *cfg, const char *name, int64_t id,
                                    const struct tern_account **out, struct tern_err *err);

/* Create the data dir (0700), take the lock, open the index. Nothing is
 * run or connected yet. cfg and hooks are borrowed until close. Errors:
 * TERN_ELOCKED, TERN_ENOTSUP (no driver), TERN_ECONFIG, TERN_EIO. */
enum tern_rc acct_local_open(const struct tern_account *cfg, const struct acct_hooks *hooks,
                             struct acct_local **out, struct tern_err *err);
/* The open index and the driver (borrowed, valid until close). */
struct index *acct_local_index(struct acct_local *a);
const struct acct_driver *acct_local_driver(const struct acct_local *a);
/* Driver close (LOGOUT, if it ever logged in), index and Maildir closed,
 * secret wiped, lock released. NULL-safe; sets *a to NULL. */
void acct_local_close(struct acct_local **a);

/* A local file holding the raw message `id` (*path: caller frees). A body
 * already on disk (Maildir file, wherever its flags moved it; IMAP body
 * cache) is used as it is; otherwise the driver's fetch_body downloads it
 * (IMAP: BODY.PEEK[], which never sets \Seen) into the cache. Errors:
 * TERN_ENOTFOUND (no such ID; expunged on the server; Maildir file gone),
 * TERN_ECONN / TERN_ETIMEOUT (body not cached and the server unreachable),
 * and the driver's login errors. */
enum tern_rc account_message_file(struct acct_local *a, int64_t id, char **path,
                                  struct tern_err *err);

/* Add and remove INDEX_FLAG_* bits on messages. The index changes at once
 * (one transaction; an unknown ID fails it whole with TERN_ENOTFOUND).
 * Accounts with remote flags (caps ACCT_CAP_FLAGS_REMOTE: IMAP) queue each
 * real change in the index's pending queue and push the queue; when the
 * push fails the queue stays for the next sync, the call still returns
 * TERN_OK and `note` (may be NULL) gets why (TERN_ECONN, TERN_ETIMEOUT,
 * ...). Local-flag accounts with a Maildir (POP3) rename the message file
 * to its ":2,FLAGS" name (maildir_set_flags, durable) and record the new
 * path; nothing is queued. A message already carrying the flags costs
 * nothing (no queue, no connection). */
enum tern_rc account_set_flags(struct acct_local *a, const int64_t *ids, size_t n, unsigned add,
                               unsigned del, struct tern_err *note, struct tern_err *err);
/* account_set_flags(a, &id, 1, INDEX_FLAG_SEEN, 0, note, err): what
 * `tern read ID` does after showing the message. */
enum tern_rc account_mark_seen(struct acct_local *a, int64_t id, struct tern_err *note,
                               struct tern_err *err);

#endif
