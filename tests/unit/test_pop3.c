/* Unit tests for core/pop3: the response parser (every mode, every split
 * point), the line helpers, and a session over a scripted transport
 * (exact bytes sent, pipelining, responses in order). */
#include "check.h"
#include "core/pop3/private.h"

#include <stdlib.h>
#include <string.h>

struct out {
    struct tbuf b;
    unsigned calls;
};

static enum tern_rc collect(void *arg, const char *buf, size_t n)
{
    struct out *o = arg;
    o->calls++;
    return tbuf_append(&o->b, buf, n);
}

static enum tern_rc collect_lines(void *arg, const char *buf, size_t n)
{
    struct out *o = arg;
    o->calls++;
    enum tern_rc rc = tbuf_append(&o->b, buf, n);
    return rc ? rc : tbuf_putc(&o->b, '|');
}

/* Parse in, split into pieces of `step` bytes (0: all at once). Returns the
 * rc; *used_total is how many bytes the response took. */
static enum tern_rc parse(const char *in, size_t n, bool multi, enum pop3_data_mode mode,
                          size_t step, struct out *o, struct pop3_parser *p, size_t *used_total)
{
    pop3_parser_init(p);
    pop3_parser_begin(p, multi, mode, mode == POP3_DATA_LINES ? collect_lines : collect, o);
    struct tern_err err = {0};
    size_t off = 0;
    *used_total = 0;
    while (off < n && !p->done) {
        size_t k = step ? (n - off < step ? n - off : step) : n - off;
        size_t used;
        enum tern_rc rc = pop3_parser_feed(p, in + off, k, &used, &err);
        *used_total += used;
        if (rc)
            return rc;
        off += used;
        if (used < k)
            break;
    }
    return TERN_OK;
}

static void test_status(void)
{
    struct pop3_parser p;
    struct out o = {0};
    size_t used;
    tbuf_init(&o.b, 0);
    const char *s = "+OK 2 messages\r\nNEXT";
    CHECK_INT(parse(s, strlen(s), false, POP3_DATA_RAW, 0, &o, &p, &used), TERN_OK);
    CHECK(p.done && p.ok);
    CHECK_STR(p.status, "2 messages");
    CHECK_INT(used, strlen("+OK 2 messages\r\n"));
    s = "-ERR [IN-USE] locked\r\n";
    CHECK_INT(parse(s, strlen(s), true, POP3_DATA_STREAM, 1, &o, &p, &used), TERN_OK);
    CHECK(p.done && !p.ok); /* -ERR never has a body */
    CHECK_STR(p.status, "[IN-USE] locked");
    CHECK_INT(pop3_resp_code(p.status), POP3_RESP_IN_USE);
    CHECK_INT(pop3_err_rc(p.status), TERN_ETEMP);
    s = "+OK\n";
    CHECK_INT(parse(s, strlen(s), false, POP3_DATA_RAW, 0, &o, &p, &used), TERN_OK);
    CHECK(p.done && p.ok);
    CHECK_STR(p.status, "");
    s = "+OKAY\r\n";
    CHECK_INT(parse(s, strlen(s), false, POP3_DATA_RAW, 0, &o, &p, &used), TERN_EPROTO);
    s = "* OK imap\r\n";
    CHECK_INT(parse(s, strlen(s), false, POP3_DATA_RAW, 0, &o, &p, &used), TERN_EPROTO);
    CHECK_INT(parse("+OK a\0b\r\n", 9, false, POP3_DATA_RAW, 0, &o, &p, &used), TERN_EPROTO);
    /* Status ceiling: exactly POP3_STATUS_MAX with CRLF passes, one more fails. */
    char *big = malloc(POP3_STATUS_MAX + 2);
    memset(big, 'x', POP3_STATUS_MAX + 2);
    memcpy(big, "+OK ", 4);
    memcpy(big + POP3_STATUS_MAX - 2, "\r\n", 2);
    CHECK_INT(parse(big, POP3_STATUS_MAX, false, POP3_DATA_RAW, 7, &o, &p, &used), TERN_OK);
    CHECK(p.done);
    memcpy(big + POP3_STATUS_MAX - 2, "xx\r\n", 4);
    CHECK_INT(parse(big, POP3_STATUS_MAX + 2, false, POP3_DATA_RAW, 0, &o, &p, &used), TERN_EPROTO);
    /* Never a newline: the server never finishes the line. */
    CHECK_INT(parse(big, POP3_STATUS_MAX, false, POP3_DATA_RAW, 0, &o, &p, &used), TERN_EPROTO);
    free(big);
    CHECK_INT(pop3_resp_code("[SYS/TEMP/DISK] x"), POP3_RESP_SYS_TEMP);
    CHECK_INT(pop3_resp_code("[AUTH] no"), POP3_RESP_AUTH);
    CHECK_INT(pop3_resp_code("[SYSX] no"), POP3_RESP_OTHER);
    CHECK_INT(pop3_resp_code("no code"), POP3_RESP_NONE);
    CHECK_INT(pop3_resp_code(NULL), POP3_RESP_NONE);
    CHECK_INT(pop3_err_rc("[AUTH] bad"), TERN_EAUTH);
    CHECK_INT(pop3_err_rc("nope"), TERN_EREFUSED);
    tbuf_free(&o.b);
}

