/* Folders. */
#include "lib.h"
#include "private.h"

#include <stdlib.h>
#include <string.h>

static const char *const special_names[] = {
    [INDEX_SPECIAL_NONE] = NULL,       [INDEX_SPECIAL_SENT] = "sent",
    [INDEX_SPECIAL_DRAFTS] = "drafts", [INDEX_SPECIAL_TRASH] = "trash",
    [INDEX_SPECIAL_JUNK] = "junk",     [INDEX_SPECIAL_ARCHIVE] = "archive",
};
#define NSPECIAL (sizeof special_names / sizeof special_names[0])

static enum index_special special_from(const unsigned char *s)
{
    if (s)
        for (size_t i = 1; i < NSPECIAL; i++)
            if (!strcmp((const char *)s, special_names[i]))
                return (enum index_special)i;
    return INDEX_SPECIAL_NONE;
}

void index_folder_clear(struct index_folder *f)
{
    if (!f)
        return;
    free(f->name);
    free(f->remote_name);
    memset(f, 0, sizeof *f);
}

/* Fill f from a row of the folder SELECTs; copy: duplicate the strings. */
static bool row_folder(sqlite3_stmt *st, struct index_folder *f, bool copy)
{
    const char *name = (const char *)sqlite3_column_text(st, 1);
    const char *remote = (const char *)sqlite3_column_text(st, 2);
    const unsigned char *delim = sqlite3_column_text(st, 3);
    memset(f, 0, sizeof *f);
    f->id = sqlite3_column_int64(st, 0);
    f->delim = delim ? (char)delim[0] : 0;
    f->special_use = special_from(sqlite3_column_text(st, 4));
    f->subscribed = sqlite3_column_int(st, 5) != 0;
    f->uidvalidity = (uint32_t)sqlite3_column_int64(st, 6);
    f->uidnext = (uint32_t)sqlite3_column_int64(st, 7);
    f->highestmodseq = (uint64_t)sqlite3_column_int64(st, 8);
    f->last_sync = sqlite3_column_int64(st, 9);
    f->total = (uint64_t)sqlite3_column_int64(st, 10);
    f->unread = (uint64_t)sqlite3_column_int64(st, 11);
    if (!copy) {
        f->name = (char *)name;
        f->remote_name = (char *)remote;
        return true;
    }
    f->name = tern_strdup(name ? name : "");
    f->remote_name = remote ? tern_strdup(remote) : NULL;
    return f->name && (!remote || f->remote_name);
}

enum tern_rc index_folder_get_or_create(struct index *ix, const char *name, const char *remote_name,
                                        int64_t *id, struct tern_err *err)
{
    *id = 0;
    if (!name || !*name)
        return tern_fail(err, TERN_EUSAGE, "empty folder name");
    sqlite3_stmt *st;
    enum tern_rc rc0 = index_stmt(ix, ST_FOLDER_BY_NAME, &st, err);
    if (rc0)
        return rc0;
    index_bind_text(st, 1, name);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    index_done(st);
    if (src == SQLITE_ROW)
        return TERN_OK;
    if (src != SQLITE_DONE)
        return index_sqlerr(ix, src, "folder lookup", err);
    if ((rc0 = index_stmt(ix, ST_FOLDER_INSERT, &st, err)))
        return rc0;
    index_bind_text(st, 1, name);
    index_bind_text(st, 2, remote_name);
    enum tern_rc rc = index_exec_stmt(ix, st, "folder insert", err);
    if (rc == TERN_OK)
        *id = sqlite3_last_insert_rowid(ix->db);
    return rc;
}

enum tern_rc index_folder_get(struct index *ix, int64_t id, const char *name,
                              struct index_folder *f, struct tern_err *err)
{
    memset(f, 0, sizeof *f);
    sqlite3_stmt *st;
    enum tern_rc rc0 = index_stmt(ix, name ? ST_FOLDER_GET_NAME : ST_FOLDER_GET_ID, &st, err);
    if (rc0)
        return rc0;
    if (name)
        index_bind_text(st, 1, name);
    else
        sqlite3_bind_int64(st, 1, id);
    int src = sqlite3_step(st);
    enum tern_rc rc = TERN_OK;
    if (src == SQLITE_ROW) {
        if (!row_folder(st, f, true)) {
            index_folder_clear(f);
            rc = tern_fail(err, TERN_ENOMEM, "out of memory");
        }
    } else if (src == SQLITE_DONE) {
        rc = tern_fail(err, TERN_ENOTFOUND, "no such folder");
    } else {
        rc = index_sqlerr(ix, src, "folder get", err);
    }
    index_done(st);
    return rc;
}

