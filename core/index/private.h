/* core/index internals shared by its .c files (and its unit test, which
 * drives the migration ladder with a fake set of steps). */
#ifndef TERN_INDEX_PRIVATE_H
#define TERN_INDEX_PRIVATE_H

#include "lib.h"

#include <sqlite3.h>

/* 'tern' in PRAGMA application_id marks a database as a tern index. */
#define INDEX_APPLICATION_ID 0x7465726e

/* Cached prepared statements, one per fixed SQL text (see index.c). */
enum index_stmt {
    ST_FOLDER_BY_NAME,
    ST_FOLDER_INSERT,
    ST_FOLDER_GET_ID,
    ST_FOLDER_GET_NAME,
    ST_FOLDER_UPDATE,
    ST_FOLDER_DELETE,
    ST_FOLDER_LIST,
    ST_FOLDER_ALLOC_UID,
    ST_MSG_INSERT,
    ST_MSG_UPSERT,
    ST_MSG_GET,
    ST_MSG_GET_UID,
    ST_MSG_SET_FLAGS,
    ST_MSG_SET_FLAGS_KW,
    ST_MSG_SET_BODY,
    ST_MSG_MOVE,
    ST_MSG_DELETE,
    ST_MSG_UIDS,
    ST_UIDL_GET,
    ST_UIDL_RECORD,
    ST_UIDL_MARK_DELETED,
    ST_UIDL_LIST,
    ST_UIDL_FORGET,
    ST_PENDING_ADD,
    ST_PENDING_LIST,
    ST_PENDING_REMOVE,
    ST_COUNT
};

/* The list query has 8 shapes (folder or all, unread or not, search or
 * not); each is built from fixed fragments and cached like the others. */
#define INDEX_LIST_SHAPES 8

struct index {
    sqlite3 *db;
    char *path;
    bool in_txn;
    sqlite3_stmt *stmts[ST_COUNT];
    sqlite3_stmt *list_stmts[INDEX_LIST_SHAPES];
};

/* One rung of the schema ladder: run `sql` to go from to_version - 1 to
 * to_version. Steps are in ascending order, to_version 1, 2, ... */
struct index_migration {
    int to_version;
    const char *sql;
};

/* Bring db up to the last step's version, inside one IMMEDIATE
 * transaction; refuses a database newer than the ladder (TERN_EDATA) or
 * one that is not a tern index. */
enum tern_rc index_migrate(sqlite3 *db, const struct index_migration *steps, size_t nsteps,
                           struct tern_err *err);
/* The real ladder. */
extern const struct index_migration index_migrations[];
extern const size_t index_nmigrations;

/* The statement `which`, prepared on first use, ready to bind. Its
 * bindings are cleared and it is reset by index_done(). */
enum tern_rc index_stmt(struct index *ix, enum index_stmt which, sqlite3_stmt **st,
                        struct tern_err *err);
void index_done(sqlite3_stmt *st);
/* Map an SQLite result code to a tern_rc with err set ("what: message"). */
enum tern_rc index_sqlerr(struct index *ix, int src, const char *what, struct tern_err *err);
/* Run a statement expected to return no row (or to be stepped once). */
enum tern_rc index_exec_stmt(struct index *ix, sqlite3_stmt *st, const char *what,
                             struct tern_err *err);

/* Binding helpers: NULL strings bind as SQL NULL. */
int index_bind_text(sqlite3_stmt *st, int i, const char *s);
int index_bind_date(sqlite3_stmt *st, int i, int64_t d); /* INDEX_NO_DATE -> NULL */
/* Fill m from the current row of a statement selecting MSG_COLS. When
 * copy is false the strings are borrowed from the statement (valid until
 * its next step); when true they are duplicated (false on out of memory). */
bool index_row_msg(sqlite3_stmt *st, struct index_msg *m, bool copy);

#define INDEX_MSG_COLS                                                                             \
    "id, folder_id, uid, flags, keywords, date, internaldate, size, from_name, from_addr, "        \
    "to_text, cc_text, subject, message_id, in_reply_to, references_, list_id, "                   \
    "has_attachments, body_path"

#endif
