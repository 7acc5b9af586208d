/* The worker thread: every network operation and every index write of
 * the TUI runs here, one job at a time, so the screen never waits. It owns
 * all core/account objects (opened per job: the account lock is held only
 * while a sync runs, so `tern fetch` from cron still works between) and a
 * writable index handle of its own. */
#include "core/account/lib.h"
#include "core/index/lib.h"
#include "core/maildir/lib.h"
#include "ui/private.h"
#ifdef TERN_HAVE_OUTBOX
#include "core/outbox/lib.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct ui_worker {
    const struct tern_config *cfg;
    const struct tern_account *acct;
    volatile sig_atomic_t *cancel;
    unsigned caps; /* the driver's, known without connecting */
    pthread_t th;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct ui_job *jobs, *jobs_tail;
    struct ui_result *res, *res_tail;
    const char *busy; /* static text, under mu */
    int busy_kind;    /* enum ui_job_kind of the job in hand, -1: idle */
    bool stop, done;
    uint64_t seq;
    int pipe[2];
    /* worker-thread only */
    struct index *ix;
    struct maildir *md;
    int lock_fd; /* the account lock while a job changes the account */
    const struct acct_driver *drv;
    struct acct_env env;
    void *state; /* the driver's session (push, bodies), under the lock */
    char *secret;
    size_t queued; /* changes queued for the server since the last push */
    /* watching the current folder (IMAP IDLE through the driver's
     * wait_changes): idle_fid and idling under mu; idle_wake is set (under
     * mu) by whoever needs the worker - a job, a new folder, stop - and the
     * wait polls it every 250 ms (no fd: core/conn's waits poll libcurl's
     * socket and a flag, and that is all a wake needs) */
    int64_t idle_fid;
    bool idling;
    volatile sig_atomic_t idle_wake;
    /* under mu (the loop) */
    bool idle_off;         /* the server has no IDLE: the UI's periodic check */
    int64_t idle_bad_fid;  /* a folder the server cannot watch */
    bool idle_compare;     /* next wait also compares UIDNEXT with the index */
    bool idle_failed;      /* the last attempt failed (reported once) */
    long long idle_retry;  /* monotonic s: no attempt before this */
    unsigned idle_backoff; /* s */
    /* worker-thread only */
    void *idle_state; /* a driver session of its own, no account lock */
    struct acct_env idle_env;
    char *idle_secret;
};

/* IDLE is re-issued at least this often (RFC 2177: servers may drop an
 * idle client after 30 minutes). */
#define UI_IDLE_MS (25u * 60u * 1000u)

/* How long a change waits for another tern (a cron fetch) to release the
 * account before it gives up (the change stays on screen as failed). */
#define UI_LOCK_WAIT_MS 30000

struct ui_job *job_new(enum ui_job_kind kind)
{
    struct ui_job *j = calloc(1, sizeof *j);
    if (j)
        j->kind = kind;
    return j;
}

void job_free(struct ui_job *j)
{
    if (!j)
        return;
    free(j->ids);
    free(j->flags);
    free(j->arg);
    free(j->data);
    for (size_t i = 0; i < j->nrcpts; i++)
        free(j->rcpts[i]);
    free(j->rcpts);
    free(j);
}

void result_free(struct ui_result *r)
{
    while (r) {
        struct ui_result *next = r->next;
        free(r->path);
        free(r);
        r = next;
    }
}

/* ------------------------------------------------------------- helpers */

static enum tern_rc open_index(struct ui_worker *w, struct tern_err *err)
{
    if (w->ix)
        return TERN_OK;
    return index_open_dir(w->acct->data_dir, 0, &w->ix, err);
}

static enum tern_rc open_maildir(struct ui_worker *w, struct tern_err *err)
{
    if (w->md)
        return TERN_OK;
    if (!w->acct->maildir)
        return tern_fail(err, TERN_ECONFIG, "account %s has no Maildir", w->acct->name);
    return maildir_open(w->acct->maildir, MAILDIR_SYNC_EACH, &w->md, err);
}

/* The account lock, as core/account and `tern flag` take it: a change
 * never races a running fetch. Waits (the worker may), bounded. */
