/* Unit tests for core/imap's response parser and data readers. */
#include "check.h"
#include "core/imap/lib.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------ memory byte source */

struct mem {
    const char *d;
    size_t n, pos;
};

static enum tern_rc mem_line(void *arg, struct tbuf *line, size_t max, struct tern_err *err)
{
    struct mem *m = arg;
    tbuf_reset(line);
    if (m->pos >= m->n)
        return tern_fail(err, TERN_ECONN, "eof");
    const char *s = m->d + m->pos;
    const char *nl = memchr(s, '\n', m->n - m->pos);
    size_t take = nl ? (size_t)(nl - s) + 1 : m->n - m->pos;
    if (take > max)
        return tern_fail(err, TERN_EPROTO, "line too long");
    if (!nl)
        return tern_fail(err, TERN_ECONN, "eof mid-line");
    tbuf_append(line, s, take);
    m->pos += take;
    return TERN_OK;
}

static enum tern_rc mem_exact(void *arg, uint64_t n, conn_sink_fn *sink, void *sarg,
                              struct tern_err *err)
{
    struct mem *m = arg;
    if (n > m->n - m->pos)
        return tern_fail(err, TERN_ECONN, "eof in literal");
    /* hand it over in two pieces to test reassembly */
    size_t half = (size_t)n / 2;
    enum tern_rc rc = TERN_OK;
    if (sink && half)
        rc = sink(sarg, m->d + m->pos, half);
    if (!rc && sink && n - half)
        rc = sink(sarg, m->d + m->pos + half, (size_t)n - half);
    m->pos += (size_t)n;
    return rc;
}

static struct imap_parser *P;
static struct tbuf LINE;
static struct mem M;
static struct imap_io IO = {mem_line, mem_exact, NULL, NULL, &M};

static void feed(const char *s, size_t n)
{
    M.d = s;
    M.n = n;
    M.pos = 0;
}

static const struct imap_resp *one(const char *s, enum tern_rc want_rc)
{
    feed(s, strlen(s));
    struct tern_err err = {0};
    const struct imap_resp *r = NULL;
    enum tern_rc rc = imap_read_resp(P, &IO, &LINE, NULL, NULL, &r, &err);
    CHECK_INT(rc, want_rc);
    if (rc != want_rc)
        fprintf(stderr, "  input: %s  err: %s\n", s, err.msg);
    return rc ? NULL : r;
}

static bool str_is(const struct imap_resp *r, uint32_t t, const char *want)
{
    const char *s;
    size_t n;
    return imap_str(r, t, &s, &n) && n == strlen(want) && memcmp(s, want, n) == 0;
}

static void test_status(void)
{
    const struct imap_resp *r = one("A12 OK [UIDVALIDITY 3857529045] SELECT done\r\n", TERN_OK);
    CHECK(r != NULL);
    if (!r)
        return;
    CHECK_INT(r->kind, IMAP_TAGGED);
    CHECK_INT(r->status, IMAP_ST_OK);
    CHECK(r->tag_len == 3 && memcmp(r->tag, "A12", 3) == 0);
    CHECK(r->has_code);
    CHECK(imap_eq(r, imap_nth(r, 0, 0), "uidvalidity"));
    uint64_t v;
    CHECK(imap_num(r, imap_nth(r, 0, 1), UINT32_MAX, &v) && v == 3857529045u);
    CHECK(r->text_len == 11 && memcmp(r->text, "SELECT done", 11) == 0);

    r = one("* OK [PERMANENTFLAGS (\\Answered \\Seen \\*)] Flags permitted.\n", TERN_OK);
    CHECK(r && r->kind == IMAP_UNTAGGED && r->has_code);
    if (r) {
        uint32_t l = imap_nth(r, 0, 1);
        CHECK(imap_is_list(r, l));
        CHECK_INT(imap_count(r, l), 3);
        CHECK(str_is(r, imap_nth(r, l, 2), "\\*"));
    }
    /* [ that never closes is just text */
    r = one("* OK [not a code\r\n", TERN_OK);
    CHECK(r && !r->has_code && r->text_len == 11);
    r = one("* BYE server going down\r\n", TERN_OK);
    CHECK(r && r->status == IMAP_ST_BYE);
    r = one("A3 NO [TRYCREATE] no such mailbox\r\n", TERN_OK);
    CHECK(r && r->status == IMAP_ST_NO && r->has_code &&
          imap_eq(r, imap_nth(r, 0, 0), "TRYCREATE"));
    r = one("A4 OK\r\n", TERN_OK);
    CHECK(r && r->status == IMAP_ST_OK && r->text_len == 0);
    r = one("+ go ahead\r\n", TERN_OK);
    CHECK(r && r->kind == IMAP_CONT && r->text_len == 8);
    r = one("+\r\n", TERN_OK);
    CHECK(r && r->kind == IMAP_CONT && r->text_len == 0);
    /* codes with list arguments and copyuid sets */
    r = one("A5 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n", TERN_OK);
    CHECK(r && imap_count(r, 0) == 4 && str_is(r, imap_nth(r, 0, 2), "304,319:320"));
    r = one("* OK [CAPABILITY IMAP4rev1 QRESYNC MOVE] Logged in\r\n", TERN_OK);
    CHECK(r && imap_count(r, 0) == 4);
    /* tagged without a status word is malformed */
    one("A6 FETCH (UID 1)\r\n", TERN_EPROTO);
    one("\r\n", TERN_EPROTO);
    one("*\r\n", TERN_EPROTO);
}

