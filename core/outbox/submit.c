#include "private.h"

#include "core/codec/lib.h"
#include "core/compose/lib.h"
#include "core/smtp/lib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One message of a batch. */
struct job {
    struct outbox_item *item; /* submit: the caller's item */
    struct store_meta *meta;  /* flush: the queue entry */
    const char *data;         /* the message with Bcc */
    size_t len;
    struct tbuf loaded; /* flush: the message read from disk */
    struct tbuf wire;   /* the transmitted form (no Bcc) */
    bool copy_due;      /* accepted: make the copy to Sent */
};

struct run {
    const struct tern_account *a;
    const struct outbox_opts *o;
    struct outbox_store *st; /* submit: opened when first needed */
    struct job *jobs;
    time_t now;
    struct outbox_flush_stats *stats;
    struct sent_copier copier; /* the copies to Sent of this run */
};

void outbox_item_free(struct outbox_item *it)
{
    if (it)
        tbuf_free(&it->notes);
}

static time_t backoff(unsigned attempts)
{
    if (attempts < 2)
        return 0;
    time_t d = OUTBOX_BACKOFF_FIRST;
    for (unsigned i = 2; i < attempts && d < OUTBOX_BACKOFF_MAX; i++)
        d *= 2;
    return d < OUTBOX_BACKOFF_MAX ? d : OUTBOX_BACKOFF_MAX;
}

static const char *domain_of(const char *addr)
{
    const char *at = addr ? strrchr(addr, '@') : NULL;
    return at && at[1] ? at + 1 : "localhost";
}

static enum tern_rc open_session(const struct tern_account *a, const struct outbox_opts *o,
                                 struct smtp_session **s, struct tern_err *err)
{
    *s = NULL;
    if (!a->smtp_host)
        return tern_fail(err, TERN_ECONFIG, "account '%s' has no smtp_host: it cannot send",
                         a->name);
    char *secret = NULL;
    enum tern_rc rc = account_secret(a, true, &secret, err);
    if (rc)
        return rc;
    struct conn_params p = {
        .proto = CONN_SMTP,
        .tls = a->smtp_tls == ACCT_TLS_IMPLICIT ? CONN_TLS_IMPLICIT : CONN_TLS_STARTTLS,
        .host = a->smtp_host,
        .port = a->smtp_port,
        .user = a->smtp_user,
        .secret = secret,
        .auth = a->smtp_auth == ACCT_AUTH_XOAUTH2 ? CONN_AUTH_XOAUTH2 : CONN_AUTH_PASSWORD,
        .ca_file = a->ca_file,
        /* the pin belongs to the incoming server's key: it only applies
         * when SMTP goes to the same host */
        .pin = (a->host && !tern_strcasecmp(a->host, a->smtp_host)) ? a->pin : NULL,
        .timeout_s = a->timeout,
        .ehlo_name = o->ehlo_name ? o->ehlo_name : domain_of(a->address),
        .trace = o->trace,
        .trace_arg = o->trace_arg,
        .cancel = o->cancel,
    };
    rc = smtp_open(&p, s, err);
    tern_free_secret(secret);
    /* one round trip per message in a batch (measured: no delayed-ACK
     * stall with Postfix; see bench/RESULTS.md) */
    if (!rc)
        smtp_session_pipeline_ahead(*s, true);
    return rc;
}

static void note(struct tbuf *notes, const char *fmt, ...) TERN_PRINTF(2, 3);
static void note(struct tbuf *notes, const char *fmt, ...)
{
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (notes->len)
        tbuf_putc(notes, '\n');
    tbuf_puts(notes, line);
}

/* Notes for every recipient the server refused; fills temp with the ones
 * that failed temporarily (borrowed pointers into m->rcpts). */
static void rcpt_notes(const struct smtp_message *m, const struct smtp_result *r,
                       struct tbuf *notes, const char **temp, size_t *ntemp)
{
    *ntemp = 0;
    for (size_t i = 0; r->rcpt && m && i < r->nrcpts; i++) {
        int c = r->rcpt[i].code;
        if (c / 100 == 5)
            note(notes, "recipient %s refused: %s", m->rcpts[i], r->rcpt[i].text);
        else if (c / 100 == 4) {
            note(notes, "recipient %s deferred: %s", m->rcpts[i], r->rcpt[i].text);
            temp[(*ntemp)++] = m->rcpts[i];
        }
    }
}

