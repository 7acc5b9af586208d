/*
 * APPEND and the Sent-folder choice of core/imap against a scripted
 * in-memory IMAP server (the pattern of test_imap_sync.c). The fake reads
 * the client's bytes as a stream: command lines, and after a {n} / {n+}
 * announcement exactly n literal bytes that must be followed by CRLF. It
 * records the commands (without tags), every stored message and whether
 * a synchronizing literal arrived before the server's "+", so the tests
 * check the exact command text and the exact bytes.
 */
#include "check.h"
#include "core/imap/private.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXBOX 8
#define MAXSTORED 8

struct stored {
    char box[64];
    char flags[64];
    char date[64];
    struct tbuf data;
};

struct fake {
    /* behaviour */
    bool literalplus, literalminus, appenduid;
    bool no_plain_trycreate; /* a missing folder is NO without [TRYCREATE] */
    bool create_fails;
    bool cont_on_nonsync; /* hostile: "+" although {n+} was used */
    bool bad_appenduid;   /* hostile: APPENDUID with garbage */
    bool mute;            /* never answer APPEND (then the line drops) */
    const char *list_lines[4];
    /* state */
    char boxes[MAXBOX][64];
    size_t nboxes;
    struct stored st[MAXSTORED];
    size_t nst;
    struct tbuf in; /* client bytes not consumed yet */
    struct tbuf out;
    size_t rpos;
    struct tbuf log;
    /* a literal being received */
    bool in_lit;
    size_t lit_len;
    bool lit_sync, cont_sent;
    char lit_tag[16], lit_box[64], lit_flags[64], lit_date[64];
    bool lit_missing; /* the folder does not exist: refuse after the literal */
    int errors;       /* framing errors seen by the fake */
    int early_data;   /* literal bytes that came before the "+" */
};

static struct fake F;

static void say(const char *fmt, ...) TERN_PRINTF(1, 2);
static void say(const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    tbuf_puts(&F.out, buf);
    tbuf_puts(&F.out, "\r\n");
}

static bool box_exists(const char *b)
{
    for (size_t i = 0; i < F.nboxes; i++)
        if (!strcmp(F.boxes[i], b))
            return true;
    return false;
}

static void add_box(const char *b)
{
    if (F.nboxes < MAXBOX)
        snprintf(F.boxes[F.nboxes++], sizeof F.boxes[0], "%s", b);
}

/* The next IMAP string at *p (quoted with escapes, or an atom) into out. */
static void take_string(const char **p, char *out, size_t size)
{
    const char *s = *p;
    size_t k = 0;
    while (*s == ' ')
        s++;
    if (*s == '"') {
        s++;
        while (*s && *s != '"') {
            if (*s == '\\' && s[1])
                s++;
            if (k + 1 < size)
                out[k++] = *s;
            s++;
        }
        if (*s == '"')
            s++;
    } else {
        while (*s && *s != ' ') {
            if (k + 1 < size)
                out[k++] = *s;
            s++;
        }
    }
    out[k] = '\0';
    *p = s;
}

static void finish_append(void)
{
    if (F.mute)
        return;
    if (F.lit_missing) {
        say("%s NO %sMailbox doesn't exist", F.lit_tag, F.no_plain_trycreate ? "" : "[TRYCREATE] ");
        return;
    }
    struct stored *m = &F.st[F.nst < MAXSTORED ? F.nst++ : MAXSTORED - 1];
    snprintf(m->box, sizeof m->box, "%s", F.lit_box);
    snprintf(m->flags, sizeof m->flags, "%s", F.lit_flags);
    snprintf(m->date, sizeof m->date, "%s", F.lit_date);
    if (F.bad_appenduid)
        say("%s OK [APPENDUID 0 x:y] Append completed.", F.lit_tag);
    else if (F.appenduid)
        say("%s OK [APPENDUID 1234 %zu] Append completed.", F.lit_tag, F.nst);
    else
        say("%s OK Append completed.", F.lit_tag);
}

