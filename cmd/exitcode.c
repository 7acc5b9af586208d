#include "cmd.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cmd_exit_code(enum tern_rc rc)
{
    switch (rc) {
    case TERN_OK: return EX_OK;
    case TERN_EUSAGE: return EX_USAGE;
    case TERN_EDATA: return EX_DATAERR;
    case TERN_ENOTFOUND: return EX_NOINPUT;
    case TERN_ECONFIG: return EX_CONFIG;
    case TERN_EIO: return EX_IOERR;
    case TERN_ENOMEM: return EX_OSERR;
    case TERN_EINTERNAL: return EX_SOFTWARE;
    case TERN_ECONN:
    case TERN_ETIMEOUT:
    case TERN_ETEMP:
    case TERN_ELOCKED:
    case TERN_ECANCELED: return EX_TEMPFAIL;
    case TERN_EAUTH: return EX_NOPERM;
    case TERN_EPROTO: return EX_PROTOCOL;
    case TERN_ETLS:
    case TERN_ENOTLS:
    case TERN_ENOTSUP:
    case TERN_EREFUSED: return EX_UNAVAILABLE;
    }
    return EX_SOFTWARE;
}

/* Rank for combining outcomes: success, then "try later", then any other
 * failure, then refused credentials, then a broken config (the user must
 * act on the last two before anything can work). */
static int severity(int ex)
{
    switch (ex) {
    case EX_OK: return 0;
    case EX_TEMPFAIL: return 1;
    case EX_NOPERM: return 3;
    case EX_CONFIG: return 4;
    default: return 2;
    }
}

int cmd_worse_exit(int a, int b)
{
    return severity(b) > severity(a) ? b : a;
}

/* Error text may quote server replies or file names: never let a control
 * byte through to the terminal. */
static void put_safe(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        fputc((*p < 0x20 || *p == 0x7f) ? '?' : *p, f);
}

int cmd_report(const struct tern_err *err)
{
    fputs("tern: ", stderr);
    put_safe(stderr, err->msg[0] ? err->msg : tern_rc_str(err->rc));
    fputc('\n', stderr);
    return cmd_exit_code(err->rc);
}

int cmd_usage(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fputs("tern", stderr);
    if (cmd) {
        fputc(' ', stderr);
        put_safe(stderr, cmd);
    }
    fputs(": ", stderr);
    put_safe(stderr, msg);
    fprintf(stderr, "\nTry 'tern help%s%s'.\n", cmd ? " " : "", cmd ? cmd : "");
    return EX_USAGE;
}

void cmd_trace(void *arg, const char *line)
{
    (void)arg;
    fputs("tern: debug: ", stderr);
    put_safe(stderr, line);
    fputc('\n', stderr);
}

int cmd_load_config(struct cmd_ctx *ctx)
{
    if (ctx->cfg)
        return EX_OK;
    struct tern_err err = {0};
    char *path = config_find_path(ctx->config_path, &err);
    if (!path)
        return cmd_report(&err);
    enum tern_rc rc = config_load(path, &ctx->cfg, &err);
    free(path);
    if (rc == TERN_ENOTFOUND) {
        /* A missing config is a configuration problem for commands that
         * need accounts. */
        err.rc = TERN_ECONFIG;
    }
    return rc ? cmd_report(&err) : EX_OK;
}
