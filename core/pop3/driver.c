/* The POP3 driver table: open (local store first, then connect, log in
 * through core/conn and read CAPA), sync (sync.c), close. */
#include "core/conn/lib.h"
#include "core/index/lib.h"
#include "core/maildir/lib.h"
#include "core/pop3/private.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static enum tern_rc conn_tr_send(void *arg, const char *buf, size_t n, struct tern_err *err)
{
    struct pop3_state *s = arg;
    return conn_send(s->conn, buf, n, err);
}

/* The conn stream hands out lines; the parser takes any slices (it keeps
 * its own ceilings for status and listing lines, and streams message data
 * with none per line). So a line longer than POP3_RECV_SLICE — a message
 * may legally carry a 10 MB line — is handed out in slices: memory stays
 * at one slice whatever the line length. */
static enum tern_rc conn_tr_recv(void *arg, const char **data, size_t *len, struct tern_err *err)
{
    struct pop3_state *s = arg;
    bool partial;
    enum tern_rc rc = conn_read_line_part(s->conn, &s->line, POP3_RECV_SLICE, &partial, err);
    if (rc)
        return rc;
    *data = s->line.data;
    *len = s->line.len;
    return TERN_OK;
}

static void conn_tr_trace(void *arg, bool outgoing, const char *line)
{
    struct pop3_state *s = arg;
    conn_trace_line(s->conn, outgoing, line, strlen(line));
}

static void state_free(struct pop3_state *s)
{
    if (!s)
        return;
    pop3_sess_free(&s->sess);
    conn_close(&s->conn);
    maildir_close(&s->md);
    if (s->journal_fd >= 0)
        close(s->journal_fd);
    free(s->journal_path);
    tbuf_free(&s->line);
    free(s);
}

static enum tern_rc pop3_open(const struct acct_env *env, void **state, struct tern_err *err)
{
    const struct tern_account *a = env->cfg;
    *state = NULL;
    struct pop3_state *s = calloc(1, sizeof *s);
    if (!s)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    s->env = env;
    s->journal_fd = -1;
    tbuf_init(&s->line, POP3_RECV_SLICE);
    enum tern_rc rc;
    struct tbuf jp;
    tbuf_init(&jp, 0);
    /* The local side first: no point logging in when mail cannot be
     * stored. */
    if ((rc = tbuf_printf(&jp, "%s/%s", a->data_dir, POP3_JOURNAL_NAME))) {
        rc = tern_fail(err, rc, "out of memory");
        goto fail;
    }
    s->journal_path = tbuf_steal(&jp);
    s->md_mode = MAILDIR_SYNC_BATCH_FSYNC;
    if ((rc = maildir_open(a->maildir, MAILDIR_SYNC_BATCH_FSYNC, &s->md, err)) ||
        (rc = index_folder_get_or_create(env->index, "INBOX", NULL, &s->folder_id, err)))
        goto fail;
    struct conn_params p = {
        .proto = CONN_POP3,
        .tls = a->tls == ACCT_TLS_IMPLICIT ? CONN_TLS_IMPLICIT : CONN_TLS_STARTTLS,
        .host = a->host,
        .port = a->port,
        .user = a->user,
        .secret = env->secret,
        .auth = a->auth == ACCT_AUTH_XOAUTH2 ? CONN_AUTH_XOAUTH2 : CONN_AUTH_PASSWORD,
        .ca_file = a->ca_file,
        .pin = a->pin,
        .timeout_s = a->timeout,
        .trace = env->trace,
        .trace_arg = env->trace_arg,
        .cancel = env->cancel,
    };
    if ((rc = conn_open(&p, &s->conn, err)))
        goto fail;
    struct pop3_transport tr = {.send = conn_tr_send, .recv = conn_tr_recv, .arg = s};
    pop3_sess_init(&s->sess, &tr, env->trace ? conn_tr_trace : NULL, s);
    s->sess_live = true;
    if ((rc = pop3_sess_capa(&s->sess, err)))
        goto fail;
    s->window = (s->sess.caps & POP3_CAP_PIPELINING) ? POP3_WINDOW : 1;
    *state = s;
    return TERN_OK;
fail:
    tbuf_free(&jp);
    state_free(s);
    return rc;
}

static enum tern_rc pop3_sync(void *state, struct acct_sync_stats *stats, struct tern_err *err)
{
    struct pop3_state *s = state;
    if (!s->sess_live)
        return tern_fail(err, TERN_EINTERNAL, "pop3: sync after the session ended");
    return pop3_sync_run(s, stats, err);
}

/* sync already sent QUIT (its +OK is what commits deletions, so sync
 * must see it); close only says goodbye to a session sync did not end. */
static enum tern_rc pop3_close(void **state, struct tern_err *err)
{
    struct pop3_state *s = *state;
    if (!s)
        return TERN_OK;
    if (s->sess_live && !pop3_sess_outstanding(&s->sess)) {
        bool ok;
        struct tern_err ignore = {0};
        if (!pop3_sess_queue(&s->sess, POP3_CMD_QUIT, 0, 0, &ignore))
            pop3_sess_read(&s->sess, POP3_DATA_RAW, NULL, NULL, NULL, &ok, &ignore);
    }
    state_free(s);
    *state = NULL;
    (void)err;
    return TERN_OK;
}

const struct acct_driver pop3_driver = {
    .name = "pop3",
    .caps = ACCT_CAP_DELETES_SERVER,
    .open = pop3_open,
    .sync = pop3_sync,
    .fetch_body = NULL, /* bodies are always local */
    .close = pop3_close,
};
