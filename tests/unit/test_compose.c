/*
 * core/compose: address lists, header fields and folding, Bcc removal,
 * building messages (encodings, attachments, injection attempts) and ready
 * messages for -t (recipients, Bcc, missing fields, long lines).
 */
#include "check.h"
#include "core/codec/lib.h"
#include "core/compose/lib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Every line of a message ends in CRLF, there is no bare CR or LF, and no
 * line is longer than max. */
static bool canonical(const char *m, size_t n, size_t max)
{
    size_t col = 0;
    for (size_t i = 0; i < n; i++) {
        if (m[i] == '\r') {
            if (i + 1 >= n || m[i + 1] != '\n')
                return false;
            i++;
            col = 0;
            continue;
        }
        if (m[i] == '\n' || m[i] == '\0')
            return false;
        if (++col > max)
            return false;
    }
    return n >= 2 && m[n - 2] == '\r' && m[n - 1] == '\n';
}

/* The header block of a message, as a new string. */
static char *headers_of(const char *m)
{
    const char *e = strstr(m, "\r\n\r\n");
    return e ? strndup(m, (size_t)(e - m) + 2) : strdup(m);
}

static void test_parse_addrs(void)
{
    struct compose_addrs l = {0};
    const char *s = "alice@example.org, Bob Smith <bob@example.org>,"
                    "\"Doe, Jane\" <jane@example.org>; ";
    struct tern_err e = {0};
    /* ';' outside a group is an error */
    CHECK_INT(compose_parse_addrs(s, strlen(s), &l, &e), TERN_EDATA);
    compose_addrs_free(&l);
    s = "alice@example.org, Bob Smith <bob@example.org>,\"Doe, Jane\" <jane@example.org>,,"
        "team: c@example.org, (comment) d@example.org;, J\xc3\xb6rg <j@example.org>";
    CHECK_INT(compose_parse_addrs(s, strlen(s), &l, NULL), TERN_OK);
    CHECK_INT(l.n, 6);
    if (l.n == 6) {
        CHECK_STR(l.v[0].addr, "alice@example.org");
        CHECK(l.v[0].name == NULL);
        CHECK_STR(l.v[1].name, "Bob Smith");
        CHECK_STR(l.v[1].addr, "bob@example.org");
        CHECK_STR(l.v[2].name, "Doe, Jane");
        CHECK_STR(l.v[3].addr, "c@example.org");
        CHECK_STR(l.v[4].addr, "d@example.org");
        CHECK_STR(l.v[5].name, "J\xc3\xb6rg");
    }
    compose_addrs_free(&l);
    compose_addrs_free(&l);
    compose_addrs_free(NULL);

    static const char *bad[] = {
        "a@b.c\r\nBcc: evil@x.y",
        "a@b.c\nRCPT TO:<x@y.z>",
        "Bob <bob@example.org",
        "John a@example.org",
        "nodomain",
        "a@b.c> NOTIFY=NEVER",
        "<a@b.c\r\nRSET>",
        "\"unterminated <a@b.c>",
        "x <a@b.c> y",
        "g: a@b.c",
        "a@b.c;",
        "(open a@b.c",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(&e, 0, sizeof e);
        CHECK_INT(compose_parse_addrs(bad[i], strlen(bad[i]), &l, &e), TERN_EDATA);
        CHECK(strchr(e.msg, '\r') == NULL && strchr(e.msg, '\n') == NULL);
        compose_addrs_free(&l);
    }
    /* NUL inside the given length */
    CHECK_INT(compose_parse_addrs("a@b.c\0d", 7, &l, NULL), TERN_EDATA);
    /* empty list: nothing */
    CHECK_INT(compose_parse_addrs("", 0, &l, NULL), TERN_OK);
    CHECK_INT(l.n, 0);
    /* header mode: folding is fine, a bare line end is not */
    s = "a@example.org,\r\n b@example.org";
    CHECK_INT(compose_parse_header_addrs(s, strlen(s), &l, NULL), TERN_OK);
    CHECK_INT(l.n, 2);
    compose_addrs_free(&l);
    s = "a@example.org,\r\nb@example.org";
    CHECK_INT(compose_parse_header_addrs(s, strlen(s), &l, NULL), TERN_EDATA);
    compose_addrs_free(&l);
    s = "undisclosed-recipients:;";
    CHECK_INT(compose_parse_header_addrs(s, strlen(s), &l, NULL), TERN_OK);
    CHECK_INT(l.n, 0);
    compose_addrs_free(&l);
}

