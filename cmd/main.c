#include "cmd.h"
#include "tern-version.h"

#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct cmd_def commands[] = {
    {"accounts", cmd_accounts, "accounts [--json]",
     "List the configured accounts: name, address, incoming protocol, host, port, TLS mode\n"
     "and the SMTP server. The default account is marked with '*'. --json prints an array\n"
     "of objects with the fields name, address, incoming, host, port, tls, smtp_host,\n"
     "smtp_port, smtp_tls, default."},
    {"list", cmd_list,
     "list [-a ACCOUNT] [-f FOLDER] [-n N] [--unread] [--search TEXT] [--json]",
     "List messages from the local index, newest first, without touching the network.\n"
     "Each line shows the message ID (stable; other commands take it), flags (N unread,\n"
     "F flagged, A answered, @ attachments), date (local time), size, sender and subject.\n"
     "Without -a every account is listed (with an account column); an account that has\n"
     "never been fetched lists nothing. -f limits to one folder, -n to the N newest,\n"
     "--unread to messages not seen, --search to messages whose subject, sender or To\n"
     "contains TEXT (ASCII case-insensitive; % and _ are literal). --json prints an array\n"
     "of objects with the fields id, account, folder, uid, date (RFC 3339 UTC or null),\n"
     "from, to, subject, flags (array of seen, answered, flagged, deleted, draft,\n"
     "forwarded), size, has_attachments, message_id."},
    {"folders", cmd_folders, "folders [-a ACCOUNT] [--json]",
     "List the account's folders with unread and total message counts from the local\n"
     "index, INBOX first. IMAP accounts refresh the list from the server first (names\n"
     "decoded from modified UTF-7; special-use roles sent, drafts, trash, junk, archive);\n"
     "offline, the folders of the last fetch are shown. --json prints an array of objects\n"
     "with the fields name, unread, total, special_use (or null), subscribed."},
    {"flag", cmd_flag, "flag [-a ACCOUNT] ID... +seen|-seen|+flagged|-flagged|+answered|-answered",
     "Change flags of messages (IDs as tern list prints them). The local index changes at\n"
     "once; IMAP accounts also send the change to the server. Offline, the change is\n"
     "queued and sent by the next tern fetch (a note says so; exit status 0). POP3\n"
     "accounts keep flags locally only."},
    {"move", cmd_move, "move [-a ACCOUNT] ID... FOLDER",
     "Move messages to FOLDER (a name as tern folders shows it) on the IMAP server (MOVE,\n"
     "or COPY + delete + UID EXPUNGE where the server lacks MOVE). The message keeps its ID.\n"
     "Offline, the move is queued for the next tern fetch."},
    {"delete", cmd_delete, "delete [-a ACCOUNT] [--expunge] ID...",
     "Move messages to the Trash folder (the special-use \\Trash folder, else one named\n"
     "Trash). With --expunge, or for messages already in Trash, delete them for good\n"
     "(\\Deleted + UID EXPUNGE of just those messages). Offline, queued for the next fetch."},
    {"fetch", cmd_fetch, "fetch [-a ACCOUNT]... [-q] [--json] [--bodies]",
     "Download new mail of every account (or of each -a ACCOUNT), one after another; a\n"
     "failing account does not stop the others. POP3 accounts: each message is stored in the\n"
     "account's Maildir and recorded before it is deleted from the server (keep = yes leaves\n"
     "it there; keep_days = N deletes it N days after download). IMAP accounts: headers and\n"
     "flags are synced; --bodies (or offline = yes) downloads the bodies too. Then each\n"
     "account's outbox is sent where due (as tern queue --flush). Prints one line per account\n"
     "(\"work: 12 new, 12 deleted from server, 1 queued sent\"); -q prints only errors (on\n"
     "stderr); --json prints an array of objects with the fields name, new, deleted, sent\n"
     "(accounts with smtp_host), errors. An account that another tern is fetching is skipped\n"
     "with a message. Exit status: the worst of the accounts: 0 all fine, 75 temporary\n"
     "(network, server busy, account locked), 77 credentials refused, 78 configuration\n"
     "error; see tern(1)."},
    {"read", cmd_read,
     "read [-a ACCOUNT] ID [--json | --raw] [--no-mark] | read --file FILE|- [--json | --raw]",
     "Show one message: by its ID from tern list, or from a file (- reads stdin; no account\n"
     "is needed). An ID is looked up in the default account (or -a ACCOUNT), else in the\n"
     "one other account that has it. An IMAP body not downloaded yet is fetched now\n"
     "(without setting \\Seen) and kept, so it reads offline later. After showing it, the\n"
     "message is marked seen: IMAP on the server, or queued for the next fetch when\n"
     "offline; POP3 locally. --no-mark leaves it unread. Prints From, To, Cc, Date and\n"
     "Subject, decoded, then the text: text/plain preferred, HTML turned into text by\n"
     "html_filter (see tern.conf(5)) or the built-in converter, then the list of\n"
     "attachments. Everything is made safe for the terminal. --json prints one object with\n"
     "the fields from, to, cc (arrays of {name, address}), subject, date (RFC 3339 UTC or\n"
     "null), message_id, text (or null) and attachments (array of {filename, content_type,\n"
     "size}). --raw prints the message as it is; on a terminal, escape sequences and other\n"
     "control characters are replaced. Exit status: 66 no such ID, 64 an ID in several\n"
     "accounts without -a, 75 the body is not here and the server cannot be reached."},
    {"attachments", cmd_attachments,
     "attachments [-a ACCOUNT] ID [--save DIR] [--json] | attachments --file FILE|- [--save DIR]"
     " [--json]",
     "List the attachments of one message, by ID (found and fetched as by tern read; it is\n"
     "not marked seen) or from a file: number, decoded size in bytes, content type and\n"
     "name, tab-separated. --save DIR writes each into DIR under its name\n"
     "reduced to a safe file name (no path, no leading dot or dash, no control characters;\n"
     "attachment-N.EXT when it has none), never replacing an existing file or following a\n"
     "symlink (\"name (1).ext\" is used instead), mode 0600, and prints the paths written.\n"
     "--json prints an array of objects with the fields filename, content_type, size (and\n"
     "path when saved)."},
    {"send", cmd_send,
     "send [-a ACCOUNT] --to ADDR... [--cc ADDR...] [--bcc ADDR...] [--subject TEXT] "
     "[--attach FILE...] [--from ADDR] [--reply-to ADDR] [--header 'Name: value'...] [--no-queue]"
     " < body | send [-a ACCOUNT] -t [-i] [-f FROM] [-F NAME] [RCPT...] < message"
     " | send [-a ACCOUNT] --batch FILE...",
     "Submit mail through the account's SMTP server (smtp_host; STARTTLS on 587 or TLS on\n"
     "465, never plaintext). With --to/--cc/--bcc the message is built from the options and\n"
     "the body read from stdin (UTF-8; attachments typed by content, RFC 2231 names); each\n"
     "address option may repeat and take comma lists. -t reads a ready message from stdin and\n"
     "sends it to its To, Cc and Bcc plus any RCPT arguments, sendmail-style (-i: a lone '.'\n"
     "does not end the input; -f sets the envelope sender; -F the From name when From is\n"
     "missing; -oi -odi -oem and similar are ignored). --batch sends each FILE as with -t,\n"
     "over one connection. Bcc is never transmitted; the copy saved to Sent keeps it.\n"
     "When the server cannot be reached or answers 4xx, the message goes to the outbox and\n"
     "the exit status is 75 (--no-queue: fail instead); see 'tern queue'. Exit status: 0\n"
     "sent, 64 usage, 65 bad input (CR/LF in a header or address, bad address), 66 missing\n"
     "attachment or file, 69 refused by the server, 75 queued, 77 login refused, 78 config.\n"
     "Invoked as 'sendmail' (a symlink), tern behaves like 'tern send' with sendmail options."},
    {"queue", cmd_queue, "queue [-a ACCOUNT] [--json] | queue [-a ACCOUNT] --flush [--force]"
     " | queue [-a ACCOUNT] --delete ID",
     "List the outbox: messages waiting to be sent (ID, attempts, next try, envelope,\n"
     "subject, last error) and sent messages whose copy to Sent is still pending. --flush\n"
     "retries every message that is due over one connection per account (--force: also\n"
     "those whose next try has not come); a failed try waits 1 min, then 2, 4, ... up to\n"
     "4 h; a message refused by the server (5xx), or failing for 5 days, moves to\n"
     "<data_dir>/outbox/failed/. --delete ID moves an entry to failed/. --json prints an\n"
     "array of objects with the fields account, id, state, attempts, created, next_try,\n"
     "last_try, size, from, rcpts, subject, error. Exit status of --flush: 0 all sent, 75\n"
     "something still queued, 69 something refused."},
    {"tui", cmd_tui, "tui [-a ACCOUNT]",
     "The full-screen interface (also what a bare `tern` opens on a terminal): folders with\n"
     "unread counts, the message index (threads or a flat list, sorted by date, sender or\n"
     "subject), the pager, attachments, and writing, replying and forwarding through\n"
     "$VISUAL or $EDITOR. Keys are like mutt's and can be changed with `bind` lines in\n"
     "[general] (see tern.conf(5)); '?' shows them. Network work runs in the background:\n"
     "new mail is checked every check_interval seconds and with '$'."},
    {"account", cmd_account,
     "account add [--name NAME] [--address ADDR] [--incoming imap|pop3] [--host HOST]"
     " [--smtp-host HOST|none] [--password-command CMD] [OPTION...]",
     "Add an account to the config file. On a terminal it asks for what the options do not\n"
     "give: the address, IMAP or POP3, the server names (imap.DOMAIN, pop.DOMAIN and\n"
     "smtp.DOMAIN suggested) and a command that prints the password (tern never stores the\n"
     "password itself). It tries the secure ports in order, keeping the first that works:\n"
     "993 (TLS) then 143 (STARTTLS) for IMAP, 995 then 110 for POP3, 465 then 587 for SMTP;\n"
     "--port N tries both TLS modes on N, --ports '993/implicit,143' any list. There is no\n"
     "plaintext mode. A certificate tern does not trust is shown and can be pinned. Then it\n"
     "logs in once to check the password and appends an [account NAME] section to the\n"
     "config file, keeping the rest of the file and its comments; a missing file is created\n"
     "with mode 0600. Without a terminal, --address, --incoming, --host and\n"
     "--password-command are needed (--smtp-host none: no sending). --no-probe writes the\n"
     "section without connecting. Other options: --user LOGIN, --port N, --ports LIST,\n"
     "--tls MODE, --smtp-port N, --smtp-ports LIST, --smtp-tls MODE, --ca-file FILE,\n"
     "--pin sha256//..., --real-name NAME, --keep (POP3: leave mail on the server),\n"
     "--timeout SECONDS, --yes (write without asking). Exit status as tern doctor's when a\n"
     "check fails."},
    {"doctor", cmd_doctor,
     "doctor [-a ACCOUNT]... [--json] | doctor --trust [-a ACCOUNT] [--yes] [--replace]",
     "Check each account (or each -a ACCOUNT), receiving and sending separately, and print\n"
     "every step with a mark and one line: configuration, name resolves, TCP connect\n"
     "(refused / timed out), TLS mode (does the port expect TLS from the first byte or\n"
     "STARTTLS?), STARTTLS offered, certificate (issuer, expiry, SHA-256 fingerprint and how\n"
     "to trust it when it fails), capabilities, password command, login, then the IMAP\n"
     "folders and Sent folder, the POP3 message count and `keep`, and the outbox. A verdict\n"
     "in plain words ends each account. Passwords only ever go over TLS. --json prints an\n"
     "object {\"accounts\": [...]} with, per account, name, address, ok, exit and the\n"
     "objects receiving and sending, each with protocol, ok, status, verdict and steps\n"
     "(step, ok, status, detail, and hint where there is more). Exit status: the worst\n"
     "step (0 all fine, 75 network, 69 TLS or STARTTLS, 77 password refused, 78 config).\n"
     "--trust shows the certificate of the account's server (subject, issuer, expiry,\n"
     "SHA-256 fingerprint) and offers to write its key as pin = sha256//... into the\n"
     "account's section (--yes: without asking). A key that differs from the pinned one is\n"
     "an error; --replace pins the new key."},
    {"complete", cmd_complete, "complete commands|accounts|folders [-a ACCOUNT]",
     "Print words for shell completion, one per line: the commands, the account names, or\n"
     "the folders of an account from its local index (never the network). The bash, zsh\n"
     "and fish completions installed with tern call this."},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const struct cmd_def *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

