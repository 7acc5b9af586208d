/*
 * conn-check: connect and log in through core/conn, then log out, for the
 * integration tests (tests/integration/test_conn.py). Not installed.
 *
 *   conn-check --proto imap|pop3|smtp --tls starttls|implicit --host H
 *              [--port P] [--user U] [--password-env VAR] [--auth password|xoauth2]
 *              [--ca FILE] [--pin PIN] [--timeout S] [--deadline S] [--ehlo NAME]
 *              [--show-cert] [--request] [--cancel-after S] [--lines] [--debug]
 *
 * --request uses a request-style handle (conn_handle_new) and performs a
 * NOOP through libcurl instead of opening a stream. --cancel-after raises
 * the cancel flag from a SIGALRM handler, as a ^C handler would.
 *
 * S may be "5", "2.5" or "300ms". On failure the error line goes to stderr
 * and the exit code follows sysexits like tern itself: 0 ok, 69 STARTTLS
 * missing / TLS refused / not supported, 75 connection or timeout, 76
 * protocol, 77 auth, 78 config, 64 usage.
 */
#include "core/conn/lib.h"

#include <curl/curl.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

enum {
    EX_OK_ = 0,
    EX_USAGE_ = 64,
    EX_UNAVAILABLE_ = 69,
    EX_SOFTWARE_ = 70,
    EX_OSERR_ = 71,
    EX_TEMPFAIL_ = 75,
    EX_PROTOCOL_ = 76,
    EX_NOPERM_ = 77,
    EX_CONFIG_ = 78
};

static int exit_code(enum tern_rc rc)
{
    switch (rc) {
    case TERN_OK:
        return EX_OK_;
    case TERN_EAUTH:
        return EX_NOPERM_;
    case TERN_ECONN:
    case TERN_ETIMEOUT:
    case TERN_ETEMP:
    case TERN_ELOCKED:
    case TERN_ECANCELED:
        return EX_TEMPFAIL_;
    case TERN_ENOTLS:
    case TERN_ETLS:
    case TERN_ENOTSUP:
    case TERN_EREFUSED:
        return EX_UNAVAILABLE_;
    case TERN_EPROTO:
        return EX_PROTOCOL_;
    case TERN_ECONFIG:
        return EX_CONFIG_;
    case TERN_EUSAGE:
        return EX_USAGE_;
    case TERN_ENOMEM:
        return EX_OSERR_;
    default:
        return EX_SOFTWARE_;
    }
}

/* core/conn already made the text safe (UTF-8, no controls); this only
 * guards against a future message built elsewhere. */
static void put_safe(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        fputc((*p < 0x20 || *p == 0x7f) ? '?' : *p, f);
}

static void trace(void *arg, const char *line)
{
    (void)arg;
    fputs("conn-check: debug: ", stderr);
    put_safe(stderr, line);
    fputc('\n', stderr);
}

static int fail(const struct tern_err *err)
{
    fputs("conn-check: ", stderr);
    put_safe(stderr, err->msg[0] ? err->msg : tern_rc_str(err->rc));
    fputc('\n', stderr);
    return exit_code(err->rc);
}

static int usage(const char *why)
{
    fprintf(stderr,
            "conn-check: %s\nusage: conn-check --proto imap|pop3|smtp --tls starttls|implicit "
            "--host H [--port P] [--user U] [--password-env VAR] [--auth password|xoauth2] "
            "[--ca FILE] [--pin PIN] [--timeout S] [--deadline S] [--ehlo NAME] [--show-cert] "
            "[--request] [--cancel-after S] [--lines] [--debug]\n",
            why);
    return EX_USAGE_;
}

/* "5", "2.5", "300ms" -> milliseconds (at most one day). */
static bool parse_duration(const char *s, unsigned *ms)
{
    size_t n = strlen(s);
    uint64_t v;
    if (n > 2 && strcmp(s + n - 2, "ms") == 0) {
        if (!tern_parse_u64(s, n - 2, 86400000, &v) || v == 0)
            return false;
        *ms = (unsigned)v;
        return true;
    }
    const char *dot = strchr(s, '.');
    uint64_t whole = 0, frac = 0;
    size_t wl = dot ? (size_t)(dot - s) : n;
    if (!tern_parse_u64(s, wl, 86400, &whole))
        return false;
    if (dot) {
        size_t fl = strlen(dot + 1);
        if (fl == 0 || fl > 3 || !tern_parse_u64(dot + 1, fl, 999, &frac))
            return false;
        for (size_t i = fl; i < 3; i++)
            frac *= 10;
    }
    v = whole * 1000 + frac;
    if (v == 0)
        return false;
    *ms = (unsigned)v;
    return true;
}

