/*
 * Bodies on demand: `UID FETCH n BODY.PEEK[]` (PEEK: reading never sets
 * \Seen; marking a message read is a separate, explicit STORE). The
 * literal never sits in memory: the parser routes it to a temporary file
 * in the cache directory, which is renamed to its final name once the
 * response is complete.
 *
 * Cache layout: <data_dir>/cache/<folder id>/<uidvalidity>/<uid>, numbers
 * only, so no server-chosen byte ever reaches a path. A UIDVALIDITY change
 * starts a new generation directory; the old one is removed.
 */
#include "private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum tern_rc imap_cache_path(const struct imap_drv *d, int64_t folder_id, uint32_t uidvalidity,
                             uint32_t uid, bool dir_only, char **out, struct tern_err *err)
{
    struct tbuf b;
    tbuf_init(&b, 8192);
    enum tern_rc rc =
        tbuf_printf(&b, "%s/%lld/%u", d->cache_root, (long long)folder_id, (unsigned)uidvalidity);
    if (!rc && !dir_only)
        rc = tbuf_printf(&b, "/%u", (unsigned)uid);
    if (rc) {
        tbuf_free(&b);
        return tern_fail(err, rc, "cache path too long");
    }
    *out = tbuf_steal(&b);
    return TERN_OK;
}