static void test_data(void)
{
    const char *s = "* 12 FETCH (UID 100 FLAGS (\\Seen $Junk) INTERNALDATE \"17-Jul-1996 "
                    "02:44:25 -0700\" RFC822.SIZE 4286 BODY[HEADER.FIELDS (From Subject)] "
                    "{26}\r\nFrom: a@b\r\nSubject: hi\r\n\r\n MODSEQ (65402))\r\n";
    const struct imap_resp *r = one(s, TERN_OK);
    CHECK(r != NULL);
    if (!r)
        return;
    uint64_t num;
    uint32_t att;
    CHECK(imap_is_numbered(r, "FETCH", &num, &att));
    CHECK_INT(num, 12);
    CHECK(imap_is_list(r, att));
    uint64_t uid, size;
    CHECK(imap_num(r, imap_fetch_item(r, att, "UID", false), UINT32_MAX, &uid) && uid == 100);
    CHECK(imap_num(r, imap_fetch_item(r, att, "RFC822.SIZE", false), UINT64_MAX, &size) &&
          size == 4286);
    uint32_t h = imap_fetch_item(r, att, "BODY[HEADER.FIELDS", true);
    CHECK(h != IMAP_NONE && r->tok[h].type == IMAP_LITERAL);
    CHECK(str_is(r, h, "From: a@b\r\nSubject: hi\r\n\r\n"));
    CHECK(str_is(r, imap_fetch_item(r, att, "INTERNALDATE", false), "17-Jul-1996 02:44:25 -0700"));
    uint32_t ms = imap_fetch_item(r, att, "MODSEQ", false);
    CHECK(imap_num(r, imap_child(r, ms), UINT64_MAX, &num) && num == 65402);
    struct tbuf kw;
    tbuf_init(&kw, 4096);
    unsigned fl = imap_flags_parse(r, imap_fetch_item(r, att, "FLAGS", false), &kw);
    CHECK_INT(fl, 1); /* INDEX_FLAG_SEEN */
    CHECK_STR(kw.data, "$Junk");
    tbuf_free(&kw);

    /* quoted escapes, NIL, nesting, empty list, empty quoted */
    r = one("* LIST (\\HasNoChildren) \"/\" \"a \\\"b\\\\c\"\r\n", TERN_OK);
    CHECK(r && imap_is_named(r, "LIST", &att));
    if (r)
        CHECK(str_is(r, imap_nth(r, 0, 3), "a \"b\\c"));
    r = one("* LIST () NIL \"\"\r\n", TERN_OK);
    CHECK(r && imap_is_nil(r, imap_nth(r, 0, 2)) && str_is(r, imap_nth(r, 0, 3), ""));
    if (r)
        CHECK_INT(imap_count(r, imap_nth(r, 0, 1)), 0);
    r = one("* X ((a (b)) c)\r\n", TERN_OK);
    if (r) {
        uint32_t l = imap_nth(r, 0, 1);
        CHECK_INT(imap_count(r, l), 2);
        CHECK(str_is(r, imap_nth(r, l, 1), "c"));
        CHECK(str_is(r, imap_nth(r, imap_nth(r, imap_nth(r, l, 0), 1), 0), "b"));
    }
    /* NUL bytes inside atoms and literals are kept, not fatal */
    static const char nul[] = "* 1 FETCH (UID 7 X a\0b BODY[] {3}\r\nx\0y)\r\n";
    feed(nul, sizeof nul - 1);
    struct tern_err err = {0};
    CHECK_INT(imap_read_resp(P, &IO, &LINE, NULL, NULL, &r, &err), TERN_OK);
    if (r) {
        uint32_t a = imap_nth(r, 0, 2);
        const char *v;
        size_t vn;
        CHECK(imap_str(r, imap_fetch_item(r, a, "X", false), &v, &vn) && vn == 3);
        CHECK(imap_str(r, imap_fetch_item(r, a, "BODY[]", false), &v, &vn) && vn == 3 &&
              v[1] == '\0');
        CHECK(!imap_eq(r, imap_fetch_item(r, a, "X", false), "a"));
    }
    /* literal8, empty literal, two literals on one response */
    r = one("* 2 FETCH (BINARY[1] ~{3}\r\nabc BODY[2] {0}\r\n)\r\n", TERN_OK);
    if (r) {
        uint32_t a = imap_nth(r, 0, 2);
        CHECK(str_is(r, imap_fetch_item(r, a, "BINARY[1]", false), "abc"));
        CHECK(str_is(r, imap_fetch_item(r, a, "BODY[2]", false), ""));
    }
    /* a literal in a response code */
    r = one("A9 NO [BADCHARSET ({5}\r\nUTF-8)] bad\r\n", TERN_OK);
    CHECK(r && r->has_code && r->text_len == 3);
    /* VANISHED and ESEARCH shapes */
    r = one("* VANISHED (EARLIER) 41,43:116,118\r\n", TERN_OK);
    CHECK(r && imap_is_named(r, "VANISHED", &att) && imap_is_list(r, att));
    r = one("* 3 EXPUNGE\r\n", TERN_OK);
    CHECK(r && imap_is_numbered(r, "EXPUNGE", &num, &att) && num == 3 && att == IMAP_NONE);
    CHECK(r && !imap_is_numbered(r, "FETCH", &num, &att));
    /* message numbers are 32-bit: 2^32-1 is one, 2^32 and beyond are not
     * (the session turns those into a protocol error, never a skip) */
    r = one("* 4294967295 EXISTS\r\n", TERN_OK);
    CHECK(r && imap_is_numbered(r, "EXISTS", &num, &att) && num == UINT32_MAX);
    r = one("* 4294967296 EXISTS\r\n", TERN_OK);
    CHECK(r && !imap_is_numbered(r, "EXISTS", &num, &att));
    r = one("* 99999999999999999999 FETCH (UID 1)\r\n", TERN_OK);
    CHECK(r && !imap_is_numbered(r, "FETCH", &num, &att));
    r = one("* 1 FETCH (UID 4294967296)\r\n", TERN_OK);
    uint64_t big;
    CHECK(r && imap_is_numbered(r, "FETCH", &num, &att) &&
          !imap_num(r, imap_fetch_item(r, att, "UID", false), UINT32_MAX, &big));
    /* several responses in one stream, kept apart */
    const char *two = "* 4 EXISTS\r\n* 0 RECENT\r\nA1 OK done\r\n";
    feed(two, strlen(two));
    int n = 0;
    while (M.pos < M.n) {
        memset(&err, 0, sizeof err);
        if (imap_read_resp(P, &IO, &LINE, NULL, NULL, &r, &err))
            break;
        n++;
    }
    CHECK_INT(n, 3);
    CHECK(r && r->kind == IMAP_TAGGED);
}

