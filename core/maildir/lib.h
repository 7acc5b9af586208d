/*
 * core/maildir — durable Maildir delivery and read access to the messages
 * of a local Maildir (POP3 accounts keep their mail here).
 * Owner: the local-store engineer (core/maildir, core/index, `tern list`).
 *
 *   maildir.c   open/create (tmp, new, cur at 0700), Maildir++ sub-folders
 *               (".Sent"), flush (fsync of new/ or syncfs)
 *   deliver.c   streaming delivery: unique tmp/ name, write chunks, fsync,
 *               rename into new/ (in one step, or finish + publish);
 *               abort unlinks the tmp file
 *   maildir.c   also: removing stale tmp/ files (maildir_clean_tmp)
 *   message.c   find/open a message by name (new/ or cur/, with or without
 *               a ":2,FLAGS" suffix), flag changes (rename new -> cur),
 *               remove, scan
 *
 * Ownership: the caller owns what it passes in and the callee keeps nothing
 * after it returns, unless a comment says otherwise. Strings returned
 * through `char **` are new and the caller frees them with free().
 *
 * File names: a delivered message gets the base name
 *     <seconds>.<pid>_<16 hex random digits>.<host>
 * (random from getrandom(); the host name with '/' and ':' replaced by
 * "\057" and "\072" as the Maildir convention asks). Nothing a server sends
 * ever becomes part of a file name. After a flag change the file lives in
 * cur/ as "<base>:2,<FLAGS>" (flag letters in ASCII order). Functions that
 * take a `name` accept the base name, the name with a ":2,..." suffix, or a
 * path ending in either (only the part after the last '/' is used), and
 * reject names with '/' left, "." / "..", control bytes or an empty base.
 *
 * Durability — what is on stable storage when (see
 * /work/shared/notes/durable-writes.md). A message counts as durable once
 * its data and its directory entry in new/ survive a crash.
 *
 *   MAILDIR_SYNC_EACH          commit = write out, fsync(file), rename into
 *                              new/, fsync(new/). Durable when commit
 *                              returns TERN_OK. maildir_flush is a no-op.
 *   MAILDIR_SYNC_BATCH_FSYNC   commit = fsync(file), rename into new/. The
 *                              data is durable at commit, the directory
 *                              entry only after maildir_flush (one fsync
 *                              of new/ for the whole batch).
 *   MAILDIR_SYNC_BATCH_SYNCFS  commit = rename into new/ with no fsync.
 *                              Nothing of the batch is durable until
 *                              maildir_flush returns TERN_OK: it calls
 *                              syncfs() on the Maildir's file system (all
 *                              data and metadata there, including other
 *                              programs' dirty pages — cheap per message
 *                              for many messages, see the note's table).
 *
 * In both batch modes a crash before maildir_flush may leave a committed
 * message missing, or present in new/ but empty or truncated. Therefore a
 * POP3 fetch in batch mode must, per batch:
 *   1. deliver and commit the batch's messages (core/pop3 finishes them in
 *      tmp/, makes its journal naming them durable, then publishes them,
 *      so a power cut never leaves a file in new/ its journal misses);
 *   2. maildir_flush()  — the batch is now durable;
 *   3. commit the index transaction that records their messages and UIDLs
 *      (the index runs with synchronous=FULL, so COMMIT is durable);
 *   4. only then send DELE for them.
 * Recording the UIDL before step 2 risks marking a message "downloaded"
 * whose file a crash then empties. With MAILDIR_SYNC_EACH, steps 1-2 are
 * one per message. Flag changes (maildir_set_flags) and removals fsync the
 * directories they touch in MAILDIR_SYNC_EACH mode and are covered by
 * maildir_flush (which then syncs cur/ too) in the batch modes.
 */
#ifndef TERN_MAILDIR_LIB_H
#define TERN_MAILDIR_LIB_H

#include "core/base/lib.h"

#include <stdint.h>

struct maildir;          /* an open Maildir */
struct maildir_delivery; /* one message being delivered */

enum maildir_sync {
    MAILDIR_SYNC_EACH,
    MAILDIR_SYNC_BATCH_FSYNC,
    MAILDIR_SYNC_BATCH_SYNCFS,
};

/* Flag bits. The values are the same as core/index's INDEX_FLAG_* so a
 * caller may pass index flags straight through. Letters per the Maildir
 * spec: S seen, R replied (answered), F flagged, T trashed (deleted),
 * D draft, P passed (forwarded). */
enum maildir_flag {
    MAILDIR_FLAG_SEEN = 1 << 0,     /* S */
    MAILDIR_FLAG_ANSWERED = 1 << 1, /* R */
    MAILDIR_FLAG_FLAGGED = 1 << 2,  /* F */
    MAILDIR_FLAG_DELETED = 1 << 3,  /* T */
    MAILDIR_FLAG_DRAFT = 1 << 4,    /* D */
    MAILDIR_FLAG_PASSED = 1 << 5,   /* P */
};

/* Open the Maildir at `path`, creating it and its tmp/ new/ cur/ (mode
 * 0700) when missing (the parent directories of `path` are created too).
 * Fails with TERN_EIO when path exists but is not a directory. */
enum tern_rc maildir_open(const char *path, enum maildir_sync mode, struct maildir **out,
                          struct tern_err *err);
/* Close; does NOT flush (call maildir_flush first when a batch is open).
 * NULL-safe; sets *md to NULL. Any delivery still open must be finished
 * first. */
void maildir_close(struct maildir **md);
/* The Maildir's directory (borrowed, valid until close). */
const char *maildir_path(const struct maildir *md);

