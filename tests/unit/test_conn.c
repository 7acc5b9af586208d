/*
 * Unit tests for core/conn without a network: the trace redactor on every
 * credential form, default ports, parameter checks, the CURLcode -> tern_rc
 * table and certificate facts from PEM (fixed test certificates made for
 * this test with openssl; expected values computed with openssl too).
 */
#include "core/conn/private.h"

#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- redactor ---------------------------------------------------------- */

static struct conn_redact red;
static char shown[CONN_TRACE_LINE_MAX];

/* Feed one line; returns what the trace would show ("" when suppressed). */
static const char *out_(const char *line)
{
    if (!conn_redact_line(&red, true, line, strlen(line), shown, sizeof shown))
        shown[0] = '\0';
    return shown;
}

static const char *in_(const char *line)
{
    if (!conn_redact_line(&red, false, line, strlen(line), shown, sizeof shown))
        shown[0] = '\0';
    return shown;
}

#define SECRET "s3cr3t-Pw"
#define B64_PLAIN "AGFsaWNlAHMzY3IzdC1Qdw==" /* \0alice\0s3cr3t-Pw */
#define B64_PW "czNjcjN0LVB3"                /* s3cr3t-Pw */
#define B64_USER "YWxpY2U="                  /* alice */
/* user=alice\1auth=Bearer tok123\1\1 */
#define B64_XOAUTH2 "dXNlcj1hbGljZQFhdXRoPUJlYXJlciB0b2sxMjMBAQ=="

static void no_secret(const char *s)
{
    CHECK(strstr(s, SECRET) == NULL);
    CHECK(strstr(s, B64_PLAIN) == NULL);
    CHECK(strstr(s, B64_PW) == NULL);
    CHECK(strstr(s, B64_XOAUTH2) == NULL);
}