static void test_hostile(void)
{
    one("* 1 FETCH (BODY[] {99999999999999999999}\r\n", TERN_EPROTO);
    one("* 1 FETCH (BODY[] {-1}\r\n", TERN_EPROTO);
    one("* 1 FETCH (BODY[] {12x}\r\n", TERN_EPROTO);
    one("* 1 FETCH (BODY[] {3} trailing\r\nabc)\r\n", TERN_EPROTO);
    one("* 1 FETCH (BODY[] {3+}\r\nabc)\r\n", TERN_EPROTO);
    /* a literal over the in-memory ceiling is refused before reading it */
    one("* 1 FETCH (BODY[HEADER] {1048577}\r\n", TERN_EPROTO);
    /* a literal that ends the stream early */
    one("* 1 FETCH (BODY[] {10}\r\nabc", TERN_ECONN);
    one("* 1 FETCH (UID 1\r\n", TERN_EPROTO);
    one("* 1 FETCH UID 1)\r\n", TERN_EPROTO);
    one("* 1 FETCH (X \"unterminated)\r\n", TERN_EPROTO);
    one("* 1 FETCH (X BODY[abc)\r\n", TERN_EPROTO);
    one("A1 OK [A {3}\r\nabc no bracket\r\n", TERN_EPROTO);
    /* nesting beyond the ceiling */
    char deep[400];
    size_t k = 0;
    k += (size_t)snprintf(deep, sizeof deep, "* X ");
    for (int i = 0; i < IMAP_DEPTH_MAX + 1; i++)
        deep[k++] = '(';
    for (int i = 0; i < IMAP_DEPTH_MAX + 1; i++)
        deep[k++] = ')';
    deep[k++] = '\r';
    deep[k++] = '\n';
    deep[k] = 0;
    one(deep, TERN_EPROTO);
    deep[4 + IMAP_DEPTH_MAX] = ' '; /* exactly IMAP_DEPTH_MAX deep now */
    memmove(deep + 4 + IMAP_DEPTH_MAX + IMAP_DEPTH_MAX,
            deep + 4 + IMAP_DEPTH_MAX + IMAP_DEPTH_MAX + 1,
            strlen(deep + 4 + IMAP_DEPTH_MAX + IMAP_DEPTH_MAX + 1) + 1);
    one(deep, TERN_OK);
    /* numbers: more than 19/20 digits, signs, empty */
    const struct imap_resp *r = one("* X 18446744073709551615 18446744073709551616 -1 +1 "
                                    "4294967296 0001\r\n",
                                    TERN_OK);
    if (r) {
        uint64_t v;
        CHECK(imap_num(r, imap_nth(r, 0, 1), UINT64_MAX, &v) && v == UINT64_MAX);
        CHECK(!imap_num(r, imap_nth(r, 0, 2), UINT64_MAX, &v));
        CHECK(!imap_num(r, imap_nth(r, 0, 3), UINT64_MAX, &v));
        CHECK(!imap_num(r, imap_nth(r, 0, 4), UINT64_MAX, &v));
        CHECK(!imap_num(r, imap_nth(r, 0, 5), UINT32_MAX, &v));
        CHECK(imap_num(r, imap_nth(r, 0, 6), UINT32_MAX, &v) && v == 1);
        /* wrong shapes are "no", not crashes */
        CHECK(!imap_num(r, IMAP_NONE, 10, &v));
        CHECK(imap_child(r, imap_nth(r, 0, 1)) == IMAP_NONE);
        CHECK(imap_nth(r, 0, 99) == IMAP_NONE);
        CHECK(imap_fetch_item(r, imap_nth(r, 0, 1), "X", false) == IMAP_NONE);
    }
    /* line length ceiling comes from the reader */
    size_t big = IMAP_LINE_MAX + 10;
    char *huge = malloc(big + 1);
    memcpy(huge, "* X ", 4);
    memset(huge + 4, 'a', big - 6);
    memcpy(huge + big - 2, "\r\n", 2);
    huge[big] = 0;
    one(huge, TERN_EPROTO);
    free(huge);
    /* parser recovers for the next response after an error */
    r = one("A1 OK fine\r\n", TERN_OK);
    CHECK(r && r->status == IMAP_ST_OK);
}