static enum tern_rc lock_account(struct ui_worker *w, struct tern_err *err)
{
    if (w->lock_fd >= 0)
        return TERN_OK;
    enum tern_rc rc = acct_mkdir_p(w->acct->data_dir, err);
    if (rc)
        return rc;
    struct tbuf path;
    tbuf_init(&path, 0);
    if (tbuf_printf(&path, "%s/%s", w->acct->data_dir, ACCT_LOCK_NAME))
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    int fd = open(path.data, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = tern_fail(err, TERN_EIO, "cannot open %s: %s", path.data, strerror(errno));
        tbuf_free(&path);
        return rc;
    }
    for (int waited = 0;; waited += 100) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK) {
            rc = tern_fail(err, TERN_EIO, "cannot lock %s: %s", path.data, strerror(errno));
            break;
        }
        if (waited >= UI_LOCK_WAIT_MS || *w->cancel) {
            rc = tern_fail(err, TERN_ELOCKED, "another tern is using this account");
            break;
        }
        nanosleep(&(struct timespec){0, 100 * 1000000}, NULL);
    }
    tbuf_free(&path);
    if (rc) {
        close(fd);
        return rc;
    }
    w->lock_fd = fd;
    return TERN_OK;
}

/* The account locked and its index open: what a job that changes messages
 * needs first. */
static enum tern_rc lock_and_open(struct ui_worker *w, struct tern_err *err)
{
    enum tern_rc rc = lock_account(w, err);
    return rc ? rc : open_index(w, err);
}

static void session_close(struct ui_worker *w)
{
    if (w->state && w->drv && w->drv->close) {
        struct tern_err ignore = {0};
        w->drv->close(&w->state, &ignore);
    }
    w->state = NULL;
    tern_free_secret(w->secret);
    w->secret = NULL;
    if (w->lock_fd >= 0)
        close(w->lock_fd); /* drops the flock */
    w->lock_fd = -1;
}

/* The driver, logged in (lazily, as the driver likes), for push and
 * bodies. Needs the lock and the index. */
static enum tern_rc session_open(struct ui_worker *w, struct tern_err *err)
{
    if (w->state)
        return TERN_OK;
    enum tern_rc rc = TERN_OK;
    if (!w->drv)
        rc = acct_driver_for(w->acct, &w->drv, err);
    if (!rc)
        rc = lock_account(w, err);
    if (!rc && !w->secret)
        rc = account_secret(w->acct, false, &w->secret, err);
    if (rc)
        return rc;
    memset(&w->env, 0, sizeof w->env);
    w->env.cfg = w->acct;
    w->env.index = w->ix;
    w->env.secret = w->secret;
    w->env.cancel = w->cancel;
    return w->drv->open(&w->env, &w->state, err);
}

/* Network and server-busy failures leave the queue for the next sync. */
static bool offline_failure(enum tern_rc rc)
{
    return rc == TERN_ECONN || rc == TERN_ETIMEOUT || rc == TERN_ETEMP || rc == TERN_ELOCKED ||
           rc == TERN_ECANCELED;
}

/* Send queued changes to the server now (IMAP); offline they wait. */
static void push_queued(struct ui_worker *w, struct ui_result *r)
{
    if (!w->queued || !w->drv || !w->drv->push || !(w->caps & ACCT_CAP_FLAGS_REMOTE))
        return;
    struct tern_err err = {0};
    struct acct_sync_stats st = {0};
    enum tern_rc rc = open_index(w, &err);
    if (!rc)
        rc = session_open(w, &err);
    if (!rc)
        rc = w->drv->push(w->state, &st, &err);
    size_t n = w->queued;
    w->queued = 0;
    if (!rc || !r)
        return;
    size_t len = strlen(r->msg);
    if (offline_failure(rc))
        tern_snprintf(r->msg + len, sizeof r->msg - len,
                      "%soffline: %zu change%s kept for the next sync", len ? "; " : "", n,
                      n == 1 ? "" : "s");
    else {
        r->rc = rc;
        r->changed = true;
        tern_snprintf(r->msg + len, sizeof r->msg - len, "%sserver: %s", len ? "; " : "", err.msg);
    }
}

static bool local_flags(const struct ui_worker *w)
{
    return !(w->caps & ACCT_CAP_FLAGS_REMOTE);
}

enum tern_rc ui_read_body(const struct tern_account *a, const char *body_path, struct tbuf *out,
                          struct tern_err *err)
{
    if (!body_path || !*body_path)
        return tern_fail(err, TERN_ENOTFOUND, "the message body is not on this computer");
    int fd = open(body_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT && a->maildir) {
        /* A Maildir file moves to cur/ (with flags) after a flag change. */
        struct maildir *md = NULL;
        struct tern_err e = {0};
        if (!maildir_open(a->maildir, MAILDIR_SYNC_EACH, &md, &e)) {
            if (maildir_open_msg(md, body_path, &fd, NULL, &e))
                fd = -1;
            maildir_close(&md);
        }
        if (fd < 0)
            errno = ENOENT;
    }
    if (fd < 0)
        return tern_fail(err, errno == ENOENT ? TERN_ENOTFOUND : TERN_EIO, "cannot open %s: %s",
                         body_path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return tern_fail(err, TERN_EIO, "%s is not a regular file", body_path);
    }
    if ((uint64_t)st.st_size > UI_MSG_MAX) {
        close(fd);
        return tern_fail(err, TERN_EDATA, "message larger than %zu MiB", UI_MSG_MAX >> 20);
    }
    tbuf_reset(out);
    enum tern_rc rc = tbuf_read_fd(out, fd);
    if (rc == TERN_EIO)
        rc = tern_fail(err, TERN_EIO, "reading %s: %s", body_path, strerror(errno));
    else if (rc)
        rc = tern_fail(err, rc == TERN_EPROTO ? TERN_EDATA : rc, "message too large");
    close(fd);
    return rc;
}

