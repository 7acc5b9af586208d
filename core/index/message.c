/* Messages and the list query. */
#include "lib.h"
#include "private.h"

#include <stdlib.h>
#include <string.h>

/* Longest search text accepted (the LIKE pattern is about twice this). */
#define INDEX_SEARCH_MAX 1024

void index_msg_init(struct index_msg *m)
{
    memset(m, 0, sizeof *m);
    m->date = INDEX_NO_DATE;
    m->internaldate = INDEX_NO_DATE;
}

void index_msg_clear(struct index_msg *m)
{
    if (!m)
        return;
    char **strs[] = {&m->keywords,   &m->from_name, &m->from_addr,  &m->to_text,
                     &m->cc_text,    &m->subject,   &m->message_id, &m->in_reply_to,
                     &m->references, &m->list_id,   &m->body_path};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        free(*strs[i]);
    index_msg_init(m);
}

static int64_t col_date(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? INDEX_NO_DATE : sqlite3_column_int64(st, i);
}

bool index_row_msg(sqlite3_stmt *st, struct index_msg *m, bool copy)
{
    index_msg_init(m);
    m->id = sqlite3_column_int64(st, 0);
    m->folder_id = sqlite3_column_int64(st, 1);
    m->uid = (uint32_t)sqlite3_column_int64(st, 2);
    m->flags = (unsigned)sqlite3_column_int64(st, 3);
    m->date = col_date(st, 5);
    m->internaldate = col_date(st, 6);
    m->size = (uint64_t)sqlite3_column_int64(st, 7);
    m->has_attachments = sqlite3_column_int(st, 17) != 0;
    static const int cols[] = {4, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18};
    char **dst[] = {&m->keywords,   &m->from_name, &m->from_addr,  &m->to_text,
                    &m->cc_text,    &m->subject,   &m->message_id, &m->in_reply_to,
                    &m->references, &m->list_id,   &m->body_path};
    bool ok = true;
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        const char *s = (const char *)sqlite3_column_text(st, cols[i]);
        if (!s)
            continue;
        if (!copy)
            *dst[i] = (char *)s;
        else if (!(*dst[i] = tern_strdup(s)))
            ok = false;
    }
    return ok;
}

static void bind_msg(sqlite3_stmt *st, const struct index_msg *m)
{
    sqlite3_bind_int64(st, 1, m->folder_id);
    sqlite3_bind_int64(st, 2, m->uid);
    sqlite3_bind_int64(st, 3, m->flags);
    index_bind_text(st, 4, m->keywords);
    index_bind_date(st, 5, m->date);
    index_bind_date(st, 6, m->internaldate);
    /* Sizes above 2^63 cannot happen for real mail; clamp, never wrap. */
    sqlite3_bind_int64(st, 7, m->size > INT64_MAX ? INT64_MAX : (sqlite3_int64)m->size);
    index_bind_text(st, 8, m->from_name);
    index_bind_text(st, 9, m->from_addr);
    index_bind_text(st, 10, m->to_text);
    index_bind_text(st, 11, m->cc_text);
    index_bind_text(st, 12, m->subject);
    index_bind_text(st, 13, m->message_id);
    index_bind_text(st, 14, m->in_reply_to);
    index_bind_text(st, 15, m->references);
    index_bind_text(st, 16, m->list_id);
    sqlite3_bind_int(st, 17, m->has_attachments);
    index_bind_text(st, 18, m->body_path);
}

static enum tern_rc constraint_err(struct index *ix, int src, const char *what,
                                   struct tern_err *err)
{
    if (src == SQLITE_CONSTRAINT_FOREIGNKEY)
        return tern_fail(err, TERN_ENOTFOUND, "index %s: no such folder", what);
    if (src == SQLITE_CONSTRAINT_UNIQUE || src == SQLITE_CONSTRAINT_PRIMARYKEY)
        return tern_fail(err, TERN_EDATA, "index %s: a message with this UID exists", what);
    return index_sqlerr(ix, src, what, err);
}

enum tern_rc index_msg_insert(struct index *ix, struct index_msg *m, struct tern_err *err)
{
    sqlite3_stmt *st;
    enum tern_rc rc = index_stmt(ix, ST_MSG_INSERT, &st, err);
    if (rc)
        return rc;
    bind_msg(st, m);
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE)
        m->id = sqlite3_last_insert_rowid(ix->db);
    else
        rc = constraint_err(ix, src, "insert", err);
    index_done(st);
    return rc;
}

