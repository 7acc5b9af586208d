/*
 * Header-only sync of the configured folders.
 *
 * One burst after login: ENABLE QRESYNC and LIST ... RETURN (... STATUS
 * (UIDNEXT UIDVALIDITY HIGHESTMODSEQ ...)). A folder whose UIDVALIDITY,
 * UIDNEXT, HIGHESTMODSEQ and message count all match the index (and that
 * has no queued change) is not selected at all, so a sync with nothing new
 * costs that one round trip plus LOGOUT.
 *
 * A folder that changed is selected (with QRESYNC: the server sends the
 * expunges and flag changes since our HIGHESTMODSEQ with the SELECT
 * reply). Then, in one pipelined burst: the flag step (CHANGEDSINCE with
 * CONDSTORE only, else all flags with an expunge diff) and the new
 * messages in UID chunks. Every chunk's tagged OK commits the index with
 * the folder's watermark (index_folder.uidnext = first UID not yet
 * fetched), so a sync killed at any point resumes where it stopped and
 * never leaves a message half stored.
 *
 * A UIDVALIDITY change drops the folder's messages, their queued changes
 * and cached bodies, then fetches the folder again.
 */
#include "private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct umap {
    uint32_t uid;
    uint32_t flags;
    int64_t id;
    bool gone; /* deleted (or moved away) during this sync */
    bool seen; /* reported by the full flag fetch */
};

struct fsync {
    struct imap_drv *d;
    struct index_folder f;
    struct acct_sync_stats *st;
    struct umap *map;
    size_t n, cap;
    uint32_t new_lo;   /* UIDs >= new_lo are not in the index yet */
    bool changes_only; /* every FLAGS reported is a change (QRESYNC/CHANGEDSINCE) */
    bool full_diff;    /* the full FLAGS fetch is running: mark `seen` */
    bool modseq_ok;    /* local messages are reconciled: HIGHESTMODSEQ may be stored */
    bool cache_exists; /* the folder has a cache directory (unlink on expunge) */
    bool tx;
    struct tbuf kw;
    uint32_t flags_tag;
    uint32_t *ctag, *chi; /* chunk tags and the last UID of each chunk */
    bool *cdone;          /* chunk k's tagged OK seen */
    size_t nch, ncdone;   /* chunks; chunks 0..ncdone-1 all complete */
    uint64_t inserted;
    uint64_t since_commit; /* rows stored in the open transaction */
    uint32_t max_uid;      /* highest new UID stored */
    uint64_t total_new;    /* for progress */
};

static int map_add(void *arg, int64_t id, uint32_t uid, unsigned flags)
{
    struct fsync *fs = arg;
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 1024;
        struct umap *m = realloc(fs->map, cap * sizeof *m);
        if (!m)
            return 1;
        fs->map = m;
        fs->cap = cap;
    }
    fs->map[fs->n++] = (struct umap){.uid = uid, .flags = flags, .id = id};
    return 0;
}

