/* `tern fetch`: download new mail for each account, one after another; a
 * failing account does not stop the others. Made for cron: -q prints
 * nothing unless something failed, the exit code is the worst failure. */
#include "cmd.h"
#include "core/account/lib.h"
#include "core/charset/lib.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Which exit code wins when accounts fail differently: a problem a human
 * must fix (config, credentials) outranks one that goes away by itself. */
static int severity(int ex)
{
    switch (ex) {
    case EX_OK:
        return 0;
    case EX_TEMPFAIL:
        return 1;
    case EX_NOPERM:
        return 3;
    case EX_CONFIG:
        return 4;
    default:
        return 2;
    }
}

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

int cmd_fetch(struct cmd_ctx *ctx, int argc, char **argv)
{
    const char **names = calloc((size_t)argc + 1, sizeof *names);
    size_t nnames = 0;
    bool quiet = ctx->quiet, json = false;
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
        };
        struct acct_sync_stats st = {0};
        struct tern_err err = {0};
        enum tern_rc rc = acct_fetch(acc, &hooks, &st, &err);
        progress_clear(&prog);
        int aex = cmd_exit_code(rc);
        if (severity(aex) > severity(worst))
            worst = aex;
        char msg[TERN_ERR_MSG_MAX + 64] = "";
        if (rc == TERN_ELOCKED)
            snprintf(msg, sizeof msg, "skipped: another tern is fetching this account");
        else if (rc)
            snprintf(msg, sizeof msg, "%s", err.msg[0] ? err.msg : tern_rc_str(rc));
        if (rc)
            print_err(acc->name, msg);
        if (json) {
            if (i)
                tbuf_putc(&js, ',');
            tbuf_puts(&js, "{\"name\":");
            put_json_str(&js, acc->name);
            tbuf_printf(&js, ",\"new\":%llu,\"deleted\":%llu,\"errors\":[",
                        (unsigned long long)st.new_messages, (unsigned long long)st.deleted_server);
            if (rc)
                put_json_str(&js, msg);
            tbuf_puts(&js, "]}");
        } else if (!quiet && rc != TERN_ELOCKED) {
            char *name = safe_text_dup(acc->name, strlen(acc->name), SAFE_ASCII);
            printf("%s: %llu new, %llu deleted from server\n", name ? name : "?",
                   (unsigned long long)st.new_messages, (unsigned long long)st.deleted_server);
            free(name);
            fflush(stdout);
        }
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