static void test_stream(void)
{
    /* Dot-stuffing, CRLF -> LF, lone CR kept, bare-LF lines, "..\r\n",
     * ".x" unstuffed, terminator, and the next response left alone. */
    const char *in = "+OK 40 octets\r\n"
                     "From: a\r\n"
                     "\r\n"
                     "..leading dot\r\n"
                     "..\r\n"
                     "a\rb\r\n"
                     "bare lf\n"
                     ".x\r\n"
                     "cr at end\r\r\n"
                     ".\rz\r\n"
                     ".\r\n"
                     "+OK next\r\n";
    const char *want = "From: a\n\n.leading dot\n.\na\rb\nbare lf\nx\ncr at end\r\n\rz\n";
    size_t resp_len = strlen(in) - strlen("+OK next\r\n");
    for (size_t step = 0; step < 20; step++) {
        struct pop3_parser p;
        struct out o = {0};
        tbuf_init(&o.b, 0);
        size_t used;
        CHECK_INT(parse(in, strlen(in), true, POP3_DATA_STREAM, step, &o, &p, &used), TERN_OK);
        CHECK(p.done && p.ok);
        CHECK_INT(used, resp_len);
        CHECK_STR(o.b.data, want);
        CHECK_INT(p.data_bytes, strlen(want));
        tbuf_free(&o.b);
    }
    /* RAW keeps line ends as sent. */
    struct pop3_parser p;
    struct out o = {0};
    tbuf_init(&o.b, 0);
    size_t used;
    const char *raw = "+OK\r\na\r\n..b\r\n.\r\n";
    CHECK_INT(parse(raw, strlen(raw), true, POP3_DATA_RAW, 1, &o, &p, &used), TERN_OK);
    CHECK_STR(o.b.data, "a\r\n.b\r\n");
    tbuf_free(&o.b);
    /* Empty body. */
    tbuf_init(&o.b, 0);
    raw = "+OK\r\n.\r\n";
    CHECK_INT(parse(raw, strlen(raw), true, POP3_DATA_STREAM, 0, &o, &p, &used), TERN_OK);
    CHECK(p.done);
    CHECK_INT(o.b.len, 0);
    /* Cut before the terminator: not done (caller must treat as failure). */
    raw = "+OK\r\nabc\r\n.";
    CHECK_INT(parse(raw, strlen(raw), true, POP3_DATA_STREAM, 0, &o, &p, &used), TERN_OK);
    CHECK(!p.done);
    tbuf_free(&o.b);
    /* Feeding after done is a bug in the caller. */
    struct tern_err err = {0};
    pop3_parser_init(&p);
    CHECK_INT(pop3_parser_feed(&p, "x", 1, &used, &err), TERN_EINTERNAL);
    CHECK_INT(pop3_parser_feed(&p, "", 0, &used, NULL), TERN_OK);
}

static enum tern_rc fail_sink(void *arg, const char *buf, size_t n)
{
    (void)arg, (void)buf, (void)n;
    return TERN_EIO;
}

