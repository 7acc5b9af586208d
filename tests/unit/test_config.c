/* Unit tests for core/config: every good form and every bad-input class. */
#include "check.h"
#include "core/config/lib.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct tern_config *parse(const char *text, bool private_file, struct tern_err *err)
{
    struct tern_config *cfg = NULL;
    memset(err, 0, sizeof *err);
    config_parse("test.conf", text, strlen(text), private_file, &cfg, err);
    return cfg;
}

/* Expect failure with code 78-class and a message containing `want`. */
static void bad(const char *text, const char *want)
{
    struct tern_err err;
    struct tern_config *cfg = parse(text, true, &err);
    CHECK(cfg == NULL);
    CHECK_INT(err.rc, TERN_ECONFIG);
    if (!strstr(err.msg, want)) {
        check_failures++;
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", err.msg, want);
    }
    config_free(&cfg);
}

#define BASE "address = a@example.org\nincoming = imap\nhost = imap.example.org\npassword_command = pass mail\n"

static void test_minimal_imap(void)
{
    struct tern_err err;
    struct tern_config *cfg = parse("[account work]\n" BASE, false, &err);
    CHECK(cfg != NULL);
    if (!cfg)
        return;
    CHECK_INT(cfg->naccounts, 1);
    const struct tern_account *a = config_account(cfg, NULL);
    CHECK_STR(a->name, "work");
    CHECK_INT(a->incoming, INCOMING_IMAP);
    CHECK_INT(a->tls, ACCT_TLS_STARTTLS);
    CHECK_INT(a->port, 143);
    CHECK_STR(a->user, "a@example.org");
    CHECK_INT(a->timeout, 60);
    CHECK(a->smtp_host == NULL);
    CHECK(a->save_sent);
    CHECK(strstr(a->maildir, "/tern/work/Maildir") != NULL);
    config_free(&cfg);
    CHECK(cfg == NULL);
    config_free(&cfg); /* NULL-safe */
    config_free(NULL);
}

static void test_defaults_and_ports(void)
{
    struct tern_err err;
    struct tern_config *cfg = parse(
        "# comment\n; other comment\n\n[general]\ndefault_account = home\n"
        "html_filter = w3m -dump -T text/html\n"
        "[account work]\n" BASE "tls = implicit\nsmtp_host = smtp.example.org\n"
        "[account home]\naddress = h@example.net\nincoming = POP3\nhost = pop.example.net\n"
        "tls = starttls\npassword_command = echo x\nkeep = yes\nkeep_days = 30\n"
        "smtp_host = smtp.example.net\nsmtp_tls = implicit\nsmtp_user = other\n"
        "folders = INBOX, Lists/tech ,Sent\n  name  =  \" Home  Person \"\n",
        false, &err);
    CHECK(cfg != NULL);
    if (!cfg) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    const struct tern_account *w = config_account(cfg, "work");
    CHECK_INT(w->port, 993);
    CHECK_INT(w->smtp_port, 587);
    CHECK_INT(w->smtp_tls, ACCT_TLS_STARTTLS);
    CHECK_STR(w->smtp_user, "a@example.org");
    CHECK_STR(w->smtp_password_command, "pass mail");
    const struct tern_account *h = config_account(cfg, NULL);
    CHECK_STR(h->name, "home");
    CHECK_INT(h->incoming, INCOMING_POP3);
    CHECK_INT(h->port, 110);
    CHECK(h->keep);
    CHECK_INT(h->keep_days, 30);
    CHECK_INT(h->smtp_port, 465);
    CHECK_STR(h->smtp_user, "other");
    CHECK_INT(h->nfolders, 3);
    CHECK_STR(h->folders[1], "Lists/tech");
    CHECK_STR(h->display_name, " Home  Person ");
    CHECK_STR(cfg->html_filter, "w3m -dump -T text/html");
    CHECK(config_account(cfg, "nope") == NULL);
    config_free(&cfg);
}

static void test_pop3s_port(void)
{
    struct tern_err err;
    struct tern_config *cfg = parse("[account p]\naddress=a@b.c\nincoming=pop3\nhost=h\n"
                                    "tls=implicit\npassword_command=x\nport=2995\n",
                                    false, &err);
    CHECK(cfg && cfg->accounts[0].port == 2995);
    config_free(&cfg);
    cfg = parse("[account p]\naddress=a@b.c\nincoming=pop3\nhost=h\ntls=implicit\n"
                "password_command=x\n",
                false, &err);
    CHECK(cfg && cfg->accounts[0].port == 995);
    config_free(&cfg);
}

static void test_literal_password(void)
{
    const char *text = "[account w]\naddress=a@b.c\nincoming=imap\nhost=h\npassword=s3cret\n";
    struct tern_err err;
    struct tern_config *cfg = parse(text, true, &err);
    CHECK(cfg != NULL);
    if (cfg) {
        char *secret = NULL;
        CHECK_INT(account_secret(&cfg->accounts[0], false, &secret, &err), TERN_OK);
        CHECK_STR(secret, "s3cret");
        tern_free_secret(secret);
    }
    config_free(&cfg);
    cfg = parse(text, false, &err);
    CHECK(cfg == NULL);
    CHECK_INT(err.rc, TERN_ECONFIG);
    CHECK(strstr(err.msg, "readable by group or others") != NULL);
    CHECK(strstr(err.msg, "s3cret") == NULL);
    config_free(&cfg);
}

