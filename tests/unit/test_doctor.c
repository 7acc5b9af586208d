/* Unit tests for core/doctor: config edits, greeting classification,
 * capability parsing, failure ranking. The network steps are covered by
 * tests/integration/test_doctor.py against the lab and scripted fakes. */
#include "check.h"

#include "core/doctor/lib.h"
#include "core/doctor/private.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char base_cfg[] = "# my mail\n"
                               "[general]\n"
                               "default_account = work\n"
                               "\n"
                               "[account work]\n"
                               "address = a@example.com\n"
                               "incoming = imap\n"
                               "host = imap.example.com\n"
                               "  # a comment inside\n"
                               "password_command = pass mail\n"
                               "\n"
                               "# trailing comment of work\n"
                               "[account \"other\"]\n"
                               "address = b@example.com\n"
                               "incoming = pop3\n"
                               "host = pop.example.com\n"
                               "password_command = pass other\n";

static const char section[] = "[account new]\n"
                              "address = n@example.com\n"
                              "incoming = imap\n"
                              "host = imap.example.com\n"
                              "password_command = pass new\n";

static void test_line(void)
{
    struct tbuf b;
    tbuf_init(&b, 0);
    struct tern_err e = {0};
    CHECK_INT(doctor_config_line(&b, "k", "plain value", &e), TERN_OK);
    CHECK_INT(doctor_config_line(&b, "k", " lead", &e), TERN_OK);
    CHECK_INT(doctor_config_line(&b, "k", "\"quoted\"", &e), TERN_OK);
    CHECK_INT(doctor_config_line(&b, "k", "pass show \"a b\"", &e), TERN_OK);
    CHECK_STR(b.data, "k = plain value\nk = \" lead\"\nk = \"\"quoted\"\"\n"
                      "k = pass show \"a b\"\n");
    CHECK_INT(doctor_config_line(&b, "k", "a\nb", &e), TERN_EDATA);
    tern_err_clear(&e);
    CHECK_INT(doctor_config_line(&b, "k", "", &e), TERN_EDATA);
    tbuf_free(&b);
}

static void test_append(void)
{
    struct tern_err e = {0};
    char *out = NULL;
    CHECK_INT(doctor_text_append(base_cfg, section, &out, &e), TERN_OK);
    /* the old text stays byte for byte, one blank line, then the section */
    CHECK(out && !strncmp(out, base_cfg, strlen(base_cfg)));
    CHECK(out && !strcmp(out + strlen(base_cfg), "\n[account new]\naddress = n@example.com\n"
                                                 "incoming = imap\nhost = imap.example.com\n"
                                                 "password_command = pass new\n"));
    free(out);
    /* no final newline */
    CHECK_INT(doctor_text_append("# c", section, &out, &e), TERN_OK);
    CHECK(out && !strncmp(out, "# c\n\n[account new]\n", 19));
    free(out);
    /* empty file: just the section */
    CHECK_INT(doctor_text_append("", section, &out, &e), TERN_OK);
    CHECK_STR(out, section);
    free(out);
    /* already ends with a blank line: no second one */
    CHECK_INT(doctor_text_append("# c\n\n", section, &out, &e), TERN_OK);
    CHECK(out && !strncmp(out, "# c\n\n[account new]", 18));
    free(out);
}

