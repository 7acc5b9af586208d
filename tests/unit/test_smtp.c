/*
 * core/smtp: address checks, the reply parser, capabilities, DATA
 * encoding, and the client against scripted servers: the exact bytes the
 * client writes, in which order relative to the replies it reads (so a
 * broken pipelining order shows), per-recipient results.
 */
#include "check.h"
#include "core/smtp/lib.h"

#include <stdlib.h>
#include <string.h>

/* ---- a scripted server ---------------------------------------------- */

struct script {
    const char *replies; /* what the server says, read line by line */
    size_t pos;
    struct tbuf log;  /* ">bytes" for each write, "<" for each line read */
    int fail_send_at; /* nth send fails with TERN_ECONN (0: never) */
    int nsend;
};

static enum tern_rc s_send(void *arg, const void *buf, size_t n, struct tern_err *err)
{
    struct script *s = arg;
    if (s->fail_send_at && ++s->nsend == s->fail_send_at)
        return tern_fail(err, TERN_ECONN, "connection reset");
    tbuf_putc(&s->log, '>');
    tbuf_append(&s->log, buf, n);
    return TERN_OK;
}

static enum tern_rc s_read_line(void *arg, struct tbuf *line, size_t max, struct tern_err *err)
{
    struct script *s = arg;
    tbuf_reset(line);
    const char *p = s->replies + s->pos;
    if (!*p)
        return tern_fail(err, TERN_ECONN, "connection closed by server");
    const char *e = strchr(p, '\n');
    size_t n = e ? (size_t)(e - p) + 1 : strlen(p);
    if (n > max)
        return tern_fail(err, TERN_EPROTO, "line too long");
    tbuf_append(line, p, n);
    s->pos += n;
    tbuf_putc(&s->log, '<');
    return TERN_OK;
}

static struct smtp_session *session(struct script *sc, const char *replies, unsigned caps)
{
    memset(sc, 0, sizeof *sc);
    sc->replies = replies;
    tbuf_init(&sc->log, 0);
    struct smtp_io io = {.send = s_send, .read_line = s_read_line, .arg = sc};
    struct smtp_caps c = {.flags = caps};
    struct smtp_session *s = NULL;
    CHECK_INT(smtp_session_new(&io, &c, &s, NULL), TERN_OK);
    return s;
}

/* ---- a batch source ---------------------------------------------------- */

#define MAXMSG 8
#define MAXRC 8
struct batch {
    struct smtp_message m[MAXMSG];
    enum tern_rc load_rc[MAXMSG];
    int nloaded, ndone;
    enum tern_rc rc[MAXMSG];
    int code[MAXMSG];
    char text[MAXMSG][SMTP_TEXT_MAX];
    int rcpt_code[MAXMSG][MAXRC];
    size_t accepted[MAXMSG], temp[MAXMSG], perm[MAXMSG];
    bool unknown[MAXMSG];
    int order[MAXMSG];
    bool had_msg[MAXMSG];
    enum tern_rc done_rc;           /* what done returns */
    int loaded_before_done[MAXMSG]; /* loads seen when done(i) ran */
};

static enum tern_rc b_load(void *arg, size_t i, struct smtp_message *m, struct tern_err *err)
{
    struct batch *b = arg;
    b->nloaded++;
    if (b->load_rc[i])
        return tern_fail(err, b->load_rc[i], "cannot read message %zu", i);
    *m = b->m[i];
    return TERN_OK;
}

static enum tern_rc b_done(void *arg, size_t i, const struct smtp_message *m,
                           const struct smtp_result *r)
{
    struct batch *b = arg;
    b->order[b->ndone++] = (int)i;
    b->rc[i] = r->rc;
    b->code[i] = r->code;
    b->had_msg[i] = m != NULL;
    b->loaded_before_done[i] = b->nloaded;
    snprintf(b->text[i], sizeof b->text[i], "%s", r->text);
    for (size_t k = 0; r->rcpt && k < r->nrcpts && k < MAXRC; k++)
        b->rcpt_code[i][k] = r->rcpt[k].code;
    b->accepted[i] = r->accepted;
    b->temp[i] = r->temp_failed;
    b->perm[i] = r->perm_failed;
    b->unknown[i] = r->unknown;
    return b->done_rc;
}

static struct smtp_batch_ops ops_for(struct batch *b)
{
    struct smtp_batch_ops o = {.load = b_load, .done = b_done, .arg = b};
    return o;
}