/* routing BODY[] to a sink */
struct collect {
    struct tbuf b;
};
static enum tern_rc collect_sink(void *arg, const char *buf, size_t n)
{
    struct collect *c = arg;
    return tbuf_append(&c->b, buf, n);
}
static conn_sink_fn *route(void *arg, const char *key, size_t n, uint64_t size, void **sarg)
{
    if (key && n == 6 && memcmp(key, "BODY[]", 6) == 0) {
        *sarg = arg;
        return collect_sink;
    }
    return NULL;
}

static void test_route(void)
{
    struct collect c;
    tbuf_init(&c.b, 0);
    const char *s = "* 1 FETCH (UID 9 BODY[] {11}\r\nhello world FLAGS (\\Seen))\r\n";
    feed(s, strlen(s));
    struct tern_err err = {0};
    const struct imap_resp *r;
    CHECK_INT(imap_read_resp(P, &IO, &LINE, route, &c, &r, &err), TERN_OK);
    CHECK_STR(c.b.data, "hello world");
    if (r) {
        uint32_t a = imap_nth(r, 0, 2);
        uint32_t b = imap_fetch_item(r, a, "BODY[]", false);
        CHECK(b != IMAP_NONE && r->tok[b].type == IMAP_EXTERNAL && r->tok[b].len == 11);
        const char *v;
        size_t vn;
        CHECK(!imap_str(r, b, &v, &vn));
        CHECK_INT(imap_flags_parse(r, imap_fetch_item(r, a, "FLAGS", false), NULL), 1);
    }
    tbuf_free(&c.b);
}

static int count_range(void *arg, uint32_t lo, uint32_t hi)
{
    uint64_t *sum = arg;
    *sum += (uint64_t)hi - lo + 1;
    return 0;
}

