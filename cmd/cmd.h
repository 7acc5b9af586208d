/*
 * cmd/ — the tern command-line program: option parsing, printing, exit
 * codes. Everything that does real work lives in core/; this layer decides
 * what to print and which sysexits code to return.
 *
 *   main.c       global options, the command table, dispatch
 *   exitcode.c   tern_rc -> sysexits, error printing
 *   accounts.c   `tern accounts`
 *   fetch.c      `tern fetch`
 *   list.c       `tern list`
 *   read.c       `tern read`
 *   attachments.c `tern attachments`
 *   send.c       `tern send` and sendmail mode
 *   queue.c      `tern queue`
 *   (one file per subcommand)
 */
#ifndef TERN_CMD_H
#define TERN_CMD_H

#include "core/base/lib.h"
#include "core/config/lib.h"
#include "core/driver/lib.h"
#include "core/index/lib.h"

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
/* The worse of two exit codes when several accounts or messages fare
 * differently: 0 < 75 < any other < 77 < 78. */
int cmd_worse_exit(int a, int b);
/* Print "tern: MESSAGE" for err on stderr (sanitised) and return its exit code. */
int cmd_report(const struct tern_err *err);
/* Print a usage error for the subcommand and return EX_USAGE. */
int cmd_usage(const char *cmd, const char *fmt, ...) TERN_PRINTF(2, 3);
/* Trace sink for --debug (writes the redacted line to stderr). */
void cmd_trace(void *arg, const char *line);

/* Subcommands */
int cmd_accounts(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_fetch(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_list(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_read(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_attachments(struct cmd_ctx *ctx, int argc, char **argv);
/* read.c, shared with attachments.c: read a whole message from a file or
 * "-" (stdin) with a size ceiling, printing any error (returns its exit
 * code); and the configured html_filter if a config can be loaded. */
int cmd_slurp_message(const char *path, char **buf, size_t *len);
const char *cmd_html_filter(struct cmd_ctx *ctx);
/* read.c, shared with attachments.c: message ID -> a local file with its
 * raw bytes (account lookup, lock, body fetched when not cached; see
 * core/account message.c). cmd_msg_open prints its own error. */
struct acct_local;
struct cmd_msg {
    const struct tern_account *acc; /* borrowed from ctx->cfg */
    struct acct_local *acct;        /* owned */
    int64_t id;
    char *path;                     /* owned */
    bool global;                    /* conn_global_init done */
};
int cmd_msg_open(struct cmd_ctx *ctx, const char *cmd, const char *account, const char *idarg,
                 struct cmd_msg *m);
void cmd_msg_close(struct cmd_msg *m);
/* send.c: `tern send`, and sendmail mode (argv[0] is "sendmail") */
int cmd_send(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_sendmail(int argc, char **argv);
/* queue.c: `tern queue`. To flush the outbox from other commands (e.g. at
 * the end of `tern fetch`), call outbox_flush() from core/outbox/lib.h. */
int cmd_queue(struct cmd_ctx *ctx, int argc, char **argv);

/* flag.c, move.c, delete.c, folders.c (IMAP engineer): an account opened
 * for changes (lock, index; driver on demand), changes queued in the index
 * and pushed to the server; offline, they stay queued for the next fetch.
 * (Flag changes go through core/account's account_set_flags.) */
struct cmd_mail {
    struct cmd_ctx *ctx;
    const struct tern_account *acc;  /* borrowed from ctx->cfg */
    const struct acct_driver *drv;
    struct acct_local *local;        /* owned: the lock and the index */
    struct index *ix;                /* borrowed from local */
    struct acct_env env;
    void *state;                     /* driver state, once opened */
    char *secret;
    bool global;                     /* conn_global_init done */
};
/* Each prints its own error and returns a sysexits code (0 on success). */
int cmd_mail_open(struct cmd_ctx *ctx, const char *account, struct cmd_mail *m);
void cmd_mail_close(struct cmd_mail *m);
enum tern_rc cmd_mail_driver(struct cmd_mail *m, struct tern_err *err);
int cmd_mail_ids(const char *cmd, char **args, size_t n, int64_t *ids);
/* The arguments of flag, move and delete: -a/--account NAME or
 * --account=NAME anywhere (the last wins); every other argument goes to
 * `opt` (when given), which returns CMD_ARG_TAKEN, CMD_ARG_POSITIONAL,
 * CMD_ARG_REST (the rest of argv is positional: "--") or, after printing
 * the usage error, an exit code. Without opt all of them are positional.
 * Stops at the first error; free with cmd_mail_args_free in any case. */
enum { CMD_ARG_REST = -2, CMD_ARG_POSITIONAL = -1, CMD_ARG_TAKEN = 0 };
typedef int cmd_arg_fn(void *arg, const char *a);
struct cmd_mail_args {
    const char *account; /* borrowed from argv, or NULL */
    char **pos;          /* owned array of borrowed argv strings */
    size_t npos;
    int64_t *ids;        /* owned; pos[0..n) once cmd_mail_args_ids ran */
};
int cmd_mail_args_parse(const char *cmd, int argc, char **argv, cmd_arg_fn *opt, void *arg,
                        struct cmd_mail_args *out);
/* pos[0..n) as message IDs into ids (usage error for anything else). */
int cmd_mail_args_ids(const char *cmd, struct cmd_mail_args *a, size_t n);
void cmd_mail_args_free(struct cmd_mail_args *a);
/* Push `queued` changes; offline is a note on stderr, not a failure. */
int cmd_mail_push(struct cmd_mail *m, size_t queued);
struct index_folder;
int cmd_mail_folder(struct cmd_mail *m, const char *cmd, const char *name,
                    struct index_folder *f);
int cmd_mail_queue(struct cmd_mail *m, const int64_t *ids, size_t n, enum index_op op,
                   const struct index_folder *dest);
void cmd_print_safe(FILE *f, const char *s); /* sanitised for the terminal */
int cmd_flag(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_move(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_delete(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_folders(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_tui(struct cmd_ctx *ctx, int argc, char **argv); /* tui.c */
/* doctor.c, account_add.c, complete.c (setup engineer): `tern doctor`,
 * `tern account add`, and `tern complete` for the shell completions. */
int cmd_doctor(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_account(struct cmd_ctx *ctx, int argc, char **argv);
int cmd_complete(struct cmd_ctx *ctx, int argc, char **argv);

#endif