static void test_render(void)
{
    struct tbuf b;
    tbuf_init(&b, 0);
    struct compose_addr a = {NULL, "a@example.org"};
    CHECK_INT(compose_render_addr(&a, &b), TERN_OK);
    CHECK_STR(b.data, "a@example.org");
    tbuf_reset(&b);
    a.name = "Alice Example";
    compose_render_addr(&a, &b);
    CHECK_STR(b.data, "Alice Example <a@example.org>");
    tbuf_reset(&b);
    a.name = "Doe, \"J\"";
    compose_render_addr(&a, &b);
    CHECK_STR(b.data, "\"Doe, \\\"J\\\"\" <a@example.org>");
    tbuf_reset(&b);
    a.name = "J\xc3\xb6rg";
    compose_render_addr(&a, &b);
    CHECK_STR(b.data, "=?UTF-8?B?SsO2cmc=?= <a@example.org>");
    tbuf_reset(&b);
    a.name = "bad \xff";
    CHECK_INT(compose_render_addr(&a, &b), TERN_EDATA);
    tbuf_free(&b);
}

static void test_fields(void)
{
    struct tbuf b;
    tbuf_init(&b, 0);
    struct tern_err e = {0};
    CHECK_INT(compose_put_field(&b, "Subject", "hello world", true, NULL), TERN_OK);
    CHECK_STR(b.data, "Subject: hello world\r\n");
    tbuf_reset(&b);
    CHECK_INT(compose_put_field(&b, "Subject",
                                "Gr\xc3\xbc\xc3\x9f"
                                "e aus K\xc3\xb6ln",
                                true, NULL),
              TERN_OK);
    CHECK_STR(b.data, "Subject: =?UTF-8?B?R3LDvMOfZQ==?= aus =?UTF-8?B?S8O2bG4=?=\r\n");
    tbuf_reset(&b);
    /* adjacent non-ASCII words share one run so the blank survives */
    CHECK_INT(compose_put_field(&b, "Subject", "\xc3\xa4 \xc3\xb6", true, NULL), TERN_OK);
    CHECK_STR(b.data, "Subject: =?UTF-8?B?w6Qgw7Y=?=\r\n");
    tbuf_reset(&b);
    CHECK_INT(compose_put_field(&b, "Subject", "x\r\nBcc: evil@example.org", true, &e), TERN_EDATA);
    CHECK_INT(compose_put_field(&b, "Subject", "x\nBcc: y", true, NULL), TERN_EDATA);
    CHECK_INT(compose_put_field(&b, "Subject", "x\rBcc: y", true, NULL), TERN_EDATA);
    CHECK_INT(compose_put_field(&b, "Bad Name", "x", true, NULL), TERN_EDATA);
    CHECK_INT(compose_put_field(&b, "Subject", "\xff", true, NULL), TERN_EDATA);
    CHECK(b.len == 0);
    /* a long subject folds under 78 columns; unfolding gives it back */
    char lng[3000];
    size_t o = 0;
    while (o + 6 < 2000) {
        memcpy(lng + o, "word ", 5);
        o += 5;
    }
    lng[o - 1] = '\0';
    CHECK_INT(compose_put_field(&b, "Subject", lng, true, NULL), TERN_OK);
    CHECK(canonical(b.data, b.len, 78));
    struct tbuf u;
    tbuf_init(&u, 0);
    for (size_t i = 0; i < b.len; i++)
        if (!(b.data[i] == '\r' && b.data[i + 1] == '\n' &&
              (b.data[i + 2] == ' ' || !b.data[i + 2])))
            tbuf_putc(&u, b.data[i]);
        else
            i++;
    CHECK(u.len == strlen(lng) + 9);
    CHECK(u.data && !strcmp(u.data + 9, lng));
    tbuf_free(&u);
    /* a 2000-character word: encoded, so it folds too */
    tbuf_reset(&b);
    memset(lng, 'x', 2000);
    lng[2000] = '\0';
    CHECK_INT(compose_put_field(&b, "Subject", lng, true, NULL), TERN_OK);
    CHECK(canonical(b.data, b.len, 78));
    /* structured: cannot fold a 2000-char word */
    tbuf_reset(&b);
    CHECK_INT(compose_put_field(&b, "X-Thing", lng, false, NULL), TERN_EDATA);
    tbuf_free(&b);

    char d[64];
    setenv("TZ", "UTC", 1);
    tzset();
    CHECK(compose_date(1700000000, d, sizeof d));
    CHECK_STR(d, "Tue, 14 Nov 2023 22:13:20 +0000");
    setenv("TZ", "CET-1", 1);
    tzset();
    CHECK(compose_date(1700000000, d, sizeof d));
    CHECK_STR(d, "Tue, 14 Nov 2023 23:13:20 +0100");
    CHECK(!compose_date(1700000000, d, 10));

    char id1[300], id2[300];
    CHECK_INT(compose_message_id("example.org", 1700000000, id1, sizeof id1, NULL), TERN_OK);
    CHECK_INT(compose_message_id("example.org", 1700000000, id2, sizeof id2, NULL), TERN_OK);
    CHECK(strcmp(id1, id2) != 0);
    CHECK(!strncmp(id1, "<20231114221320.", 16));
    CHECK(strlen(id1) == 16 + 32 + 13);
    CHECK(!strcmp(id1 + strlen(id1) - 13, "@example.org>"));
    CHECK_INT(compose_message_id("ev>il\r\n", 1700000000, id1, sizeof id1, NULL), TERN_OK);
    CHECK(strstr(id1, "@localhost>") != NULL);
}

