/*
 * `tern account add`: make an [account NAME] section that works. On a
 * terminal it asks for what the options leave open; without one the
 * options must say it all. The secure port/TLS combinations are tried in
 * order (implicit TLS first, RFC 8314) through core/doctor's step-by-step
 * check, the password command is run once and the login tried over TLS,
 * and only then is the section appended to the config file (core/doctor
 * keeps the rest of the file byte for byte). There is no plaintext choice
 * anywhere, and the password itself is never written.
 */
#include "cmd.h"
#include "core/doctor/lib.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ADD_PROBE_TIMEOUT 15 /* seconds per wait while probing, unless --timeout */
#define ADD_MAX_CANDIDATES 16

struct add {
    /* options (borrowed from argv) or answers (owned, in `owned`) */
    const char *name, *address, *incoming, *host, *tls, *ports;
    const char *smtp_host, *smtp_tls, *smtp_ports;
    const char *user, *password_command, *ca_file, *pin, *real_name;
    unsigned port, smtp_port, timeout;
    bool keep, keep_set, no_probe, yes;
    bool interactive;
    bool debug; /* --debug: the redacted protocol trace of every probe */
    /* results */
    enum conn_proto proto;
    unsigned in_port, out_port;
    enum conn_tls in_tls, out_tls;
    bool no_smtp;
    char *owned[128];
    size_t nowned;
    struct tern_config *cfg; /* the existing file, or NULL */
    const char *path;
};

static const char *keep_str(struct add *ad, char *s)
{
    if (!s)
        return NULL;
    if (ad->nowned < sizeof ad->owned / sizeof ad->owned[0]) {
        ad->owned[ad->nowned++] = s;
        return s;
    }
    free(s);
    return NULL;
}

static int eof_abort(void)
{
    fputs("\ntern account add: input ended; nothing written\n", stderr);
    return EX_USAGE;
}

/* Ask on the terminal; an empty answer takes def (which may be NULL).
 * Returns NULL on end of input. */
static const char *ask(struct add *ad, const char *question, const char *def)
{
    if (def && *def)
        printf("%s [%s]: ", question, def);
    else
        printf("%s: ", question);
    fflush(stdout);
    char line[1024];
    if (!fgets(line, sizeof line, stdin))
        return NULL;
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    /* trim blanks: a stray space must not end up in a host name */
    char *s = line;
    while (*s == ' ' || *s == '\t')
        s++;
    n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    if (!*s)
        return def ? def : "";
    return keep_str(ad, tern_strdup(s));
}

static bool ask_yn(const char *question, bool def)
{
    printf("%s [%s]: ", question, def ? "Y/n" : "y/N");
    fflush(stdout);
    char line[64];
    if (!fgets(line, sizeof line, stdin))
        return def;
    if (line[0] == 'y' || line[0] == 'Y')
        return true;
    if (line[0] == 'n' || line[0] == 'N')
        return false;
    return def;
}

static bool valid_address(const char *s)
{
    const char *at = strrchr(s, '@');
    if (!at || at == s || !at[1] || strlen(s) > 254)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || *p == '<' || *p == '>' || *p == ',')
            return false;
    return true;
}

static bool valid_host(const char *s)
{
    if (!*s || strlen(s) > 253)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '-' || *p == ':' || *p == '_'))
            return false;
    return true;
}

static bool name_taken(const struct add *ad, const char *name)
{
    return ad->cfg && config_account(ad->cfg, name) != NULL;
}

/* "lab" for alice@lab.test, made unique with -2, -3 ... */
static const char *default_name(struct add *ad)
{
    const char *at = strrchr(ad->address, '@');
    const char *d = at ? at + 1 : ad->address;
    size_t n = strcspn(d, ".");
    char base[65];
    if (n == 0 || n > 40)
        n = 0;
    snprintf(base, sizeof base, "%.*s", (int)n, d);
    if (!config_account_name_ok(base))
        snprintf(base, sizeof base, "mail");
    if (!name_taken(ad, base))
        return keep_str(ad, tern_strdup(base));
    for (int i = 2; i < 100; i++) {
        char cand[80];
        snprintf(cand, sizeof cand, "%s-%d", base, i);
        if (!name_taken(ad, cand))
            return keep_str(ad, tern_strdup(cand));
    }
    return NULL;
}

static const char *domain_of(const char *address)
{
    const char *at = strrchr(address, '@');
    return at ? at + 1 : address;
}

