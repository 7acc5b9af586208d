/* core/outbox internals shared by its files. */
#ifndef TERN_OUTBOX_PRIVATE_H
#define TERN_OUTBOX_PRIVATE_H

#include "lib.h"

/* The queue directory of one account. */
struct outbox_store {
    char *dir;   /* <data_dir>/outbox */
    int lock_fd; /* -1 until store_lock */
};

/* Open (with create: making the directories, 0700) the account's queue.
 * Without create, an absent queue is TERN_ENOTFOUND. */
enum tern_rc store_open(const struct tern_account *a, bool create, struct outbox_store **out,
                        struct tern_err *err);
void store_close(struct outbox_store **s);
/* Exclusive lock for a flush (not waiting): TERN_ELOCKED when taken. */
enum tern_rc store_lock(struct outbox_store *s, struct tern_err *err);

/* Metadata kept per entry (the public struct plus what only the flow
 * needs). */
struct store_meta {
    struct outbox_entry e; /* id, from, rcpts, attempts, times, error */
    bool sent;             /* the server took it for someone at least once */
};
void store_meta_free(struct store_meta *m);

/* Add a message: data to new/ID, then meta/ID; both durable when this
 * returns. m->e.id is set (a fresh unique ID). */
enum tern_rc store_add(struct outbox_store *s, const char *data, size_t len, struct store_meta *m,
                       struct tern_err *err);
/* Replace meta/ID durably. */
enum tern_rc store_write_meta(struct outbox_store *s, const struct store_meta *m,
                              struct tern_err *err);
enum tern_rc store_read_meta(struct outbox_store *s, const char *id, struct store_meta *m,
                             struct tern_err *err);
enum tern_rc store_read_msg(struct outbox_store *s, const char *id, struct tbuf *out,
                            struct tern_err *err);
/* Remove an entry: meta first (durable: the entry is gone), then the
 * message file. */
enum tern_rc store_remove(struct outbox_store *s, const char *id, struct tern_err *err);
/* Move an entry to failed/ (ID and ID.meta with m's error), durably. */
enum tern_rc store_fail(struct outbox_store *s, const struct store_meta *m, struct tern_err *err);
/* Put a message straight into failed/ (never queued). m->e.id is set. */
enum tern_rc store_add_failed(struct outbox_store *s, const char *data, size_t len,
                              struct store_meta *m, struct tern_err *err);
/* All entries (metadata only), oldest first. */
enum tern_rc store_scan(struct outbox_store *s, struct store_meta **out, size_t *n, size_t *orphans,
                        struct tern_err *err);
/* Path of a file inside the store ("failed/ID"); new string or NULL. */
char *store_path(const struct outbox_store *s, const char *sub, const char *id);

/* sent.c: the copies to Sent of one submit or flush run. IMAP accounts
 * use one connection for all of them, opened at the first copy; when it
 * cannot be opened (or breaks), the later copies of the run fail with
 * the same error at once instead of trying again. */
struct imap_appender;
struct sent_copier {
    const struct tern_account *a;
    const struct outbox_opts *o; /* trace; may be NULL */
    struct imap_appender *ap;
    struct tern_err down; /* why the connection is gone, once it is */
};
/* One copy (data with Bcc; date: when it was sent). TERN_OK when made or
 * when save_sent is off; returns only after the server's OK (IMAP) or the
 * fsync (Maildir). */
enum tern_rc sent_copy(struct sent_copier *c, const char *data, size_t len, time_t date,
                       struct tern_err *err);
void sent_copier_close(struct sent_copier *c); /* LOGOUT; c reusable */

#endif
