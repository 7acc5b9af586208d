/*
 * `tern doctor [-a ACCOUNT]... [--json]`: check every account (or each -a),
 * receiving and sending separately, step by step, printing each step as it
 * is decided and a verdict in plain words at the end. Exit status: the
 * worst step (sysexits).
 *
 * `tern doctor --trust [-a ACCOUNT] [--yes] [--replace]`: show the
 * certificate of the account's incoming server and offer to pin its key
 * (pin = sha256//...) in the account's section of the config file.
 */
#include "cmd.h"
#include "core/charset/lib.h"
#include "core/doctor/lib.h"

#include <langinfo.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TITLE_WIDTH 18

struct printer {
    const struct doctor_side *last_side;
    const char *ok, *warn, *fail; /* marks */
    int mark_width;               /* columns of the widest mark */
    bool json;
};

static void marks(struct printer *p)
{
    const char *cs = nl_langinfo(CODESET);
    bool utf8 = cs && (!tern_strcasecmp(cs, "UTF-8") || !tern_strcasecmp(cs, "utf8"));
    p->ok = utf8 ? "\xe2\x9c\x93" : "ok";     /* ✓ */
    p->fail = utf8 ? "\xe2\x9c\x97" : "FAIL"; /* ✗ */
    p->warn = utf8 ? "!" : "warn";
    p->mark_width = utf8 ? 1 : 4;
}

static void side_header(const struct doctor_side *s)
{
    printf("  %s (%s)\n", s->what ? s->what : "?", s->proto ? s->proto : "?");
}

static void print_step(struct printer *p, const struct doctor_side *side,
                       const struct doctor_step *st)
{
    if (side != p->last_side) {
        side_header(side);
        p->last_side = side;
    }
    const char *m = st->status == DOCTOR_OK ? p->ok : st->status == DOCTOR_WARN ? p->warn : p->fail;
    /* UTF-8 marks are one column each; the ASCII words differ in length */
    int w = p->mark_width == 1 ? 1 : (int)strlen(m);
    int pad = p->mark_width - w;
    printf("    %s%*s %-*s ", m, pad, "", TITLE_WIDTH, st->title);
    cmd_print_safe(stdout, st->detail);
    fputc('\n', stdout);
    if (st->hint) {
        /* hint lines are '\n'-separated: print each safely, indented */
        const char *s = st->hint;
        while (*s) {
            const char *nl = strchr(s, '\n');
            size_t n = nl ? (size_t)(nl - s) : strlen(s);
            char *line = tern_strndup(s, n);
            printf("    %*s %-*s ", p->mark_width, "", TITLE_WIDTH, "");
            cmd_print_safe(stdout, line ? line : "");
            fputc('\n', stdout);
            free(line);
            s += n;
            if (*s == '\n')
                s++;
        }
    }
    fflush(stdout);
}

static void on_step(void *arg, const struct doctor_side *side, const struct doctor_step *st)
{
    struct printer *p = arg;
    if (!p->json)
        print_step(p, side, st);
}

static void json_side(struct tbuf *b, const struct doctor_side *s)
{
    tbuf_puts(b, "{\"protocol\":");
    json_put_string(b, s->proto ? s->proto : "", s->proto ? strlen(s->proto) : 0);
    tbuf_printf(b, ",\"configured\":%s,\"ok\":%s,\"status\":\"%s\",\"verdict\":",
                s->configured ? "true" : "false",
                s->configured && s->status != DOCTOR_FAIL ? "true" : "false",
                s->status == DOCTOR_OK     ? "ok"
                : s->status == DOCTOR_WARN ? "warn"
                                           : "fail");
    json_put_string(b, s->verdict ? s->verdict : "", s->verdict ? strlen(s->verdict) : 0);
    tbuf_puts(b, ",\"steps\":[");
    for (size_t i = 0; i < s->nsteps; i++) {
        const struct doctor_step *st = &s->steps[i];
        tbuf_puts(b, i ? ",{\"step\":" : "{\"step\":");
        json_put_string(b, st->id, strlen(st->id));
        tbuf_printf(b, ",\"ok\":%s,\"status\":\"%s\",\"detail\":",
                    st->status != DOCTOR_FAIL ? "true" : "false",
                    st->status == DOCTOR_OK     ? "ok"
                    : st->status == DOCTOR_WARN ? "warn"
                                                : "fail");
        json_put_string(b, st->detail ? st->detail : "", st->detail ? strlen(st->detail) : 0);
        if (st->hint) {
            tbuf_puts(b, ",\"hint\":");
            json_put_string(b, st->hint, strlen(st->hint));
        }
        if (st->status == DOCTOR_FAIL)
            tbuf_printf(b, ",\"exit\":%d", cmd_exit_code(st->rc));
        tbuf_putc(b, '}');
    }
    tbuf_puts(b, "]}");
}

