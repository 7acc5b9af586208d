/*
 * The doctor's steps. One server: resolve, TCP connect, TLS mode (judged
 * by what the server sends first), STARTTLS offered, certificate,
 * capabilities, login. One account: that for the incoming server and for
 * SMTP, plus what only makes sense after login (IMAP folders and the Sent
 * folder, the POP3 message count) and the outbox. The first failing step
 * ends a side: later steps would only repeat it.
 */
#include "private.h"

#include "core/outbox/lib.h"

#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- steps ------------------------------------------------------------ */

struct run {
    const struct doctor_opts *o;
    struct doctor_side *side;
    bool oom;
};

static struct doctor_step *step_add(struct run *r, const char *id, const char *title,
                                    enum doctor_status st, enum tern_rc rc, const char *fmt, ...)
    TERN_PRINTF(6, 7);
static struct doctor_step *step_add(struct run *r, const char *id, const char *title,
                                    enum doctor_status st, enum tern_rc rc, const char *fmt, ...)
{
    struct doctor_side *s = r->side;
    struct doctor_step *v = realloc(s->steps, (s->nsteps + 1) * sizeof *v);
    if (!v) {
        r->oom = true;
        return NULL;
    }
    s->steps = v;
    struct doctor_step *st_ = &v[s->nsteps];
    memset(st_, 0, sizeof *st_);
    struct tbuf b;
    tbuf_init(&b, 4096);
    va_list ap;
    va_start(ap, fmt);
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (tbuf_puts(&b, line)) {
        tbuf_free(&b);
        r->oom = true;
        return NULL;
    }
    st_->id = id;
    st_->title = title;
    st_->status = st;
    st_->rc = st == DOCTOR_FAIL ? (rc ? rc : TERN_EINTERNAL) : TERN_OK;
    st_->detail = tbuf_steal(&b);
    s->nsteps++;
    if (st > s->status)
        s->status = st;
    if (st == DOCTOR_FAIL)
        s->rc = doctor_rc_worse(s->rc, st_->rc);
    return st_;
}

static void step_hint(struct run *r, struct doctor_step *st, const char *fmt, ...)
    TERN_PRINTF(3, 4);
static void step_hint(struct run *r, struct doctor_step *st, const char *fmt, ...)
{
    if (!st)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    struct tbuf b;
    tbuf_init(&b, 16384);
    if (st->hint && (tbuf_puts(&b, st->hint) || tbuf_putc(&b, '\n'))) {
        tbuf_free(&b);
        r->oom = true;
        return;
    }
    if (tbuf_puts(&b, line)) {
        tbuf_free(&b);
        r->oom = true;
        return;
    }
    free(st->hint);
    st->hint = tbuf_steal(&b);
}

/* Report the last step to the caller's progress hook. */
static void emit(struct run *r)
{
    if (r->o && r->o->on_step && r->side->nsteps)
        r->o->on_step(r->o->step_arg, r->side, &r->side->steps[r->side->nsteps - 1]);
}

#define T_CONFIG "configuration"
#define T_RESOLVE "name resolves"
#define T_CONNECT "TCP connect"
#define T_TLS_MODE "TLS mode"
#define T_STARTTLS "STARTTLS offered"
#define T_CERT "certificate"
#define T_GREETING "greeting"
#define T_CAPS "capabilities"
#define T_PASSWORD "password command"
#define T_LOGIN "login"
#define T_FOLDERS "folders"
#define T_SENT "Sent folder"
#define T_MESSAGES "messages"
#define T_OUTBOX "outbox"

/* Most serious failure first; see lib.h. */
static int rank(enum tern_rc rc)
{
    switch (rc) {
    case TERN_OK:
        return 0;
    case TERN_ECONN:
    case TERN_ETIMEOUT:
    case TERN_ETEMP:
    case TERN_ELOCKED:
    case TERN_ECANCELED:
        return 1;
    case TERN_EPROTO:
        return 2;
    case TERN_ETLS:
    case TERN_ENOTLS:
    case TERN_ENOTSUP:
    case TERN_EREFUSED:
    case TERN_ENOTFOUND:
    case TERN_EDATA:
    case TERN_EIO:
        return 3;
    case TERN_EAUTH:
        return 4;
    case TERN_ECONFIG:
    case TERN_EUSAGE:
        return 5;
    case TERN_ENOMEM:
    case TERN_EINTERNAL:
        return 6;
    }
    return 6;
}

enum tern_rc doctor_rc_worse(enum tern_rc a, enum tern_rc b)
{
    return rank(b) > rank(a) ? b : a;
}

size_t doctor_default_candidates(enum conn_proto proto, struct doctor_candidate out[2])
{
    out[0].tls = CONN_TLS_IMPLICIT;
    out[0].port = conn_default_port(proto, CONN_TLS_IMPLICIT);
    out[1].tls = CONN_TLS_STARTTLS;
    out[1].port = conn_default_port(proto, CONN_TLS_STARTTLS);
    return 2;
}

void doctor_side_free(struct doctor_side *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nsteps; i++) {
        free(s->steps[i].detail);
        free(s->steps[i].hint);
    }
    free(s->steps);
    free(s->verdict);
    memset(s, 0, sizeof *s);
}

void doctor_report_free(struct doctor_report *r)
{
    if (!r)
        return;
    free(r->account);
    doctor_side_free(&r->receiving);
    doctor_side_free(&r->sending);
    memset(r, 0, sizeof *r);
}

/* ---- one server -------------------------------------------------------- */

/* How the account layer supplies the password only when login comes. */
typedef enum tern_rc secret_fn(void *arg, char **secret, struct tern_err *err);

struct server_run {
    struct run *r;
    const struct doctor_server *s;
    unsigned port;
    unsigned timeout_ms;
    unsigned sniff_ms;
    const char *tls_key;
    const char *pname;     /* "IMAP" ... */
    secret_fn *get_secret; /* NULL: s->secret */
    void *secret_arg;
    /* out */
    struct doctor_caps caps;
    bool caps_pending;   /* IMAP: capability step waits for the post-login list */
    struct conn *authed; /* when the caller asked to keep the logged-in stream */
};