/* --------------------------------------------------------------- jobs */

static void job_sync(struct ui_worker *w, struct ui_result *r)
{
    struct acct_sync_stats st = {0};
    struct tern_err err = {0};
    /* The lock is held only during the sync; the index handle of ours
     * stays open (SQLite lets readers and one writer share the file). */
    struct acct_hooks hooks = {.cancel = w->cancel};
    enum tern_rc rc = acct_fetch(w->acct, &hooks, &st, &err);
    r->rc = rc;
    r->new_messages = st.new_messages;
    r->changed = st.new_messages || st.expunged || st.flags_changed || st.deleted_server;
    if (rc == TERN_ECANCELED)
        tern_snprintf(r->msg, sizeof r->msg, "sync canceled (%llu new kept)",
                      (unsigned long long)st.new_messages);
    else if (rc)
        tern_snprintf(r->msg, sizeof r->msg, "sync failed: %s", err.msg);
    else if (st.new_messages)
        tern_snprintf(r->msg, sizeof r->msg, "%llu new message%s",
                      (unsigned long long)st.new_messages, st.new_messages == 1 ? "" : "s");
    else
        tern_snprintf(r->msg, sizeof r->msg, "no new mail");
#ifdef TERN_HAVE_OUTBOX
    /* Messages waiting in the outbox go out with each sync, as with
     * `tern fetch`. */
    if (w->acct->smtp_host && !*w->cancel) {
        struct outbox_opts o = {.cancel = w->cancel};
        struct outbox_flush_stats fs = {0};
        struct tern_err e = {0};
        enum tern_rc frc = outbox_flush(w->acct, &o, &fs, &e);
        size_t len = strlen(r->msg);
        if (frc && frc != TERN_ELOCKED)
            tern_snprintf(r->msg + len, sizeof r->msg - len, "; outbox: %s", e.msg);
        else if (fs.sent)
            tern_snprintf(r->msg + len, sizeof r->msg - len, "; %zu queued message%s sent", fs.sent,
                          fs.sent == 1 ? "" : "s");
    }
#endif
}

/* POP3 (local flags): the Maildir file name carries the flags too. */
static enum tern_rc maildir_flags(struct ui_worker *w, int64_t id, const char *body_path,
                                  unsigned flags, struct tern_err *err)
{
    if (!body_path)
        return TERN_OK;
    enum tern_rc rc = open_maildir(w, err);
    char *rel = NULL;
    if (!rc)
        rc = maildir_set_flags(w->md, body_path, flags, &rel, err);
    if (rc == TERN_ENOTFOUND) {
        tern_err_clear(err); /* the file is gone: nothing to rename */
        return TERN_OK;
    }
    struct tbuf p;
    tbuf_init(&p, 0);
    if (!rc && tbuf_printf(&p, "%s/%s", maildir_path(w->md), rel))
        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    if (!rc)
        rc = index_msg_set_body_path(w->ix, id, p.data, err);
    tbuf_free(&p);
    free(rel);
    return rc;
}

static enum tern_rc set_one(struct ui_worker *w, int64_t id, unsigned flags, struct tern_err *err)
{
    struct index_msg m;
    index_msg_init(&m);
    enum tern_rc rc = index_msg_get(w->ix, id, &m, err);
    if (rc) {
        index_msg_clear(&m);
        return rc;
    }
    unsigned old = m.flags;
    if (old == flags) {
        index_msg_clear(&m);
        return TERN_OK;
    }
    if ((rc = index_begin(w->ix, err))) {
        index_msg_clear(&m);
        return rc;
    }
    rc = index_msg_set_flags(w->ix, id, flags, NULL, err);
    if (!rc && !local_flags(w)) {
        /* IMAP: queue the change; the next sync sends it */
        char num[16];
        unsigned add = flags & ~old, del = old & ~flags;
        if (!rc && add && tern_snprintf(num, sizeof num, "%u", add) &&
            !(rc = index_pending_add(w->ix, id, INDEX_OP_FLAG_ADD, num, NULL, err)))
            w->queued++;
        if (!rc && del && tern_snprintf(num, sizeof num, "%u", del) &&
            !(rc = index_pending_add(w->ix, id, INDEX_OP_FLAG_DEL, num, NULL, err)))
            w->queued++;
    }
    if (!rc && local_flags(w))
        rc = maildir_flags(w, id, m.body_path, flags, err);
    if (!rc)
        rc = index_commit(w->ix, err);
    if (rc)
        index_rollback(w->ix);
    index_msg_clear(&m);
    return rc;
}