static void test_seqset(void)
{
    uint64_t sum = 0;
    CHECK(imap_seqset_walk("1:3,7,9:*", 9, 10, count_range, &sum));
    CHECK_INT(sum, 3 + 1 + 2);
    sum = 0;
    CHECK(imap_seqset_walk("5:2", 3, 10, count_range, &sum));
    CHECK_INT(sum, 4);
    sum = 0;
    CHECK(imap_seqset_walk("1:4294967295", 12, 10, count_range, &sum));
    CHECK(sum == 4294967295ull);
    const char *bad[] = {"", ",", "1,", ",1", "0", "1:0", "a", "1::2", "4294967296", "1:2:3", "-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool ok = imap_seqset_walk(bad[i], strlen(bad[i]), 10, NULL, NULL);
        CHECK(!ok);
        if (ok)
            fprintf(stderr, "  accepted '%s'\n", bad[i]);
    }
}

static bool att(const char *bs)
{
    char line[4096];
    snprintf(line, sizeof line, "* 1 FETCH (BODYSTRUCTURE %s)\r\n", bs);
    const struct imap_resp *r = one(line, TERN_OK);
    if (!r)
        return false;
    return imap_bodystructure_has_attachments(
        r, imap_fetch_item(r, imap_nth(r, 0, 2), "BODYSTRUCTURE", false));
}

static void test_bodystructure(void)
{
    CHECK(!att("(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 1 NIL NIL "
               "NIL NIL)"));
    CHECK(att("((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 10 1 NIL NIL NIL "
              "NIL)(\"application\" \"pdf\" (\"name\" \"a.pdf\") NIL NIL \"base64\" 2000 NIL "
              "(\"attachment\" (\"filename\" \"a.pdf\")) NIL NIL) \"mixed\" (\"boundary\" \"x\") "
              "NIL NIL NIL)"));
    /* alternative text + html: none */
    CHECK(!att("((\"text\" \"plain\" NIL NIL NIL \"7bit\" 10 1)(\"text\" \"html\" NIL NIL NIL "
               "\"7bit\" 10 1) \"alternative\")"));
    /* inline image inside related: none */
    CHECK(!att("((\"text\" \"html\" NIL NIL NIL \"7bit\" 10 1)(\"image\" \"png\" NIL \"<c>\" NIL "
               "\"base64\" 10) \"related\")"));
    /* signed message: signature is not an attachment */
    CHECK(!att("((\"text\" \"plain\" NIL NIL NIL \"7bit\" 10 1)(\"application\" "
               "\"pgp-signature\" NIL NIL NIL \"7bit\" 10) \"signed\")"));
    /* forwarded message */
    CHECK(att("((\"text\" \"plain\" NIL NIL NIL \"7bit\" 10 1)(\"message\" \"rfc822\" NIL NIL "
              "NIL \"7bit\" 10 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" NIL "
              "NIL NIL \"7bit\" 1 1) 1) \"mixed\")"));
    /* a text part marked attachment */
    CHECK(att("((\"text\" \"plain\" NIL NIL NIL \"7bit\" 10 1)(\"text\" \"plain\" NIL NIL NIL "
              "\"7bit\" 10 1 NIL (\"attachment\" NIL) NIL NIL) \"mixed\")"));
    /* garbage shapes: no crash, no attachment */
    CHECK(!att("NIL"));
    CHECK(!att("()"));
    CHECK(!att("(())"));
    CHECK(!att("((\"text\"))"));
}

static void test_quote_flags(void)
{
    struct tbuf b;
    tbuf_init(&b, 100);
    CHECK_INT(imap_quote(&b, "a\"b\\c", 5), TERN_OK);
    CHECK_STR(b.data, "\"a\\\"b\\\\c\"");
    tbuf_reset(&b);
    CHECK_INT(imap_quote(&b, "a\r\nb", 4), TERN_EDATA);
    CHECK_INT(imap_quote(&b, "a\0b", 3), TERN_EDATA);
    tbuf_reset(&b);
    CHECK_INT(imap_flags_format(1 | 4, &b), TERN_OK);
    CHECK_STR(b.data, "\\Seen \\Flagged");
    tbuf_free(&b);
}

int main(void)
{
    P = imap_parser_new();
    tbuf_init(&LINE, IMAP_LINE_MAX);
    test_status();
    test_data();
    test_hostile();
    test_route();
    test_seqset();
    test_bodystructure();
    test_quote_flags();
    tbuf_free(&LINE);
    imap_parser_free(&P);
    imap_parser_free(&P); /* NULL-safe */
    imap_parser_free(NULL);
    return check_done("test-imap-parse");
}