static const char *pname_of(enum conn_proto p)
{
    return p == CONN_IMAP ? "IMAP" : p == CONN_POP3 ? "POP3" : "SMTP";
}

static struct conn_params params_of(const struct server_run *sr, enum conn_tls tls, bool login,
                                    const char *secret, struct conn_cert_info *ci)
{
    const struct doctor_server *s = sr->s;
    struct conn_params p = {
        .proto = s->proto,
        .tls = tls,
        .host = s->host,
        .port = sr->port,
        .user = login ? s->user : NULL,
        .secret = login ? secret : NULL,
        .auth = s->auth,
        .ca_file = s->ca_file,
        .pin = s->pin,
        .timeout_ms = sr->timeout_ms,
        .ehlo_name = s->ehlo_name,
        .trace = sr->r->o ? sr->r->o->trace : NULL,
        .trace_arg = sr->r->o ? sr->r->o->trace_arg : NULL,
        .cert_out = ci,
    };
    return p;
}

/* Did a TLS handshake happen on this port when tried from the first
 * byte? (certificate seen, trusted or not) */
static bool speaks_implicit_tls(const struct server_run *sr)
{
    struct conn_cert_info ci = {0};
    struct conn_params p = params_of(sr, CONN_TLS_IMPLICIT, false, NULL, &ci);
    struct conn *c = NULL;
    enum tern_rc rc = conn_open(&p, &c, NULL);
    bool tls = rc == TERN_OK || ci.sha256_fp != NULL;
    if (c)
        conn_close(&c);
    conn_cert_info_free(&ci);
    return tls;
}

