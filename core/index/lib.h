/*
 * core/index — the per-account message index: one SQLite database in WAL
 * mode at <data_dir>/index.sqlite, shared by POP3 and IMAP accounts.
 * Owner: the local-store engineer (core/maildir, core/index, `tern list`).
 *
 *   index.c     open/close, pragmas, the schema migration ladder
 *               (PRAGMA user_version), transactions, the statement cache
 *   folder.c    folders: get-or-create, get, update, list with counts
 *   message.c   messages: insert, upsert, get, flags, delete, per-folder
 *               UID lists, the list query behind `tern list`
 *   ledger.c    the POP3 UIDL ledger and the offline change queue
 *   headers.c   index_msg_from_headers (fills an index_msg through
 *               core/mime's header parser)
 *
 * Ownership: the caller owns what it passes in and the callee keeps nothing
 * after it returns, unless a comment says otherwise. Structs filled by a
 * get function own their strings: free with index_msg_clear /
 * index_folder_clear. Structs passed to a callback are borrowed and valid
 * only during the call.
 *
 * Server data: every string goes into SQL as a bound parameter, never into
 * SQL text. Strings are stored as given (the index does not sanitise);
 * whoever prints them passes them through core/charset safe_text.
 *
 * Durability: the database runs with journal_mode=WAL and
 * synchronous=FULL, so a successful index_commit (or any statement outside
 * an explicit transaction) is on stable storage when it returns — the POP3
 * layer relies on this: the UIDL ledger must be durable before DELE (see
 * core/maildir/lib.h for the full order). A transaction rolled back, or cut
 * short by a crash, leaves nothing behind.
 *
 * Concurrency: readers (tern list) run beside one writer (tern fetch);
 * a writer waits up to 5 s for another writer (busy timeout), then fails
 * with TERN_ELOCKED.
 *
 * Stable IDs: messages.id is INTEGER PRIMARY KEY AUTOINCREMENT — the ID
 * `tern list` prints and other commands take; never reused, even after the
 * message is deleted.
 *
 * Schema upgrades: PRAGMA user_version holds the schema version; open
 * migrates an older database step by step inside one transaction, never by
 * dropping data (an upgrade must never force a refetch). A database newer
 * than this tern is refused with TERN_EDATA.
 */
#ifndef TERN_INDEX_LIB_H
#define TERN_INDEX_LIB_H

#include "core/base/lib.h"

#include <stdint.h>

struct index;

/* The schema version this build writes. */
#define INDEX_SCHEMA_VERSION 1
/* File name inside the account's data dir. */
#define INDEX_FILE_NAME "index.sqlite"
/* A date that is not known (messages.date / internaldate are NULL). */
#define INDEX_NO_DATE INT64_MIN

/* messages.flags bits; the same values as core/maildir's MAILDIR_FLAG_*. */
enum index_flag {
    INDEX_FLAG_SEEN = 1 << 0,
    INDEX_FLAG_ANSWERED = 1 << 1,
    INDEX_FLAG_FLAGGED = 1 << 2,
    INDEX_FLAG_DELETED = 1 << 3,
    INDEX_FLAG_DRAFT = 1 << 4,
    INDEX_FLAG_FORWARDED = 1 << 5, /* $Forwarded / Maildir P */
};

enum index_special {
    INDEX_SPECIAL_NONE = 0,
    INDEX_SPECIAL_SENT,
    INDEX_SPECIAL_DRAFTS,
    INDEX_SPECIAL_TRASH,
    INDEX_SPECIAL_JUNK,
    INDEX_SPECIAL_ARCHIVE,
};

/* ------------------------------------------------------------------ open */

enum index_open_flags {
    /* Fail with TERN_ENOTFOUND instead of creating a missing database
     * (tern list: an account with no index yet lists nothing). */
    INDEX_OPEN_NOCREATE = 1 << 0,
};

