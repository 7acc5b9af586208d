/* `tern queue`: list the outbox of each account, or retry it (--flush),
 * or remove an entry (--delete ID, kept in failed/). */
#include "cmd.h"
#include "core/charset/lib.h"
#include "core/conn/lib.h"
#include "core/outbox/lib.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static void put_safe(FILE *f, const char *s)
{
    char *t = safe_text_dup(s ? s : "", s ? strlen(s) : 0, 0);
    fputs(t ? t : "?", f);
    free(t);
}

static void fmt_time(time_t t, char *buf, size_t size)
{
    struct tm tm;
    if (!t || !localtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M", &tm))
        tern_snprintf(buf, size, "-");
}

static void list_text(const char *acct, const struct outbox_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct outbox_entry *e = &l->v[i];
        char created[32], next[32];
        fmt_time(e->created, created, sizeof created);
        fmt_time(e->next_try, next, sizeof next);
        printf("%s %s  ", acct, e->id);
        if (e->state == OUTBOX_QUEUED)
            printf("queued  %s  attempts %u  next %s  %llu bytes\n", created, e->attempts, next,
                   (unsigned long long)e->size);
        else
            printf("sent, copy to Sent pending  %s\n", created);
        fputs("  from <", stdout);
        put_safe(stdout, e->from);
        fputs("> to", stdout);
        for (size_t k = 0; k < e->nrcpts; k++) {
            fputs(" <", stdout);
            put_safe(stdout, e->rcpts[k]);
            fputc('>', stdout);
        }
        if (!e->nrcpts)
            fputs(" (all done)", stdout);
        fputc('\n', stdout);
        if (e->subject) {
            fputs("  subject: ", stdout);
            put_safe(stdout, e->subject);
            fputc('\n', stdout);
        }
        if (e->error) {
            fputs("  last error: ", stdout);
            put_safe(stdout, e->error);
            fputc('\n', stdout);
        }
    }
}

static void json_str(struct tbuf *b, const char *s)
{
    if (!s)
        tbuf_puts(b, "null");
    else
        json_put_string(b, s, strlen(s));
}

static void list_json(const char *acct, const struct outbox_list *l, struct tbuf *b, bool *first)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct outbox_entry *e = &l->v[i];
        tbuf_puts(b, *first ? "\n  {" : ",\n  {");
        *first = false;
        tbuf_puts(b, "\"account\": ");
        json_str(b, acct);
        tbuf_puts(b, ", \"id\": ");
        json_str(b, e->id);
        tbuf_printf(b, ", \"state\": \"%s\"", e->state == OUTBOX_QUEUED ? "queued" : "sent");
        tbuf_printf(b,
                    ", \"attempts\": %u, \"created\": %lld, \"next_try\": %lld, "
                    "\"last_try\": %lld, \"size\": %llu, \"from\": ",
                    e->attempts, (long long)e->created, (long long)e->next_try,
                    (long long)e->last_try, (unsigned long long)e->size);
        json_str(b, e->from);
        tbuf_puts(b, ", \"rcpts\": [");
        for (size_t k = 0; k < e->nrcpts; k++) {
            if (k)
                tbuf_puts(b, ", ");
            json_str(b, e->rcpts[k]);
        }
        tbuf_puts(b, "], \"subject\": ");
        json_str(b, e->subject);
        tbuf_puts(b, ", \"error\": ");
        json_str(b, e->error);
        tbuf_putc(b, '}');
    }
}

struct flush_ctx {
    const char *acct;
    int worst;
};

static void on_event(void *arg, const struct outbox_event *ev)
{
    struct flush_ctx *fc = arg;
    FILE *f = ev->fate == OUTBOX_FATE_SENT ? stdout : stderr;
    int ex = EX_OK;
    switch (ev->fate) {
    case OUTBOX_FATE_SENT:
        ex = ev->rc ? cmd_exit_code(ev->rc) : EX_OK;
        break;
    case OUTBOX_FATE_PARTIAL:
        ex = ev->rc ? cmd_exit_code(ev->rc) : EX_OK;
        break;
    case OUTBOX_FATE_QUEUED:
        ex = ev->rc ? EX_TEMPFAIL : EX_OK;
        break;
    case OUTBOX_FATE_FAILED:
        ex = cmd_exit_code(ev->rc ? ev->rc : TERN_EREFUSED);
        break;
    case OUTBOX_FATE_SKIPPED:
        ex = EX_TEMPFAIL;
        break;
    }
    fc->worst = cmd_worse_exit(fc->worst, ex);
    if (f == stderr)
        fputs("tern: ", f);
    put_safe(f, fc->acct);
    fputc(' ', f);
    put_safe(f, ev->entry->id);
    fputs(": ", f);
    put_safe(f, ev->text);
    fputc('\n', f);
    const char *p = ev->notes;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char *line = strndup(p, n);
        fputs("tern:   ", stderr);
        put_safe(stderr, line);
        fputc('\n', stderr);
        free(line);
        p += n + (nl != NULL);
    }
}