static void test_set(void)
{
    struct tern_err e = {0};
    char *out = NULL;
    /* insert after the last key line of the section, before its comments */
    CHECK_INT(doctor_text_set(base_cfg, "work", "pin", "sha256//x", &out, &e), TERN_OK);
    const char *want_ins = "password_command = pass mail\npin = sha256//x\n\n# trailing comment";
    CHECK(out && strstr(out, want_ins));
    CHECK(out && strlen(out) == strlen(base_cfg) + strlen("pin = sha256//x\n"));
    char *again = NULL;
    /* replace keeps indentation and everything else */
    CHECK_INT(doctor_text_set(out, "work", "pin", "sha256//y", &again, &e), TERN_OK);
    CHECK(again && strstr(again, "\npin = sha256//y\n") && !strstr(again, "sha256//x"));
    CHECK(again && strlen(again) == strlen(out));
    free(again);
    free(out);
    /* a quoted section name; the last section, no trailing newline */
    CHECK_INT(doctor_text_set("[account \"o\"]\nhost = h", "o", "port", "995", &out, &e), TERN_OK);
    CHECK_STR(out, "[account \"o\"]\nhost = h\nport = 995\n");
    free(out);
    /* indentation of an existing key is kept; CRLF files stay CRLF */
    CHECK_INT(
        doctor_text_set("[account a]\r\n  pin = old\r\nhost = h\r\n", "a", "pin", "new", &out, &e),
        TERN_OK);
    CHECK_STR(out, "[account a]\r\n  pin = new\r\nhost = h\r\n");
    free(out);
    CHECK_INT(doctor_text_set("[account a]\r\nhost = h\r\n", "a", "pin", "new", &out, &e), TERN_OK);
    CHECK_STR(out, "[account a]\r\nhost = h\r\npin = new\r\n");
    free(out);
    /* a commented-out key is not the key */
    CHECK_INT(doctor_text_set("[account a]\n# pin = old\nhost = h\n", "a", "pin", "n", &out, &e),
              TERN_OK);
    CHECK_STR(out, "[account a]\n# pin = old\nhost = h\npin = n\n");
    free(out);
    /* the same key in another section is left alone */
    CHECK_INT(
        doctor_text_set("[account a]\nhost = h\n[account b]\npin = b\n", "a", "pin", "n", &out, &e),
        TERN_OK);
    CHECK_STR(out, "[account a]\nhost = h\npin = n\n[account b]\npin = b\n");
    free(out);
    CHECK_INT(doctor_text_set(base_cfg, "nope", "pin", "x", &out, &e), TERN_ENOTFOUND);
    CHECK(out == NULL);
}

