/*
 * cmd/ — the tern command-line program: option parsing, printing, exit
 * codes. Everything that does real work lives in core/; this layer decides
 * what to print and which sysexits code to return.
 *
 *   main.c       global options, the command table, dispatch
 *   exitcode.c   tern_rc -> sysexits, error printing
 *   accounts.c   `tern accounts`
 *   (one file per subcommand)
 */
#ifndef TERN_CMD_H
#define TERN_CMD_H

#include "core/base/lib.h"
#include "core/config/lib.h"

#include <stdio.h>
#include <sysexits.h>

struct cmd_ctx {
    const char *config_path; /* -c FILE, or NULL */
    bool debug;              /* --debug: redacted protocol trace on stderr */
    bool quiet;
    struct tern_config *cfg; /* loaded on demand by cmd_load_config; owned */
};

/* A subcommand: argv[0] is the subcommand name. Returns a sysexits code. */
typedef int cmd_fn(struct cmd_ctx *ctx, int argc, char **argv);

struct cmd_def {
    const char *name;
    cmd_fn *run;
    const char *synopsis; /* one line: "accounts [--json]" */
    const char *help;     /* a paragraph for `tern help NAME` */
};

/* Load the config once (for commands that need accounts); prints the error
 * and returns its exit code on failure, 0 on success. */
int cmd_load_config(struct cmd_ctx *ctx);
/* Exit code for an error code (sysexits). */
int cmd_exit_code(enum tern_rc rc);
/* Print "tern: MESSAGE" for err on stderr (sanitised) and return its exit code. */
int cmd_report(const struct tern_err *err);
/* Print a usage error for the subcommand and return EX_USAGE. */
int cmd_usage(const char *cmd, const char *fmt, ...) TERN_PRINTF(2, 3);
/* Trace sink for --debug (writes the redacted line to stderr). */
void cmd_trace(void *arg, const char *line);

/* Subcommands */
int cmd_accounts(struct cmd_ctx *ctx, int argc, char **argv);

#endif