static void print_verdict(const struct doctor_report *r)
{
    const struct doctor_side *sides[2] = {&r->receiving, &r->sending};
    for (int i = 0; i < 2; i++) {
        const struct doctor_side *s = sides[i];
        printf("  %s (%s): ", s->what, s->proto);
        cmd_print_safe(stdout, s->verdict ? s->verdict : "?");
        /* a verdict ends with a full stop, unless its text already ends a sentence */
        size_t n = s->verdict ? strlen(s->verdict) : 0;
        if (!n || !strchr(".?!", s->verdict[n - 1]))
            fputc('.', stdout);
        fputc('\n', stdout);
    }
}

/* Load the config ourselves so a broken file is reported as a doctor step. */
static int load_config(struct cmd_ctx *ctx, bool json, struct printer *p)
{
    struct tern_err err = {0};
    char *path = config_find_path(ctx->config_path, &err);
    enum tern_rc rc = path ? config_load(path, &ctx->cfg, &err) : err.rc;
    if (rc == TERN_ENOTFOUND)
        err.rc = rc = TERN_ECONFIG;
    if (!rc && ctx->cfg->naccounts == 0)
        rc = tern_fail(&err, TERN_ECONFIG, "%s defines no account (tern account add makes one)",
                       path);
    free(path);
    if (!rc)
        return EX_OK;
    if (json) {
        struct tbuf b;
        tbuf_init(&b, 0);
        tbuf_puts(&b, "{\"config\":{\"ok\":false,\"detail\":");
        json_put_string(&b, err.msg, strlen(err.msg));
        tbuf_printf(&b, "},\"accounts\":[],\"exit\":%d}\n", cmd_exit_code(rc));
        fputs(b.data ? b.data : "", stdout);
        tbuf_free(&b);
    } else {
        printf("%s %-*s ", p->fail, TITLE_WIDTH, "configuration");
        cmd_print_safe(stdout, err.msg);
        fputc('\n', stdout);
    }
    return cmd_exit_code(rc);
}

/* ---- --trust ------------------------------------------------------------ */

static bool ask_yes(const char *question)
{
    printf("%s [y/N] ", question);
    fflush(stdout);
    char line[64];
    if (!fgets(line, sizeof line, stdin))
        return false;
    return line[0] == 'y' || line[0] == 'Y';
}

static void print_cert(const char *what, const struct conn_cert_info *ci)
{
    printf("%s certificate:\n", what);
    const char *labels[] = {
        "  subject: ", "  issuer:  ", "  valid:   ", "  expires: ", "  SHA-256: ", "  pin:     "};
    const char *vals[] = {ci->subject,   ci->issuer,    ci->not_before,
                          ci->not_after, ci->sha256_fp, ci->pin};
    for (int i = 0; i < 6; i++) {
        if (!vals[i])
            continue;
        fputs(labels[i], stdout);
        if (i == 2)
            fputs("from ", stdout);
        cmd_print_safe(stdout, vals[i]);
        fputc('\n', stdout);
    }
}

/* The first failing step's line, for when no certificate was seen. */
static int report_side_failure(const struct doctor_side *s)
{
    for (size_t i = 0; i < s->nsteps; i++) {
        if (s->steps[i].status != DOCTOR_FAIL)
            continue;
        fputs("tern doctor: ", stderr);
        cmd_print_safe(stderr, s->steps[i].title);
        fputs(": ", stderr);
        cmd_print_safe(stderr, s->steps[i].detail);
        fputc('\n', stderr);
        return cmd_exit_code(s->steps[i].rc);
    }
    fputs("tern doctor: the server presented no certificate\n", stderr);
    return EX_UNAVAILABLE;
}

static void server_of(const struct tern_account *a, bool smtp, struct doctor_server *s)
{
    memset(s, 0, sizeof *s);
    s->proto = smtp ? CONN_SMTP : a->incoming == INCOMING_IMAP ? CONN_IMAP : CONN_POP3;
    enum acct_tls t = smtp ? a->smtp_tls : a->tls;
    s->tls = t == ACCT_TLS_IMPLICIT ? CONN_TLS_IMPLICIT : CONN_TLS_STARTTLS;
    s->host = smtp ? a->smtp_host : a->host;
    s->port = smtp ? a->smtp_port : a->port;
    s->ca_file = a->ca_file;
    s->pin = a->pin;
    s->timeout_s = a->timeout;
    s->tls_key = smtp ? "smtp_tls" : "tls";
    s->account = a->name;
}