/* ---- candidates -------------------------------------------------------- */

static int parse_tls(const char *s, enum conn_tls *t)
{
    if (!tern_strcasecmp(s, "implicit") || !tern_strcasecmp(s, "tls") ||
        !tern_strcasecmp(s, "ssl")) {
        *t = CONN_TLS_IMPLICIT;
        return 0;
    }
    if (!tern_strcasecmp(s, "starttls")) {
        *t = CONN_TLS_STARTTLS;
        return 0;
    }
    return -1;
}

/* From --ports "993/implicit,143" (a bare port tries both modes), --port N
 * (both modes unless --tls), --tls (that mode's standard port), or the
 * standard list. */
static int candidates(enum conn_proto proto, const char *ports, unsigned port, const char *tls,
                      struct doctor_candidate *out, size_t *n, const char *opt)
{
    *n = 0;
    enum conn_tls t = CONN_TLS_IMPLICIT;
    bool have_tls = tls != NULL;
    if (tls && parse_tls(tls, &t))
        return cmd_usage("account add",
                         "TLS mode must be implicit or starttls, not '%s' "
                         "(there is no plaintext mode)",
                         tls);
    if (ports) {
        const char *s = ports;
        while (*s) {
            size_t len = strcspn(s, ",");
            char item[64];
            if (len >= sizeof item)
                return cmd_usage("account add", "bad %s item", opt);
            memcpy(item, s, len);
            item[len] = '\0';
            char *slash = strchr(item, '/');
            if (slash)
                *slash = '\0';
            uint64_t v;
            if (!tern_parse_u64(item, strlen(item), 65535, &v) || v == 0)
                return cmd_usage("account add", "bad port '%s' in %s", item, opt);
            enum conn_tls it;
            if (slash) {
                if (parse_tls(slash + 1, &it))
                    return cmd_usage("account add",
                                     "bad TLS mode '%s' in %s (implicit or "
                                     "starttls)",
                                     slash + 1, opt);
                if (*n < ADD_MAX_CANDIDATES)
                    out[(*n)++] = (struct doctor_candidate){(unsigned)v, it};
            } else {
                if (*n + 2 <= ADD_MAX_CANDIDATES) {
                    out[(*n)++] = (struct doctor_candidate){(unsigned)v, CONN_TLS_IMPLICIT};
                    out[(*n)++] = (struct doctor_candidate){(unsigned)v, CONN_TLS_STARTTLS};
                }
            }
            s += len;
            if (*s == ',')
                s++;
        }
        if (!*n)
            return cmd_usage("account add", "%s lists no port", opt);
        return EX_OK;
    }
    if (port) {
        if (have_tls) {
            out[(*n)++] = (struct doctor_candidate){port, t};
        } else {
            out[(*n)++] = (struct doctor_candidate){port, CONN_TLS_IMPLICIT};
            out[(*n)++] = (struct doctor_candidate){port, CONN_TLS_STARTTLS};
        }
        return EX_OK;
    }
    if (have_tls) {
        out[(*n)++] = (struct doctor_candidate){conn_default_port(proto, t), t};
        return EX_OK;
    }
    *n = doctor_default_candidates(proto, out);
    return EX_OK;
}

/* ---- probing ----------------------------------------------------------- */

static const struct doctor_step *failed_step(const struct doctor_side *s)
{
    for (size_t i = 0; i < s->nsteps; i++)
        if (s->steps[i].status == DOCTOR_FAIL)
            return &s->steps[i];
    return NULL;
}

static void print_cert(const struct conn_cert_info *ci)
{
    const char *labels[] = {"    subject: ", "    issuer:  ", "    expires: ", "    SHA-256: "};
    const char *vals[] = {ci->subject, ci->issuer, ci->not_after, ci->sha256_fp};
    for (int i = 0; i < 4; i++) {
        if (!vals[i])
            continue;
        fputs(labels[i], stdout);
        cmd_print_safe(stdout, vals[i]);
        fputc('\n', stdout);
    }
}

/* Offer the ways to trust a certificate; true when the user chose one
 * (ad->pin or ad->ca_file set), false to give up. */
