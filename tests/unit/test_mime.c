/* Unit tests for core/mime: headers, addresses, dates, parameters, the
 * part tree, text selection and conversion, attachments, rendering. The
 * messages live in tests/data/mime (MIME_TEST_DATA). */
#include "core/charset/lib.h"
#include "core/mime/lib.h"
#include "check.h"
#include "check_safe.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *slurp(const char *name, size_t *len)
{
    char path[4096];
    tern_snprintf(path, sizeof path, "%s/%s", MIME_TEST_DATA, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        *len = 0;
        return NULL;
    }
    struct tbuf b;
    tbuf_init(&b, 0);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        tbuf_append(&b, tmp, n);
    fclose(f);
    *len = b.len;
    return tbuf_steal(&b);
}

static struct mime_message *load(const char *name, char **buf)
{
    size_t len;
    *buf = slurp(name, &len);
    CHECK(*buf != NULL);
    if (!*buf)
        return NULL;
    struct mime_message *m = NULL;
    struct tern_err err = {0};
    CHECK_INT(mime_parse(*buf, len, &m, &err), TERN_OK);
    return m;
}

static void test_headers(void)
{
    const char msg[] = "From sender@x Mon Jan  1 00:00:00 2024\n"
                       "Subject: one\n"
                       "X-Folded: a\r\n  b\r\n\tc\r\n"
                       "Name With Space: not a field name\n"
                       "body\n";
    struct mime_headers h;
    CHECK_INT(mime_headers_scan(msg, sizeof msg - 1, &h), TERN_OK);
    /* "Name With Space:" is not a field: the body starts there. */
    CHECK_INT(h.n, 2);
    CHECK(h.body_off == (size_t)(strstr(msg, "Name With") - msg));
    const struct mime_header *f = mime_headers_find(&h, "x-folded", 0);
    CHECK(f != NULL);
    if (f) {
        struct tbuf b;
        tbuf_init(&b, 0);
        mime_header_unfold(f->value, f->value_len, &b);
        CHECK_STR(b.data, "a  b\tc");
        tbuf_free(&b);
    }
    CHECK(mime_headers_find(&h, "subject", 1) == NULL);
    mime_headers_free(&h);
    mime_headers_free(&h); /* twice is fine */

    /* Obsolete `Name : value`, duplicates, no body. */
    const char m2[] = "Subject : first\nSubject: second\nX: 1";
    char *s = mime_header_get(m2, sizeof m2 - 1, "SUBJECT", true);
    CHECK_STR(s, "first");
    free(s);
    s = mime_header_get(m2, sizeof m2 - 1, "x", false);
    CHECK_STR(s, "1");
    free(s);
    CHECK(mime_header_get(m2, sizeof m2 - 1, "missing", false) == NULL);

    /* Blank line with CRLF ends the block. */
    const char m3[] = "A: 1\r\n\r\nB: 2\r\n";
    CHECK_INT(mime_headers_scan(m3, sizeof m3 - 1, &h), TERN_OK);
    CHECK_INT(h.n, 1);
    CHECK_INT(h.body_off, 8);
    mime_headers_free(&h);
}

static void check_addr(const struct mime_addr_list *l, size_t i, const char *name,
                       const char *addr)
{
    CHECK(i < l->n);
    if (i >= l->n)
        return;
    CHECK_STR(l->v[i].name, name);
    CHECK_STR(l->v[i].address, addr);
}

static void parse_addrs(const char *s, struct mime_addr_list *l)
{
    memset(l, 0, sizeof *l);
    CHECK_INT(mime_parse_addresses(s, strlen(s), l), TERN_OK);
}

static void test_addresses(void)
{
    struct mime_addr_list l;
    parse_addrs("\"Doe, John\" <john@example.com>, Jane <jane@x.org>", &l);
    CHECK_INT(l.n, 2);
    check_addr(&l, 0, "Doe, John", "john@example.com");
    check_addr(&l, 1, "Jane", "jane@x.org");
    mime_addr_list_free(&l);

    parse_addrs("bob@example.net (Bob Builder), plain@x", &l);
    CHECK_INT(l.n, 2);
    check_addr(&l, 0, "Bob Builder", "bob@example.net");
    check_addr(&l, 1, "", "plain@x");
    mime_addr_list_free(&l);

    parse_addrs("undisclosed-recipients:;", &l);
    CHECK_INT(l.n, 0);
    mime_addr_list_free(&l);

    parse_addrs("Team: a@x, \"B, b\" <b@x>; c@y", &l);
    CHECK_INT(l.n, 3);
    check_addr(&l, 0, "", "a@x");
    check_addr(&l, 1, "B, b", "b@x");
    check_addr(&l, 2, "", "c@y");
    mime_addr_list_free(&l);

    parse_addrs("Routed <@relay1.example,@relay2.example:user@host.example>", &l);
    check_addr(&l, 0, "Routed", "user@host.example");
    mime_addr_list_free(&l);

    parse_addrs("=?UTF-8?B?SsO8cmdlbg==?= <j@x>, \"=?utf-8?q?Ma=C3=AFa?=\" <m@x>", &l);
    check_addr(&l, 0, "J\xc3\xbcrgen", "j@x");
    check_addr(&l, 1, "Ma\xc3\xaf" "a", "m@x");
    mime_addr_list_free(&l);
    /* an encoded word in the comment that names a bare address */
    parse_addrs("bob@x (=?UTF-8?Q?B=C3=B6b?=)", &l);
    CHECK_INT(l.n, 1);
    check_addr(&l, 0, "B\xc3\xb6" "b", "bob@x");
    mime_addr_list_free(&l);

    /* Comments everywhere, obsolete spacing, escapes. */
    parse_addrs("(lead) john . doe @ example . com (John), \"a \\\"q\\\" b\" <q@x>", &l);
    CHECK_INT(l.n, 2);
    check_addr(&l, 0, "John", "john.doe@example.com");
    check_addr(&l, 1, "a \"q\" b", "q@x");
    mime_addr_list_free(&l);

    /* Empty elements and junk do not crash or invent addresses. */
    parse_addrs(",,, <>, (only a comment), ;", &l);
    CHECK_INT(l.n, 0);
    mime_addr_list_free(&l);
    parse_addrs("\"unterminated <x@y>", &l);
    CHECK_INT(l.n, 1);
    mime_addr_list_free(&l);
    parse_addrs("Raw UTF-8 \xc3\xa9l\xc3\xa8ve <\xc3\xa9l\xc3\xa8ve@example.fr>", &l);
    check_addr(&l, 0, "Raw UTF-8 \xc3\xa9l\xc3\xa8ve", "\xc3\xa9l\xc3\xa8ve@example.fr");
    mime_addr_list_free(&l);
    mime_addr_list_free(NULL);
}