static int trust(struct cmd_ctx *ctx, const char *account, bool yes, bool replace)
{
    const struct tern_account *a = config_account(ctx->cfg, account);
    if (!a) {
        fprintf(stderr, "tern doctor: no account '");
        cmd_print_safe(stderr, account ? account : "");
        fprintf(stderr, "' in %s\n", ctx->cfg->path);
        return EX_CONFIG;
    }
    struct tern_err err = {0};
    struct doctor_opts o = {0};
    if (ctx->debug) {
        o.trace = cmd_trace;
    }
    struct doctor_server s;
    server_of(a, false, &s);
    struct doctor_side side = {0};
    struct conn_cert_info ci = {0};
    if (doctor_check_server(&s, &o, &side, &ci, &err)) {
        doctor_side_free(&side);
        return cmd_report(&err);
    }
    int ex = EX_OK;
    if (!ci.pin) {
        ex = report_side_failure(&side);
        doctor_side_free(&side);
        conn_cert_info_free(&ci);
        return ex;
    }
    char what[300];
    snprintf(what, sizeof what, "%s:%u", a->host, a->port);
    print_cert(what, &ci);
    bool trusted = side.status != DOCTOR_FAIL;
    /* the same key for SMTP on the same host is the usual case; a second
     * key there is pinned too (the pin applies only to the same host) */
    struct tbuf pins;
    tbuf_init(&pins, 4096);
    tbuf_puts(&pins, ci.pin);
    if (a->smtp_host && !tern_strcasecmp(a->smtp_host, a->host)) {
        struct doctor_server ss;
        server_of(a, true, &ss);
        struct doctor_side sside = {0};
        struct conn_cert_info sci = {0};
        if (doctor_check_server(&ss, &o, &sside, &sci, &err) == TERN_OK && sci.pin &&
            strcmp(sci.pin, ci.pin) != 0) {
            snprintf(what, sizeof what, "%s:%u (SMTP)", a->smtp_host, a->smtp_port);
            print_cert(what, &sci);
            tbuf_printf(&pins, ";%s", sci.pin);
            if (sside.status == DOCTOR_FAIL)
                trusted = false;
        }
        tern_err_clear(&err);
        doctor_side_free(&sside);
        conn_cert_info_free(&sci);
    } else if (a->smtp_host) {
        printf("note: the pin applies to %s only; SMTP at ", a->host);
        cmd_print_safe(stdout, a->smtp_host);
        printf(" is checked against ca_file or the system store.\n");
    }
    const char *newpin = pins.data;
    bool changed = a->pin && !doctor_pin_listed(a->pin, ci.pin);
    if (a->pin && !changed && trusted) {
        printf("This key is already pinned for account %s; nothing to do.\n", a->name);
        goto done;
    }
    if (changed) {
        printf("WARNING: the server's key has CHANGED since it was pinned (pin = %s).\n"
               "This can mean someone is intercepting the connection. Only replace the pin\n"
               "if you know the server got a new key.\n",
               a->pin);
        if (!replace) {
            fputs("tern doctor: key changed; not replacing the pin without --replace\n", stderr);
            ex = EX_UNAVAILABLE;
            goto done;
        }
    } else if (trusted) {
        printf("The certificate is already trusted (%s). Pinning makes tern refuse any other\n"
               "key, also after a legitimate certificate change.\n",
               a->ca_file ? "ca_file" : "system CA store");
    } else {
        printf("tern does not trust this certificate: ");
        for (size_t i = 0; i < side.nsteps; i++)
            if (side.steps[i].status == DOCTOR_FAIL)
                cmd_print_safe(stdout, side.steps[i].detail);
        printf("\nCompare the SHA-256 fingerprint with the one your provider publishes.\n");
    }
    if (!yes) {
        if (!isatty(STDIN_FILENO)) {
            fputs("tern doctor: no terminal to ask; give --yes to write the pin\n", stderr);
            ex = EX_USAGE;
            goto done;
        }
        char q[200];
        snprintf(q, sizeof q, "Write pin = ... into [account %s] of %s?", a->name, ctx->cfg->path);
        if (!ask_yes(q)) {
            printf("Not changed.\n");
            ex = EX_UNAVAILABLE;
            goto done;
        }
    }
    if (doctor_config_set(ctx->cfg->path, a->name, "pin", newpin, &err)) {
        ex = cmd_report(&err);
        goto done;
    }
    printf("Wrote pin = %s to [account %s] of %s.\n", newpin, a->name, ctx->cfg->path);
    /* check the result with the new pin (no login) */
    s.pin = newpin;
    struct doctor_side check = {0};
    struct conn_cert_info cci = {0};
    if (doctor_check_server(&s, &o, &check, &cci, &err) == TERN_OK && check.status != DOCTOR_FAIL)
        printf("Checked: %s:%u is now trusted by its key.\n", a->host, a->port);
    else if (a->ca_file)
        printf("Note: ca_file is also set and does not vouch for this certificate; with both,\n"
               "both must hold. Remove ca_file from [account %s] to rely on the pin alone.\n",
               a->name);
    doctor_side_free(&check);
    conn_cert_info_free(&cci);
done:
    tbuf_free(&pins);
    doctor_side_free(&side);
    conn_cert_info_free(&ci);
    return ex;
}