static void command(const char *line)
{
    const char *sp = strchr(line, ' ');
    if (!sp)
        return;
    char tag[16];
    snprintf(tag, sizeof tag, "%.*s", (int)(sp - line), line);
    const char *cmd = sp + 1;
    tbuf_puts(&F.log, cmd);
    tbuf_putc(&F.log, '\n');
    if (!strncmp(cmd, "APPEND ", 7)) {
        const char *p = cmd + 7;
        take_string(&p, F.lit_box, sizeof F.lit_box);
        F.lit_flags[0] = F.lit_date[0] = '\0';
        while (*p == ' ')
            p++;
        if (*p == '(') {
            const char *e = strchr(p, ')');
            snprintf(F.lit_flags, sizeof F.lit_flags, "%.*s", e ? (int)(e - p - 1) : 0, p + 1);
            p = e ? e + 1 : p + strlen(p);
        }
        while (*p == ' ')
            p++;
        if (*p == '"')
            take_string(&p, F.lit_date, sizeof F.lit_date);
        while (*p == ' ')
            p++;
        char *end;
        if (*p != '{') {
            F.errors++;
            say("%s BAD no literal", tag);
            return;
        }
        F.lit_len = strtoul(p + 1, &end, 10);
        F.lit_sync = *end != '+';
        if ((F.lit_sync ? end[0] != '}' : end[1] != '}') || (F.lit_sync ? end[1] : end[2])) {
            F.errors++;
            say("%s BAD bad literal", tag);
            return;
        }
        if (!F.lit_sync && !F.literalplus && !(F.literalminus && F.lit_len <= 4096))
            F.errors++; /* a non-synchronizing literal the server never offered */
        snprintf(F.lit_tag, sizeof F.lit_tag, "%s", tag);
        F.lit_missing = !box_exists(F.lit_box);
        if (F.lit_sync && F.lit_missing && !F.no_plain_trycreate) {
            /* refuse before the literal: the client must not send it */
            say("%s NO [TRYCREATE] Mailbox doesn't exist", tag);
            return;
        }
        F.in_lit = true;
        F.cont_sent = false;
        if ((F.lit_sync || F.cont_on_nonsync) && !F.mute) {
            say("+ OK");
            F.cont_sent = true;
        }
    } else if (!strncmp(cmd, "CREATE ", 7)) {
        char b[64];
        const char *p = cmd + 7;
        take_string(&p, b, sizeof b);
        if (F.create_fails) {
            say("%s NO [CANNOT] no", tag);
        } else if (box_exists(b)) {
            say("%s NO [ALREADYEXISTS] exists", tag);
        } else {
            add_box(b);
            say("%s OK created", tag);
        }
    } else if (!strncmp(cmd, "SUBSCRIBE ", 10)) {
        say("%s OK subscribed", tag);
    } else if (!strncmp(cmd, "LIST", 4)) {
        for (size_t i = 0; i < 4 && F.list_lines[i]; i++)
            say("%s", F.list_lines[i]);
        say("%s OK list done", tag);
    } else if (!strncmp(cmd, "LOGOUT", 6)) {
        say("* BYE");
        say("%s OK", tag);
    } else {
        say("%s BAD unknown command", tag);
    }
}

/* Consume what the client sent so far: lines, and literals by count. */
static void pump(void)
{
    size_t pos = 0;
    if (!F.in.data)
        return;
    for (;;) {
        const char *s = F.in.data + pos;
        size_t left = F.in.len - pos;
        if (F.in_lit) {
            if (F.lit_sync && !F.cont_sent && left)
                F.early_data++;
            if (left < F.lit_len + 2)
                break;
            if (!F.lit_missing && F.nst < MAXSTORED) {
                tbuf_free(&F.st[F.nst].data);
                tbuf_init(&F.st[F.nst].data, 0);
                tbuf_append(&F.st[F.nst].data, s, F.lit_len);
            }
            if (s[F.lit_len] != '\r' || s[F.lit_len + 1] != '\n')
                F.errors++; /* the literal was not the announced size */
            pos += F.lit_len + 2;
            F.in_lit = false;
            finish_append();
            continue;
        }
        const char *nl = left ? memchr(s, '\n', left) : NULL;
        if (!nl)
            break;
        size_t n = (size_t)(nl - s);
        if (n == 0 || s[n - 1] != '\r')
            F.errors++;
        char *line = tern_strndup(s, n ? n - 1 : 0);
        pos += n + 1;
        command(line);
        free(line);
    }
    memmove(F.in.data, F.in.data + pos, F.in.len - pos);
    F.in.len -= pos;
}