static void test_lines(void)
{
    const char *in = "+OK\r\n1 abc\r\n2 ..def\r\n.\r\n";
    for (size_t step = 0; step < 6; step++) {
        struct pop3_parser p;
        struct out o = {0};
        tbuf_init(&o.b, 0);
        size_t used;
        CHECK_INT(parse(in, strlen(in), true, POP3_DATA_LINES, step, &o, &p, &used), TERN_OK);
        CHECK_STR(o.b.data, "1 abc|2 ..def|");
        CHECK_INT(o.calls, 2);
        tbuf_free(&o.b);
    }
    struct pop3_parser p;
    struct out o = {0};
    size_t used;
    tbuf_init(&o.b, 0);
    /* Listing line ceiling and NUL. */
    char line[POP3_LIST_LINE_MAX + 16];
    memcpy(line, "+OK\r\n", 5);
    memset(line + 5, 'a', sizeof line - 5);
    line[sizeof line - 1] = '\n';
    CHECK_INT(parse(line, sizeof line, true, POP3_DATA_LINES, 0, &o, &p, &used), TERN_EPROTO);
    CHECK_INT(parse("+OK\r\na\0b\r\n.\r\n", 13, true, POP3_DATA_LINES, 0, &o, &p, &used),
              TERN_EPROTO);
    tbuf_free(&o.b);
    /* A sink failure stops the parse with its code. */
    pop3_parser_init(&p);
    pop3_parser_begin(&p, true, POP3_DATA_STREAM, fail_sink, NULL);
    CHECK_INT(pop3_parser_feed(&p, "+OK\r\nx\r\n.\r\n", 11, &used, NULL), TERN_EIO);
}

static void test_helpers(void)
{
    uint32_t no;
    const char *uid;
    size_t ul;
    CHECK_INT(pop3_parse_uidl_line("1 whqtswO00WBw418f9t5JxYwZ", 26, &no, &uid, &ul), TERN_OK);
    CHECK_INT(no, 1);
    CHECK_INT(ul, 24);
    CHECK(!memcmp(uid, "whqtswO00WBw418f9t5JxYwZ", 24));
    CHECK_INT(pop3_parse_uidl_line("0 abc", 5, &no, &uid, &ul), TERN_EPROTO);
    CHECK_INT(pop3_parse_uidl_line("x abc", 5, &no, &uid, &ul), TERN_EPROTO);
    CHECK_INT(pop3_parse_uidl_line("1", 1, &no, &uid, &ul), TERN_EPROTO);
    CHECK_INT(pop3_parse_uidl_line("99999999999999999999999 a", 25, &no, &uid, &ul), TERN_EPROTO);
    CHECK_INT(pop3_parse_uidl_line("10000001 a", 10, &no, &uid, &ul), TERN_EPROTO);
    CHECK_INT(pop3_parse_uidl_line("3 ", 2, &no, &uid, &ul), TERN_EDATA);
    CHECK_INT(no, 3);
    CHECK_INT(pop3_parse_uidl_line("4 ../../etc", 11, &no, &uid, &ul), TERN_OK); /* data only */
    CHECK_INT(pop3_parse_uidl_line("5 a b", 5, &no, &uid, &ul), TERN_EDATA);
    CHECK_INT(pop3_parse_uidl_line(NULL, 0, &no, &uid, &ul), TERN_EPROTO);
    char u71[80];
    memset(u71, 'u', sizeof u71);
    CHECK(pop3_uid_valid(u71, 70));
    CHECK(!pop3_uid_valid(u71, 71));
    CHECK(!pop3_uid_valid(u71, 0));
    CHECK(!pop3_uid_valid("a\x7f", 2));
    CHECK(!pop3_uid_valid("a\x80", 2));
    CHECK(pop3_uid_valid("!~", 2));
    CHECK(!pop3_uid_valid(NULL, 3));
    uint64_t size;
    CHECK_INT(pop3_parse_list_line("2 1234", 6, &no, &size), TERN_OK);
    CHECK_INT(size, 1234);
    CHECK_INT(pop3_parse_list_line("2 1234 extra", 12, &no, &size), TERN_OK);
    CHECK_INT(pop3_parse_list_line("2 12x", 5, &no, &size), TERN_EPROTO);
    CHECK_INT(pop3_parse_list_line("2 ", 2, &no, &size), TERN_EPROTO);
    CHECK_INT(pop3_parse_list_line("2 99999999999999999999", 22, &no, &size), TERN_EPROTO);
    CHECK_INT(pop3_capa_line("PIPELINING", 10), POP3_CAP_PIPELINING);
    CHECK_INT(pop3_capa_line("uidl", 4), POP3_CAP_UIDL);
    CHECK_INT(pop3_capa_line("SASL PLAIN LOGIN", 16), POP3_CAP_SASL);
    CHECK_INT(pop3_capa_line("PIPELININGX", 11), 0);
    CHECK_INT(pop3_capa_line("", 0), 0);
    CHECK_INT(pop3_capa_line(NULL, 0), 0);
    /* Fingerprint: the same bytes split anyhow give the same value. */
    const char *msg = "From: a\nSubject: fingerprint test with some length\n\nbody\n";
    struct pop3_fp a, b;
    pop3_fp_init(&a);
    pop3_fp_update(&a, msg, strlen(msg));
    pop3_fp_init(&b);
    for (size_t i = 0; i < strlen(msg); i += 3)
        pop3_fp_update(&b, msg + i, strlen(msg) - i < 3 ? strlen(msg) - i : 3);
    CHECK(pop3_fp_final(&a) == pop3_fp_final(&b));
    pop3_fp_init(&b);
    pop3_fp_update(&b, msg, strlen(msg) - 1);
    CHECK(pop3_fp_final(&a) != pop3_fp_final(&b));
}