static bool is_temporary(const struct smtp_result *r)
{
    return r->rc == TERN_ETEMP || r->rc == TERN_ECONN || r->rc == TERN_ETIMEOUT ||
           r->rc == TERN_ECANCELED; /* a user's Ctrl-C: kept, sent later */
}

static enum tern_rc ensure_store(struct run *run, struct tern_err *err)
{
    return run->st ? TERN_OK : store_open(run->a, true, &run->st, err);
}

static enum tern_rc set_rcpts(struct store_meta *m, const char *const *rc, size_t n)
{
    for (size_t i = 0; i < m->e.nrcpts; i++)
        free(m->e.rcpts[i]);
    free(m->e.rcpts);
    m->e.rcpts = NULL;
    m->e.nrcpts = 0;
    if (!n)
        return TERN_OK;
    m->e.rcpts = calloc(n, sizeof *m->e.rcpts);
    if (!m->e.rcpts)
        return TERN_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!(m->e.rcpts[i] = tern_strdup(rc[i])))
            return TERN_ENOMEM;
        m->e.nrcpts++;
    }
    return TERN_OK;
}

/* Queue a fresh message (or the rest of its recipients). */
static enum tern_rc enqueue(struct run *run, const char *data, size_t len, const char *from,
                            const char *const *rcpts, size_t n, bool sent, bool save_sent,
                            const char *error, char *id_out, size_t id_size, struct tern_err *err)
{
    enum tern_rc rc = ensure_store(run, err);
    if (rc)
        return rc;
    struct store_meta m;
    memset(&m, 0, sizeof m);
    m.sent = sent;
    m.e.save_sent = save_sent;
    m.e.created = run->now;
    m.e.next_try = run->now;
    m.e.last_try = run->now;
    m.e.attempts = 1;
    m.e.from = tern_strdup(from);
    m.e.error = error ? tern_strdup(error) : NULL;
    if (!m.e.from || set_rcpts(&m, rcpts, n))
        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    if (!rc)
        rc = store_add(run->st, data, len, &m, err);
    if (!rc)
        tern_snprintf(id_out, id_size, "%s", m.e.id);
    store_meta_free(&m);
    return rc;
}

static void submit_done(struct run *run, struct job *j, const struct smtp_message *m,
                        const struct smtp_result *r)
{
    struct outbox_item *it = j->item;
    const struct tern_account *a = run->a;
    it->rc = r->rc;
    const char *temp[SMTP_RCPTS_MAX];
    size_t ntemp = 0;
    struct tern_err e = {0};
    if (r->rc == TERN_OK) {
        j->copy_due = true;
        rcpt_notes(m, r, &it->notes, temp, &ntemp);
        if (ntemp && run->o->queue) {
            if (enqueue(run, j->data, j->len, it->from, temp, ntemp, true, false, r->text,
                        it->queue_id, sizeof it->queue_id, &e)) {
                it->rc = e.rc;
                tern_snprintf(it->text, sizeof it->text,
                              "sent to %zu of %zu recipients; could not queue the rest: %s",
                              r->accepted, r->nrcpts, e.msg);
            } else {
                it->rc = TERN_ETEMP;
                tern_snprintf(it->text, sizeof it->text,
                              "sent to %zu of %zu recipients; queued for %zu (%s)", r->accepted,
                              r->nrcpts, ntemp, it->queue_id);
            }
            it->fate = OUTBOX_FATE_PARTIAL;
        } else if (r->accepted < r->nrcpts) {
            it->fate = OUTBOX_FATE_PARTIAL;
            it->rc = r->perm_failed ? TERN_EREFUSED : TERN_ETEMP;
            tern_snprintf(it->text, sizeof it->text, "sent to %zu of %zu recipients", r->accepted,
                          r->nrcpts);
        } else {
            it->fate = OUTBOX_FATE_SENT;
            tern_snprintf(it->text, sizeof it->text, "sent to %zu recipient%s (%s)", r->accepted,
                          r->accepted == 1 ? "" : "s", r->text);
        }
        return;
    }
    if (m)
        rcpt_notes(m, r, &it->notes, temp, &ntemp);
    if (is_temporary(r) && run->o->queue) {
        if (enqueue(run, j->data, j->len, it->from, it->rcpts, it->nrcpts, false, a->save_sent,
                    r->text, it->queue_id, sizeof it->queue_id, &e)) {
            it->fate = OUTBOX_FATE_FAILED;
            it->rc = e.rc;
            tern_snprintf(it->text, sizeof it->text, "not sent (%s) and could not be queued: %s",
                          r->text, e.msg);
            return;
        }
        it->fate = OUTBOX_FATE_QUEUED;
        it->rc = TERN_ETEMP;
        tern_snprintf(it->text, sizeof it->text, "queued as %s: %s%s", it->queue_id, r->text,
                      r->unknown ? " (the server may have received it)" : "");
        return;
    }
    it->fate = OUTBOX_FATE_FAILED;
    tern_snprintf(it->text, sizeof it->text, "not sent: %s", r->text);
    if (r->rc == TERN_EREFUSED || r->rc == TERN_ENOTSUP) {
        /* the text would be lost: keep it in failed/ */
        struct store_meta fm;
        memset(&fm, 0, sizeof fm);
        fm.e.created = run->now;
        fm.e.last_try = run->now;
        fm.e.attempts = 1;
        fm.e.from = tern_strdup(it->from);
        fm.e.error = tern_strdup(r->text);
        if (fm.e.from && !set_rcpts(&fm, it->rcpts, it->nrcpts) && !ensure_store(run, &e) &&
            !store_add_failed(run->st, j->data, j->len, &fm, &e)) {
            char *p = store_path(run->st, "failed", fm.e.id);
            note(&it->notes, "message kept in %s", p ? p : fm.e.id);
            free(p);
            tern_snprintf(it->queue_id, sizeof it->queue_id, "%s", fm.e.id);
        }
        store_meta_free(&fm);
    }
}