static void show_cert(const struct conn_cert_info *ci)
{
    if (!ci->sha256_fp)
        return;
    printf("subject: %s\nissuer: %s\nnot_after: %s\nsha256: %s\npin: %s\n",
           ci->subject ? ci->subject : "?", ci->issuer ? ci->issuer : "?",
           ci->not_after ? ci->not_after : "?", ci->sha256_fp, ci->pin ? ci->pin : "?");
    if (ci->problem)
        printf("problem: %s\n", ci->problem);
    fflush(stdout);
}

/* Send the protocol's logout and read its reply. */
static enum tern_rc logout(struct conn *c, enum conn_proto proto, struct tern_err *err)
{
    static const char *const cmd[] = {
        [CONN_IMAP] = "a1 LOGOUT\r\n", [CONN_POP3] = "QUIT\r\n", [CONN_SMTP] = "QUIT\r\n"};
    struct tbuf line;
    tbuf_init(&line, CONN_LINE_MAX);
    enum tern_rc rc = conn_send_traced(c, cmd[proto], strlen(cmd[proto]), err);
    for (int i = 0; rc == TERN_OK && i < 100; i++) {
        rc = conn_read_line(c, &line, 0, err);
        if (rc != TERN_OK)
            break;
        conn_trace_line(c, false, line.data, line.len);
        if (proto == CONN_IMAP) {
            if (strncmp(line.data, "a1 ", 3) == 0) {
                if (strncmp(line.data, "a1 OK", 5) != 0)
                    rc = tern_fail(err, TERN_EPROTO, "%s: LOGOUT failed: %.200s", conn_peer(c),
                                   line.data);
                break;
            }
            if (line.data[0] != '*')
                rc = tern_fail(err, TERN_EPROTO, "%s: unexpected reply to LOGOUT: %.200s",
                               conn_peer(c), line.data);
        } else if (proto == CONN_POP3) {
            if (strncmp(line.data, "+OK", 3) != 0)
                rc = tern_fail(err, TERN_EPROTO, "%s: unexpected reply to QUIT: %.200s",
                               conn_peer(c), line.data);
            break;
        } else {
            if (line.len >= 4 && line.data[3] == '-')
                continue;
            if (strncmp(line.data, "221", 3) != 0)
                rc = tern_fail(err, TERN_EPROTO, "%s: unexpected reply to QUIT: %.200s",
                               conn_peer(c), line.data);
            break;
        }
    }
    if (rc == TERN_OK)
        printf("ok: %s logged out: %s", conn_peer(c), line.data ? line.data : "\n");
    tbuf_free(&line);
    return rc;
}

static volatile sig_atomic_t canceled;

static void on_alarm(int sig)
{
    (void)sig;
    canceled = 1;
}

/* --lines: the server lines libcurl read (params.on_line) */
static void show_line(void *arg, const char *line, size_t n)
{
    (void)arg;
    fputs("line: ", stdout);
    for (size_t i = 0; i < n; i++)
        fputc(((unsigned char)line[i] < 0x20 || line[i] == 0x7f) ? '?' : line[i], stdout);
    fputc('\n', stdout);
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p, (void)arg;
    return size * n;
}

/* One NOOP through libcurl's own protocol code on a hardened handle. */
static enum tern_rc request_noop(const struct conn_params *p, struct tern_err *err)
{
    struct conn_cert_info *ci = p->cert_out;
    void *h = conn_handle_new(p, err);
    if (!h)
        return err->rc;
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "NOOP");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    if (p->proto == CONN_POP3)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L); /* single-line reply */
    CURLcode crc = curl_easy_perform(h);
    enum tern_rc rc = conn_handle_fail(h, (int)crc, err); /* fills *ci via cert_out */
    if (ci) {
        /* the other way to the same facts must agree */
        struct conn_cert_info again = {0};
        if (conn_handle_cert_info(h, &again, NULL) == TERN_OK &&
            (!ci->pin || !again.pin || strcmp(again.pin, ci->pin) != 0)) {
            tern_err_clear(err);
            rc = tern_fail(err, TERN_EINTERNAL, "conn_handle_cert_info disagrees with cert_out");
        }
        conn_cert_info_free(&again);
    }
    if (rc == TERN_OK)
        printf("ok: request NOOP done\n");
    conn_handle_free(&h);
    return rc;
}