static void test_strip_bcc(void)
{
    const char *m = "From: a@example.org\r\nBcc: x@example.org,\r\n y@example.org\r\n"
                    "To: b@example.org\r\nRESENT-BCC : z@example.org\r\nBccx: keep\r\n"
                    "\r\nBcc: in the body stays\r\n";
    struct tbuf b;
    tbuf_init(&b, 0);
    CHECK_INT(compose_strip_bcc(m, strlen(m), &b, NULL), TERN_OK);
    CHECK_STR(b.data, "From: a@example.org\r\nTo: b@example.org\r\nBccx: keep\r\n"
                      "\r\nBcc: in the body stays\r\n");
    tbuf_free(&b);
}

static const struct compose_addr me = {"Alice", "alice@example.org"};

static void test_build_simple(void)
{
    struct compose_addrs to = {0}, cc = {0}, bcc = {0};
    compose_parse_addrs("Bob <bob@example.org>", 21, &to, NULL);
    compose_parse_addrs("carol@example.org, bob@example.org", 34, &cc, NULL);
    compose_parse_addrs("dave@example.org", 16, &bcc, NULL);
    const char *hdrs[] = {"X-Mailer-Test: yes", "In-Reply-To: <x@y>"};
    const char *body = "Hello Bob,\n.\n.leading dot\nbye\n";
    struct compose_opts o = {.from = &me,
                             .to = &to,
                             .cc = &cc,
                             .bcc = &bcc,
                             .subject = "Test",
                             .headers = hdrs,
                             .nheaders = 2,
                             .body = body,
                             .body_len = strlen(body),
                             .msgid_domain = "example.org",
                             .now = 1700000000};
    struct compose_msg m;
    CHECK_INT(compose_build(&o, &m, NULL), TERN_OK);
    CHECK(canonical(m.data.data, m.data.len, 998));
    CHECK_INT(m.nrcpts, 3);
    if (m.nrcpts == 3) {
        CHECK_STR(m.rcpts[0], "bob@example.org");
        CHECK_STR(m.rcpts[1], "carol@example.org");
        CHECK_STR(m.rcpts[2], "dave@example.org");
    }
    char *h = headers_of(m.data.data);
    CHECK(strstr(h, "\r\nFrom: Alice <alice@example.org>\r\n") != NULL);
    CHECK(strstr(h, "\r\nTo: Bob <bob@example.org>\r\n") != NULL);
    CHECK(strstr(h, "\r\nCc: carol@example.org, bob@example.org\r\n") != NULL);
    CHECK(strstr(h, "\r\nBcc: dave@example.org\r\n") != NULL);
    CHECK(strstr(h, "\r\nSubject: Test\r\n") != NULL);
    CHECK(strstr(h, "\r\nMessage-ID: <20231114221320.") != NULL);
    CHECK(strstr(h, "\r\nX-Mailer-Test: yes\r\nIn-Reply-To: <x@y>\r\n") != NULL);
    CHECK(strstr(h, "\r\nMIME-Version: 1.0\r\n") != NULL);
    CHECK(strstr(h, "Content-Transfer-Encoding: 7bit\r\n") != NULL);
    CHECK(!strncmp(h, "Date: ", 6));
    free(h);
    CHECK(strstr(m.data.data, "\r\n\r\nHello Bob,\r\n.\r\n.leading dot\r\nbye\r\n") != NULL);
    /* the transmitted form loses Bcc only */
    struct tbuf t;
    tbuf_init(&t, 0);
    compose_strip_bcc(m.data.data, m.data.len, &t, NULL);
    CHECK(strstr(t.data, "dave@") == NULL);
    CHECK(t.len == m.data.len - strlen("Bcc: dave@example.org\r\n"));
    tbuf_free(&t);
    compose_msg_free(&m);
    compose_msg_free(&m);
    compose_addrs_free(&to);
    compose_addrs_free(&cc);
    compose_addrs_free(&bcc);
}

