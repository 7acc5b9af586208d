/* Hostile messages: huge and deep inputs must be parsed in bounded time
 * and memory without a crash, and nothing unsafe may reach the rendered
 * output. Each case is built here, so the repository holds no 10 MB files. */
#include "core/charset/lib.h"
#include "core/mime/lib.h"
#include "check.h"
#include "check_safe.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Parse, render both ways, list attachments; check safety and time. */
static void full_cycle(const char *what, const char *buf, size_t len, double max_seconds)
{
    double t0 = now();
    struct mime_message *m = NULL;
    struct tern_err err = {0};
    CHECK_INT(mime_parse(buf, len, &m, &err), TERN_OK);
    if (!m)
        return;
    struct tbuf o;
    tbuf_init(&o, 0);
    CHECK_INT(mime_render_text(m, NULL, &o), TERN_OK);
    CHECK(!has_unsafe(o.data ? o.data : "", o.len));
    tbuf_reset(&o);
    CHECK_INT(mime_render_json(m, NULL, &o), TERN_OK);
    CHECK(!has_unsafe(o.data ? o.data : "", o.len));
    struct mime_attachments at;
    CHECK_INT(mime_attachments_list(m, &at), TERN_OK);
    for (size_t i = 0; i < at.n; i++)
        CHECK(!strchr(at.v[i].safe_name, '/'));
    mime_attachments_free(&at);
    tbuf_free(&o);
    mime_message_free(&m);
    double dt = now() - t0;
    printf("%s: %.3f s\n", what, dt);
    if (dt > max_seconds)
        fprintf(stderr, "%s took %.2f s (limit %.0f)\n", what, dt, max_seconds);
    CHECK(dt <= max_seconds);
}

static void test_many_headers(void)
{
    struct tbuf b;
    tbuf_init(&b, 0);
    for (int i = 0; i < 10000; i++)
        tbuf_printf(&b, "X-Header-%d: value %d\n", i, i);
    tbuf_puts(&b, "Subject: after ten thousand\n\nbody\n");
    struct mime_headers h;
    CHECK_INT(mime_headers_scan(b.data, b.len, &h), TERN_OK);
    CHECK_INT(h.n, MIME_MAX_HEADERS);
    CHECK(h.truncated);
    CHECK(!strcmp(b.data + h.body_off, "body\n"));
    mime_headers_free(&h);
    struct mime_envelope *e = NULL;
    CHECK_INT(mime_parse_headers(b.data, b.len, &e, NULL), TERN_OK);
    CHECK(e && e->truncated && e->subject == NULL); /* beyond the cap: ignored */
    mime_envelope_free(&e);
    full_cycle("10,000 headers", b.data, b.len, 5);
    tbuf_free(&b);
}

static void test_huge_line(void)
{
    size_t big = 10u << 20;
    struct tbuf b;
    tbuf_init(&b, 0);
    tbuf_puts(&b, "From: a@example.com\nX-Huge: ");
    char *line = malloc(big);
    memset(line, 'A', big);
    tbuf_append(&b, line, big);
    tbuf_puts(&b, "\nSubject: =?UTF-8?B?");
    /* a 10 MB Subject too, as one encoded word */
    memset(line, 'Q', big);
    tbuf_append(&b, line, big);
    tbuf_puts(&b, "?=\nTo: ");
    for (int i = 0; i < 200000; i++)
        tbuf_puts(&b, "a@b,");
    tbuf_puts(&b, "\n\nbody\n");
    free(line);
    struct mime_envelope *e = NULL;
    double t0 = now();
    CHECK_INT(mime_parse_headers(b.data, b.len, &e, NULL), TERN_OK);
    CHECK(now() - t0 < 5);
    CHECK(e && e->from.n == 1 && e->truncated);
    mime_envelope_free(&e);
    full_cycle("10 MB header lines", b.data, b.len, 10);
    tbuf_free(&b);

    /* A 10 MB address list within the cap is capped in count. */
    tbuf_init(&b, 0);
    tbuf_puts(&b, "To: ");
    for (int i = 0; i < 50000; i++)
        tbuf_puts(&b, "\"x, y\" <a@b>, ");
    tbuf_puts(&b, "\n\n");
    CHECK_INT(mime_parse_headers(b.data, b.len, &e, NULL), TERN_OK);
    CHECK(e && e->to.n == MIME_MAX_ADDRESSES);
    mime_envelope_free(&e);
    tbuf_free(&b);
}

