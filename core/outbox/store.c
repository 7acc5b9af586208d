#include "private.h"

#include "core/smtp/lib.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define META_MAGIC "tern-outbox 1"
#define ORPHAN_AGE 3600 /* a message file without metadata this old is removed */

static enum tern_rc io_fail(struct tern_err *err, const char *what, const char *path)
{
    return tern_fail(err, TERN_EIO, "%s %s: %s", what, path, strerror(errno));
}

char *store_path(const struct outbox_store *s, const char *sub, const char *id)
{
    struct tbuf b;
    tbuf_init(&b, 8192);
    if (tbuf_printf(&b, "%s/%s%s%s", s->dir, sub, id ? "/" : "", id ? id : "")) {
        tbuf_free(&b);
        return NULL;
    }
    return tbuf_steal(&b);
}

static enum tern_rc mkdir_p(const char *path, struct tern_err *err)
{
    char buf[4096];
    if (!tern_snprintf(buf, sizeof buf, "%s", path))
        return tern_fail(err, TERN_EIO, "path too long: %s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST)
                return io_fail(err, "cannot create", buf);
            *p = c;
            if (!c)
                break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return tern_fail(err, TERN_EIO, "%s is not a directory", path);
    return TERN_OK;
}

static enum tern_rc fsync_dir(const char *path, struct tern_err *err)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return io_fail(err, "cannot open", path);
    int r = fsync(fd);
    close(fd);
    return r == 0 ? TERN_OK : io_fail(err, "cannot sync", path);
}

enum tern_rc store_open(const struct tern_account *a, bool create, struct outbox_store **out,
                        struct tern_err *err)
{
    *out = NULL;
    if (!a->data_dir)
        return tern_fail(err, TERN_ECONFIG, "account '%s' has no data directory", a->name);
    struct outbox_store *s = calloc(1, sizeof *s);
    if (!s)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    s->lock_fd = -1;
    struct tbuf b;
    tbuf_init(&b, 4096);
    if (tbuf_printf(&b, "%s/%s", a->data_dir, OUTBOX_DIR)) {
        free(s);
        tbuf_free(&b);
        return tern_fail(err, TERN_EIO, "outbox path too long");
    }
    s->dir = tbuf_steal(&b);
    struct stat st;
    if (!create && stat(s->dir, &st) != 0) {
        store_close(&s);
        return TERN_ENOTFOUND; /* no message text: not an error for callers */
    }
    static const char *subs[] = {"tmp", "new", "meta", "failed"};
    enum tern_rc rc = TERN_OK;
    for (size_t i = 0; i < 4 && !rc; i++) {
        char *p = store_path(s, subs[i], NULL);
        rc = p ? mkdir_p(p, err) : tern_fail(err, TERN_ENOMEM, "out of memory");
        free(p);
    }
    if (rc) {
        store_close(&s);
        return rc;
    }
    *out = s;
    return TERN_OK;
}

void store_close(struct outbox_store **sp)
{
    if (!sp || !*sp)
        return;
    if ((*sp)->lock_fd >= 0)
        close((*sp)->lock_fd); /* releases the flock */
    free((*sp)->dir);
    free(*sp);
    *sp = NULL;
}

enum tern_rc store_lock(struct outbox_store *s, struct tern_err *err)
{
    if (s->lock_fd >= 0)
        return TERN_OK;
    char *p = store_path(s, "lock", NULL);
    if (!p)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        enum tern_rc rc = io_fail(err, "cannot open", p);
        free(p);
        return rc;
    }
    free(p);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        if (errno == EWOULDBLOCK)
            return tern_fail(err, TERN_ELOCKED, "another tern is sending from this outbox");
        return tern_fail(err, TERN_EIO, "cannot lock the outbox: %s", strerror(errno));
    }
    s->lock_fd = fd;
    return TERN_OK;
}

void store_meta_free(struct store_meta *m)
{
    if (!m)
        return;
    struct outbox_entry *e = &m->e;
    free(e->id);
    free(e->from);
    for (size_t i = 0; i < e->nrcpts; i++)
        free(e->rcpts[i]);
    free(e->rcpts);
    free(e->error);
    free(e->subject);
    memset(m, 0, sizeof *m);
}

