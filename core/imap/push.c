/*
 * Replaying the index's queue of offline changes to the server.
 *
 * Per folder, in one order: flag changes (UID STORE +FLAGS/-FLAGS, not
 * .SILENT, so the server's FETCH replies put its real flags into the
 * index), then moves (UID MOVE; without MOVE: UID COPY, and only after its
 * OK, STORE \Deleted + UID EXPUNGE), then deletes (STORE \Deleted + UID
 * EXPUNGE). Moves use COPYUID to keep the message's stable id and cached
 * body under the new UID.
 *
 * A queued change whose message the server expunged meanwhile was already
 * dropped by the sync (deleting an index row drops its queue entries); a
 * STORE to a UID that no longer exists is a no-op on the server. A change
 * the server refuses (NO) is dropped so it cannot block the queue, and
 * reported after the rest was sent.
 */
#include "private.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct pitem {
    int64_t pid;
    int64_t msg;
    enum index_op op;
    char *arg;
    int64_t folder;
    uint32_t uid;
    bool done;
};

struct plist {
    struct pitem *v;
    size_t n, cap;
    bool oom;
};

static int collect(void *arg, const struct index_pending *p)
{
    struct plist *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        struct pitem *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->oom = true;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    struct pitem *it = &l->v[l->n];
    memset(it, 0, sizeof *it);
    it->pid = p->id;
    it->msg = p->msg_id;
    it->op = p->op;
    if (p->arg && !(it->arg = tern_strdup(p->arg))) {
        l->oom = true;
        return 1;
    }
    l->n++;
    return 0;
}

static void plist_free(struct plist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].arg);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Every queued change with its message's folder and UID; entries whose
 * message is gone are removed from the queue. */
