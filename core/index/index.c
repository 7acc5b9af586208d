/* Opening the index, the schema ladder, transactions and the statement
 * cache. */
#include "lib.h"
#include "private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A writer waits this long for another writer before TERN_ELOCKED. */
#define INDEX_BUSY_TIMEOUT_MS 5000

/* Schema version 1. Dates are unix seconds (NULL: unknown); flags is the
 * INDEX_FLAG_* bitmask; special_use is a lower-case word. Foreign keys
 * cascade so deleting a folder or message never leaves dangling rows; the
 * UIDL ledger keeps its entry (message_id NULL) so a POP3 message deleted
 * locally is not downloaded again. */
static const char schema_v1[] =
    "PRAGMA application_id = 1952805486;\n" /* INDEX_APPLICATION_ID */
    "CREATE TABLE folders (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  name TEXT NOT NULL UNIQUE,\n"
    "  remote_name TEXT,\n"
    "  delim TEXT,\n"
    "  special_use TEXT,\n"
    "  subscribed INTEGER NOT NULL DEFAULT 1,\n"
    "  uidvalidity INTEGER NOT NULL DEFAULT 0,\n"
    "  uidnext INTEGER NOT NULL DEFAULT 0,\n"
    "  highestmodseq INTEGER NOT NULL DEFAULT 0,\n"
    "  last_sync INTEGER NOT NULL DEFAULT 0\n"
    ");\n"
    "CREATE TABLE messages (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,\n"
    "  uid INTEGER NOT NULL,\n"
    "  flags INTEGER NOT NULL DEFAULT 0,\n"
    "  keywords TEXT,\n"
    "  date INTEGER,\n"
    "  internaldate INTEGER,\n"
    "  size INTEGER NOT NULL DEFAULT 0,\n"
    "  from_name TEXT,\n"
    "  from_addr TEXT,\n"
    "  to_text TEXT,\n"
    "  cc_text TEXT,\n"
    "  subject TEXT,\n"
    "  message_id TEXT,\n"
    "  in_reply_to TEXT,\n"
    "  references_ TEXT,\n"
    "  list_id TEXT,\n"
    "  has_attachments INTEGER NOT NULL DEFAULT 0,\n"
    "  body_path TEXT,\n"
    "  UNIQUE (folder_id, uid)\n"
    ");\n"
    "CREATE INDEX messages_folder_date ON messages (folder_id, date DESC, id DESC);\n"
    "CREATE INDEX messages_date ON messages (date DESC, id DESC);\n"
    "CREATE INDEX messages_message_id ON messages (message_id);\n"
    /* Partial indexes of unread mail only: `list --unread` and the unread
     * counts stay instant when 3 of 50,000 messages are unread. */
    "CREATE INDEX messages_unread ON messages (date DESC, id DESC)"
    " WHERE (flags & 1) = 0;\n"
    "CREATE INDEX messages_folder_unread ON messages (folder_id, date DESC, id DESC)"
    " WHERE (flags & 1) = 0;\n"
    "CREATE TABLE pending (\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,\n"
    "  op INTEGER NOT NULL,\n"
    "  arg TEXT,\n"
    "  created INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX pending_message ON pending (message_id);\n"
    "CREATE TABLE pop3_uidl (\n"
    "  uidl TEXT PRIMARY KEY,\n"
    "  message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,\n"
    "  downloaded_at INTEGER NOT NULL,\n"
    "  deleted_at INTEGER\n"
    ");\n"
    "CREATE INDEX pop3_uidl_message ON pop3_uidl (message_id);\n";

/* Append a step for each schema change; never edit a released step. */
const struct index_migration index_migrations[] = {
    {1, schema_v1},
};
const size_t index_nmigrations = sizeof index_migrations / sizeof index_migrations[0];

_Static_assert(sizeof index_migrations / sizeof index_migrations[0] == INDEX_SCHEMA_VERSION,
               "one migration step per schema version");