static const char *one_rcpt[] = {"bob@example.org"};
static const char *three_rcpts[] = {"bob@example.org", "nobody@example.org", "carol@example.org"};

/* ---- tests --------------------------------------------------------------- */

static void test_addr(void)
{
    bool u = true;
    CHECK_INT(smtp_addr_check("alice@example.org", false, &u, NULL), TERN_OK);
    CHECK(!u);
    CHECK_INT(smtp_addr_check("", true, NULL, NULL), TERN_OK);
    CHECK_INT(smtp_addr_check("", false, NULL, NULL), TERN_EDATA);
    CHECK_INT(smtp_addr_check(NULL, true, NULL, NULL), TERN_EDATA);
    CHECK_INT(smtp_addr_check("a@b\r\nRSET", false, NULL, NULL), TERN_EDATA);
    CHECK_INT(smtp_addr_check("a@b\nRSET", false, NULL, NULL), TERN_EDATA);
    CHECK_INT(smtp_addr_check("a@b\rX", false, NULL, NULL), TERN_EDATA);
    CHECK_INT(smtp_addr_check("a b@c", false, NULL, NULL), TERN_EDATA);
    CHECK_INT(smtp_addr_check("a@b> NOTIFY=NEVER", false, NULL, NULL), TERN_EDATA);
    CHECK_INT(smtp_addr_check("<a@b>", false, NULL, NULL), TERN_EDATA);
    CHECK_INT(smtp_addr_check("a@b\t", false, NULL, NULL), TERN_EDATA);
    CHECK_INT(smtp_addr_check("a\x7f@b", false, NULL, NULL), TERN_EDATA);
    CHECK_INT(smtp_addr_check("nodomain", false, NULL, NULL), TERN_EDATA);
    CHECK_INT(smtp_addr_check("@b", false, NULL, NULL), TERN_EDATA);
    CHECK_INT(smtp_addr_check("a@", false, NULL, NULL), TERN_EDATA);
    CHECK_INT(smtp_addr_check("a@b..c", false, NULL, NULL), TERN_EDATA);
    CHECK_INT(smtp_addr_check("a,b@c", false, NULL, NULL), TERN_EDATA);
    CHECK_INT(smtp_addr_check("a@[127.0.0.1]", false, NULL, NULL), TERN_OK);
    CHECK_INT(smtp_addr_check("\"a.b\"@c.d", false, NULL, NULL), TERN_OK);
    CHECK_INT(smtp_addr_check("j\xc3\xb6rg@example.org", false, &u, NULL), TERN_OK);
    CHECK(u);
    CHECK_INT(smtp_addr_check("j\xc3@example.org", false, NULL, NULL), TERN_EDATA);
    CHECK_INT(smtp_addr_check("j\xc0\xaf@example.org", false, NULL, NULL), TERN_EDATA);
    char big[300];
    memset(big, 'a', sizeof big);
    memcpy(big + 250, "@b.cd", 6);
    CHECK_INT(smtp_addr_check(big, false, NULL, NULL), TERN_EDATA);
}