static bool offer_trust(struct add *ad, const struct conn_cert_info *ci, bool pin_ok)
{
    print_cert(ci);
    puts("  Compare the SHA-256 fingerprint with the one your provider publishes.");
    for (;;) {
        const char *a = ask(ad,
                            pin_ok ? "  Trust it? p = pin this key, c = give a CA certificate "
                                     "file, n = stop"
                                   : "  Trust it? c = give a CA certificate file, n = stop",
                            "n");
        if (!a || a[0] == 'n' || a[0] == 'N')
            return false;
        if (pin_ok && (a[0] == 'p' || a[0] == 'P') && ci->pin) {
            ad->pin = keep_str(ad, tern_strdup(ci->pin));
            return ad->pin != NULL;
        }
        if (a[0] == 'c' || a[0] == 'C') {
            const char *f = ask(ad, "  CA certificate file (PEM)", NULL);
            if (!f)
                return false;
            if (*f && access(f, R_OK) == 0) {
                char *real = realpath(f, NULL);
                ad->ca_file = keep_str(ad, real ? real : tern_strdup(f));
                return ad->ca_file != NULL;
            }
            puts("  Cannot read that file.");
        }
    }
}

static const char *mode_words(enum conn_tls t)
{
    return t == CONN_TLS_IMPLICIT ? "TLS" : "STARTTLS";
}

/* Try the candidates in order: the first whose TLS and certificate work is
 * kept. Returns EX_OK with the port and TLS mode set, or the exit code of
 * the most telling failure. */
static int probe(struct add *ad, enum conn_proto proto, const char *host,
                 const struct doctor_candidate *cand, size_t ncand, unsigned *port,
                 enum conn_tls *tls)
{
    enum tern_rc worst = TERN_OK;
    struct doctor_opts o = {.trace = ad->debug ? cmd_trace : NULL};
    for (size_t i = 0; i < ncand; i++) {
        struct doctor_server s = {
            .proto = proto,
            .tls = cand[i].tls,
            .host = host,
            .port = cand[i].port,
            .ca_file = ad->ca_file,
            /* like core/outbox: the pin is the incoming server's key */
            .pin = proto != CONN_SMTP || !tern_strcasecmp(host, ad->host) ? ad->pin : NULL,
            .timeout_s = ad->timeout ? ad->timeout : ADD_PROBE_TIMEOUT,
            .ehlo_name = domain_of(ad->address),
            .tls_key = proto == CONN_SMTP ? "smtp_tls" : "tls",
        };
        printf("  trying %s port %u (%s)... ", host, cand[i].port, mode_words(cand[i].tls));
        fflush(stdout);
        struct doctor_side side = {0};
        struct conn_cert_info ci = {0};
        struct tern_err err = {0};
        if (doctor_check_server(&s, &o, &side, &ci, &err)) {
            doctor_side_free(&side);
            return cmd_report(&err);
        }
        const struct doctor_step *f = failed_step(&side);
        if (!f) {
            puts("ok");
            *port = cand[i].port;
            *tls = cand[i].tls;
            doctor_side_free(&side);
            conn_cert_info_free(&ci);
            return EX_OK;
        }
        printf("no: ");
        cmd_print_safe(stdout, f->detail);
        fputc('\n', stdout);
        if (!strcmp(f->id, DOCTOR_STEP_CERT) && ci.pin) {
            /* the server speaks TLS here; only trust is missing, and the
             * next port would show the same certificate */
            bool pin_ok = proto != CONN_SMTP || !tern_strcasecmp(host, ad->host);
            bool changed = s.pin != NULL;
            if (ad->interactive && !changed && offer_trust(ad, &ci, pin_ok)) {
                doctor_side_free(&side);
                conn_cert_info_free(&ci);
                i--; /* the same candidate again, now trusted */
                continue;
            }
            if (!ad->interactive) {
                print_cert(&ci);
                fputs("tern account add: the certificate is not trusted; give --ca-file FILE "
                      "(the CA that issued it)",
                      stderr);
                if (pin_ok && ci.pin) {
                    fputs(" or --pin ", stderr);
                    fputs(ci.pin, stderr);
                }
                fputs("\n", stderr);
            }
            int ex = cmd_exit_code(f->rc);
            doctor_side_free(&side);
            conn_cert_info_free(&ci);
            return ex;
        }
        worst = doctor_rc_worse(worst, f->rc);
        doctor_side_free(&side);
        conn_cert_info_free(&ci);
    }
    fprintf(stderr, "tern account add: no secure port of %s answered as %s expects\n", host,
            proto == CONN_SMTP   ? "SMTP"
            : proto == CONN_IMAP ? "IMAP"
                                 : "POP3");
    return cmd_exit_code(worst ? worst : TERN_ECONN);
}