static void check_date(const char *s, const char *want)
{
    time_t t = 0;
    bool ok = mime_parse_date(s, strlen(s), &t);
    char buf[32] = "";
    if (ok)
        mime_format_rfc3339(t, buf, sizeof buf);
    if (!want) {
        if (ok)
            fprintf(stderr, "date '%s' parsed as %s, want failure\n", s, buf);
        CHECK(!ok);
        return;
    }
    if (!ok)
        fprintf(stderr, "date '%s' did not parse\n", s);
    CHECK(ok);
    CHECK_STR(buf, want);
}

static void test_dates(void)
{
    check_date("Fri, 1 Mar 2024 12:00:00 +0000", "2024-03-01T12:00:00Z");
    check_date("Fri, 01 Mar 2024 13:00:00 +0100", "2024-03-01T12:00:00Z");
    check_date("1 Mar 2024 07:00 -0500", "2024-03-01T12:00:00Z");
    check_date("Fri,1 Mar 2024 12:00:00 GMT", "2024-03-01T12:00:00Z");
    check_date("  Fri ,  1   Mar   2024   12:00:00   UT  ", "2024-03-01T12:00:00Z");
    check_date("Fri, 1 Mar 24 04:00:00 PST", "2024-03-01T12:00:00Z");
    check_date("Fri, 1 Mar 24 05:00:00 PDT", "2024-03-01T12:00:00Z");
    check_date("1 Mar 2024 07:00:00 EST", "2024-03-01T12:00:00Z");
    check_date("1 Mar 2024 08:00:00 EDT", "2024-03-01T12:00:00Z");
    check_date("1 Mar 2024 06:00:00 CST", "2024-03-01T12:00:00Z");
    check_date("1 Mar 2024 05:00:00 MST", "2024-03-01T12:00:00Z");
    check_date("1 Mar 2024 12:00:00 Z", "2024-03-01T12:00:00Z");
    check_date("1 Mar 2024 12:00:00 A", "2024-03-01T12:00:00Z"); /* military: unknown = UTC */
    check_date("1 Mar 99 12:00:00 +0000", "1999-03-01T12:00:00Z");
    check_date("1 Mar 49 12:00:00 +0000", "2049-03-01T12:00:00Z");
    check_date("1 Mar 124 12:00:00 +0000", "2024-03-01T12:00:00Z");
    check_date("Fri, 1 Mar 2024 12:00:00 +0000 (UTC)", "2024-03-01T12:00:00Z");
    check_date("Fri, 1 March 2024 12:00:00 +0000", "2024-03-01T12:00:00Z");
    check_date("Fri Mar  1 12:00:00 2024", "2024-03-01T12:00:00Z"); /* asctime */
    check_date("01-Mar-2024 12:00:00 +0000", "2024-03-01T12:00:00Z");
    check_date("29 Feb 2024 23:59:59 -1200", "2024-03-01T11:59:59Z");
    check_date("Thu, 1 Jan 1970 00:00:00 +0000", "1970-01-01T00:00:00Z");
    check_date("1 Mar 2024 12:00:00 +05:30", "2024-03-01T06:30:00Z");
    /* Refused: never a made-up date. */
    check_date("", NULL);
    check_date("yesterday", NULL);
    check_date("1 Mar 2024", NULL);          /* no time */
    check_date("Mar 2024 12:00:00", NULL);   /* no day */
    check_date("30 Feb 2024 12:00:00", NULL);
    check_date("1 Foo 2024 12:00:00", NULL);
    check_date("1 Mar 2024 25:00:00", NULL);
    check_date("1 Mar 2024 12:61:00", NULL);
    check_date("1 Mar 99999 12:00:00", NULL);
    check_date("1 Mar 2024 12:00:00 +9999", NULL);
    check_date("99999999999999999999 Mar 2024 12:00:00", NULL);
    check_date("1 Mar 2024 12:00:00 +0000 junk-words-here", NULL);
    char buf[8];
    CHECK(!mime_format_rfc3339(0, buf, sizeof buf));
}

static void test_envelope(void)
{
    size_t len;
    char *buf = slurp("simple.eml", &len);
    struct mime_envelope *e = NULL;
    struct tern_err err = {0};
    CHECK_INT(mime_parse_headers(buf, len, &e, &err), TERN_OK);
    if (e) {
        CHECK_INT(e->from.n, 1);
        check_addr(&e->from, 0, "Doe, John", "john@example.com");
        CHECK_INT(e->to.n, 2);
        check_addr(&e->to, 0, "Alice", "alice@example.org");
        check_addr(&e->to, 1, "Bob Builder", "bob@example.net");
        check_addr(&e->cc, 0, "J\xc3\xbcrgen M\xc3\xbcller", "jm@example.de");
        CHECK_STR(e->subject, "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln");
        CHECK(e->date_known);
        char d[32];
        CHECK(mime_format_rfc3339(e->date, d, sizeof d));
        CHECK_STR(d, "2024-03-01T12:00:00Z");
        CHECK_STR(e->message_id, "abc.123@example.com");
        CHECK_STR(e->in_reply_to, "parent@example.com");
        CHECK_INT(e->nreferences, 2);
        if (e->nreferences == 2) {
            CHECK_STR(e->references[0], "root@example.com");
            CHECK_STR(e->references[1], "parent@example.com");
        }
        CHECK_STR(e->list_id, "list.example.com");
        CHECK_STR(e->content_type, "text/plain");
        CHECK(e->header_len > 0 && e->header_len < len);
        CHECK(!strncmp(buf + e->header_len, "Hello", 5));
    }
    mime_envelope_free(&e);
    mime_envelope_free(&e);
    CHECK(e == NULL);
    free(buf);

    /* Raw UTF-8 headers (RFC 6532), duplicate Subject, `Date :`. */
    buf = slurp("latin1.eml", &len);
    CHECK_INT(mime_parse_headers(buf, len, &e, &err), TERN_OK);
    if (e) {
        CHECK_STR(e->subject, "R\xc3\xa9sum\xc3\xa9 in raw UTF-8");
        check_addr(&e->from, 0, "Andr\xc3\xa9", "andre@example.fr");
        check_addr(&e->to, 0, "", "\xc3\xa9l\xc3\xa8ve@example.fr");
        CHECK(e->date_known);
        CHECK(e->message_id == NULL);
    }
    mime_envelope_free(&e);
    free(buf);

    /* Header-only buffer without a blank line; a broken date. */
    const char h[] = "From: a@b\nDate: not a date\nReferences: <x@y> junk <z@w>";
    CHECK_INT(mime_parse_headers(h, sizeof h - 1, &e, &err), TERN_OK);
    if (e) {
        CHECK(!e->date_known);
        CHECK_STR(e->date_raw, "not a date");
        CHECK_INT(e->nreferences, 2);
        CHECK(e->subject == NULL);
    }
    mime_envelope_free(&e);
}