static void test_reply(void)
{
    struct smtp_reply r;
    smtp_reply_init(&r);
    CHECK_INT(smtp_reply_feed(&r, "250-mx.example.org\r\n", 20, NULL), TERN_OK);
    CHECK(!r.done);
    CHECK_INT(smtp_reply_feed(&r, "250 2.0.0 OK\r\n", 14, NULL), TERN_OK);
    CHECK(r.done);
    CHECK_INT(r.code, 250);
    CHECK_STR(r.text.data, "mx.example.org\n2.0.0 OK");
    CHECK_STR(r.enh, "");
    /* feeding after the end is a protocol error */
    CHECK_INT(smtp_reply_feed(&r, "250 x\r\n", 7, NULL), TERN_EPROTO);

    smtp_reply_reset(&r);
    CHECK_INT(smtp_reply_feed(&r, "550 5.1.1 <x@y>: User unknown\r\n", 31, NULL), TERN_OK);
    CHECK_STR(r.enh, "5.1.1");
    char sum[64];
    smtp_reply_summary(&r, sum, sizeof sum);
    CHECK_STR(sum, "550 5.1.1 <x@y>: User unknown");
    smtp_reply_summary(&r, sum, 8);
    CHECK_STR(sum, "550 5.1");

    /* a bare code is a final line */
    smtp_reply_reset(&r);
    CHECK_INT(smtp_reply_feed(&r, "354\r\n", 5, NULL), TERN_OK);
    CHECK(r.done);
    CHECK_INT(r.code, 354);

    static const char *bad[] = {"25 ok\r\n",  "abc ok\r\n", "250x\r\n", "650 x\r\n", "160 x\r\n",
                                "2500 x\r\n", "",           "\r\n",     "270 x\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        smtp_reply_reset(&r);
        struct tern_err e = {0};
        CHECK_INT(smtp_reply_feed(&r, bad[i], strlen(bad[i]), &e), TERN_EPROTO);
    }
    /* code changes within a reply */
    smtp_reply_reset(&r);
    CHECK_INT(smtp_reply_feed(&r, "250-a\r\n", 7, NULL), TERN_OK);
    CHECK_INT(smtp_reply_feed(&r, "251 b\r\n", 7, NULL), TERN_EPROTO);
    /* NUL */
    smtp_reply_reset(&r);
    CHECK_INT(smtp_reply_feed(&r, "250 a\0b\r\n", 9, NULL), TERN_EPROTO);
    /* too many lines */
    smtp_reply_reset(&r);
    enum tern_rc rc = TERN_OK;
    for (int i = 0; i < SMTP_REPLY_LINES_MAX + 1 && !rc; i++)
        rc = smtp_reply_feed(&r, "250-x\r\n", 7, NULL);
    CHECK_INT(rc, TERN_EPROTO);
    /* control characters in text are neutralised in summaries */
    smtp_reply_reset(&r);
    CHECK_INT(smtp_reply_feed(&r, "550 a\x1b[31mb\r\n", 13, NULL), TERN_OK);
    smtp_reply_summary(&r, sum, sizeof sum);
    CHECK_STR(sum, "550 a?[31mb");
    smtp_reply_free(&r);
    smtp_reply_free(&r); /* twice is fine */
}

static void test_caps(void)
{
    const char *t = "220 mx ESMTP\r\n"
                    "250-mx\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
                    "220 2.0.0 Ready to start TLS\r\n"
                    "250-mx\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-AUTH PLAIN LOGIN\r\n"
                    "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250 SMTPUTF8\r\n"
                    "235 2.7.0 Authentication successful\r\n";
    struct smtp_caps c;
    smtp_caps_parse(t, strlen(t), &c);
    CHECK(c.flags & SMTP_CAP_PIPELINING);
    CHECK(c.flags & SMTP_CAP_8BITMIME);
    CHECK(c.flags & SMTP_CAP_SMTPUTF8);
    CHECK(c.flags & SMTP_CAP_AUTH);
    CHECK(c.flags & SMTP_CAP_DSN);
    CHECK(c.flags & SMTP_CAP_ENHANCED);
    CHECK(!(c.flags & SMTP_CAP_STARTTLS)); /* only before TLS */
    CHECK_INT(c.size_max, 10240000);

    /* the pre-TLS list does not count */
    const char *t2 = "220 mx\r\n250-mx\r\n250-PIPELINING\r\n250 STARTTLS\r\n220 go\r\n250 mx\r\n";
    smtp_caps_parse(t2, strlen(t2), &c);
    CHECK_INT(c.flags, 0);
    smtp_caps_parse("", 0, &c);
    CHECK_INT(c.flags, 0);
    const char *t3 = "250-mx\n250-SIZE 99999999999999999999999\n250 size\n";
    smtp_caps_parse(t3, strlen(t3), &c);
    CHECK(c.flags & SMTP_CAP_SIZE);
    CHECK_INT(c.size_max, 0);
}

static void test_data(void)
{
    struct tbuf o;
    tbuf_init(&o, 0);
    bool eb = true;
    const char *in = "Subject: x\n\n.hidden\nline\r\n..two\rlast";
    CHECK_INT(smtp_data_encode(in, strlen(in), &o, &eb, NULL), TERN_OK);
    CHECK_STR(o.data, "Subject: x\r\n\r\n..hidden\r\nline\r\n...two\r\nlast\r\n.\r\n");
    CHECK(!eb);
    tbuf_reset(&o);
    CHECK_INT(smtp_data_encode("", 0, &o, NULL, NULL), TERN_OK);
    CHECK_STR(o.data, ".\r\n");
    tbuf_reset(&o);
    CHECK_INT(smtp_data_encode(".\r\n", 3, &o, NULL, NULL), TERN_OK);
    CHECK_STR(o.data, "..\r\n.\r\n");
    tbuf_reset(&o);
    CHECK_INT(smtp_data_encode("a\r\n\r\n", 5, &o, NULL, NULL), TERN_OK);
    CHECK_STR(o.data, "a\r\n\r\n.\r\n");
    tbuf_reset(&o);
    CHECK_INT(smtp_data_encode("\xc3\xa4\n", 3, &o, &eb, NULL), TERN_OK);
    CHECK(eb);
    tbuf_reset(&o);
    CHECK_INT(smtp_data_encode("a\0b", 3, &o, NULL, NULL), TERN_EDATA);
    char line[1001];
    memset(line, 'x', sizeof line);
    tbuf_reset(&o);
    CHECK_INT(smtp_data_encode(line, 998, &o, NULL, NULL), TERN_OK);
    tbuf_reset(&o);
    CHECK_INT(smtp_data_encode(line, 999, &o, NULL, NULL), TERN_EDATA);
    tbuf_free(&o);
}