static void report(struct run *run, const struct store_meta *m, enum outbox_fate fate,
                   enum tern_rc rc, const char *text, const char *notes)
{
    if (!run->o->report)
        return;
    struct outbox_event ev = {
        .entry = &m->e, .fate = fate, .rc = rc, .text = text, .notes = notes ? notes : ""};
    run->o->report(run->o->report_arg, &ev);
}

/* A queued entry's fate; the return value stops the batch when the
 * outcome could not be recorded (never risk sending twice). */
static enum tern_rc flush_done(struct run *run, struct job *j, const struct smtp_message *m,
                               const struct smtp_result *r)
{
    struct store_meta *meta = j->meta;
    struct outbox_entry *e = &meta->e;
    struct tbuf notes;
    tbuf_init(&notes, 1 << 16);
    const char *temp[SMTP_RCPTS_MAX];
    size_t ntemp = 0;
    char text[600];
    struct tern_err err = {0};
    enum tern_rc rc = TERN_OK;
    e->last_try = run->now;
    if (m)
        rcpt_notes(m, r, &notes, temp, &ntemp);
    if (r->rc == TERN_OK) {
        meta->sent = true;
        j->copy_due = e->save_sent;
        /* keep only the recipients to retry; temp points into e->rcpts,
         * so copy before replacing */
        char **keep = calloc(ntemp ? ntemp : 1, sizeof *keep);
        size_t nk = 0;
        for (size_t i = 0; keep && i < ntemp; i++)
            if ((keep[nk] = tern_strdup(temp[i])))
                nk++;
        if (!keep || nk != ntemp || set_rcpts(meta, (const char *const *)keep, nk))
            rc = tern_fail(&err, TERN_ENOMEM, "out of memory");
        for (size_t i = 0; keep && i < nk; i++)
            free(keep[i]);
        free(keep);
        if (!rc && ntemp) {
            e->attempts++;
            e->next_try = run->now + backoff(e->attempts);
            free(e->error);
            e->error = tern_strdup(notes.data ? notes.data : r->text);
        }
        /* the durable "sent" record: before the next reply is read */
        if (!rc)
            rc = (!e->nrcpts && !j->copy_due) ? store_remove(run->st, e->id, &err)
                                              : store_write_meta(run->st, meta, &err);
        if (rc) {
            tern_snprintf(text, sizeof text, "sent, but recording it failed: %s", err.msg);
            report(run, meta, OUTBOX_FATE_FAILED, rc, text, notes.data);
        } else {
            run->stats->sent++;
            if (ntemp)
                tern_snprintf(text, sizeof text, "sent to %zu of %zu recipients; %zu still queued",
                              r->accepted, r->nrcpts, ntemp);
            else
                tern_snprintf(text, sizeof text, "sent to %zu recipient%s (%s)", r->accepted,
                              r->accepted == 1 ? "" : "s", r->text);
            report(run, meta, r->accepted < r->nrcpts ? OUTBOX_FATE_PARTIAL : OUTBOX_FATE_SENT,
                   r->perm_failed ? TERN_EREFUSED
                   : ntemp        ? TERN_ETEMP
                                  : TERN_OK,
                   text, notes.data);
        }
        tbuf_free(&notes);
        return rc;
    }
    if (r->rc == TERN_ECANCELED) {
        report(run, meta, OUTBOX_FATE_SKIPPED, r->rc, r->text, NULL);
        tbuf_free(&notes);
        return TERN_OK;
    }
    free(e->error);
    e->error = tern_strdup(r->text);
    if (is_temporary(r) && run->now - e->created < OUTBOX_GIVE_UP) {
        e->attempts++;
        e->next_try = run->now + backoff(e->attempts);
        rc = store_write_meta(run->st, meta, &err);
        run->stats->queued++;
        tern_snprintf(text, sizeof text, "still queued (attempt %u): %s%s", e->attempts, r->text,
                      r->unknown ? " (the server may have received it)" : "");
        report(run, meta, OUTBOX_FATE_QUEUED, TERN_ETEMP, rc ? err.msg : text, notes.data);
        tbuf_free(&notes);
        return TERN_OK; /* not sent: nothing to protect */
    }
    if (is_temporary(r)) {
        free(e->error);
        e->error = tern_strdup("gave up after 5 days of temporary failures");
    }
    rc = store_fail(run->st, meta, &err);
    run->stats->failed++;
    char *p = store_path(run->st, "failed", e->id);
    tern_snprintf(text, sizeof text, "not sent: %s; moved to %s", r->text, p ? p : "failed/");
    free(p);
    report(run, meta, OUTBOX_FATE_FAILED, is_temporary(r) ? TERN_EREFUSED : r->rc,
           rc ? err.msg : text, notes.data);
    tbuf_free(&notes);
    return TERN_OK;
}