static void test_redact_imap(void)
{
    conn_redact_init(&red, CONN_IMAP);
    CHECK_STR(out_("A001 CAPABILITY\r\n"), "C: A001 CAPABILITY");
    CHECK_STR(in_("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n"), "S: * CAPABILITY IMAP4rev1 AUTH=PLAIN");
    /* LOGIN with atoms, quoted strings, escapes, lower case */
    CHECK_STR(out_("A002 LOGIN alice " SECRET "\r\n"), "C: A002 LOGIN alice [redacted]");
    CHECK_STR(out_("a3 login \"alice\" \"" SECRET "\"\r\n"), "C: a3 login \"alice\" [redacted]");
    CHECK_STR(out_("a4 LOGIN \"al \\\"ice\" \"s3 \\\"" SECRET "\"\r\n"),
              "C: a4 LOGIN \"al \\\"ice\" [redacted]");
    CHECK_STR(in_("a4 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"),
              "S: a4 NO [AUTHENTICATIONFAILED] Authentication failed.");

    /* LOGIN with a synchronizing literal password */
    CHECK_STR(out_("A005 LOGIN alice {9}\r\n"), "C: A005 LOGIN alice [redacted]");
    CHECK_STR(in_("+ Ready for literal data\r\n"), "S: + Ready for literal data");
    no_secret(out_(SECRET "\r\n"));
    CHECK(strstr(shown, "literal data not shown") != NULL);
    CHECK_STR(in_("A005 OK Logged in\r\n"), "S: A005 OK Logged in");
    CHECK_STR(out_("A006 SELECT INBOX\r\n"), "C: A006 SELECT INBOX");
    CHECK_STR(in_("A006 OK done\r\n"), "S: A006 OK done");

    /* LOGIN with non-synchronizing literals for both (LITERAL+): no
     * prompt comes between the lines */
    CHECK_STR(out_("A007 LOGIN {5+}\r\n"), "C: A007 LOGIN [redacted]");
    no_secret(out_("alice {9+}\r\n"));
    CHECK(strstr(shown, "alice") == NULL);
    no_secret(out_(SECRET "\r\n"));
    CHECK_STR(in_("A007 OK\r\n"), "S: A007 OK");
    CHECK_STR(out_("A008 NOOP\r\n"), "C: A008 NOOP");

    /* AUTHENTICATE PLAIN with SASL-IR */
    no_secret(out_("A009 AUTHENTICATE PLAIN " B64_PLAIN "\r\n"));
    CHECK_STR(shown, "C: A009 AUTHENTICATE PLAIN [redacted]");
    CHECK_STR(in_("A009 OK\r\n"), "S: A009 OK");
    /* ... and with a continuation */
    CHECK_STR(out_("A010 authenticate plain\r\n"), "C: A010 authenticate plain");
    CHECK_STR(in_("+ \r\n"), "S: + ");
    CHECK_STR(out_(B64_PLAIN "\r\n"), "C: [redacted]");
    CHECK_STR(in_("A010 OK\r\n"), "S: A010 OK");
    /* AUTHENTICATE LOGIN: two prompts */
    CHECK_STR(out_("A011 AUTHENTICATE LOGIN\r\n"), "C: A011 AUTHENTICATE LOGIN");
    CHECK_STR(in_("+ VXNlcm5hbWU6\r\n"), "S: + VXNlcm5hbWU6");
    CHECK_STR(out_(B64_USER "\r\n"), "C: [redacted]");
    CHECK_STR(in_("+ UGFzc3dvcmQ6\r\n"), "S: + UGFzc3dvcmQ6");
    CHECK_STR(out_(B64_PW "\r\n"), "C: [redacted]");
    CHECK_STR(in_("A011 OK\r\n"), "S: A011 OK");
    /* XOAUTH2, with the error continuation answered by an empty line */
    no_secret(out_("A012 AUTHENTICATE XOAUTH2 " B64_XOAUTH2 "\r\n"));
    CHECK_STR(shown, "C: A012 AUTHENTICATE XOAUTH2 [redacted]");
    CHECK_STR(in_("+ eyJzdGF0dXMiOiI0MDAifQ==\r\n"), "S: + eyJzdGF0dXMiOiI0MDAifQ==");
    CHECK_STR(out_("\r\n"), "C: [redacted]");
    CHECK_STR(in_("A012 NO failed\r\n"), "S: A012 NO failed");

    /* Server literals (message data) are never shown, even split across
     * lines, and what follows them on the line is */
    CHECK_STR(in_("* 1 FETCH (UID 7 BODY[] {23}\r\n"), "S: * 1 FETCH (UID 7 BODY[] {23}");
    CHECK(strstr(in_("Subject: " SECRET "\r\n"), SECRET) == NULL); /* 20 bytes */
    CHECK_STR(shown, "S: [20 bytes of literal data not shown]");
    CHECK_STR(in_("x\r\n"), "S: [3 bytes of literal data not shown]");
    CHECK_STR(in_(")\r\n"), "S: )");
    CHECK_STR(in_("A013 OK\r\n"), "S: A013 OK");
    CHECK_STR(in_("* 2 FETCH (BODY[] {3}\r\n"), "S: * 2 FETCH (BODY[] {3}");
    CHECK_STR(in_("abc)\r\n"), "S: [3 bytes of literal data not shown])");
    CHECK_STR(in_("A014 OK\r\n"), "S: A014 OK");
    /* An outgoing APPEND literal after the continuation */
    CHECK_STR(out_("A015 APPEND INBOX {9}\r\n"), "C: A015 APPEND INBOX {9}");
    CHECK_STR(in_("+ go\r\n"), "S: + go");
    no_secret(out_(SECRET "\r\n"));
    CHECK_STR(in_("A015 OK\r\n"), "S: A015 OK");

    /* Control bytes are not passed to the terminal */
    CHECK_STR(in_("* OK \x1b[31mred\x07\r\n"), "S: * OK ?[31mred?");
}