#define MSG "Subject: hi\r\n\r\nhello\r\n.dot\r\n"
#define MSG_WIRE "Subject: hi\r\n\r\nhello\r\n..dot\r\n.\r\n"
/* with commands behind the data, its terminator is written with them */
#define MSG_HEAD "Subject: hi\r\n\r\nhello\r\n..dot"
#define MSG_END "\r\n.\r\n"

/* Pipelined: one group per message, and message 2's envelope rides behind
 * message 1's data; QUIT behind the last. */
static void test_pipelined_batch(void)
{
    struct script sc;
    struct smtp_session *s = session(&sc,
                                     "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data\r\n"
                                     "250 2.0.0 Ok: queued as A\r\n"
                                     "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data\r\n"
                                     "250 2.0.0 Ok: queued as B\r\n221 2.0.0 Bye\r\n",
                                     SMTP_CAP_PIPELINING | SMTP_CAP_8BITMIME | SMTP_CAP_SIZE);
    smtp_session_pipeline_ahead(s, true);
    struct batch b = {0};
    for (int i = 0; i < 2; i++)
        b.m[i] = (struct smtp_message){"alice@example.org", one_rcpt, 1, MSG, strlen(MSG)};
    struct smtp_batch_ops ops = ops_for(&b);
    CHECK_INT(smtp_send_batch(s, 2, &ops, true, NULL), TERN_OK);
    CHECK_STR(sc.log.data, ">MAIL FROM:<alice@example.org> SIZE=32\r\nRCPT TO:<bob@example.org>\r\n"
                           "DATA\r\n<<<"
                           ">" MSG_HEAD ">" MSG_END "MAIL FROM:<alice@example.org> SIZE=32\r\n"
                           "RCPT TO:<bob@example.org>\r\nDATA\r\n<"
                           "<<<"
                           ">" MSG_HEAD ">" MSG_END "QUIT\r\n<<");
    CHECK_INT(b.ndone, 2);
    CHECK_INT(b.rc[0], TERN_OK);
    CHECK_INT(b.rc[1], TERN_OK);
    CHECK_INT(b.code[0], 250);
    CHECK_STR(b.text[1], "end of DATA: 250 2.0.0 Ok: queued as B");
    CHECK_INT(b.accepted[0], 1);
    CHECK_INT(b.order[0], 0);
    CHECK_INT(b.order[1], 1);
    /* message 1 was loaded before message 0 was done (pipelined) */
    CHECK_INT(b.loaded_before_done[0], 2);
    smtp_close(&s); /* QUIT already sent: nothing more written */
    CHECK(s == NULL);
    CHECK(strstr(sc.log.data, "QUIT\r\n<<") != NULL);
    tbuf_free(&sc.log);
}

/* The default: one group per envelope, then the data (+ QUIT at the end). */
static void test_pipelined_default(void)
{
    struct script sc;
    struct smtp_session *s =
        session(&sc,
                "250 ok\r\n250 ok\r\n354 go\r\n250 A\r\n250 ok\r\n250 ok\r\n354 go\r\n250 B\r\n"
                "221 bye\r\n",
                SMTP_CAP_PIPELINING);
    struct batch b = {0};
    for (int i = 0; i < 2; i++)
        b.m[i] = (struct smtp_message){"alice@example.org", one_rcpt, 1, MSG, strlen(MSG)};
    struct smtp_batch_ops ops = ops_for(&b);
    CHECK_INT(smtp_send_batch(s, 2, &ops, true, NULL), TERN_OK);
    CHECK_STR(sc.log.data, ">MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"
                           "<<<>" MSG_WIRE "<"
                           ">MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"
                           "<<<>" MSG_HEAD ">" MSG_END "QUIT\r\n<<");
    CHECK_INT(b.rc[0], TERN_OK);
    CHECK_INT(b.rc[1], TERN_OK);
    CHECK_INT(b.loaded_before_done[0], 1);
    smtp_close(&s);
    tbuf_free(&sc.log);
}