enum tern_rc index_folder_update(struct index *ix, const struct index_folder *f,
                                 struct tern_err *err)
{
    if (!f->name || !*f->name)
        return tern_fail(err, TERN_EUSAGE, "empty folder name");
    if ((size_t)f->special_use >= NSPECIAL)
        return tern_fail(err, TERN_EUSAGE, "bad special-use value");
    sqlite3_stmt *st;
    enum tern_rc rc0 = index_stmt(ix, ST_FOLDER_UPDATE, &st, err);
    if (rc0)
        return rc0;
    char delim[2] = {f->delim, 0};
    sqlite3_bind_int64(st, 1, f->id);
    index_bind_text(st, 2, f->name);
    index_bind_text(st, 3, f->remote_name);
    index_bind_text(st, 4, f->delim ? delim : NULL);
    index_bind_text(st, 5, special_names[f->special_use]);
    sqlite3_bind_int(st, 6, f->subscribed);
    sqlite3_bind_int64(st, 7, f->uidvalidity);
    sqlite3_bind_int64(st, 8, f->uidnext);
    /* modseqs are 63-bit (RFC 7162), so they fit SQLite's signed integer. */
    sqlite3_bind_int64(st, 9, (sqlite3_int64)f->highestmodseq);
    sqlite3_bind_int64(st, 10, f->last_sync);
    enum tern_rc rc = index_exec_stmt(ix, st, "folder update", err);
    if (rc == TERN_OK && sqlite3_changes(ix->db) == 0)
        rc = tern_fail(err, TERN_ENOTFOUND, "no such folder");
    return rc;
}

enum tern_rc index_folder_delete(struct index *ix, int64_t id, struct tern_err *err)
{
    sqlite3_stmt *st;
    enum tern_rc rc0 = index_stmt(ix, ST_FOLDER_DELETE, &st, err);
    if (rc0)
        return rc0;
    sqlite3_bind_int64(st, 1, id);
    enum tern_rc rc = index_exec_stmt(ix, st, "folder delete", err);
    if (rc == TERN_OK && sqlite3_changes(ix->db) == 0)
        rc = tern_fail(err, TERN_ENOTFOUND, "no such folder");
    return rc;
}

enum tern_rc index_folder_list(struct index *ix, index_folder_fn *fn, void *arg,
                               struct tern_err *err)
{
    sqlite3_stmt *st;
    enum tern_rc rc0 = index_stmt(ix, ST_FOLDER_LIST, &st, err);
    if (rc0)
        return rc0;
    enum tern_rc rc = TERN_OK;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        struct index_folder f;
        row_folder(st, &f, false);
        if (fn(arg, &f)) {
            rc = tern_fail(err, TERN_ECANCELED, "folder list stopped");
            break;
        }
    }
    if (!rc && src != SQLITE_DONE)
        rc = index_sqlerr(ix, src, "folder list", err);
    index_done(st);
    return rc;
}

enum tern_rc index_folder_alloc_uid(struct index *ix, int64_t folder_id, uint32_t *uid,
                                    struct tern_err *err)
{
    *uid = 0;
    sqlite3_stmt *st;
    enum tern_rc rc0 = index_stmt(ix, ST_FOLDER_ALLOC_UID, &st, err);
    if (rc0)
        return rc0;
    sqlite3_bind_int64(st, 1, folder_id);
    int src = sqlite3_step(st);
    int64_t v = src == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    /* Step to the end so the UPDATE completes before the reset. */
    if (src == SQLITE_ROW)
        src = sqlite3_step(st);
    enum tern_rc rc = TERN_OK;
    if (src != SQLITE_DONE)
        rc = index_sqlerr(ix, src, "uid allocation", err);
    else if (v == 0)
        rc = tern_fail(err, TERN_ENOTFOUND, "no such folder");
    else if (v > UINT32_MAX)
        rc = tern_fail(err, TERN_EDATA, "folder has run out of local UIDs");
    else
        *uid = (uint32_t)v;
    index_done(st);
    return rc;
}