static enum tern_rc b_load(void *arg, size_t i, struct smtp_message *m, struct tern_err *err)
{
    struct run *run = arg;
    struct job *j = &run->jobs[i];
    enum tern_rc rc = TERN_OK;
    if (j->meta) {
        rc = store_read_msg(run->st, j->meta->e.id, &j->loaded, err);
        if (rc)
            return rc;
        j->data = j->loaded.data ? j->loaded.data : "";
        j->len = j->loaded.len;
        m->from = j->meta->e.from;
        m->rcpts = (const char *const *)j->meta->e.rcpts;
        m->nrcpts = j->meta->e.nrcpts;
    } else {
        m->from = j->item->from;
        m->rcpts = j->item->rcpts;
        m->nrcpts = j->item->nrcpts;
    }
    tbuf_init(&j->wire, (size_t)300 << 20);
    rc = compose_strip_bcc(j->data, j->len, &j->wire, err);
    m->data = j->wire.data ? j->wire.data : "";
    m->len = j->wire.len;
    return rc;
}

static enum tern_rc b_done(void *arg, size_t i, const struct smtp_message *m,
                           const struct smtp_result *r)
{
    struct run *run = arg;
    struct job *j = &run->jobs[i];
    enum tern_rc rc = TERN_OK;
    if (j->meta)
        rc = flush_done(run, j, m, r);
    else
        submit_done(run, j, m, r);
    tbuf_free(&j->wire);
    tbuf_free(&j->loaded);
    return rc;
}

/* After the batch: the copies to Sent of what was accepted. */
static void submit_copies(struct run *run, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct job *j = &run->jobs[i];
        struct outbox_item *it = j->item;
        if (!j->copy_due)
            continue;
        struct tern_err e = {0};
        if (!sent_copy(&run->copier, j->data, j->len, run->now, &e))
            continue;
        /* never makes the send look failed: kept for a retry */
        struct tern_err qe = {0};
        if (it->queue_id[0]) {
            struct store_meta m;
            if (!store_read_meta(run->st, it->queue_id, &m, &qe)) {
                m.e.save_sent = true;
                store_write_meta(run->st, &m, &qe);
                store_meta_free(&m);
            }
        } else {
            enqueue(run, j->data, j->len, it->from, NULL, 0, true, true, e.msg, it->queue_id,
                    sizeof it->queue_id, &qe);
        }
        if (qe.rc)
            note(&it->notes, "copy to Sent failed: %s (and could not be kept: %s)", e.msg, qe.msg);
        else
            note(&it->notes, "copy to Sent %s: %s; kept in the outbox as %s to retry",
                 e.rc == TERN_ENOTSUP ? "pending" : "failed", e.msg, it->queue_id);
    }
}

