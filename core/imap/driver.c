/*
 * The `imap_driver` table. The connection is made lazily, on the first
 * slot that needs the server: a body already in the cache, or a command
 * that only reads the index, costs no login.
 */
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum tern_rc io_line(void *arg, struct tbuf *line, size_t max, struct tern_err *err)
{
    struct imap_drv *d = arg;
    return conn_read_line(d->conn, line, max, err);
}

static enum tern_rc io_exact(void *arg, uint64_t n, conn_sink_fn *sink, void *sarg,
                             struct tern_err *err)
{
    struct imap_drv *d = arg;
    return conn_read_exact(d->conn, n, sink, sarg, err);
}

static enum tern_rc io_send(void *arg, const void *buf, size_t n, struct tern_err *err)
{
    struct imap_drv *d = arg;
    return conn_send(d->conn, buf, n, err);
}

static void io_trace(void *arg, bool outgoing, const char *line, size_t n)
{
    struct imap_drv *d = arg;
    conn_trace_line(d->conn, outgoing, line, n);
}

void imap_drv_drop(struct imap_drv *d)
{
    imap_sess_free(&d->s);
    conn_close(&d->conn);
    d->sel_fid = 0;
    d->listed = false;
}

enum tern_rc imap_drv_connect(struct imap_drv *d, struct tern_err *err)
{
    if (d->s && d->s->broken)
        imap_drv_drop(d);
    if (d->s)
        return TERN_OK;
    const struct tern_account *a = d->env->cfg;
    struct conn_params p = {
        .proto = CONN_IMAP,
        .tls = a->tls == ACCT_TLS_IMPLICIT ? CONN_TLS_IMPLICIT : CONN_TLS_STARTTLS,
        .host = a->host,
        .port = a->port,
        .user = a->user,
        .secret = d->env->secret,
        .auth = a->auth == ACCT_AUTH_XOAUTH2 ? CONN_AUTH_XOAUTH2 : CONN_AUTH_PASSWORD,
        .ca_file = a->ca_file,
        .pin = a->pin,
        .timeout_s = a->timeout,
        .trace = d->env->trace,
        .trace_arg = d->env->trace_arg,
        .cancel = d->env->cancel,
    };
    enum tern_rc rc = conn_open(&p, &d->conn, err);
    if (rc)
        return rc;
    struct imap_io io = {.read_line = io_line,
                         .read_exact = io_exact,
                         .send = io_send,
                         .trace = d->env->trace ? io_trace : NULL,
                         .arg = d};
    if (!(d->s = imap_sess_new(&io))) {
        conn_close(&d->conn);
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    }
    /* the login reply usually lists the post-login capabilities */
    if (!imap_sess_caps_from_transcript(d->s, conn_connect_transcript(d->conn)))
        rc = imap_simple(d->s, NULL, NULL, err, "CAPABILITY");
    if (!rc && !(d->s->caps & CAP_IMAP4REV1))
        rc = tern_fail(err, TERN_ENOTSUP, "%s is not an IMAP4rev1 server", conn_peer(d->conn));
    if (rc)
        imap_drv_drop(d);
    return rc;
}

static enum tern_rc drv_open(const struct acct_env *env, void **state, struct tern_err *err)
{
    *state = NULL;
    struct imap_drv *d = calloc(1, sizeof *d);
    if (!d)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    d->env = env;
    d->ix = env->index;
    struct tbuf b;
    tbuf_init(&b, 8192);
    if (!env->cfg->data_dir || tbuf_printf(&b, "%s/cache", env->cfg->data_dir)) {
        tbuf_free(&b);
        free(d);
        return tern_fail(err, TERN_ECONFIG, "account has no usable data directory");
    }
    d->cache_root = tbuf_steal(&b);
    *state = d;
    return TERN_OK;
}

static enum tern_rc drv_sync(void *state, struct acct_sync_stats *stats, struct tern_err *err)
{
    struct imap_drv *d = state;
    enum tern_rc rc = imap_sync_all(d, stats, err);
    if (rc && d->s && d->s->broken)
        imap_drv_drop(d);
    return rc;
}

static enum tern_rc drv_fetch_body(void *state, int64_t id, char **path, struct tern_err *err)
{
    struct imap_drv *d = state;
    enum tern_rc rc = imap_fetch_body(d, id, path, err);
    if (rc && d->s && d->s->broken)
        imap_drv_drop(d);
    return rc;
}

static enum tern_rc drv_push(void *state, struct acct_sync_stats *stats, struct tern_err *err)
{
    struct imap_drv *d = state;
    struct acct_sync_stats ignore = {0};
    enum tern_rc rc = imap_push_all(d, stats ? stats : &ignore, err);
    if (rc && d->s && d->s->broken)
        imap_drv_drop(d);
    return rc;
}

static enum tern_rc drv_list_folders(void *state, struct tern_err *err)
{
    struct imap_drv *d = state;
    enum tern_rc rc = imap_drv_connect(d, err);
    if (!rc)
        rc = imap_list_folders(d, false, NULL, err);
    if (rc && d->s && d->s->broken)
        imap_drv_drop(d);
    return rc;
}

static enum tern_rc drv_close(void **state, struct tern_err *err)
{
    struct imap_drv *d = *state;
    if (!d)
        return TERN_OK;
    if (d->s && !d->s->broken) {
        /* A polite goodbye, not waited for: every earlier command has its
         * reply already, so the BYE would tell nothing and cost a round
         * trip. Its failure changes nothing for the caller. */
        struct tern_err ignore = {0};
        if (!imap_cmd(d->s, NULL, &ignore, "LOGOUT"))
            imap_flush(d->s, &ignore);
    }
    imap_drv_drop(d);
    free(d->cache_root);
    free(d);
    *state = NULL;
    (void)err;
    return TERN_OK;
}

const struct acct_driver imap_driver = {
    .name = "imap",
    .caps = ACCT_CAP_FOLDERS | ACCT_CAP_FLAGS_REMOTE | ACCT_CAP_BODY_ON_DEMAND | ACCT_CAP_MOVE |
            ACCT_CAP_WAIT,
    .open = drv_open,
    .sync = drv_sync,
    .fetch_body = drv_fetch_body,
    .push = drv_push,
    .list_folders = drv_list_folders,
    .close = drv_close,
    .wait_changes = imap_wait_changes,
};