static void test_redact_pop3(void)
{
    conn_redact_init(&red, CONN_POP3);
    CHECK_STR(in_("+OK ready\r\n"), "S: +OK ready");
    CHECK_STR(out_("CAPA\r\n"), "C: CAPA");
    CHECK_STR(out_("USER alice\r\n"), "C: USER alice");
    CHECK_STR(in_("+OK\r\n"), "S: +OK");
    /* "+OK" is no continuation: the next line is a command, shown */
    CHECK_STR(out_("pass " SECRET "\r\n"), "C: pass [redacted]");
    CHECK_STR(in_("-ERR [AUTH] Authentication failed.\r\n"),
              "S: -ERR [AUTH] Authentication failed.");
    CHECK_STR(out_("APOP alice c4c9334bac560ecc979e58001b3e22fb\r\n"), "C: APOP alice [redacted]");
    in_("-ERR no\r\n");
    no_secret(out_("AUTH PLAIN " B64_PLAIN "\r\n"));
    CHECK_STR(shown, "C: AUTH PLAIN [redacted]");
    CHECK_STR(in_("+OK Logged in.\r\n"), "S: +OK Logged in.");
    CHECK_STR(out_("AUTH PLAIN\r\n"), "C: AUTH PLAIN");
    CHECK_STR(in_("+ \r\n"), "S: + ");
    CHECK_STR(out_(B64_PLAIN "\r\n"), "C: [redacted]");
    CHECK_STR(in_("+OK Logged in.\r\n"), "S: +OK Logged in.");
    CHECK_STR(out_("AUTH LOGIN " B64_USER "\r\n"), "C: AUTH LOGIN [redacted]");
    CHECK_STR(in_("+\r\n"), "S: +");
    CHECK_STR(out_(B64_PW "\r\n"), "C: [redacted]");
    CHECK_STR(in_("+OK\r\n"), "S: +OK");
    CHECK_STR(out_("STAT\r\n"), "C: STAT");
    CHECK_STR(out_("QUIT\r\n"), "C: QUIT");
}

static void test_redact_smtp(void)
{
    conn_redact_init(&red, CONN_SMTP);
    CHECK_STR(in_("220 mx ESMTP\r\n"), "S: 220 mx ESMTP");
    CHECK_STR(out_("EHLO localhost\r\n"), "C: EHLO localhost");
    CHECK_STR(in_("250-AUTH PLAIN LOGIN\r\n"), "S: 250-AUTH PLAIN LOGIN");
    no_secret(out_("AUTH PLAIN " B64_PLAIN "\r\n"));
    CHECK_STR(shown, "C: AUTH PLAIN [redacted]");
    CHECK_STR(in_("535 5.7.8 Error: authentication failed\r\n"),
              "S: 535 5.7.8 Error: authentication failed");
    /* AUTH PLAIN without initial response: 334 with an empty challenge */
    CHECK_STR(out_("AUTH PLAIN\r\n"), "C: AUTH PLAIN");
    CHECK_STR(in_("334 \r\n"), "S: 334 ");
    CHECK_STR(out_(B64_PLAIN "\r\n"), "C: [redacted]");
    CHECK_STR(in_("235 2.7.0 ok\r\n"), "S: 235 2.7.0 ok");
    /* AUTH LOGIN with and without the user as initial response */
    CHECK_STR(out_("AUTH LOGIN\r\n"), "C: AUTH LOGIN");
    CHECK_STR(in_("334 VXNlcm5hbWU6\r\n"), "S: 334 VXNlcm5hbWU6");
    CHECK_STR(out_(B64_USER "\r\n"), "C: [redacted]");
    CHECK_STR(in_("334 UGFzc3dvcmQ6\r\n"), "S: 334 UGFzc3dvcmQ6");
    CHECK_STR(out_(B64_PW "\r\n"), "C: [redacted]");
    CHECK_STR(in_("235 ok\r\n"), "S: 235 ok");
    CHECK_STR(out_("auth login " B64_USER "\r\n"), "C: auth login [redacted]");
    in_("334 UGFzc3dvcmQ6\r\n");
    CHECK_STR(out_(B64_PW "\r\n"), "C: [redacted]");
    in_("235 ok\r\n");
    /* XOAUTH2 */
    no_secret(out_("AUTH XOAUTH2 " B64_XOAUTH2 "\r\n"));
    CHECK_STR(shown, "C: AUTH XOAUTH2 [redacted]");
    in_("334 eyJzdGF0dXMiOiI0MDEifQ==\r\n");
    CHECK_STR(out_("\r\n"), "C: [redacted]");
    in_("535 5.7.8 Username and Password not accepted\r\n");
    /* Message data is never shown: one note, then silence until "." */
    CHECK_STR(out_("MAIL FROM:<a@b.example>\r\n"), "C: MAIL FROM:<a@b.example>");
    in_("250 ok\r\n");
    CHECK_STR(out_("DATA\r\n"), "C: DATA");
    CHECK_STR(in_("354 go ahead\r\n"), "S: 354 go ahead");
    CHECK_STR(out_("Subject: " SECRET "\r\n"), "C: [message data not shown]");
    CHECK_STR(out_(SECRET "\r\n"), "");
    CHECK_STR(out_("..leading dot\r\n"), "");
    CHECK_STR(out_(".\r\n"), "C: .");
    CHECK_STR(in_("250 queued\r\n"), "S: 250 queued");
    CHECK_STR(out_("QUIT\r\n"), "C: QUIT");
    /* DATA refused: what follows is a command again */
    CHECK_STR(out_("DATA\r\n"), "C: DATA");
    in_("554 no valid recipients\r\n");
    CHECK_STR(out_("RSET\r\n"), "C: RSET");
    /* BDAT chunks are hidden */
    CHECK_STR(out_("BDAT 11 LAST\r\n"), "C: BDAT 11 LAST");
    CHECK(strstr(out_(SECRET "\r\n"), SECRET) == NULL);
}