enum tern_rc outbox_submit(const struct tern_account *a, struct outbox_item *items, size_t n,
                           const struct outbox_opts *o, struct tern_err *err)
{
    struct outbox_flush_stats stats = {0};
    struct run run = {.a = a, .o = o, .now = o->now ? o->now : time(NULL), .stats = &stats};
    run.copier = (struct sent_copier){.a = a, .o = o};
    for (size_t i = 0; i < n; i++) {
        items[i].fate = OUTBOX_FATE_FAILED;
        items[i].rc = TERN_OK;
        items[i].text[0] = '\0';
        items[i].queue_id[0] = '\0';
        tbuf_init(&items[i].notes, 1 << 16);
    }
    if (!n)
        return TERN_OK;
    run.jobs = calloc(n, sizeof *run.jobs);
    if (!run.jobs)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        run.jobs[i].item = &items[i];
        run.jobs[i].data = items[i].data;
        run.jobs[i].len = items[i].len;
    }
    struct smtp_session *s = NULL;
    struct tern_err serr = {0};
    enum tern_rc rc = open_session(a, o, &s, &serr);
    if (rc) {
        bool temp = rc == TERN_ECONN || rc == TERN_ETIMEOUT || rc == TERN_ETEMP ||
                    rc == TERN_ECANCELED;
        size_t queued = 0;
        for (size_t i = 0; i < n; i++) {
            struct smtp_result r = {.rc = temp ? TERN_ETEMP : rc};
            tern_snprintf(r.text, sizeof r.text, "%s", serr.msg);
            if (!temp) {
                items[i].rc = rc;
                items[i].fate = OUTBOX_FATE_FAILED;
                tern_snprintf(items[i].text, sizeof items[i].text, "not sent: %s", serr.msg);
                continue;
            }
            submit_done(&run, &run.jobs[i], NULL, &r);
            if (items[i].rc == TERN_ETEMP && items[i].fate == OUTBOX_FATE_QUEUED)
                queued++;
            else if (items[i].rc == TERN_ETEMP)
                items[i].rc = rc;
        }
        free(run.jobs);
        store_close(&run.st);
        if (queued)
            return TERN_OK;
        tern_fail(err, rc, "%s", serr.msg);
        return rc;
    }
    struct smtp_batch_ops ops = {.load = b_load, .done = b_done, .arg = &run};
    struct tern_err berr = {0};
    (void)smtp_send_batch(s, n, &ops, true, &berr); /* per-item outcomes are in items */
    smtp_close(&s);
    submit_copies(&run, n);
    sent_copier_close(&run.copier);
    free(run.jobs);
    store_close(&run.st);
    return TERN_OK;
}

/* Copies to Sent pending in the queue (entries already sent). A copy made
 * is recorded (save-sent off, or the entry removed) durably before the
 * next one is tried, so a later flush never stores it twice. */
static void flush_copies(struct run *run, struct store_meta *ms, size_t n, bool only_pending)
{
    for (size_t i = 0; i < n; i++) {
        struct store_meta *m = &ms[i];
        if (!m->sent || !m->e.save_sent)
            continue;
        if (!only_pending && !run->jobs[i].copy_due)
            continue;
        struct tern_err e = {0};
        struct tbuf msg;
        enum tern_rc rc = store_read_msg(run->st, m->e.id, &msg, &e);
        if (!rc) {
            /* the internal date: when the message was sent */
            time_t when = m->e.last_try ? m->e.last_try : m->e.created;
            rc = sent_copy(&run->copier, msg.data ? msg.data : "", msg.len, when, &e);
            tbuf_free(&msg);
        }
        if (rc) {
            run->stats->copies_pending++;
            char text[600];
            tern_snprintf(text, sizeof text, "copy to Sent %s: %s",
                          rc == TERN_ENOTSUP ? "pending" : "failed", e.msg);
            free(m->e.error);
            m->e.error = tern_strdup(text);
            struct tern_err we = {0};
            store_write_meta(run->st, m, &we);
            report(run, m, OUTBOX_FATE_QUEUED, rc == TERN_ENOTSUP ? TERN_OK : TERN_ETEMP, text,
                   NULL);
            continue;
        }
        run->stats->copies++;
        m->e.save_sent = false;
        struct tern_err we = {0};
        rc = m->e.nrcpts ? store_write_meta(run->st, m, &we) : store_remove(run->st, m->e.id, &we);
        if (rc) {
            /* the disk will not take the record: store no more copies in
             * this run, each could be stored again by the next flush */
            char text[600];
            tern_snprintf(text, sizeof text,
                          "copied to Sent, but recording it failed (%s): the next flush may "
                          "copy it again",
                          we.msg);
            tern_fail(&run->copier.down, rc, "not copied: the outbox cannot record copies (%s)",
                      we.msg);
            report(run, m, OUTBOX_FATE_SENT, rc, text, NULL);
        } else if (only_pending) {
            report(run, m, OUTBOX_FATE_SENT, TERN_OK, "copied to Sent", NULL);
        }
    }
}

