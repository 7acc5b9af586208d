/* `tern tui [-a ACCOUNT]`, and a bare `tern` on a terminal: the
 * full-screen interface (ui/). */
#include "cmd.h"
#include "core/conn/lib.h"
#include "ui/lib.h"

#include <string.h>
#include <unistd.h>

int cmd_tui(struct cmd_ctx *ctx, int argc, char **argv)
{
    const char *account = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-a") || !strcmp(a, "--account")) {
            if (++i >= argc)
                return cmd_usage("tui", "%s needs an account name", a);
            account = argv[i];
        } else {
            return cmd_usage("tui", "unknown argument '%s'", a);
        }
    }
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
        return cmd_usage("tui", "needs a terminal (use tern list / tern read in scripts)");
    int ex = cmd_load_config(ctx);
    if (ex)
        return ex;
    struct tern_err err = {0};
    const struct tern_account *acct = config_account(ctx->cfg, account);
    if (!acct) {
        if (account)
            tern_fail(&err, TERN_ENOTFOUND, "no account '%s' in %s", account, ctx->cfg->path);
        else
            tern_fail(&err, TERN_ECONFIG, "%s defines no account", ctx->cfg->path);
        return cmd_report(&err);
    }
    /* libcurl's global set-up must happen before the UI starts its
     * network thread */
    if (conn_global_init(&err))
        return cmd_report(&err);
    struct ui_opts o = {.cfg = ctx->cfg, .account = acct};
    enum tern_rc rc = ui_run(&o, &err);
    if (rc == TERN_ECANCELED) {
        /* the network thread is still running: leave without tearing
         * down what it uses */
        fflush(stdout);
        _exit(EX_OK);
    }
    conn_global_cleanup();
    return rc ? cmd_report(&err) : EX_OK;
}