/* ---- the command ------------------------------------------------------ */

int cmd_doctor(struct cmd_ctx *ctx, int argc, char **argv)
{
    bool json = false, trust_mode = false, yes = false, replace = false;
    const char **names = calloc((size_t)argc + 1, sizeof *names);
    size_t nnames = 0;
    if (!names)
        return EX_OSERR;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-a") || !strcmp(a, "--account")) {
            if (++i >= argc) {
                free(names);
                return cmd_usage("doctor", "%s needs an account name", a);
            }
            names[nnames++] = argv[i];
        } else if (!strncmp(a, "--account=", 10)) {
            names[nnames++] = a + 10;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--trust")) {
            trust_mode = true;
        } else if (!strcmp(a, "--yes") || !strcmp(a, "-y")) {
            yes = true;
        } else if (!strcmp(a, "--replace")) {
            replace = true;
        } else {
            free(names);
            return cmd_usage("doctor", "unknown argument '%s'", a);
        }
    }
    if (trust_mode && (json || nnames > 1)) {
        free(names);
        return cmd_usage("doctor", "--trust takes at most one -a ACCOUNT and no --json");
    }
    if (!trust_mode && (yes || replace)) {
        free(names);
        return cmd_usage("doctor", "--yes and --replace go with --trust");
    }
    struct printer p = {.json = json};
    marks(&p);
    int ex = load_config(ctx, json, &p);
    if (ex) {
        free(names);
        return ex;
    }
    struct tern_err err = {0};
    if (conn_global_init(&err)) {
        free(names);
        return cmd_report(&err);
    }
    if (trust_mode) {
        ex = trust(ctx, nnames ? names[0] : NULL, yes, replace);
        conn_global_cleanup();
        free(names);
        return ex;
    }
    for (size_t i = 0; i < nnames; i++) {
        if (!config_account(ctx->cfg, names[i])) {
            fputs("tern doctor: no account '", stderr);
            cmd_print_safe(stderr, names[i]);
            fprintf(stderr, "' in %s\n", ctx->cfg->path);
            conn_global_cleanup();
            free(names);
            return EX_CONFIG;
        }
    }
    struct doctor_opts o = {.on_step = on_step, .step_arg = &p};
    if (ctx->debug)
        o.trace = cmd_trace;
    enum tern_rc worst = TERN_OK;
    struct tbuf out;
    tbuf_init(&out, 0);
    tbuf_puts(&out, "{\"accounts\":[");
    size_t n = nnames ? nnames : ctx->cfg->naccounts;
    for (size_t i = 0; i < n; i++) {
        const struct tern_account *a =
            nnames ? config_account(ctx->cfg, names[i]) : &ctx->cfg->accounts[i];
        if (!json) {
            printf("%sAccount ", i ? "\n" : "");
            cmd_print_safe(stdout, a->name);
            fputs(" (", stdout);
            cmd_print_safe(stdout, a->address);
            fputs(")\n", stdout);
            fflush(stdout);
        }
        struct doctor_report r;
        p.last_side = NULL;
        if (doctor_check_account(a, &o, &r, &err)) {
            doctor_report_free(&r);
            ex = cmd_report(&err);
            break;
        }
        worst = doctor_rc_worse(worst, r.rc);
        if (json) {
            tbuf_puts(&out, i ? ",{\"name\":" : "{\"name\":");
            json_put_string(&out, a->name, strlen(a->name));
            tbuf_puts(&out, ",\"address\":");
            json_put_string(&out, a->address, strlen(a->address));
            tbuf_puts(&out, ",\"receiving\":");
            json_side(&out, &r.receiving);
            tbuf_puts(&out, ",\"sending\":");
            json_side(&out, &r.sending);
            tbuf_printf(&out, ",\"ok\":%s,\"exit\":%d}", r.rc == TERN_OK ? "true" : "false",
                        cmd_exit_code(r.rc));
        } else {
            print_verdict(&r);
        }
        doctor_report_free(&r);
    }
    if (!ex)
        ex = cmd_exit_code(worst);
    if (json) {
        tbuf_printf(&out, "],\"ok\":%s,\"exit\":%d}\n", ex == EX_OK ? "true" : "false", ex);
        fputs(out.data ? out.data : "", stdout);
    }
    tbuf_free(&out);
    conn_global_cleanup();
    free(names);
    return ex;
}