static void test_password_command(void)
{
    struct tern_err err;
    struct tern_config *cfg =
        parse("[account w]\naddress=a@b.c\nincoming=imap\nhost=h\npassword_command=printf '%s\\n' "
              "pw1\nsmtp_host=s\nsmtp_password_command=echo  pw2  extra\n",
              false, &err);
    CHECK(cfg != NULL);
    if (!cfg)
        return;
    char *secret = NULL;
    /* contains a backslash: run by the shell */
    CHECK_INT(account_secret(&cfg->accounts[0], false, &secret, &err), TERN_OK);
    CHECK_STR(secret, "pw1");
    tern_free_secret(secret);
    /* plain words: exec'd directly, first line only */
    CHECK_INT(account_secret(&cfg->accounts[0], true, &secret, &err), TERN_OK);
    CHECK_STR(secret, "pw2 extra");
    tern_free_secret(secret);
    config_free(&cfg);

    cfg = parse("[account w]\naddress=a@b.c\nincoming=imap\nhost=h\npassword_command=false\n",
                false, &err);
    CHECK(cfg != NULL);
    if (cfg) {
        memset(&err, 0, sizeof err);
        CHECK_INT(account_secret(&cfg->accounts[0], false, &secret, &err), TERN_ECONFIG);
        CHECK(secret == NULL);
        CHECK(strstr(err.msg, "password command failed") != NULL);
    }
    config_free(&cfg);
    cfg = parse("[account w]\naddress=a@b.c\nincoming=imap\nhost=h\npassword_command=true\n",
                false, &err);
    if (cfg) {
        memset(&err, 0, sizeof err);
        CHECK_INT(account_secret(&cfg->accounts[0], false, &secret, &err), TERN_ECONFIG);
        CHECK(strstr(err.msg, "printed nothing") != NULL);
    }
    config_free(&cfg);
    cfg = parse("[account w]\naddress=a@b.c\nincoming=imap\nhost=h\n"
                "password_command=/nonexistent/cmd\n",
                false, &err);
    if (cfg) {
        memset(&err, 0, sizeof err);
        CHECK_INT(account_secret(&cfg->accounts[0], false, &secret, &err), TERN_ECONFIG);
    }
    config_free(&cfg);
}

static void test_bad_inputs(void)
{
    bad("[account w]\n" BASE "hots = x\n", "test.conf:6: unknown key 'hots' in [account w]");
    bad("hots = x\n", "test.conf:1: unknown key 'hots' in [general]");
    bad("[account w]\naddress = a@b.c\nincoming = imap\nhost = h\n", "missing the key 'password_command'");
    bad("[account w]\nincoming = imap\nhost = h\npassword_command=x\n", "test.conf:1: [account w] is missing the key 'address'");
    bad("[account w]\naddress = a@b.c\nhost = h\npassword_command=x\n", "missing the key 'incoming'");
    bad("[account w]\naddress = a@b.c\nincoming=imap\npassword_command=x\n", "missing the key 'host'");
    bad("[account w]\n" BASE "incoming = smtp\n", "given twice");
    bad("[account w]\naddress=a@b.c\nincoming = smtp\nhost=h\npassword_command=x\n", "test.conf:3: 'incoming' must be imap or pop3, not 'smtp'");
    bad("[account w]\n" BASE "tls = none\n", "there is no plaintext mode");
    bad("[account w]\n" BASE "smtp_tls = plain\n", "test.conf:6:");
    bad("[account w]\n" BASE "port = 70000\n", "'port' must be a whole number from 0 to 65535");
    bad("[account w]\n" BASE "port = -1\n", "'port' must be a whole number");
    bad("[account w]\n" BASE "port = 99999999999999999999999\n", "'port' must be a whole number");
    bad("[account w]\n" BASE "timeout = 10s\n", "'timeout' must be a whole number");
    bad("[account w]\n" BASE "keep = maybe\n", "'keep' must be yes or no");
    bad("[account w]\n" BASE "auth = ntlm\n", "'auth' must be password or xoauth2");
    bad("[account w]\n" BASE "folders = , ,\n", "needs at least one folder");
    bad("[account w]\n" BASE "user =\n", "empty value for 'user'");
    bad("[account w]\n" BASE "just words\n", "test.conf:6: expected 'key = value'");
    bad("[account w]\n" BASE "= value\n", "missing key before '='");
    bad("[account w\n" BASE, "test.conf:1: section header without closing ']'");
    bad("[accounts w]\n" BASE, "unknown section [accounts w]");
    bad("[account ../evil]\n" BASE, "bad account name '../evil'");
    bad("[account]\n" BASE, "unknown section");
    bad("[account w]\n" BASE "[account w]\n" BASE, "test.conf:6: account 'w' defined twice");
    bad("[general]\ndefault_account = nope\n[account w]\n" BASE, "default_account 'nope' is not defined");
    bad("[account w]\naddress = nobody\nincoming=imap\nhost=h\npassword_command=x\n", "'address' is not an email address");
    bad("[account w]\n" BASE "password = x\n", "both 'password' and 'password_command'");
    bad("[general]\ncheck_interval = lots\n", "'check_interval' must be a whole number");
}