static void print_help(FILE *f)
{
    fputs("usage: tern [-c FILE] [--debug] COMMAND [ARGS...]\n"
          "       tern --version | --help | help COMMAND\n\ncommands:\n",
          f);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  tern %s\n", commands[i].synopsis);
    fputs("\nThe configuration is read from -c FILE, $TERN_CONFIG, or\n"
          "$XDG_CONFIG_HOME/tern/config (see tern.conf(5)). Exit codes follow sysexits.h\n"
          "(see tern(1)).\n",
          f);
}

static int cmd_help(const char *name)
{
    if (!name) {
        print_help(stdout);
        return EX_OK;
    }
    const struct cmd_def *c = find_command(name);
    if (!c)
        return cmd_usage(NULL, "no such command '%s'", name);
    printf("usage: tern %s\n\n%s\n", c->synopsis, c->help);
    return EX_OK;
}

int main(int argc, char **argv)
{
    /* iconv transliteration and ncursesw both follow LC_CTYPE. */
    setlocale(LC_ALL, "");
    const char *base = strrchr(argv[0], '/'); /* a `sendmail` symlink: sendmail mode */
    if (!strcmp(base ? base + 1 : argv[0], "sendmail"))
        return cmd_sendmail(argc, argv);
    struct cmd_ctx ctx = {0};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--version")) {
            printf("tern %s\n", TERN_VERSION);
            return EX_OK;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_help(stdout);
            return EX_OK;
        } else if (!strcmp(a, "--debug")) {
            ctx.debug = true;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
            if (++i >= argc)
                return cmd_usage(NULL, "%s needs a file name", a);
            ctx.config_path = argv[i];
        } else if (!strncmp(a, "--config=", 9)) {
            ctx.config_path = a + 9;
        } else {
            return cmd_usage(NULL, "unknown option '%s'", a);
        }
    }
    if (i >= argc) {
        /* A bare `tern` on a terminal opens the TUI; elsewhere it is a
         * usage error that prints the help. */
        if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) {
            char *targv[] = {(char *)"tui", NULL};
            int ex = cmd_tui(&ctx, 1, targv);
            config_free(&ctx.cfg);
            return ex;
        }
        print_help(stderr);
        return EX_USAGE;
    }
    const char *name = argv[i];
    if (!strcmp(name, "help"))
        return cmd_help(i + 1 < argc ? argv[i + 1] : NULL);
    const struct cmd_def *c = find_command(name);
    if (!c)
        return cmd_usage(NULL, "no such command '%s'", name);
    int ex = c->run(&ctx, argc - i, argv + i);
    config_free(&ctx.cfg);
    fflush(stdout);
    if (ferror(stdout) && ex == EX_OK)
        ex = EX_IOERR;
    return ex;
}