/* Without PIPELINING every command waits for its reply. */
static void test_lockstep(void)
{
    struct script sc;
    struct smtp_session *s =
        session(&sc, "250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n221 bye\r\n", 0);
    struct batch b = {0};
    b.m[0] = (struct smtp_message){"", one_rcpt, 1, MSG, strlen(MSG)};
    struct smtp_batch_ops ops = ops_for(&b);
    CHECK_INT(smtp_send_batch(s, 1, &ops, false, NULL), TERN_OK);
    CHECK_STR(sc.log.data,
              ">MAIL FROM:<>\r\n<>RCPT TO:<bob@example.org>\r\n<>DATA\r\n<>" MSG_WIRE "<");
    CHECK_INT(b.rc[0], TERN_OK);
    smtp_close(&s);
    CHECK(strstr(sc.log.data, "<>QUIT\r\n<") != NULL);
    tbuf_free(&sc.log);
}

/* One recipient refused: the message goes to the others, the refused one
 * is named with its reply. */
static void test_partial_rcpt(void)
{
    struct script sc;
    struct smtp_session *s =
        session(&sc,
                "250 ok\r\n250 ok\r\n550 5.1.1 <nobody@example.org>: Recipient address rejected\r\n"
                "452 4.5.3 Too many recipients\r\n354 go\r\n250 queued\r\n",
                SMTP_CAP_PIPELINING);
    struct batch b = {0};
    b.m[0] = (struct smtp_message){"alice@example.org", three_rcpts, 3, MSG, strlen(MSG)};
    struct smtp_batch_ops ops = ops_for(&b);
    CHECK_INT(smtp_send_batch(s, 1, &ops, false, NULL), TERN_OK);
    CHECK_INT(b.rc[0], TERN_OK);
    CHECK_INT(b.accepted[0], 1);
    CHECK_INT(b.perm[0], 1);
    CHECK_INT(b.temp[0], 1);
    CHECK_INT(b.rcpt_code[0][0], 250);
    CHECK_INT(b.rcpt_code[0][1], 550);
    CHECK_INT(b.rcpt_code[0][2], 452);
    smtp_close(&s);
    tbuf_free(&sc.log);
}

/* All refused: no data goes out, RSET clears the transaction, and the next
 * message still goes through. */
static void test_all_refused_then_next(void)
{
    struct script sc;
    struct smtp_session *s = session(
        &sc,
        "250 ok\r\n550 5.1.1 <bob@example.org>: User unknown\r\n554 5.5.1 No valid recipients\r\n"
        "250 reset\r\n"
        "250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n",
        SMTP_CAP_PIPELINING);
    struct batch b = {0};
    b.m[0] = (struct smtp_message){"alice@example.org", one_rcpt, 1, MSG, strlen(MSG)};
    b.m[1] = b.m[0];
    struct smtp_batch_ops ops = ops_for(&b);
    CHECK_INT(smtp_send_batch(s, 2, &ops, false, NULL), TERN_OK);
    CHECK_STR(sc.log.data, ">MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"
                           "<<<"
                           ">RSET\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\n"
                           "DATA\r\n<<<<>" MSG_WIRE "<");
    CHECK_INT(b.rc[0], TERN_EREFUSED);
    CHECK_INT(b.code[0], 550);
    CHECK_STR(b.text[0], "RCPT TO:<bob@example.org>: 550 5.1.1 <bob@example.org>: User unknown");
    CHECK_INT(b.rc[1], TERN_OK);
    smtp_close(&s);
    tbuf_free(&sc.log);
}

/* DATA accepted although every RCPT failed (RFC 2920 3.1): a lone dot ends
 * it, the data is never sent, the next message follows. */