static const char *const stmt_sql[ST_COUNT] = {
    [ST_FOLDER_BY_NAME] = "SELECT id FROM folders WHERE name = ?1",
    [ST_FOLDER_INSERT] = "INSERT INTO folders (name, remote_name) VALUES (?1, ?2)",
    [ST_FOLDER_GET_ID] =
        "SELECT f.id, f.name, f.remote_name, f.delim, f.special_use, f.subscribed,"
        " f.uidvalidity, f.uidnext, f.highestmodseq, f.last_sync,"
        " (SELECT count(*) FROM messages m WHERE m.folder_id = f.id),"
        " (SELECT count(*) FROM messages m WHERE m.folder_id = f.id AND (m.flags & 1) = 0)"
        " FROM folders f WHERE f.id = ?1",
    [ST_FOLDER_GET_NAME] =
        "SELECT f.id, f.name, f.remote_name, f.delim, f.special_use, f.subscribed,"
        " f.uidvalidity, f.uidnext, f.highestmodseq, f.last_sync,"
        " (SELECT count(*) FROM messages m WHERE m.folder_id = f.id),"
        " (SELECT count(*) FROM messages m WHERE m.folder_id = f.id AND (m.flags & 1) = 0)"
        " FROM folders f WHERE f.name = ?1",
    [ST_FOLDER_UPDATE] = "UPDATE folders SET name = ?2, remote_name = ?3, delim = ?4,"
                         " special_use = ?5, subscribed = ?6, uidvalidity = ?7, uidnext = ?8,"
                         " highestmodseq = ?9, last_sync = ?10 WHERE id = ?1",
    [ST_FOLDER_DELETE] = "DELETE FROM folders WHERE id = ?1",
    [ST_FOLDER_LIST] =
        "SELECT f.id, f.name, f.remote_name, f.delim, f.special_use, f.subscribed,"
        " f.uidvalidity, f.uidnext, f.highestmodseq, f.last_sync,"
        " (SELECT count(*) FROM messages m WHERE m.folder_id = f.id),"
        " (SELECT count(*) FROM messages m WHERE m.folder_id = f.id AND (m.flags & 1) = 0)"
        " FROM folders f ORDER BY f.name",
    [ST_FOLDER_ALLOC_UID] = "UPDATE folders SET uidnext = max(uidnext, 1) + 1 WHERE id = ?1"
                            " RETURNING uidnext - 1",
    [ST_MSG_INSERT] =
        "INSERT INTO messages (folder_id, uid, flags, keywords, date, internaldate, size,"
        " from_name, from_addr, to_text, cc_text, subject, message_id, in_reply_to,"
        " references_, list_id, has_attachments, body_path)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
        " ?17, ?18)",
    [ST_MSG_UPSERT] =
        "INSERT INTO messages (folder_id, uid, flags, keywords, date, internaldate, size,"
        " from_name, from_addr, to_text, cc_text, subject, message_id, in_reply_to,"
        " references_, list_id, has_attachments, body_path)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
        " ?17, ?18)"
        " ON CONFLICT (folder_id, uid) DO UPDATE SET flags = excluded.flags,"
        " keywords = excluded.keywords, date = excluded.date,"
        " internaldate = excluded.internaldate, size = excluded.size,"
        " from_name = excluded.from_name, from_addr = excluded.from_addr,"
        " to_text = excluded.to_text, cc_text = excluded.cc_text,"
        " subject = excluded.subject, message_id = excluded.message_id,"
        " in_reply_to = excluded.in_reply_to, references_ = excluded.references_,"
        " list_id = excluded.list_id, has_attachments = excluded.has_attachments,"
        " body_path = coalesce(excluded.body_path, body_path)"
        " RETURNING id",
    [ST_MSG_GET] = "SELECT " INDEX_MSG_COLS " FROM messages WHERE id = ?1",
    [ST_MSG_GET_UID] = "SELECT " INDEX_MSG_COLS " FROM messages WHERE folder_id = ?1 AND uid = ?2",
    [ST_MSG_SET_FLAGS] = "UPDATE messages SET flags = ?2 WHERE id = ?1",
    [ST_MSG_SET_FLAGS_KW] = "UPDATE messages SET flags = ?2, keywords = ?3 WHERE id = ?1",
    [ST_MSG_SET_BODY] = "UPDATE messages SET body_path = ?2 WHERE id = ?1",
    [ST_MSG_MOVE] = "UPDATE messages SET folder_id = ?2, uid = ?3 WHERE id = ?1",
    [ST_MSG_DELETE] = "DELETE FROM messages WHERE id = ?1",
    [ST_MSG_UIDS] = "SELECT id, uid, flags FROM messages WHERE folder_id = ?1 ORDER BY uid",
    [ST_UIDL_GET] = "SELECT uidl, message_id, downloaded_at, deleted_at FROM pop3_uidl"
                    " WHERE uidl = ?1",
    [ST_UIDL_RECORD] = "INSERT INTO pop3_uidl (uidl, message_id, downloaded_at, deleted_at)"
                       " VALUES (?1, ?2, ?3, NULL) ON CONFLICT (uidl) DO UPDATE SET"
                       " message_id = excluded.message_id,"
                       " downloaded_at = excluded.downloaded_at, deleted_at = NULL",
    [ST_UIDL_MARK_DELETED] = "UPDATE pop3_uidl SET deleted_at = ?2 WHERE uidl = ?1",
    [ST_UIDL_LIST] = "SELECT uidl, message_id, downloaded_at, deleted_at FROM pop3_uidl"
                     " ORDER BY downloaded_at, uidl",
    [ST_UIDL_FORGET] = "DELETE FROM pop3_uidl WHERE uidl = ?1",
    [ST_PENDING_ADD] = "INSERT INTO pending (message_id, op, arg, created)"
                       " VALUES (?1, ?2, ?3, ?4)",
    [ST_PENDING_LIST] = "SELECT id, message_id, op, arg, created FROM pending ORDER BY id",
    [ST_PENDING_REMOVE] = "DELETE FROM pending WHERE id = ?1",
};