/* Write data to tmp/NAME, fsync, rename to dest_sub/dest_name, fsync
 * dest_sub. */
static enum tern_rc write_durable(struct outbox_store *s, const char *dest_sub,
                                  const char *dest_name, const char *data, size_t len,
                                  struct tern_err *err)
{
    char tmpname[300];
    if (!tern_snprintf(tmpname, sizeof tmpname, "%s.%s.%ld", dest_sub, dest_name, (long)getpid()))
        return tern_fail(err, TERN_EINTERNAL, "name too long");
    char *tmp = store_path(s, "tmp", tmpname);
    char *dst = store_path(s, dest_sub, dest_name);
    char *dir = store_path(s, dest_sub, NULL);
    enum tern_rc rc = TERN_OK;
    if (!tmp || !dst || !dir) {
        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
        goto out;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = io_fail(err, "cannot create", tmp);
        goto out;
    }
    if (!tern_write_all(fd, data, len))
        rc = io_fail(err, "cannot write", tmp);
    if (!rc && fsync(fd) != 0)
        rc = io_fail(err, "cannot sync", tmp);
    if (close(fd) != 0 && !rc)
        rc = io_fail(err, "cannot write", tmp);
    if (!rc && rename(tmp, dst) != 0)
        rc = io_fail(err, "cannot rename to", dst);
    if (rc)
        unlink(tmp);
    if (!rc)
        rc = fsync_dir(dir, err);
out:
    free(tmp);
    free(dst);
    free(dir);
    return rc;
}

static enum tern_rc meta_format(const struct store_meta *m, struct tbuf *b)
{
    const struct outbox_entry *e = &m->e;
    enum tern_rc rc = tbuf_printf(b,
                                  META_MAGIC "\nid %s\nsent %s\nsave-sent %s\ncreated %lld\n"
                                             "next %lld\nlast %lld\nattempts %u\nfrom %s\n",
                                  e->id, m->sent ? "yes" : "no", e->save_sent ? "yes" : "no",
                                  (long long)e->created, (long long)e->next_try,
                                  (long long)e->last_try, e->attempts, e->from ? e->from : "");
    for (size_t i = 0; i < e->nrcpts && !rc; i++)
        rc = tbuf_printf(b, "rcpt %s\n", e->rcpts[i]);
    if (!rc && e->error) {
        rc = tbuf_puts(b, "error ");
        for (const char *p = e->error; *p && !rc; p++)
            rc = tbuf_putc(b, (*p == '\n' || *p == '\r') ? ' ' : *p);
        if (!rc)
            rc = tbuf_putc(b, '\n');
    }
    return rc;
}

/* The text of m's metadata file in b (initialised here; the caller frees
 * it), within OUTBOX_META_MAX. */
static enum tern_rc meta_text(const struct store_meta *m, struct tbuf *b, struct tern_err *err)
{
    tbuf_init(b, OUTBOX_META_MAX);
    if (meta_format(m, b))
        return tern_fail(err, TERN_EDATA, "outbox metadata too large");
    return TERN_OK;
}

enum tern_rc store_write_meta(struct outbox_store *s, const struct store_meta *m,
                              struct tern_err *err)
{
    struct tbuf b;
    enum tern_rc rc = meta_text(m, &b, err);
    if (!rc)
        rc = write_durable(s, "meta", m->e.id, b.data, b.len, err);
    tbuf_free(&b);
    return rc;
}

/* An ID as tern makes them: digits, '.', '_', hex; nothing that could
 * walk out of the directory. */
static bool id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 60 || id[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '.' || c == '_'))
            return false;
    }
    return true;
}