static void test_deep_nesting(void)
{
    struct tbuf b;
    tbuf_init(&b, 0);
    tbuf_puts(&b, "Subject: deep\n");
    for (int i = 0; i < 100; i++)
        tbuf_printf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\n", i, i);
    tbuf_puts(&b, "Content-Type: text/plain\n\ninnermost\n");
    for (int i = 99; i >= 0; i--)
        tbuf_printf(&b, "--b%d--\n", i);
    struct mime_message *m = NULL;
    CHECK_INT(mime_parse(b.data, b.len, &m, NULL), TERN_OK);
    if (m) {
        unsigned maxd = 0;
        bool opaque = false;
        for (const struct mime_part *p = NULL; (p = mime_part_next(m, p));) {
            if (p->depth > maxd)
                maxd = p->depth;
            opaque |= p->opaque;
        }
        CHECK(maxd == MIME_MAX_DEPTH);
        CHECK(opaque);
    }
    mime_message_free(&m);
    full_cycle("100-level multipart", b.data, b.len, 5);
    tbuf_free(&b);

    /* message/rfc822 inside message/rfc822, 100 deep */
    tbuf_init(&b, 0);
    for (int i = 0; i < 100; i++)
        tbuf_printf(&b, "Subject: level %d\nContent-Type: message/rfc822\n\n", i);
    tbuf_puts(&b, "Subject: bottom\n\nbottom body\n");
    full_cycle("100-level message/rfc822", b.data, b.len, 5);
    tbuf_free(&b);

    /* The same boundary at every level (every line is a delimiter for
     * everyone) and thousands of empty parts. */
    tbuf_init(&b, 0);
    tbuf_puts(&b, "Content-Type: multipart/mixed; boundary=x\n\n");
    for (int i = 0; i < 20000; i++)
        tbuf_puts(&b, "--x\nContent-Type: multipart/mixed; boundary=x\n\n");
    full_cycle("same boundary, 20,000 levels", b.data, b.len, 10);
    tbuf_free(&b);

    tbuf_init(&b, 0);
    tbuf_puts(&b, "Content-Type: multipart/mixed; boundary=x\n\n");
    for (int i = 0; i < 100000; i++)
        tbuf_puts(&b, "--x\n\n");
    struct mime_message *m2 = NULL;
    CHECK_INT(mime_parse(b.data, b.len, &m2, NULL), TERN_OK);
    CHECK(m2 && m2->nparts <= MIME_MAX_PARTS);
    mime_message_free(&m2);
    full_cycle("100,000 parts", b.data, b.len, 10);
    tbuf_free(&b);
}

static void test_nuls_and_binary(void)
{
    const char msg[] = "From: a\0b <x\0y@z>\nSubject: nul\0here\n"
                       "Content-Type: multipart/mixed; boundary=\"q\0r\"\n\n"
                       "--q\0r\nContent-Type: text/plain\n\nbo\0dy\x1b[2J\n--q\0r--\n";
    full_cycle("NULs", msg, sizeof msg - 1, 2);
    struct mime_envelope *e = NULL;
    CHECK_INT(mime_parse_headers(msg, sizeof msg - 1, &e, NULL), TERN_OK);
    CHECK(e && e->subject && strlen(e->subject) > 4); /* NUL became U+FFFD, not the end */
    mime_envelope_free(&e);

    /* Every byte value, as a message. */
    char all[256 * 4];
    for (int i = 0; i < (int)sizeof all; i++)
        all[i] = (char)(i * 7);
    full_cycle("all bytes", all, sizeof all, 2);
    full_cycle("empty", "", 0, 1);
    full_cycle("just a newline", "\n", 1, 1);
    const char junk[] = "Content-Type: multipart/x; boundary=\"\"\n\n--\n--\n";
    full_cycle("empty boundary", junk, sizeof junk - 1, 1);
    const char b64[] = "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
                       "U3ViamVjdDogeAoKYm9keQo=\n";
    full_cycle("base64 message/rfc822", b64, sizeof b64 - 1, 1);
}