static void test_build_encodings(void)
{
    struct compose_addrs to = {0};
    const char *jm = "J\xc3\xb6rg M\xc3\xbcller <j@example.org>";
    CHECK_INT(compose_parse_addrs(jm, strlen(jm), &to, NULL), TERN_OK);
    /* UTF-8 text, a 2000-character line, trailing blanks, "From " */
    struct tbuf body;
    tbuf_init(&body, 0);
    tbuf_puts(&body, "Gr\xc3\xbc\xc3\x9f"
                     "e\nFrom here  \n");
    for (int i = 0; i < 2000; i++)
        tbuf_putc(&body, (char)('a' + i % 26));
    tbuf_puts(&body, "\nend");
    struct compose_opts o = {.from = &me,
                             .to = &to,
                             .subject = "\xc3\x9c"
                                        "ber",
                             .body = body.data,
                             .body_len = body.len,
                             .msgid_domain = "example.org"};
    struct compose_msg m;
    CHECK_INT(compose_build(&o, &m, NULL), TERN_OK);
    CHECK(canonical(m.data.data, m.data.len, 76));
    CHECK(strstr(m.data.data, "Content-Transfer-Encoding: quoted-printable\r\n") != NULL);
    CHECK(strstr(m.data.data, "\r\nTo: =?UTF-8?B?") != NULL);
    CHECK(strstr(m.data.data, "Subject: =?UTF-8?B?w5xiZXI=?=\r\n") != NULL);
    /* decoding the body gives the text back, line ends as CRLF */
    const char *b = strstr(m.data.data, "\r\n\r\n") + 4;
    struct tbuf dec;
    tbuf_init(&dec, 0);
    qp_decode(b, strlen(b), &dec);
    struct tbuf want;
    tbuf_init(&want, 0);
    for (size_t i = 0; i < body.len; i++) {
        if (body.data[i] == '\n')
            tbuf_putc(&want, '\r');
        tbuf_putc(&want, body.data[i]);
    }
    /* QP decoding drops trailing blanks only when they were not encoded */
    CHECK(dec.len >= want.len - 0 && !memcmp(dec.data, want.data, want.len));
    tbuf_free(&dec);
    tbuf_free(&want);
    compose_msg_free(&m);

    /* invalid UTF-8 in the body is read as windows-1252 */
    o.body = "caf\xe9\n";
    o.body_len = 5;
    CHECK_INT(compose_build(&o, &m, NULL), TERN_OK);
    CHECK(strstr(m.data.data, "caf=C3=A9") != NULL);
    compose_msg_free(&m);
    tbuf_free(&body);
    compose_addrs_free(&to);
}