bool doctor_pin_listed(const char *pins, const char *pin)
{
    size_t n = strlen(pin);
    for (const char *p = pins; p && *p;) {
        const char *e = strchr(p, ';');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        if (k == n && !memcmp(p, pin, n))
            return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

static const char *first_word_proto(enum net_first k)
{
    return k == FIRST_IMAP ? "an IMAP" : k == FIRST_POP3 ? "a POP3" : "an SMTP";
}

static bool greeting_matches(enum conn_proto p, enum net_first k)
{
    return (p == CONN_IMAP && k == FIRST_IMAP) || (p == CONN_POP3 && k == FIRST_POP3) ||
           (p == CONN_SMTP && k == FIRST_SMTP);
}

/* A greeting that refuses service: "* BYE", "-ERR", SMTP 4xx/5xx. */
static enum tern_rc greeting_refusal(enum conn_proto p, const char *line)
{
    if (p == CONN_IMAP && !strncmp(line, "* BYE", 5))
        return TERN_ETEMP;
    if (p == CONN_POP3 && !strncmp(line, "-ERR", 4))
        return TERN_ETEMP;
    if (p == CONN_SMTP && line[0] == '4')
        return TERN_ETEMP;
    if (p == CONN_SMTP && line[0] == '5')
        return TERN_EREFUSED;
    return TERN_OK;
}

static void cert_facts(struct run *r, struct doctor_step *st, const struct conn_cert_info *ci)
{
    if (ci->subject)
        step_hint(r, st, "subject: %s", ci->subject);
    if (ci->issuer)
        step_hint(r, st, "issuer:  %s", ci->issuer);
    if (ci->not_after)
        step_hint(r, st, "expires: %s%s%s%s", ci->not_after, ci->not_before ? " (valid from " : "",
                  ci->not_before ? ci->not_before : "", ci->not_before ? ")" : "");
    if (ci->sha256_fp)
        step_hint(r, st, "SHA-256: %s", ci->sha256_fp);
    if (ci->pin)
        step_hint(r, st, "pin:     %s", ci->pin);
}

/* The step line for a certificate that failed; the facts as hint lines. */
static void cert_failed(struct server_run *sr, const struct conn_cert_info *ci,
                        const struct tern_err *e)
{
    struct run *r = sr->r;
    const struct doctor_server *s = sr->s;
    const char *acct = s->account ? s->account : "NAME";
    struct doctor_step *st;
    if (s->pin && ci->pin && !doctor_pin_listed(s->pin, ci->pin)) {
        st = step_add(r, DOCTOR_STEP_CERT, T_CERT, DOCTOR_FAIL, TERN_ETLS,
                      "the server's key changed: it does not match the pin in the config "
                      "(pin = %s)",
                      s->pin);
        cert_facts(r, st, ci);
        step_hint(r, st,
                  "A changed key can mean an attack. If you know the server got a new key, "
                  "replace the pin: tern doctor --trust --replace -a %s",
                  acct);
        emit(r);
        return;
    }
    const char *why = ci->problem ? ci->problem : NULL;
    if (why)
        st = step_add(r, DOCTOR_STEP_CERT, T_CERT, DOCTOR_FAIL, TERN_ETLS, "not trusted for %s: %s",
                      s->host, why);
    else
        st = step_add(r, DOCTOR_STEP_CERT, T_CERT, DOCTOR_FAIL, e->rc ? e->rc : TERN_ETLS, "%s",
                      e->msg[0] ? e->msg : "the certificate is not trusted");
    cert_facts(r, st, ci);
    /* who issued it is the question only when the chain is what failed */
    bool chain = !why || strstr(why, "unknown CA") || strstr(why, "self-signed");
    if (chain && s->ca_file)
        step_hint(r, st,
                  "ca_file = %s did not issue it. To trust it: point ca_file at the certificate "
                  "of the CA that did, or remove ca_file and pin this key with: tern doctor "
                  "--trust -a %s",
                  s->ca_file, acct);
    else if (chain)
        step_hint(r, st,
                  "To trust it: set ca_file = FILE (the certificate of the CA that issued it) in "
                  "[account %s], or pin this key with: tern doctor --trust -a %s",
                  acct, acct);
    else
        step_hint(r, st,
                  "Check the host name in the config, or ask the provider to fix the "
                  "certificate. Pinning this exact key (tern doctor --trust -a %s%s) would "
                  "accept it without CA, name and date checks.",
                  acct, s->ca_file ? ", and removing ca_file" : "");
    emit(r);
}

static void cert_ok(struct server_run *sr, const struct conn_cert_info *ci)
{
    struct run *r = sr->r;
    const struct doctor_server *s = sr->s;
    const char *how = s->pin && !s->ca_file ? "the key matches the pin (the CA is not checked)"
                      : s->pin              ? "trusted, and the key matches the pin"
                                            : "trusted";
    if (ci->issuer)
        step_add(r, DOCTOR_STEP_CERT, T_CERT, DOCTOR_OK, TERN_OK,
                 "%s: issued by %s, valid until %s", how, ci->issuer,
                 ci->not_after ? ci->not_after : "?");
    else
        step_add(r, DOCTOR_STEP_CERT, T_CERT, DOCTOR_OK, TERN_OK, "%s", how);
    emit(r);
}

/* The first line the server sends on a connection libcurl drives, to tell
 * "another protocol answers here" (a wrong port) from a broken server once
 * TLS is up. A greeting of another protocol ends the wait at once: libcurl
 * would otherwise wait for its own greeting until the timeout. */
struct first_line {
    enum conn_proto proto;
    bool seen;
    enum net_first kind;
    char text[200];
    volatile sig_atomic_t cancel;
};

static void first_line_cb(void *arg, const char *line, size_t n)
{
    struct first_line *f = arg;
    if (f->seen)
        return;
    f->seen = true;
    f->kind = net_classify(line, n);
    size_t k = n < sizeof f->text - 1 ? n : sizeof f->text - 1;
    memcpy(f->text, line, k);
    f->text[k] = '\0';
    if (!greeting_matches(f->proto, f->kind))
        f->cancel = 1;
}

/* The TLS handshake completed (so the certificate or pin was accepted:
 * libcurl checks both inside the handshake) but the session failed right
 * after it. Not a certificate problem: say what did go wrong. `implicit`:
 * the TLS mode step is still to be reported (fl holds the greeting). */
static void after_tls_failed(struct server_run *sr, bool implicit, const struct first_line *fl,
                             const struct conn_cert_info *ci, enum tern_rc rc,
                             const struct tern_err *e)
{
    struct run *r = sr->r;
    const struct doctor_server *s = sr->s;
    unsigned std_implicit = conn_default_port(s->proto, CONN_TLS_IMPLICIT);
    unsigned std_starttls = conn_default_port(s->proto, CONN_TLS_STARTTLS);
    if (implicit && fl->seen && !greeting_matches(s->proto, fl->kind)) {
        struct doctor_step *st;
        if (fl->kind == FIRST_IMAP || fl->kind == FIRST_POP3 || fl->kind == FIRST_SMTP) {
            st = step_add(r, DOCTOR_STEP_TLS_MODE, T_TLS_MODE, DOCTOR_FAIL, TERN_ECONFIG,
                          "port %u speaks TLS, but then greets like %s server (\"%.80s\"), "
                          "not %s: wrong port?",
                          sr->port, first_word_proto(fl->kind), fl->text, sr->pname);
            step_hint(r, st, "%s uses port %u with %s = implicit, or port %u with %s = starttls.",
                      sr->pname, std_implicit, sr->tls_key, std_starttls, sr->tls_key);
        } else {
            st = step_add(r, DOCTOR_STEP_TLS_MODE, T_TLS_MODE, DOCTOR_FAIL, TERN_EPROTO,
                          "port %u speaks TLS, but then does not greet like %s server: \"%.80s\"",
                          sr->port,
                          s->proto == CONN_IMAP   ? "an IMAP"
                          : s->proto == CONN_POP3 ? "a POP3"
                                                  : "an SMTP",
                          fl->text);
        }
        emit(r);
        return;
    }
    if (implicit) {
        step_add(r, DOCTOR_STEP_TLS_MODE, T_TLS_MODE, DOCTOR_OK, TERN_OK,
                 "port %u speaks TLS from the first byte, as %s = implicit expects", sr->port,
                 sr->tls_key);
        emit(r);
    }
    cert_ok(sr, ci);
    if (implicit && !fl->seen && rc == TERN_ETIMEOUT)
        step_add(r, DOCTOR_STEP_GREETING, T_GREETING, DOCTOR_FAIL, rc,
                 "the server sent no greeting within %u s after the TLS handshake",
                 (sr->timeout_ms + 999) / 1000);
    else if (implicit && !fl->seen)
        step_add(r, DOCTOR_STEP_GREETING, T_GREETING, DOCTOR_FAIL, rc,
                 "no greeting after the TLS handshake: %s", e->msg);
    else /* what libcurl does next is the capability query */
        step_add(r, DOCTOR_STEP_CAPS, T_CAPS, DOCTOR_FAIL, rc,
                 "the session failed right after %s: %s", implicit ? "the greeting" : "STARTTLS",
                 e->msg);
    emit(r);
}

static void caps_step(struct server_run *sr, bool after_login)
{
    struct run *r = sr->r;
    struct tbuf d;
    tbuf_init(&d, 4096);
    if (caps_describe(&sr->caps, sr->s->proto, &d)) {
        r->oom = true;
        tbuf_free(&d);
        return;
    }
    const char *text = d.data ? d.data : "";
    if (sr->s->proto == CONN_POP3 && !sr->caps.answered)
        step_add(r, DOCTOR_STEP_CAPS, T_CAPS, DOCTOR_WARN, TERN_OK,
                 "the server does not answer CAPA: features unknown");
    else if (sr->s->proto == CONN_POP3 && !caps_has(&sr->caps, "UIDL"))
        step_add(r, DOCTOR_STEP_CAPS, T_CAPS, DOCTOR_FAIL, TERN_ENOTSUP,
                 "the server lacks UIDL, which tern needs to know which messages it already "
                 "has (%s)",
                 text);
    else
        step_add(r, DOCTOR_STEP_CAPS, T_CAPS, DOCTOR_OK, TERN_OK, "%s%s", text,
                 after_login ? " (after login)" : "");
    tbuf_free(&d);
    emit(r);
}

/* Runs the steps; returns false when a step failed (the side is done). */
static bool run_server(struct server_run *sr, struct conn_cert_info *cert_out)
{
    struct run *r = sr->r;
    const struct doctor_server *s = sr->s;
    struct tern_err e = {0};
    char addrs[200];
    struct addrinfo *ai = NULL;

    /* resolve */
    if (net_resolve(s->host, sr->port, &ai, addrs, sizeof addrs, &e)) {
        step_add(r, DOCTOR_STEP_RESOLVE, T_RESOLVE, DOCTOR_FAIL, e.rc, "%s", e.msg);
        emit(r);
        return false;
    }
    if (!strcmp(addrs, s->host))
        step_add(r, DOCTOR_STEP_RESOLVE, T_RESOLVE, DOCTOR_OK, TERN_OK, "%s is an address",
                 s->host);
    else
        step_add(r, DOCTOR_STEP_RESOLVE, T_RESOLVE, DOCTOR_OK, TERN_OK, "%s is %s", s->host, addrs);
    emit(r);

    /* TCP connect */
    struct net_sock ns;
    unsigned ms = 0;
    enum tern_rc rc = net_connect(&ns, ai, sr->timeout_ms, &ms, &e);
    if (rc) {
        freeaddrinfo(ai);
        step_add(r, DOCTOR_STEP_CONNECT, T_CONNECT, DOCTOR_FAIL, rc, "%s port %u: %s", s->host,
                 sr->port, e.msg);
        emit(r);
        return false;
    }
    step_add(r, DOCTOR_STEP_CONNECT, T_CONNECT, DOCTOR_OK, TERN_OK, "port %u answers (%u ms)",
             sr->port, ms);
    emit(r);

    struct tbuf greet;
    tbuf_init(&greet, DOCTOR_LINE_MAX + 1);
    struct conn_cert_info ci = {0};
    struct conn *c = NULL;
    /* the conn keeps pointers to fl (line hook, cancel flag) until closed */
    struct first_line fl = {0};
    bool ok = true;
    const char *key = sr->tls_key;
    unsigned std_implicit = conn_default_port(s->proto, CONN_TLS_IMPLICIT);
    unsigned std_starttls = conn_default_port(s->proto, CONN_TLS_STARTTLS);

    if (s->tls == CONN_TLS_STARTTLS) {
        /* TLS mode: a STARTTLS port greets in plaintext at once */
        enum net_first k = net_sniff(&ns, sr->sniff_ms, &greet);
        if (k == FIRST_SILENT) {
            if (speaks_implicit_tls(sr)) {
                struct doctor_step *st = step_add(
                    r, DOCTOR_STEP_TLS_MODE, T_TLS_MODE, DOCTOR_FAIL, TERN_ECONFIG,
                    "port %u expects TLS from the first byte, but %s = starttls", sr->port, key);
                step_hint(r, st, "Set %s = implicit (or use port %u for STARTTLS).", key,
                          std_starttls);
                emit(r);
                ok = false;
            } else if (sr->timeout_ms > sr->sniff_ms) {
                /* a slow greeter, perhaps: wait out the rest of the timeout */
                k = net_sniff(&ns, sr->timeout_ms - sr->sniff_ms, &greet);
            }
        }
        if (ok) {
            const char *g = greet.data ? greet.data : "";
            enum tern_rc refuse =
                greeting_matches(s->proto, k) ? greeting_refusal(s->proto, g) : TERN_OK;
            if (k == FIRST_SILENT)
                step_add(r, DOCTOR_STEP_TLS_MODE, T_TLS_MODE, DOCTOR_FAIL, TERN_ETIMEOUT,
                         "the server sent no greeting within %u s (and no TLS either)",
                         (sr->timeout_ms + 999) / 1000);
            else if (k == FIRST_CLOSED)
                step_add(r, DOCTOR_STEP_TLS_MODE, T_TLS_MODE, DOCTOR_FAIL, TERN_ECONN,
                         "the server closed the connection without a greeting");
            else if (k == FIRST_TLS)
                step_add(r, DOCTOR_STEP_TLS_MODE, T_TLS_MODE, DOCTOR_FAIL, TERN_ECONFIG,
                         "port %u answers with TLS data, but %s = starttls", sr->port, key);
            else if (k == FIRST_OTHER)
                step_add(r, DOCTOR_STEP_TLS_MODE, T_TLS_MODE, DOCTOR_FAIL, TERN_EPROTO,
                         "port %u does not greet like %s server: \"%.120s\"", sr->port,
                         s->proto == CONN_IMAP   ? "an IMAP"
                         : s->proto == CONN_POP3 ? "a POP3"
                                                 : "an SMTP",
                         g);
            else if (!greeting_matches(s->proto, k))
                step_hint(r,
                          step_add(r, DOCTOR_STEP_TLS_MODE, T_TLS_MODE, DOCTOR_FAIL, TERN_ECONFIG,
                                   "port %u greets like %s server (\"%.120s\"), not %s: wrong "
                                   "port?",
                                   sr->port, first_word_proto(k), g, sr->pname),
                          "%s uses port %u with %s = starttls, or port %u with %s = implicit.",
                          sr->pname, std_starttls, key, std_implicit, key);
            else if (s->proto == CONN_IMAP && !strncmp(g, "* PREAUTH", 9))
                step_add(r, DOCTOR_STEP_TLS_MODE, T_TLS_MODE, DOCTOR_FAIL, TERN_ENOTLS,
                         "the server greets with PREAUTH (logged in already, without TLS), so "
                         "STARTTLS cannot follow: tern refuses such a session");
            else if (refuse)
                step_add(r, DOCTOR_STEP_TLS_MODE, T_TLS_MODE, DOCTOR_FAIL, refuse,
                         "the server refuses the session: \"%.200s\"", g);
            else
                step_add(r, DOCTOR_STEP_TLS_MODE, T_TLS_MODE, DOCTOR_OK, TERN_OK,
                         "port %u greets in plaintext, then TLS starts with STARTTLS, as %s = "
                         "starttls expects",
                         sr->port, key);
            emit(r);
            ok = r->side->status != DOCTOR_FAIL;
        }
        /* STARTTLS offered: ask before TLS (no credential on this socket) */
        if (ok) {
            struct doctor_caps pre;
            caps_init(&pre);
            rc = caps_query_plain(&ns, s->proto, s->ehlo_name, greet.data, &pre, &e);
            const char *word = s->proto == CONN_POP3 ? "STLS" : "STARTTLS";
            if (rc) {
                step_add(r, DOCTOR_STEP_STARTTLS, T_STARTTLS, DOCTOR_FAIL, rc,
                         "asking for capabilities before TLS failed: %s", e.msg);
                ok = false;
            } else if (!caps_has(&pre, word)) {
                struct doctor_step *st = step_add(
                    r, DOCTOR_STEP_STARTTLS, T_STARTTLS, DOCTOR_FAIL, TERN_ENOTLS,
                    "the server does not offer STARTTLS on port %u: tern never logs in without "
                    "TLS",
                    sr->port);
                step_hint(r, st,
                          "If the server has implicit TLS, set %s = implicit and the port to %u.",
                          key, std_implicit);
                ok = false;
            } else {
                step_add(r, DOCTOR_STEP_STARTTLS, T_STARTTLS, DOCTOR_OK, TERN_OK,
                         "the server offers %s", word);
            }
            emit(r);
            caps_free(&pre);
        }
        net_close(&ns);
        /* certificate: TLS without login */
        if (ok) {
            tern_err_clear(&e);
            struct conn_params p = params_of(sr, CONN_TLS_STARTTLS, false, NULL, &ci);
            rc = conn_open(&p, &c, &e);
            if (rc && rc != TERN_ETLS && ci.sha256_fp) {
                after_tls_failed(sr, false, NULL, &ci, rc, &e);
                ok = false;
            } else if (rc && ci.sha256_fp) {
                cert_failed(sr, &ci, &e);
                ok = false;
            } else if (rc) {
                step_add(r, DOCTOR_STEP_CERT, T_CERT, DOCTOR_FAIL, rc, "%s", e.msg);
                emit(r);
                ok = false;
            } else {
                cert_ok(sr, &ci);
            }
        }
    } else {
        net_close(&ns);
        fl.proto = s->proto;
        struct conn_params p = params_of(sr, CONN_TLS_IMPLICIT, false, NULL, &ci);
        p.on_line = first_line_cb;
        p.line_arg = &fl;
        p.cancel = &fl.cancel;
        rc = conn_open(&p, &c, &e);
        if (rc && rc != TERN_ETLS && ci.sha256_fp) {
            after_tls_failed(sr, true, &fl, &ci, rc, &e);
            ok = false;
        } else if (rc == TERN_OK || ci.sha256_fp) {
            step_add(r, DOCTOR_STEP_TLS_MODE, T_TLS_MODE, DOCTOR_OK, TERN_OK,
                     "port %u speaks TLS from the first byte, as %s = implicit expects", sr->port,
                     key);
            emit(r);
            if (rc) {
                cert_failed(sr, &ci, &e);
                ok = false;
            } else {
                cert_ok(sr, &ci);
            }
        } else {
            /* no handshake: does the port greet in plaintext (a STARTTLS port)? */
            struct tern_err e2 = {0};
            enum net_first k = FIRST_SILENT;
            if (net_connect(&ns, ai, sr->timeout_ms, &ms, &e2) == TERN_OK) {
                k = net_sniff(&ns, sr->sniff_ms, &greet);
                net_close(&ns);
            }
            const char *g = greet.data ? greet.data : "";
            struct doctor_step *st;
            if (k == FIRST_IMAP || k == FIRST_POP3 || k == FIRST_SMTP) {
                st = step_add(r, DOCTOR_STEP_TLS_MODE, T_TLS_MODE, DOCTOR_FAIL, TERN_ECONFIG,
                              "port %u sends a plaintext greeting first (\"%.80s\"): it expects "
                              "STARTTLS, but %s = implicit",
                              sr->port, g, key);
                step_hint(r, st, "Set %s = starttls (or use port %u for implicit TLS).", key,
                          std_implicit);
            } else {
                st = step_add(r, DOCTOR_STEP_TLS_MODE, T_TLS_MODE, DOCTOR_FAIL, rc, "%s", e.msg);
            }
            emit(r);
            ok = false;
        }
    }
    freeaddrinfo(ai);
    tbuf_free(&greet);
    if (cert_out) {
        conn_cert_info_free(cert_out);
        *cert_out = ci;
    } else {
        conn_cert_info_free(&ci);
    }
    if (!ok) {
        conn_close(&c);
        return false;
    }

    /* capabilities after TLS, before login */
    tern_err_clear(&e);
    rc = caps_query_conn(c, s->proto, s->ehlo_name, &sr->caps, &e);
    caps_logout(c, s->proto);
    conn_close(&c);
    if (rc) {
        step_add(r, DOCTOR_STEP_CAPS, T_CAPS, DOCTOR_FAIL, rc, "asking for capabilities failed: %s",
                 e.msg);
        emit(r);
        return false;
    }
    if (s->proto == CONN_SMTP && !caps_has(&sr->caps, "AUTH")) {
        step_add(r, DOCTOR_STEP_CAPS, T_CAPS, DOCTOR_FAIL, TERN_ENOTSUP,
                 "the server offers no AUTH (login) after TLS: tern does not send without "
                 "logging in");
        emit(r);
        return false;
    }
    if (!caps_can_login(&sr->caps, s->auth)) {
        struct tbuf d;
        tbuf_init(&d, 4096);
        caps_describe(&sr->caps, s->proto, &d);
        step_add(r, DOCTOR_STEP_CAPS, T_CAPS, DOCTOR_FAIL, TERN_ENOTSUP,
                 "the server offers no login method tern uses (%s) — %s",
                 s->auth == CONN_AUTH_XOAUTH2 ? "XOAUTH2" : "SASL PLAIN or LOGIN",
                 d.data ? d.data : "");
        tbuf_free(&d);
        emit(r);
        return false;
    }
    if (s->proto == CONN_IMAP && s->user) {
        sr->caps_pending = true; /* the list grows after login */
    } else {
        caps_step(sr, false);
        if (r->side->status == DOCTOR_FAIL)
            return false;
    }
    if (!s->user)
        return true;

    /* login */
    char *secret = NULL;
    if (sr->get_secret) {
        tern_err_clear(&e);
        if ((rc = sr->get_secret(sr->secret_arg, &secret, &e)) != TERN_OK) {
            if (sr->caps_pending)
                caps_step(sr, false);
            return false; /* the password step was reported */
        }
    }
    tern_err_clear(&e);
    struct conn_params p = params_of(sr, s->tls, true, secret ? secret : s->secret, NULL);
    rc = conn_open(&p, &c, &e);
    tern_free_secret(secret);
    if (rc) {
        if (sr->caps_pending)
            caps_step(sr, false);
        step_add(r, DOCTOR_STEP_LOGIN, T_LOGIN, DOCTOR_FAIL, rc, "%s", e.msg);
        emit(r);
        return false;
    }
    step_add(r, DOCTOR_STEP_LOGIN, T_LOGIN, DOCTOR_OK, TERN_OK, "the server accepted the %s for %s",
             s->auth == CONN_AUTH_XOAUTH2 ? "OAuth2 token" : "password", s->user);
    emit(r);
    if (sr->caps_pending) {
        /* IMAP servers list more after login (Dovecot: CONDSTORE, MOVE...) */
        struct doctor_caps post;
        caps_init(&post);
        tern_err_clear(&e);
        if (caps_query_conn(c, s->proto, NULL, &post, &e) == TERN_OK && post.answered) {
            caps_merge_auth(&post, &sr->caps);
            caps_free(&sr->caps);
            sr->caps = post;
            caps_step(sr, true);
        } else {
            caps_free(&post);
            caps_step(sr, false);
        }
        sr->caps_pending = false;
    }
    sr->authed = c;
    return true;
}

static void server_run_init(struct server_run *sr, struct run *r, const struct doctor_server *s)
{
    memset(sr, 0, sizeof *sr);
    sr->r = r;
    sr->s = s;
    sr->port = s->port ? s->port : conn_default_port(s->proto, s->tls);
    unsigned t = s->timeout_s ? s->timeout_s : CONN_DEFAULT_TIMEOUT_S;
    sr->timeout_ms = t * 1000;
    unsigned sniff = r->o && r->o->sniff_ms ? r->o->sniff_ms : DOCTOR_SNIFF_MS;
    sr->sniff_ms = sniff < sr->timeout_ms ? sniff : sr->timeout_ms;
    sr->tls_key = s->tls_key ? s->tls_key : "tls";
    sr->pname = pname_of(s->proto);
    caps_init(&sr->caps);
}

static void finish_verdict(struct run *r)
{
    struct doctor_side *s = r->side;
    struct tbuf b;
    tbuf_init(&b, 8192);
    if (!s->configured) {
        tbuf_puts(&b, s->nsteps ? s->steps[0].detail : "not set up");
    } else if (s->status == DOCTOR_FAIL) {
        const struct doctor_step *f = NULL;
        for (size_t i = 0; i < s->nsteps && !f; i++)
            if (s->steps[i].status == DOCTOR_FAIL)
                f = &s->steps[i];
        tbuf_printf(&b, "fails — %s", f && f->detail ? f->detail : "see above");
    } else if (s->status == DOCTOR_WARN) {
        const struct doctor_step *w = NULL;
        for (size_t i = 0; i < s->nsteps && !w; i++)
            if (s->steps[i].status == DOCTOR_WARN)
                w = &s->steps[i];
        tbuf_printf(&b, "works, but note: %s", w && w->detail ? w->detail : "see above");
    } else {
        tbuf_puts(&b, "works");
    }
    free(s->verdict);
    s->verdict = tbuf_steal(&b);
    if (!s->verdict)
        r->oom = true;
}

enum tern_rc doctor_check_server(const struct doctor_server *s, const struct doctor_opts *o,
                                 struct doctor_side *side, struct conn_cert_info *cert,
                                 struct tern_err *err)
{
    if (cert)
        memset(cert, 0, sizeof *cert);
    if (!side->proto)
        side->proto = pname_of(s->proto);
    side->configured = true;
    struct run r = {.o = o, .side = side};
    struct server_run sr;
    server_run_init(&sr, &r, s);
    run_server(&sr, cert);
    if (sr.authed) {
        caps_logout(sr.authed, s->proto);
        conn_close(&sr.authed);
    }
    caps_free(&sr.caps);
    finish_verdict(&r);
    if (r.oom)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    return TERN_OK;
}

/* ---- one account ------------------------------------------------------- */

struct secret_ctx {
    struct run *r;
    const struct tern_account *a;
    bool smtp;
};

static enum tern_rc get_secret(void *arg, char **secret, struct tern_err *err)
{
    struct secret_ctx *sc = arg;
    const struct tern_account *a = sc->a;
    enum tern_rc rc = account_secret(a, sc->smtp, secret, err);
    const char *cmd = sc->smtp ? a->smtp_password_command : a->password_command;
    /* smtp_password_command defaults to a copy of password_command */
    const char *key =
        sc->smtp && a->smtp_password_command &&
                (!a->password_command || strcmp(a->smtp_password_command, a->password_command) != 0)
            ? "smtp_password_command"
            : "password_command";
    if (rc) {
        step_add(sc->r, DOCTOR_STEP_PASSWORD, T_PASSWORD, DOCTOR_FAIL, rc, "%s", err->msg);
    } else if (!**secret) {
        tern_free_secret(*secret);
        *secret = NULL;
        rc = tern_fail(err, TERN_ECONFIG, "empty password");
        step_add(sc->r, DOCTOR_STEP_PASSWORD, T_PASSWORD, DOCTOR_FAIL, TERN_ECONFIG,
                 "%s printed an empty line: no password", key);
    } else if (cmd) {
        step_add(sc->r, DOCTOR_STEP_PASSWORD, T_PASSWORD, DOCTOR_OK, TERN_OK,
                 "%s printed a password", key);
    } else {
        step_add(sc->r, DOCTOR_STEP_PASSWORD, T_PASSWORD, DOCTOR_WARN, TERN_OK,
                 "the password is written in the config file; password_command keeps it out "
                 "of it");
    }
    emit(sc->r);
    return rc;
}

static const char *domain_of(const char *address)
{
    const char *at = address ? strrchr(address, '@') : NULL;
    return at && at[1] ? at + 1 : NULL;
}

/* The config step: what will be used, and local problems found early. */
static bool config_step(struct run *r, const struct tern_account *a, bool smtp)
{
    const char *ca = a->ca_file;
    if (ca && access(ca, R_OK) != 0) {
        step_add(r, DOCTOR_STEP_CONFIG, T_CONFIG, DOCTOR_FAIL, TERN_ECONFIG,
                 "ca_file %s cannot be read", ca);
        emit(r);
        return false;
    }
    if (smtp)
        step_add(r, DOCTOR_STEP_CONFIG, T_CONFIG, DOCTOR_OK, TERN_OK,
                 "smtp_host = %s, smtp_port = %u, smtp_tls = %s, smtp_user = %s", a->smtp_host,
                 a->smtp_port, a->smtp_tls == ACCT_TLS_IMPLICIT ? "implicit" : "starttls",
                 a->smtp_user ? a->smtp_user : "?");
    else
        step_add(r, DOCTOR_STEP_CONFIG, T_CONFIG, DOCTOR_OK, TERN_OK,
                 "incoming = %s, host = %s, port = %u, tls = %s, user = %s",
                 a->incoming == INCOMING_IMAP ? "imap" : "pop3", a->host, a->port,
                 a->tls == ACCT_TLS_IMPLICIT ? "implicit" : "starttls", a->user);
    emit(r);
    return true;
}

static void after_login_imap(struct run *r, const struct tern_account *a, struct conn *c)
{
    struct doctor_folders f = {0};
    f.wanted = a->sent_folder;
    struct tern_err e = {0};
    if (folders_list_imap(c, &f, &e)) {
        step_add(r, DOCTOR_STEP_FOLDERS, T_FOLDERS, DOCTOR_FAIL, e.rc, "%s", e.msg);
        emit(r);
        folders_free(&f);
        return;
    }
    if (f.count == 0)
        step_add(r, DOCTOR_STEP_FOLDERS, T_FOLDERS, DOCTOR_WARN, TERN_OK,
                 "the server lists no folders");
    else {
        struct tbuf names;
        tbuf_init(&names, 8192);
        if (folders_summary(&f, &names))
            r->oom = true;
        step_add(r, DOCTOR_STEP_FOLDERS, T_FOLDERS, DOCTOR_OK, TERN_OK, "%llu folder%s: %s",
                 (unsigned long long)f.count, f.count == 1 ? "" : "s",
                 names.data ? names.data : "");
        tbuf_free(&names);
    }
    emit(r);
    if (!a->save_sent)
        step_add(r, DOCTOR_STEP_SENT, T_SENT, DOCTOR_OK, TERN_OK,
                 "save_sent = no: no copy of sent mail is kept");
    else if (a->sent_folder && f.wanted_found)
        step_add(r, DOCTOR_STEP_SENT, T_SENT, DOCTOR_OK, TERN_OK, "%s (sent_folder)",
                 a->sent_folder);
    else if (a->sent_folder)
        step_add(r, DOCTOR_STEP_SENT, T_SENT, DOCTOR_FAIL, TERN_ECONFIG,
                 "sent_folder = %s does not exist on the server", a->sent_folder);
    else if (f.sent_special)
        step_add(r, DOCTOR_STEP_SENT, T_SENT, DOCTOR_OK, TERN_OK,
                 "%s (marked \\Sent by the server)", f.sent_special);
    else if (f.has_named_sent)
        step_add(r, DOCTOR_STEP_SENT, T_SENT, DOCTOR_OK, TERN_OK,
                 "Sent (by name; the server marks no folder \\Sent)");
    else
        step_add(r, DOCTOR_STEP_SENT, T_SENT, DOCTOR_WARN, TERN_OK,
                 "no Sent folder: copies of sent mail cannot be saved (create one, set "
                 "sent_folder, or save_sent = no)");
    emit(r);
    folders_free(&f);
}

static void after_login_pop3(struct run *r, const struct tern_account *a, struct conn *c)
{
    uint64_t n = 0, bytes = 0;
    struct tern_err e = {0};
    if (pop3_stat(c, &n, &bytes, &e)) {
        step_add(r, DOCTOR_STEP_MESSAGES, T_MESSAGES, DOCTOR_FAIL, e.rc, "%s", e.msg);
        emit(r);
        return;
    }
    char keep[160];
    if (!a->keep)
        snprintf(keep, sizeof keep, "keep = no: tern deletes them from the server after download");
    else if (a->keep_days)
        snprintf(keep, sizeof keep,
                 "keep = yes: tern leaves them on the server for %u days after download",
                 a->keep_days);
    else
        snprintf(keep, sizeof keep, "keep = yes: tern leaves them on the server");
    step_add(r, DOCTOR_STEP_MESSAGES, T_MESSAGES, DOCTOR_OK, TERN_OK,
             "%llu message%s (%llu KB) on the server; %s", (unsigned long long)n, n == 1 ? "" : "s",
             (unsigned long long)((bytes + 1023) / 1024), keep);
    emit(r);
}

static void outbox_step(struct run *r, const struct tern_account *a)
{
    struct outbox_list l = {0};
    struct tern_err e = {0};
    if (outbox_list(a, &l, &e)) {
        step_add(r, DOCTOR_STEP_OUTBOX, T_OUTBOX, DOCTOR_WARN, TERN_OK,
                 "cannot read the outbox: %s", e.msg);
        emit(r);
        return;
    }
    size_t queued = 0, pending_copy = 0;
    const struct outbox_entry *last_err = NULL;
    for (size_t i = 0; i < l.n; i++) {
        if (l.v[i].state == OUTBOX_QUEUED) {
            queued++;
            if (l.v[i].error)
                last_err = &l.v[i];
        } else {
            pending_copy++;
        }
    }
    if (!queued && !pending_copy)
        step_add(r, DOCTOR_STEP_OUTBOX, T_OUTBOX, DOCTOR_OK, TERN_OK, "empty");
    else if (queued)
        step_add(r, DOCTOR_STEP_OUTBOX, T_OUTBOX, DOCTOR_WARN, TERN_OK,
                 "%zu message%s waiting to be sent%s%s (tern queue --flush sends them)", queued,
                 queued == 1 ? "" : "s", last_err ? "; last error: " : "",
                 last_err ? last_err->error : "");
    else
        step_add(r, DOCTOR_STEP_OUTBOX, T_OUTBOX, DOCTOR_OK, TERN_OK,
                 "nothing to send; %zu sent message%s still to be copied to Sent", pending_copy,
                 pending_copy == 1 ? "" : "s");
    emit(r);
    outbox_list_free(&l);
}

static void check_receiving(const struct tern_account *a, const struct doctor_opts *o,
                            struct doctor_side *side, bool *oom)
{
    side->what = "Receiving";
    side->proto = a->incoming == INCOMING_IMAP ? "IMAP" : "POP3";
    side->configured = true;
    struct run r = {.o = o, .side = side};
    if (config_step(&r, a, false)) {
        struct doctor_server s = {
            .proto = a->incoming == INCOMING_IMAP ? CONN_IMAP : CONN_POP3,
            .tls = a->tls == ACCT_TLS_IMPLICIT ? CONN_TLS_IMPLICIT : CONN_TLS_STARTTLS,
            .host = a->host,
            .port = a->port,
            .ca_file = a->ca_file,
            .pin = a->pin,
            .timeout_s = a->timeout,
            .user = a->user,
            .auth = a->auth == ACCT_AUTH_XOAUTH2 ? CONN_AUTH_XOAUTH2 : CONN_AUTH_PASSWORD,
            .tls_key = "tls",
            .account = a->name,
        };
        struct server_run sr;
        server_run_init(&sr, &r, &s);
        struct secret_ctx sc = {.r = &r, .a = a, .smtp = false};
        sr.get_secret = get_secret;
        sr.secret_arg = &sc;
        if (run_server(&sr, NULL) && sr.authed) {
            if (a->incoming == INCOMING_IMAP)
                after_login_imap(&r, a, sr.authed);
            else
                after_login_pop3(&r, a, sr.authed);
            caps_logout(sr.authed, s.proto);
            conn_close(&sr.authed);
        }
        caps_free(&sr.caps);
    }
    finish_verdict(&r);
    if (r.oom)
        *oom = true;
}

static void check_sending(const struct tern_account *a, const struct doctor_opts *o,
                          struct doctor_side *side, bool *oom)
{
    side->what = "Sending";
    side->proto = "SMTP";
    struct run r = {.o = o, .side = side};
    if (!a->smtp_host) {
        side->configured = false;
        step_add(&r, DOCTOR_STEP_CONFIG, T_CONFIG, DOCTOR_WARN, TERN_OK,
                 "not set up: no smtp_host, so this account cannot send");
        emit(&r);
        finish_verdict(&r);
        if (r.oom)
            *oom = true;
        return;
    }
    side->configured = true;
    if (config_step(&r, a, true)) {
        struct doctor_server s = {
            .proto = CONN_SMTP,
            .tls = a->smtp_tls == ACCT_TLS_IMPLICIT ? CONN_TLS_IMPLICIT : CONN_TLS_STARTTLS,
            .host = a->smtp_host,
            .port = a->smtp_port,
            .ca_file = a->ca_file,
            /* as core/outbox: the pin is the incoming server's key and only
             * applies when SMTP goes to the same host */
            .pin = (a->host && !tern_strcasecmp(a->host, a->smtp_host)) ? a->pin : NULL,
            .timeout_s = a->timeout,
            .user = a->smtp_user,
            .auth = a->smtp_auth == ACCT_AUTH_XOAUTH2 ? CONN_AUTH_XOAUTH2 : CONN_AUTH_PASSWORD,
            .ehlo_name = domain_of(a->address),
            .tls_key = "smtp_tls",
            .account = a->name,
        };
        struct server_run sr;
        server_run_init(&sr, &r, &s);
        struct secret_ctx sc = {.r = &r, .a = a, .smtp = true};
        sr.get_secret = get_secret;
        sr.secret_arg = &sc;
        if (run_server(&sr, NULL) && sr.authed) {
            caps_logout(sr.authed, s.proto);
            conn_close(&sr.authed);
        }
        caps_free(&sr.caps);
    }
    /* the queue is worth knowing about even when the server is not */
    outbox_step(&r, a);
    finish_verdict(&r);
    if (r.oom)
        *oom = true;
}

enum tern_rc doctor_check_account(const struct tern_account *a, const struct doctor_opts *o,
                                  struct doctor_report *out, struct tern_err *err)
{
    memset(out, 0, sizeof *out);
    out->account = tern_strdup(a->name);
    if (!out->account)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    bool oom = false;
    out->receiving.what = "Receiving";
    out->sending.what = "Sending";
    check_receiving(a, o, &out->receiving, &oom);
    check_sending(a, o, &out->sending, &oom);
    out->rc = doctor_rc_worse(out->receiving.rc, out->sending.rc);
    if (oom)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    return TERN_OK;
}