/* Open (creating when missing, file mode 0600, and migrating) the database
 * file at `path`. Errors: TERN_ENOTFOUND (NOCREATE and absent), TERN_EDATA
 * (not a tern index, or a newer schema), TERN_EIO. */
enum tern_rc index_open(const char *path, unsigned flags, struct index **out, struct tern_err *err);
/* Same for <data_dir>/index.sqlite; without NOCREATE, data_dir is created
 * (0700, with parents) when missing. */
enum tern_rc index_open_dir(const char *data_dir, unsigned flags, struct index **out,
                            struct tern_err *err);
/* Close; an open transaction is rolled back. NULL-safe, sets *ix = NULL. */
void index_close(struct index **ix);

/* One explicit transaction at a time (BEGIN IMMEDIATE: the write lock is
 * taken at begin, so a sync fails early rather than half way). begin while
 * one is open fails with TERN_EINTERNAL. rollback is safe to call when
 * none is open. */
enum tern_rc index_begin(struct index *ix, struct tern_err *err);
enum tern_rc index_commit(struct index *ix, struct tern_err *err);
void index_rollback(struct index *ix);

/* --------------------------------------------------------------- folders */

struct index_folder {
    int64_t id;
    char *name;        /* UTF-8 display name ("INBOX", "Sent", "Work/2024") */
    char *remote_name; /* server's raw name (IMAP, modified UTF-7); NULL for local */
    char delim;        /* hierarchy delimiter, 0 when none (NIL) */
    enum index_special special_use;
    bool subscribed;
    uint32_t uidvalidity;   /* 0: unknown */
    uint32_t uidnext;       /* IMAP: server UIDNEXT; POP3: next local UID */
    uint64_t highestmodseq; /* 0: none (no CONDSTORE) */
    int64_t last_sync;      /* unix time, 0: never */
    /* Filled by index_folder_list and index_folder_get only: */
    uint64_t total;
    uint64_t unread;
};

void index_folder_clear(struct index_folder *f); /* frees strings, zeroes */

/* The id of the folder called `name`, creating it (with remote_name, which
 * may be NULL) when absent. */
enum tern_rc index_folder_get_or_create(struct index *ix, const char *name, const char *remote_name,
                                        int64_t *id, struct tern_err *err);
/* Look a folder up by id (name == NULL) or by name (id ignored). Fills *f
 * (owned; index_folder_clear) including counts. TERN_ENOTFOUND. */
enum tern_rc index_folder_get(struct index *ix, int64_t id, const char *name,
                              struct index_folder *f, struct tern_err *err);
/* Write every field of f except total/unread to the row f->id (rename
 * included). TERN_ENOTFOUND when the row is gone. */
enum tern_rc index_folder_update(struct index *ix, const struct index_folder *f,
                                 struct tern_err *err);
/* Delete the folder with its messages (their pending changes and ledger
 * links go too). */
enum tern_rc index_folder_delete(struct index *ix, int64_t id, struct tern_err *err);
/* Every folder, by name, with total/unread counts. f is borrowed. A
 * non-zero return from fn stops the walk (then TERN_ECANCELED). */
typedef int index_folder_fn(void *arg, const struct index_folder *f);
enum tern_rc index_folder_list(struct index *ix, index_folder_fn *fn, void *arg,
                               struct tern_err *err);
/* POP3 / local folders: hand out the next local UID (uidnext, then
 * increment it; starts at 1). Call inside the transaction that inserts
 * the message. */
enum tern_rc index_folder_alloc_uid(struct index *ix, int64_t folder_id, uint32_t *uid,
                                    struct tern_err *err);

/* -------------------------------------------------------------- messages */

