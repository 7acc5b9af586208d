/* Finding, opening, re-flagging, removing and scanning messages. */
#include "lib.h"
#include "private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Longest file name we handle (NAME_MAX on Linux file systems). */
#define NAME_CAP 256

static const struct {
    unsigned bit;
    char letter;
} flag_letters[] = {
    /* ASCII order, as the Maildir spec wants them written. */
    {MAILDIR_FLAG_DRAFT, 'D'},    {MAILDIR_FLAG_FLAGGED, 'F'}, {MAILDIR_FLAG_PASSED, 'P'},
    {MAILDIR_FLAG_ANSWERED, 'R'}, {MAILDIR_FLAG_SEEN, 'S'},    {MAILDIR_FLAG_DELETED, 'T'},
};
#define NLETTERS (sizeof flag_letters / sizeof flag_letters[0])

static unsigned letter_bit(char c)
{
    for (size_t i = 0; i < NLETTERS; i++)
        if (flag_letters[i].letter == c)
            return flag_letters[i].bit;
    return 0;
}

void maildir_flags_letters(unsigned flags, char out[8])
{
    size_t o = 0;
    for (size_t i = 0; i < NLETTERS; i++)
        if (flags & flag_letters[i].bit)
            out[o++] = flag_letters[i].letter;
    out[o] = '\0';
}

static const char *last_component(const char *name)
{
    const char *slash = strrchr(name, '/');
    return slash ? slash + 1 : name;
}

unsigned maildir_flags_of(const char *name)
{
    const char *info = strstr(last_component(name), ":2,");
    unsigned flags = 0;
    if (info)
        for (const char *p = info + 3; *p; p++)
            flags |= letter_bit(*p);
    return flags;
}

/* Split `name` into its base (before the first ':') and keep the full last
 * component; false when either is unusable as a file name here. */
static bool split_name(const char *name, char base[NAME_CAP], char full[NAME_CAP])
{
    if (!name)
        return false;
    const char *last = last_component(name);
    size_t n = strlen(last);
    if (!n || n >= NAME_CAP)
        return false;
    const char *colon = strchr(last, ':');
    size_t bn = colon ? (size_t)(colon - last) : n;
    if (!bn || (bn == 1 && last[0] == '.') || (bn == 2 && last[0] == '.' && last[1] == '.'))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)last[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    memcpy(full, last, n + 1);
    memcpy(base, last, bn);
    base[bn] = '\0';
    return true;
}

static bool exists_at(int dirfd, const char *name)
{
    struct stat st;
    return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

/* Where is the message now? Fills dir ("new" or "cur") and found (the
 * current file name). Direct probes first; a scan of cur/ only when the
 * flags changed behind our back (another client renamed the file). */
static enum tern_rc locate(struct maildir *md, const char *name, const char **dir,
                           char found[NAME_CAP], struct tern_err *err)
{
    char base[NAME_CAP], full[NAME_CAP];
    if (!split_name(name, base, full))
        return tern_fail(err, TERN_EUSAGE, "bad Maildir message name");
    const char *probes[] = {full, base};
    for (size_t i = 0; i < 2; i++) {
        if (exists_at(md->curfd, probes[i])) {
            *dir = "cur";
            memcpy(found, probes[i], strlen(probes[i]) + 1);
            return TERN_OK;
        }
        if (exists_at(md->newfd, probes[i])) {
            *dir = "new";
            memcpy(found, probes[i], strlen(probes[i]) + 1);
            return TERN_OK;
        }
    }
    int fd = dup(md->curfd);
    DIR *dp = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dp) {
        if (fd >= 0)
            close(fd);
        return tern_fail(err, TERN_EIO, "%s/cur: %s", md->path, strerror(errno));
    }
    rewinddir(dp);
    size_t bn = strlen(base);
    struct dirent *de;
    bool hit = false;
    while ((de = readdir(dp))) {
        if (!strncmp(de->d_name, base, bn) && de->d_name[bn] == ':' &&
            strlen(de->d_name) < NAME_CAP) {
            memcpy(found, de->d_name, strlen(de->d_name) + 1);
            hit = true;
            break;
        }
    }
    closedir(dp);
    if (!hit)
        return tern_fail(err, TERN_ENOTFOUND, "no message %s in %s", base, md->path);
    *dir = "cur";
    return TERN_OK;
}

static enum tern_rc relpath_dup(const char *dir, const char *file, char **relpath,
                                struct tern_err *err)
{
    if (!relpath)
        return TERN_OK;
    struct tbuf b;
    tbuf_init(&b, 0);
    if (tbuf_printf(&b, "%s/%s", dir, file)) {
        tbuf_free(&b);
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    }
    *relpath = tbuf_steal(&b);
    return TERN_OK;
}

enum tern_rc maildir_find(struct maildir *md, const char *name, char **relpath,
                          struct tern_err *err)
{
    if (relpath)
        *relpath = NULL;
    const char *dir;
    char found[NAME_CAP];
    enum tern_rc rc = locate(md, name, &dir, found, err);
    return rc ? rc : relpath_dup(dir, found, relpath, err);
}