/* Log in once over TLS with the password the command prints. */
static int try_login(struct add *ad, enum conn_proto proto, const char *host, unsigned port,
                     enum conn_tls tls, const char *secret)
{
    struct doctor_server s = {
        .proto = proto,
        .tls = tls,
        .host = host,
        .port = port,
        .ca_file = ad->ca_file,
        .pin = proto != CONN_SMTP || !tern_strcasecmp(host, ad->host) ? ad->pin : NULL,
        .timeout_s = ad->timeout ? ad->timeout : ADD_PROBE_TIMEOUT,
        .user = ad->user,
        .secret = secret,
        .ehlo_name = domain_of(ad->address),
        .tls_key = proto == CONN_SMTP ? "smtp_tls" : "tls",
    };
    printf("  logging in to %s at %s port %u... ",
           proto == CONN_SMTP   ? "SMTP"
           : proto == CONN_IMAP ? "IMAP"
                                : "POP3",
           host, port);
    fflush(stdout);
    struct doctor_side side = {0};
    struct doctor_opts o = {.trace = ad->debug ? cmd_trace : NULL};
    struct tern_err err = {0};
    if (doctor_check_server(&s, &o, &side, NULL, &err)) {
        doctor_side_free(&side);
        return cmd_report(&err);
    }
    const struct doctor_step *f = failed_step(&side);
    int ex = EX_OK;
    if (f) {
        printf("no: ");
        cmd_print_safe(stdout, f->detail);
        fputc('\n', stdout);
        ex = cmd_exit_code(f->rc);
    } else {
        puts("ok");
    }
    doctor_side_free(&side);
    return ex;
}

static int run_password_command(struct add *ad, char **secret)
{
    struct tern_account tmp = {0};
    tmp.name = (char *)(ad->name ? ad->name : "new");
    tmp.password_command = (char *)ad->password_command;
    struct tern_err err = {0};
    if (account_secret(&tmp, false, secret, &err))
        return cmd_report(&err);
    if (!**secret) {
        tern_free_secret(*secret);
        *secret = NULL;
        fputs("tern account add: the password command printed an empty line\n", stderr);
        return EX_CONFIG;
    }
    return EX_OK;
}

/* ---- the section ------------------------------------------------------- */

static int build_section(struct add *ad, struct tbuf *b)
{
    struct tern_err err = {0};
    enum tern_rc rc = tbuf_printf(b, "[account %s]\n", ad->name);
    struct {
        const char *k, *v;
    } kv[20];
    size_t n = 0;
    char port[16], sport[16], timeout[16];
    snprintf(port, sizeof port, "%u", ad->in_port);
    snprintf(sport, sizeof sport, "%u", ad->out_port);
    snprintf(timeout, sizeof timeout, "%u", ad->timeout);
    kv[n].k = "address", kv[n++].v = ad->address;
    if (ad->real_name && *ad->real_name)
        kv[n].k = "name", kv[n++].v = ad->real_name;
    kv[n].k = "incoming", kv[n++].v = ad->proto == CONN_IMAP ? "imap" : "pop3";
    kv[n].k = "host", kv[n++].v = ad->host;
    kv[n].k = "port", kv[n++].v = port;
    kv[n].k = "tls", kv[n++].v = ad->in_tls == CONN_TLS_IMPLICIT ? "implicit" : "starttls";
    if (ad->user && strcmp(ad->user, ad->address) != 0)
        kv[n].k = "user", kv[n++].v = ad->user;
    kv[n].k = "password_command", kv[n++].v = ad->password_command;
    if (ad->ca_file)
        kv[n].k = "ca_file", kv[n++].v = ad->ca_file;
    if (ad->pin)
        kv[n].k = "pin", kv[n++].v = ad->pin;
    if (ad->timeout)
        kv[n].k = "timeout", kv[n++].v = timeout;
    if (ad->proto == CONN_POP3 && ad->keep)
        kv[n].k = "keep", kv[n++].v = "yes";
    if (!ad->no_smtp) {
        kv[n].k = "smtp_host", kv[n++].v = ad->smtp_host;
        kv[n].k = "smtp_port", kv[n++].v = sport;
        kv[n].k = "smtp_tls",
        kv[n++].v = ad->out_tls == CONN_TLS_IMPLICIT ? "implicit" : "starttls";
    }
    for (size_t i = 0; !rc && i < n; i++)
        rc = doctor_config_line(b, kv[i].k, kv[i].v, &err);
    if (rc)
        return err.msg[0] ? cmd_report(&err) : EX_OSERR;
    return EX_OK;
}