struct index_msg {
    int64_t id; /* stable ID; set by insert/upsert */
    int64_t folder_id;
    uint32_t uid;         /* IMAP UID, or local UID (POP3) */
    unsigned flags;       /* INDEX_FLAG_* */
    char *keywords;       /* other IMAP keywords, space separated; NULL: none */
    int64_t date;         /* Date: header, unix time; INDEX_NO_DATE if unknown */
    int64_t internaldate; /* IMAP INTERNALDATE / download time; INDEX_NO_DATE */
    uint64_t size;        /* RFC822.SIZE / file size */
    char *from_name;      /* decoded UTF-8 display name, NULL if none */
    char *from_addr;      /* addr-spec */
    char *to_text;        /* decoded display text of To */
    char *cc_text;
    char *subject;    /* decoded UTF-8 */
    char *message_id; /* without angle brackets */
    char *in_reply_to;
    char *references; /* message IDs separated by single spaces */
    char *list_id;
    bool has_attachments;
    /* Local file of the raw message; NULL: not fetched. POP3: the Maildir
     * file as delivered; after a flag change it lives in cur/ with a
     * ":2,..." suffix, so open it with maildir_open_msg(), which accepts
     * the old path. IMAP: the body cache file. */
    char *body_path;
};

/* Zeroed with both dates INDEX_NO_DATE: start every index_msg with this. */
void index_msg_init(struct index_msg *m);
/* Free the strings of m and re-init it. */
void index_msg_clear(struct index_msg *m);

/* Insert a new message (m->id ignored, set on success). A second message
 * with the same (folder_id, uid) fails with TERN_EDATA. */
enum tern_rc index_msg_insert(struct index *ix, struct index_msg *m, struct tern_err *err);
/* Insert, or update the message with the same (folder_id, uid) keeping its
 * id; a NULL body_path keeps the stored one. Sets m->id. */
enum tern_rc index_msg_upsert(struct index *ix, struct index_msg *m, struct tern_err *err);
/* Fill *m (owned; index_msg_clear) with message `id`. TERN_ENOTFOUND. */
enum tern_rc index_msg_get(struct index *ix, int64_t id, struct index_msg *m, struct tern_err *err);
enum tern_rc index_msg_get_uid(struct index *ix, int64_t folder_id, uint32_t uid,
                               struct index_msg *m, struct tern_err *err);
/* Set flags (and keywords when keywords != NULL; "" clears them).
 * TERN_ENOTFOUND when no such message. */
enum tern_rc index_msg_set_flags(struct index *ix, int64_t id, unsigned flags, const char *keywords,
                                 struct tern_err *err);
enum tern_rc index_msg_set_body_path(struct index *ix, int64_t id, const char *path,
                                     struct tern_err *err);
/* Move to another folder under a new uid (IMAP MOVE with COPYUID, local
 * moves); the id stays. */
enum tern_rc index_msg_move(struct index *ix, int64_t id, int64_t folder_id, uint32_t uid,
                            struct tern_err *err);
/* Delete the row (and its pending changes; a ledger entry keeps its UIDL
 * with message id NULL). TERN_ENOTFOUND when absent. The body file is
 * the caller's business. An offline delete of IMAP mail should instead
 * set INDEX_FLAG_DELETED and queue INDEX_OP_DELETE, keeping the row until
 * the queue is replayed. */
enum tern_rc index_msg_delete(struct index *ix, int64_t id, struct tern_err *err);

/* A folder's messages by ascending uid, for IMAP flag sync and expunge
 * detection: id, uid, flags of each (fast: no strings). */
typedef int index_uid_fn(void *arg, int64_t id, uint32_t uid, unsigned flags);
enum tern_rc index_msg_uids(struct index *ix, int64_t folder_id, index_uid_fn *fn, void *arg,
                            struct tern_err *err);

/* The `tern list` query: newest first (date DESC, messages without a date
 * last, then id DESC). */
struct index_query {
    int64_t folder_id;  /* 0: all folders */
    uint64_t limit;     /* 0: no limit */
    bool unread_only;   /* without INDEX_FLAG_SEEN */
    const char *search; /* NULL or "": no filter; else a substring matched
                           case-insensitively (ASCII letters only) against
                           subject, from name, from address and To text;
                           %, _ and \ in it are literal */
};
/* Calls fn for each row, m borrowed (strings valid during the call only).
 * A non-zero return stops the walk and index_list returns TERN_OK. */