static enum tern_rc read_small(const char *path, size_t max, struct tbuf *out, struct tern_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? tern_fail(err, TERN_ENOTFOUND, "%s: no such entry", path)
                               : io_fail(err, "cannot open", path);
    tbuf_init(out, max);
    enum tern_rc rc = tbuf_read_fd(out, fd);
    if (rc == TERN_EIO)
        rc = io_fail(err, "cannot read", path);
    else if (rc)
        rc = tern_fail(err, TERN_EDATA, "%s is too large", path);
    close(fd);
    if (rc)
        tbuf_free(out);
    return rc;
}

static bool parse_time(const char *v, time_t *out)
{
    uint64_t x;
    if (!tern_parse_u64(v, strlen(v), (uint64_t)1 << 40, &x))
        return false;
    *out = (time_t)x;
    return true;
}

static enum tern_rc meta_parse(const char *text, size_t n, struct store_meta *m)
{
    memset(m, 0, sizeof *m);
    struct outbox_entry *e = &m->e;
    size_t i = 0;
    bool magic = false;
    enum tern_rc rc = TERN_OK;
    while (i < n && !rc) {
        const char *l = text + i;
        const char *nl = memchr(l, '\n', n - i);
        size_t len = nl ? (size_t)(nl - l) : n - i;
        i += len + 1;
        char line[1100];
        if (len >= sizeof line) {
            rc = TERN_EDATA;
            break;
        }
        memcpy(line, l, len);
        line[len] = '\0';
        if (!magic) {
            magic = !strcmp(line, META_MAGIC);
            if (!magic)
                rc = TERN_EDATA;
            continue;
        }
        char *sp = strchr(line, ' ');
        const char *v = sp ? sp + 1 : "";
        if (sp)
            *sp = '\0';
        uint64_t x;
        if (!strcmp(line, "id")) {
            if (!id_ok(v) || !(e->id = tern_strdup(v)))
                rc = TERN_EDATA;
        } else if (!strcmp(line, "sent")) {
            m->sent = !strcmp(v, "yes");
        } else if (!strcmp(line, "save-sent")) {
            e->save_sent = !strcmp(v, "yes");
        } else if (!strcmp(line, "created")) {
            rc = parse_time(v, &e->created) ? TERN_OK : TERN_EDATA;
        } else if (!strcmp(line, "next")) {
            rc = parse_time(v, &e->next_try) ? TERN_OK : TERN_EDATA;
        } else if (!strcmp(line, "last")) {
            rc = parse_time(v, &e->last_try) ? TERN_OK : TERN_EDATA;
        } else if (!strcmp(line, "attempts")) {
            rc = tern_parse_u64(v, strlen(v), 1000000, &x) ? TERN_OK : TERN_EDATA;
            e->attempts = (unsigned)x;
        } else if (!strcmp(line, "from")) {
            if (smtp_addr_check(v, true, NULL, NULL) || !(e->from = tern_strdup(v)))
                rc = TERN_EDATA;
        } else if (!strcmp(line, "rcpt")) {
            if (e->nrcpts >= SMTP_RCPTS_MAX || smtp_addr_check(v, false, NULL, NULL)) {
                rc = TERN_EDATA;
                break;
            }
            char **nv = realloc(e->rcpts, (e->nrcpts + 1) * sizeof *nv);
            if (!nv || !(nv[e->nrcpts] = tern_strdup(v))) {
                if (nv)
                    e->rcpts = nv;
                rc = TERN_ENOMEM;
                break;
            }
            e->rcpts = nv;
            e->nrcpts++;
        } else if (!strcmp(line, "error")) {
            free(e->error);
            e->error = tern_strdup(v);
        }
        /* unknown keys: ignored (a newer tern may add some) */
    }
    if (!rc && (!magic || !e->id || !e->from))
        rc = TERN_EDATA;
    e->state = e->nrcpts ? OUTBOX_QUEUED : OUTBOX_SENT;
    if (rc)
        store_meta_free(m);
    return rc;
}