static void test_safe_text(void)
{
    char b[64];
    CHECK_INT(conn_safe_text(b, sizeof b, "ok \x1b[2J\x07\x7f", 9), 9);
    CHECK_STR(b, "ok ?[2J??");
    /* UTF-8 passes, C1 controls (0x9b = CSI), stray and overlong bytes do not */
    conn_safe_text(b, sizeof b, "Gr\xc3\xbc\xc3\x9f \xe2\x82\xac", 10);
    CHECK_STR(b, "Gr\xc3\xbc\xc3\x9f \xe2\x82\xac");
    conn_safe_text(b, sizeof b,
                   "a\x9b"
                   "1m\xc2\x9b\xff\xc0\xaf\xed\xa0\x80z",
                   13);
    CHECK_STR(b, "a?1m????????z"); /* c2 9b, ff, c0, af, ed a0 80 */
    /* cut on a character boundary */
    CHECK_INT(conn_safe_text(b, 5, "ab\xe2\x82\xac", 5), 2);
    CHECK_STR(b, "ab");
    CHECK_INT(conn_safe_text(b, 1, "abc", 3), 0);
    CHECK_STR(b, "");
    /* truncated sequence at the end of the input */
    conn_safe_text(b, sizeof b, "x\xe2\x82", 3);
    CHECK_STR(b, "x??");
}

static void test_redact_truncates(void)
{
    conn_redact_init(&red, CONN_IMAP);
    char line[2000];
    memset(line, 'x', sizeof line - 1);
    line[sizeof line - 1] = '\0';
    char small[16];
    CHECK(conn_redact_line(&red, false, line, strlen(line), small, sizeof small));
    CHECK_INT(strlen(small), sizeof small - 1);
    CHECK(conn_redact_line(&red, true, line, strlen(line), shown, sizeof shown));
    CHECK_INT(strlen(shown), sizeof shown - 1);
}

/* ---- ports and parameters ---------------------------------------------- */

static void test_ports(void)
{
    CHECK_INT(conn_default_port(CONN_IMAP, CONN_TLS_STARTTLS), 143);
    CHECK_INT(conn_default_port(CONN_IMAP, CONN_TLS_IMPLICIT), 993);
    CHECK_INT(conn_default_port(CONN_POP3, CONN_TLS_STARTTLS), 110);
    CHECK_INT(conn_default_port(CONN_POP3, CONN_TLS_IMPLICIT), 995);
    CHECK_INT(conn_default_port(CONN_SMTP, CONN_TLS_STARTTLS), 587);
    CHECK_INT(conn_default_port(CONN_SMTP, CONN_TLS_IMPLICIT), 465);
    CHECK_STR(conn_proto_name(CONN_POP3), "pop3");
}

static enum tern_rc params_rc(struct conn_params p, const char *want_text)
{
    struct tern_err err = {0};
    enum tern_rc rc = conn_check_params(&p, &err);
    if (want_text)
        CHECK(strstr(err.msg, want_text) != NULL);
    return rc;
}