enum tern_rc index_msg_upsert(struct index *ix, struct index_msg *m, struct tern_err *err)
{
    sqlite3_stmt *st;
    enum tern_rc rc = index_stmt(ix, ST_MSG_UPSERT, &st, err);
    if (rc)
        return rc;
    bind_msg(st, m);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        m->id = sqlite3_column_int64(st, 0);
        src = sqlite3_step(st);
    }
    if (src != SQLITE_DONE)
        rc = constraint_err(ix, src, "upsert", err);
    index_done(st);
    return rc;
}

static enum tern_rc get_one(struct index *ix, sqlite3_stmt *st, struct index_msg *m,
                            struct tern_err *err)
{
    int src = sqlite3_step(st);
    enum tern_rc rc = TERN_OK;
    if (src == SQLITE_ROW) {
        if (!index_row_msg(st, m, true)) {
            index_msg_clear(m);
            rc = tern_fail(err, TERN_ENOMEM, "out of memory");
        }
    } else if (src == SQLITE_DONE) {
        rc = tern_fail(err, TERN_ENOTFOUND, "no such message");
    } else {
        rc = index_sqlerr(ix, src, "message get", err);
    }
    index_done(st);
    return rc;
}

enum tern_rc index_msg_get(struct index *ix, int64_t id, struct index_msg *m, struct tern_err *err)
{
    index_msg_init(m);
    sqlite3_stmt *st;
    enum tern_rc rc = index_stmt(ix, ST_MSG_GET, &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    return get_one(ix, st, m, err);
}

enum tern_rc index_msg_get_uid(struct index *ix, int64_t folder_id, uint32_t uid,
                               struct index_msg *m, struct tern_err *err)
{
    index_msg_init(m);
    sqlite3_stmt *st;
    enum tern_rc rc = index_stmt(ix, ST_MSG_GET_UID, &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, folder_id);
    sqlite3_bind_int64(st, 2, uid);
    return get_one(ix, st, m, err);
}

/* Run an UPDATE/DELETE keyed by message id; no row changed = not found. */
static enum tern_rc change_one(struct index *ix, sqlite3_stmt *st, const char *what,
                               struct tern_err *err)
{
    int src = sqlite3_step(st);
    enum tern_rc rc = TERN_OK;
    if (src != SQLITE_DONE)
        rc = constraint_err(ix, src, what, err);
    else if (sqlite3_changes(ix->db) == 0)
        rc = tern_fail(err, TERN_ENOTFOUND, "no such message");
    index_done(st);
    return rc;
}

enum tern_rc index_msg_set_flags(struct index *ix, int64_t id, unsigned flags, const char *keywords,
                                 struct tern_err *err)
{
    sqlite3_stmt *st;
    enum tern_rc rc = index_stmt(ix, keywords ? ST_MSG_SET_FLAGS_KW : ST_MSG_SET_FLAGS, &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, flags);
    if (keywords)
        index_bind_text(st, 3, *keywords ? keywords : NULL);
    return change_one(ix, st, "flags", err);
}

enum tern_rc index_msg_set_body_path(struct index *ix, int64_t id, const char *path,
                                     struct tern_err *err)
{
    sqlite3_stmt *st;
    enum tern_rc rc = index_stmt(ix, ST_MSG_SET_BODY, &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    index_bind_text(st, 2, path);
    return change_one(ix, st, "body path", err);
}

enum tern_rc index_msg_move(struct index *ix, int64_t id, int64_t folder_id, uint32_t uid,
                            struct tern_err *err)
{
    sqlite3_stmt *st;
    enum tern_rc rc = index_stmt(ix, ST_MSG_MOVE, &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, folder_id);
    sqlite3_bind_int64(st, 3, uid);
    return change_one(ix, st, "move", err);
}

enum tern_rc index_msg_delete(struct index *ix, int64_t id, struct tern_err *err)
{
    sqlite3_stmt *st;
    enum tern_rc rc = index_stmt(ix, ST_MSG_DELETE, &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    return change_one(ix, st, "delete", err);
}

enum tern_rc index_msg_uids(struct index *ix, int64_t folder_id, index_uid_fn *fn, void *arg,
                            struct tern_err *err)
{
    sqlite3_stmt *st;
    enum tern_rc rc = index_stmt(ix, ST_MSG_UIDS, &st, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, folder_id);
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (fn(arg, sqlite3_column_int64(st, 0), (uint32_t)sqlite3_column_int64(st, 1),
               (unsigned)sqlite3_column_int64(st, 2))) {
            rc = tern_fail(err, TERN_ECANCELED, "uid list stopped");
            break;
        }
    }
    if (!rc && src != SQLITE_DONE)
        rc = index_sqlerr(ix, src, "uid list", err);
    index_done(st);
    return rc;
}

/* The list statement for a shape, built only from the fixed fragments
 * below: user text is always a bound parameter (?2, the LIKE pattern). */
static enum tern_rc list_stmt(struct index *ix, unsigned shape, sqlite3_stmt **out,
                              struct tern_err *err)
{
    if (ix->list_stmts[shape]) {
        *out = ix->list_stmts[shape];
        return TERN_OK;
    }
    struct tbuf b;
    tbuf_init(&b, 0);
    tbuf_puts(&b, "SELECT " INDEX_MSG_COLS " FROM messages WHERE 1");
    if (shape & 1)
        tbuf_puts(&b, " AND folder_id = ?1");
    if (shape & 2)
        tbuf_puts(&b, " AND (flags & 1) = 0");
    if (shape & 4)
        tbuf_puts(&b, " AND (subject LIKE ?2 ESCAPE '\\' OR from_name LIKE ?2 ESCAPE '\\'"
                      " OR from_addr LIKE ?2 ESCAPE '\\' OR to_text LIKE ?2 ESCAPE '\\')");
    /* NULL dates sort last under DESC; id breaks ties newest first. The
     * ORDER BY matches the (folder_id, date DESC, id DESC) and
     * (date DESC, id DESC) indexes (and their unread-only partial twins)
     * so a limited list reads only its rows. A search instead scans the
     * table in storage order and sorts the matches ("+date" keeps the
     * planner off the date index): walking the index costs a lookup per
     * row, 3-5 times slower when few rows match (50,000 rows: ~10 ms
     * against ~40 ms), and a full scan bounds the worst case. */
    enum tern_rc rc = tbuf_puts(&b, shape & 4 ? " ORDER BY +date DESC, id DESC LIMIT ?3"
                                              : " ORDER BY date DESC, id DESC LIMIT ?3");
    if (rc) {
        tbuf_free(&b);
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    }
    int src = sqlite3_prepare_v3(ix->db, b.data, -1, SQLITE_PREPARE_PERSISTENT,
                                 &ix->list_stmts[shape], NULL);
    tbuf_free(&b);
    if (src != SQLITE_OK) {
        ix->list_stmts[shape] = NULL;
        return index_sqlerr(ix, src, "prepare list", err);
    }
    *out = ix->list_stmts[shape];
    return TERN_OK;
}

/* '%' + s with \, % and _ escaped by '\' + '%'. */
static enum tern_rc like_pattern(const char *s, struct tbuf *out)
{
    enum tern_rc rc = tbuf_putc(out, '%');
    for (; *s && !rc; s++) {
        if (*s == '\\' || *s == '%' || *s == '_')
            rc = tbuf_putc(out, '\\');
        if (!rc)
            rc = tbuf_putc(out, *s);
    }
    return rc ? rc : tbuf_putc(out, '%');
}

enum tern_rc index_list(struct index *ix, const struct index_query *q, index_msg_fn *fn, void *arg,
                        struct tern_err *err)
{
    bool search = q->search && *q->search;
    if (search && strlen(q->search) > INDEX_SEARCH_MAX)
        return tern_fail(err, TERN_EUSAGE, "search text longer than %d bytes", INDEX_SEARCH_MAX);
    unsigned shape = (q->folder_id ? 1u : 0u) | (q->unread_only ? 2u : 0u) | (search ? 4u : 0u);
    sqlite3_stmt *st = NULL;
    enum tern_rc rc = list_stmt(ix, shape, &st, err);
    if (rc)
        return rc;
    struct tbuf pat;
    tbuf_init(&pat, 0);
    if (q->folder_id)
        sqlite3_bind_int64(st, 1, q->folder_id);
    if (search) {
        if (like_pattern(q->search, &pat)) {
            tbuf_free(&pat);
            return tern_fail(err, TERN_ENOMEM, "out of memory");
        }
        sqlite3_bind_text(st, 2, pat.data, (int)pat.len, SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, 3, q->limit == 0 || q->limit > INT64_MAX ? -1 : (sqlite3_int64)q->limit);
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        struct index_msg m;
        index_row_msg(st, &m, false);
        if (fn(arg, &m))
            break;
    }
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = index_sqlerr(ix, src, "list", err);
    index_done(st);
    tbuf_free(&pat);
    return rc;
}