/* A scripted server: replies are handed out in the given pieces; all
 * bytes the client sends are recorded. */
struct script {
    const char **pieces;
    size_t next;
    struct tbuf sent;
    unsigned sends;
};

static enum tern_rc sc_send(void *arg, const char *buf, size_t n, struct tern_err *err)
{
    struct script *sc = arg;
    (void)err;
    sc->sends++;
    return tbuf_append(&sc->sent, buf, n);
}

static enum tern_rc sc_recv(void *arg, const char **data, size_t *len, struct tern_err *err)
{
    struct script *sc = arg;
    if (!sc->pieces[sc->next])
        return tern_fail(err, TERN_ECONN, "script: connection closed");
    *data = sc->pieces[sc->next++];
    *len = strlen(*data);
    return TERN_OK;
}

static void test_session(void)
{
    const char *pieces[] = {
        "+OK Capability list follows\r\nTOP\r\nUIDL\r\nPIPELINING\r\nRESP-CODES\r\n.\r\n",
        "+OK 5 octets\r\nab\r\n.\r\n+OK 3 oc",
        "tets\r\nc\r\n.\r\n+OK gone\r\n-ERR [SYS/TEMP] no\r\n",
        "+OK bye\r\nJUNK",
        NULL,
    };
    struct script sc = {.pieces = pieces};
    tbuf_init(&sc.sent, 0);
    struct pop3_transport tr = {.send = sc_send, .recv = sc_recv, .arg = &sc};
    struct pop3_sess *s = calloc(1, sizeof *s);
    pop3_sess_init(s, &tr, NULL, NULL);
    struct tern_err err = {0};
    CHECK_INT(pop3_sess_capa(s, &err), TERN_OK);
    CHECK_INT(s->caps, POP3_CAP_TOP | POP3_CAP_UIDL | POP3_CAP_PIPELINING | POP3_CAP_RESP_CODES);
    CHECK_STR(sc.sent.data, "CAPA\r\n");
    tbuf_reset(&sc.sent);
    CHECK_INT(pop3_sess_queue(s, POP3_CMD_RETR, 1, 10, &err), TERN_OK);
    CHECK_INT(pop3_sess_queue(s, POP3_CMD_RETR, 2, 11, &err), TERN_OK);
    CHECK_INT(pop3_sess_queue(s, POP3_CMD_DELE, 1, 10, &err), TERN_OK);
    CHECK_INT(pop3_sess_queue(s, POP3_CMD_DELE, 2, 11, &err), TERN_OK);
    CHECK_INT(pop3_sess_outstanding(s), 4);
    unsigned sends = sc.sends;
    struct out o = {0};
    tbuf_init(&o.b, 0);
    struct pop3_cmd cmd;
    bool ok;
    CHECK_INT(pop3_sess_read(s, POP3_DATA_STREAM, collect, &o, &cmd, &ok, &err), TERN_OK);
    /* All four commands went out in one send (pipelining). */
    CHECK_INT(sc.sends, sends + 1);
    CHECK_STR(sc.sent.data, "RETR 1\r\nRETR 2\r\nDELE 1\r\nDELE 2\r\n");
    CHECK(ok && cmd.kind == POP3_CMD_RETR && cmd.ref == 10);
    CHECK_STR(o.b.data, "ab\n");
    tbuf_reset(&o.b);
    CHECK_INT(pop3_sess_read(s, POP3_DATA_STREAM, collect, &o, &cmd, &ok, &err), TERN_OK);
    CHECK(ok && cmd.msgno == 2);
    CHECK_STR(o.b.data, "c\n");
    CHECK_INT(pop3_sess_read(s, POP3_DATA_RAW, NULL, NULL, &cmd, &ok, &err), TERN_OK);
    CHECK(ok && cmd.kind == POP3_CMD_DELE && cmd.msgno == 1);
    CHECK_INT(pop3_sess_read(s, POP3_DATA_RAW, NULL, NULL, &cmd, &ok, &err), TERN_OK);
    CHECK(!ok && cmd.kind == POP3_CMD_DELE);
    CHECK_STR(s->parser.status, "[SYS/TEMP] no");
    CHECK(pop3_sess_head(s) == NULL);
    /* Bytes after the last answer with nothing in flight: refused. */
    CHECK_INT(pop3_sess_queue(s, POP3_CMD_QUIT, 0, 0, &err), TERN_OK);
    CHECK_INT(pop3_sess_read(s, POP3_DATA_RAW, NULL, NULL, &cmd, &ok, &err), TERN_EPROTO);
    /* Reading with nothing queued is a caller bug. */
    struct tern_err e2 = {0};
    CHECK_INT(pop3_sess_read(s, POP3_DATA_RAW, NULL, NULL, &cmd, &ok, &e2), TERN_EINTERNAL);
    pop3_sess_free(s);
    free(s);
    tbuf_free(&o.b);
    tbuf_free(&sc.sent);

    /* Connection closed in the middle of a RETR: ECONN, not done. */
    const char *cut[] = {"+OK\r\n", "partial line\r\n", NULL};
    struct script sc2 = {.pieces = cut};
    tbuf_init(&sc2.sent, 0);
    tr.arg = &sc2;
    s = calloc(1, sizeof *s);
    pop3_sess_init(s, &tr, NULL, NULL);
    tern_err_clear(&err);
    CHECK_INT(pop3_sess_queue(s, POP3_CMD_RETR, 1, 0, &err), TERN_OK);
    CHECK_INT(pop3_sess_read(s, POP3_DATA_STREAM, NULL, NULL, &cmd, &ok, &err), TERN_ECONN);
    CHECK(!s->parser.done);
    pop3_sess_free(s);
    free(s);
    tbuf_free(&sc2.sent);

    /* A server without CAPA: caps 0, no failure. */
    const char *old[] = {"-ERR unknown command\r\n", NULL};
    struct script sc3 = {.pieces = old};
    tbuf_init(&sc3.sent, 0);
    tr.arg = &sc3;
    s = calloc(1, sizeof *s);
    pop3_sess_init(s, &tr, NULL, NULL);
    tern_err_clear(&err);
    CHECK_INT(pop3_sess_capa(s, &err), TERN_OK);
    CHECK_INT(s->caps, 0);
    pop3_sess_free(s);
    free(s);
    tbuf_free(&sc3.sent);
}

static void test_driver_table(void)
{
    CHECK_STR(pop3_driver.name, "pop3");
    CHECK(pop3_driver.open && pop3_driver.sync && pop3_driver.close);
    CHECK(pop3_driver.fetch_body == NULL);
    CHECK(pop3_driver.caps & ACCT_CAP_DELETES_SERVER);
    void *st = NULL;
    CHECK_INT(pop3_driver.close(&st, NULL), TERN_OK); /* NULL-safe */
}

int main(void)
{
    test_status();
    test_stream();
    test_lines();
    test_helpers();
    test_session();
    test_driver_table();
    return check_done("test-pop3");
}