static void test_lone_dot(void)
{
    struct script sc;
    struct smtp_session *s =
        session(&sc,
                "250 ok\r\n550 5.1.1 no\r\n354 go\r\n554 5.5.1 no valid recipients\r\n"
                "250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n",
                SMTP_CAP_PIPELINING);
    struct batch b = {0};
    b.m[0] = (struct smtp_message){"alice@example.org", one_rcpt, 1, MSG, strlen(MSG)};
    b.m[1] = b.m[0];
    struct smtp_batch_ops ops = ops_for(&b);
    CHECK_INT(smtp_send_batch(s, 2, &ops, false, NULL), TERN_OK);
    CHECK_STR(sc.log.data, ">MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"
                           "<<<>.\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\n"
                           "DATA\r\n<<<<>" MSG_WIRE "<");
    CHECK_INT(b.rc[0], TERN_EREFUSED);
    CHECK_INT(b.code[0], 550);
    CHECK_INT(b.rc[1], TERN_OK);
    smtp_close(&s);
    tbuf_free(&sc.log);
}

/* MAIL refused temporarily; no pipelining: no RCPT, no DATA, no RSET. */
static void test_mail_temp(void)
{
    struct script sc;
    struct smtp_session *s = session(&sc, "451 4.3.0 try later\r\n221 bye\r\n", 0);
    struct batch b = {0};
    b.m[0] = (struct smtp_message){"alice@example.org", one_rcpt, 1, MSG, strlen(MSG)};
    struct smtp_batch_ops ops = ops_for(&b);
    CHECK_INT(smtp_send_batch(s, 1, &ops, true, NULL), TERN_OK);
    CHECK_STR(sc.log.data, ">MAIL FROM:<alice@example.org>\r\n<>QUIT\r\n<");
    CHECK_INT(b.rc[0], TERN_ETEMP);
    CHECK_STR(b.text[0], "MAIL FROM: 451 4.3.0 try later");
    smtp_close(&s);
    tbuf_free(&sc.log);
}

/* A bad message (CR/LF in an address, 8-bit to a 7-bit server, load
 * failure) is reported without a byte sent for it. */
static void test_bad_messages(void)
{
    struct script sc;
    struct smtp_session *s =
        session(&sc, "250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n", SMTP_CAP_PIPELINING);
    static const char *evil[] = {"bob@example.org>\r\nRSET"};
    struct batch b = {0};
    b.m[0] = (struct smtp_message){"alice@example.org", evil, 1, MSG, strlen(MSG)};
    b.m[1] = (struct smtp_message){"alice@example.org\r\nRSET", one_rcpt, 1, MSG, strlen(MSG)};
    b.m[2] = (struct smtp_message){"alice@example.org", one_rcpt, 1, "S: \xc3\xa4\r\n\r\n", 9};
    b.load_rc[3] = TERN_ENOTFOUND;
    b.m[4] = (struct smtp_message){"alice@example.org", one_rcpt, 1, MSG, strlen(MSG)};
    struct smtp_batch_ops ops = ops_for(&b);
    CHECK_INT(smtp_send_batch(s, 5, &ops, false, NULL), TERN_OK);
    CHECK_INT(b.ndone, 5);
    CHECK_INT(b.rc[0], TERN_EDATA);
    CHECK_INT(b.rc[1], TERN_EDATA);
    CHECK_INT(b.rc[2], TERN_ENOTSUP);
    CHECK_INT(b.rc[3], TERN_ENOTFOUND);
    CHECK_INT(b.rc[4], TERN_OK);
    for (int i = 0; i < 5; i++)
        CHECK_INT(b.order[i], i);
    CHECK(strstr(sc.log.data, "RSET") == NULL);
    CHECK_STR(sc.log.data, ">MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\n"
                           "DATA\r\n<<<>" MSG_WIRE "<");
    smtp_close(&s);
    tbuf_free(&sc.log);
}

/* 8-bit with 8BITMIME: declared; non-ASCII address with SMTPUTF8. */
static void test_8bit_utf8(void)
{
    struct script sc;
    struct smtp_session *s = session(&sc, "250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n",
                                     SMTP_CAP_PIPELINING | SMTP_CAP_8BITMIME | SMTP_CAP_SMTPUTF8);
    static const char *u[] = {"j\xc3\xb6rg@example.org"};
    struct batch b = {0};
    b.m[0] = (struct smtp_message){"alice@example.org", u, 1, "S: \xc3\xa4\r\n\r\n", 9};
    struct smtp_batch_ops ops = ops_for(&b);
    CHECK_INT(smtp_send_batch(s, 1, &ops, false, NULL), TERN_OK);
    CHECK(!strncmp(sc.log.data, ">MAIL FROM:<alice@example.org> BODY=8BITMIME SMTPUTF8\r\n", 55));
    CHECK_INT(b.rc[0], TERN_OK);
    smtp_close(&s);
    tbuf_free(&sc.log);

    /* SMTPUTF8 missing: refused locally */
    s = session(&sc, "", SMTP_CAP_PIPELINING | SMTP_CAP_8BITMIME);
    memset(&b, 0, sizeof b);
    b.m[0] = (struct smtp_message){"alice@example.org", u, 1, MSG, strlen(MSG)};
    ops = ops_for(&b);
    CHECK_INT(smtp_send_batch(s, 1, &ops, false, NULL), TERN_OK);
    CHECK_INT(b.rc[0], TERN_ENOTSUP);
    CHECK(sc.log.len == 0);
    smtp_close(&s);
    tbuf_free(&sc.log);
}