static enum tern_rc load(struct imap_drv *d, struct plist *l, struct tern_err *err)
{
    enum tern_rc rc = index_pending_list(d->ix, collect, l, err);
    if (!rc && l->oom)
        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    for (size_t i = 0; i < l->n && !rc; i++) {
        struct index_msg m;
        index_msg_init(&m);
        rc = index_msg_get(d->ix, l->v[i].msg, &m, err);
        if (rc == TERN_ENOTFOUND) {
            tern_err_clear(err);
            l->v[i].done = true;
            rc = index_pending_remove(d->ix, l->v[i].pid, err);
        } else if (!rc) {
            l->v[i].folder = m.folder_id;
            l->v[i].uid = m.uid;
        }
        index_msg_clear(&m);
    }
    return rc;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

enum tern_rc imap_pending_folders(struct imap_drv *d, int64_t **ids, size_t *n,
                                  struct tern_err *err)
{
    *ids = NULL;
    *n = 0;
    struct plist l = {0};
    enum tern_rc rc = load(d, &l, err);
    int64_t *v = NULL;
    size_t k = 0;
    if (!rc && l.n && !(v = malloc(l.n * sizeof *v)))
        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    for (size_t i = 0; i < l.n && !rc; i++)
        if (!l.v[i].done)
            v[k++] = l.v[i].folder;
    if (!rc && k) {
        qsort(v, k, sizeof *v, cmp_i64);
        size_t u = 1;
        for (size_t i = 1; i < k; i++)
            if (v[i] != v[u - 1])
                v[u++] = v[i];
        k = u;
    }
    plist_free(&l);
    if (rc) {
        free(v);
        return rc;
    }
    *ids = v;
    *n = k;
    return TERN_OK;
}

/* ------------------------------------------------------ replay one folder */

struct pctx {
    struct imap_drv *d;
    const struct index_folder *f;
    struct acct_sync_stats *st;
    struct tbuf kw;
    /* for moves: the destination and the COPYUID mapping */
    const struct index_folder *dest;
    struct pitem **batch;
    size_t nbatch;
    struct tern_err soft;
};

static enum tern_rc drop_msg(struct pctx *c, int64_t id, uint32_t uid, struct tern_err *err)
{
    enum tern_rc rc = index_msg_delete(c->d->ix, id, err);
    if (rc == TERN_ENOTFOUND) {
        tern_err_clear(err);
        return TERN_OK;
    }
    if (rc)
        return rc;
    char *path = NULL;
    struct tern_err ignore = {0};
    if (!imap_cache_path(c->d, c->f->id, c->f->uidvalidity, uid, false, &path, &ignore))
        unlink(path);
    free(path);
    return TERN_OK;
}

static enum tern_rc fetch_flags(struct pctx *c, const struct imap_resp *r, uint32_t att,
                                struct tern_err *err)
{
    uint64_t uid;
    uint32_t fl = imap_fetch_item(r, att, "FLAGS", false);
    if (fl == IMAP_NONE || !imap_num(r, imap_fetch_item(r, att, "UID", false), UINT32_MAX, &uid))
        return TERN_OK;
    struct index_msg m;
    index_msg_init(&m);
    enum tern_rc rc = index_msg_get_uid(c->d->ix, c->f->id, (uint32_t)uid, &m, err);
    if (rc == TERN_ENOTFOUND) {
        tern_err_clear(err);
        return TERN_OK;
    }
    tbuf_reset(&c->kw);
    unsigned flags = imap_flags_parse(r, fl, &c->kw);
    if (!rc &&
        (flags != m.flags || strcmp(m.keywords ? m.keywords : "", c->kw.data ? c->kw.data : ""))) {
        if (flags != m.flags)
            c->st->flags_changed++;
        rc = index_msg_set_flags(c->d->ix, m.id, flags, c->kw.data ? c->kw.data : "", err);
    }
    index_msg_clear(&m);
    return rc;
}

struct vctx {
    struct pctx *c;
    struct tern_err *err;
    enum tern_rc rc;
    uint64_t budget;
};

static int vanish_one(void *arg, uint32_t lo, uint32_t hi)
{
    struct vctx *v = arg;
    for (uint64_t u = lo; u <= hi && v->budget; u++, v->budget--) {
        struct index_msg m;
        index_msg_init(&m);
        enum tern_rc rc = index_msg_get_uid(v->c->d->ix, v->c->f->id, (uint32_t)u, &m, v->err);
        if (rc == TERN_ENOTFOUND) {
            tern_err_clear(v->err);
            continue;
        }
        if (!rc)
            rc = drop_msg(v->c, m.id, m.uid, v->err);
        index_msg_clear(&m);
        if (rc) {
            v->rc = rc;
            return 1;
        }
    }
    return 0;
}

struct pairs {
    uint32_t *v;
    size_t n, cap;
};

static int pairs_add(void *arg, uint32_t lo, uint32_t hi)
{
    struct pairs *p = arg;
    for (uint64_t u = lo; u <= hi; u++) {
        if (p->n >= 10 * IMAP_STORE_BATCH)
            return 1;
        if (p->n == p->cap) {
            size_t cap = p->cap ? p->cap * 2 : 64;
            uint32_t *v = realloc(p->v, cap * sizeof *v);
            if (!v)
                return 1;
            p->v = v;
            p->cap = cap;
        }
        p->v[p->n++] = (uint32_t)u;
    }
    return 0;
}

/* [COPYUID uidvalidity src dst]: the moved messages keep their ids. */
static enum tern_rc apply_copyuid(struct pctx *c, const struct imap_resp *r, struct tern_err *err)
{
    if (!c->dest)
        return TERN_OK;
    uint32_t a = imap_nth(r, 0, 1), b = imap_nth(r, 0, 2), e = imap_nth(r, 0, 3);
    uint64_t v;
    const char *s1, *s2;
    size_t n1, n2;
    if (!imap_num(r, a, UINT32_MAX, &v) || !imap_str(r, b, &s1, &n1) || !imap_str(r, e, &s2, &n2))
        return TERN_OK;
    struct pairs src = {0}, dst = {0};
    enum tern_rc rc = TERN_OK;
    if (imap_seqset_walk(s1, n1, 0, pairs_add, &src) &&
        imap_seqset_walk(s2, n2, 0, pairs_add, &dst) && src.n == dst.n &&
        (c->dest->uidvalidity == 0 || c->dest->uidvalidity == (uint32_t)v)) {
        for (size_t i = 0; i < src.n && !rc; i++) {
            for (size_t k = 0; k < c->nbatch; k++) {
                struct pitem *it = c->batch[k];
                if (it->uid != src.v[i] || it->done)
                    continue;
                rc = index_msg_move(c->d->ix, it->msg, c->dest->id, dst.v[i], err);
                if (rc == TERN_EDATA || rc == TERN_ENOTFOUND) {
                    /* the destination already has that UID: let its sync own it */
                    tern_err_clear(err);
                    rc = drop_msg(c, it->msg, it->uid, err);
                } else if (!rc) {
                    /* carry the cached body over */
                    char *from = NULL, *to = NULL, *todir = NULL;
                    struct tern_err ig = {0};
                    bool moved = false;
                    if (!imap_cache_path(c->d, c->f->id, c->f->uidvalidity, it->uid, false, &from,
                                         &ig) &&
                        !imap_cache_path(c->d, c->dest->id, (uint32_t)v, dst.v[i], false, &to,
                                         &ig) &&
                        !imap_cache_path(c->d, c->dest->id, (uint32_t)v, 0, true, &todir, &ig) &&
                        access(from, F_OK) == 0) {
                        /* best effort: a body not carried is fetched again */
                        char *slash = strrchr(todir, '/');
                        if (slash) {
                            *slash = '\0';
                            (void)mkdir(c->d->cache_root, 0700);
                            (void)mkdir(todir, 0700);
                            *slash = '/';
                        }
                        (void)mkdir(todir, 0700);
                        moved = rename(from, to) == 0;
                    }
                    rc = index_msg_set_body_path(c->d->ix, it->msg, moved ? to : NULL, err);
                    if (rc == TERN_ENOTFOUND) {
                        tern_err_clear(err);
                        rc = TERN_OK;
                    }
                    free(from);
                    free(to);
                    free(todir);
                }
                it->done = true;
            }
        }
    }
    free(src.v);
    free(dst.v);
    return rc;
}

static enum tern_rc on_push(void *arg, const struct imap_resp *r, struct tern_err *err)
{
    struct pctx *c = arg;
    uint64_t num;
    uint32_t rest;
    if (r->status == IMAP_ST_OK && imap_code_is(r, "COPYUID"))
        return apply_copyuid(c, r, err);
    if (r->kind != IMAP_UNTAGGED)
        return TERN_OK;
    if (imap_is_numbered(r, "FETCH", &num, &rest) && imap_is_list(r, rest))
        return fetch_flags(c, r, rest, err);
    if (imap_is_named(r, "VANISHED", &rest) && !imap_is_list(r, rest)) {
        const char *s;
        size_t n;
        struct vctx v = {c, err, TERN_OK, 100000};
        if (imap_str(r, rest, &s, &n))
            imap_seqset_walk(s, n, UINT32_MAX, vanish_one, &v);
        return v.rc;
    }
    return TERN_OK;
}

static int cmp_item_uid(const void *a, const void *b)
{
    uint32_t x = (*(struct pitem *const *)a)->uid, y = (*(struct pitem *const *)b)->uid;
    return x < y ? -1 : x > y;
}

/* "1:3,7" for the UIDs of v[0..n) (sorted by uid here). */
static enum tern_rc uid_set(struct pitem **v, size_t n, struct tbuf *out)
{
    qsort(v, n, sizeof *v, cmp_item_uid);
    tbuf_reset(out);
    enum tern_rc rc = TERN_OK;
    for (size_t i = 0; i < n && !rc;) {
        size_t j = i;
        while (j + 1 < n && (v[j + 1]->uid == v[j]->uid || v[j + 1]->uid == v[j]->uid + 1))
            j++;
        if (v[i]->uid == v[j]->uid)
            rc = tbuf_printf(out, "%s%u", out->len ? "," : "", (unsigned)v[i]->uid);
        else
            rc = tbuf_printf(out, "%s%u:%u", out->len ? "," : "", (unsigned)v[i]->uid,
                             (unsigned)v[j]->uid);
        i = j + 1;
    }
    return rc;
}

/* The flag list text for a queued FLAG_ADD/FLAG_DEL argument: decimal
 * INDEX_FLAG_* bits, or one keyword. */
static enum tern_rc flag_text(const char *arg, struct tbuf *out)
{
    tbuf_reset(out);
    if (!arg || !*arg)
        return TERN_EDATA;
    uint64_t bits;
    if (tern_parse_u64(arg, strlen(arg), 0xffff, &bits))
        return bits ? imap_flags_format((unsigned)bits, out) : TERN_EDATA;
    for (const char *p = arg; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= ' ' || ch >= 0x7f || strchr("(){\"\\]%*", ch))
            return TERN_EDATA;
    }
    return tbuf_puts(out, arg);
}

