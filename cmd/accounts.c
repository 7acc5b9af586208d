#include "cmd.h"
#include "core/charset/lib.h"

#include <string.h>

static const char *tls_name(enum acct_tls t)
{
    return t == ACCT_TLS_IMPLICIT ? "implicit" : "starttls";
}

static void json_str(struct tbuf *b, const char *s)
{
    if (s)
        json_put_string(b, s, strlen(s));
    else
        tbuf_puts(b, "null");
}

int cmd_accounts(struct cmd_ctx *ctx, int argc, char **argv)
{
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = true;
        else
            return cmd_usage("accounts", "unknown argument '%s'", argv[i]);
    }
    int ex = cmd_load_config(ctx);
    if (ex)
        return ex;
    const struct tern_config *cfg = ctx->cfg;
    const struct tern_account *def = config_account(cfg, NULL);
    struct tbuf b;
    tbuf_init(&b, 0);
    if (json)
        tbuf_putc(&b, '[');
    for (size_t i = 0; i < cfg->naccounts; i++) {
        const struct tern_account *a = &cfg->accounts[i];
        const char *proto = a->incoming == INCOMING_IMAP ? "imap" : "pop3";
        if (json) {
            tbuf_puts(&b, i ? ",\n {" : "\n {");
            tbuf_puts(&b, "\"name\": ");
            json_str(&b, a->name);
            tbuf_puts(&b, ", \"address\": ");
            json_str(&b, a->address);
            tbuf_printf(&b, ", \"incoming\": \"%s\", \"host\": ", proto);
            json_str(&b, a->host);
            tbuf_printf(&b, ", \"port\": %u, \"tls\": \"%s\", \"smtp_host\": ", a->port,
                        tls_name(a->tls));
            json_str(&b, a->smtp_host);
            if (a->smtp_host)
                tbuf_printf(&b, ", \"smtp_port\": %u, \"smtp_tls\": \"%s\"", a->smtp_port,
                            tls_name(a->smtp_tls));
            else
                tbuf_puts(&b, ", \"smtp_port\": null, \"smtp_tls\": null");
            tbuf_printf(&b, ", \"default\": %s}", a == def ? "true" : "false");
        } else {
            tbuf_printf(&b, "%c %-12s %-30s %s %s:%u (%s)", a == def ? '*' : ' ', a->name,
                        a->address, proto, a->host, a->port, tls_name(a->tls));
            if (a->smtp_host)
                tbuf_printf(&b, "  smtp %s:%u (%s)", a->smtp_host, a->smtp_port,
                            tls_name(a->smtp_tls));
            tbuf_putc(&b, '\n');
        }
    }
    if (json)
        tbuf_puts(&b, cfg->naccounts ? "\n]\n" : "]\n");
    /* Names and hosts come from the user's file, but still pass them
     * through the terminal filter like everything else we print. */
    struct tbuf safe;
    tbuf_init(&safe, 0);
    enum tern_rc rc = json ? TERN_OK : safe_text(b.data ? b.data : "", b.len, SAFE_ALLOW_NEWLINE, &safe);
    if (rc == TERN_OK)
        fputs(json ? (b.data ? b.data : "") : (safe.data ? safe.data : ""), stdout);
    tbuf_free(&b);
    tbuf_free(&safe);
    return rc ? cmd_exit_code(rc) : EX_OK;
}
