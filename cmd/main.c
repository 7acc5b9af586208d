#include "cmd.h"
#include "tern-version.h"

#include <locale.h>
#include <stdlib.h>
#include <string.h>

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
    {"fetch", cmd_fetch, "fetch [-a ACCOUNT]... [-q] [--json]",
     "Download new mail of every account (or of each -a ACCOUNT), one after another; a\n"
     "failing account does not stop the others. POP3 accounts: each message is stored in the\n"
     "account's Maildir and recorded before it is deleted from the server (keep = yes leaves\n"
     "it there; keep_days = N deletes it N days after download). Prints one line per account\n"
     "(\"work: 12 new, 12 deleted from server\"); -q prints only errors (on stderr); --json\n"
     "prints an array of objects with the fields name, new, deleted, errors. An account that\n"
     "another tern is fetching is skipped with a message. Exit status: the worst of the\n"
     "accounts: 0 all fine, 75 temporary (network, server busy, account locked), 77\n"
     "credentials refused, 78 configuration error; see tern(1)."},
    {"read", cmd_read, "read --file FILE|- [--json | --raw]",
     "Show one message from a file (- reads stdin); no account is needed. Prints From, To,\n"
     "Cc, Date and Subject, decoded, then the text: text/plain preferred, HTML turned into\n"
     "text by html_filter (see tern.conf(5)) or the built-in converter, then the list of\n"
     "attachments. Everything is made safe for the terminal. --json prints one object with\n"
     "the fields from, to, cc (arrays of {name, address}), subject, date (RFC 3339 UTC or\n"
     "null), message_id, text (or null) and attachments (array of {filename, content_type,\n"
     "size}). --raw prints the message as it is; on a terminal, escape sequences and other\n"
     "control characters are replaced."},
    {"attachments", cmd_attachments, "attachments --file FILE|- [--save DIR] [--json]",
     "List the attachments of one message from a file: number, decoded size in bytes,\n"
     "content type and name, tab-separated. --save DIR writes each into DIR under its name\n"
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