static void job_flags(struct ui_worker *w, struct ui_job *j, struct ui_result *r)
{
    struct tern_err err = {0};
    enum tern_rc rc = lock_and_open(w, &err);
    for (size_t i = 0; i < j->nids && !rc; i++)
        rc = set_one(w, j->ids[i], j->flags[i], &err);
    r->rc = rc;
    if (rc)
        tern_snprintf(r->msg, sizeof r->msg, "could not change flags: %s", err.msg);
}

static void job_purge(struct ui_worker *w, struct ui_job *j, struct ui_result *r)
{
    struct tern_err err = {0};
    enum tern_rc rc = lock_and_open(w, &err);
    size_t done = 0;
    for (size_t i = 0; i < j->nids && !rc; i++) {
        int64_t id = j->ids[i];
        struct index_msg m;
        index_msg_init(&m);
        rc = index_msg_get(w->ix, id, &m, &err);
        if (rc == TERN_ENOTFOUND) {
            tern_err_clear(&err);
            rc = TERN_OK;
            index_msg_clear(&m);
            continue;
        }
        if (!rc && local_flags(w)) {
            /* POP3: the local copy is the only one (or the server keeps
             * its own, and the UIDL ledger stops a second download) */
            if (m.body_path && !(rc = open_maildir(w, &err))) {
                rc = maildir_remove(w->md, m.body_path, &err);
                if (rc == TERN_ENOTFOUND) {
                    tern_err_clear(&err);
                    rc = TERN_OK;
                }
            }
            if (!rc)
                rc = index_msg_delete(w->ix, id, &err);
        } else if (!rc) {
            /* IMAP: keep the row, marked, until the sync replays it */
            if (!(rc = index_begin(w->ix, &err))) {
                rc = index_msg_set_flags(w->ix, id, m.flags | INDEX_FLAG_DELETED, NULL, &err);
                if (!rc && !(rc = index_pending_add(w->ix, id, INDEX_OP_DELETE, NULL, NULL, &err)))
                    w->queued++;
                if (!rc)
                    rc = index_commit(w->ix, &err);
                if (rc)
                    index_rollback(w->ix);
            }
        }
        index_msg_clear(&m);
        if (!rc)
            done++;
    }
    r->rc = rc;
    r->changed = true;
    if (rc)
        tern_snprintf(r->msg, sizeof r->msg, "delete failed: %s", err.msg);
    else if (local_flags(w))
        tern_snprintf(r->msg, sizeof r->msg, "%zu message%s deleted", done, done == 1 ? "" : "s");
    else
        tern_snprintf(r->msg, sizeof r->msg, "%zu message%s deleted", done, done == 1 ? "" : "s");
}

/* POP3: move a Maildir file into the Maildir++ folder `dest`. */
static enum tern_rc move_local(struct ui_worker *w, int64_t id, int64_t fid, const char *dest,
                               struct tern_err *err)
{
    struct index_msg m;
    index_msg_init(&m);
    enum tern_rc rc = index_msg_get(w->ix, id, &m, err);
    struct maildir *sub = NULL;
    struct maildir_delivery *d = NULL;
    char *name = NULL;
    struct tbuf raw, path;
    tbuf_init(&raw, UI_MSG_MAX);
    tbuf_init(&path, 0);
    bool inbox = !tern_strcasecmp(dest, "INBOX");
    if (!rc)
        rc = open_maildir(w, err);
    if (!rc)
        rc = ui_read_body(w->acct, m.body_path, &raw, err);
    if (!rc)
        rc = inbox ? TERN_OK : maildir_open_sub(w->md, dest, &sub, err);
    struct maildir *to = inbox ? w->md : sub;
    if (!rc)
        rc = maildir_delivery_begin(to, 0, &d, err);
    if (!rc)
        rc = maildir_delivery_write(d, raw.data ? raw.data : "", raw.len, err);
    if (!rc)
        rc = maildir_delivery_commit(&d, &name, err);
    else
        maildir_delivery_abort(&d);
    if (!rc && m.flags) {
        char *rel = NULL;
        if (!maildir_set_flags(to, name, m.flags, &rel, err)) {
            free(name);
            name = rel;
        } else {
            tern_err_clear(err);
        }
    }
    if (!rc &&
        tbuf_printf(&path, "%s/%s%s", maildir_path(to), strchr(name, '/') ? "" : "new/", name))
        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    uint32_t uid = 0;
    if (!rc && !(rc = index_begin(w->ix, err))) {
        rc = index_folder_alloc_uid(w->ix, fid, &uid, err);
        if (!rc)
            rc = index_msg_move(w->ix, id, fid, uid, err);
        if (!rc)
            rc = index_msg_set_body_path(w->ix, id, path.data, err);
        if (!rc)
            rc = index_commit(w->ix, err);
        if (rc)
            index_rollback(w->ix);
    }
    /* the old file goes only once the index points at the new one */
    if (!rc) {
        struct tern_err e = {0};
        maildir_remove(w->md, m.body_path, &e);
    }
    maildir_close(&sub);
    free(name);
    tbuf_free(&raw);
    tbuf_free(&path);
    index_msg_clear(&m);
    return rc;
}

