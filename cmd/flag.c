/*
 * `tern flag ID... +seen|-seen|+flagged|-flagged|+answered|-answered`, and
 * what move/delete/folders share: an account opened for changes (account
 * lock, index, driver on demand) and the queue-then-push step.
 *
 * Flags go through the account layer (account_set_flags): the index
 * changes at once; IMAP accounts queue the change (index_pending_add) and
 * push the queue; POP3 accounts rename the Maildir file. Moves and deletes
 * are queued here and pushed through the driver's push slot. When the
 * server cannot be reached the queue stays and the next `tern fetch`
 * replays it.
 *
 * cmd_mail_open opens the account with core/account's acct_local_open
 * (its lock on <data_dir>/lock, never waited for, and the index), so a
 * change never races a running fetch. (Once core/account offers push and
 * list_folders for an acct_local, these helpers become thin wrappers over
 * it.)
 */
#include "cmd.h"
#include "core/account/lib.h"
#include "core/charset/lib.h"
#include "core/index/lib.h"

#include <stdlib.h>
#include <string.h>

void cmd_print_safe(FILE *f, const char *s)
{
    char *t = safe_text_dup(s ? s : "", s ? strlen(s) : 0, 0);
    fputs(t ? t : "?", f);
    free(t);
}

static int fail(struct cmd_mail *m, const struct tern_err *err)
{
    if (m->acc) {
        fputs("tern: ", stderr);
        cmd_print_safe(stderr, m->acc->name);
        fputs(": ", stderr);
        cmd_print_safe(stderr, err->msg[0] ? err->msg : tern_rc_str(err->rc));
        fputc('\n', stderr);
        return cmd_exit_code(err->rc);
    }
    return cmd_report(err);
}

int cmd_mail_open(struct cmd_ctx *ctx, const char *account, struct cmd_mail *m)
{
    memset(m, 0, sizeof *m);
    int ex = cmd_load_config(ctx);
    if (ex)
        return ex;
    m->ctx = ctx;
    m->acc = config_account(ctx->cfg, account);
    if (!m->acc)
        return account ? cmd_usage(NULL, "no account named '%s'", account)
                       : cmd_usage(NULL, "no account configured");
    struct tern_err err = {0};
    /* Only the lock and the index: the driver is opened here, on demand
     * (cmd_mail_driver). */
    enum tern_rc rc = acct_local_open(m->acc, NULL, &m->local, &err);
    if (!rc) {
        m->ix = acct_local_index(m->local);
        m->drv = acct_local_driver(m->local);
    }
    if (rc) {
        ex = fail(m, &err);
        cmd_mail_close(m);
        return ex;
    }
    return EX_OK;
}

enum tern_rc cmd_mail_driver(struct cmd_mail *m, struct tern_err *err)
{
    if (m->state)
        return TERN_OK;
    enum tern_rc rc = TERN_OK;
    if (!m->secret)
        rc = account_secret(m->acc, false, &m->secret, err);
    if (!rc && !m->global) {
        rc = conn_global_init(err);
        m->global = rc == TERN_OK;
    }
    if (rc)
        return rc;
    m->env.cfg = m->acc;
    m->env.index = m->ix;
    m->env.secret = m->secret;
    m->env.trace = m->ctx->debug ? cmd_trace : NULL;
    return m->drv->open(&m->env, &m->state, err);
}

void cmd_mail_close(struct cmd_mail *m)
{
    if (m->state && m->drv->close) {
        struct tern_err ignore = {0};
        m->drv->close(&m->state, &ignore);
    }
    tern_free_secret(m->secret);
    m->secret = NULL;
    if (m->global)
        conn_global_cleanup();
    m->global = false;
    m->ix = NULL;
    acct_local_close(&m->local); /* index closed, lock released */
}

/* Network and server-busy failures leave the queue for the next fetch. */
static bool offline_failure(enum tern_rc rc)
{
    return rc == TERN_ECONN || rc == TERN_ETIMEOUT || rc == TERN_ETEMP;
}

int cmd_mail_push(struct cmd_mail *m, size_t queued)
{
    if (!queued || !m->drv->push || !(m->drv->caps & ACCT_CAP_FLAGS_REMOTE))
        return EX_OK;
    struct tern_err err = {0};
    struct acct_sync_stats st = {0};
    enum tern_rc rc = cmd_mail_driver(m, &err);
    if (!rc)
        rc = m->drv->push(m->state, &st, &err);
    if (!rc)
        return EX_OK;
    if (offline_failure(rc)) {
        if (!m->ctx->quiet) {
            fputs("tern: ", stderr);
            cmd_print_safe(stderr, m->acc->name);
            fprintf(stderr, ": offline (");
            cmd_print_safe(stderr, err.msg[0] ? err.msg : tern_rc_str(rc));
            fprintf(stderr, "); %zu change%s queued for the next fetch\n", queued,
                    queued == 1 ? "" : "s");
        }
        return EX_OK;
    }
    return fail(m, &err);
}

int cmd_mail_ids(const char *cmd, char **args, size_t n, int64_t *ids)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        if (!tern_parse_u64(args[i], strlen(args[i]), INT64_MAX, &v) || v == 0)
            return cmd_usage(cmd, "'%s' is not a message ID", args[i]);
        ids[i] = (int64_t)v;
    }
    return EX_OK;
}