static enum tern_rc f_send(void *arg, const void *buf, size_t n, struct tern_err *err)
{
    tbuf_append(&F.in, buf, n);
    pump();
    return TERN_OK;
}

static enum tern_rc f_line(void *arg, struct tbuf *line, size_t max, struct tern_err *err)
{
    tbuf_reset(line);
    const char *s = F.out.data ? F.out.data + F.rpos : "";
    size_t left = F.out.len - F.rpos;
    const char *nl = left ? memchr(s, '\n', left) : NULL;
    if (!nl)
        return tern_fail(err, TERN_ECONN, "fake server has nothing more to say");
    size_t take = (size_t)(nl - s) + 1;
    if (take > max)
        return tern_fail(err, TERN_EPROTO, "line too long");
    tbuf_append(line, s, take);
    F.rpos += take;
    return TERN_OK;
}

static enum tern_rc f_exact(void *arg, uint64_t n, conn_sink_fn *sink, void *sarg,
                            struct tern_err *err)
{
    if (n > F.out.len - F.rpos)
        return tern_fail(err, TERN_ECONN, "fake server closed in a literal");
    enum tern_rc rc = sink && n ? sink(sarg, F.out.data + F.rpos, (size_t)n) : TERN_OK;
    F.rpos += (size_t)n;
    return rc;
}

/* ------------------------------------------------------------- harness */

static struct imap_sess *S;

static void reset(unsigned caps)
{
    for (size_t i = 0; i < MAXSTORED; i++)
        tbuf_free(&F.st[i].data);
    tbuf_free(&F.in);
    tbuf_free(&F.out);
    tbuf_free(&F.log);
    memset(&F, 0, sizeof F);
    tbuf_init(&F.in, 0);
    tbuf_init(&F.out, 0);
    tbuf_init(&F.log, 0);
    add_box("INBOX");
    add_box("Sent");
    F.literalplus = (caps & CAP_LITERALPLUS) != 0;
    F.literalminus = (caps & CAP_LITERALMINUS) != 0;
    F.appenduid = (caps & CAP_UIDPLUS) != 0;
    imap_sess_free(&S);
    struct imap_io io = {.read_line = f_line, .read_exact = f_exact, .send = f_send};
    S = imap_sess_new(&io);
    S->caps = CAP_KNOWN | CAP_IMAP4REV1 | caps;
}

static const char *logged(void)
{
    return F.log.data ? F.log.data : "";
}

static bool data_is(size_t i, const char *want)
{
    return i < F.nst && F.st[i].data.len == strlen(want) &&
           !memcmp(F.st[i].data.data ? F.st[i].data.data : "", want, strlen(want));
}

/* 2024-01-02 10:00:00 UTC */
#define T0 1704189600

static const char MSG[] = "From: a@lab.test\r\nTo: b@lab.test\r\nBcc: hidden@lab.test\r\n"
                          "Subject: hi\r\n\r\nbody\r\n.\r\n";