enum tern_rc index_sqlerr(struct index *ix, int src, const char *what, struct tern_err *err)
{
    const char *msg = ix && ix->db ? sqlite3_errmsg(ix->db) : sqlite3_errstr(src);
    enum tern_rc rc;
    switch (src & 0xff) {
    case SQLITE_NOMEM:
        rc = TERN_ENOMEM;
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        rc = TERN_ELOCKED;
        break;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
        rc = TERN_EIO;
        break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
        rc = TERN_EDATA;
        break;
    default:
        rc = TERN_EINTERNAL;
    }
    return tern_fail(err, rc, "index %s: %s", what, msg);
}

enum tern_rc index_stmt(struct index *ix, enum index_stmt which, sqlite3_stmt **st,
                        struct tern_err *err)
{
    if (!ix->stmts[which]) {
        int src = sqlite3_prepare_v3(ix->db, stmt_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
                                     &ix->stmts[which], NULL);
        if (src != SQLITE_OK) {
            ix->stmts[which] = NULL;
            *st = NULL;
            return index_sqlerr(ix, src, "prepare", err);
        }
    }
    *st = ix->stmts[which];
    return TERN_OK;
}

void index_done(sqlite3_stmt *st)
{
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

enum tern_rc index_exec_stmt(struct index *ix, sqlite3_stmt *st, const char *what,
                             struct tern_err *err)
{
    int src = sqlite3_step(st);
    enum tern_rc rc = TERN_OK;
    if (src != SQLITE_DONE && src != SQLITE_ROW)
        rc = index_sqlerr(ix, src, what, err);
    index_done(st);
    return rc;
}

int index_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

int index_bind_date(sqlite3_stmt *st, int i, int64_t d)
{
    return d == INDEX_NO_DATE ? sqlite3_bind_null(st, i) : sqlite3_bind_int64(st, i, d);
}

static enum tern_rc exec_sql(sqlite3 *db, const char *sql, const char *what, struct tern_err *err)
{
    char *emsg = NULL;
    int src = sqlite3_exec(db, sql, NULL, NULL, &emsg);
    if (src == SQLITE_OK)
        return TERN_OK;
    struct index tmp = {.db = db};
    enum tern_rc rc = index_sqlerr(&tmp, src, what, err);
    sqlite3_free(emsg);
    return rc;
}

static bool pragma_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    bool ok =
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW;
    if (ok)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return ok;
}