static enum tern_rc remove_done(struct pctx *c, struct pitem **v, size_t n, struct tern_err *err)
{
    enum tern_rc rc = TERN_OK;
    for (size_t i = 0; i < n && !rc; i++)
        rc = index_pending_remove(c->d->ix, v[i]->pid, err);
    return rc;
}

/* Run one command over items v[0..n) and wait for it. A NO drops the
 * items (reported later); other failures return. */
static enum tern_rc run(struct pctx *c, struct pitem **v, size_t n, const char *what, bool *refused,
                        struct tern_err *err, const char *fmt, ...) TERN_PRINTF(7, 8);

static enum tern_rc run(struct pctx *c, struct pitem **v, size_t n, const char *what, bool *refused,
                        struct tern_err *err, const char *fmt, ...)
{
    char cmd[16384];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof cmd)
        return tern_fail(err, TERN_EINTERNAL, "IMAP command too long");
    uint32_t tag;
    const struct imap_resp *r;
    c->batch = v;
    c->nbatch = n;
    enum tern_rc rc = imap_cmd(c->d->s, &tag, err, "%s", cmd);
    if (!rc)
        rc = imap_wait(c->d->s, tag, on_push, c, &r, err);
    if (!rc && r && r->status == IMAP_ST_OK && imap_code_is(r, "COPYUID"))
        rc = apply_copyuid(c, r, err);
    *refused = false;
    if (!rc && r && r->status != IMAP_ST_OK) {
        struct tern_err e = {0};
        imap_check(r, what, &e);
        tern_fail(&c->soft, e.rc, "%s", e.msg);
        *refused = true;
    }
    c->batch = NULL;
    c->nbatch = 0;
    return rc;
}