enum tern_rc maildir_open_msg(struct maildir *md, const char *name, int *fd, char **relpath,
                              struct tern_err *err)
{
    *fd = -1;
    if (relpath)
        *relpath = NULL;
    /* A rename by another client can race with the open: look again. */
    for (int attempt = 0; attempt < 3; attempt++) {
        const char *dir;
        char found[NAME_CAP];
        enum tern_rc rc = locate(md, name, &dir, found, err);
        if (rc)
            return rc;
        int dfd = dir[0] == 'n' ? md->newfd : md->curfd;
        int f = openat(dfd, found, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (f < 0) {
            if (errno == ENOENT)
                continue;
            return tern_fail(err, TERN_EIO, "open %s/%s/%s: %s", md->path, dir, found,
                             strerror(errno));
        }
        rc = relpath_dup(dir, found, relpath, err);
        if (rc) {
            close(f);
            return rc;
        }
        *fd = f;
        return TERN_OK;
    }
    return tern_fail(err, TERN_ENOTFOUND, "message vanished from %s", md->path);
}

/* The new cur/ name: base + ":2," + our letters for `flags` merged with the
 * letters we do not manage (keywords a-z, unknown capitals), ASCII order. */
static bool flagged_name(const char *cur, unsigned flags, char out[NAME_CAP])
{
    const char *colon = strchr(cur, ':');
    size_t bn = colon ? (size_t)(colon - cur) : strlen(cur);
    bool have[128] = {0};
    if (colon && !strncmp(colon, ":2,", 3))
        for (const char *p = colon + 3; *p; p++)
            if ((unsigned char)*p < 128 && !letter_bit(*p) &&
                ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
                have[(unsigned char)*p] = true;
    for (size_t i = 0; i < NLETTERS; i++)
        if (flags & flag_letters[i].bit)
            have[(unsigned char)flag_letters[i].letter] = true;
    if (bn + 3 + 52 >= NAME_CAP)
        return false;
    memcpy(out, cur, bn);
    memcpy(out + bn, ":2,", 3);
    size_t o = bn + 3;
    for (int c = 0; c < 128; c++)
        if (have[c])
            out[o++] = (char)c;
    out[o] = '\0';
    return true;
}

enum tern_rc maildir_set_flags(struct maildir *md, const char *name, unsigned flags, char **relpath,
                               struct tern_err *err)
{
    if (relpath)
        *relpath = NULL;
    for (int attempt = 0; attempt < 3; attempt++) {
        const char *dir;
        char found[NAME_CAP], target[NAME_CAP];
        enum tern_rc rc = locate(md, name, &dir, found, err);
        if (rc)
            return rc;
        if (!flagged_name(found, flags, target))
            return tern_fail(err, TERN_EUSAGE, "Maildir message name too long");
        bool from_new = dir[0] == 'n';
        if (!from_new && !strcmp(found, target))
            return relpath_dup("cur", target, relpath, err);
        int from = from_new ? md->newfd : md->curfd;
        if (renameat(from, found, md->curfd, target) < 0) {
            if (errno == ENOENT)
                continue; /* renamed meanwhile: look again */
            return tern_fail(err, TERN_EIO, "rename in %s: %s", md->path, strerror(errno));
        }
        if (md->mode == MAILDIR_SYNC_EACH) {
            if ((rc = maildir_sync_dir(md->curfd, "cur/", err)))
                return rc;
            if (from_new && (rc = maildir_sync_dir(md->newfd, "new/", err)))
                return rc;
        } else {
            md->dirty_cur = true;
            md->dirty_new |= from_new;
        }
        return relpath_dup("cur", target, relpath, err);
    }
    return tern_fail(err, TERN_ENOTFOUND, "message vanished from %s", md->path);
}

enum tern_rc maildir_remove(struct maildir *md, const char *name, struct tern_err *err)
{
    const char *dir;
    char found[NAME_CAP];
    enum tern_rc rc = locate(md, name, &dir, found, err);
    if (rc)
        return rc;
    int dfd = dir[0] == 'n' ? md->newfd : md->curfd;
    if (unlinkat(dfd, found, 0) < 0) {
        if (errno == ENOENT)
            return tern_fail(err, TERN_ENOTFOUND, "message vanished from %s", md->path);
        return tern_fail(err, TERN_EIO, "unlink in %s: %s", md->path, strerror(errno));
    }
    if (md->mode == MAILDIR_SYNC_EACH)
        return maildir_sync_dir(dfd, dir, err);
    if (dfd == md->newfd)
        md->dirty_new = true;
    else
        md->dirty_cur = true;
    return TERN_OK;
}

static enum tern_rc scan_dir(struct maildir *md, int dirfd, const char *dir, maildir_scan_fn *fn,
                             void *arg, struct tern_err *err)
{
    int fd = dup(dirfd);
    DIR *dp = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dp) {
        if (fd >= 0)
            close(fd);
        return tern_fail(err, TERN_EIO, "%s/%s: %s", md->path, dir, strerror(errno));
    }
    /* The dup shares the directory offset with dirfd: start over. */
    rewinddir(dp);
    char rel[NAME_CAP + 8];
    struct dirent *de;
    enum tern_rc rc = TERN_OK;
    while ((de = readdir(dp))) {
        if (de->d_name[0] == '.')
            continue;
        if (!tern_snprintf(rel, sizeof rel, "%s/%s", dir, de->d_name))
            continue;
        if (fn(arg, rel)) {
            rc = tern_fail(err, TERN_ECANCELED, "scan stopped");
            break;
        }
    }
    closedir(dp);
    return rc;
}

enum tern_rc maildir_scan(struct maildir *md, maildir_scan_fn *fn, void *arg, struct tern_err *err)
{
    enum tern_rc rc = scan_dir(md, md->newfd, "new", fn, arg, err);
    return rc ? rc : scan_dir(md, md->curfd, "cur", fn, arg, err);
}