int main(int argc, char **argv)
{
    struct conn_params p = {.tls = CONN_TLS_STARTTLS};
    bool have_proto = false, have_tls = false, want_cert = false, request = false;
    const char *pass_env = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--debug") == 0) {
            p.trace = trace;
            continue;
        }
        if (strcmp(a, "--show-cert") == 0) {
            want_cert = true;
            continue;
        }
        if (strcmp(a, "--lines") == 0) {
            p.on_line = show_line;
            continue;
        }
        if (strcmp(a, "--request") == 0) {
            request = true;
            continue;
        }
        if (i + 1 >= argc)
            return usage("missing value");
        const char *v = argv[++i];
        uint64_t num;
        if (strcmp(a, "--proto") == 0) {
            have_proto = true;
            if (strcmp(v, "imap") == 0)
                p.proto = CONN_IMAP;
            else if (strcmp(v, "pop3") == 0)
                p.proto = CONN_POP3;
            else if (strcmp(v, "smtp") == 0)
                p.proto = CONN_SMTP;
            else
                return usage("bad --proto");
        } else if (strcmp(a, "--tls") == 0) {
            have_tls = true;
            if (strcmp(v, "starttls") == 0)
                p.tls = CONN_TLS_STARTTLS;
            else if (strcmp(v, "implicit") == 0)
                p.tls = CONN_TLS_IMPLICIT;
            else
                return usage("bad --tls");
        } else if (strcmp(a, "--auth") == 0) {
            if (strcmp(v, "password") == 0)
                p.auth = CONN_AUTH_PASSWORD;
            else if (strcmp(v, "xoauth2") == 0)
                p.auth = CONN_AUTH_XOAUTH2;
            else
                return usage("bad --auth");
        } else if (strcmp(a, "--host") == 0) {
            p.host = v;
        } else if (strcmp(a, "--port") == 0) {
            if (!tern_parse_u64(v, strlen(v), 65535, &num) || num == 0)
                return usage("bad --port");
            p.port = (unsigned)num;
        } else if (strcmp(a, "--user") == 0) {
            p.user = v;
        } else if (strcmp(a, "--password-env") == 0) {
            pass_env = v;
        } else if (strcmp(a, "--ca") == 0) {
            p.ca_file = v;
        } else if (strcmp(a, "--pin") == 0) {
            p.pin = v;
        } else if (strcmp(a, "--ehlo") == 0) {
            p.ehlo_name = v;
        } else if (strcmp(a, "--timeout") == 0) {
            if (!parse_duration(v, &p.timeout_ms))
                return usage("bad --timeout");
        } else if (strcmp(a, "--deadline") == 0) {
            if (!parse_duration(v, &p.deadline_ms))
                return usage("bad --deadline");
        } else if (strcmp(a, "--cancel-after") == 0) {
            unsigned ms;
            if (!parse_duration(v, &ms))
                return usage("bad --cancel-after");
            struct sigaction sa = {.sa_handler = on_alarm};
            sigemptyset(&sa.sa_mask);
            sigaction(SIGALRM, &sa, NULL);
            struct itimerval it = {
                .it_value = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000}};
            setitimer(ITIMER_REAL, &it, NULL);
            p.cancel = &canceled;
        } else {
            return usage("unknown option");
        }
    }
    if (!have_proto || !have_tls || !p.host)
        return usage("--proto, --tls and --host are required");
    if (pass_env) {
        p.secret = getenv(pass_env);
        if (!p.secret) {
            fprintf(stderr, "conn-check: environment variable %s is not set\n", pass_env);
            return EX_CONFIG_;
        }
    }

    struct tern_err err = {0};
    if (conn_global_init(&err) != TERN_OK)
        return fail(&err);
    struct conn_cert_info ci = {0};
    if (want_cert)
        p.cert_out = &ci;
    if (request) {
        enum tern_rc rc = request_noop(&p, &err);
        if (want_cert)
            show_cert(&ci);
        conn_cert_info_free(&ci);
        conn_global_cleanup();
        return rc == TERN_OK ? EX_OK_ : fail(&err);
    }
    struct conn *c = NULL;
    enum tern_rc rc = conn_open(&p, &c, &err);
    if (want_cert)
        show_cert(&ci);
    if (rc == TERN_OK)
        rc = logout(c, p.proto, &err);
    conn_close(&c);
    conn_cert_info_free(&ci);
    conn_global_cleanup();
    return rc == TERN_OK ? EX_OK_ : fail(&err);
}