static void test_build_hostile(void)
{
    struct compose_addrs to = {0};
    compose_parse_addrs("bob@example.org", 15, &to, NULL);
    struct compose_opts o = {
        .from = &me, .to = &to, .body = "x", .body_len = 1, .msgid_domain = "example.org"};
    struct compose_msg m;
    struct tern_err e = {0};
    o.subject = "hi\r\nBcc: evil@example.org";
    CHECK_INT(compose_build(&o, &m, &e), TERN_EDATA);
    CHECK(m.data.len == 0);
    o.subject = "hi";
    const char *h1[] = {"X-A: ok\r\nBcc: evil@example.org"};
    o.headers = h1;
    o.nheaders = 1;
    CHECK_INT(compose_build(&o, &m, NULL), TERN_EDATA);
    const char *h2[] = {"X-A: ok\nRCPT TO:<evil@example.org>"};
    o.headers = h2;
    CHECK_INT(compose_build(&o, &m, NULL), TERN_EDATA);
    const char *h3[] = {"Bcc: evil@example.org"};
    o.headers = h3;
    CHECK_INT(compose_build(&o, &m, NULL), TERN_EUSAGE);
    const char *h4[] = {"Content-Type: text/html"};
    o.headers = h4;
    CHECK_INT(compose_build(&o, &m, NULL), TERN_EUSAGE);
    const char *h5[] = {"no colon"};
    o.headers = h5;
    CHECK_INT(compose_build(&o, &m, NULL), TERN_EUSAGE);
    o.nheaders = 0;
    o.body = "a\0b";
    o.body_len = 3;
    CHECK_INT(compose_build(&o, &m, NULL), TERN_EDATA);
    o.body = "x";
    o.body_len = 1;
    const char *missing[] = {"/nonexistent/file.pdf"};
    o.attach = missing;
    o.nattach = 1;
    memset(&e, 0, sizeof e);
    CHECK_INT(compose_build(&o, &m, &e), TERN_ENOTFOUND);
    CHECK(strstr(e.msg, "/nonexistent/file.pdf") != NULL);
    o.nattach = 0;
    struct compose_addrs none = {0};
    o.to = &none;
    CHECK_INT(compose_build(&o, &m, NULL), TERN_EUSAGE);
    compose_addrs_free(&to);
}