/* The pending items from v[i] on with v[i]'s op and argument, up to a
 * batch, into group: they go to the server as one command. */
static size_t gather(struct pitem **v, size_t i, size_t n, struct pitem **group)
{
    size_t g = 0;
    for (size_t j = i; j < n && g < IMAP_STORE_BATCH; j++)
        if (!v[j]->done && v[j]->op == v[i]->op &&
            !strcmp(v[j]->arg ? v[j]->arg : "", v[i]->arg ? v[i]->arg : ""))
            group[g++] = v[j];
    return g;
}

static enum tern_rc do_flags(struct pctx *c, struct pitem **v, size_t n, struct tern_err *err)
{
    struct tbuf set, names;
    tbuf_init(&set, 0);
    tbuf_init(&names, 4096);
    enum tern_rc rc = TERN_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        if (v[i]->done)
            continue;
        struct pitem *group[IMAP_STORE_BATCH];
        size_t g = gather(v, i, n, group);
        for (size_t j = 0; j < g; j++)
            group[j]->done = true;
        if (flag_text(v[i]->arg, &names) != TERN_OK) {
            tern_fail(&c->soft, TERN_EDATA, "dropped a queued flag change with a bad flag");
            rc = remove_done(c, group, g, err);
            continue;
        }
        bool refused;
        if ((rc = uid_set(group, g, &set)))
            break;
        rc = run(c, group, g, "STORE", &refused, err, "UID STORE %s %sFLAGS (%s)", set.data,
                 group[0]->op == INDEX_OP_FLAG_ADD ? "+" : "-", names.data);
        if (!rc)
            rc = remove_done(c, group, g, err);
    }
    tbuf_free(&set);
    tbuf_free(&names);
    return rc;
}

static enum tern_rc expunge_uids(struct pctx *c, struct pitem **g, size_t n, const char *set,
                                 bool *refused, struct tern_err *err)
{
    enum tern_rc rc =
        run(c, g, n, "STORE", refused, err, "UID STORE %s +FLAGS.SILENT (\\Deleted)", set);
    if (!rc && !*refused && (c->d->s->caps & CAP_UIDPLUS))
        rc = run(c, g, n, "EXPUNGE", refused, err, "UID EXPUNGE %s", set);
    return rc;
}

static enum tern_rc do_moves(struct pctx *c, struct pitem **v, size_t n, struct tern_err *err)
{
    struct tbuf set, mbox;
    tbuf_init(&set, 0);
    tbuf_init(&mbox, 4 * IMAP_NAME_MAX);
    enum tern_rc rc = TERN_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        if (v[i]->done)
            continue;
        struct pitem *group[IMAP_STORE_BATCH];
        size_t g = gather(v, i, n, group);
        struct index_folder dest = {0};
        bool refused = false;
        if (v[i]->op == INDEX_OP_MOVE) {
            struct tern_err e = {0};
            enum tern_rc fr =
                v[i]->arg ? index_folder_get(c->d->ix, 0, v[i]->arg, &dest, &e) : TERN_ENOTFOUND;
            if (fr == TERN_OK && dest.remote_name && dest.id != c->f->id) {
                tbuf_reset(&mbox);
                rc = imap_put_mailbox(&mbox, dest.remote_name, err);
            } else {
                if (fr == TERN_OK && dest.id == c->f->id) {
                    /* moving into the folder it is in: nothing to do */
                } else {
                    tern_fail(&c->soft, TERN_ENOTFOUND,
                              "dropped a queued move to '%s': no such folder on the server",
                              v[i]->arg ? v[i]->arg : "");
                }
                index_folder_clear(&dest);
                for (size_t j = 0; j < g; j++)
                    group[j]->done = true;
                if (!rc)
                    rc = remove_done(c, group, g, err);
                continue;
            }
        }
        if (!rc)
            rc = uid_set(group, g, &set);
        c->dest = v[i]->op == INDEX_OP_MOVE ? &dest : NULL;
        if (!rc && v[i]->op == INDEX_OP_MOVE && (c->d->s->caps & CAP_MOVE)) {
            rc = run(c, group, g, "MOVE", &refused, err, "UID MOVE %s %s", set.data, mbox.data);
        } else if (!rc && v[i]->op == INDEX_OP_MOVE) {
            rc = run(c, group, g, "COPY", &refused, err, "UID COPY %s %s", set.data, mbox.data);
            if (!rc && !refused)
                rc = expunge_uids(c, group, g, set.data, &refused, err);
        } else if (!rc) {
            rc = expunge_uids(c, group, g, set.data, &refused, err);
        }
        c->dest = NULL;
        index_folder_clear(&dest);
        /* moved without COPYUID, or deleted: the row goes (the destination's
         * sync brings a moved message back under its new UID) */
        for (size_t j = 0; j < g && !rc; j++) {
            if (!refused && !group[j]->done)
                rc = drop_msg(c, group[j]->msg, group[j]->uid, err);
            if (!refused && group[j]->op == INDEX_OP_DELETE)
                c->st->expunged++;
            group[j]->done = true;
        }
        if (!rc)
            rc = remove_done(c, group, g, err);
    }
    tbuf_free(&set);
    tbuf_free(&mbox);
    return rc;
}