static void test_literal_plus(void)
{
    reset(CAP_LITERALPLUS | CAP_UIDPLUS);
    struct imap_appenduid u = {0};
    struct tern_err err = {0};
    CHECK_INT(imap_append(S, "Sent", INDEX_FLAG_SEEN, T0, MSG, strlen(MSG), true, &u, &err),
              TERN_OK);
    char want[200];
    snprintf(want, sizeof want, "APPEND \"Sent\" (\\Seen) \"02-Jan-2024 10:00:00 +0000\" {%zu+}\n",
             strlen(MSG));
    CHECK_STR(logged(), want);
    CHECK_INT(F.nst, 1);
    CHECK(data_is(0, MSG)); /* byte for byte, Bcc kept */
    CHECK_STR(F.st[0].flags, "\\Seen");
    CHECK_INT(F.errors, 0);
    CHECK_INT(u.uidvalidity, 1234);
    CHECK_INT(u.uid, 1);
    CHECK(!S->broken);
}

static void test_sync_literal(void)
{
    reset(0);
    struct imap_appenduid u = {7, 7};
    struct tern_err err = {0};
    CHECK_INT(imap_append(S, "Sent", INDEX_FLAG_SEEN, 0, MSG, strlen(MSG), true, &u, &err),
              TERN_OK);
    char want[200];
    snprintf(want, sizeof want, "APPEND \"Sent\" (\\Seen) {%zu}\n", strlen(MSG));
    CHECK_STR(logged(), want);  /* no date: the server's clock */
    CHECK_INT(F.early_data, 0); /* nothing before the "+" */
    CHECK(data_is(0, MSG));
    CHECK_INT(F.errors, 0);
    CHECK_INT(u.uidvalidity, 0); /* no UIDPLUS: zeros */
    CHECK_INT(u.uid, 0);
    /* a second append on the same session */
    CHECK_INT(imap_append(S, "Sent", 0, T0, "x\r\n", 3, true, NULL, &err), TERN_OK);
    CHECK_INT(F.nst, 2);
    CHECK(data_is(1, "x\r\n"));
    CHECK_STR(F.st[1].flags, "");
}

static void test_literal_minus(void)
{
    reset(CAP_LITERALMINUS);
    struct tern_err err = {0};
    CHECK_INT(imap_append(S, "Sent", INDEX_FLAG_SEEN, 0, MSG, strlen(MSG), true, NULL, &err),
              TERN_OK);
    CHECK(strstr(logged(), "+}") != NULL);
    size_t big = 5000;
    char *b = malloc(big);
    for (size_t i = 0; i < big; i++)
        b[i] = (i % 100 == 98) ? '\r' : (i % 100 == 99) ? '\n' : 'a';
    tbuf_reset(&F.log);
    CHECK_INT(imap_append(S, "Sent", INDEX_FLAG_SEEN, 0, b, big, true, NULL, &err), TERN_OK);
    CHECK_STR(logged(), "APPEND \"Sent\" (\\Seen) {5000}\n"); /* over 4096: synchronizing */
    CHECK_INT(F.early_data, 0);
    CHECK_INT(F.nst, 2);
    CHECK(F.st[1].data.len == big && !memcmp(F.st[1].data.data, b, big));
    CHECK_INT(F.errors, 0);
    free(b);
}