enum tern_rc store_read_meta(struct outbox_store *s, const char *id, struct store_meta *m,
                             struct tern_err *err)
{
    memset(m, 0, sizeof *m);
    if (!id_ok(id))
        return tern_fail(err, TERN_ENOTFOUND, "no outbox entry '%s'", id);
    char *p = store_path(s, "meta", id);
    if (!p)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    struct tbuf b;
    enum tern_rc rc = read_small(p, OUTBOX_META_MAX, &b, err);
    if (!rc) {
        rc = meta_parse(b.data ? b.data : "", b.len, m);
        if (!rc && strcmp(m->e.id, id)) {
            store_meta_free(m);
            rc = TERN_EDATA;
        }
        if (rc)
            rc = tern_fail(err, rc, "%s: malformed outbox metadata", p);
        tbuf_free(&b);
    }
    if (!rc) {
        char *mp = store_path(s, "new", id);
        struct stat st;
        if (mp && stat(mp, &st) == 0)
            m->e.size = (uint64_t)st.st_size;
        else
            rc = tern_fail(err, TERN_ENOTFOUND, "outbox entry %s has no message file", id);
        free(mp);
        if (rc)
            store_meta_free(m);
    }
    free(p);
    return rc;
}

enum tern_rc store_read_msg(struct outbox_store *s, const char *id, struct tbuf *out,
                            struct tern_err *err)
{
    if (!id_ok(id))
        return tern_fail(err, TERN_ENOTFOUND, "no outbox entry '%s'", id);
    char *p = store_path(s, "new", id);
    if (!p)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    enum tern_rc rc = read_small(p, (size_t)300 << 20, out, err);
    free(p);
    return rc;
}

/* A new entry id in buf, made from m's creation time (now when unset),
 * and given to m (m->e.id replaced). */
static enum tern_rc new_id(struct store_meta *m, char *buf, size_t size, struct tern_err *err)
{
    time_t now = m->e.created ? m->e.created : time(NULL);
    unsigned char r[8];
    if (gnutls_rnd(GNUTLS_RND_NONCE, r, sizeof r) != 0)
        return tern_fail(err, TERN_EINTERNAL, "gnutls_rnd failed");
    char hex[17];
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < 8; i++) {
        hex[2 * i] = digits[r[i] >> 4];
        hex[2 * i + 1] = digits[r[i] & 15];
    }
    hex[16] = '\0';
    /* seconds, then nanoseconds so IDs sort in the order entries were
     * made (the queue is sent oldest first), then pid and randomness */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (!tern_snprintf(buf, size, "%010lld.%09ld.%ld_%s", (long long)now, (long)ts.tv_nsec,
                       (long)getpid(), hex))
        return tern_fail(err, TERN_EINTERNAL, "ID buffer too small");
    free(m->e.id);
    if (!(m->e.id = tern_strdup(buf)))
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    return TERN_OK;
}

enum tern_rc store_add(struct outbox_store *s, const char *data, size_t len, struct store_meta *m,
                       struct tern_err *err)
{
    char id[64];
    enum tern_rc rc = new_id(m, id, sizeof id, err);
    if (rc)
        return rc;
    /* message first: an entry exists only once its metadata does */
    rc = write_durable(s, "new", id, data, len, err);
    if (!rc)
        rc = store_write_meta(s, m, err);
    if (rc) {
        char *p = store_path(s, "new", id);
        if (p)
            unlink(p);
        free(p);
    }
    return rc;
}

enum tern_rc store_remove(struct outbox_store *s, const char *id, struct tern_err *err)
{
    if (!id_ok(id))
        return tern_fail(err, TERN_ENOTFOUND, "no outbox entry '%s'", id);
    char *mp = store_path(s, "meta", id), *np = store_path(s, "new", id),
         *md = store_path(s, "meta", NULL);
    enum tern_rc rc = TERN_OK;
    if (!mp || !np || !md)
        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    else if (unlink(mp) != 0 && errno != ENOENT)
        rc = io_fail(err, "cannot remove", mp);
    else
        rc = fsync_dir(md, err);
    if (!rc && unlink(np) != 0 && errno != ENOENT)
        rc = io_fail(err, "cannot remove", np);
    free(mp);
    free(np);
    free(md);
    return rc;
}