static void test_build_attach(void)
{
    char dir[] = "/tmp/tern-compose-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char p1[256], p2[256];
    snprintf(p1, sizeof p1, "%s/r\xc3\xa9sum\xc3\xa9 final.pdf", dir);
    snprintf(p2, sizeof p2, "%s/data.bin", dir);
    FILE *f = fopen(p1, "w");
    fputs("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n", f);
    fclose(f);
    unsigned char bin[3000];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)(i * 7 + 3);
    f = fopen(p2, "wb");
    fwrite(bin, 1, sizeof bin, f);
    fclose(f);
    struct compose_addrs to = {0};
    compose_parse_addrs("bob@example.org", 15, &to, NULL);
    const char *att[] = {p1, p2};
    struct compose_opts o = {.from = &me,
                             .to = &to,
                             .subject = "files",
                             .body = "see attached\n",
                             .body_len = 13,
                             .attach = att,
                             .nattach = 2,
                             .msgid_domain = "example.org"};
    struct compose_msg m;
    CHECK_INT(compose_build(&o, &m, NULL), TERN_OK);
    CHECK(canonical(m.data.data, m.data.len, 78));
    CHECK(strstr(m.data.data, "Content-Type: multipart/mixed;\r\n boundary=\"=_tern_") != NULL);
    CHECK(strstr(m.data.data, "Content-Type: application/pdf;") != NULL);
    CHECK(strstr(m.data.data, "filename*=utf-8''r%C3%A9sum%C3%A9%20final.pdf") != NULL);
    CHECK(strstr(m.data.data, "filename=\"data.bin\"") != NULL);
    CHECK(strstr(m.data.data, "see attached\r\n") != NULL);
    /* the second attachment decodes to the original bytes */
    const char *p = strstr(m.data.data, "filename=\"data.bin\"");
    p = p ? strstr(p, "\r\n\r\n") : NULL;
    const char *end = p ? strstr(p + 4, "\r\n--=_tern_") : NULL;
    CHECK(p && end);
    if (p && end) {
        struct tbuf dec;
        tbuf_init(&dec, 0);
        base64_decode(p + 4, (size_t)(end - p - 4), &dec);
        CHECK(dec.len == sizeof bin && !memcmp(dec.data, bin, sizeof bin));
        tbuf_free(&dec);
    }
    size_t n = m.data.len;
    CHECK(n > 20 && !memcmp(m.data.data + n - 4, "--\r\n", 4));
    compose_msg_free(&m);
    /* unreadable */
    chmod(p2, 0);
    if (geteuid() != 0) {
        CHECK_INT(compose_build(&o, &m, NULL), TERN_ENOTFOUND);
    }
    /* a directory */
    att[1] = dir;
    CHECK_INT(compose_build(&o, &m, NULL), TERN_ENOTFOUND);
    unlink(p1);
    unlink(p2);
    rmdir(dir);
    compose_addrs_free(&to);
}