enum tern_rc index_migrate(sqlite3 *db, const struct index_migration *steps, size_t nsteps,
                           struct tern_err *err)
{
    const int64_t target = nsteps ? steps[nsteps - 1].to_version : 0;
    int64_t version, appid, ntables;
    struct index tmp = {.db = db};
    if (!pragma_int(db, "PRAGMA user_version", &version))
        return index_sqlerr(&tmp, sqlite3_errcode(db), "open", err);
    if (version == target)
        return TERN_OK;
    /* Take the write lock, then look again: another tern may have
     * migrated while we waited. */
    enum tern_rc rc = exec_sql(db, "BEGIN IMMEDIATE", "migration", err);
    if (rc)
        return rc;
    if (!pragma_int(db, "PRAGMA user_version", &version) ||
        !pragma_int(db, "PRAGMA application_id", &appid) ||
        !pragma_int(db, "SELECT count(*) FROM sqlite_master", &ntables)) {
        rc = index_sqlerr(&tmp, sqlite3_errcode(db), "migration", err);
        goto fail;
    }
    if (version > target) {
        rc = tern_fail(err, TERN_EDATA,
                       "index schema version %lld is newer than this tern (%lld): upgrade tern",
                       (long long)version, (long long)target);
        goto fail;
    }
    if ((appid && appid != INDEX_APPLICATION_ID) || (version == 0 && ntables > 0)) {
        rc = tern_fail(err, TERN_EDATA, "not a tern index database");
        goto fail;
    }
    for (size_t i = 0; i < nsteps; i++) {
        if (steps[i].to_version <= version)
            continue;
        if ((rc = exec_sql(db, steps[i].sql, "migration", err)))
            goto fail;
    }
    char sql[64];
    if (!tern_snprintf(sql, sizeof sql, "PRAGMA user_version = %lld", (long long)target)) {
        rc = tern_fail(err, TERN_EINTERNAL, "migration");
        goto fail;
    }
    if ((rc = exec_sql(db, sql, "migration", err)) ||
        (rc = exec_sql(db, "COMMIT", "migration", err)))
        goto fail;
    return TERN_OK;
fail:
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

enum tern_rc index_open(const char *path, unsigned flags, struct index **out, struct tern_err *err)
{
    *out = NULL;
    if (!path || !*path)
        return tern_fail(err, TERN_EUSAGE, "empty index path");
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno != ENOENT)
            return tern_fail(err, TERN_EIO, "%s: %s", path, strerror(errno));
        if (flags & INDEX_OPEN_NOCREATE)
            return tern_fail(err, TERN_ENOTFOUND, "no index at %s", path);
        /* Create it ourselves so the mode is 0600 whatever the umask;
         * SQLite gives the -wal and -shm files the same mode. */
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            return tern_fail(err, TERN_EIO, "create %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
    } else if (!S_ISREG(st.st_mode)) {
        return tern_fail(err, TERN_EIO, "%s is not a file", path);
    }
    struct index *ix = calloc(1, sizeof *ix);
    if (!ix)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    ix->path = tern_strdup(path);
    if (!ix->path) {
        free(ix);
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    }
    enum tern_rc rc;
    int src = sqlite3_open_v2(path, &ix->db, SQLITE_OPEN_READWRITE, NULL);
    if (src != SQLITE_OK) {
        rc = index_sqlerr(ix, src, "open", err);
        goto fail;
    }
    sqlite3_extended_result_codes(ix->db, 1);
    sqlite3_busy_timeout(ix->db, INDEX_BUSY_TIMEOUT_MS);
    /* journal_mode is stored in the file; synchronous and foreign_keys
     * are per connection and must be set on every open. FULL makes every
     * COMMIT durable in WAL mode (NORMAL would not be: the POP3 ledger
     * must be on disk before DELE). A cold IMAP sync inserts tens of
     * thousands of rows into six indexes: statement journals in memory and
     * a 16 MiB page cache stop SQLite writing hundreds of MB of temp files
     * (IMAP bench: a cold 50,000-message sync then took 0.87-1.14 s
     * against a 0.57-0.70 s floor, at 32 MiB RSS). */
    if ((rc = exec_sql(ix->db,
                       "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;"
                       " PRAGMA journal_mode = WAL; PRAGMA temp_store = MEMORY;"
                       " PRAGMA cache_size = -16384;",
                       "open", err)))
        goto fail;
    int64_t appid = 0;
    if (!pragma_int(ix->db, "PRAGMA application_id", &appid)) {
        rc = index_sqlerr(ix, sqlite3_errcode(ix->db), "open", err);
        goto fail;
    }
    if (appid && appid != INDEX_APPLICATION_ID) {
        rc = tern_fail(err, TERN_EDATA, "%s is not a tern index database", path);
        goto fail;
    }
    if ((rc = index_migrate(ix->db, index_migrations, index_nmigrations, err)))
        goto fail;
    *out = ix;
    return TERN_OK;
fail:
    index_close(&ix);
    return rc;
}