enum tern_rc outbox_flush(const struct tern_account *a, const struct outbox_opts *o,
                          struct outbox_flush_stats *stats, struct tern_err *err)
{
    struct outbox_flush_stats dummy;
    if (!stats)
        stats = &dummy;
    memset(stats, 0, sizeof *stats);
    struct run run = {.a = a, .o = o, .now = o->now ? o->now : time(NULL), .stats = stats};
    run.copier = (struct sent_copier){.a = a, .o = o};
    enum tern_rc rc = store_open(a, false, &run.st, err);
    if (rc == TERN_ENOTFOUND)
        return TERN_OK; /* no outbox: nothing to do */
    if (rc)
        return rc;
    rc = store_lock(run.st, err);
    struct store_meta *ms = NULL;
    size_t n = 0, orphans = 0;
    if (!rc)
        rc = store_scan(run.st, &ms, &n, &orphans, err);
    if (rc) {
        store_close(&run.st);
        return rc;
    }
    run.jobs = calloc(n ? n : 1, sizeof *run.jobs);
    if (!run.jobs)
        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    /* 1. copies to Sent left pending by earlier runs */
    if (!rc)
        flush_copies(&run, ms, n, true);
    /* 2. the due messages, in one batch */
    size_t *due = rc ? NULL : calloc(n ? n : 1, sizeof *due);
    size_t ndue = 0;
    if (!rc && !due)
        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        if (!ms[i].e.nrcpts)
            continue;
        if (!o->force && ms[i].e.next_try > run.now) {
            stats->skipped++;
            char text[120];
            tern_snprintf(text, sizeof text, "not due yet (next try in %lld s)",
                          (long long)(ms[i].e.next_try - run.now));
            report(&run, &ms[i], OUTBOX_FATE_SKIPPED, TERN_OK, text, NULL);
            continue;
        }
        due[ndue++] = i;
    }
    if (!rc && ndue) {
        /* jobs for the due entries, in queue order */
        struct job *jobs = calloc(ndue, sizeof *jobs);
        if (!jobs)
            rc = tern_fail(err, TERN_ENOMEM, "out of memory");
        for (size_t k = 0; jobs && k < ndue; k++)
            jobs[k].meta = &ms[due[k]];
        struct smtp_session *s = NULL;
        struct tern_err serr = {0};
        if (!rc)
            rc = open_session(a, o, &s, &serr);
        if (rc && jobs) {
            /* could not connect: an attempt for each due entry */
            for (size_t k = 0; k < ndue; k++) {
                bool temp = rc == TERN_ECONN || rc == TERN_ETIMEOUT || rc == TERN_ETEMP;
                struct smtp_result r = {.rc = temp ? TERN_ETEMP : rc};
                tern_snprintf(r.text, sizeof r.text, "%s", serr.msg);
                if (temp) {
                    struct run sub = run;
                    sub.jobs = jobs;
                    flush_done(&sub, &jobs[k], NULL, &r);
                } else {
                    struct store_meta *m = jobs[k].meta;
                    m->e.last_try = run.now;
                    free(m->e.error);
                    m->e.error = tern_strdup(serr.msg);
                    struct tern_err we = {0};
                    store_write_meta(run.st, m, &we);
                    report(&run, m, OUTBOX_FATE_QUEUED, rc, serr.msg, NULL);
                }
            }
            tern_fail(err, rc, "%s", serr.msg);
        } else if (!rc) {
            struct run sub = run;
            sub.jobs = jobs;
            struct smtp_batch_ops ops = {.load = b_load, .done = b_done, .arg = &sub};
            struct tern_err berr = {0};
            (void)smtp_send_batch(s, ndue, &ops, true, &berr);
            smtp_close(&s);
            /* 3. copies to Sent of what was just sent */
            for (size_t k = 0; k < ndue; k++)
                run.jobs[due[k]].copy_due = jobs[k].copy_due;
            flush_copies(&run, ms, n, false);
        }
        free(jobs);
    }
    free(due);
    for (size_t i = 0; i < n; i++)
        store_meta_free(&ms[i]);
    free(ms);
    free(run.jobs);
    sent_copier_close(&run.copier);
    store_close(&run.st);
    return rc;
}