static void test_ready(void)
{
    const char *in = "From alice@example.org Mon Jan  1 00:00:00 2024\n"
                     "From: Alice <alice@example.org>\n"
                     "To: Bob <bob@example.org>, team: c@example.org;\n"
                     "Cc: carol@example.org\n"
                     "Bcc: secret@example.org,\n"
                     "  secret2@example.org\n"
                     "Subject: ready\n"
                     "\n"
                     "..already stuffed? no: two dots\n"
                     ".\n"
                     "after the dot\n";
    const char *args[] = {"extra@example.org", "bob@example.org"};
    struct compose_ready_opts o = {.extract = true,
                                   .dot_ends = false,
                                   .rcpts = args,
                                   .nrcpts = 2,
                                   .from = &me,
                                   .msgid_domain = "example.org",
                                   .now = 1700000000};
    struct compose_msg m;
    CHECK_INT(compose_ready(in, strlen(in), &o, &m, NULL), TERN_OK);
    CHECK_INT(m.nrcpts, 6);
    if (m.nrcpts == 6) {
        CHECK_STR(m.rcpts[0], "bob@example.org");
        CHECK_STR(m.rcpts[1], "c@example.org");
        CHECK_STR(m.rcpts[2], "carol@example.org");
        CHECK_STR(m.rcpts[3], "secret@example.org");
        CHECK_STR(m.rcpts[4], "secret2@example.org");
        CHECK_STR(m.rcpts[5], "extra@example.org");
    }
    CHECK(canonical(m.data.data, m.data.len, 998));
    CHECK(!strncmp(m.data.data, "Date: ", 6));
    CHECK(strstr(m.data.data, "From alice") == NULL);
    CHECK(strstr(m.data.data, "\r\nMessage-ID: <") != NULL);
    CHECK(strstr(m.data.data, "Bcc: secret@example.org,\r\n  secret2@example.org\r\n") != NULL);
    CHECK(strstr(m.data.data,
                 "\r\n\r\n..already stuffed? no: two dots\r\n.\r\nafter the dot\r\n") != NULL);
    compose_msg_free(&m);

    /* without -i the lone dot ends the input; no -t: only the arguments */
    o.dot_ends = true;
    o.extract = false;
    CHECK_INT(compose_ready(in, strlen(in), &o, &m, NULL), TERN_OK);
    CHECK_INT(m.nrcpts, 2);
    CHECK(strstr(m.data.data, "after the dot") == NULL);
    compose_msg_free(&m);

    /* Resent- fields take over */
    const char *rs = "Resent-To: r@example.org\nTo: t@example.org\nFrom: x@example.org\n"
                     "Date: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <a@b>\n\nbody";
    o.extract = true;
    o.nrcpts = 0;
    CHECK_INT(compose_ready(rs, strlen(rs), &o, &m, NULL), TERN_OK);
    CHECK_INT(m.nrcpts, 1);
    if (m.nrcpts)
        CHECK_STR(m.rcpts[0], "r@example.org");
    /* nothing added when present */
    CHECK(!strncmp(m.data.data, "Resent-To: r@example.org\r\n", 26));
    CHECK(strstr(m.data.data, "Alice") == NULL);
    compose_msg_free(&m);

    /* no From: added from the account */
    const char *nf = "To: t@example.org\n\nhi\n";
    CHECK_INT(compose_ready(nf, strlen(nf), &o, &m, NULL), TERN_OK);
    CHECK(strstr(m.data.data, "\r\nFrom: Alice <alice@example.org>\r\n") != NULL);
    compose_msg_free(&m);

    /* no recipients */
    const char *nr = "Subject: x\n\nhi\n";
    CHECK_INT(compose_ready(nr, strlen(nr), &o, &m, NULL), TERN_EUSAGE);
    /* bad recipient in the header */
    const char *br = "To: bob\n\nhi\n";
    CHECK_INT(compose_ready(br, strlen(br), &o, &m, NULL), TERN_EDATA);
    /* NUL */
    CHECK_INT(compose_ready("To: a@b.c\n\n\0", 12, &o, &m, NULL), TERN_EDATA);
    /* an argument with CR/LF */
    const char *evil[] = {"a@example.org\r\nRSET"};
    o.rcpts = evil;
    o.nrcpts = 1;
    CHECK_INT(compose_ready(nf, strlen(nf), &o, &m, NULL), TERN_EDATA);
    o.nrcpts = 0;
}

/* A bare CR must not end a header field: "Subject: hi\rBcc: x" would add a
 * blind copy the writer's LF filter never saw. In the body it is only a
 * line end to normalise. */
static void test_ready_bare_cr(void)
{
    struct compose_ready_opts o = {.extract = true, .from = &me, .msgid_domain = "example.org"};
    struct compose_msg m;
    struct tern_err e = {0};
    static const char *bad[] = {
        "To: a@example.org\nSubject: hi\rBcc: evil@example.org\n\nhi\n",
        "To: a@example.org\rRCPT TO:<evil@example.org>\n\nhi\n",
        "To: a@example.org\nCc: c@example.org\revil@example.org\n\nhi\n",
        "To: a@example.org\nBcc: b@example.org\rRSET\n\nhi\n",
        "From me@x Mon Jan  1 00:00:00 2024\rBcc: evil@example.org\nTo: a@example.org\n\nhi\n",
        "To: a@example.org\nSubject: folded\n more\rBcc: evil@example.org\n\nhi\n",
        "To: a@example.org\r\nSubject: x\r\n\rBcc: evil@example.org\r\nhi\r\n",
        "To: a@example.org\nSubject: at the end\r",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(&e, 0, sizeof e);
        CHECK_INT(compose_ready(bad[i], strlen(bad[i]), &o, &m, &e), TERN_EDATA);
        CHECK(strstr(e.msg, "bare CR") != NULL);
        CHECK(m.nrcpts == 0 && m.data.len == 0);
        compose_msg_free(&m);
    }
    /* NUL in the header too */
    static const char nul[] = "To: a@example.org\nSubject: hi\0Bcc: evil@example.org\n\nhi\n";
    CHECK_INT(compose_ready(nul, sizeof nul - 1, &o, &m, NULL), TERN_EDATA);
    compose_msg_free(&m);

    /* CRLF and LF headers are fine; bare CRs in the body become CRLF */
    const char *ok = "To: a@example.org\r\nSubject: ok\n\nbare\rcr inside\nand at end\r";
    CHECK_INT(compose_ready(ok, strlen(ok), &o, &m, NULL), TERN_OK);
    CHECK_INT(m.nrcpts, 1);
    CHECK(canonical(m.data.data, m.data.len, 998));
    CHECK(strstr(m.data.data, "\r\n\r\nbare\r\ncr inside\r\nand at end\r\n") != NULL);
    compose_msg_free(&m);
    /* no blank line: the first non-field line starts the body, and its CR
     * is a body line end */
    const char *nb = "To: a@example.org\nbody line\rsecond\n";
    CHECK_INT(compose_ready(nb, strlen(nb), &o, &m, NULL), TERN_OK);
    CHECK(m.data.data && strstr(m.data.data, "body line\r\nsecond\r\n") != NULL);
    compose_msg_free(&m);
    /* the sender lookup does not read past a bare CR either */
    CHECK(compose_from_address("Subject: x\rFrom: e@example.org\n\n", 32) == NULL);
}