static void test_tree(void)
{
    char *buf;
    struct mime_message *m = load("nested.eml", &buf);
    if (!m) {
        free(buf);
        return;
    }
    CHECK_STR(m->root->type, "multipart/mixed");
    const struct mime_part *alt = m->root->child;
    CHECK(alt && !strcmp(alt->type, "multipart/alternative"));
    const struct mime_part *plain = alt ? alt->child : NULL;
    CHECK(plain && !strcmp(plain->type, "text/plain"));
    CHECK(plain && plain->encoding == MIME_ENC_QP && !strcmp(plain->charset, "iso-8859-1"));
    const struct mime_part *rel = plain ? plain->next : NULL;
    CHECK(rel && !strcmp(rel->type, "multipart/related"));
    const struct mime_part *img = rel && rel->child ? rel->child->next : NULL;
    CHECK(img && !strcmp(img->type, "image/png") && img->content_id &&
          !strcmp(img->content_id, "logo@x"));
    /* The body is an offset range, not a copy. */
    CHECK(plain && plain->body_off + plain->body_len <= m->len &&
          !memcmp(m->buf + plain->body_off, "Caf=E9 body text.", plain->body_len));
    const struct mime_part *pdf = alt ? alt->next : NULL;
    CHECK(pdf && !strcmp(pdf->type, "application/pdf"));
    CHECK(pdf && pdf->disposition == MIME_DISP_ATTACHMENT);
    /* RFC 2231 continuation with charset and percent-encoding. */
    CHECK(pdf && pdf->filename && !strcmp(pdf->filename, "\xe2\x82\xac report 2024.pdf"));
    const struct mime_part *oct = pdf ? pdf->next : NULL;
    /* RFC 2047 inside a quoted parameter. */
    CHECK(oct && oct->filename && !strcmp(oct->filename, "\xc3\xa4\xc3\xb6\xc3\xbc.txt"));
    const struct mime_part *msg = oct ? oct->next : NULL;
    CHECK(msg && !strcmp(msg->type, "message/rfc822") && msg->env && msg->child);
    CHECK(msg && msg->env && msg->env->subject && !strcmp(msg->env->subject, "inner message"));
    CHECK(msg && msg->child && !strcmp(msg->child->type, "text/plain"));
    /* Walk: every part once. */
    size_t n = 0;
    for (const struct mime_part *p = NULL; (p = mime_part_next(m, p));)
        n++;
    CHECK_INT(n, m->nparts);
    CHECK_INT(n, 11);
    if (pdf) {
        struct tbuf b;
        tbuf_init(&b, 0);
        CHECK_INT(mime_part_decode(m, pdf, &b), TERN_OK);
        CHECK(b.len == 19 && !memcmp(b.data, "%PDF-1.4\n%\xc3\xa4", 12));
        CHECK_INT(mime_part_size(m, pdf), 19);
        tbuf_free(&b);
    }
    mime_message_free(&m);
    mime_message_free(&m);
    free(buf);

    /* Digest: parts default to message/rfc822. */
    m = load("digest.eml", &buf);
    if (m) {
        const struct mime_part *d1 = m->root->child;
        CHECK(d1 && !strcmp(d1->type, "message/rfc822") && d1->env);
        CHECK(d1 && d1->env && !strcmp(d1->env->subject, "first"));
        CHECK(d1 && d1->next && d1->next->env && !strcmp(d1->next->env->subject, "second"));
        CHECK(mime_best_text(m) == NULL);
        struct mime_attachments at;
        CHECK_INT(mime_attachments_list(m, &at), TERN_OK);
        CHECK_INT(at.n, 2);
        if (at.n == 2) {
            CHECK_STR(at.v[0].safe_name, "attachment-1.eml");
            CHECK_STR(at.v[1].safe_name, "attachment-2.eml");
        }
        mime_attachments_free(&at);
    }
    mime_message_free(&m);
    free(buf);

    /* Whitespace/junk after delimiters, no close delimiter, preamble. */
    m = load("no_close.eml", &buf);
    if (m) {
        const struct mime_part *a = m->root->child;
        CHECK(a && a->next && !a->next->next);
        CHECK(a && a->body_len == 10 && !memcmp(m->buf + a->body_off, "first part", 10));
        const struct mime_part *b = a ? a->next : NULL;
        CHECK(b && b->filename && !strcmp(b->filename, "second.txt"));
        CHECK(b && strstr(m->buf + b->body_off, "--b1-not-a-delimiter\nstill second part\n") ==
                       m->buf + b->body_off + strlen("second part\n"));
        CHECK(b && b->body_off + b->body_len == m->len);
    }
    mime_message_free(&m);
    free(buf);

    /* No Content-Type: text/plain, 8-bit guessed as UTF-8. */
    m = load("no_ct.eml", &buf);
    if (m) {
        CHECK_STR(m->root->type, "text/plain");
        CHECK(m->root->charset == NULL);
        struct tbuf t;
        tbuf_init(&t, 0);
        CHECK_INT(mime_part_text(m, m->root, NULL, &t), TERN_OK);
        CHECK_STR(t.data, "plain \xc3\xa4 body\n");
        tbuf_free(&t);
    }
    mime_message_free(&m);
    free(buf);

    /* CRLF message. */
    m = load("crlf.eml", &buf);
    if (m) {
        const struct mime_part *t1 = m->root->child;
        CHECK(t1 && t1->body_len == strlen("line one\r\nline two"));
        struct tbuf t;
        tbuf_init(&t, 0);
        CHECK_INT(mime_part_text(m, t1, NULL, &t), TERN_OK);
        CHECK_STR(t.data, "line one\nline two");
        tbuf_free(&t);
        CHECK(t1 && t1->next && mime_part_size(m, t1->next) == 6);
    }
    mime_message_free(&m);
    free(buf);
}