static void test_trycreate(void)
{
    /* synchronizing: NO [TRYCREATE] before the "+": the literal is never sent */
    reset(0);
    struct tern_err err = {0};
    CHECK_INT(imap_append(S, "Sent Items", INDEX_FLAG_SEEN, T0, MSG, strlen(MSG), true, NULL, &err),
              TERN_OK);
    char want[400];
    snprintf(want, sizeof want,
             "APPEND \"Sent Items\" (\\Seen) \"02-Jan-2024 10:00:00 +0000\" {%zu}\n"
             "CREATE \"Sent Items\"\nSUBSCRIBE \"Sent Items\"\n"
             "APPEND \"Sent Items\" (\\Seen) \"02-Jan-2024 10:00:00 +0000\" {%zu}\n",
             strlen(MSG), strlen(MSG));
    CHECK_STR(logged(), want);
    CHECK_INT(F.nst, 1);
    CHECK_STR(F.st[0].box, "Sent Items");
    CHECK(data_is(0, MSG));
    CHECK_INT(F.errors, 0);
    CHECK(!S->broken);

    /* LITERAL+: the literal went out, the NO comes after it; one copy */
    reset(CAP_LITERALPLUS);
    CHECK_INT(
        imap_append(S, "Archive/Sent", INDEX_FLAG_SEEN, 0, MSG, strlen(MSG), true, NULL, &err),
        TERN_OK);
    CHECK_INT(F.nst, 1);
    CHECK(strstr(logged(), "CREATE \"Archive/Sent\"\n") != NULL);
    CHECK_INT(F.errors, 0);

    /* CREATE refused: one error, no loop */
    reset(0);
    F.create_fails = true;
    memset(&err, 0, sizeof err);
    CHECK_INT(imap_append(S, "Nope", 0, 0, MSG, strlen(MSG), true, NULL, &err), TERN_EREFUSED);
    CHECK(strstr(err.msg, "CREATE") != NULL);
    snprintf(want, sizeof want, "APPEND \"Nope\" () {%zu}\nCREATE \"Nope\"\n", strlen(MSG));
    CHECK_STR(logged(), want);
    CHECK_INT(F.nst, 0);

    /* without create: TRYCREATE is reported, nothing created */
    reset(0);
    memset(&err, 0, sizeof err);
    CHECK_INT(imap_append(S, "Nope", 0, 0, MSG, strlen(MSG), false, NULL, &err), TERN_ENOTFOUND);
    CHECK(strstr(logged(), "CREATE") == NULL);

    /* a plain NO (no TRYCREATE): no CREATE either */
    reset(CAP_LITERALPLUS);
    F.no_plain_trycreate = true;
    memset(&err, 0, sizeof err);
    CHECK_INT(imap_append(S, "Nope", 0, 0, MSG, strlen(MSG), true, NULL, &err), TERN_EREFUSED);
    CHECK(strstr(err.msg, "Mailbox doesn't exist") != NULL);
    CHECK(strstr(logged(), "CREATE") == NULL);
    CHECK(!S->broken); /* in step: the session can go on */
}

static void test_canonical_and_bad_input(void)
{
    /* bare LF and bare CR become CRLF; the literal is the size sent */
    reset(CAP_LITERALPLUS);
    struct tern_err err = {0};
    const char *in = "Subject: x\n\nline1\nline2\rline3\r\n";
    CHECK_INT(imap_append(S, "Sent", 0, 0, in, strlen(in), true, NULL, &err), TERN_OK);
    CHECK(data_is(0, "Subject: x\r\n\r\nline1\r\nline2\r\nline3\r\n"));
    CHECK_STR(logged(), "APPEND \"Sent\" () {35+}\n");
    CHECK_INT(F.errors, 0);

    /* NUL: refused before anything is sent */
    reset(CAP_LITERALPLUS);
    memset(&err, 0, sizeof err);
    CHECK_INT(imap_append(S, "Sent", 0, 0, "a\0b\r\n", 5, true, NULL, &err), TERN_EDATA);
    CHECK_STR(logged(), "");

    /* folder names: CR/LF refused, quotes escaped */
    memset(&err, 0, sizeof err);
    CHECK_INT(imap_append(S, "Sent\r\nA9 DELETE INBOX", 0, 0, MSG, strlen(MSG), true, NULL, &err),
              TERN_EDATA);
    CHECK_STR(logged(), "");
    memset(&err, 0, sizeof err);
    CHECK_INT(imap_append(S, "", 0, 0, MSG, strlen(MSG), true, NULL, &err), TERN_EDATA);
    memset(&err, 0, sizeof err);
    add_box("a\"b\\c");
    CHECK_INT(imap_append(S, "a\"b\\c", 0, 0, "x\r\n", 3, true, NULL, &err), TERN_OK);
    CHECK_STR(logged(), "APPEND \"a\\\"b\\\\c\" () {3+}\n");
    CHECK_STR(F.st[0].box, "a\"b\\c");

    /* an empty message is still a literal of 0 bytes */
    reset(0);
    memset(&err, 0, sizeof err);
    CHECK_INT(imap_append(S, "Sent", 0, 0, NULL, 0, true, NULL, &err), TERN_OK);
    CHECK_STR(logged(), "APPEND \"Sent\" () {0}\n");
    CHECK_INT(F.errors, 0);
}