/* ---- options ----------------------------------------------------------- */

struct opt_def {
    const char *name;
    size_t off; /* into struct add, a const char * */
    bool is_uint;
};

#define OPT(f) offsetof(struct add, f)
static const struct opt_def opts[] = {
    {"--name", OPT(name), false},
    {"--address", OPT(address), false},
    {"--incoming", OPT(incoming), false},
    {"--host", OPT(host), false},
    {"--tls", OPT(tls), false},
    {"--ports", OPT(ports), false},
    {"--smtp-host", OPT(smtp_host), false},
    {"--smtp-tls", OPT(smtp_tls), false},
    {"--smtp-ports", OPT(smtp_ports), false},
    {"--user", OPT(user), false},
    {"--password-command", OPT(password_command), false},
    {"--ca-file", OPT(ca_file), false},
    {"--pin", OPT(pin), false},
    {"--real-name", OPT(real_name), false},
    {"--port", OPT(port), true},
    {"--smtp-port", OPT(smtp_port), true},
    {"--timeout", OPT(timeout), true},
};

static int parse_opts(struct add *ad, int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--keep")) {
            ad->keep = ad->keep_set = true;
            continue;
        }
        if (!strcmp(a, "--no-probe")) {
            ad->no_probe = true;
            continue;
        }
        if (!strcmp(a, "--yes") || !strcmp(a, "-y")) {
            ad->yes = true;
            continue;
        }
        const struct opt_def *d = NULL;
        const char *val = NULL;
        for (size_t k = 0; k < sizeof opts / sizeof opts[0] && !d; k++) {
            size_t n = strlen(opts[k].name);
            if (!strcmp(a, opts[k].name)) {
                d = &opts[k];
                if (++i >= argc)
                    return cmd_usage("account add", "%s needs a value", a);
                val = argv[i];
            } else if (!strncmp(a, opts[k].name, n) && a[n] == '=') {
                d = &opts[k];
                val = a + n + 1;
            }
        }
        if (!d)
            return cmd_usage("account add", "unknown argument '%s'", a);
        if (tern_has_crlf(val, SIZE_MAX))
            return cmd_usage("account add", "%s: no line breaks, please", d->name);
        if (d->is_uint) {
            uint64_t v;
            unsigned max = !strcmp(d->name, "--timeout") ? 3600 : 65535;
            if (!tern_parse_u64(val, strlen(val), max, &v) || v == 0)
                return cmd_usage("account add", "%s wants a number from 1 to %u", d->name, max);
            *(unsigned *)(void *)((char *)ad + d->off) = (unsigned)v;
        } else {
            *(const char **)(void *)((char *)ad + d->off) = val;
        }
    }
    return EX_OK;
}

/* ---- the flow ---------------------------------------------------------- */

static int gather_basics(struct add *ad)
{
    /* address */
    while (!ad->address || !valid_address(ad->address)) {
        if (ad->address && !ad->interactive)
            return cmd_usage("account add", "'%s' is not an email address", ad->address);
        if (!ad->interactive)
            return cmd_usage("account add", "--address is needed without a terminal");
        if (ad->address)
            puts("  That is not an email address.");
        if (!(ad->address = ask(ad, "Email address", NULL)))
            return eof_abort();
    }
    if (ad->real_name == NULL && ad->interactive) {
        if (!(ad->real_name = ask(ad, "Your name, as recipients see it (optional)", "")))
            return eof_abort();
    }
    /* account name */
    if (!ad->name) {
        const char *def = default_name(ad);
        if (!def)
            return cmd_usage("account add", "give --name");
        ad->name = def;
        if (ad->interactive && !(ad->name = ask(ad, "Account name (for tern -a)", def)))
            return eof_abort();
    }
    while (!config_account_name_ok(ad->name) || name_taken(ad, ad->name)) {
        const char *why = name_taken(ad, ad->name) ? "is taken already"
                                                   : "may hold letters, digits, . _ - @ + only";
        if (!ad->interactive)
            return cmd_usage("account add", "account name '%s' %s", ad->name, why);
        printf("  The name '%s' %s.\n", ad->name, why);
        if (!(ad->name = ask(ad, "Account name (for tern -a)", NULL)))
            return eof_abort();
    }
    /* incoming protocol */
    while (!ad->incoming || (tern_strcasecmp(ad->incoming, "imap") != 0 &&
                             tern_strcasecmp(ad->incoming, "pop3") != 0)) {
        if (ad->incoming && !ad->interactive)
            return cmd_usage("account add", "--incoming is imap or pop3, not '%s'", ad->incoming);
        if (!ad->interactive)
            return cmd_usage("account add", "--incoming imap|pop3 is needed without a terminal");
        puts("How should tern receive mail?\n"
             "  imap: IMAP keeps mail on the server and in sync across devices\n"
             "  pop3: POP3 downloads it to this machine and deletes it from the server");
        if (!(ad->incoming = ask(ad, "Incoming protocol (imap or pop3)", "imap")))
            return eof_abort();
    }
    ad->proto = !tern_strcasecmp(ad->incoming, "imap") ? CONN_IMAP : CONN_POP3;
    if (ad->proto == CONN_POP3 && !ad->keep_set && ad->interactive)
        ad->keep = ask_yn("Leave a copy of each message on the server (keep)?", false);
    return EX_OK;
}

