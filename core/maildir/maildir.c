/* Opening and creating a Maildir, Maildir++ sub-folders, and the batch
 * flush. Directory fds are kept open so every later operation is an *at()
 * call that cannot be redirected by a rename of the path. */
#include "lib.h"
#include "private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum tern_rc maildir_sync_dir(int fd, const char *what, struct tern_err *err)
{
    if (fsync(fd) < 0)
        return tern_fail(err, TERN_EIO, "fsync of %s: %s", what, strerror(errno));
    return TERN_OK;
}

static enum tern_rc sync_parent(const char *path, struct tern_err *err);

/* mkdir -p with mode 0700 for every directory it creates. *created tells
 * whether the last component was made now (then its parent needs an
 * fsync for the new entry to be durable). */
static enum tern_rc mkdir_p(const char *path, bool *created, struct tern_err *err)
{
    *created = false;
    struct stat st;
    if (stat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return tern_fail(err, TERN_EIO, "%s exists and is not a directory", path);
        return TERN_OK;
    }
    if (errno != ENOENT)
        return tern_fail(err, TERN_EIO, "%s: %s", path, strerror(errno));
    char *copy = tern_strdup(path);
    if (!copy)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    /* Create each missing prefix in turn. */
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        enum tern_rc rc = TERN_OK;
        if (mkdir(copy, 0700) == 0)
            /* A new directory is only as durable as its parent's entry
             * for it: without this a power cut could take the whole
             * Maildir (and the messages a POP3 fetch then deleted on the
             * server) with it. */
            rc = sync_parent(copy, err);
        else if (errno != EEXIST)
            rc = tern_fail(err, TERN_EIO, "mkdir %s: %s", copy, strerror(errno));
        if (rc) {
            free(copy);
            return rc;
        }
        *p = '/';
    }
    free(copy);
    if (mkdir(path, 0700) < 0) {
        if (errno != EEXIST)
            return tern_fail(err, TERN_EIO, "mkdir %s: %s", path, strerror(errno));
    } else {
        *created = true;
    }
    return TERN_OK;
}

/* fsync the directory holding `path` (so a just-created entry survives). */
static enum tern_rc sync_parent(const char *path, struct tern_err *err)
{
    const char *slash = strrchr(path, '/');
    char *parent = slash == path ? tern_strdup("/")
                   : slash       ? tern_strndup(path, (size_t)(slash - path))
                                 : tern_strdup(".");
    if (!parent)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    enum tern_rc rc = TERN_OK;
    if (fd < 0)
        rc = tern_fail(err, TERN_EIO, "open %s: %s", parent, strerror(errno));
    else {
        rc = maildir_sync_dir(fd, parent, err);
        close(fd);
    }
    free(parent);
    return rc;
}

/* Maildir unique names carry the host name; '/' and ':' would break the
 * name, so they (and anything else not plainly safe) become \ooo. */
static void set_host(struct maildir *md)
{
    char h[256];
    if (gethostname(h, sizeof h - 1) < 0 || !h[0])
        memcpy(h, "localhost", sizeof "localhost");
    h[sizeof h - 1] = '\0';
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)h; *p && o + 5 < sizeof md->host; p++) {
        unsigned char c = *p;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '.' || c == '-' || c == '_';
        if (plain) {
            md->host[o++] = (char)c;
        } else {
            md->host[o++] = '\\';
            md->host[o++] = (char)('0' + ((c >> 6) & 7));
            md->host[o++] = (char)('0' + ((c >> 3) & 7));
            md->host[o++] = (char)('0' + (c & 7));
        }
    }
    md->host[o] = '\0';
}