enum tern_rc imap_push_folder(struct imap_drv *d, const struct index_folder *f,
                              struct acct_sync_stats *st, struct tern_err *err)
{
    struct plist l = {0};
    enum tern_rc rc = load(d, &l, err);
    struct pitem **flags = NULL, **moves = NULL;
    size_t nf = 0, nm = 0;
    if (!rc && l.n &&
        (!(flags = calloc(l.n, sizeof *flags)) || !(moves = calloc(l.n, sizeof *moves))))
        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    for (size_t i = 0; i < l.n && !rc; i++) {
        struct pitem *it = &l.v[i];
        if (it->done || it->folder != f->id)
            continue;
        if (it->op == INDEX_OP_FLAG_ADD || it->op == INDEX_OP_FLAG_DEL)
            flags[nf++] = it;
        else
            moves[nm++] = it;
    }
    struct pctx c = {.d = d, .f = f, .st = st};
    tbuf_init(&c.kw, 65536);
    if (!rc && nf)
        rc = do_flags(&c, flags, nf, err);
    if (!rc && nm) {
        /* a message moved or deleted once: later queue entries for it are moot */
        for (size_t i = 0; i < nm; i++)
            for (size_t j = i + 1; j < nm; j++)
                if (moves[j]->msg == moves[i]->msg && !moves[j]->done) {
                    moves[j]->done = true;
                    if (!rc)
                        rc = index_pending_remove(d->ix, moves[j]->pid, err);
                }
        if (!rc)
            rc = do_moves(&c, moves, nm, err);
    }
    tbuf_free(&c.kw);
    free(flags);
    free(moves);
    plist_free(&l);
    if (!rc && c.soft.rc)
        rc = tern_fail(err, c.soft.rc, "%s", c.soft.msg);
    return rc;
}

enum tern_rc imap_push_all(struct imap_drv *d, struct acct_sync_stats *st, struct tern_err *err)
{
    int64_t *ids = NULL;
    size_t n = 0;
    enum tern_rc rc = imap_pending_folders(d, &ids, &n, err);
    if (!rc && n)
        rc = imap_drv_connect(d, err);
    struct tern_err soft = {0};
    for (size_t i = 0; i < n && !rc; i++) {
        struct index_folder f;
        if ((rc = index_folder_get(d->ix, ids[i], NULL, &f, err)))
            break;
        struct tern_err e = {0};
        rc = d->sel_fid == f.id ? TERN_OK : imap_select(d, &f, false, NULL, NULL, &e);
        if (!rc && f.uidvalidity != d->s->sel.uidvalidity)
            rc = tern_fail(&e, TERN_ETEMP,
                           "folder '%s' was recreated on the server; run tern fetch", f.name);
        if (!rc)
            rc = imap_push_folder(d, &f, st, &e);
        index_folder_clear(&f);
        if (rc && !d->s->broken && rc != TERN_ENOMEM && rc != TERN_EIO) {
            tern_fail(&soft, rc, "%s", e.msg);
            rc = TERN_OK;
        } else if (rc) {
            tern_fail(err, rc, "%s", e.msg);
        }
    }
    free(ids);
    if (!rc && soft.rc)
        rc = tern_fail(err, soft.rc, "%s", soft.msg);
    return rc;
}