static int choose_server(struct add *ad, bool smtp)
{
    const char *dom = domain_of(ad->address);
    char sugg[300];
    snprintf(sugg, sizeof sugg, "%s.%s",
             smtp                     ? "smtp"
             : ad->proto == CONN_IMAP ? "imap"
                                      : "pop",
             dom);
    const char **host = smtp ? &ad->smtp_host : &ad->host;
    const char *label = smtp                     ? "Outgoing (SMTP) server, or none"
                        : ad->proto == CONN_IMAP ? "Incoming (IMAP) server"
                                                 : "Incoming (POP3) server";
    enum conn_proto proto = smtp ? CONN_SMTP : ad->proto;
    for (;;) {
        if (!*host) {
            if (!ad->interactive) {
                if (smtp) {
                    ad->no_smtp = true;
                    return EX_OK;
                }
                return cmd_usage("account add", "--host is needed without a terminal");
            }
            if (!(*host = ask(ad, label, sugg)))
                return eof_abort();
        }
        if (smtp && (!strcmp(*host, "none") || !strcmp(*host, "-") || !**host)) {
            ad->no_smtp = true;
            return EX_OK;
        }
        if (!valid_host(*host)) {
            if (!ad->interactive)
                return cmd_usage("account add", "'%s' is not a host name", *host);
            printf("  '%s' is not a host name.\n", *host);
            *host = NULL;
            continue;
        }
        struct doctor_candidate cand[ADD_MAX_CANDIDATES];
        size_t ncand = 0;
        int ex = smtp
                     ? candidates(CONN_SMTP, ad->smtp_ports, ad->smtp_port, ad->smtp_tls, cand,
                                  &ncand, "--smtp-ports")
                     : candidates(ad->proto, ad->ports, ad->port, ad->tls, cand, &ncand, "--ports");
        if (ex)
            return ex;
        unsigned *port = smtp ? &ad->out_port : &ad->in_port;
        enum conn_tls *tls = smtp ? &ad->out_tls : &ad->in_tls;
        if (ad->no_probe) {
            *port = cand[0].port;
            *tls = cand[0].tls;
            return EX_OK;
        }
        ex = probe(ad, proto, *host, cand, ncand, port, tls);
        if (!ex || !ad->interactive)
            return ex;
        puts("  Check the server name (your provider's help pages list it).");
        *host = NULL;
    }
}

static int choose_password(struct add *ad)
{
    for (;;) {
        if (!ad->password_command) {
            if (!ad->interactive)
                return cmd_usage("account add", "--password-command is needed without a terminal");
            printf("tern runs a command that prints the password when it needs it, and never\n"
                   "stores the password itself. For example: pass show mail/%s\n",
                   ad->address);
            if (!(ad->password_command = ask(ad, "Password command", NULL)))
                return eof_abort();
            if (!*ad->password_command) {
                ad->password_command = NULL;
                continue;
            }
        }
        if (ad->no_probe)
            return EX_OK; /* no checks at all: not even the command */
        char *secret = NULL;
        int ex = run_password_command(ad, &secret);
        if (!ex) {
            ex = try_login(ad, ad->proto, ad->host, ad->in_port, ad->in_tls, secret);
            if (!ex && !ad->no_smtp)
                ex = try_login(ad, CONN_SMTP, ad->smtp_host, ad->out_port, ad->out_tls, secret);
        }
        tern_free_secret(secret);
        if (!ex || !ad->interactive)
            return ex;
        if (ex == EX_NOPERM)
            puts("  The server refused that password (or login name).");
        ad->password_command = NULL;
        if (ex == EX_NOPERM && ask_yn("Change the login name?", false)) {
            if (!(ad->user = ask(ad, "Login name", ad->user)))
                return eof_abort();
        }
    }
}