static void test_files(void)
{
    char dir[] = "/tmp/tern-doctor-test-XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    char path[256], link_path[256];
    snprintf(path, sizeof path, "%s/sub/dir/config", dir);
    struct tern_err e = {0};
    /* missing file: parents 0700, file 0600 */
    CHECK_INT(doctor_config_append(path, section, &e), TERN_OK);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    char sub[256];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    CHECK(stat(sub, &st) == 0 && (st.st_mode & 0777) == 0700);
    /* a second section of the same name would not load: refused, file unchanged */
    tern_err_clear(&e);
    CHECK_INT(doctor_config_append(path, section, &e), TERN_ECONFIG);
    CHECK(strstr(e.msg, "defined twice") != NULL);
    /* set through a symlink: the target changes, the link stays */
    snprintf(link_path, sizeof link_path, "%s/link", dir);
    CHECK(symlink(path, link_path) == 0);
    tern_err_clear(&e);
    CHECK_INT(doctor_config_set(link_path, "new", "timeout", "30", &e), TERN_OK);
    struct stat lst;
    CHECK(lstat(link_path, &lst) == 0 && S_ISLNK(lst.st_mode));
    struct tern_config *cfg = NULL;
    CHECK_INT(config_load(path, &cfg, &e), TERN_OK);
    const struct tern_account *a = config_account(cfg, "new");
    CHECK(a && a->timeout == 30);
    config_free(&cfg);
    /* a bad value is refused before writing */
    tern_err_clear(&e);
    CHECK_INT(doctor_config_set(path, "new", "timeout", "soon", &e), TERN_ECONFIG);
    CHECK_INT(config_load(path, &cfg, &e), TERN_OK);
    config_free(&cfg);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

static void test_classify(void)
{
    CHECK_INT(net_classify("* OK ready", 10), FIRST_IMAP);
    CHECK_INT(net_classify("* PREAUTH hi", 12), FIRST_IMAP);
    CHECK_INT(net_classify("* BYE busy", 10), FIRST_IMAP);
    CHECK_INT(net_classify("+OK Dovecot", 11), FIRST_POP3);
    CHECK_INT(net_classify("-ERR no", 7), FIRST_POP3);
    CHECK_INT(net_classify("220 mx ESMTP", 12), FIRST_SMTP);
    CHECK_INT(net_classify("220-mx", 6), FIRST_SMTP);
    CHECK_INT(net_classify("\x16\x03\x01\x00", 4), FIRST_TLS);
    CHECK_INT(net_classify("\x15\x03\x03", 3), FIRST_TLS);
    CHECK_INT(net_classify("HTTP/1.1 400", 12), FIRST_OTHER);
    CHECK_INT(net_classify("", 0), FIRST_SILENT);
}

static void test_caps(void)
{
    struct doctor_caps c;
    caps_init(&c);
    caps_feed(&c, CONN_IMAP, "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] hi", 51, true);
    CHECK(caps_has(&c, "STARTTLS"));
    CHECK(!caps_has(&c, "START"));
    CHECK(!caps_can_login(&c, CONN_AUTH_PASSWORD));
    const char *l = "* CAPABILITY IMAP4rev1 idle Move AUTH=PLAIN";
    caps_feed(&c, CONN_IMAP, l, strlen(l), false);
    CHECK(caps_has(&c, "IDLE") && caps_has(&c, "MOVE"));
    CHECK(caps_can_login(&c, CONN_AUTH_PASSWORD));
    CHECK(!caps_can_login(&c, CONN_AUTH_XOAUTH2));
    struct tbuf d;
    tbuf_init(&d, 0);
    CHECK_INT(caps_describe(&c, CONN_IMAP, &d), TERN_OK);
    CHECK_STR(d.data, "has IDLE, MOVE; lacks CONDSTORE, QRESYNC, SPECIAL-USE; login: PLAIN");
    caps_free(&c);

    caps_init(&c);
    tbuf_reset(&d);
    const char *p3[] = {"TOP", "UIDL", "SASL PLAIN LOGIN", "PIPELINING", "IMPLEMENTATION x y"};
    for (size_t i = 0; i < 5; i++)
        caps_feed(&c, CONN_POP3, p3[i], strlen(p3[i]), false);
    CHECK(caps_has(&c, "AUTH=LOGIN") && caps_has(&c, "IMPLEMENTATION") && !caps_has(&c, "X"));
    CHECK_INT(caps_describe(&c, CONN_POP3, &d), TERN_OK);
    CHECK_STR(d.data, "has UIDL, PIPELINING; login: PLAIN LOGIN");
    caps_free(&c);

    caps_init(&c);
    tbuf_reset(&d);
    const char *sm[] = {"250-mx.example greets you", "250-PIPELINING", "250-SIZE 10240000",
                        "250-AUTH PLAIN LOGIN", "250 8BITMIME"};
    for (size_t i = 0; i < 5; i++)
        caps_feed(&c, CONN_SMTP, sm[i], strlen(sm[i]), i == 0);
    CHECK(!caps_has(&c, "MX.EXAMPLE"));
    CHECK(caps_has(&c, "AUTH") && caps_can_login(&c, CONN_AUTH_PASSWORD));
    CHECK_INT(c.size_limit, 10240000);
    CHECK_INT(caps_describe(&c, CONN_SMTP, &d), TERN_OK);
    CHECK_STR(d.data, "has SIZE (10 MB), 8BITMIME, PIPELINING; login: PLAIN LOGIN");
    caps_free(&c);
    /* hostile: control bytes and overlong words are dropped */
    caps_init(&c);
    caps_feed(&c, CONN_POP3, "UI\x01DL", 5, false);
    CHECK(!caps_has(&c, "UIDL"));
    caps_free(&c);
    tbuf_free(&d);
}

static void test_rank(void)
{
    CHECK_INT(doctor_rc_worse(TERN_OK, TERN_ECONN), TERN_ECONN);
    CHECK_INT(doctor_rc_worse(TERN_ECONN, TERN_ETLS), TERN_ETLS);
    CHECK_INT(doctor_rc_worse(TERN_EAUTH, TERN_ETLS), TERN_EAUTH);
    CHECK_INT(doctor_rc_worse(TERN_EAUTH, TERN_ECONFIG), TERN_ECONFIG);
    CHECK_INT(doctor_rc_worse(TERN_ECONFIG, TERN_OK), TERN_ECONFIG);
    struct doctor_candidate c[2];
    CHECK_INT(doctor_default_candidates(CONN_SMTP, c), 2);
    CHECK(c[0].port == 465 && c[0].tls == CONN_TLS_IMPLICIT);
    CHECK(c[1].port == 587 && c[1].tls == CONN_TLS_STARTTLS);
    /* the order `tern account add` tries: implicit TLS first (RFC 8314) */
    CHECK_INT(doctor_default_candidates(CONN_IMAP, c), 2);
    CHECK(c[0].port == 993 && c[0].tls == CONN_TLS_IMPLICIT);
    CHECK(c[1].port == 143 && c[1].tls == CONN_TLS_STARTTLS);
    CHECK_INT(doctor_default_candidates(CONN_POP3, c), 2);
    CHECK(c[0].port == 995 && c[0].tls == CONN_TLS_IMPLICIT);
    CHECK(c[1].port == 110 && c[1].tls == CONN_TLS_STARTTLS);
    doctor_side_free(NULL);
    doctor_report_free(NULL);
}

int main(void)
{
    test_line();
    test_append();
    test_set();
    test_files();
    test_classify();
    test_caps();
    test_rank();
    return check_done("test-doctor");
}
