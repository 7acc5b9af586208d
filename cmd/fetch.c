/* `tern fetch`: download new mail for each account, one after another; a
 * failing account does not stop the others; then send what the account's
 * outbox holds and is due (the flush `tern queue --flush` runs). Made for
 * cron: -q prints nothing unless something failed, the exit code is the
 * worst failure. */
#include "cmd.h"
#include "core/account/lib.h"
#include "core/charset/lib.h"
#include "core/outbox/lib.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct progress {
    const char *name;
    bool enabled;
    bool drawn;
    struct timespec start, last;
};

static double since(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* A bar on stderr for downloads that take a while (drawn after half a
 * second, at most ten times a second). */
static void progress_cb(void *arg, uint64_t done, uint64_t total)
{
    struct progress *p = arg;
    if (!p->enabled || total == 0)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (since(&p->start, &now) < 0.5 || (done < total && p->drawn && since(&p->last, &now) < 0.1))
        return;
    p->last = now;
    p->drawn = true;
    enum { WIDTH = 30 };
    char bar[WIDTH + 1];
    size_t fill = (size_t)(done * WIDTH / total);
    for (size_t i = 0; i < WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[WIDTH] = '\0';
    char *name = safe_text_dup(p->name, strlen(p->name), SAFE_ASCII);
    fprintf(stderr, "\r%s: [%s] %llu/%llu", name ? name : "?", bar, (unsigned long long)done,
            (unsigned long long)total);
    free(name);
    fflush(stderr);
}

static void progress_clear(struct progress *p)
{
    if (p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
}

static void put_json_str(struct tbuf *out, const char *s)
{
    if (json_put_string(out, s, strlen(s)))
        tbuf_puts(out, "\"\"");
}

static void print_err(const char *account, const char *msg)
{
    char *a = safe_text_dup(account, strlen(account), SAFE_ASCII);
    char *m = safe_text_dup(msg, strlen(msg), SAFE_ASCII);
    fprintf(stderr, "tern: %s: %s\n", a ? a : "?", m ? m : "?");
    free(a);
    free(m);
}

/* --json's outbox errors of one account; past this, stderr still has them. */
#define FETCH_OUTBOX_ERRS_MAX (256u << 10)
/* One outbox error line (an event's text is at most about 600 bytes). */
#define FETCH_OUTBOX_LINE_MAX 1024

/* The outbox flush of one account, as fetch reports it: messages sent are
 * only counted; what went wrong goes to stderr at once, to --json's errors
 * and to the fetch log. Messages not due yet (backoff) are no failure. */
struct outbox_run {
    const char *acct;
    struct outbox_flush_stats st;
    enum tern_rc rc;                   /* the first failure, or TERN_OK */
    char first[FETCH_OUTBOX_LINE_MAX]; /* its text */
    size_t nerrs;
    struct tbuf errs; /* --json: one error a line */
};

static void outbox_note(struct outbox_run *r, enum tern_rc rc, const char *id, const char *text)
{
    char line[FETCH_OUTBOX_LINE_MAX];
    tern_snprintf(line, sizeof line, "outbox%s%s: %s", id ? " " : "", id ? id : "", text);
    print_err(r->acct, line);
    if (!r->rc) {
        r->rc = rc;
        tern_snprintf(r->first, sizeof r->first, "%s", line);
    }
    r->nerrs++;
    tbuf_printf(&r->errs, "%s\n", line);
}

static void outbox_event_cb(void *arg, const struct outbox_event *ev)
{
    enum tern_rc rc = ev->rc;
    if (ev->fate == OUTBOX_FATE_FAILED && !rc)
        rc = TERN_EREFUSED;
    else if (ev->fate == OUTBOX_FATE_QUEUED && rc)
        rc = TERN_ETEMP;
    if (!rc)
        return;
    struct outbox_run *r = arg;
    outbox_note(r, rc, ev->entry->id, ev->text);
    for (const char *p = ev->notes; p && *p;) {
        size_t n = strcspn(p, "\n");
        char *line = strndup(p, n);
        if (line)
            print_err(r->acct, line);
        free(line);
        p += n + (p[n] == '\n');
    }
}

/* After the incoming side, whatever it did: sending is separate. An
 * account without smtp_host cannot have queued mail; an empty outbox costs
 * no connection (outbox_flush). */
static void flush_outbox(struct cmd_ctx *ctx, const struct tern_account *acc, struct outbox_run *r)
{
    if (!acc->smtp_host || !acc->data_dir)
        return;
    struct outbox_opts o = {
        .trace = ctx->debug ? cmd_trace : NULL,
        .report = outbox_event_cb,
        .report_arg = r,
    };
    struct tern_err err = {0};
    enum tern_rc rc = outbox_flush(acc, &o, &r->st, &err);
    /* A server that cannot be reached was already named in each message's
     * line; say it once more only when no message said anything. */
    if (rc && !r->nerrs)
        outbox_note(r, rc, NULL, err.msg[0] ? err.msg : tern_rc_str(rc));
    const struct outbox_flush_stats *st = &r->st;
    if (!r->rc && !st->sent && !st->copies)
        return; /* nothing happened: nothing to log */
    char line[FETCH_OUTBOX_LINE_MAX + 128];
    if (r->rc)
        tern_snprintf(line, sizeof line, "outbox failed (%s): %s; %zu sent", tern_rc_str(r->rc),
                      r->first, st->sent);
    else
        tern_snprintf(line, sizeof line, "outbox ok: %zu sent, %zu copied to Sent", st->sent,
                      st->copies);
    acct_log_append(acc->data_dir, line, NULL); /* the log is a convenience */
}

int cmd_fetch(struct cmd_ctx *ctx, int argc, char **argv)
{
    const char **names = calloc((size_t)argc + 1, sizeof *names);
    size_t nnames = 0;
    bool quiet = ctx->quiet, json = false, bodies = false;
    if (!names)
        return cmd_exit_code(TERN_ENOMEM);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-a") || !strcmp(a, "--account")) {
            if (++i >= argc) {
                free(names);
                return cmd_usage("fetch", "%s needs an account name", a);
            }
            names[nnames++] = argv[i];
        } else if (!strncmp(a, "--account=", 10)) {
            names[nnames++] = a + 10;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = true;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--bodies")) {
            bodies = true;
        } else {
            free(names);
            return cmd_usage("fetch", "unknown argument '%s'", a);
        }
    }
    int ex = cmd_load_config(ctx);
    if (ex) {
        free(names);
        return ex;
    }
    const struct tern_config *cfg = ctx->cfg;
    struct tern_err gerr = {0};
    if (conn_global_init(&gerr)) {
        free(names);
        return cmd_report(&gerr);
    }
    /* Check every -a before fetching anything. */
    for (size_t i = 0; i < nnames; i++)
        if (!config_account(cfg, names[i])) {
            int uex = cmd_usage("fetch", "no account named '%s' in %s", names[i], cfg->path);
            free(names);
            conn_global_cleanup();
            return uex;
        }
    size_t n = nnames ? nnames : cfg->naccounts;
    int worst = EX_OK;
    struct tbuf js;
    tbuf_init(&js, 0);
    tbuf_putc(&js, '[');
    bool tty = isatty(STDERR_FILENO);
    for (size_t i = 0; i < n; i++) {
        const struct tern_account *acc = nnames ? config_account(cfg, names[i]) : &cfg->accounts[i];
        struct progress prog = {.name = acc->name, .enabled = tty && !quiet && !json};
        clock_gettime(CLOCK_MONOTONIC, &prog.start);
        struct acct_hooks hooks = {
            .trace = ctx->debug ? cmd_trace : NULL,
            .progress = progress_cb,
            .progress_arg = &prog,
            .fetch_bodies = bodies,
        };
        struct acct_sync_stats st = {0};
        struct tern_err err = {0};
        enum tern_rc rc = acct_fetch(acc, &hooks, &st, &err);
        progress_clear(&prog);
        int aex = cmd_exit_code(rc);
        worst = cmd_worse_exit(worst, aex);
        char msg[TERN_ERR_MSG_MAX + 64] = "";
        if (rc == TERN_ELOCKED)
            snprintf(msg, sizeof msg, "skipped: another tern is fetching this account");
        else if (rc)
            snprintf(msg, sizeof msg, "%s", err.msg[0] ? err.msg : tern_rc_str(rc));
        if (rc)
            print_err(acc->name, msg);
        struct outbox_run ob = {.acct = acc->name};
        tbuf_init(&ob.errs, FETCH_OUTBOX_ERRS_MAX);
        flush_outbox(ctx, acc, &ob);
        int oex = cmd_exit_code(ob.rc);
        worst = cmd_worse_exit(worst, oex);
        if (json) {
            if (i)
                tbuf_putc(&js, ',');
            tbuf_puts(&js, "{\"name\":");
            put_json_str(&js, acc->name);
            tbuf_printf(&js, ",\"new\":%llu,\"deleted\":%llu,", (unsigned long long)st.new_messages,
                        (unsigned long long)st.deleted_server);
            if (acc->smtp_host) /* only accounts that can send have an outbox */
                tbuf_printf(&js, "\"sent\":%zu,", ob.st.sent);
            tbuf_puts(&js, "\"errors\":[");
            if (rc)
                put_json_str(&js, msg);
            for (char *p = ob.errs.data, *nl; p && (nl = strchr(p, '\n')); p = nl + 1) {
                *nl = '\0';
                if (rc || p != ob.errs.data)
                    tbuf_putc(&js, ',');
                put_json_str(&js, p);
            }
            tbuf_puts(&js, "]}");
        } else if (!quiet && (rc != TERN_ELOCKED || ob.st.sent)) {
            char *name = safe_text_dup(acc->name, strlen(acc->name), SAFE_ASCII);
            printf("%s: ", name ? name : "?");
            if (rc != TERN_ELOCKED)
                printf("%llu new, %llu deleted from server%s", (unsigned long long)st.new_messages,
                       (unsigned long long)st.deleted_server, ob.st.sent ? ", " : "");
            if (ob.st.sent)
                printf("%zu queued sent", ob.st.sent);
            putchar('\n');
            free(name);
            fflush(stdout);
        }
        tbuf_free(&ob.errs);
    }
    if (json) {
        tbuf_puts(&js, "]\n");
        if (js.data)
            fputs(js.data, stdout);
    }
    tbuf_free(&js);
    free(names);
    conn_global_cleanup();
    return worst;
}
