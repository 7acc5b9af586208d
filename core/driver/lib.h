/*
 * core/driver — the contract between the account layer and the incoming
 * mail drivers (core/pop3, core/imap). Header only: it sits below the
 * drivers so they implement it without depending on core/account, which
 * sits above them and picks one by `incoming`.
 */
#ifndef TERN_DRIVER_LIB_H
#define TERN_DRIVER_LIB_H

#include "core/base/lib.h"
#include "core/config/lib.h"
#include "core/conn/lib.h"

struct index; /* core/index */

enum acct_caps {
    ACCT_CAP_FOLDERS = 1 << 0,       /* more than one folder (IMAP) */
    ACCT_CAP_FLAGS_REMOTE = 1 << 1,  /* flags are kept on the server */
    ACCT_CAP_BODY_ON_DEMAND = 1 << 2, /* bodies fetched when opened */
    ACCT_CAP_DELETES_SERVER = 1 << 3, /* sync deletes from the server (POP3) */
    ACCT_CAP_MOVE = 1 << 4,
    ACCT_CAP_WAIT = 1 << 5, /* wait_changes: may wait for server pushes (IMAP
                             * IDLE; the server decides, see the slot) */
};

/* Counters a sync reports for the summary line and --json. */
struct acct_sync_stats {
    uint64_t new_messages;    /* stored / indexed for the first time */
    uint64_t deleted_server;  /* deleted from the server (POP3) */
    uint64_t flags_changed;
    uint64_t expunged;        /* removed from the index because the server removed them */
    uint64_t bytes;
};

/* Progress callback for long downloads (TTY progress bar); may be NULL.
 * done/total in messages; total 0 when unknown. */
typedef void acct_progress_fn(void *arg, uint64_t done, uint64_t total);

/* What a driver gets besides the account config. All borrowed. */
struct acct_env {
    const struct tern_account *cfg;
    struct index *index;          /* the account's open index */
    const char *secret;           /* password or token */
    conn_trace_fn *trace;
    void *trace_arg;
    acct_progress_fn *progress;
    void *progress_arg;
    bool fetch_bodies;            /* tern fetch --bodies */
    /* when it becomes nonzero, the driver's network waits end with
     * TERN_ECANCELED (within ~200 ms; conn_params.cancel); NULL: never */
    const volatile sig_atomic_t *cancel;
};

/* One wait for changes on the server (wait_changes). */
struct acct_wait {
    int64_t folder_id;   /* in: the index folder to watch */
    unsigned timeout_ms; /* in: return after this long at most (IDLE is then
                          * ended; the caller re-issues it) */
    /* in: also count as a change a folder whose UIDVALIDITY or UIDNEXT on
     * the server differs from the index's (mail that came before the wait
     * began) */
    bool compare;
    /* in: polled at least every 250 ms; nonzero ends the wait early and
     * cleanly (the connection stays usable). Borrowed; NULL: none */
    const volatile sig_atomic_t *wake;
    bool changed; /* out: the server reported a change in the folder */
};

/*
 * A driver. Slots may be NULL where caps says the driver lacks the
 * feature; callers check caps first. Every slot returns tern_rc and sets
 * err once. `state` is the driver's own object (owned by the driver,
 * created by open, freed by close).
 */
struct acct_driver {
    const char *name;
    unsigned caps;
    /* Connect and log in. pre: env fields valid for the lifetime of state. */
    enum tern_rc (*open)(const struct acct_env *env, void **state, struct tern_err *err);
    /* Bring the local index up to date with the server (POP3: download,
     * store durably, delete per the keep rules; IMAP: header sync of the
     * configured folders and replay of queued changes). */
    enum tern_rc (*sync)(void *state, struct acct_sync_stats *stats, struct tern_err *err);
    /* Make sure the body of index message `id` is available locally; on
     * success *path (caller frees) names a file holding the raw message.
     * NULL for drivers whose bodies are always local (POP3). */
    enum tern_rc (*fetch_body)(void *state, int64_t id, char **path, struct tern_err *err);
    /* Send the changes queued in the index (index_pending_add: flag
     * changes, moves, deletes) to the server now, without a full sync.
     * Callers queue first (and set the index's flags for the user to
     * see), then call push; when the server cannot be reached the queue
     * stays and the next sync replays it. A change the server refuses for
     * good (no such folder, ...) is dropped from the queue and reported in
     * err after the others were sent; a queued change for a message the
     * server expunged meanwhile is dropped silently. stats count what was
     * applied (flags_changed, expunged). NULL for drivers whose flags are
     * local only (POP3: callers just update the index and queue nothing;
     * caps lacks ACCT_CAP_FLAGS_REMOTE). */
    enum tern_rc (*push)(void *state, struct acct_sync_stats *stats, struct tern_err *err);
    /* Refresh the index's folder table from the server: names (UTF-8
     * display name and raw remote name), hierarchy delimiter, subscription,
     * special use. Folders gone from the server are deleted from the index
     * with their messages and cached bodies. NULL for single-folder
     * drivers (caps lacks ACCT_CAP_FOLDERS). */
    enum tern_rc (*list_folders)(void *state, struct tern_err *err);
    /* Hold the connection waiting for the server to report a change in
     * w->folder_id (IMAP: EXAMINE, IDLE ... DONE, RFC 2177), at most
     * w->timeout_ms, until *w->wake; w->changed tells whether a change
     * came (the caller then syncs). TERN_OK also on timeout and wake.
     * TERN_ENOTSUP when the server does not offer it (the caller polls
     * instead); TERN_ECONN/ETIMEOUT/EPROTO when the connection failed (it
     * is dropped; the next call reconnects). Reads only from the index.
     * NULL (and no ACCT_CAP_WAIT) for drivers that cannot wait (POP3). */
    enum tern_rc (*wait_changes)(void *state, struct acct_wait *w, struct tern_err *err);
    /* Send LOGOUT/QUIT (committing POP3 deletions) and free state. */
    enum tern_rc (*close)(void **state, struct tern_err *err);
};

#endif