/* first entry with uid >= u */
static size_t lower_bound(const struct fsync *fs, uint32_t u)
{
    size_t lo = 0, hi = fs->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (fs->map[mid].uid < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct umap *map_find(struct fsync *fs, uint32_t uid)
{
    size_t i = lower_bound(fs, uid);
    return i < fs->n && fs->map[i].uid == uid && !fs->map[i].gone ? &fs->map[i] : NULL;
}

static enum tern_rc tx_begin(struct fsync *fs, struct tern_err *err)
{
    if (fs->tx)
        return TERN_OK;
    enum tern_rc rc = index_begin(fs->d->ix, err);
    fs->tx = rc == TERN_OK;
    return rc;
}

/* Write the folder row (watermark, modseq) and commit. */
static enum tern_rc tx_commit(struct fsync *fs, struct tern_err *err)
{
    if (!fs->tx)
        return TERN_OK;
    fs->since_commit = 0;
    enum tern_rc rc = index_folder_update(fs->d->ix, &fs->f, err);
    if (!rc)
        rc = index_commit(fs->d->ix, err);
    if (rc)
        index_rollback(fs->d->ix);
    fs->tx = false;
    return rc;
}

static void tx_abort(struct fsync *fs)
{
    if (fs->tx)
        index_rollback(fs->d->ix);
    fs->tx = false;
}

static void unlink_cached(struct fsync *fs, uint32_t uid)
{
    if (!fs->cache_exists)
        return;
    char *path = NULL;
    struct tern_err ignore = {0};
    if (imap_cache_path(fs->d, fs->f.id, fs->f.uidvalidity, uid, false, &path, &ignore) == TERN_OK)
        unlink(path);
    free(path);
}

static enum tern_rc expunge_entry(struct fsync *fs, struct umap *e, struct tern_err *err)
{
    enum tern_rc rc = index_msg_delete(fs->d->ix, e->id, err);
    if (rc == TERN_ENOTFOUND) {
        tern_err_clear(err);
        rc = TERN_OK;
    }
    if (rc)
        return rc;
    unlink_cached(fs, e->uid);
    e->gone = true;
    fs->st->expunged++;
    return TERN_OK;
}

static int vanish_range(void *arg, uint32_t lo, uint32_t hi)
{
    struct fsync *fs = arg;
    for (size_t i = lower_bound(fs, lo); i < fs->n && fs->map[i].uid <= hi; i++) {
        if (fs->map[i].gone)
            continue;
        struct tern_err err = {0};
        if (expunge_entry(fs, &fs->map[i], &err))
            return 1;
    }
    return 0;
}

static enum tern_rc store_new(struct fsync *fs, const struct imap_resp *r, uint32_t att,
                              uint32_t uid, uint32_t hdr, struct tern_err *err)
{
    struct umap *had = map_find(fs, uid); /* stored by a sync that was cut short */
    if (had)
        had->seen = true;
    struct index_msg m;
    index_msg_init(&m);
    m.folder_id = fs->f.id;
    m.uid = uid;
    tbuf_reset(&fs->kw);
    m.flags = imap_flags_parse(r, imap_fetch_item(r, att, "FLAGS", false), &fs->kw);
    uint64_t size;
    if (imap_num(r, imap_fetch_item(r, att, "RFC822.SIZE", false), UINT64_MAX / 2, &size))
        m.size = size;
    const char *s;
    size_t n;
    int64_t t;
    if (imap_str(r, imap_fetch_item(r, att, "INTERNALDATE", false), &s, &n) &&
        imap_parse_internaldate(s, n, &t))
        m.internaldate = t;
    if (imap_str(r, hdr, &s, &n)) {
        enum tern_rc hr = index_msg_from_headers(s, n, &m);
        if (hr == TERN_ENOMEM) {
            index_msg_clear(&m);
            return tern_fail(err, hr, "out of memory");
        }
    }
    uint32_t bs = imap_fetch_item(r, att, "BODYSTRUCTURE", false);
    if (bs != IMAP_NONE)
        m.has_attachments = imap_bodystructure_has_attachments(r, bs);
    enum tern_rc rc = TERN_OK;
    if (fs->kw.len && !(m.keywords = tern_strdup(fs->kw.data)))
        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    /* a plain INSERT for UIDs the index lacks (the cold-sync case) is
     * cheaper for SQLite than an upsert; a row we did not know of (a
     * concurrent writer) falls back to the upsert */
    if (!rc && !had) {
        rc = index_msg_insert(fs->d->ix, &m, err);
        if (rc == TERN_EDATA) {
            tern_err_clear(err);
            rc = index_msg_upsert(fs->d->ix, &m, err);
        }
    } else if (!rc) {
        rc = index_msg_upsert(fs->d->ix, &m, err);
    }
    index_msg_clear(&m);
    if (!rc) {
        fs->inserted++;
        fs->st->new_messages++;
        if (uid > fs->max_uid)
            fs->max_uid = uid;
        /* bound the transaction even when the server completes the
         * pipelined chunks late or out of order */
        if (++fs->since_commit >= IMAP_CHUNK && !(rc = tx_commit(fs, err)))
            rc = tx_begin(fs, err);
    }
    return rc;
}

static enum tern_rc on_fetch(struct fsync *fs, const struct imap_resp *r, uint32_t att,
                             struct tern_err *err)
{
    uint64_t uid;
    uint32_t ut = imap_fetch_item(r, att, "UID", false);
    uint32_t hdr = imap_fetch_item(r, att, "BODY[HEADER.FIELDS", true);
    if (ut == IMAP_NONE && hdr == IMAP_NONE)
        return TERN_OK; /* an unsolicited flag update by sequence number */
    /* Skipping a message we asked for is not safe: the chunk's OK moves
     * the watermark past it and no later sync asks again. Failing rolls
     * the chunk back instead. */
    if (!imap_num(r, ut, UINT32_MAX, &uid) || uid == 0)
        return tern_fail(err, TERN_EPROTO, "IMAP server sent a FETCH without a valid UID");
    if (hdr != IMAP_NONE) {
        if (uid < fs->new_lo)
            return TERN_OK; /* `a:*` answered with an old message */
        return store_new(fs, r, att, (uint32_t)uid, hdr, err);
    }
    uint32_t fl = imap_fetch_item(r, att, "FLAGS", false);
    struct umap *e;
    if (fl == IMAP_NONE || !(e = map_find(fs, (uint32_t)uid)))
        return TERN_OK;
    e->seen = true;
    tbuf_reset(&fs->kw);
    unsigned flags = imap_flags_parse(r, fl, &fs->kw);
    if (flags == e->flags && !fs->changes_only && fs->kw.len == 0)
        return TERN_OK;
    if (flags != e->flags)
        fs->st->flags_changed++;
    e->flags = flags;
    return index_msg_set_flags(fs->d->ix, e->id, flags, fs->kw.data ? fs->kw.data : "", err);
}

/* Full flag fetch done: local messages the server did not report are gone. */
static enum tern_rc diff_done(struct fsync *fs, struct tern_err *err)
{
    for (size_t i = 0; i < fs->n && fs->map[i].uid < fs->new_lo; i++) {
        struct umap *e = &fs->map[i];
        if (!e->gone && !e->seen) {
            enum tern_rc rc = expunge_entry(fs, e, err);
            if (rc)
                return rc;
        }
    }
    fs->full_diff = false;
    return TERN_OK;
}

static void progress(struct fsync *fs)
{
    const struct acct_env *env = fs->d->env;
    if (env->progress)
        env->progress(env->progress_arg, fs->inserted, fs->total_new);
}

static enum tern_rc on_resp(void *arg, const struct imap_resp *r, struct tern_err *err)
{
    struct fsync *fs = arg;
    uint64_t num;
    uint32_t rest;
    enum tern_rc rc;
    if (r->kind == IMAP_TAGGED) {
        uint32_t tag = imap_tag_num(r);
        if (tag == fs->flags_tag) {
            if ((rc = imap_check(r, "UID FETCH (FLAGS)", err)))
                return rc;
            if (fs->full_diff && (rc = diff_done(fs, err)))
                return rc;
            fs->modseq_ok = true;
            fs->f.highestmodseq = fs->d->s->sel.highestmodseq;
            if ((rc = tx_commit(fs, err)))
                return rc;
            return tx_begin(fs, err);
        }
        for (size_t k = 0; k < fs->nch; k++) {
            if (fs->ctag[k] != tag)
                continue;
            if ((rc = imap_check(r, "UID FETCH", err)))
                return rc;
            /* Dovecot runs pipelined FETCHes in parallel: replies may
             * complete out of order, so the watermark only moves past
             * chunks that are all complete (rows of later chunks committed
             * early are harmless: a resumed sync upserts them). */
            fs->cdone[k] = true;
            while (fs->ncdone < fs->nch && fs->cdone[fs->ncdone])
                fs->ncdone++;
            if (fs->ncdone == 0)
                return TERN_OK;
            size_t j = fs->ncdone - 1;
            if (fs->chi[j] == UINT32_MAX - 1) /* open-ended a:* */
                fs->f.uidnext = fs->max_uid >= fs->new_lo ? fs->max_uid + 1 : fs->new_lo;
            else if (fs->chi[j] + 1 > fs->f.uidnext)
                fs->f.uidnext = fs->chi[j] + 1;
            if (fs->modseq_ok)
                fs->f.highestmodseq = fs->d->s->sel.highestmodseq;
            if ((rc = tx_commit(fs, err)))
                return rc;
            progress(fs);
            return tx_begin(fs, err);
        }
        return imap_check(r, "IMAP command", err);
    }
    if (imap_is_numbered(r, "FETCH", &num, &rest)) {
        if (!imap_is_list(r, rest))
            return tern_fail(err, TERN_EPROTO, "IMAP server sent a FETCH without data");
        return on_fetch(fs, r, rest, err);
    }
    if (imap_is_named(r, "VANISHED", &rest)) {
        uint32_t set = imap_is_list(r, rest) ? imap_next(r, 0, rest) : rest;
        const char *s;
        size_t n;
        if (imap_str(r, set, &s, &n) && !imap_seqset_walk(s, n, UINT32_MAX, vanish_range, fs))
            return tern_fail(err, TERN_EPROTO, "IMAP server sent a bad VANISHED set");
        return TERN_OK;
    }
    return TERN_OK;
}

/* ------------------------------------------------------------- planning */

struct uidvec {
    uint32_t *v;
    size_t n, cap;
    bool oom, over;
};

static int uidvec_range(void *arg, uint32_t lo, uint32_t hi)
{
    struct uidvec *u = arg;
    for (uint64_t x = lo; x <= hi; x++) {
        if (u->n >= (size_t)IMAP_SEQSET_MAX) { /* more UIDs than any mailbox we take */
            u->over = true;
            return 1;
        }
        if (u->n == u->cap) {
            size_t cap = u->cap ? u->cap * 2 : 1024;
            uint32_t *v = realloc(u->v, cap * sizeof *v);
            if (!v) {
                u->oom = true;
                return 1;
            }
            u->v = v;
            u->cap = cap;
        }
        u->v[u->n++] = (uint32_t)x;
    }
    return 0;
}

static enum tern_rc on_search(void *arg, const struct imap_resp *r, struct tern_err *err)
{
    struct uidvec *u = arg;
    uint32_t rest;
    if (imap_is_named(r, "SEARCH", &rest)) {
        for (uint32_t c = rest; c != IMAP_NONE; c = imap_next(r, 0, c)) {
            uint64_t v;
            if (!imap_num(r, c, UINT32_MAX, &v) || v == 0)
                return tern_fail(err, TERN_EPROTO, "IMAP server sent a bad SEARCH result");
            uidvec_range(u, (uint32_t)v, (uint32_t)v);
        }
    } else if (imap_is_named(r, "ESEARCH", &rest)) {
        for (uint32_t c = rest; c != IMAP_NONE; c = imap_next(r, 0, c)) {
            if (!imap_eq(r, c, "ALL"))
                continue;
            const char *s;
            size_t n;
            uint32_t v = imap_next(r, 0, c);
            if (!imap_str(r, v, &s, &n) || !imap_seqset_walk(s, n, UINT32_MAX, uidvec_range, u))
                return tern_fail(err, TERN_EPROTO, "IMAP server sent a bad ESEARCH result");
        }
    }
    if (u->oom)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    if (u->over)
        return tern_fail(err, TERN_EPROTO, "IMAP server listed more than %d UIDs",
                         IMAP_SEQSET_MAX);
    return TERN_OK;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* UIDs in lo:hi on the server (one round trip). */
static enum tern_rc search_uids(struct imap_drv *d, uint32_t lo, uint32_t hi, struct uidvec *u,
                                struct tern_err *err)
{
    char range[40];
    if (hi)
        snprintf(range, sizeof range, "%u:%u", (unsigned)lo, (unsigned)hi);
    else
        snprintf(range, sizeof range, "%u:*", (unsigned)lo);
    enum tern_rc rc;
    if (d->s->caps & CAP_ESEARCH)
        rc = imap_simple(d->s, on_search, u, err, "UID SEARCH RETURN (ALL) UID %s", range);
    else
        rc = imap_simple(d->s, on_search, u, err, "UID SEARCH UID %s", range);
    if (!rc && u->n > 1)
        qsort(u->v, u->n, sizeof u->v[0], cmp_u32);
    return rc;
}

static enum tern_rc add_chunk(struct fsync *fs, uint32_t a, uint32_t b, bool star,
                              struct tern_err *err)
{
    uint32_t *t = realloc(fs->ctag, (fs->nch + 1) * sizeof *t);
    if (!t)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    fs->ctag = t;
    uint32_t *h = realloc(fs->chi, (fs->nch + 1) * sizeof *h);
    if (!h)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    fs->chi = h;
    bool *dn = realloc(fs->cdone, (fs->nch + 1) * sizeof *dn);
    if (!dn)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    fs->cdone = dn;
    dn[fs->nch] = false;
    char range[40];
    if (star)
        snprintf(range, sizeof range, "%u:*", (unsigned)a);
    else if (a == b)
        snprintf(range, sizeof range, "%u", (unsigned)a);
    else
        snprintf(range, sizeof range, "%u:%u", (unsigned)a, (unsigned)b);
    enum tern_rc rc = imap_cmd(fs->d->s, &fs->ctag[fs->nch], err,
                               "UID FETCH %s (UID FLAGS INTERNALDATE RFC822.SIZE BODYSTRUCTURE "
                               "BODY.PEEK[HEADER.FIELDS (" IMAP_HEADER_FIELDS ")])",
                               range);
    if (rc)
        return rc;
    fs->chi[fs->nch++] = b;
    return TERN_OK;
}

/* Queue the FETCH commands for new messages (UIDs new_lo .. uidnext-1). */
static enum tern_rc plan_new(struct fsync *fs, struct tern_err *err)
{
    struct imap_sel *sel = &fs->d->s->sel;
    if (sel->exists == 0)
        return TERN_OK;
    uint32_t lo = fs->new_lo;
    if (sel->uidnext && sel->uidnext <= lo)
        return TERN_OK;
    uint64_t alive = 0;
    for (size_t i = 0; i < fs->n; i++)
        alive += !fs->map[i].gone;
    fs->total_new = sel->exists > alive ? sel->exists - alive : 0;
    if (!sel->uidnext) {
        /* no UIDNEXT: one open-ended fetch, watermark from what came */
        return add_chunk(fs, lo, UINT32_MAX - 1, true, err);
    }
    uint32_t hi = sel->uidnext - 1;
    uint64_t span = (uint64_t)hi - lo + 1;
    if (span <= 4 * (uint64_t)fs->total_new + IMAP_CHUNK) {
        /* dense: chunks by UID range, no extra round trip */
        uint64_t width = IMAP_CHUNK;
        if (span / width >= IMAP_MAX_CHUNKS)
            width = span / IMAP_MAX_CHUNKS + 1;
        for (uint64_t a = lo; a <= hi; a += width) {
            uint64_t b = a + width - 1 > hi ? hi : a + width - 1;
            enum tern_rc rc = add_chunk(fs, (uint32_t)a, (uint32_t)b, false, err);
            if (rc)
                return rc;
        }
        return TERN_OK;
    }
    /* sparse UIDs: ask which exist, then chunk by count */
    struct uidvec u = {0};
    enum tern_rc rc = search_uids(fs->d, lo, hi, &u, err);
    for (size_t i = 0; i < u.n && !rc; i += IMAP_CHUNK) {
        size_t j = i + IMAP_CHUNK - 1 < u.n ? i + IMAP_CHUNK - 1 : u.n - 1;
        uint32_t b = j + 1 == u.n ? hi : u.v[j];
        rc = add_chunk(fs, u.v[i], b, false, err);
    }
    if (!rc && u.n == 0) /* nothing exists there: just move the watermark */
        fs->f.uidnext = sel->uidnext;
    free(u.v);
    return rc;
}

/* CONDSTORE without QRESYNC: expunges are found by comparing counts, and
 * when they differ, the UID list. */
static enum tern_rc expunge_check(struct fsync *fs, struct tern_err *err)
{
    uint64_t alive = fs->inserted;
    for (size_t i = 0; i < fs->n; i++)
        alive += !fs->map[i].gone;
    if (alive == fs->d->s->sel.exists || fs->new_lo <= 1)
        return TERN_OK;
    struct uidvec u = {0};
    enum tern_rc rc = search_uids(fs->d, 1, fs->new_lo - 1, &u, err);
    for (size_t i = 0; i < fs->n && !rc; i++) {
        struct umap *e = &fs->map[i];
        if (e->gone || e->uid >= fs->new_lo)
            continue;
        if (!bsearch(&e->uid, u.v, u.n, sizeof u.v[0], cmp_u32))
            rc = expunge_entry(fs, e, err);
    }
    free(u.v);
    return rc;
}

static void fsync_free(struct fsync *fs)
{
    index_folder_clear(&fs->f);
    free(fs->map);
    free(fs->ctag);
    free(fs->chi);
    free(fs->cdone);
    tbuf_free(&fs->kw);
}

/* Drop everything the index and cache hold for the folder (UIDVALIDITY
 * changed). Inside the open transaction. */
static enum tern_rc reset_folder(struct fsync *fs, struct tern_err *err)
{
    for (size_t i = 0; i < fs->n; i++) {
        if (fs->map[i].gone)
            continue;
        enum tern_rc rc = index_msg_delete(fs->d->ix, fs->map[i].id, err);
        if (rc && rc != TERN_ENOTFOUND)
            return rc;
        tern_err_clear(err);
        fs->st->expunged++;
    }
    fs->n = 0;
    imap_cache_drop(fs->d, fs->f.id, 0);
    fs->cache_exists = false;
    fs->f.uidnext = 0;
    fs->f.highestmodseq = 0;
    return TERN_OK;
}

static bool folder_has_cache(struct fsync *fs)
{
    char *dir = NULL;
    struct tern_err ignore = {0};
    struct stat sb;
    bool yes =
        imap_cache_path(fs->d, fs->f.id, fs->f.uidvalidity, 0, true, &dir, &ignore) == TERN_OK &&
        stat(dir, &sb) == 0;
    free(dir);
    return yes;
}

struct missing_body {
    uint64_t n;
};

static int count_missing(void *arg, const struct index_msg *m)
{
    struct missing_body *mb = arg;
    if (!m->body_path) {
        mb->n++;
        return 1;
    }
    return 0;
}

static bool wants_bodies(const struct imap_drv *d)
{
    return d->env->fetch_bodies || d->env->cfg->offline;
}

/* A folder empty on both sides: record the server's STATUS facts (only
 * when they changed: no write, no fsync on a quiet sync). */
static enum tern_rc empty_folder(struct fsync *fs, const struct imap_folder_status *fst,
                                 struct tern_err *err)
{
    struct index_folder *f = &fs->f;
    uint64_t modseq = fs->d->s->condstore ? fst->highestmodseq : 0;
    if (f->uidvalidity == fst->uidvalidity && f->uidnext == fst->uidnext &&
        f->highestmodseq == modseq)
        return TERN_OK;
    if (f->uidvalidity && f->uidvalidity != fst->uidvalidity)
        imap_cache_drop(fs->d, f->id, 0);
    f->uidvalidity = fst->uidvalidity;
    f->uidnext = fst->uidnext;
    f->highestmodseq = modseq;
    f->last_sync = (int64_t)time(NULL);
    return index_folder_update(fs->d->ix, f, err);
}

static enum tern_rc sync_folder(struct imap_drv *d, int64_t fid,
                                const struct imap_folder_status *fst, bool has_pending,
                                struct acct_sync_stats *st, struct tern_err *err)
{
    struct imap_sess *s = d->s;
    struct fsync fs = {.d = d, .st = st};
    tbuf_init(&fs.kw, 65536);
    enum tern_rc rc = index_folder_get(d->ix, fid, NULL, &fs.f, err);
    if (rc)
        return rc;
    /* unchanged since the last sync? (LIST-STATUS facts) */
    if (fst && fst->have && !has_pending && fs.f.uidvalidity &&
        fst->uidvalidity == fs.f.uidvalidity && fst->uidnext == fs.f.uidnext &&
        fs.f.highestmodseq && fst->highestmodseq == fs.f.highestmodseq &&
        fst->messages == fs.f.total) {
        struct missing_body mb = {0};
        if (wants_bodies(d)) {
            struct index_query q = {.folder_id = fid};
            rc = index_list(d->ix, &q, count_missing, &mb, err);
        }
        if (rc || mb.n == 0) {
            fsync_free(&fs);
            return rc;
        }
    }
    /* empty on the server and here: STATUS says all SELECT would */
    if (fst && fst->have && !has_pending && fst->messages == 0 && fs.f.total == 0 &&
        fst->uidvalidity) {
        rc = empty_folder(&fs, fst, err);
        fsync_free(&fs);
        return rc;
    }
    if ((rc = index_msg_uids(d->ix, fid, map_add, &fs, err)))
        goto out;
    uint64_t stored_modseq = fs.f.highestmodseq;
    fs.new_lo = fs.f.uidnext ? fs.f.uidnext : 1;
    fs.changes_only = true; /* what QRESYNC sends with SELECT */
    fs.cache_exists = folder_has_cache(&fs);
    bool qresync = s->qresync && fs.f.uidvalidity && stored_modseq;
    if ((rc = tx_begin(&fs, err)) || (rc = imap_select(d, &fs.f, true, on_resp, &fs, err)))
        goto out;
    struct imap_sel *sel = &s->sel;
    if (fs.f.uidvalidity && fs.f.uidvalidity != sel->uidvalidity) {
        if ((rc = reset_folder(&fs, err)))
            goto out;
        fs.new_lo = 1;
        stored_modseq = 0;
        qresync = false;
    }
    fs.f.uidvalidity = sel->uidvalidity;
    if (qresync && sel->highestmodseq >= stored_modseq) {
        fs.modseq_ok = true;
        fs.f.highestmodseq = sel->highestmodseq;
    } else {
        qresync = false;
    }
    /* the flag step, for messages the index has */
    bool local = false;
    for (size_t i = 0; i < fs.n && !local; i++)
        local = !fs.map[i].gone && fs.map[i].uid < fs.new_lo;
    bool need_expunge_check = false;
    if (qresync || !local) {
        fs.modseq_ok = true;
    } else if (sel->exists == 0) {
        for (size_t i = 0; i < fs.n && !rc; i++)
            if (!fs.map[i].gone)
                rc = expunge_entry(&fs, &fs.map[i], err);
        fs.modseq_ok = true;
    } else if (s->condstore && stored_modseq && sel->highestmodseq >= stored_modseq) {
        fs.changes_only = true;
        need_expunge_check = true;
        rc = imap_cmd(s, &fs.flags_tag, err, "UID FETCH 1:%u (UID FLAGS) (CHANGEDSINCE %llu)",
                      (unsigned)(fs.new_lo - 1), (unsigned long long)stored_modseq);
    } else {
        fs.changes_only = false;
        fs.full_diff = true;
        rc = imap_cmd(s, &fs.flags_tag, err, "UID FETCH 1:%u (UID FLAGS)",
                      (unsigned)(fs.new_lo - 1));
    }
    /* new messages, in the same burst */
    if (!rc)
        rc = plan_new(&fs, err);
    uint32_t last = fs.nch ? fs.ctag[fs.nch - 1] : fs.flags_tag;
    if (!rc && last) {
        /* the awaited reply, when it came last, is not shown to on_resp */
        const struct imap_resp *fin;
        rc = imap_wait(s, last, on_resp, &fs, &fin, err);
        if (!rc && fin)
            rc = on_resp(&fs, fin, err);
    }
    if (!rc && need_expunge_check)
        rc = expunge_check(&fs, err);
    /* Rows at or above the old watermark come from a sync that was cut
     * short after committing chunks out of order; the new-mail fetch just
     * covered that range, so the ones it did not return are gone. */
    for (size_t i = lower_bound(&fs, fs.new_lo); i < fs.n && !rc && fs.nch; i++) {
        struct umap *e = &fs.map[i];
        bool covered = fs.chi[fs.nch - 1] == UINT32_MAX - 1 || e->uid <= fs.chi[fs.nch - 1];
        if (!e->gone && !e->seen && covered)
            rc = expunge_entry(&fs, e, err);
    }
    if (rc)
        goto out;
    /* the whole folder is current */
    if (fs.nch && fs.chi[fs.nch - 1] == UINT32_MAX - 1)
        fs.f.uidnext = fs.max_uid >= fs.new_lo ? fs.max_uid + 1 : fs.new_lo;
    else if (sel->uidnext > fs.f.uidnext)
        fs.f.uidnext = sel->uidnext;
    fs.f.highestmodseq = fs.modseq_ok && s->condstore ? sel->highestmodseq : 0;
    fs.f.last_sync = (int64_t)time(NULL);
    if ((rc = tx_commit(&fs, err)))
        goto out;
    progress(&fs);
    rc = imap_push_folder(d, &fs.f, st, err);
    if (!rc && wants_bodies(d))
        rc = imap_prefetch(d, &fs.f, err);
out:
    tx_abort(&fs);
    fsync_free(&fs);
    return rc;
}

static bool is_inbox_name(const char *name)
{
    return name && tern_strcasecmp(name, "INBOX") == 0;
}

struct plan {
    int64_t *ids;
    size_t n, cap;
};

static enum tern_rc plan_add(struct plan *p, int64_t id, struct tern_err *err)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->ids[i] == id)
            return TERN_OK;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        int64_t *v = realloc(p->ids, cap * sizeof *v);
        if (!v)
            return tern_fail(err, TERN_ENOMEM, "out of memory");
        p->ids = v;
        p->cap = cap;
    }
    p->ids[p->n++] = id;
    return TERN_OK;
}