/* The first part of a one-part message built from a header block. */
static void check_param(const char *hdrs, const char *type, const char *filename,
                        const char *charset)
{
    struct tbuf b;
    tbuf_init(&b, 0);
    tbuf_printf(&b, "%s\n\nbody\n", hdrs);
    struct mime_message *m = NULL;
    CHECK_INT(mime_parse(b.data, b.len, &m, NULL), TERN_OK);
    if (m) {
        CHECK_STR(m->root->type, type);
        CHECK_STR(m->root->filename, filename);
        CHECK_STR(m->root->charset, charset);
    }
    mime_message_free(&m);
    tbuf_free(&b);
}

static void test_params(void)
{
    check_param("Content-Type: TEXT/HTML; CHARSET=\"UTF-8\"", "text/html", NULL, "utf-8");
    check_param("Content-Type: text", "text/plain", NULL, NULL);
    check_param("Content-Type: /x", "text/plain", NULL, NULL);
    check_param("Content-Type: text/plain; charset=us-ascii (Plain text)", "text/plain", NULL,
                "us-ascii");
    check_param("Content-Type: (comment) application/pdf (c2); name=a.pdf", "application/pdf",
                "a.pdf", NULL);
    check_param("Content-Type: application/x; name*=iso-8859-1'en'%E9t%E9.txt",
                "application/x", "\xc3\xa9t\xc3\xa9.txt", NULL);
    check_param("Content-Type: application/x; name*0=\"part one \"; name*1=two.txt",
                "application/x", "part one two.txt", NULL);
    /* continuations out of order, and a gap ends the value */
    check_param("Content-Type: application/x; name*1=\"B\"; name*0=\"A\"; name*3=\"D\"",
                "application/x", "AB", NULL);
    /* RFC 2231 wins over the plain form; disposition filename over name */
    check_param("Content-Type: application/x; name=plain.txt; name*=utf-8''ext%C3%A9.txt",
                "application/x", "ext\xc3\xa9.txt", NULL);
    check_param("Content-Type: application/x; name=from-type.txt\n"
                "Content-Disposition: attachment; filename=from-disp.txt",
                "application/x", "from-disp.txt", NULL);
    /* unquoted spaces, escaped quotes, folded parameters, empty values */
    check_param("Content-Type: application/x;\n name=my file.pdf ;charset=", "application/x",
                "my file.pdf", NULL);
    check_param("Content-Type: application/x; name=\"a \\\"q\\\" b.txt\"",
                "application/x", "a \"q\" b.txt", NULL);
    check_param("Content-Type: application/x; name=\"\"", "application/x", NULL, NULL);
    check_param("Content-Type: application/x; ;;; junk; name=\"=?UTF-8?Q?caf=C3=A9?=.txt\"",
                "application/x", "caf\xc3\xa9.txt", NULL);
    check_param("Content-Type: application/x; name=\"unterminated", "application/x",
                "unterminated", NULL);
    /* continuations without '*' holding an RFC 2047 word (quoted) */
    check_param("Content-Type: application/x; name*0=\"=?UTF-8?Q?caf=C3=A9?=\"; name*1=\".txt\"",
                "application/x", "caf\xc3\xa9.txt", NULL);
    /* a NUL decoded from %00 cannot cut the name short: U+FFFD */
    check_param("Content-Type: application/x\n"
                "Content-Disposition: attachment; filename*=utf-8''a%00b.txt",
                "application/x", "a\xef\xbf\xbd" "b.txt", NULL);
    char *sn = mime_safe_filename("a\xef\xbf\xbd" "b.txt", NULL, 1);
    CHECK_STR(sn, "a_b.txt");
    free(sn);
    /* mbox From_ line before the header */
    check_param("From someone@x Mon Jan  1 00:00:00 2024\nContent-Type: image/gif",
                "image/gif", NULL, NULL);
}

static char *part_text(struct mime_message *m, const struct mime_part *p,
                       const struct mime_text_opts *o)
{
    struct tbuf t;
    tbuf_init(&t, 0);
    CHECK(p != NULL);
    if (p)
        CHECK_INT(mime_part_text(m, p, o, &t), TERN_OK);
    return tbuf_steal(&t);
}