/* SIZE limit known: refused before sending. */
static void test_size_limit(void)
{
    struct script sc;
    struct smtp_session *s = session(&sc, "", SMTP_CAP_PIPELINING | SMTP_CAP_SIZE);
    struct smtp_io io = {.send = s_send, .read_line = s_read_line, .arg = &sc};
    struct smtp_caps c = {.flags = SMTP_CAP_PIPELINING | SMTP_CAP_SIZE, .size_max = 10};
    smtp_close(&s);
    CHECK_INT(smtp_session_new(&io, &c, &s, NULL), TERN_OK);
    struct batch b = {0};
    b.m[0] = (struct smtp_message){"alice@example.org", one_rcpt, 1, MSG, strlen(MSG)};
    struct smtp_batch_ops ops = ops_for(&b);
    CHECK_INT(smtp_send_batch(s, 1, &ops, false, NULL), TERN_OK);
    CHECK_INT(b.rc[0], TERN_ENOTSUP);
    smtp_close(&s);
    tbuf_free(&sc.log);
}

/* Connection lost after the data went out: unknown fate, temporary; the
 * rest of the batch is reported as not sent. 421 ends the session too. */
static void test_connection_lost(void)
{
    struct script sc;
    struct smtp_session *s = session(&sc, "250 ok\r\n250 ok\r\n354 go\r\n", SMTP_CAP_PIPELINING);
    struct batch b = {0};
    for (int i = 0; i < 3; i++)
        b.m[i] = (struct smtp_message){"alice@example.org", one_rcpt, 1, MSG, strlen(MSG)};
    struct smtp_batch_ops ops = ops_for(&b);
    struct tern_err e = {0};
    CHECK_INT(smtp_send_batch(s, 3, &ops, false, &e), TERN_ECONN);
    CHECK_INT(b.ndone, 3);
    CHECK_INT(b.rc[0], TERN_ETEMP);
    CHECK(b.unknown[0]);
    CHECK_INT(b.rc[1], TERN_ETEMP);
    CHECK(!b.unknown[1]);
    CHECK_INT(b.rc[2], TERN_ETEMP);
    CHECK(!b.had_msg[2]);
    CHECK_INT(b.order[2], 2);
    smtp_close(&s); /* broken: no QUIT */
    CHECK(strstr(sc.log.data, "QUIT") == NULL);
    tbuf_free(&sc.log);

    s = session(&sc, "421 4.4.2 mx Error: timeout exceeded\r\n", 0);
    memset(&b, 0, sizeof b);
    b.m[0] = (struct smtp_message){"alice@example.org", one_rcpt, 1, MSG, strlen(MSG)};
    ops = ops_for(&b);
    memset(&e, 0, sizeof e);
    CHECK_INT(smtp_send_batch(s, 1, &ops, true, &e), TERN_ETEMP);
    CHECK_INT(b.rc[0], TERN_ETEMP);
    CHECK(strstr(e.msg, "421") != NULL);
    smtp_close(&s);
    tbuf_free(&sc.log);

    /* the write of the data fails */
    s = session(&sc, "250 ok\r\n250 ok\r\n354 go\r\n", SMTP_CAP_PIPELINING);
    sc.fail_send_at = 2;
    memset(&b, 0, sizeof b);
    b.m[0] = (struct smtp_message){"alice@example.org", one_rcpt, 1, MSG, strlen(MSG)};
    ops = ops_for(&b);
    CHECK_INT(smtp_send_batch(s, 1, &ops, false, NULL), TERN_ECONN);
    CHECK_INT(b.rc[0], TERN_ETEMP);
    smtp_close(&s);
    tbuf_free(&sc.log);

    /* garbage from the server */
    s = session(&sc, "hello there\r\n", SMTP_CAP_PIPELINING);
    memset(&b, 0, sizeof b);
    b.m[0] = (struct smtp_message){"alice@example.org", one_rcpt, 1, MSG, strlen(MSG)};
    ops = ops_for(&b);
    CHECK_INT(smtp_send_batch(s, 1, &ops, false, NULL), TERN_EPROTO);
    CHECK_INT(b.rc[0], TERN_ETEMP);
    smtp_close(&s);
    tbuf_free(&sc.log);
}