static void test_hostile(void)
{
    /* "+" although the literal was non-synchronizing: out of step */
    reset(CAP_LITERALPLUS);
    F.cont_on_nonsync = true;
    struct tern_err err = {0};
    CHECK_INT(imap_append(S, "Sent", 0, 0, MSG, strlen(MSG), true, NULL, &err), TERN_EPROTO);
    CHECK(S->broken);
    /* a broken session refuses further work */
    memset(&err, 0, sizeof err);
    CHECK(imap_append(S, "Sent", 0, 0, MSG, strlen(MSG), true, NULL, &err) != TERN_OK);

    /* garbage APPENDUID is ignored, the append still succeeded */
    reset(CAP_LITERALPLUS | CAP_UIDPLUS);
    F.bad_appenduid = true;
    struct imap_appenduid u = {0};
    memset(&err, 0, sizeof err);
    CHECK_INT(imap_append(S, "Sent", 0, 0, MSG, strlen(MSG), true, &u, &err), TERN_OK);
    CHECK_INT(u.uidvalidity, 0);
    CHECK_INT(u.uid, 0);
    CHECK_INT(F.nst, 1);

    /* the server never answers (the line drops): a failure, never OK */
    reset(0);
    F.mute = true;
    memset(&err, 0, sizeof err);
    CHECK_INT(imap_append(S, "Sent", 0, 0, MSG, strlen(MSG), true, NULL, &err), TERN_ECONN);
    CHECK(S->broken);
    CHECK_INT(F.nst, 0);
    reset(CAP_LITERALPLUS);
    F.mute = true;
    memset(&err, 0, sizeof err);
    CHECK_INT(imap_append(S, "Sent", 0, 0, MSG, strlen(MSG), true, NULL, &err), TERN_ECONN);
}

/* ------------------------------------------------------ Sent folder */

static char tmpdir[] = "/tmp/tern-imap-append-XXXXXX";