static void test_params(void)
{
    struct conn_params ok = {
        .proto = CONN_IMAP, .host = "mail.example.org", .user = "alice", .secret = "pw"};
    CHECK_INT(params_rc(ok, NULL), TERN_OK);
    struct conn_params p = ok;
    p.host = "::1";
    CHECK_INT(params_rc(p, NULL), TERN_OK);
    const char *bad_hosts[] = {"", "a b", "evil/x", "u@h", "h?x", "h#x", "h\r\nx", "[::1]", "h%2f"};
    for (size_t i = 0; i < sizeof bad_hosts / sizeof *bad_hosts; i++) {
        p = ok;
        p.host = bad_hosts[i];
        CHECK_INT(params_rc(p, "host"), TERN_ECONFIG);
    }
    p = ok;
    p.host = NULL;
    CHECK_INT(params_rc(p, "host"), TERN_ECONFIG);
    p = ok;
    p.user = "alice\r\nA2 DELETE INBOX";
    CHECK_INT(params_rc(p, "user"), TERN_ECONFIG);
    p = ok;
    p.secret = NULL;
    CHECK_INT(params_rc(p, "no password for alice"), TERN_ECONFIG);
    p = ok;
    p.secret = "pw\nx";
    CHECK_INT(params_rc(p, "line break"), TERN_ECONFIG);
    p = ok;
    p.auth = CONN_AUTH_XOAUTH2;
    p.secret = "";
    CHECK_INT(params_rc(p, "OAuth2 token"), TERN_ECONFIG);
    p = ok;
    p.port = 70000;
    CHECK_INT(params_rc(p, "port"), TERN_ECONFIG);
    const char *good_pins[] = {"sha256//cmfNixTbKmuim9o7BFLXwtoDlKMype6U6E/7UXM0pyQ=",
                               "sha256//cmfNixTbKmuim9o7BFLXwtoDlKMype6U6E/7UXM0pyQ=;"
                               "sha256//PFOcmTkkBLQNG0liLyttsweqIrRXnpXD2Hg805gWlEo="};
    for (size_t i = 0; i < 2; i++) {
        p = ok;
        p.pin = good_pins[i];
        CHECK_INT(params_rc(p, NULL), TERN_OK);
    }
    const char *bad_pins[] = {"", "sha256//short",
                              "md5//cmfNixTbKmuim9o7BFLXwtoDlKMype6U6E/7UXM0pyQ=",
                              "sha256//cmfNixTbKmuim9o7BFLXwtoDlKMype6U6E/7UXM0pyQ=;",
                              "sha256//cmfNixTbKmuim9o7BFLXwtoDlKMype6U6E/7UXM0py Q"};
    for (size_t i = 0; i < sizeof bad_pins / sizeof *bad_pins; i++) {
        p = ok;
        p.pin = bad_pins[i];
        CHECK_INT(params_rc(p, "pin"), TERN_ECONFIG);
    }
    p = ok;
    p.proto = CONN_SMTP;
    p.ehlo_name = "client.example.org";
    CHECK_INT(params_rc(p, NULL), TERN_OK);
    p.ehlo_name = "x\r\nRCPT TO:<a@b>";
    CHECK_INT(params_rc(p, "EHLO"), TERN_ECONFIG);
}

/* ---- error mapping ------------------------------------------------------ */

struct map_case {
    int code;
    bool auth_sent;
    enum tern_rc want;
    const char *text;  /* must appear */
    const char *text2; /* must appear too, or NULL */
};