static int account_add(struct cmd_ctx *ctx, int argc, char **argv)
{
    struct add ad = {0};
    int ex = parse_opts(&ad, argc, argv);
    if (ex)
        return ex;
    ad.interactive = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
    ad.debug = ctx->debug;
    if (ad.pin && strncmp(ad.pin, "sha256//", 8) != 0)
        return cmd_usage("account add", "--pin wants sha256//BASE64");
    {
        /* every TLS and port option is checked now, also those a later
         * answer would make unused */
        struct doctor_candidate c[ADD_MAX_CANDIDATES];
        size_t n;
        ex = candidates(CONN_IMAP, ad.ports, ad.port, ad.tls, c, &n, "--ports");
        if (!ex)
            ex = candidates(CONN_SMTP, ad.smtp_ports, ad.smtp_port, ad.smtp_tls, c, &n,
                            "--smtp-ports");
        if (ex)
            return ex;
    }
    if (ad.ca_file && access(ad.ca_file, R_OK) != 0) {
        fprintf(stderr, "tern account add: cannot read --ca-file %s\n", ad.ca_file);
        return EX_NOINPUT;
    }
    if (ad.ca_file) {
        /* the config is read from anywhere later: store an absolute path */
        char *real = realpath(ad.ca_file, NULL);
        if (real)
            ad.ca_file = keep_str(&ad, real);
    }
    struct tern_err err = {0};
    char *path = config_find_path(ctx->config_path, &err);
    if (!path)
        return cmd_report(&err);
    ad.path = path;
    enum tern_rc rc = config_load(path, &ad.cfg, &err);
    if (rc == TERN_ENOTFOUND) {
        tern_err_clear(&err);
        rc = TERN_OK;
    }
    if (rc) {
        fputs("tern account add: the config file has an error; fix it first:\n  ", stderr);
        ex = cmd_report(&err);
        free(path);
        return ex;
    }
    if (ad.interactive)
        printf("Adding an account to %s\n", path);
    if (conn_global_init(&err)) {
        free(path);
        config_free(&ad.cfg);
        return cmd_report(&err);
    }
    ex = gather_basics(&ad);
    if (!ex)
        ex = choose_server(&ad, false);
    if (!ex)
        ex = choose_server(&ad, true);
    if (!ex && !ad.user) {
        ad.user = ad.address;
        if (ad.interactive && !(ad.user = ask(&ad, "Login name", ad.address)))
            ex = eof_abort();
    }
    if (!ex)
        ex = choose_password(&ad);
    struct tbuf sec;
    tbuf_init(&sec, 0);
    if (!ex)
        ex = build_section(&ad, &sec);
    if (!ex && ad.interactive && !ad.yes) {
        printf("\nThis will be appended to %s:\n\n%s\n", path, sec.data);
        if (!ask_yn("Write it?", true)) {
            puts("Nothing written.");
            ex = EX_TEMPFAIL;
        }
    }
    if (!ex && doctor_config_append(path, sec.data, &err))
        ex = cmd_report(&err);
    if (!ex) {
        printf("Added [account %s] to %s.\n", ad.name, path);
        if (ad.no_smtp)
            puts("It has no SMTP server: it can receive, not send.");
        printf("Check it any time with: tern doctor -a %s\n", ad.name);
    }
    tbuf_free(&sec);
    conn_global_cleanup();
    for (size_t i = 0; i < ad.nowned; i++)
        free(ad.owned[i]);
    config_free(&ad.cfg);
    free(path);
    return ex;
}

int cmd_account(struct cmd_ctx *ctx, int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "add"))
        return account_add(ctx, argc, argv);
    if (argc < 2)
        return cmd_usage("account", "what to do: tern account add");
    return cmd_usage("account", "unknown subcommand '%s' (there is: add)", argv[1]);
}