static void test_text(void)
{
    char *buf, *t;
    struct mime_message *m = load("alternative.eml", &buf);
    if (m) {
        const struct mime_part *b = mime_best_text(m);
        CHECK(b && !strcmp(b->type, "text/plain"));
        t = part_text(m, b, NULL);
        CHECK_STR(t, "Plain version");
        free(t);
    }
    mime_message_free(&m);
    free(buf);

    m = load("simple.eml", &buf);
    if (m) {
        t = part_text(m, mime_best_text(m), NULL);
        CHECK_STR(t, "Hello J\xc3\xbcrgen,\nthis is a soft break.\n");
        free(t);
    }
    mime_message_free(&m);
    free(buf);

    m = load("latin1.eml", &buf);
    if (m) {
        t = part_text(m, mime_best_text(m), NULL);
        CHECK_STR(t, "D\xc3\xa9j\xc3\xa0 vu\n");
        free(t);
    }
    mime_message_free(&m);
    free(buf);

    m = load("nested.eml", &buf);
    if (m) {
        const struct mime_part *b = mime_best_text(m);
        CHECK(b && !strcmp(b->type, "text/plain"));
        t = part_text(m, b, NULL);
        CHECK_STR(t, "Caf\xc3\xa9 body text.");
        free(t);
    }
    mime_message_free(&m);
    free(buf);

    m = load("flowed.eml", &buf);
    if (m) {
        t = part_text(m, mime_best_text(m), NULL);
        CHECK_STR(t, "This is a long paragraph that was wrapped.\n"
                     "> Quoted text that continues here.\n"
                     "From space-stuffed line\n"
                     "-- \nSignature\n");
        free(t);
    }
    mime_message_free(&m);
    free(buf);

    struct tbuf o;
    tbuf_init(&o, 0);
    const char fl[] = "a \nb\n>> c \n>> d\n> e \nf\n";
    CHECK_INT(mime_flowed_join(fl, sizeof fl - 1, false, &o), TERN_OK);
    CHECK_STR(o.data, "a b\n>> c d\n> e \nf\n");
    tbuf_free(&o);

    m = load("html_only.eml", &buf);
    if (m) {
        const struct mime_part *b = mime_best_text(m);
        CHECK(b && !strcmp(b->type, "text/html"));
        t = part_text(m, b, NULL);
        CHECK_STR(t, "Big News\n\n"
                     "Fish & chips <3 \xe2\x82\xac" "5 \xe2\x98\xba &bogus;\n\n"
                     "Read the article <https://example.com/a?b=1&c=2>.\n"
                     "Second line\n\n"
                     "* one\n* two\n\n"
                     "https://example.com/same\n");
        free(t);
        /* An external filter: its output is used. */
        struct mime_text_opts opts = {.html_filter = "tr a-z A-Z"};
        t = part_text(m, b, &opts);
        CHECK(strstr(t, "<H1>BIG&NBSP;NEWS</H1>") != NULL);
        free(t);
        /* A failing filter falls back to the built-in converter. */
        opts.html_filter = "exit 3";
        t = part_text(m, b, &opts);
        CHECK(!strncmp(t, "Big News\n", 9));
        free(t);
        /* A hanging filter is killed at the deadline. */
        opts.html_filter = "sleep 30";
        opts.filter_timeout_ms = 300;
        time_t t0 = time(NULL);
        t = part_text(m, b, &opts);
        CHECK(time(NULL) - t0 < 10);
        CHECK(!strncmp(t, "Big News\n", 9));
        free(t);
    }
    mime_message_free(&m);
    free(buf);

    /* Filter details. */
    tbuf_init(&o, 0);
    struct tern_err err = {0};
    CHECK_INT(mime_html_filter("cat", "abc", 3, 2000, &o, &err), TERN_OK);
    CHECK_STR(o.data, "abc");
    tbuf_reset(&o);
    /* A filter that does not read its input must not kill us (SIGPIPE). */
    size_t big = 4 << 20;
    char *lots = malloc(big);
    memset(lots, 'x', big);
    CHECK_INT(mime_html_filter("echo early", lots, big, 5000, &o, &err), TERN_OK);
    CHECK_STR(o.data, "early\n");
    free(lots);
    tbuf_reset(&o);
    CHECK_INT(mime_html_filter("yes", "", 0, 5000, &o, &err), TERN_EPROTO);
    CHECK_INT(o.len, 0);
    tern_err_clear(&err);
    CHECK_INT(mime_html_filter("false", "", 0, 5000, &o, &err), TERN_EDATA);
    tbuf_free(&o);

    /* Built-in HTML edge cases. */
    const char *html = "<div>a<b>b</b></div><div>c &lt; d &#0; &#x110000; e</div>x < y"
                       "<a href='javascript:x()'>js</a><pre>  kept\n  spacing</pre>"
                       "<SCRIPT>document.write('<p>no')</SCRIPT>end<unclosed";
    tbuf_init(&o, 0);
    CHECK_INT(mime_html_to_text(html, strlen(html), &o), TERN_OK);
    CHECK_STR(o.data, "ab\nc < d \xef\xbf\xbd \xef\xbf\xbd e\nx < yjs\n\n  kept\n  spacing\n\nend\n");
    tbuf_free(&o);
}

/* Issue 3 point 1: header variants at the envelope and rendering level. */
static void test_header_variants(void)
{
    /* duplicate From: the first one wins (a forged second cannot change it) */
    const char d[] = "From: first@example.com\nFrom: forged@evil.example\n"
                     "Subject: one\nSubject: two\n\nbody\n";
    struct mime_envelope *e = NULL;
    CHECK_INT(mime_parse_headers(d, sizeof d - 1, &e, NULL), TERN_OK);
    if (e) {
        CHECK_INT(e->from.n, 1);
        check_addr(&e->from, 0, "", "first@example.com");
        CHECK_STR(e->subject, "one");
    }
    mime_envelope_free(&e);

    /* raw 8-bit that is not UTF-8 (latin-1): windows-1252, nothing lost */
    const char l1[] = "From: Andr\xe9 <a@example.fr>\nSubject: caf\xe9 \x80 5\n\nbody\n";
    CHECK_INT(mime_parse_headers(l1, sizeof l1 - 1, &e, NULL), TERN_OK);
    if (e) {
        check_addr(&e->from, 0, "Andr\xc3\xa9", "a@example.fr");
        CHECK_STR(e->subject, "caf\xc3\xa9 \xe2\x82\xac 5");
    }
    mime_envelope_free(&e);

    /* Folding with TAB (Outlook does): the value keeps the TAB (RFC 5322
     * unfolding), and the rendered header shows it as a space, not as a
     * placeholder between the words. */
    const char f[] = "From: \"Long\r\n\tName\" <a@x>\r\nTo: b@x\r\n"
                     "Subject: Meeting about the\r\n\tquarterly report\r\n\r\nbody\r\n";
    struct mime_message *m = NULL;
    CHECK_INT(mime_parse(f, sizeof f - 1, &m, NULL), TERN_OK);
    if (m) {
        CHECK_STR(m->env->subject, "Meeting about the\tquarterly report");
        struct tbuf o;
        tbuf_init(&o, 0);
        CHECK_INT(mime_render_text(m, NULL, &o), TERN_OK);
        CHECK_STR(o.data, "From: Long Name <a@x>\nTo: b@x\n"
                          "Subject: Meeting about the quarterly report\n\nbody\n");
        tbuf_free(&o);
    }
    mime_message_free(&m);
}