/* Remove the files in dir (one level: our cache holds only files there). */
static void rm_files(int parent, const char *name)
{
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    DIR *dir = fdopendir(fd);
    if (!dir) {
        close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(dir)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlinkat(fd, e->d_name, 0);
    closedir(dir);
    unlinkat(parent, name, AT_REMOVEDIR);
}

void imap_cache_drop(const struct imap_drv *d, int64_t folder_id, uint32_t keep)
{
    char path[64];
    snprintf(path, sizeof path, "%lld", (long long)folder_id);
    int root = open(d->cache_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return;
    int fd = openat(root, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        DIR *dir = fdopendir(fd);
        if (dir) {
            char keepname[16];
            snprintf(keepname, sizeof keepname, "%u", (unsigned)keep);
            struct dirent *e;
            while ((e = readdir(dir)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
                    (!keep || strcmp(e->d_name, keepname)))
                    rm_files(fd, e->d_name);
            closedir(dir);
        } else {
            close(fd);
        }
        if (!keep)
            unlinkat(root, path, AT_REMOVEDIR);
    }
    close(root);
}

static enum tern_rc mkdir_p(const char *path, struct tern_err *err)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf)
        return tern_fail(err, TERN_EIO, "path too long: %s", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return tern_fail(err, TERN_EIO, "cannot create %s: %s", buf, strerror(errno));
        buf[i] = c;
    }
    return TERN_OK;
}

/* ------------------------------------------------------- the downloader */

struct bwant {
    uint32_t uid;
    int64_t id;
    char *path; /* set when stored */
};

struct bctx {
    struct imap_drv *d;
    char *dir;
    int dirfd;
    bool durable; /* fdatasync each file (single fetch); else syncfs per batch */
    struct bwant *w;
    size_t n;
    int fd;       /* the literal being written, -1 */
    char tmp[64]; /* its name inside dir */
    int werr;     /* errno of the first failed write */
    unsigned counter;
    size_t committed; /* w[0..committed) recorded in the index */
    uint32_t *batch_tag;
    size_t nbatch;
};

static enum tern_rc file_sink(void *arg, const char *buf, size_t n)
{
    struct bctx *b = arg;
    while (n > 0 && b->fd >= 0) {
        ssize_t k = write(b->fd, buf, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            b->werr = errno;
            return TERN_EIO;
        }
        buf += k;
        n -= (size_t)k;
    }
    return b->fd >= 0 ? TERN_OK : TERN_EIO;
}

static void drop_tmp(struct bctx *b)
{
    if (b->fd >= 0) {
        close(b->fd);
        b->fd = -1;
        unlinkat(b->dirfd, b->tmp, 0);
    }
}

static conn_sink_fn *route(void *arg, const char *key, size_t n, uint64_t size, void **sarg)
{
    struct bctx *b = arg;
    if (!key || n < 6 || tern_strncasecmp(key, "BODY[]", 6) != 0 || (n > 6 && key[6] != '<'))
        return NULL;
    drop_tmp(b); /* a previous literal nobody claimed */
    snprintf(b->tmp, sizeof b->tmp, ".tmp.%ld.%u", (long)getpid(), b->counter++);
    b->fd = openat(b->dirfd, b->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (b->fd < 0)
        b->werr = errno;
    *sarg = b;
    return file_sink;
}

static struct bwant *want_find(struct bctx *b, uint32_t uid)
{
    size_t lo = 0, hi = b->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->w[mid].uid < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < b->n && b->w[lo].uid == uid ? &b->w[lo] : NULL;
}

/* Record stored paths w[committed..upto) in the index, after making the
 * files durable. */
static enum tern_rc commit_paths(struct bctx *b, size_t upto, struct tern_err *err)
{
    if (!b->durable && syncfs(b->dirfd) != 0)
        return tern_fail(err, TERN_EIO, "cannot flush %s: %s", b->dir, strerror(errno));
    bool any = false;
    for (size_t i = b->committed; i < upto; i++)
        any |= b->w[i].path != NULL;
    enum tern_rc rc = TERN_OK;
    if (any && (rc = index_begin(b->d->ix, err)))
        return rc;
    for (size_t i = b->committed; i < upto && !rc; i++) {
        if (!b->w[i].path)
            continue;
        rc = index_msg_set_body_path(b->d->ix, b->w[i].id, b->w[i].path, err);
        if (rc == TERN_ENOTFOUND) { /* expunged meanwhile */
            tern_err_clear(err);
            rc = TERN_OK;
        }
    }
    if (any && !rc)
        rc = index_commit(b->d->ix, err);
    if (rc)
        index_rollback(b->d->ix);
    b->committed = upto;
    return rc;
}

static enum tern_rc on_body(void *arg, const struct imap_resp *r, struct tern_err *err)
{
    struct bctx *b = arg;
    uint64_t num, uid;
    uint32_t att;
    if (r->kind == IMAP_TAGGED) {
        uint32_t tag = imap_tag_num(r);
        for (size_t k = 0; k < b->nbatch; k++)
            if (b->batch_tag[k] == tag) {
                enum tern_rc rc = imap_check(r, "UID FETCH BODY.PEEK[]", err);
                size_t upto = (k + 1) * IMAP_BODY_BATCH < b->n ? (k + 1) * IMAP_BODY_BATCH : b->n;
                return rc ? rc : commit_paths(b, upto, err);
            }
        return TERN_OK;
    }
    if (!imap_is_numbered(r, "FETCH", &num, &att) || !imap_is_list(r, att))
        return TERN_OK;
    uint32_t body = IMAP_NONE;
    for (uint32_t c = imap_child(r, att); c != IMAP_NONE; c = imap_next(r, att, c)) {
        uint32_t v = imap_next(r, att, c);
        if (v == IMAP_NONE)
            break;
        if (r->tok[v].type == IMAP_EXTERNAL)
            body = v;
        c = v;
    }
    if (body == IMAP_NONE)
        return TERN_OK; /* flag updates and the like */
    if (b->werr) {
        enum tern_rc rc =
            tern_fail(err, TERN_EIO, "cannot write to %s: %s", b->dir, strerror(b->werr));
        drop_tmp(b);
        return rc;
    }
    struct bwant *w;
    if (!imap_num(r, imap_fetch_item(r, att, "UID", false), UINT32_MAX, &uid) ||
        !(w = want_find(b, (uint32_t)uid)) || w->path) {
        drop_tmp(b);
        return TERN_OK;
    }
    if (b->durable && fdatasync(b->fd) != 0) {
        enum tern_rc rc =
            tern_fail(err, TERN_EIO, "cannot flush a file in %s: %s", b->dir, strerror(errno));
        drop_tmp(b);
        return rc;
    }
    close(b->fd);
    b->fd = -1;
    char name[16];
    snprintf(name, sizeof name, "%u", (unsigned)uid);
    if (renameat(b->dirfd, b->tmp, b->dirfd, name) != 0) {
        int e = errno;
        unlinkat(b->dirfd, b->tmp, 0);
        return tern_fail(err, TERN_EIO, "cannot rename a file in %s: %s", b->dir, strerror(e));
    }
    struct tbuf p;
    tbuf_init(&p, 8192);
    if (tbuf_printf(&p, "%s/%s", b->dir, name)) {
        tbuf_free(&p);
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    }
    w->path = tbuf_steal(&p);
    return TERN_OK;
}

static int cmp_want(const void *a, const void *b)
{
    uint32_t x = ((const struct bwant *)a)->uid, y = ((const struct bwant *)b)->uid;
    return x < y ? -1 : x > y;
}

/* Download the bodies of w[0..n) (folder f selected, UIDVALIDITY checked). */
static enum tern_rc download(struct imap_drv *d, const struct index_folder *f, struct bwant *w,
                             size_t n, bool durable, struct tern_err *err)
{
    struct bctx b = {.d = d, .durable = durable, .w = w, .n = n, .fd = -1, .dirfd = -1};
    qsort(w, n, sizeof *w, cmp_want);
    enum tern_rc rc = imap_cache_path(d, f->id, f->uidvalidity, 0, true, &b.dir, err);
    if (!rc)
        rc = mkdir_p(b.dir, err);
    if (!rc && (b.dirfd = open(b.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        rc = tern_fail(err, TERN_EIO, "cannot open %s: %s", b.dir, strerror(errno));
    if (!rc) /* generations of the folder other than this one are stale */
        imap_cache_drop(d, f->id, f->uidvalidity);
    size_t nb = (n + IMAP_BODY_BATCH - 1) / IMAP_BODY_BATCH;
    if (!rc && !(b.batch_tag = calloc(nb ? nb : 1, sizeof *b.batch_tag)))
        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    struct tbuf set;
    tbuf_init(&set, 0);
    for (size_t k = 0; k < nb && !rc; k++) {
        tbuf_reset(&set);
        for (size_t i = k * IMAP_BODY_BATCH; i < n && i < (k + 1) * IMAP_BODY_BATCH && !rc; i++)
            rc = tbuf_printf(&set, "%s%u", set.len ? "," : "", (unsigned)w[i].uid);
        if (!rc)
            rc = imap_cmd(d->s, &b.batch_tag[k], err, "UID FETCH %s BODY.PEEK[]", set.data);
        b.nbatch = k + 1;
    }
    tbuf_free(&set);
    if (!rc && nb) {
        d->s->route = route;
        d->s->route_arg = &b;
        const struct imap_resp *fin;
        rc = imap_wait(d->s, b.batch_tag[nb - 1], on_body, &b, &fin, err);
        d->s->route = NULL;
        d->s->route_arg = NULL;
        /* the last batch's reply is the awaited one: not seen by on_body */
        if (!rc)
            rc = imap_check(fin, "UID FETCH BODY.PEEK[]", err);
        if (!rc)
            rc = commit_paths(&b, n, err);
    }
    drop_tmp(&b);
    if (b.dirfd >= 0)
        close(b.dirfd);
    free(b.dir);
    free(b.batch_tag);
    return rc;
}

static enum tern_rc select_for(struct imap_drv *d, const struct index_folder *f,
                               struct tern_err *err)
{
    enum tern_rc rc = imap_drv_connect(d, err);
    if (rc)
        return rc;
    if (d->sel_fid != f->id && (rc = imap_select(d, f, false, NULL, NULL, err)))
        return rc;
    if (f->uidvalidity && d->s->sel.uidvalidity != f->uidvalidity)
        return tern_fail(err, TERN_ENOTFOUND,
                         "folder '%s' was recreated on the server; run tern fetch", f->name);
    return TERN_OK;
}

enum tern_rc imap_fetch_body(struct imap_drv *d, int64_t id, char **path, struct tern_err *err)
{
    *path = NULL;
    struct index_msg m;
    index_msg_init(&m);
    enum tern_rc rc = index_msg_get(d->ix, id, &m, err);
    if (rc)
        return rc;
    struct stat sb;
    if (m.body_path && stat(m.body_path, &sb) == 0 && S_ISREG(sb.st_mode) &&
        (sb.st_size > 0 || m.size == 0)) {
        *path = m.body_path;
        m.body_path = NULL;
        index_msg_clear(&m);
        return TERN_OK;
    }
    struct index_folder f;
    if ((rc = index_folder_get(d->ix, m.folder_id, NULL, &f, err))) {
        index_msg_clear(&m);
        return rc;
    }
    rc = select_for(d, &f, err);
    struct bwant w = {.uid = m.uid, .id = m.id};
    if (!rc)
        rc = download(d, &f, &w, 1, true, err);
    if (!rc && !w.path)
        rc = tern_fail(err, TERN_ENOTFOUND,
                       "message %lld is no longer on the server (expunged); run tern fetch",
                       (long long)id);
    if (!rc)
        *path = w.path;
    else
        free(w.path);
    index_folder_clear(&f);
    index_msg_clear(&m);
    return rc;
}

struct missing {
    struct bwant *v;
    size_t n, cap;
    bool oom;
};

static int collect_missing(void *arg, const struct index_msg *m)
{
    struct missing *l = arg;
    if (m->body_path)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        struct bwant *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->oom = true;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (struct bwant){.uid = m->uid, .id = m->id};
    return 0;
}

enum tern_rc imap_prefetch(struct imap_drv *d, const struct index_folder *f, struct tern_err *err)
{
    struct missing l = {0};
    struct index_query q = {.folder_id = f->id};
    enum tern_rc rc = index_list(d->ix, &q, collect_missing, &l, err);
    if (!rc && l.oom)
        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    if (!rc && l.n)
        rc = select_for(d, f, err);
    if (!rc && l.n)
        rc = download(d, f, l.v, l.n, false, err);
    for (size_t i = 0; i < l.n; i++)
        free(l.v[i].path);
    free(l.v);
    return rc;
}