static void job_move(struct ui_worker *w, struct ui_job *j, struct ui_result *r)
{
    struct tern_err err = {0};
    enum tern_rc rc = lock_and_open(w, &err);
    int64_t fid = 0;
    if (!rc && local_flags(w))
        rc = index_folder_get_or_create(w->ix, j->arg, NULL, &fid, &err);
    for (size_t i = 0; i < j->nids && !rc; i++) {
        if (local_flags(w))
            rc = move_local(w, j->ids[i], fid, j->arg, &err);
        else if (!(rc = index_pending_add(w->ix, j->ids[i], INDEX_OP_MOVE, j->arg, NULL, &err)))
            w->queued++;
    }
    r->rc = rc;
    r->changed = true;
    if (rc)
        tern_snprintf(r->msg, sizeof r->msg, "move failed: %s", err.msg);
    else
        tern_snprintf(r->msg, sizeof r->msg, "%zu message%s moved to %s", j->nids,
                      j->nids == 1 ? "" : "s", j->arg);
}

static void job_send(struct ui_worker *w, struct ui_job *j, struct ui_result *r)
{
#ifdef TERN_HAVE_OUTBOX
    struct outbox_item it = {.data = j->data,
                             .len = j->len,
                             .from = j->arg,
                             .rcpts = (const char *const *)j->rcpts,
                             .nrcpts = j->nrcpts};
    /* a Ctrl-C queues the message (the outbox keeps it; the next sync
     * sends it), like a lost connection */
    struct outbox_opts o = {.queue = true, .cancel = w->cancel};
    struct tern_err err = {0};
    enum tern_rc rc = outbox_submit(w->acct, &it, 1, &o, &err);
    r->rc = rc ? rc : it.rc;
    if (rc)
        tern_snprintf(r->msg, sizeof r->msg, "not sent: %s", err.msg);
    else if (*w->cancel && it.fate == OUTBOX_FATE_QUEUED)
        tern_snprintf(r->msg, sizeof r->msg,
                      "sending canceled: the message stays in the outbox (%s)", it.queue_id);
    else
        tern_snprintf(r->msg, sizeof r->msg, "%s", it.text);
    bool went = !rc && (it.fate == OUTBOX_FATE_SENT || it.fate == OUTBOX_FATE_PARTIAL ||
                        it.fate == OUTBOX_FATE_QUEUED);
    if (!rc && (it.fate == OUTBOX_FATE_SENT || it.fate == OUTBOX_FATE_PARTIAL))
        r->rc = TERN_OK;
    outbox_item_free(&it);
    if (went && j->after_id) {
        struct tern_err e = {0};
        struct index_msg m;
        index_msg_init(&m);
        if (!lock_account(w, &e) && !open_index(w, &e) &&
            !index_msg_get(w->ix, j->after_id, &m, &e))
            set_one(w, j->after_id, m.flags | j->after_flag, &e);
        index_msg_clear(&m);
        r->changed = true;
    }
#else
    r->rc = tern_fail(NULL, TERN_ENOTSUP, "unused");
    tern_snprintf(r->msg, sizeof r->msg, "this tern was built without the outbox: cannot send");
#endif
}

static void job_body(struct ui_worker *w, struct ui_job *j, struct ui_result *r)
{
    r->id = j->nids ? j->ids[0] : 0;
    struct tern_err err = {0};
    enum tern_rc rc = open_index(w, &err);
    if (!rc && !w->drv)
        rc = acct_driver_for(w->acct, &w->drv, &err);
    if (!rc && !w->drv->fetch_body)
        rc = tern_fail(&err, TERN_ENOTFOUND, "the message file is missing");
    if (!rc)
        rc = session_open(w, &err);
    char *path = NULL;
    if (!rc)
        rc = w->drv->fetch_body(w->state, r->id, &path, &err);
    r->rc = rc;
    r->path = path;
    r->changed = !rc;
    if (rc == TERN_ECANCELED)
        tern_snprintf(r->msg, sizeof r->msg, "canceled: the message was not fetched");
    else if (rc)
        tern_snprintf(r->msg, sizeof r->msg, "cannot get the message: %s", err.msg);
}