static void test_ready_long_lines(void)
{
    struct tbuf in;
    tbuf_init(&in, 0);
    tbuf_puts(&in, "To: t@example.org\nSubject: long\nX-Long: ");
    for (int i = 0; i < 300; i++)
        tbuf_puts(&in, "abcd ");
    tbuf_puts(&in, "\n\nshort\n");
    for (int i = 0; i < 2000; i++)
        tbuf_putc(&in, (char)('0' + i % 10));
    tbuf_puts(&in, "\n");
    struct compose_ready_opts o = {.extract = true, .from = &me, .msgid_domain = "example.org"};
    struct compose_msg m;
    CHECK_INT(compose_ready(in.data, in.len, &o, &m, NULL), TERN_OK);
    CHECK(canonical(m.data.data, m.data.len, 998));
    CHECK(strstr(m.data.data, "Content-Transfer-Encoding: quoted-printable\r\n") != NULL);
    CHECK(strstr(m.data.data, "Content-Type: text/plain; charset=utf-8\r\n") != NULL);
    CHECK(strstr(m.data.data, "MIME-Version: 1.0\r\n") != NULL);
    const char *b = strstr(m.data.data, "\r\n\r\n") + 4;
    struct tbuf dec;
    tbuf_init(&dec, 0);
    qp_decode(b, strlen(b), &dec);
    CHECK(dec.len == 2000 + 9 && !memcmp(dec.data, "short\r\n0123456789", 17));
    tbuf_free(&dec);
    compose_msg_free(&m);
    tbuf_free(&in);

    /* multipart with a long line: refused, never cut */
    tbuf_init(&in, 0);
    tbuf_puts(&in, "To: t@example.org\nContent-Type: multipart/mixed; boundary=x\n\n--x\n\n");
    for (int i = 0; i < 1200; i++)
        tbuf_putc(&in, 'y');
    tbuf_puts(&in, "\n--x--\n");
    CHECK_INT(compose_ready(in.data, in.len, &o, &m, NULL), TERN_EDATA);
    tbuf_free(&in);
}

static void test_from_address(void)
{
    const char *m = "Subject: x\r\nFrom: \"Bob\" <bob@example.org>\r\n\r\nFrom: no@x.y\r\n";
    char *a = compose_from_address(m, strlen(m));
    CHECK_STR(a, "bob@example.org");
    free(a);
    CHECK(compose_from_address("Subject: x\r\n\r\n", 14) == NULL);
}

int main(void)
{
    test_parse_addrs();
    test_render();
    test_fields();
    test_strip_bcc();
    test_build_simple();
    test_build_encodings();
    test_build_hostile();
    test_build_attach();
    test_ready();
    test_ready_bare_cr();
    test_ready_long_lines();
    test_from_address();
    return check_done("test-compose");
}