static void test_errmap(void)
{
    const struct map_case cases[] = {
        {CURLE_LOGIN_DENIED, true, TERN_EAUTH, "the server refused the password for alice",
         "A2 NO [AUTHENTICATIONFAILED]"},
        {CURLE_LOGIN_DENIED, false, TERN_ENOTSUP, "offers no login method", NULL},
        {CURLE_USE_SSL_FAILED, false, TERN_ENOTLS,
         "mx.example:143 does not offer STARTTLS; refusing to send credentials in clear", NULL},
        {CURLE_PEER_FAILED_VERIFICATION, false, TERN_ETLS, "self-signed certificate",
         "SHA-256 fingerprint AB:CD"},
        {CURLE_SSL_PINNEDPUBKEYNOTMATCH, false, TERN_ETLS, "server key changed: pin mismatch",
         "sha256//PIN"},
        {CURLE_COULDNT_CONNECT, false, TERN_ECONN, "connection refused", NULL},
        {CURLE_COULDNT_RESOLVE_HOST, false, TERN_ECONN, "cannot resolve mx.example", NULL},
        {CURLE_OPERATION_TIMEDOUT, false, TERN_ETIMEOUT, "timed out", NULL},
        {CURLE_WEIRD_SERVER_REPLY, false, TERN_EPROTO, "unexpected reply", NULL},
        {CURLE_SSL_CONNECT_ERROR, false, TERN_ETLS, "TLS handshake failed", "try tls = implicit"},
        {CURLE_SSL_CACERT_BADFILE, false, TERN_ECONFIG, "certificate file", NULL},
        {CURLE_ABORTED_BY_CALLBACK, false, TERN_ECANCELED, "canceled", NULL},
        {CURLE_RECV_ERROR, false, TERN_ECONN, "connection lost", NULL},
        {CURLE_FTP_ACCEPT_FAILED, false, TERN_ECONN, "curl says", "A2 NO"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct map_case *c = &cases[i];
        struct conn_failure f = {
            .code = c->code,
            .proto = CONN_IMAP,
            .tls = CONN_TLS_STARTTLS,
            .host = "mx.example",
            .port = 143,
            .user = "alice",
            .curl_msg = "curl says",
            .last_line = "A2 NO [AUTHENTICATIONFAILED] Authentication failed.",
            .cert_problem = "self-signed certificate",
            .cert_fp = "AB:CD",
            .cert_pin = "sha256//PIN",
            .auth_sent = c->auth_sent,
        };
        struct tern_err err = {0};
        enum tern_rc rc = conn_map_failure(&f, &err);
        CHECK_INT(rc, c->want);
        CHECK_INT(err.rc, c->want);
        if (!strstr(err.msg, c->text) || (c->text2 && !strstr(err.msg, c->text2))) {
            CHECK(!"message lacks the expected text");
            fprintf(stderr, "  code %d: \"%s\"\n", c->code, err.msg);
        }
        CHECK(strchr(err.msg, '\n') == NULL);
    }
    /* XOAUTH2 wording, implicit-TLS hint, SMTP without AUTH, IPv6 peer */
    struct conn_failure f = {.code = CURLE_LOGIN_DENIED,
                             .auth = CONN_AUTH_XOAUTH2,
                             .host = "::1",
                             .port = 993,
                             .user = "bob",
                             .auth_sent = true};
    struct tern_err err = {0};
    CHECK_INT(conn_map_failure(&f, &err), TERN_EAUTH);
    CHECK(strstr(err.msg, "refused the OAuth2 token for bob at [::1]:993") != NULL);
    f = (struct conn_failure){
        .code = CURLE_SSL_CONNECT_ERROR, .tls = CONN_TLS_IMPLICIT, .host = "h", .port = 993};
    tern_err_clear(&err);
    CHECK_INT(conn_map_failure(&f, &err), TERN_ETLS);
    CHECK(strstr(err.msg, "try tls = starttls") != NULL);
    f = (struct conn_failure){.code = CURLE_WRITE_ERROR,
                              .proto = CONN_SMTP,
                              .host = "h",
                              .port = 587,
                              .smtp_no_auth = true};
    tern_err_clear(&err);
    CHECK_INT(conn_map_failure(&f, &err), TERN_ENOTSUP);
    CHECK(strstr(err.msg, "offers no AUTH") != NULL);
    /* First failure wins */
    f = (struct conn_failure){.code = CURLE_COULDNT_CONNECT, .host = "h", .port = 1};
    CHECK_INT(conn_map_failure(&f, &err), TERN_ECONN);
    CHECK_INT(err.rc, TERN_ENOTSUP);
}

/* ---- certificate facts ---------------------------------------------------- */

#include "test_conn_pems.inc"

static void test_certinfo(void)
{
    char ca_path[] = "/tmp/test-conn-ca-XXXXXX";
    int fd = mkstemp(ca_path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(write(fd, PEM_CA, strlen(PEM_CA)) == (ssize_t)strlen(PEM_CA));
    close(fd);

    struct conn_cert_info ci;
    const char *chain[] = {PEM_SERVER};
    CHECK_INT(conn_cert_from_pems(chain, 1, true, ca_path, "localhost", &ci), TERN_OK);
    CHECK_STR(ci.sha256_fp, "72:66:A5:59:49:D6:8D:C3:9A:DA:5E:BB:6A:5D:66:6F:57:10:94:57:3B:68:"
                            "FB:80:26:EC:B8:9E:23:22:6D:28");
    CHECK_STR(ci.pin, "sha256//PFOcmTkkBLQNG0liLyttsweqIrRXnpXD2Hg805gWlEo=");
    CHECK(ci.subject && strstr(ci.subject, "CN=localhost"));
    CHECK(ci.issuer && strstr(ci.issuer, "CN=tern lab CA"));
    CHECK_STR(ci.not_after, "2036-11-19 03:47:34 UTC");
    CHECK(ci.problem == NULL);
    conn_cert_info_free(&ci);
    CHECK(ci.subject == NULL);

    /* The same certificate checked for an IP in its SAN, and for a name not in it */
    CHECK_INT(conn_cert_from_pems(chain, 1, true, ca_path, "127.0.0.1", &ci), TERN_OK);
    CHECK(ci.problem == NULL);
    conn_cert_info_free(&ci);
    CHECK_INT(conn_cert_from_pems(chain, 1, true, ca_path, "imap.example.org", &ci), TERN_OK);
    CHECK(ci.problem &&
          strstr(ci.problem,
                 "wrong host: certificate is for localhost, 127.0.0.1, not imap.example.org"));
    conn_cert_info_free(&ci);

    const char *wrong[] = {PEM_WRONGHOST};
    CHECK_INT(conn_cert_from_pems(wrong, 1, true, ca_path, "localhost", &ci), TERN_OK);
    CHECK(ci.problem && strstr(ci.problem, "certificate is for wrong.example, not localhost"));
    conn_cert_info_free(&ci);

    const char *expired[] = {PEM_EXPIRED};
    CHECK_INT(conn_cert_from_pems(expired, 1, true, ca_path, "localhost", &ci), TERN_OK);
    CHECK(ci.problem && strstr(ci.problem, "expired on 2020-02-01 00:00:00 UTC"));
    CHECK_STR(ci.pin, "sha256//2rqldveOzoulaqAd0bKUshSFFLIbyjI9/mNqi6jgYcs=");
    conn_cert_info_free(&ci);

    const char *self[] = {PEM_SELFSIGNED};
    CHECK_INT(conn_cert_from_pems(self, 1, true, ca_path, "localhost", &ci), TERN_OK);
    CHECK(ci.problem && strstr(ci.problem, "self-signed"));
    CHECK_STR(ci.sha256_fp, "D1:86:AF:8A:A9:25:08:B9:02:C3:4F:0B:2A:02:7B:0D:ED:1B:34:CB:30:A8:"
                            "A5:45:0B:19:73:7B:61:27:DC:9F");
    CHECK_STR(ci.pin, "sha256//cmfNixTbKmuim9o7BFLXwtoDlKMype6U6E/7UXM0pyQ=");
    conn_cert_info_free(&ci);

    /* Trusting only the self-signed certificate's own file is fine, a
     * CA file that does not exist is reported */
    CHECK_INT(conn_cert_from_pems(chain, 1, true, "/nonexistent/ca.pem", "localhost", &ci),
              TERN_OK);
    CHECK(ci.problem && strstr(ci.problem, "/nonexistent/ca.pem"));
    conn_cert_info_free(&ci);

    /* No verification asked: facts only */
    CHECK_INT(conn_cert_from_pems(self, 1, false, NULL, NULL, &ci), TERN_OK);
    CHECK(ci.problem == NULL && ci.pin != NULL);
    conn_cert_info_free(&ci);

    const char *junk[] = {"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"};
    CHECK_INT(conn_cert_from_pems(junk, 1, true, ca_path, "localhost", &ci), TERN_ENOTFOUND);
    CHECK_INT(conn_cert_from_pems(junk, 0, true, ca_path, "localhost", &ci), TERN_ENOTFOUND);
    conn_cert_info_free(&ci);
    conn_cert_info_free(NULL);
    unlink(ca_path);
}

int main(void)
{
    test_redact_imap();
    test_redact_pop3();
    test_redact_smtp();
    test_redact_truncates();
    test_safe_text();
    test_ports();
    test_params();
    test_errmap();
    test_certinfo();
    return check_done("test-conn");
}