static void entry_subject(struct outbox_store *st, struct outbox_entry *e)
{
    struct tbuf msg;
    struct tern_err ignored = {0};
    if (store_read_msg(st, e->id, &msg, &ignored))
        return;
    /* the first Subject field of the header block, unfolded */
    const char *p = msg.data ? msg.data : "";
    size_t n = msg.len;
    size_t i = 0;
    while (i < n) {
        const char *l = p + i;
        const char *nl = memchr(l, '\n', n - i);
        size_t len = nl ? (size_t)(nl - l) : n - i;
        if (len == 0 || (len == 1 && l[0] == '\r'))
            break;
        if (len > 8 && !tern_strncasecmp(l, "Subject:", 8)) {
            struct tbuf raw;
            tbuf_init(&raw, 4096);
            size_t k = i + 8;
            for (;;) {
                const char *e2 = memchr(p + k, '\n', n - k);
                size_t ll = e2 ? (size_t)(e2 - (p + k)) : n - k;
                tbuf_append(&raw, p + k, ll && p[k + ll - 1] == '\r' ? ll - 1 : ll);
                k += ll + 1;
                if (k >= n || (p[k] != ' ' && p[k] != '\t'))
                    break;
            }
            struct tbuf dec;
            tbuf_init(&dec, 4096);
            const char *rs = raw.data ? raw.data : "";
            size_t rn = raw.len;
            while (rn && (*rs == ' ' || *rs == '\t')) {
                rs++;
                rn--;
            }
            if (!rfc2047_decode(rs, rn, &dec))
                e->subject = tbuf_steal(&dec);
            tbuf_free(&dec);
            tbuf_free(&raw);
            break;
        }
        i += len + 1;
    }
    tbuf_free(&msg);
}

enum tern_rc outbox_list(const struct tern_account *a, struct outbox_list *out,
                         struct tern_err *err)
{
    memset(out, 0, sizeof *out);
    struct outbox_store *st = NULL;
    enum tern_rc rc = store_open(a, false, &st, err);
    if (rc == TERN_ENOTFOUND)
        return TERN_OK;
    if (rc)
        return rc;
    struct store_meta *ms = NULL;
    size_t n = 0;
    rc = store_scan(st, &ms, &n, &out->orphans, err);
    if (!rc && n) {
        out->v = calloc(n, sizeof *out->v);
        if (!out->v)
            rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        if (!rc) {
            out->v[i] = ms[i].e; /* ownership moves */
            entry_subject(st, &out->v[i]);
            memset(&ms[i], 0, sizeof ms[i]);
            out->n++;
        }
        store_meta_free(&ms[i]);
    }
    free(ms);
    store_close(&st);
    if (rc)
        outbox_list_free(out);
    return rc;
}

void outbox_list_free(struct outbox_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        struct store_meta m = {.e = l->v[i]};
        store_meta_free(&m);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

enum tern_rc outbox_delete(const struct tern_account *a, const char *id, struct tern_err *err)
{
    struct outbox_store *st = NULL;
    enum tern_rc rc = store_open(a, false, &st, err);
    if (rc == TERN_ENOTFOUND)
        return tern_fail(err, TERN_ENOTFOUND, "no outbox entry '%s'", id);
    if (rc)
        return rc;
    rc = store_lock(st, err);
    struct store_meta m;
    if (!rc)
        rc = store_read_meta(st, id, &m, err);
    if (!rc) {
        free(m.e.error);
        m.e.error = tern_strdup("deleted by the user");
        rc = store_fail(st, &m, err);
        store_meta_free(&m);
    }
    store_close(&st);
    return rc;
}