/* done() failing (e.g. cannot record "sent") stops the batch. */
static void test_done_fails(void)
{
    struct script sc;
    struct smtp_session *s =
        session(&sc, "250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n250 ok\r\n250 ok\r\n354 go\r\n",
                SMTP_CAP_PIPELINING);
    struct batch b = {0};
    b.done_rc = TERN_EIO;
    for (int i = 0; i < 3; i++)
        b.m[i] = (struct smtp_message){"alice@example.org", one_rcpt, 1, MSG, strlen(MSG)};
    struct smtp_batch_ops ops = ops_for(&b);
    struct tern_err e = {0};
    CHECK_INT(smtp_send_batch(s, 3, &ops, false, &e), TERN_ECANCELED);
    CHECK_INT(b.rc[0], TERN_OK);
    CHECK_INT(b.rc[1], TERN_ECANCELED);
    CHECK_INT(b.rc[2], TERN_ECANCELED);
    CHECK_INT(b.ndone, 3);
    smtp_close(&s);
    CHECK(strstr(sc.log.data, "QUIT") == NULL);
    tbuf_free(&sc.log);
}

/* The end of DATA refused: permanent, message-level only. */
static void test_eod_refused(void)
{
    struct script sc;
    struct smtp_session *s = session(
        &sc, "250 ok\r\n250 ok\r\n354 go\r\n554 5.7.1 spam\r\n221 bye\r\n", SMTP_CAP_PIPELINING);
    struct batch b = {0};
    b.m[0] = (struct smtp_message){"alice@example.org", one_rcpt, 1, MSG, strlen(MSG)};
    struct smtp_batch_ops ops = ops_for(&b);
    CHECK_INT(smtp_send_batch(s, 1, &ops, true, NULL), TERN_OK);
    CHECK_INT(b.rc[0], TERN_EREFUSED);
    CHECK_STR(b.text[0], "end of DATA: 554 5.7.1 spam");
    CHECK_INT(b.accepted[0], 0);
    smtp_close(&s);
    tbuf_free(&sc.log);
}

static void test_empty_and_null(void)
{
    struct script sc;
    struct smtp_session *s = session(&sc, "221 bye\r\n", SMTP_CAP_PIPELINING);
    struct batch b = {0};
    struct smtp_batch_ops ops = ops_for(&b);
    CHECK_INT(smtp_send_batch(s, 0, &ops, true, NULL), TERN_OK);
    CHECK_STR(sc.log.data, ">QUIT\r\n<");
    /* after QUIT the session refuses work */
    b.m[0] = (struct smtp_message){"alice@example.org", one_rcpt, 1, MSG, strlen(MSG)};
    CHECK_INT(smtp_send_batch(s, 1, &ops, false, NULL), TERN_ECONN);
    CHECK_INT(b.ndone, 1);
    smtp_close(&s);
    smtp_close(&s);
    smtp_close(NULL);
    tbuf_free(&sc.log);
    /* no recipients */
    s = session(&sc, "", SMTP_CAP_PIPELINING);
    memset(&b, 0, sizeof b);
    b.m[0] = (struct smtp_message){"alice@example.org", NULL, 0, MSG, strlen(MSG)};
    ops = ops_for(&b);
    CHECK_INT(smtp_send_batch(s, 1, &ops, false, NULL), TERN_OK);
    CHECK_INT(b.rc[0], TERN_EDATA);
    smtp_close(&s);
    tbuf_free(&sc.log);
}

int main(void)
{
    test_addr();
    test_reply();
    test_caps();
    test_data();
    test_pipelined_batch();
    test_pipelined_default();
    test_lockstep();
    test_partial_rcpt();
    test_all_refused_then_next();
    test_mail_temp();
    test_lone_dot();
    test_bad_messages();
    test_8bit_utf8();
    test_size_limit();
    test_connection_lost();
    test_done_fails();
    test_eod_refused();
    test_empty_and_null();
    return check_done("test-smtp");
}