/* ---------------------------------------------------------------- loop */

static const char *busy_text(enum ui_job_kind k)
{
    switch (k) {
    case UI_JOB_SYNC:
        return "syncing";
    case UI_JOB_FLAGS:
        return "saving flags";
    case UI_JOB_PURGE:
        return "deleting";
    case UI_JOB_MOVE:
        return "moving";
    case UI_JOB_SEND:
        return "sending";
    case UI_JOB_BODY:
        return "fetching the message";
    case UI_JOB_WATCH:
        return "watching";
    }
    return "working";
}

static void wake(struct ui_worker *w)
{
    char c = 1;
    ssize_t n;
    do
        n = write(w->pipe[1], &c, 1);
    while (n < 0 && errno == EINTR);
    /* a full pipe already wakes the reader: nothing lost */
}

static void post_result(struct ui_worker *w, struct ui_result *r)
{
    if (w->res_tail)
        w->res_tail->next = r;
    else
        w->res = r;
    w->res_tail = r;
    wake(w);
}

static long long mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec;
}

static void idle_close(struct ui_worker *w)
{
    if (w->idle_state && w->drv && w->drv->close) {
        struct tern_err ignore = {0};
        w->drv->close(&w->idle_state, &ignore);
    }
    w->idle_state = NULL;
    tern_free_secret(w->idle_secret);
    w->idle_secret = NULL;
}

enum idle_outcome { IDLE_QUIET, IDLE_CHANGED, IDLE_OFF, IDLE_BAD_FOLDER, IDLE_FAILED };

/* One wait on folder fid (IDLE until a change, a wake or UI_IDLE_MS),
 * outside mu; touches worker-thread fields only (the loop keeps the
 * shared state). *quick: the change was found at once (the comparison
 * before IDLE, not a server push). On IDLE_FAILED, *out may get the
 * message for the status line. */
static enum idle_outcome idle_once(struct ui_worker *w, int64_t fid, bool compare, bool *quick,
                                   struct ui_result **out)
{
    *out = NULL;
    *quick = false;
    struct tern_err err = {0};
    enum tern_rc rc = open_index(w, &err);
    if (!rc && !w->drv)
        rc = acct_driver_for(w->acct, &w->drv, &err);
    if (!rc && !w->drv->wait_changes)
        return IDLE_OFF;
    if (!rc && !w->idle_state) {
        /* no lock: watching reads the index only, so `tern fetch` from
         * cron keeps working while the TUI is open */
        if (!w->idle_secret)
            rc = account_secret(w->acct, false, &w->idle_secret, &err);
        if (!rc) {
            memset(&w->idle_env, 0, sizeof w->idle_env);
            w->idle_env.cfg = w->acct;
            w->idle_env.index = w->ix;
            w->idle_env.secret = w->idle_secret;
            rc = w->drv->open(&w->idle_env, &w->idle_state, &err);
        }
    }
    struct acct_wait aw = {
        .folder_id = fid, .timeout_ms = UI_IDLE_MS, .compare = compare, .wake = &w->idle_wake};
    long long t0 = mono_s();
    if (!rc)
        rc = w->drv->wait_changes(w->idle_state, &aw, &err);
    if (rc == TERN_ENOTSUP) {
        idle_close(w);
        return IDLE_OFF; /* the server has no IDLE: the periodic check it is */
    }
    if (rc == TERN_ENOTFOUND)
        return IDLE_BAD_FOLDER;
    if (rc) {
        idle_close(w);
        struct ui_result *r = calloc(1, sizeof *r);
        if (r) {
            r->kind = UI_JOB_WATCH;
            r->rc = rc;
            tern_snprintf(r->msg, sizeof r->msg,
                          "lost the server (%s); $ or the next action reconnects", err.msg);
        }
        *out = r;
        return IDLE_FAILED;
    }
    *quick = aw.changed && aw.compare && mono_s() - t0 < 2;
    return aw.changed ? IDLE_CHANGED : IDLE_QUIET;
}

/* Put a sync first in the queue unless one is queued (under mu). */
static void queue_sync_first(struct ui_worker *w)
{
    for (struct ui_job *q = w->jobs; q; q = q->next)
        if (q->kind == UI_JOB_SYNC)
            return;
    struct ui_job *j = job_new(UI_JOB_SYNC);
    if (!j)
        return;
    j->seq = ++w->seq;
    j->from_watch = true;
    j->next = w->jobs;
    w->jobs = j;
    if (!w->jobs_tail)
        w->jobs_tail = j;
}