/* Open (creating when missing, 0700) the Maildir++ sub-folder ".NAME" of
 * md — e.g. "Sent" gives <md>/.Sent with tmp/ new/ cur/ and the empty
 * "maildirfolder" marker file. NAME is UTF-8 without '/', not starting
 * with '.', no control bytes. The sub-Maildir is independent: close it
 * with maildir_close. Same sync mode as md. */
enum tern_rc maildir_open_sub(struct maildir *md, const char *name, struct maildir **out,
                              struct tern_err *err);

/* Streaming delivery. begin creates tmp/<unique> (O_EXCL, 0600); write
 * appends a chunk (any size, any split); commit makes the message visible
 * in new/ per the sync mode and gives its base name in *name (caller
 * frees; may be NULL if the caller does not want it); abort unlinks the
 * tmp file. commit and abort always free *d and set it to NULL — after a
 * failed commit nothing is left in tmp/ or new/. A failed write leaves the
 * delivery open: the caller must still abort it.
 * flags: MAILDIR_DELIVER_LF turns CRLF line ends into LF (a CR at a chunk
 * end is held back until the next chunk); without it bytes are stored as
 * given. */
enum { MAILDIR_DELIVER_LF = 1 << 0 };
enum tern_rc maildir_delivery_begin(struct maildir *md, unsigned flags, struct maildir_delivery **d,
                                    struct tern_err *err);
enum tern_rc maildir_delivery_write(struct maildir_delivery *d, const void *p, size_t n,
                                    struct tern_err *err);
/* Bytes stored so far (after any CRLF conversion). */
uint64_t maildir_delivery_size(const struct maildir_delivery *d);
enum tern_rc maildir_delivery_commit(struct maildir_delivery **d, char **name,
                                     struct tern_err *err);
void maildir_delivery_abort(struct maildir_delivery **d); /* NULL-safe */

/* Two-step commit, for a caller that must write something between a
 * message being complete and it appearing in new/ (core/pop3 makes its
 * journal durable first). finish: flush the data (fsync per the sync
 * mode, as commit does) and close; the file stays in tmp/ under the base
 * name given in *name (caller frees); always frees *d. publish: rename
 * tmp/NAME into new/ (never replacing a file), with commit's durability.
 * discard: unlink tmp/NAME (a finished delivery that will not be
 * published). commit is finish + publish. */
enum tern_rc maildir_delivery_finish(struct maildir_delivery **d, char **name,
                                     struct tern_err *err);
enum tern_rc maildir_publish(struct maildir *md, const char *name, struct tern_err *err);
void maildir_discard(struct maildir *md, const char *name);

/* Remove stale files from tmp/: regular files that nobody read or wrote
 * for MAILDIR_TMP_STALE_S (the Maildir spec's 36 hours, whoever wrote
 * them), and files named the way this module names deliveries, with this
 * host's name, owned by this user, whose pid (in the name) no longer runs
 * and is not ours — a delivery cut off by a crash or kill -9. Other
 * programs' recent files are never touched. Call it when no other
 * delivery of this process is open on md (core/pop3: at the start of a
 * fetch, under the account lock). *removed says how many went. */
#define MAILDIR_TMP_STALE_S (36 * 3600)
enum tern_rc maildir_clean_tmp(struct maildir *md, unsigned *removed, struct tern_err *err);

/* Make every message committed (and every flag change or removal made)
 * since the last flush durable, per the sync mode (see the top comment).
 * Cheap no-op in MAILDIR_SYNC_EACH mode. */
enum tern_rc maildir_flush(struct maildir *md, struct tern_err *err);

/* fsync new/ and cur/ whatever the mode and whatever this handle did:
 * for files another (crashed) process put there. */
enum tern_rc maildir_sync_dirs(struct maildir *md, struct tern_err *err);

/* Where the message `name` is now: "new/BASE" or "cur/BASE:2,FLAGS" in
 * *relpath (caller frees; may be NULL). TERN_ENOTFOUND when absent. */
enum tern_rc maildir_find(struct maildir *md, const char *name, char **relpath,
                          struct tern_err *err);
/* Open the message read-only: *fd (caller closes) and, when relpath is
 * not NULL, where it was found. */
enum tern_rc maildir_open_msg(struct maildir *md, const char *name, int *fd, char **relpath,
                              struct tern_err *err);
/* Set the message's flags to exactly `flags` (MAILDIR_FLAG_* bits; unknown
 * letters already in the name are kept): the file moves to
 * cur/BASE:2,LETTERS. A message in new/ moves to cur/ even when flags is 0
 * (it has been seen by a client). *relpath gets the new location (caller
 * frees; may be NULL). */
enum tern_rc maildir_set_flags(struct maildir *md, const char *name, unsigned flags, char **relpath,
                               struct tern_err *err);
/* Delete the message file. TERN_ENOTFOUND when absent. */
enum tern_rc maildir_remove(struct maildir *md, const char *name, struct tern_err *err);

/* Flags encoded in a name's ":2,..." suffix (0 when none). */
unsigned maildir_flags_of(const char *name);
/* Write the letters for `flags` in ASCII order into out (NUL-terminated,
 * at most 6 letters). */
void maildir_flags_letters(unsigned flags, char out[8]);

/* Call fn for every message in new/ and cur/ (skipping dot files); relpath
 * is "new/NAME" or "cur/NAME", borrowed for the call. A non-zero return
 * from fn stops the scan (maildir_scan then returns TERN_ECANCELED). */
typedef int maildir_scan_fn(void *arg, const char *relpath);
enum tern_rc maildir_scan(struct maildir *md, maildir_scan_fn *fn, void *arg, struct tern_err *err);

#endif
