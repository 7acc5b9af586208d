/*
 * core/account — an account as the rest of tern sees it: a config section
 * plus the driver chosen by `incoming`, its local index and data dir.
 * cmd/ and ui/ call these functions and never branch on POP3 versus IMAP;
 * where a driver lacks an operation they test `caps`.
 * Owner: the POP3 engineer.
 *
 *   account.c  driver choice, open/close (data dir 0700, per-account lock,
 *              index, secret, driver), sync dispatch
 *   fetch.c    the `tern fetch` flow for one account (lock, sync, log)
 *   log.c      the per-account fetch log (appended, bounded by rotation)
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

#endif