static void *run(void *arg)
{
    struct ui_worker *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->jobs && !w->stop) {
            long long now = mono_s();
            bool can = w->idle_fid > 0 && !w->idle_off && w->idle_fid != w->idle_bad_fid &&
                       (w->caps & ACCT_CAP_WAIT);
            if (can && now >= w->idle_retry) {
                int64_t fid = w->idle_fid;
                bool compare = w->idle_compare, quick = false;
                w->idle_wake = 0;
                w->idling = true;
                pthread_mutex_unlock(&w->mu);
                struct ui_result *r = NULL;
                enum idle_outcome o = idle_once(w, fid, compare, &quick, &r);
                pthread_mutex_lock(&w->mu);
                w->idling = false;
                switch (o) {
                case IDLE_OFF:
                    w->idle_off = true;
                    break;
                case IDLE_BAD_FOLDER:
                    w->idle_bad_fid = fid;
                    break;
                case IDLE_FAILED:
                    /* reported once; retried after a growing pause that
                     * any job (the next action, the check) ends */
                    if (r && !w->idle_failed)
                        post_result(w, r);
                    else
                        result_free(r);
                    w->idle_failed = true;
                    w->idle_backoff = w->idle_backoff ? w->idle_backoff * 2 : 15;
                    if (w->idle_backoff > 300)
                        w->idle_backoff = 300;
                    w->idle_retry = mono_s() + w->idle_backoff;
                    break;
                case IDLE_CHANGED:
                case IDLE_QUIET:
                    w->idle_failed = false;
                    w->idle_backoff = 0;
                    /* a change found by comparing (not pushed by the
                     * server) is acted on once: when the sync does not
                     * settle it, later waits trust the server alone */
                    if (quick && fid == w->idle_fid)
                        w->idle_compare = false;
                    if (o == IDLE_CHANGED && !w->stop && fid == w->idle_fid)
                        queue_sync_first(w);
                    break;
                }
                continue;
            }
            if (can) {
                /* a pause after a failure: a job or a new folder ends it */
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += w->idle_retry - now;
                pthread_cond_timedwait(&w->cv, &w->mu, &until);
                continue;
            }
            pthread_cond_wait(&w->cv, &w->mu);
        }
        if (!w->jobs)
            break; /* stopping, and every local change has been written */
        struct ui_job *j = w->jobs;
        w->jobs = j->next;
        if (!w->jobs)
            w->jobs_tail = NULL;
        w->busy = busy_text(j->kind);
        w->busy_kind = (int)j->kind;
        bool from_watch = j->from_watch;
        pthread_mutex_unlock(&w->mu);

        *w->cancel = 0;
        if (j->kind == UI_JOB_SYNC)
            session_close(w); /* acct_fetch takes the lock itself */
        struct ui_result *r = calloc(1, sizeof *r);
        if (r) {
            r->kind = j->kind;
            r->seq = j->seq;
            switch (j->kind) {
            case UI_JOB_SYNC:
                job_sync(w, r);
                if (from_watch && r->rc == TERN_OK && !r->new_messages)
                    r->msg[0] = '\0'; /* a flag changed elsewhere: no news */
                break;
            case UI_JOB_FLAGS:
                job_flags(w, j, r);
                break;
            case UI_JOB_PURGE:
                job_purge(w, j, r);
                break;
            case UI_JOB_MOVE:
                job_move(w, j, r);
                break;
            case UI_JOB_SEND:
                job_send(w, j, r);
                break;
            case UI_JOB_BODY:
                job_body(w, j, r);
                break;
            case UI_JOB_WATCH:
                break;
            }
        }
        job_free(j);
        pthread_mutex_lock(&w->mu);
        bool more = w->jobs != NULL;
        pthread_mutex_unlock(&w->mu);
        if (!more) {
            /* the queue is empty: send queued changes, then let go of
             * the account so `tern fetch` (cron) can have it */
            push_queued(w, r);
            session_close(w);
        }

        pthread_mutex_lock(&w->mu);
        w->busy = NULL;
        w->busy_kind = -1;
        /* a job is the user's (or the check's) action: watching starts
         * again at once, comparing the folder with what the job left */
        w->idle_retry = 0;
        if (!from_watch)
            w->idle_compare = true;
        if (r)
            post_result(w, r);
        else
            wake(w);
    }
    w->done = true;
    pthread_mutex_unlock(&w->mu);
    wake(w);
    return NULL;
}

