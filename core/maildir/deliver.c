/* Streaming delivery: tmp/ -> (fsync) -> new/. */
#include "lib.h"
#include "private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Bytes gathered before each write(2): chunks from a POP3 reader are
 * small, and one syscall per line would dominate delivery time. */
#define DELIVERY_BUF 65536
/* A collision of 64 random bits is not expected; a few retries cover a
 * broken random source without looping forever. */
#define NAME_TRIES 8
/* Room for "<seconds>.<pid>_<16 hex>.<host>" with a fully escaped host. */
#define NAME_SIZE 320

struct maildir_delivery {
    struct maildir *md; /* borrowed */
    int fd;
    unsigned flags;
    bool held_cr; /* MAILDIR_DELIVER_LF: a CR ended the last chunk */
    uint64_t size;
    size_t blen;
    char name[NAME_SIZE];
    char buf[DELIVERY_BUF];
};

static bool make_name(struct maildir *md, char *out, size_t size)
{
    uint64_t r = 0;
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom((char *)&r + got, sizeof r - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        got += (size_t)n;
    }
    return tern_snprintf(out, size, "%lld.%ld_%016llx.%s", (long long)time(NULL), (long)getpid(),
                         (unsigned long long)r, md->host);
}

enum tern_rc maildir_delivery_begin(struct maildir *md, unsigned flags,
                                    struct maildir_delivery **dp, struct tern_err *err)
{
    *dp = NULL;
    struct maildir_delivery *d = malloc(sizeof *d);
    if (!d)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    d->md = md;
    d->flags = flags;
    d->held_cr = false;
    d->size = 0;
    d->blen = 0;
    d->fd = -1;
    for (int i = 0; i < NAME_TRIES && d->fd < 0; i++) {
        if (!make_name(md, d->name, sizeof d->name)) {
            free(d);
            return tern_fail(err, TERN_EIO, "cannot make a unique Maildir name: %s",
                             strerror(errno));
        }
        d->fd = openat(md->tmpfd, d->name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (d->fd < 0 && errno != EEXIST)
            break;
    }
    if (d->fd < 0) {
        enum tern_rc rc =
            tern_fail(err, TERN_EIO, "create in %s/tmp: %s", md->path, strerror(errno));
        free(d);
        return rc;
    }
    *dp = d;
    return TERN_OK;
}

static enum tern_rc write_all(struct maildir_delivery *d, const char *p, size_t n,
                              struct tern_err *err)
{
    if (!tern_write_all(d->fd, p, n))
        return tern_fail(err, TERN_EIO, "write %s/tmp/%s: %s", d->md->path, d->name,
                         strerror(errno));
    return TERN_OK;
}

static enum tern_rc drain(struct maildir_delivery *d, struct tern_err *err)
{
    enum tern_rc rc = write_all(d, d->buf, d->blen, err);
    if (rc == TERN_OK)
        d->blen = 0;
    return rc;
}

static enum tern_rc put(struct maildir_delivery *d, const char *p, size_t n, struct tern_err *err)
{
    d->size += n;
    if (n >= DELIVERY_BUF) {
        enum tern_rc rc = drain(d, err);
        return rc ? rc : write_all(d, p, n, err);
    }
    if (d->blen + n > DELIVERY_BUF) {
        enum tern_rc rc = drain(d, err);
        if (rc)
            return rc;
    }
    memcpy(d->buf + d->blen, p, n);
    d->blen += n;
    return TERN_OK;
}

enum tern_rc maildir_delivery_write(struct maildir_delivery *d, const void *data, size_t n,
                                    struct tern_err *err)
{
    const char *p = data;
    if (!(d->flags & MAILDIR_DELIVER_LF))
        return put(d, p, n, err);
    enum tern_rc rc;
    size_t i = 0;
    if (d->held_cr && n) {
        d->held_cr = false;
        /* The held CR was a line end only if LF follows; else keep it. */
        if (p[0] != '\n' && (rc = put(d, "\r", 1, err)))
            return rc;
    }
    while (i < n) {
        const char *cr = memchr(p + i, '\r', n - i);
        size_t end = cr ? (size_t)(cr - p) : n;
        if ((rc = put(d, p + i, end - i, err)))
            return rc;
        if (!cr)
            break;
        if (end + 1 == n) {
            d->held_cr = true;
            break;
        }
        if (p[end + 1] != '\n' && (rc = put(d, "\r", 1, err)))
            return rc;
        i = end + 1;
    }
    return TERN_OK;
}

uint64_t maildir_delivery_size(const struct maildir_delivery *d)
{
    return d->size + (d->held_cr ? 1 : 0);
}

void maildir_delivery_abort(struct maildir_delivery **dp)
{
    if (!dp || !*dp)
        return;
    struct maildir_delivery *d = *dp;
    if (d->fd >= 0)
        close(d->fd);
    unlinkat(d->md->tmpfd, d->name, 0);
    free(d);
    *dp = NULL;
}

/* Move tmp/NAME to new/NAME without ever replacing an existing file. */
static int move_new(struct maildir *md, const char *name)
{
    if (renameat2(md->tmpfd, name, md->newfd, name, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    /* File systems without RENAME_NOREPLACE: the classic link + unlink. */
    if (linkat(md->tmpfd, name, md->newfd, name, 0) < 0)
        return -1;
    unlinkat(md->tmpfd, name, 0);
    return 0;
}

/* A name this module made: a plain base name (the caller got it back from
 * finish). */
static bool plain_name(const char *name)
{
    return name && *name && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..") &&
           strlen(name) < NAME_SIZE;
}

/* Write out what is buffered, fsync per the mode, close. The file stays in
 * tmp/. On failure the delivery is left for the caller to abort. */
static enum tern_rc finish_data(struct maildir_delivery *d, struct tern_err *err)
{
    struct maildir *md = d->md;
    enum tern_rc rc = TERN_OK;
    if (d->held_cr) {
        d->held_cr = false;
        rc = put(d, "\r", 1, err);
    }
    if (!rc)
        rc = drain(d, err);
    if (!rc && md->mode != MAILDIR_SYNC_BATCH_SYNCFS && fsync(d->fd) < 0)
        rc = tern_fail(err, TERN_EIO, "fsync %s/tmp/%s: %s", md->path, d->name, strerror(errno));
    /* close() can report a delayed write error (NFS): check it. */
    int fd = d->fd;
    d->fd = -1;
    if (close(fd) < 0 && !rc)
        rc = tern_fail(err, TERN_EIO, "close %s/tmp/%s: %s", md->path, d->name, strerror(errno));
    return rc;
}

/* The rename into new/ and, in MAILDIR_SYNC_EACH mode, its directory
 * sync (a failed sync takes the file back out of new/). */
static enum tern_rc publish(struct maildir *md, const char *name, struct tern_err *err)
{
    if (move_new(md, name) < 0)
        return tern_fail(err, TERN_EIO, "rename into %s/new: %s", md->path, strerror(errno));
    if (md->mode == MAILDIR_SYNC_EACH) {
        enum tern_rc rc = maildir_sync_dir(md->newfd, "new/", err);
        if (rc) {
            /* Not durable: take it back so the caller can retry cleanly. */
            unlinkat(md->newfd, name, 0);
            return rc;
        }
    } else {
        md->dirty_new = true;
    }
    return TERN_OK;
}

enum tern_rc maildir_delivery_commit(struct maildir_delivery **dp, char **name,
                                     struct tern_err *err)
{
    if (name)
        *name = NULL;
    struct maildir_delivery *d = *dp;
    struct maildir *md = d->md;
    enum tern_rc rc = TERN_OK;
    /* Allocate the name first: once the file is in new/, nothing may fail
     * except the directory sync (which takes it back). */
    char *copy = NULL;
    if (name && !(copy = tern_strdup(d->name)))
        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    if (!rc)
        rc = finish_data(d, err);
    if (!rc && (rc = publish(md, d->name, err)) == TERN_OK) {
        if (name)
            *name = copy;
        free(d);
        *dp = NULL;
        return TERN_OK;
    }
    free(copy);
    maildir_delivery_abort(dp); /* unlinks tmp/NAME (new/NAME was taken back) */
    return rc;
}

enum tern_rc maildir_delivery_finish(struct maildir_delivery **dp, char **name,
                                     struct tern_err *err)
{
    *name = NULL;
    struct maildir_delivery *d = *dp;
    enum tern_rc rc = TERN_OK;
    char *copy = tern_strdup(d->name);
    if (!copy)
        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    if (!rc)
        rc = finish_data(d, err);
    if (rc) {
        free(copy);
        maildir_delivery_abort(dp);
        return rc;
    }
    *name = copy;
    free(d);
    *dp = NULL;
    return TERN_OK;
}

enum tern_rc maildir_publish(struct maildir *md, const char *name, struct tern_err *err)
{
    if (!plain_name(name))
        return tern_fail(err, TERN_EUSAGE, "bad Maildir name");
    return publish(md, name, err);
}

void maildir_discard(struct maildir *md, const char *name)
{
    if (plain_name(name))
        unlinkat(md->tmpfd, name, 0);
}