enum tern_rc store_fail(struct outbox_store *s, const struct store_meta *m, struct tern_err *err)
{
    const char *id = m->e.id;
    char metaname[80];
    if (!id_ok(id) || !tern_snprintf(metaname, sizeof metaname, "%s.meta", id))
        return tern_fail(err, TERN_ENOTFOUND, "no outbox entry");
    struct tbuf b;
    enum tern_rc rc = meta_text(m, &b, err);
    if (!rc)
        rc = write_durable(s, "failed", metaname, b.data, b.len, err);
    tbuf_free(&b);
    char *np = store_path(s, "new", id), *fp = store_path(s, "failed", id),
         *fd = store_path(s, "failed", NULL);
    if (!rc && (!np || !fp || !fd))
        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    if (!rc && rename(np, fp) != 0)
        rc = io_fail(err, "cannot move to", fp);
    if (!rc)
        rc = fsync_dir(fd, err);
    free(np);
    free(fp);
    free(fd);
    if (!rc) {
        /* gone from the queue: remove the metadata (message already moved) */
        rc = store_remove(s, id, err);
    }
    return rc;
}

enum tern_rc store_add_failed(struct outbox_store *s, const char *data, size_t len,
                              struct store_meta *m, struct tern_err *err)
{
    char id[64];
    enum tern_rc rc = new_id(m, id, sizeof id, err);
    if (rc)
        return rc;
    char metaname[80];
    tern_snprintf(metaname, sizeof metaname, "%s.meta", id);
    struct tbuf b;
    rc = meta_text(m, &b, err);
    if (!rc)
        rc = write_durable(s, "failed", id, data, len, err);
    if (!rc)
        rc = write_durable(s, "failed", metaname, b.data, b.len, err);
    tbuf_free(&b);
    return rc;
}

static int cmp_meta(const void *a, const void *b)
{
    const struct store_meta *x = a, *y = b;
    return strcmp(x->e.id, y->e.id);
}

enum tern_rc store_scan(struct outbox_store *s, struct store_meta **out, size_t *n, size_t *orphans,
                        struct tern_err *err)
{
    *out = NULL;
    *n = 0;
    *orphans = 0;
    char *md = store_path(s, "meta", NULL);
    if (!md)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    DIR *d = opendir(md);
    if (!d) {
        enum tern_rc rc = io_fail(err, "cannot read", md);
        free(md);
        return rc;
    }
    enum tern_rc rc = TERN_OK;
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) && !rc) {
        if (de->d_name[0] == '.')
            continue;
        if (*n >= OUTBOX_ENTRIES_MAX)
            break;
        struct store_meta m;
        struct tern_err ignored = {0};
        if (store_read_meta(s, de->d_name, &m, &ignored)) {
            (*orphans)++;
            continue;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            struct store_meta *v = realloc(*out, cap * sizeof *v);
            if (!v) {
                store_meta_free(&m);
                rc = tern_fail(err, TERN_ENOMEM, "out of memory");
                break;
            }
            *out = v;
        }
        (*out)[(*n)++] = m;
    }
    closedir(d);
    free(md);
    /* message files left without metadata by a crash (before the entry
     * existed, or after it was removed) */
    char *nd = store_path(s, "new", NULL);
    DIR *dn = nd ? opendir(nd) : NULL;
    time_t now = time(NULL);
    while (dn && (de = readdir(dn))) {
        if (de->d_name[0] == '.')
            continue;
        char *mp = store_path(s, "meta", de->d_name);
        char *np = store_path(s, "new", de->d_name);
        struct stat st;
        if (mp && np && stat(mp, &st) != 0 && errno == ENOENT && stat(np, &st) == 0) {
            if (now - st.st_mtime > ORPHAN_AGE)
                unlink(np);
            else
                (*orphans)++;
        }
        free(mp);
        free(np);
    }
    if (dn)
        closedir(dn);
    free(nd);
    if (rc) {
        for (size_t i = 0; i < *n; i++)
            store_meta_free(&(*out)[i]);
        free(*out);
        *out = NULL;
        *n = 0;
        return rc;
    }
    if (*n)
        qsort(*out, *n, sizeof **out, cmp_meta);
    return TERN_OK;
}
