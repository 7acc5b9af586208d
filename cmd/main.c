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
