/*
 * `tern complete commands|accounts|folders [-a ACCOUNT]`: words for the
 * shell completions (completions/), one per line. Reads only the config
 * and the local index: completion must never wait for the network or run
 * a password command. Errors print nothing and exit non-zero, so a shell
 * just offers no words.
 */
#include "cmd.h"
#include "core/charset/lib.h"
#include "core/index/lib.h"

#include <stdlib.h>
#include <string.h>

/* The subcommands; kept here rather than read from main.c's table so the
 * completion list stays what users type (no `complete` itself). */
static const char *const words[] = {"accounts", "account", "attachments", "delete", "doctor",
                                    "fetch",    "flag",    "folders",     "help",   "list",
                                    "move",     "queue",   "read",        "send",   "tui"};

/* Names of folders go out as they are, one per line; a name that the
 * terminal filter would change (controls, C1, escape sequences, bidi
 * overrides, bad UTF-8) cannot be typed anyway and is skipped, so no raw
 * server byte reaches the terminal. */
static int put_folder(void *arg, const struct index_folder *f)
{
    (void)arg;
    size_t n = strlen(f->name);
    char *safe = safe_text_dup(f->name, n, 0);
    if (safe && !strcmp(safe, f->name))
        puts(f->name);
    free(safe);
    return 0;
}

int cmd_complete(struct cmd_ctx *ctx, int argc, char **argv)
{
    if (argc < 2)
        return cmd_usage("complete", "what to complete: commands, accounts or folders");
    const char *what = argv[1];
    const char *account = NULL;
    for (int i = 2; i < argc; i++) {
        if ((!strcmp(argv[i], "-a") || !strcmp(argv[i], "--account")) && i + 1 < argc)
            account = argv[++i];
        else if (!strncmp(argv[i], "--account=", 10))
            account = argv[i] + 10;
        else
            return cmd_usage("complete", "unknown argument '%s'", argv[i]);
    }
    if (!strcmp(what, "commands")) {
        for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
            puts(words[i]);
        return EX_OK;
    }
    if (strcmp(what, "accounts") != 0 && strcmp(what, "folders") != 0)
        return cmd_usage("complete", "cannot complete '%s'", what);
    /* quietly: a shell prints our stderr over the command line */
    struct tern_err err = {0};
    char *path = config_find_path(ctx->config_path, &err);
    if (!path)
        return EX_CONFIG;
    enum tern_rc rc = config_load(path, &ctx->cfg, &err);
    free(path);
    if (rc)
        return cmd_exit_code(rc);
    if (!strcmp(what, "accounts")) {
        for (size_t i = 0; i < ctx->cfg->naccounts; i++)
            puts(ctx->cfg->accounts[i].name);
        return EX_OK;
    }
    const struct tern_account *a = config_account(ctx->cfg, account);
    if (!a)
        return EX_CONFIG;
    struct index *ix = NULL;
    if (index_open_dir(a->data_dir, INDEX_OPEN_NOCREATE, &ix, &err))
        return EX_OK; /* never fetched: no folders to offer */
    index_folder_list(ix, put_folder, NULL, &err);
    index_close(&ix);
    return EX_OK;
}
