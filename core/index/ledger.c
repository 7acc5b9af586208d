/* The POP3 UIDL ledger and the offline change queue. */
#include "lib.h"
#include "private.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* RFC 1939 allows 70 bytes; anything far beyond is a hostile server. */
#define INDEX_UIDL_MAX 512

static enum tern_rc check_uidl(const char *uidl, size_t n, struct tern_err *err)
{
    if (!uidl || n == 0 || n > INDEX_UIDL_MAX || memchr(uidl, '\0', n))
        return tern_fail(err, TERN_EDATA, "bad UIDL (empty, NUL or over %d bytes)", INDEX_UIDL_MAX);
    return TERN_OK;
}

void index_uidl_clear(struct index_uidl *u)
{
    if (!u)
        return;
    free(u->uidl);
    memset(u, 0, sizeof *u);
}

static void row_uidl(sqlite3_stmt *st, struct index_uidl *u)
{
    u->uidl = (char *)sqlite3_column_text(st, 0);
    u->msg_id = sqlite3_column_int64(st, 1); /* NULL reads as 0 */
    u->downloaded_at = sqlite3_column_int64(st, 2);
    u->deleted_at = sqlite3_column_int64(st, 3);
}

enum tern_rc index_uidl_get(struct index *ix, const char *uidl, size_t n, bool *found,
                            struct index_uidl *u, struct tern_err *err)
{
    *found = false;
    if (u)
        memset(u, 0, sizeof *u);
    enum tern_rc rc = check_uidl(uidl, n, err);
    sqlite3_stmt *st;
    if (rc || (rc = index_stmt(ix, ST_UIDL_GET, &st, err)))
        return rc;
    sqlite3_bind_text(st, 1, uidl, (int)n, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        *found = true;
        if (u) {
            row_uidl(st, u);
            if (!(u->uidl = tern_strdup(u->uidl)))
                rc = tern_fail(err, TERN_ENOMEM, "out of memory");
        }
    } else if (src != SQLITE_DONE) {
        rc = index_sqlerr(ix, src, "uidl lookup", err);
    }
    index_done(st);
    return rc;
}

enum tern_rc index_uidl_record(struct index *ix, const char *uidl, size_t n, int64_t msg_id,
                               int64_t downloaded_at, struct tern_err *err)
{
    enum tern_rc rc = check_uidl(uidl, n, err);
    sqlite3_stmt *st;
    if (rc || (rc = index_stmt(ix, ST_UIDL_RECORD, &st, err)))
        return rc;
    sqlite3_bind_text(st, 1, uidl, (int)n, SQLITE_TRANSIENT);
    if (msg_id)
        sqlite3_bind_int64(st, 2, msg_id);
    else
        sqlite3_bind_null(st, 2);
    sqlite3_bind_int64(st, 3, downloaded_at);
    int src = sqlite3_step(st);
    if (src == SQLITE_CONSTRAINT_FOREIGNKEY)
        rc = tern_fail(err, TERN_ENOTFOUND, "index uidl: no such message");
    else if (src != SQLITE_DONE)
        rc = index_sqlerr(ix, src, "uidl record", err);
    index_done(st);
    return rc;
}

enum tern_rc index_uidl_mark_deleted(struct index *ix, const char *uidl, size_t n, int64_t when,
                                     struct tern_err *err)
{
    enum tern_rc rc = check_uidl(uidl, n, err);
    sqlite3_stmt *st;
    if (rc || (rc = index_stmt(ix, ST_UIDL_MARK_DELETED, &st, err)))
        return rc;
    sqlite3_bind_text(st, 1, uidl, (int)n, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, when);
    int src = sqlite3_step(st);
    if (src != SQLITE_DONE)
        rc = index_sqlerr(ix, src, "uidl delete mark", err);
    else if (sqlite3_changes(ix->db) == 0)
        rc = tern_fail(err, TERN_ENOTFOUND, "UIDL not in the ledger");
    index_done(st);
    return rc;
}

enum tern_rc index_uidl_list(struct index *ix, index_uidl_fn *fn, void *arg, struct tern_err *err)
{
    sqlite3_stmt *st;
    enum tern_rc rc = index_stmt(ix, ST_UIDL_LIST, &st, err);
    if (rc)
        return rc;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        struct index_uidl u;
        row_uidl(st, &u);
        if (fn(arg, &u)) {
            rc = tern_fail(err, TERN_ECANCELED, "uidl list stopped");
            break;
        }
    }
    if (!rc && src != SQLITE_DONE)
        rc = index_sqlerr(ix, src, "uidl list", err);
    index_done(st);
    return rc;
}

enum tern_rc index_uidl_forget(struct index *ix, const char *uidl, size_t n, struct tern_err *err)
{
    enum tern_rc rc = check_uidl(uidl, n, err);
    sqlite3_stmt *st;
    if (rc || (rc = index_stmt(ix, ST_UIDL_FORGET, &st, err)))
        return rc;
    sqlite3_bind_text(st, 1, uidl, (int)n, SQLITE_TRANSIENT);
    return index_exec_stmt(ix, st, "uidl forget", err);
}

enum tern_rc index_pending_add(struct index *ix, int64_t msg_id, enum index_op op, const char *arg,
                               int64_t *id, struct tern_err *err)
{
    if (id)
        *id = 0;
    if (op < INDEX_OP_FLAG_ADD || op > INDEX_OP_DELETE)
        return tern_fail(err, TERN_EUSAGE, "bad pending operation");
    sqlite3_stmt *st;
    enum tern_rc rc = index_stmt(ix, ST_PENDING_ADD, &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, msg_id);
    sqlite3_bind_int(st, 2, (int)op);
    index_bind_text(st, 3, arg);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) {
        if (id)
            *id = sqlite3_last_insert_rowid(ix->db);
    } else if (src == SQLITE_CONSTRAINT_FOREIGNKEY) {
        rc = tern_fail(err, TERN_ENOTFOUND, "no such message");
    } else {
        rc = index_sqlerr(ix, src, "pending add", err);
    }
    index_done(st);
    return rc;
}

enum tern_rc index_pending_list(struct index *ix, index_pending_fn *fn, void *arg,
                                struct tern_err *err)
{
    sqlite3_stmt *st;
    enum tern_rc rc = index_stmt(ix, ST_PENDING_LIST, &st, err);
    if (rc)
        return rc;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        struct index_pending p = {
            .id = sqlite3_column_int64(st, 0),
            .msg_id = sqlite3_column_int64(st, 1),
            .op = (enum index_op)sqlite3_column_int(st, 2),
            .arg = (char *)sqlite3_column_text(st, 3),
            .created = sqlite3_column_int64(st, 4),
        };
        if (fn(arg, &p)) {
            rc = tern_fail(err, TERN_ECANCELED, "pending list stopped");
            break;
        }
    }
    if (!rc && src != SQLITE_DONE)
        rc = index_sqlerr(ix, src, "pending list", err);
    index_done(st);
    return rc;
}

enum tern_rc index_pending_remove(struct index *ix, int64_t id, struct tern_err *err)
{
    sqlite3_stmt *st;
    enum tern_rc rc = index_stmt(ix, ST_PENDING_REMOVE, &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    return index_exec_stmt(ix, st, "pending remove", err);
}