enum tern_rc worker_start(const struct tern_config *cfg, const struct tern_account *acct,
                          volatile sig_atomic_t *cancel, struct ui_worker **out,
                          struct tern_err *err)
{
    *out = NULL;
    struct ui_worker *w = calloc(1, sizeof *w);
    if (!w)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    w->cfg = cfg;
    w->acct = acct;
    w->cancel = cancel;
    w->pipe[0] = w->pipe[1] = -1;
    w->busy_kind = -1;
    w->lock_fd = -1;
    const struct acct_driver *drv = NULL;
    struct tern_err e = {0};
    if (!acct_driver_for(acct, &drv, &e))
        w->caps = drv->caps;
    else
        w->caps = acct->incoming == INCOMING_IMAP ? ACCT_CAP_FLAGS_REMOTE | ACCT_CAP_FOLDERS : 0;
    if (pipe2(w->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        free(w);
        return tern_fail(err, TERN_EIO, "pipe: %s", strerror(errno));
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    /* The worker takes no signals: SIGINT and SIGWINCH go to the UI. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e2 = pthread_create(&w->th, NULL, run, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e2) {
        close(w->pipe[0]);
        close(w->pipe[1]);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
        return tern_fail(err, TERN_EINTERNAL, "cannot start a thread: %s", strerror(e2));
    }
    w->started = true;
    *out = w;
    return TERN_OK;
}

bool worker_stop(struct ui_worker **pw, int wait_ms)
{
    if (!pw || !*pw)
        return true;
    struct ui_worker *w = *pw;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    w->idle_wake = 1;
    /* Drop what only reads from the server; keep what saves the user's
     * changes (flags, deletes, moves, sending). */
    struct ui_job **pp = &w->jobs;
    w->jobs_tail = NULL;
    while (*pp) {
        struct ui_job *j = *pp;
        if (j->kind == UI_JOB_SYNC || j->kind == UI_JOB_BODY) {
            *pp = j->next;
            job_free(j);
        } else {
            w->jobs_tail = j;
            pp = &j->next;
        }
    }
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    /* wait for the job in hand, bounded */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        pthread_mutex_lock(&w->mu);
        bool done = w->done;
        pthread_mutex_unlock(&w->mu);
        if (done)
            break;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        if (wait_ms >= 0 && ms >= wait_ms)
            return false; /* still busy: the caller may exit anyway */
        nanosleep(&(struct timespec){0, 20 * 1000000}, NULL);
    }
    pthread_join(w->th, NULL);
    session_close(w);
    idle_close(w);
    index_close(&w->ix);
    maildir_close(&w->md);
    result_free(w->res);
    close(w->pipe[0]);
    close(w->pipe[1]);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
    *pw = NULL;
    return true;
}

void worker_submit(struct ui_worker *w, struct ui_job *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&w->mu);
    j->seq = ++w->seq;
    j->next = NULL;
    if (w->jobs_tail)
        w->jobs_tail->next = j;
    else
        w->jobs = j;
    w->jobs_tail = j;
    w->idle_wake = 1; /* out of IDLE (DONE) before the job */
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void worker_watch(struct ui_worker *w, int64_t folder_id)
{
    pthread_mutex_lock(&w->mu);
    if (folder_id != w->idle_fid)
        w->idle_compare = true;
    w->idle_fid = folder_id;
    w->idle_retry = 0;
    w->idle_wake = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

bool worker_watching(struct ui_worker *w)
{
    pthread_mutex_lock(&w->mu);
    bool b = w->idling;
    pthread_mutex_unlock(&w->mu);
    return b;
}

int worker_fd(const struct ui_worker *w)
{
    return w->pipe[0];
}

struct ui_result *worker_results(struct ui_worker *w)
{
    char buf[64];
    while (read(w->pipe[0], buf, sizeof buf) > 0)
        ;
    pthread_mutex_lock(&w->mu);
    struct ui_result *r = w->res;
    w->res = w->res_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    return r;
}

const char *worker_busy(struct ui_worker *w, size_t *queued)
{
    pthread_mutex_lock(&w->mu);
    const char *b = w->busy;
    size_t n = 0;
    for (struct ui_job *j = w->jobs; j; j = j->next)
        n++;
    pthread_mutex_unlock(&w->mu);
    if (queued)
        *queued = n;
    return b;
}

bool worker_has(struct ui_worker *w, enum ui_job_kind kind)
{
    pthread_mutex_lock(&w->mu);
    bool has = false;
    for (struct ui_job *j = w->jobs; j; j = j->next)
        if (j->kind == kind)
            has = true;
    bool running = w->busy_kind == (int)kind;
    pthread_mutex_unlock(&w->mu);
    return has || running;
}
