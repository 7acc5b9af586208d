/*
 * core/config — the tern configuration file: parsing, validation, defaults,
 * and where things live on disk. Nothing here touches the network.
 *
 *   config.c   INI parser: [general] and [account NAME] sections, key table,
 *              validation with file:line errors, defaults
 *   paths.c    config file lookup (-c, $TERN_CONFIG, XDG) and data dirs
 *   secret.c   running password_command (without a shell unless the
 *              command uses shell syntax), literal password checks
 *
 * A struct tern_config owns every string in it; free with config_free().
 */
#ifndef TERN_CONFIG_LIB_H
#define TERN_CONFIG_LIB_H

#include "core/base/lib.h"

enum acct_incoming { INCOMING_IMAP, INCOMING_POP3 };
enum acct_tls { ACCT_TLS_STARTTLS, ACCT_TLS_IMPLICIT };
enum acct_auth { ACCT_AUTH_PASSWORD, ACCT_AUTH_XOAUTH2 };

struct tern_account {
    char *name;
    char *address;
    char *display_name;      /* key `name` */
    enum acct_incoming incoming;
    char *host;
    unsigned port;           /* defaulted from incoming and tls */
    enum acct_tls tls;
    char *user;              /* default: address */
    char *password_command;  /* NULL when `password` is used */
    char *password;          /* literal, only from a private file */
    enum acct_auth auth;
    char *ca_file;
    char *pin;               /* "sha256//..." */
    unsigned timeout;        /* seconds per network wait */
    char *data_dir;          /* $XDG_DATA_HOME/tern/NAME */
    char *maildir;           /* default: data_dir/Maildir */
    bool keep;               /* POP3: leave mail on the server */
    unsigned keep_days;      /* POP3 with keep: delete N days after download (0: never) */
    char **folders;          /* IMAP: folders to sync; NULL: all subscribed */
    size_t nfolders;
    bool offline;            /* IMAP: prefetch bodies */
    char *smtp_host;         /* NULL: this account cannot send */
    unsigned smtp_port;
    enum acct_tls smtp_tls;
    char *smtp_user;         /* default: user */
    char *smtp_password_command; /* default: password_command */
    char *smtp_password;     /* default: password */
    enum acct_auth smtp_auth;
    char *sent_folder;       /* NULL: special-use \Sent, or "Sent" */
    bool save_sent;
    unsigned line;           /* where the section starts, for messages */
};

struct tern_config {
    char *path;              /* the file read */
    char *default_account;   /* [general] default_account, or the first */
    char *html_filter;       /* command turning text/html into text */
    unsigned check_interval; /* TUI: seconds between new-mail checks */
    char **binds;            /* TUI: each `bind = CONTEXT KEY ACTION` line, in order */
    size_t nbinds;
    char **colors;           /* TUI: each `color = OBJECT FG [BG]` line, in order */
    size_t ncolors;
    bool file_private;       /* not readable by group or others */
    struct tern_account *accounts;
    size_t naccounts;
};

/* Which file to read: explicit (from -c) if not NULL, else $TERN_CONFIG,
 * else $XDG_CONFIG_HOME/tern/config, else ~/.config/tern/config. Returns a
 * new string the caller frees, or NULL with err set. */
char *config_find_path(const char *explicit_path, struct tern_err *err);

/* Parse and validate a config file. On failure err->msg names the file,
 * line and key ("FILE:12: unknown key 'hots' in [account work]") and the
 * code is TERN_ECONFIG (or TERN_ENOTFOUND when the file does not exist). */
enum tern_rc config_load(const char *path, struct tern_config **out, struct tern_err *err);
/* Same, from a string (tests); `name` is used in messages. */
enum tern_rc config_parse(const char *name, const char *text, size_t n, bool private_file,
                          struct tern_config **out, struct tern_err *err);
void config_free(struct tern_config **cfg);

/* True when s may name an account: 1 to 64 of A-Z a-z 0-9 . _ - @ +, not
 * starting with '.' or '-' (the parser's rule; `tern account add` asks
 * again until a name passes it). */
bool config_account_name_ok(const char *s);

/* The account named `name`, or the default account when name is NULL;
 * NULL when not found. Borrowed from cfg. */
const struct tern_account *config_account(const struct tern_config *cfg, const char *name);

/* Secrets. Runs password_command (or smtp_password_command when smtp) and
 * returns the first line of its output in *secret (caller frees with
 * tern_free_secret). The command is split into words and exec'd directly,
 * unless it contains shell syntax ($ ` | ; & < > ( ) * ? ~ or quotes
 * around pipes), then /bin/sh -c runs it. */
enum tern_rc account_secret(const struct tern_account *a, bool smtp, char **secret,
                            struct tern_err *err);

#endif