int cmd_queue(struct cmd_ctx *ctx, int argc, char **argv)
{
    const char *account = NULL, *del = NULL;
    bool flush = false, force = false, json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "-a") || !strcmp(a, "--account")) && i + 1 < argc)
            account = argv[++i];
        else if (!strncmp(a, "--account=", 10))
            account = a + 10;
        else if (!strcmp(a, "--flush"))
            flush = true;
        else if (!strcmp(a, "--force"))
            force = true;
        else if (!strcmp(a, "--json"))
            json = true;
        else if (!strcmp(a, "--delete") && i + 1 < argc)
            del = argv[++i];
        else
            return cmd_usage("queue", "unknown argument '%s'", a);
    }
    if (force && !flush)
        return cmd_usage("queue", "--force goes with --flush");
    if (del && (flush || json))
        return cmd_usage("queue", "--delete takes no other option");
    int ex = cmd_load_config(ctx);
    if (ex)
        return ex;
    const struct tern_account *only = NULL;
    if (account && !(only = config_account(ctx->cfg, account))) {
        struct tern_err err = {TERN_ECONFIG, ""};
        tern_snprintf(err.msg, sizeof err.msg, "no account '%s'", account);
        return cmd_report(&err);
    }
    if (del) {
        const struct tern_account *acc = only ? only : config_account(ctx->cfg, NULL);
        struct tern_err err = {0};
        if (!acc || outbox_delete(acc, del, &err))
            return cmd_report(&err);
        printf("%s: moved %s to failed/\n", acc->name, del);
        return EX_OK;
    }
    if (flush) {
        struct tern_err gerr = {0};
        if (conn_global_init(&gerr))
            return cmd_report(&gerr);
    }
    int worst = EX_OK;
    struct tbuf js;
    tbuf_init(&js, 0);
    bool first = true;
    if (json)
        tbuf_putc(&js, '[');
    size_t total = 0;
    for (size_t i = 0; i < ctx->cfg->naccounts; i++) {
        const struct tern_account *acc = &ctx->cfg->accounts[i];
        if (only && acc != only)
            continue;
        struct tern_err err = {0};
        if (flush) {
            struct flush_ctx fc = {.acct = acc->name, .worst = EX_OK};
            struct outbox_opts o = {.force = force,
                                    .trace = ctx->debug ? cmd_trace : NULL,
                                    .report = on_event,
                                    .report_arg = &fc};
            struct outbox_flush_stats st = {0};
            enum tern_rc rc = outbox_flush(acc, &o, &st, &err);
            if (rc) {
                fprintf(stderr, "tern: %s: ", acc->name);
                int e = cmd_report(&err);
                fc.worst = cmd_worse_exit(fc.worst, e);
            }
            worst = cmd_worse_exit(worst, fc.worst);
            total += st.sent + st.queued + st.failed + st.skipped + st.copies;
            continue;
        }
        struct outbox_list l;
        if (outbox_list(acc, &l, &err)) {
            fprintf(stderr, "tern: %s: ", acc->name);
            int e = cmd_report(&err);
            worst = cmd_worse_exit(worst, e);
            continue;
        }
        total += l.n;
        if (json)
            list_json(acc->name, &l, &js, &first);
        else
            list_text(acc->name, &l);
        outbox_list_free(&l);
    }
    if (json) {
        tbuf_puts(&js, first ? "]\n" : "\n]\n");
        fputs(js.data, stdout);
    } else if (!total && !flush) {
        puts("outbox empty");
    }
    tbuf_free(&js);
    return worst;
}