typedef int index_msg_fn(void *arg, const struct index_msg *m);
enum tern_rc index_list(struct index *ix, const struct index_query *q, index_msg_fn *fn, void *arg,
                        struct tern_err *err);

/* Fill the header fields of m (from, to, cc, subject, date, message_id,
 * in_reply_to, references, list_id, has_attachments) from a raw header
 * block (the bytes up to and including the blank line, CRLF or LF) using
 * core/mime's header parser; other fields of m are left alone. Strings it
 * replaces are freed. has_attachments is a header-only guess
 * (multipart/mixed, or a non-text top-level part). */
enum tern_rc index_msg_from_headers(const char *raw_header_block, size_t n, struct index_msg *m);

/* ------------------------------------------------------- POP3 UIDL ledger */

struct index_uidl {
    char *uidl;            /* raw server string (data only) */
    int64_t msg_id;        /* 0: no message (deleted locally, or never stored) */
    int64_t downloaded_at; /* unix time */
    int64_t deleted_at;    /* 0 until the DELE was committed by QUIT */
};
void index_uidl_clear(struct index_uidl *u);

/* Look up `uidl` (n bytes, may hold any byte except NUL). On success
 * *found says whether it is in the ledger and, when u != NULL and found,
 * *u is filled (owned; index_uidl_clear). */
enum tern_rc index_uidl_get(struct index *ix, const char *uidl, size_t n, bool *found,
                            struct index_uidl *u, struct tern_err *err);
/* Record a download: insert, or update msg_id/downloaded_at of an existing
 * entry (deleted_at reset to 0). msg_id 0 stores NULL. */
enum tern_rc index_uidl_record(struct index *ix, const char *uidl, size_t n, int64_t msg_id,
                               int64_t downloaded_at, struct tern_err *err);
/* Note that the server deleted it (call after QUIT answered +OK).
 * TERN_ENOTFOUND when not in the ledger. */
enum tern_rc index_uidl_mark_deleted(struct index *ix, const char *uidl, size_t n, int64_t when,
                                     struct tern_err *err);
/* Every entry by downloaded_at then uidl; u borrowed. Stops on non-zero. */
typedef int index_uidl_fn(void *arg, const struct index_uidl *u);
enum tern_rc index_uidl_list(struct index *ix, index_uidl_fn *fn, void *arg, struct tern_err *err);
/* Drop the entry (the server no longer lists it). Absent is not an error. */
enum tern_rc index_uidl_forget(struct index *ix, const char *uidl, size_t n, struct tern_err *err);

/* ---------------------------------------------------- offline change queue */

enum index_op {
    INDEX_OP_FLAG_ADD = 1, /* arg: flag bits as decimal, or a keyword */
    INDEX_OP_FLAG_DEL = 2,
    INDEX_OP_MOVE = 3,   /* arg: destination folder name */
    INDEX_OP_DELETE = 4, /* arg: NULL */
};

struct index_pending {
    int64_t id; /* queue order */
    int64_t msg_id;
    enum index_op op;
    char *arg;       /* NULL allowed */
    int64_t created; /* unix time */
};

/* Queue a change; *id (may be NULL) gets its queue id. created = now. */
enum tern_rc index_pending_add(struct index *ix, int64_t msg_id, enum index_op op, const char *arg,
                               int64_t *id, struct tern_err *err);
/* Queued changes in order (id ascending); p borrowed. Stops on non-zero. */
typedef int index_pending_fn(void *arg, const struct index_pending *p);
enum tern_rc index_pending_list(struct index *ix, index_pending_fn *fn, void *arg,
                                struct tern_err *err);
/* Remove one change (after the server applied it). Absent is not an error. */
enum tern_rc index_pending_remove(struct index *ix, int64_t id, struct tern_err *err);

#endif