static int open_sub(int dirfd, const char *name, bool *created)
{
    if (mkdirat(dirfd, name, 0700) == 0)
        *created = true;
    else if (errno != EEXIST)
        return -1;
    return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

enum tern_rc maildir_open(const char *path, enum maildir_sync mode, struct maildir **out,
                          struct tern_err *err)
{
    *out = NULL;
    if (!path || !*path)
        return tern_fail(err, TERN_EUSAGE, "empty Maildir path");
    bool created = false;
    enum tern_rc rc = mkdir_p(path, &created, err);
    if (rc)
        return rc;
    struct maildir *md = calloc(1, sizeof *md);
    if (!md)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    md->dirfd = md->tmpfd = md->newfd = md->curfd = -1;
    md->mode = mode;
    md->path = tern_strdup(path);
    if (!md->path) {
        free(md);
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    }
    set_host(md);
    md->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (md->dirfd < 0) {
        rc = tern_fail(err, TERN_EIO, "open %s: %s", path, strerror(errno));
        goto fail;
    }
    bool sub_created = false;
    md->tmpfd = open_sub(md->dirfd, "tmp", &sub_created);
    if (md->tmpfd >= 0)
        md->newfd = open_sub(md->dirfd, "new", &sub_created);
    if (md->newfd >= 0)
        md->curfd = open_sub(md->dirfd, "cur", &sub_created);
    if (md->curfd < 0) {
        rc = tern_fail(err, TERN_EIO, "Maildir %s: %s", path, strerror(errno));
        goto fail;
    }
    /* A fresh Maildir must itself survive a crash before anything in it
     * can count as durable. */
    if (sub_created && (rc = maildir_sync_dir(md->dirfd, path, err)))
        goto fail;
    if (created && (rc = sync_parent(path, err)))
        goto fail;
    *out = md;
    return TERN_OK;
fail:
    maildir_close(&md);
    return rc;
}

void maildir_close(struct maildir **mdp)
{
    if (!mdp || !*mdp)
        return;
    struct maildir *md = *mdp;
    int fds[] = {md->dirfd, md->tmpfd, md->newfd, md->curfd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(md->path);
    free(md);
    *mdp = NULL;
}

const char *maildir_path(const struct maildir *md)
{
    return md->path;
}

enum tern_rc maildir_open_sub(struct maildir *md, const char *name, struct maildir **out,
                              struct tern_err *err)
{
    *out = NULL;
    if (!name || !*name || name[0] == '.')
        return tern_fail(err, TERN_EUSAGE, "bad Maildir folder name");
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p == '/' || *p < 0x20 || *p == 0x7f)
            return tern_fail(err, TERN_EUSAGE, "bad Maildir folder name");
    struct tbuf b;
    tbuf_init(&b, 4096);
    if (tbuf_printf(&b, "%s/.%s", md->path, name)) {
        tbuf_free(&b);
        return tern_fail(err, TERN_EUSAGE, "Maildir folder path too long");
    }
    enum tern_rc rc = maildir_open(b.data, md->mode, out, err);
    tbuf_free(&b);
    if (rc)
        return rc;
    /* Maildir++ marks a sub-folder with an empty "maildirfolder" file. */
    int fd = openat((*out)->dirfd, "maildirfolder", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = tern_fail(err, TERN_EIO, "%s/maildirfolder: %s", (*out)->path, strerror(errno));
        maildir_close(out);
        return rc;
    }
    close(fd);
    return TERN_OK;
}

enum tern_rc maildir_sync_dirs(struct maildir *md, struct tern_err *err)
{
    enum tern_rc rc = maildir_sync_dir(md->newfd, "new/", err);
    if (!rc)
        rc = maildir_sync_dir(md->curfd, "cur/", err);
    return rc;
}

enum tern_rc maildir_flush(struct maildir *md, struct tern_err *err)
{
    enum tern_rc rc = TERN_OK;
    switch (md->mode) {
    case MAILDIR_SYNC_EACH:
        break;
    case MAILDIR_SYNC_BATCH_FSYNC:
        if (md->dirty_new && (rc = maildir_sync_dir(md->newfd, "new/", err)))
            return rc;
        md->dirty_new = false;
        if (md->dirty_cur && (rc = maildir_sync_dir(md->curfd, "cur/", err)))
            return rc;
        md->dirty_cur = false;
        break;
    case MAILDIR_SYNC_BATCH_SYNCFS:
        if (!md->dirty_new && !md->dirty_cur)
            break;
        /* syncfs reports write-back errors since Linux 5.8. */
        if (syncfs(md->newfd) < 0)
            return tern_fail(err, TERN_EIO, "syncfs on %s: %s", md->path, strerror(errno));
        md->dirty_new = md->dirty_cur = false;
        break;
    }
    return rc;
}

/* True when `name` is "<digits>.<pid>_<16 lowercase hex>.<host>" with this
 * host's sanitised name: the shape deliver.c gives every file it creates.
 * *pid gets the pid. Other programs' names (Dovecot's "<s>.M<us>P<pid>...",
 * qmail's "<s>.<pid>.<host>") never match. */
static bool tern_tmp_name(const struct maildir *md, const char *name, long *pid)
{
    const char *p = name;
    if (*p < '0' || *p > '9')
        return false;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p++ != '.' || *p < '1' || *p > '9')
        return false;
    const char *ps = p;
    while (*p >= '0' && *p <= '9')
        p++;
    uint64_t v;
    if (*p != '_' || !tern_parse_u64(ps, (size_t)(p - ps), INT32_MAX, &v))
        return false;
    p++;
    for (int i = 0; i < 16; i++, p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    if (*p++ != '.' || strcmp(p, md->host) != 0)
        return false;
    *pid = (long)v;
    return true;
}

enum tern_rc maildir_clean_tmp(struct maildir *md, unsigned *removed, struct tern_err *err)
{
    *removed = 0;
    int fd = dup(md->tmpfd);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir) {
        if (fd >= 0)
            close(fd);
        return tern_fail(err, TERN_EIO, "cannot read %s/tmp: %s", md->path, strerror(errno));
    }
    rewinddir(dir);
    const time_t now = time(NULL);
    const long self = (long)getpid();
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        const char *n = e->d_name;
        if (!strcmp(n, ".") || !strcmp(n, ".."))
            continue;
        struct stat st;
        if (fstatat(md->tmpfd, n, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        /* The Maildir spec lets anyone remove what nobody touched for 36
         * hours (atime: read; mtime: written). */
        bool stale =
            now - st.st_atime > MAILDIR_TMP_STALE_S && now - st.st_mtime > MAILDIR_TMP_STALE_S;
        long pid;
        if (!stale && st.st_uid == geteuid() && tern_tmp_name(md, n, &pid) && pid != self)
            /* Ours, from a process that no longer runs (killed, or a
             * power cut): the delivery can never finish. A live pid (EPERM
             * too) keeps its file, should it be a tern writing now. */
            stale = kill((pid_t)pid, 0) < 0 && errno == ESRCH;
        if (stale && unlinkat(md->tmpfd, n, 0) == 0)
            (*removed)++;
    }
    closedir(dir);
    return TERN_OK;
}