int cmd_mail_args_parse(const char *cmd, int argc, char **argv, cmd_arg_fn *opt, void *arg,
                        struct cmd_mail_args *out)
{
    memset(out, 0, sizeof *out);
    out->pos = calloc((size_t)argc + 1, sizeof *out->pos);
    out->ids = calloc((size_t)argc + 1, sizeof *out->ids);
    if (!out->pos || !out->ids)
        return EX_OSERR;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-a") || !strcmp(a, "--account")) {
            if (++i >= argc)
                return cmd_usage(cmd, "%s needs an account name", a);
            out->account = argv[i];
            continue;
        }
        if (!strncmp(a, "--account=", 10)) {
            out->account = a + 10;
            continue;
        }
        int r = opt ? opt(arg, a) : CMD_ARG_POSITIONAL;
        if (r == CMD_ARG_REST) {
            while (++i < argc)
                out->pos[out->npos++] = argv[i];
        } else if (r == CMD_ARG_POSITIONAL) {
            out->pos[out->npos++] = argv[i];
        } else if (r != CMD_ARG_TAKEN) {
            return r;
        }
    }
    return EX_OK;
}

int cmd_mail_args_ids(const char *cmd, struct cmd_mail_args *a, size_t n)
{
    return cmd_mail_ids(cmd, a->pos, n, a->ids);
}

void cmd_mail_args_free(struct cmd_mail_args *a)
{
    free(a->pos);
    free(a->ids);
    memset(a, 0, sizeof *a);
}

static bool parse_op(const char *a, unsigned *add, unsigned *del)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"seen", INDEX_FLAG_SEEN},
                 {"read", INDEX_FLAG_SEEN},
                 {"flagged", INDEX_FLAG_FLAGGED},
                 {"answered", INDEX_FLAG_ANSWERED}};
    if (a[0] != '+' && a[0] != '-')
        return false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (tern_strcasecmp(a + 1, names[i].name) == 0) {
            if (a[0] == '+') {
                *add |= names[i].bit;
                *del &= ~names[i].bit;
            } else {
                *del |= names[i].bit;
                *add &= ~names[i].bit;
            }
            return true;
        }
    }
    return false;
}

/* The account layer's account_set_flags: the index at once, then IMAP
 * queue + push, or (POP3) the Maildir file renamed to its new flags. */
static int flag_via_account(struct cmd_ctx *ctx, const char *account, const int64_t *ids, size_t n,
                            unsigned add, unsigned del)
{
    int ex = cmd_load_config(ctx);
    if (ex)
        return ex;
    const struct tern_account *acc = config_account(ctx->cfg, account);
    if (!acc)
        return account ? cmd_usage("flag", "no account named '%s'", account)
                       : cmd_usage("flag", "no account configured");
    struct cmd_mail m = {.acc = acc, .ctx = ctx};
    struct tern_err err = {0}, note = {0};
    if (conn_global_init(&err))
        return cmd_report(&err);
    struct acct_hooks hooks = {.trace = ctx->debug ? cmd_trace : NULL};
    struct acct_local *al = NULL;
    enum tern_rc rc = acct_local_open(acc, &hooks, &al, &err);
    if (!rc)
        rc = account_set_flags(al, ids, n, add, del, &note, &err);
    acct_local_close(&al);
    conn_global_cleanup();
    if (rc)
        return fail(&m, &err);
    if (note.rc && !ctx->quiet) {
        fputs("tern: ", stderr);
        cmd_print_safe(stderr, acc->name);
        fputs(": offline (", stderr);
        cmd_print_safe(stderr, note.msg[0] ? note.msg : tern_rc_str(note.rc));
        fputs("); the change is queued for the next fetch\n", stderr);
    }
    return EX_OK;
}

struct flag_change {
    unsigned add, del;
};

/* "+seen", "-flagged", ...; "-5" is left to be a (bad) message ID. */
static int flag_arg(void *arg, const char *a)
{
    struct flag_change *fc = arg;
    if (a[0] != '+' && !(a[0] == '-' && a[1] && (a[1] < '0' || a[1] > '9')))
        return CMD_ARG_POSITIONAL;
    if (!parse_op(a, &fc->add, &fc->del))
        return cmd_usage("flag",
                         "unknown flag change '%s' (use +seen -seen +flagged "
                         "-flagged +answered -answered)",
                         a);
    return CMD_ARG_TAKEN;
}

int cmd_flag(struct cmd_ctx *ctx, int argc, char **argv)
{
    struct flag_change fc = {0};
    struct cmd_mail_args args;
    int ex = cmd_mail_args_parse("flag", argc, argv, flag_arg, &fc, &args);
    if (!ex && (!args.npos || !(fc.add | fc.del)))
        ex = cmd_usage("flag", "need at least one message ID and one flag change");
    if (!ex)
        ex = cmd_mail_args_ids("flag", &args, args.npos);
    if (!ex)
        ex = flag_via_account(ctx, args.account, args.ids, args.npos, fc.add, fc.del);
    cmd_mail_args_free(&args);
    return ex;
}