static void test_slow_patterns(void)
{
    /* Long runs that could trip a backtracking scanner. */
    size_t n = 2u << 20;
    struct tbuf b;
    tbuf_init(&b, 0);
    tbuf_puts(&b, "Content-Type: multipart/mixed; boundary=aaaaaaaaaaaaaaaaaaab\n\n");
    char *line = malloc(n);
    for (size_t i = 0; i < n; i++)
        line[i] = (i % 64 == 63) ? '\n' : (i % 64 < 2 ? '-' : 'a');
    tbuf_append(&b, line, n);
    free(line);
    full_cycle("near-miss boundaries", b.data, b.len, 5);
    tbuf_free(&b);

    tbuf_init(&b, 0);
    tbuf_puts(&b, "To: ");
    for (int i = 0; i < 200000; i++)
        tbuf_puts(&b, "((((((");
    tbuf_puts(&b, "\nSubject: ");
    for (int i = 0; i < 100000; i++)
        tbuf_puts(&b, "=?x?");
    tbuf_puts(&b, "\nContent-Type: text/html\n\n");
    for (int i = 0; i < 100000; i++)
        tbuf_puts(&b, "<a href=\"x<!--&#");
    full_cycle("nested comments, broken words, broken html", b.data, b.len, 10);
    tbuf_free(&b);

    tbuf_init(&b, 0);
    tbuf_puts(&b, "Date: ");
    for (int i = 0; i < 100000; i++)
        tbuf_puts(&b, "1 Jan ");
    tbuf_puts(&b, "\n\n");
    struct mime_envelope *e = NULL;
    CHECK_INT(mime_parse_headers(b.data, b.len, &e, NULL), TERN_OK);
    CHECK(e && !e->date_known);
    mime_envelope_free(&e);
    tbuf_free(&b);
}

/* Header-only parsing must not touch the body: put the body on a page
 * that cannot be read, so any access kills the test. */
static void test_header_only_never_reads_body(void)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    char *mem = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(mem != MAP_FAILED);
    if (mem == MAP_FAILED)
        return;
    const char hdr[] = "From: a@example.com\r\nSubject: =?UTF-8?Q?caf=C3=A9?=\r\n"
                       "Date: 1 Mar 2024 12:00 +0000\r\nContent-Type: multipart/mixed;"
                       " boundary=x\r\n\r\n";
    char *start = mem + pg - (sizeof hdr - 1);
    memcpy(start, hdr, sizeof hdr - 1);
    CHECK(mprotect(mem + pg, pg, PROT_NONE) == 0);
    struct mime_envelope *e = NULL;
    CHECK_INT(mime_parse_headers(start, sizeof hdr - 1 + pg, &e, NULL), TERN_OK);
    CHECK(e && e->header_len == sizeof hdr - 1 && e->date_known);
    CHECK(e && e->subject && !strcmp(e->subject, "caf\xc3\xa9"));
    mime_envelope_free(&e);
    munmap(mem, 2 * pg);
}

int main(void)
{
    test_header_only_never_reads_body();
    test_many_headers();
    test_huge_line();
    test_deep_nesting();
    test_nuls_and_binary();
    test_slow_patterns();
    return check_done("test-mime-hostile");
}
