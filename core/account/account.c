/* Driver choice, open/close, the per-account lock. */
#include "core/account/lib.h"
#include "core/account/private.h"
#include "core/index/lib.h"
#include "core/pop3/lib.h"
#ifdef TERN_HAVE_IMAP
#include "core/imap/lib.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct account {
    const struct tern_account *cfg; /* borrowed */
    const struct acct_driver *drv;
    struct acct_env env;
    struct index *index; /* owned */
    char *secret;        /* owned, wiped on close */
    void *state;         /* the driver's */
    int lock_fd;
};

enum tern_rc acct_driver_for(const struct tern_account *cfg, const struct acct_driver **out,
                             struct tern_err *err)
{
    *out = NULL;
    switch (cfg->incoming) {
    case INCOMING_POP3:
        *out = &pop3_driver;
        return TERN_OK;
    case INCOMING_IMAP:
#ifdef TERN_HAVE_IMAP
        *out = &imap_driver;
        return TERN_OK;
#else
        return tern_fail(err, TERN_ENOTSUP, "account %s: this tern was built without IMAP",
                         cfg->name);
#endif
    }
    return tern_fail(err, TERN_ENOTSUP, "account %s: unknown incoming protocol", cfg->name);
}

enum tern_rc acct_mkdir_p(const char *path, struct tern_err *err)
{
    if (!path || !*path)
        return tern_fail(err, TERN_ECONFIG, "empty directory name");
    char *p = tern_strdup(path);
    if (!p)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    enum tern_rc rc = TERN_OK;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0700) < 0 && errno != EEXIST) {
            rc = tern_fail(err, TERN_EIO, "cannot create %s: %s", p, strerror(errno));
            break;
        }
        *s = c;
        if (!c)
            break;
    }
    struct stat sb;
    if (!rc && (stat(path, &sb) < 0 || !S_ISDIR(sb.st_mode)))
        rc = tern_fail(err, TERN_EIO, "%s is not a directory", path);
    free(p);
    return rc;
}

enum tern_rc acct_lock(const char *data_dir, int *fd, struct tern_err *err)
{
    struct tbuf path;
    tbuf_init(&path, 0);
    *fd = -1;
    if (tbuf_printf(&path, "%s/%s", data_dir, ACCT_LOCK_NAME)) {
        tbuf_free(&path);
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    }
    enum tern_rc rc = TERN_OK;
    *fd = open(path.data, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (*fd < 0) {
        rc = tern_fail(err, TERN_EIO, "cannot open %s: %s", path.data, strerror(errno));
    } else {
        int r;
        while ((r = flock(*fd, LOCK_EX | LOCK_NB)) < 0 && errno == EINTR)
            ;
        if (r < 0) {
            int e = errno;
            close(*fd);
            *fd = -1;
            rc = e == EWOULDBLOCK
                     ? tern_fail(err, TERN_ELOCKED,
                                 "another tern is using this account; try again shortly")
                     : tern_fail(err, TERN_EIO, "cannot lock %s: %s", path.data, strerror(e));
        }
    }
    tbuf_free(&path);
    return rc;
}

static void release(struct account *a)
{
    index_close(&a->index);
    tern_free_secret(a->secret);
    a->secret = NULL;
    if (a->lock_fd >= 0)
        close(a->lock_fd); /* drops the flock */
    free(a);
}

enum tern_rc account_open(const struct tern_account *cfg, const struct acct_hooks *hooks,
                          struct account **out, struct tern_err *err)
{
    *out = NULL;
    struct account *a = calloc(1, sizeof *a);
    if (!a)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    a->cfg = cfg;
    a->lock_fd = -1;
    enum tern_rc rc;
    if ((rc = acct_driver_for(cfg, &a->drv, err)))
        goto fail;
    if (!cfg->data_dir) {
        rc = tern_fail(err, TERN_ECONFIG, "account %s has no data directory", cfg->name);
        goto fail;
    }
    if ((rc = acct_mkdir_p(cfg->data_dir, err)) ||
        (rc = acct_lock(cfg->data_dir, &a->lock_fd, err)))
        goto fail;
    if ((rc = index_open_dir(cfg->data_dir, 0, &a->index, err)))
        goto fail;
    if ((rc = account_secret(cfg, false, &a->secret, err)))
        goto fail;
    a->env.cfg = cfg;
    a->env.index = a->index;
    a->env.secret = a->secret;
    if (hooks) {
        a->env.trace = hooks->trace;
        a->env.trace_arg = hooks->trace_arg;
        a->env.progress = hooks->progress;
        a->env.progress_arg = hooks->progress_arg;
        a->env.cancel = hooks->cancel;
        a->env.fetch_bodies = hooks->fetch_bodies;
    }
    if ((rc = a->drv->open(&a->env, &a->state, err)))
        goto fail;
    *out = a;
    return TERN_OK;
fail:
    release(a);
    return rc;
}

enum tern_rc account_sync(struct account *a, struct acct_sync_stats *stats, struct tern_err *err)
{
    if (!a->drv->sync)
        return tern_fail(err, TERN_ENOTSUP, "driver %s cannot sync", a->drv->name);
    return a->drv->sync(a->state, stats, err);
}

const struct acct_driver *account_driver(const struct account *a)
{
    return a->drv;
}

enum tern_rc account_close(struct account **ap, struct tern_err *err)
{
    if (!ap || !*ap)
        return TERN_OK;
    struct account *a = *ap;
    enum tern_rc rc = TERN_OK;
    if (a->state && a->drv->close)
        rc = a->drv->close(&a->state, err);
    release(a);
    *ap = NULL;
    return rc;
}