enum tern_rc index_open_dir(const char *data_dir, unsigned flags, struct index **out,
                            struct tern_err *err)
{
    *out = NULL;
    if (!data_dir || !*data_dir)
        return tern_fail(err, TERN_EUSAGE, "empty data directory");
    if (!(flags & INDEX_OPEN_NOCREATE)) {
        char *copy = tern_strdup(data_dir);
        if (!copy)
            return tern_fail(err, TERN_ENOMEM, "out of memory");
        for (char *p = copy + 1;; p++) {
            bool end = !*p;
            if (*p == '/' || end) {
                *p = '\0';
                if (mkdir(copy, 0700) < 0 && errno != EEXIST) {
                    enum tern_rc rc =
                        tern_fail(err, TERN_EIO, "mkdir %s: %s", copy, strerror(errno));
                    free(copy);
                    return rc;
                }
                if (end)
                    break;
                *p = '/';
            }
        }
        free(copy);
    }
    struct tbuf b;
    tbuf_init(&b, 4096);
    if (tbuf_printf(&b, "%s/%s", data_dir, INDEX_FILE_NAME)) {
        tbuf_free(&b);
        return tern_fail(err, TERN_EUSAGE, "data directory path too long");
    }
    enum tern_rc rc = index_open(b.data, flags, out, err);
    tbuf_free(&b);
    return rc;
}

void index_close(struct index **ixp)
{
    if (!ixp || !*ixp)
        return;
    struct index *ix = *ixp;
    if (ix->in_txn)
        index_rollback(ix);
    for (size_t i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(ix->stmts[i]);
    for (size_t i = 0; i < INDEX_LIST_SHAPES; i++)
        sqlite3_finalize(ix->list_stmts[i]);
    sqlite3_close(ix->db);
    free(ix->path);
    free(ix);
    *ixp = NULL;
}

enum tern_rc index_begin(struct index *ix, struct tern_err *err)
{
    if (ix->in_txn)
        return tern_fail(err, TERN_EINTERNAL, "index transaction already open");
    enum tern_rc rc = exec_sql(ix->db, "BEGIN IMMEDIATE", "begin", err);
    if (rc == TERN_OK)
        ix->in_txn = true;
    return rc;
}

enum tern_rc index_commit(struct index *ix, struct tern_err *err)
{
    if (!ix->in_txn)
        return tern_fail(err, TERN_EINTERNAL, "no index transaction open");
    enum tern_rc rc = exec_sql(ix->db, "COMMIT", "commit", err);
    if (rc == TERN_OK)
        ix->in_txn = false;
    else
        index_rollback(ix); /* COMMIT failed (e.g. disk full): nothing was written */
    return rc;
}

void index_rollback(struct index *ix)
{
    if (!ix)
        return;
    /* Statements still mid-step would keep the transaction open. */
    for (size_t i = 0; i < ST_COUNT; i++)
        if (ix->stmts[i])
            sqlite3_reset(ix->stmts[i]);
    for (size_t i = 0; i < INDEX_LIST_SHAPES; i++)
        if (ix->list_stmts[i])
            sqlite3_reset(ix->list_stmts[i]);
    if (ix->in_txn || !sqlite3_get_autocommit(ix->db))
        sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
    ix->in_txn = false;
}