static void test_sent_mailbox(void)
{
    char *raw = NULL, *disp = NULL;
    struct tern_err err = {0};

    /* configured name, not in the index: modified UTF-7 */
    reset(0);
    CHECK_INT(imap_sent_mailbox(S, "Entw\xc3\xbcrfe & Co", NULL, &raw, &disp, &err), TERN_OK);
    CHECK_STR(raw, "Entw&APw-rfe &- Co");
    CHECK_STR(disp, "Entw\xc3\xbcrfe & Co");
    CHECK_STR(logged(), ""); /* no LIST needed */
    free(raw);
    free(disp);
    memset(&err, 0, sizeof err);
    CHECK_INT(imap_sent_mailbox(S, "bad \xff utf8", NULL, &raw, &disp, &err), TERN_ECONFIG);
    CHECK(raw == NULL && disp == NULL);

    /* nothing configured, no index: LIST (SPECIAL-USE) */
    reset(CAP_LIST_EXTENDED | CAP_SPECIAL_USE);
    F.list_lines[0] = "* LIST (\\Drafts) \"/\" Drafts";
    F.list_lines[1] = "* LIST (\\Noselect \\Sent) \"/\" Ghost";
    F.list_lines[2] = "* LIST (\\HasNoChildren \\Sent) \"/\" \"Gesendete Objekte\"";
    memset(&err, 0, sizeof err);
    CHECK_INT(imap_sent_mailbox(S, NULL, NULL, &raw, &disp, &err), TERN_OK);
    CHECK_STR(raw, "Gesendete Objekte");
    CHECK_STR(logged(), "LIST (SPECIAL-USE) \"\" \"*\"\n");
    free(raw);
    free(disp);

    /* plain LIST on a server without LIST-EXTENDED; no \Sent: "Sent" */
    reset(0);
    F.list_lines[0] = "* LIST () \"/\" INBOX";
    F.list_lines[1] = "* LIST (\\Junk) \"/\" Junk";
    memset(&err, 0, sizeof err);
    CHECK_INT(imap_sent_mailbox(S, NULL, NULL, &raw, &disp, &err), TERN_OK);
    CHECK_STR(raw, "Sent");
    CHECK_STR(disp, "Sent");
    CHECK_STR(logged(), "LIST \"\" \"*\"\n");
    free(raw);
    free(disp);

    /* the index knows the \Sent folder: no LIST at all */
    struct index *ix = NULL;
    char path[256];
    snprintf(path, sizeof path, "%s/index.sqlite", tmpdir);
    CHECK_INT(index_open(path, 0, &ix, &err), TERN_OK);
    int64_t id = 0;
    CHECK_INT(index_folder_get_or_create(ix, "Gesendet \xc3\xa4", "Gesendet &AOQ-", &id, &err),
              TERN_OK);
    struct index_folder f;
    CHECK_INT(index_folder_get(ix, id, NULL, &f, &err), TERN_OK);
    f.special_use = INDEX_SPECIAL_SENT;
    CHECK_INT(index_folder_update(ix, &f, &err), TERN_OK);
    index_folder_clear(&f);
    CHECK_INT(index_folder_get_or_create(ix, "Mine", "INBOX.Mine", &id, &err), TERN_OK);
    reset(CAP_LIST_EXTENDED | CAP_SPECIAL_USE);
    CHECK_INT(imap_sent_mailbox(S, NULL, ix, &raw, &disp, &err), TERN_OK);
    CHECK_STR(raw, "Gesendet &AOQ-");
    CHECK_STR(disp, "Gesendet \xc3\xa4");
    CHECK_STR(logged(), "");
    free(raw);
    free(disp);
    /* a configured name the index knows: the server's raw name */
    CHECK_INT(imap_sent_mailbox(S, "Mine", ix, &raw, &disp, &err), TERN_OK);
    CHECK_STR(raw, "INBOX.Mine");
    free(raw);
    free(disp);
    /* and one it does not know: encoded, not looked up by special use */
    CHECK_INT(imap_sent_mailbox(S, "Other", ix, &raw, &disp, &err), TERN_OK);
    CHECK_STR(raw, "Other");
    free(raw);
    free(disp);
    index_close(&ix);
    unlink(path);
    char side[300];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

static void test_appender_misuse(void)
{
    struct imap_appender *ap = (struct imap_appender *)1;
    struct tern_err err = {0};
    CHECK(imap_appender_open(NULL, &ap, &err) != TERN_OK);
    CHECK(ap == NULL);
    struct tern_account a = {.name = "p", .incoming = INCOMING_POP3};
    struct imap_appender_params p = {.cfg = &a};
    memset(&err, 0, sizeof err);
    CHECK_INT(imap_appender_open(&p, &ap, &err), TERN_ECONFIG);
    imap_appender_close(&ap);
    imap_appender_close(NULL);
    CHECK_STR(imap_appender_folder(NULL), "");
    CHECK(imap_appender_add(NULL, 0, 0, "x", 1, NULL, &err) != TERN_OK);
}

int main(void)
{
    if (!mkdtemp(tmpdir))
        return 1;
    test_literal_plus();
    test_sync_literal();
    test_literal_minus();
    test_trycreate();
    test_canonical_and_bad_input();
    test_hostile();
    test_sent_mailbox();
    test_appender_misuse();
    imap_sess_free(&S);
    for (size_t i = 0; i < MAXSTORED; i++)
        tbuf_free(&F.st[i].data);
    tbuf_free(&F.in);
    tbuf_free(&F.out);
    tbuf_free(&F.log);
    rmdir(tmpdir);
    return check_done("imap-append");
}