/* bind and color may repeat; each line is kept, in order, as written. */
static void test_repeated_tui_keys(void)
{
    struct tern_err err;
    struct tern_config *cfg = parse("[general]\nbind = index j next\ncheck_interval = 60\n"
                                    "bind = pager <Space> next-page\ncolor = quoted green default\n"
                                    "bind = index,pager x quit\n[account w]\n" BASE,
                                    false, &err);
    CHECK(cfg != NULL);
    if (!cfg)
        return;
    CHECK_INT(cfg->nbinds, 3);
    CHECK_STR(cfg->binds[0], "index j next");
    CHECK_STR(cfg->binds[1], "pager <Space> next-page");
    CHECK_STR(cfg->binds[2], "index,pager x quit");
    CHECK_INT(cfg->ncolors, 1);
    CHECK_STR(cfg->colors[0], "quoted green default");
    CHECK_INT(cfg->check_interval, 60);
    config_free(&cfg);
    cfg = parse("[account w]\n" BASE, false, &err);
    CHECK(cfg != NULL);
    if (cfg) {
        CHECK_INT(cfg->nbinds, 0);
        CHECK(cfg->binds == NULL);
        CHECK_INT(cfg->ncolors, 0);
    }
    config_free(&cfg);
    bad("[general]\nbind =\n", "empty value for 'bind'");
    /* only [general] has them */
    bad("[account w]\n" BASE "bind = index j next\n", "unknown key 'bind' in [account w]");
    /* other keys still refuse to repeat */
    bad("[general]\ncheck_interval = 1\ncheck_interval = 2\n", "'check_interval' given twice");
}

static void test_nul_and_empty(void)
{
    struct tern_err err = {0};
    struct tern_config *cfg = NULL;
    CHECK_INT(config_parse("x", "a\0b", 3, true, &cfg, &err), TERN_ECONFIG);
    CHECK(cfg == NULL);
    memset(&err, 0, sizeof err);
    CHECK_INT(config_parse("x", "", 0, true, &cfg, &err), TERN_OK);
    CHECK(cfg && cfg->naccounts == 0);
    CHECK(config_account(cfg, NULL) == NULL);
    config_free(&cfg);
}

static void test_load_file(void)
{
    struct tern_err err = {0};
    struct tern_config *cfg = NULL;
    CHECK_INT(config_load("/nonexistent/tern.conf", &cfg, &err), TERN_ENOTFOUND);
    char path[] = "/tmp/tern-config-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *text = "[account w]\naddress=a@b.c\nincoming=imap\nhost=h\npassword=pw\n";
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    chmod(path, 0600);
    memset(&err, 0, sizeof err);
    CHECK_INT(config_load(path, &cfg, &err), TERN_OK);
    config_free(&cfg);
    chmod(path, 0644);
    memset(&err, 0, sizeof err);
    CHECK_INT(config_load(path, &cfg, &err), TERN_ECONFIG);
    CHECK(strstr(err.msg, path) != NULL);
    unlink(path);
}

static void test_paths(void)
{
    struct tern_err err = {0};
    setenv("TERN_CONFIG", "/x/y.conf", 1);
    char *p = config_find_path(NULL, &err);
    CHECK_STR(p, "/x/y.conf");
    free(p);
    p = config_find_path("/explicit", &err);
    CHECK_STR(p, "/explicit");
    free(p);
    unsetenv("TERN_CONFIG");
    setenv("XDG_CONFIG_HOME", "/cfg", 1);
    p = config_find_path(NULL, &err);
    CHECK_STR(p, "/cfg/tern/config");
    free(p);
    setenv("XDG_CONFIG_HOME", "relative", 1);
    setenv("HOME", "/home/u", 1);
    p = config_find_path(NULL, &err);
    CHECK_STR(p, "/home/u/.config/tern/config");
    free(p);
    setenv("XDG_DATA_HOME", "/data", 1);
    struct tern_config *cfg = parse("[account w]\n" BASE, false, &err);
    CHECK(cfg != NULL);
    if (cfg) {
        CHECK_STR(cfg->accounts[0].data_dir, "/data/tern/w");
        CHECK_STR(cfg->accounts[0].maildir, "/data/tern/w/Maildir");
    }
    config_free(&cfg);
    cfg = parse("[account w]\n" BASE "maildir = ~/Mail\n", false, &err);
    CHECK(cfg && !strcmp(cfg->accounts[0].maildir, "/home/u/Mail"));
    config_free(&cfg);
}

int main(void)
{
    test_minimal_imap();
    test_defaults_and_ports();
    test_pop3s_port();
    test_literal_password();
    test_password_command();
    test_bad_inputs();
    test_repeated_tui_keys();
    test_nul_and_empty();
    test_load_file();
    test_paths();
    return check_done("config");
}