static struct mime_message *parse_lit(const char *s)
{
    struct mime_message *m = NULL;
    CHECK_INT(mime_parse(s, strlen(s), &m, NULL), TERN_OK);
    return m;
}

static char *decoded(const struct mime_message *m, const struct mime_part *p)
{
    struct tbuf b;
    tbuf_init(&b, 0);
    CHECK(p != NULL);
    if (p)
        CHECK_INT(mime_part_decode(m, p, &b), TERN_OK);
    tbuf_append(&b, "", 0);
    return tbuf_steal(&b);
}

/* Issue 3 point 4: transfer encodings, unknown types, unknown multipart
 * subtypes, preamble and epilogue never shown. */
static void test_encodings_and_types(void)
{
    static const struct {
        const char *cte;
        enum mime_encoding enc;
    } ctes[] = {
        {"7bit", MIME_ENC_7BIT},
        {"7BIT (comment)", MIME_ENC_7BIT},
        {"8bit", MIME_ENC_8BIT},
        {" Binary", MIME_ENC_BINARY},
        {"Quoted-Printable", MIME_ENC_QP},
        {"BASE64", MIME_ENC_BASE64},
        {"x-uuencode", MIME_ENC_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof ctes / sizeof ctes[0]; i++) {
        struct tbuf b;
        tbuf_init(&b, 0);
        tbuf_printf(&b, "Content-Transfer-Encoding: %s\n\nx\n", ctes[i].cte);
        struct mime_message *m = NULL;
        CHECK_INT(mime_parse(b.data, b.len, &m, NULL), TERN_OK);
        CHECK(m && m->root->encoding == ctes[i].enc);
        mime_message_free(&m);
        tbuf_free(&b);
    }

    /* binary and 8bit bodies pass through byte for byte (NUL included);
     * an unknown encoding is passed through undecoded */
    static const char bin[] = "Content-Type: application/octet-stream\n"
                              "Content-Transfer-Encoding: binary\n\n\x01\x00\xff\xfe\n";
    struct mime_message *m = NULL;
    CHECK_INT(mime_parse(bin, sizeof bin - 1, &m, NULL), TERN_OK);
    if (m) {
        struct tbuf b;
        tbuf_init(&b, 0);
        CHECK_INT(mime_part_decode(m, m->root, &b), TERN_OK);
        CHECK(b.len == 5 && !memcmp(b.data, "\x01\x00\xff\xfe\n", 5));
        CHECK_INT(mime_part_size(m, m->root), 5);
        tbuf_free(&b);
    }
    mime_message_free(&m);
    m = parse_lit("Content-Transfer-Encoding: x-uuencode\n\nbegin 644 f\n=?x?=\n");
    if (m) {
        char *t = decoded(m, m->root);
        CHECK_STR(t, "begin 644 f\n=?x?=\n");
        free(t);
    }
    mime_message_free(&m);

    /* base64 with whitespace, garbage and no padding; QP with a soft break
     * and a bad escape, through a part */
    m = parse_lit("Content-Type: multipart/mixed; boundary=z\n\n"
                  "--z\nContent-Type: application/octet-stream\n"
                  "Content-Transfer-Encoding: base64\n\naGVs\n bG8g!*d29y\nbGQ\n"
                  "--z\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
                  "soft=\nbreak =ZZ caf=C3=A9\n--z--\n");
    if (m) {
        const struct mime_part *a = m->root->child;
        char *t = decoded(m, a);
        CHECK_STR(t, "hello world");
        free(t);
        CHECK(a && mime_part_size(m, a) == 11);
        t = decoded(m, a ? a->next : NULL);
        CHECK_STR(t, "softbreak =ZZ caf\xc3\xa9");
        free(t);
    }
    mime_message_free(&m);

    /* unknown types: no text to show, one attachment of that type */
    static const char *const unknown[] = {"application/x-weird", "foo/bar"};
    for (size_t i = 0; i < 2; i++) {
        struct tbuf b;
        tbuf_init(&b, 0);
        tbuf_printf(&b, "Content-Type: %s\n\nxyz\n", unknown[i]);
        m = NULL;
        CHECK_INT(mime_parse(b.data, b.len, &m, NULL), TERN_OK);
        if (m) {
            CHECK_STR(m->root->type, unknown[i]);
            CHECK(mime_best_text(m) == NULL);
            struct mime_attachments at;
            CHECK_INT(mime_attachments_list(m, &at), TERN_OK);
            CHECK_INT(at.n, 1);
            if (at.n == 1) {
                CHECK_STR(at.v[0].content_type, unknown[i]);
                CHECK_INT(at.v[0].size, 4);
                CHECK_STR(at.v[0].safe_name, "attachment-1");
            }
            mime_attachments_free(&at);
        }
        mime_message_free(&m);
        tbuf_free(&b);
    }

    /* an unknown multipart subtype is split like multipart/mixed */
    m = parse_lit("Content-Type: multipart/x-unheard-of; boundary=q\n\n"
                  "--q\nContent-Type: text/plain\n\nfirst\n"
                  "--q\nContent-Type: image/gif\n\nGIF\n--q--\n");
    if (m) {
        CHECK_INT(m->nparts, 3);
        const struct mime_part *b = mime_best_text(m);
        CHECK(b && b == m->root->child);
        char *t = decoded(m, b);
        CHECK_STR(t, "first");
        free(t);
        struct mime_attachments at;
        CHECK_INT(mime_attachments_list(m, &at), TERN_OK);
        CHECK(at.n == 1 && !strcmp(at.v[0].content_type, "image/gif"));
        mime_attachments_free(&at);
    }
    mime_message_free(&m);

    /* preamble and epilogue are never shown */
    char *buf;
    m = load("alternative.eml", &buf);
    if (m) {
        struct tbuf o;
        tbuf_init(&o, 0);
        CHECK_INT(mime_render_text(m, NULL, &o), TERN_OK);
        CHECK(o.data && strstr(o.data, "Plain version") != NULL);
        CHECK(o.data && strstr(o.data, "preamble") == NULL);
        CHECK(o.data && strstr(o.data, "epilogue") == NULL);
        tbuf_reset(&o);
        CHECK_INT(mime_render_json(m, NULL, &o), TERN_OK);
        CHECK(o.data && strstr(o.data, "preamble") == NULL);
        CHECK(o.data && strstr(o.data, "epilogue") == NULL);
        tbuf_free(&o);
    }
    mime_message_free(&m);
    free(buf);
}

static void test_filenames(void)
{
    struct {
        const char *in, *type, *want;
    } cases[] = {
        {"report.pdf", NULL, "report.pdf"},
        {"../../etc/passwd", NULL, "passwd"},
        {"C:\\Users\\x\\evil.exe", NULL, "evil.exe"},
        {"..", "application/pdf", "attachment-7.pdf"},
        {".", NULL, "attachment-7"},
        {"", "image/png", "attachment-7.png"},
        {NULL, "text/plain", "attachment-7.txt"},
        {NULL, "x-unknown/type", "attachment-7"},
        {".bashrc", NULL, "bashrc"},
        {"-rf", NULL, "rf"},
        {"..-. .hidden", NULL, "hidden"},
        {"a\x1b[31mb\x07" "c", NULL, "a_[31mb_c"},
        {"gnp\xe2\x80\xae" "exe.txt", NULL, "gnpexe.txt"},
        {"bad\xff\xfe.txt", NULL, "bad__.txt"},
        {"dir/", NULL, "attachment-7"},
        {"trailing. . ", NULL, "trailing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = mime_safe_filename(cases[i].in, cases[i].type, 7);
        CHECK_STR(s, cases[i].want);
        free(s);
    }
    /* Long names are cut on a UTF-8 boundary and keep their extension. */
    struct tbuf b;
    tbuf_init(&b, 0);
    for (int i = 0; i < 150; i++)
        tbuf_puts(&b, "\xc3\xa9");
    tbuf_puts(&b, ".pdf");
    char *s = mime_safe_filename(b.data, NULL, 1);
    CHECK(strlen(s) <= MIME_MAX_FILENAME);
    CHECK(strlen(s) >= MIME_MAX_FILENAME - 2);
    CHECK(!strcmp(s + strlen(s) - 4, ".pdf"));
    CHECK(s[strlen(s) - 5] == '\xa9'); /* last full character before ".pdf" */
    free(s);
    tbuf_free(&b);
}

static void test_attachments(void)
{
    char *buf;
    struct mime_message *m = load("nested.eml", &buf);
    if (!m) {
        free(buf);
        return;
    }
    struct mime_attachments at;
    CHECK_INT(mime_attachments_list(m, &at), TERN_OK);
    /* png (inline, related), pdf, octet, message, unnamed text */
    CHECK_INT(at.n, 5);
    if (at.n == 5) {
        CHECK_STR(at.v[0].content_type, "image/png");
        CHECK(at.v[0].filename == NULL);
        CHECK_STR(at.v[0].safe_name, "attachment-1.png");
        CHECK_INT(at.v[0].size, 8);
        CHECK_STR(at.v[1].safe_name, "\xe2\x82\xac report 2024.pdf");
        CHECK_INT(at.v[1].size, 19);
        CHECK_STR(at.v[2].safe_name, "\xc3\xa4\xc3\xb6\xc3\xbc.txt");
        CHECK_INT(at.v[2].size, strlen("raw bytes"));
        CHECK_STR(at.v[3].content_type, "message/rfc822");
        CHECK_STR(at.v[3].safe_name, "attachment-4.eml");
        CHECK_STR(at.v[4].safe_name, "attachment-5.txt");
    }

    /* Saving: O_EXCL, numbered names, symlinks never followed. */
    char dir[] = "/tmp/tern-mime-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(dfd >= 0);
    char victim[4200];
    tern_snprintf(victim, sizeof victim, "%s/victim", dir);
    FILE *vf = fopen(victim, "w");
    fputs("precious", vf);
    fclose(vf);
    CHECK(symlinkat(victim, dfd, "planted.pdf") == 0);
    struct tern_err err = {0};
    char *w1 = NULL, *w2 = NULL, *w3 = NULL;
    if (at.n == 5) {
        CHECK_INT(mime_save_part(m, at.v[1].part, dfd, "planted.pdf", &w1, &err), TERN_OK);
        CHECK_STR(w1, "planted (1).pdf");
        CHECK_INT(mime_save_part(m, at.v[1].part, dfd, "planted.pdf", &w2, &err), TERN_OK);
        CHECK_STR(w2, "planted (2).pdf");
        CHECK_INT(mime_save_part(m, at.v[0].part, dfd, "noext", &w3, &err), TERN_OK);
        CHECK_STR(w3, "noext");
        char *w4 = NULL;
        CHECK_INT(mime_save_part(m, at.v[0].part, dfd, "../escape", &w4, &err), TERN_EUSAGE);
        CHECK(w4 == NULL);
        tern_err_clear(&err);
        CHECK_INT(mime_save_part(m, at.v[0].part, dfd, "..", &w4, &err), TERN_EUSAGE);
        tern_err_clear(&err);
        free(w4);
    }
    vf = fopen(victim, "r");
    char got[32] = "";
    if (vf) {
        CHECK(fgets(got, sizeof got, vf) != NULL);
        fclose(vf);
    }
    CHECK_STR(got, "precious");
    struct stat st;
    CHECK(fstatat(dfd, "planted (1).pdf", &st, AT_SYMLINK_NOFOLLOW) == 0);
    CHECK(S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600 && st.st_size == 19);
    /* clean up */
    const char *names[] = {"planted.pdf", "planted (1).pdf", "planted (2).pdf", "noext",
                           "victim"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unlinkat(dfd, names[i], 0);
    close(dfd);
    CHECK(rmdir(dir) == 0);
    free(w1);
    free(w2);
    free(w3);
    mime_attachments_free(&at);
    mime_attachments_free(&at);
    mime_message_free(&m);
    free(buf);
}

/* JSON may spell LF as \n or \u000a: compare one spelling. */
static void json_newlines(struct tbuf *o)
{
    char *p;
    while (o->data && (p = strstr(o->data, "\\u000a"))) {
        p[1] = 'n';
        memmove(p + 2, p + 6, strlen(p + 6) + 1);
        o->len -= 4;
    }
}

static void test_render(void)
{
    char *buf;
    struct mime_message *m = load("simple.eml", &buf);
    struct tbuf o;
    tbuf_init(&o, 0);
    if (m) {
        CHECK_INT(mime_render_text(m, NULL, &o), TERN_OK);
        CHECK_STR(o.data, "From: Doe, John <john@example.com>\n"
                          "To: Alice <alice@example.org>, Bob Builder <bob@example.net>\n"
                          "Cc: J\xc3\xbcrgen M\xc3\xbcller <jm@example.de>\n"
                          "Date: Fri, 1 Mar 2024 13:00:00 +0100\n"
                          "Subject: Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln\n\n"
                          "Hello J\xc3\xbcrgen,\nthis is a soft break.\n");
        tbuf_reset(&o);
        CHECK_INT(mime_render_json(m, NULL, &o), TERN_OK);
        json_newlines(&o);
        CHECK_STR(o.data,
                  "{\"from\":[{\"name\":\"Doe, John\",\"address\":\"john@example.com\"}],"
                  "\"to\":[{\"name\":\"Alice\",\"address\":\"alice@example.org\"},"
                  "{\"name\":\"Bob Builder\",\"address\":\"bob@example.net\"}],"
                  "\"cc\":[{\"name\":\"J\xc3\xbcrgen M\xc3\xbcller\",\"address\":\"jm@example.de\"}],"
                  "\"subject\":\"Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln\","
                  "\"date\":\"2024-03-01T12:00:00Z\",\"message_id\":\"abc.123@example.com\","
                  "\"text\":\"Hello J\xc3\xbcrgen,\\nthis is a soft break.\\n\","
                  "\"attachments\":[]}");
    }
    mime_message_free(&m);
    free(buf);

    m = load("nested.eml", &buf);
    tbuf_reset(&o);
    if (m) {
        CHECK_INT(mime_render_text(m, NULL, &o), TERN_OK);
        CHECK(strstr(o.data, "\n[attachments]\n  1. attachment-1.png (image/png, 8 B)\n") != NULL);
        CHECK(strstr(o.data, "  2. \xe2\x82\xac report 2024.pdf (application/pdf, 19 B)\n") != NULL);
        tbuf_reset(&o);
        CHECK_INT(mime_render_json(m, NULL, &o), TERN_OK);
        CHECK(strstr(o.data, "{\"filename\":\"\xe2\x82\xac report 2024.pdf\","
                             "\"content_type\":\"application/pdf\",\"size\":19}") != NULL);
        CHECK(strstr(o.data, "\"date\":\"2024-03-04T17:15:30Z\"") != NULL);
    }
    mime_message_free(&m);
    free(buf);

    /* JSON for a message without Date, Subject, Message-ID, To, Cc or any
     * text: nulls and empty arrays; an unparseable Date is null too. */
    static const char *const bare[] = {
        "From: a@x\n\n",
        "From: a@x\nDate: the day after tomorrow\nContent-Type: image/png\n\nPNG",
    };
    for (size_t i = 0; i < 2; i++) {
        struct mime_message *b = NULL;
        CHECK_INT(mime_parse(bare[i], strlen(bare[i]), &b, NULL), TERN_OK);
        tbuf_reset(&o);
        if (b)
            CHECK_INT(mime_render_json(b, NULL, &o), TERN_OK);
        CHECK_STR(o.data, i == 0 ? "{\"from\":[{\"name\":\"\",\"address\":\"a@x\"}],\"to\":[],"
                                   "\"cc\":[],\"subject\":null,\"date\":null,"
                                   "\"message_id\":null,\"text\":\"\",\"attachments\":[]}"
                                 : "{\"from\":[{\"name\":\"\",\"address\":\"a@x\"}],\"to\":[],"
                                   "\"cc\":[],\"subject\":null,\"date\":null,"
                                   "\"message_id\":null,\"text\":null,\"attachments\":"
                                   "[{\"filename\":\"attachment-1.png\","
                                   "\"content_type\":\"image/png\",\"size\":3}]}");
        mime_message_free(&b);
    }

    /* Hostile: no escape, C1 or bidi control reaches the output. */
    m = load("hostile.eml", &buf);
    tbuf_reset(&o);
    if (m) {
        CHECK_INT(mime_render_text(m, NULL, &o), TERN_OK);
        CHECK(!has_unsafe(o.data, o.len));
        CHECK(strstr(o.data, "Subject: ") != NULL);
        CHECK(strstr(o.data, "gnp.exe") != NULL);
        /* the header block stays one field per line */
        CHECK(strstr(o.data, "\n]0;title") == NULL);
        tbuf_reset(&o);
        CHECK_INT(mime_render_json(m, NULL, &o), TERN_OK);
        CHECK(!has_unsafe(o.data, o.len));
        CHECK(memchr(o.data, '\n', o.len) == NULL);
        struct mime_attachments at;
        CHECK_INT(mime_attachments_list(m, &at), TERN_OK);
        CHECK_INT(at.n, 2);
        for (size_t i = 0; i < at.n; i++) {
            CHECK(!has_unsafe(at.v[i].safe_name, strlen(at.v[i].safe_name)));
            CHECK(!strchr(at.v[i].safe_name, '/'));
            CHECK(at.v[i].safe_name[0] != '.');
        }
        if (at.n == 2) {
            CHECK_STR(at.v[0].safe_name, "passwd");
            CHECK_STR(at.v[1].safe_name, "_[2Jx.sh");
        }
        mime_attachments_free(&at);
    }
    mime_message_free(&m);
    free(buf);
    tbuf_free(&o);
}

int main(void)
{
    test_headers();
    test_header_variants();
    test_addresses();
    test_dates();
    test_envelope();
    test_tree();
    test_params();
    test_text();
    test_encodings_and_types();
    test_filenames();
    test_attachments();
    test_render();
    return check_done("test-mime");
}