/* Fatal for the whole sync: the session cannot go on. */
static bool fatal(const struct imap_drv *d, enum tern_rc rc)
{
    return d->s->broken || rc == TERN_ENOMEM || rc == TERN_EIO || rc == TERN_ECONN ||
           rc == TERN_ETIMEOUT || rc == TERN_ECANCELED || rc == TERN_ELOCKED ||
           rc == TERN_EINTERNAL || rc == TERN_EPROTO;
}

enum tern_rc imap_sync_all(struct imap_drv *d, struct acct_sync_stats *st, struct tern_err *err)
{
    enum tern_rc rc = imap_drv_connect(d, err);
    if (rc)
        return rc;
    struct imap_listing L = {0};
    if ((rc = imap_list_folders(d, true, &L, err)))
        return rc;
    const struct tern_account *cfg = d->env->cfg;
    struct plan p = {0};
    struct tern_err soft = {0}; /* first per-folder failure */
    /* INBOX first, then the configured folders (or the subscribed ones) */
    for (int pass = 0; pass < 2 && !rc; pass++) {
        if (cfg->folders) {
            for (size_t i = 0; i < cfg->nfolders && !rc; i++) {
                const char *name = cfg->folders[i];
                if (is_inbox_name(name) != (pass == 0))
                    continue;
                struct index_folder f;
                struct tern_err e = {0};
                rc = index_folder_get(d->ix, 0, is_inbox_name(name) ? "INBOX" : name, &f, &e);
                if (rc == TERN_ENOTFOUND || (rc == TERN_OK && !f.remote_name)) {
                    if (rc == TERN_OK)
                        index_folder_clear(&f);
                    tern_fail(&soft, TERN_ENOTFOUND, "folder '%s' does not exist on the server",
                              name);
                    rc = TERN_OK;
                    continue;
                }
                if (rc) {
                    tern_fail(err, rc, "%s", e.msg);
                    break;
                }
                rc = plan_add(&p, f.id, err);
                index_folder_clear(&f);
            }
        } else {
            for (size_t i = 0; i < L.n && !rc; i++) {
                struct index_folder f;
                if ((rc = index_folder_get(d->ix, L.v[i].folder_id, NULL, &f, err)))
                    break;
                bool inbox = is_inbox_name(f.name);
                if (inbox == (pass == 0) && (f.subscribed || inbox))
                    rc = plan_add(&p, f.id, err);
                index_folder_clear(&f);
            }
        }
    }
    /* folders with queued changes get selected even when not synced */
    int64_t *pend = NULL;
    size_t npend = 0;
    if (!rc)
        rc = imap_pending_folders(d, &pend, &npend, err);
    for (size_t i = 0; i < npend && !rc; i++)
        rc = plan_add(&p, pend[i], err);
    for (size_t i = 0; i < p.n && !rc; i++) {
        const struct imap_folder_status *fst = NULL;
        for (size_t k = 0; k < L.n; k++)
            if (L.v[k].folder_id == p.ids[i])
                fst = &L.v[k];
        bool has_pending = false;
        for (size_t k = 0; k < npend; k++)
            has_pending |= pend[k] == p.ids[i];
        struct tern_err e = {0};
        rc = sync_folder(d, p.ids[i], fst, has_pending, st, &e);
        if (rc && !fatal(d, rc)) {
            tern_fail(&soft, rc, "%s", e.msg);
            rc = TERN_OK;
        } else if (rc) {
            tern_fail(err, rc, "%s", e.msg);
        }
    }
    free(pend);
    free(p.ids);
    imap_listing_free(&L);
    if (!rc && soft.rc)
        rc = tern_fail(err, soft.rc, "%s", soft.msg);
    return rc;
}
