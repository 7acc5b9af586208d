/*
 * IMAP IDLE (core/imap/idle.c, the driver's wait_changes slot) against a
 * scripted in-memory server: which untagged responses count as a change,
 * DONE and the tagged reply after a wake or a timeout, a line cut across
 * wait slices, and hostile input (an endless line, a tagged reply in the
 * middle of IDLE, BYE, a refused IDLE, no IDLE capability).
 *
 * The fake's output is a byte queue; a '\x01' byte in it stands for one
 * wait slice of silence (read_line then returns TERN_ETIMEOUT with what
 * part of a line it has, as conn_read_line does), and so does an empty
 * queue while IDLE runs.
 */
#include "check.h"
#include "core/imap/private.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fake {
    bool no_idle_cap;
    bool refuse_idle;
    const char *during;     /* sent right after "+ idling" */
    const char *after_done; /* untagged lines before the tagged OK of IDLE */
    uint32_t uidnext, uidvalidity, exists;
    bool idling;
    bool closes; /* after what it has to say, the connection closes */
    char idle_tag[16];
    unsigned silences;   /* slices of silence read */
    unsigned wake_after; /* set WAKE after this many slices (0: never) */
    struct tbuf out;
    size_t rpos;
    struct tbuf log; /* commands received, without tags */
};

static struct fake F;
static volatile sig_atomic_t WAKE;

static void say(const char *fmt, ...) TERN_PRINTF(1, 2);
static void say(const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    tbuf_puts(&F.out, buf);
}

static void command(char *line)
{
    if (F.idling) {
        tbuf_puts(&F.log, line);
        tbuf_putc(&F.log, '\n');
        if (!strcmp(line, "DONE")) {
            F.idling = false;
            if (F.after_done)
                say("%s", F.after_done);
            say("%s OK Idle completed.\r\n", F.idle_tag);
        }
        return;
    }
    char *sp = strchr(line, ' ');
    if (!sp)
        return;
    *sp = '\0';
    const char *tag = line, *cmd = sp + 1;
    tbuf_puts(&F.log, cmd);
    tbuf_putc(&F.log, '\n');
    if (!strcmp(cmd, "CAPABILITY")) {
        say("* CAPABILITY IMAP4rev1 LITERAL+%s\r\n%s OK done\r\n", F.no_idle_cap ? "" : " IDLE",
            tag);
    } else if (!strncmp(cmd, "EXAMINE ", 8)) {
        say("* %u EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY %u] ok\r\n* OK [UIDNEXT %u] ok\r\n"
            "%s OK [READ-ONLY] done\r\n",
            F.exists, F.uidvalidity, F.uidnext, tag);
    } else if (!strcmp(cmd, "IDLE")) {
        if (F.refuse_idle) {
            say("%s NO [SERVERBUG] not now\r\n", tag);
            return;
        }
        F.idling = true;
        snprintf(F.idle_tag, sizeof F.idle_tag, "%s", tag);
        say("+ idling\r\n");
        if (F.during)
            tbuf_puts(&F.out, F.during); /* may be long: not through say() */
    } else {
        say("%s BAD unknown\r\n", tag);
    }
}

static enum tern_rc f_send(void *arg, const void *buf, size_t n, struct tern_err *err)
{
    (void)arg;
    (void)err;
    char *copy = tern_strndup(buf, n);
    for (char *line = copy, *next; line && *line; line = next) {
        next = strstr(line, "\r\n");
        if (next) {
            *next = '\0';
            next += 2;
        }
        command(line);
    }
    free(copy);
    return TERN_OK;
}

static enum tern_rc silence(struct tern_err *err)
{
    if (++F.silences == F.wake_after)
        WAKE = 1;
    return tern_fail(err, TERN_ETIMEOUT, "fake: no reply for a slice");
}

static enum tern_rc f_line(void *arg, struct tbuf *line, size_t max, struct tern_err *err)
{
    (void)arg;
    tbuf_reset(line);
    for (;;) {
        if (F.rpos == F.out.len) {
            if (F.idling && !F.closes)
                return silence(err);
            return tern_fail(err, TERN_ECONN, "fake server has nothing more to say");
        }
        char c = F.out.data[F.rpos];
        if (c == '\x01') {
            F.rpos++;
            return silence(err);
        }
        if (line->len + 1 > max)
            return tern_fail(err, TERN_EPROTO, "line too long");
        tbuf_putc(line, c);
        F.rpos++;
        if (c == '\n')
            return TERN_OK;
    }
}

static enum tern_rc f_exact(void *arg, uint64_t n, conn_sink_fn *sink, void *sarg,
                            struct tern_err *err)
{
    (void)arg;
    if (n > F.out.len - F.rpos)
        return tern_fail(err, TERN_ECONN, "fake server closed in a literal");
    enum tern_rc rc = sink ? sink(sarg, F.out.data + F.rpos, (size_t)n) : TERN_OK;
    F.rpos += (size_t)n;
    return rc;
}

/* ------------------------------------------------------------- harness */

static char tmpdir[] = "/tmp/tern-imap-idle-XXXXXX";
static struct tern_account ACC;
static struct acct_env ENV;
static struct imap_drv D;
static int64_t FID;

static void reset(void)
{
    tbuf_free(&F.out);
    tbuf_free(&F.log);
    memset(&F, 0, sizeof F);
    tbuf_init(&F.out, 0);
    tbuf_init(&F.log, 0);
    F.uidnext = 4;
    F.uidvalidity = 7;
    F.exists = 3;
    WAKE = 0;
    struct imap_io io = {.read_line = f_line, .read_exact = f_exact, .send = f_send};
    imap_sess_free(&D.s);
    D.s = imap_sess_new(&io);
    D.s->caps = CAP_KNOWN | CAP_IMAP4REV1;
    D.sel_fid = 0;
}

static enum tern_rc run(struct acct_wait *w, unsigned timeout_ms, bool compare,
                        struct tern_err *err)
{
    memset(w, 0, sizeof *w);
    w->folder_id = FID;
    w->timeout_ms = timeout_ms;
    w->compare = compare;
    w->wake = &WAKE;
    memset(err, 0, sizeof *err);
    w->changed = true; /* must be set by the call */
    return imap_wait_changes(&D, w, err);
}

static bool logged(const char *cmd)
{
    return F.log.data && strstr(F.log.data, cmd) != NULL;
}

/* The session is in step after the call: a NOOP-like command still works. */
static bool in_step(void)
{
    if (!D.s || D.s->broken)
        return false;
    struct tern_err err = {0};
    return imap_simple(D.s, NULL, NULL, &err, "CAPABILITY") == TERN_OK;
}

static void test_no_capability(void)
{
    reset();
    F.no_idle_cap = true;
    struct acct_wait w;
    struct tern_err err;
    CHECK_INT(run(&w, 60000, false, &err), TERN_ENOTSUP);
    CHECK(!logged("IDLE\n"));
    CHECK(!w.changed);
}

static void test_exists_is_a_change(void)
{
    reset();
    F.during = "* OK Still here\r\n\x01\x01* 3 EXISTS\r\n\x01* 4 EXISTS\r\n";
    struct acct_wait w;
    struct tern_err err;
    CHECK_INT(run(&w, 60000, false, &err), TERN_OK);
    CHECK(w.changed);
    CHECK(logged("EXAMINE \"INBOX\"\n"));
    CHECK(logged("IDLE\nDONE\n"));
    CHECK(!F.idling);
    CHECK(in_step());
}

static void test_other_changes(void)
{
    static const char *const cases[] = {
        "* 2 EXPUNGE\r\n",
        "* 1 FETCH (FLAGS (\\Seen))\r\n",
        "* VANISHED 3\r\n",
        /* a literal inside: read out of the way, still a change */
        "* 2 FETCH (UID 9 BODY[HEADER.FIELDS (SUBJECT)] {12}\r\nSubject: x\r\n)\r\n",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        reset();
        F.during = cases[i];
        struct acct_wait w;
        struct tern_err err;
        CHECK_INT(run(&w, 60000, false, &err), TERN_OK);
        CHECK(w.changed);
        CHECK(logged("DONE\n"));
        CHECK(in_step());
    }
}

static void test_wake_and_timeout(void)
{
    /* nothing but keepalives and the same count: the wake ends it */
    reset();
    F.during = "* OK Still here\r\n* 3 EXISTS\r\n";
    F.wake_after = 5;
    struct acct_wait w;
    struct tern_err err;
    CHECK_INT(run(&w, 60000, false, &err), TERN_OK);
    CHECK(!w.changed);
    CHECK(F.silences >= 5);
    CHECK(logged("IDLE\nDONE\n"));
    CHECK(in_step());

    /* a change reported between the wake and the tagged OK still counts */
    reset();
    F.wake_after = 2;
    F.after_done = "* 5 EXISTS\r\n";
    CHECK_INT(run(&w, 60000, false, &err), TERN_OK);
    CHECK(w.changed);
    CHECK(in_step());

    /* the timeout: IDLE is ended (the caller re-issues it) */
    reset();
    CHECK_INT(run(&w, 200, false, &err), TERN_OK);
    CHECK(!w.changed);
    CHECK(logged("DONE\n"));
    CHECK(in_step());
}

static void test_line_across_slices(void)
{
    reset();
    F.during = "* 4 EXI\x01\x01STS\r\n";
    struct acct_wait w;
    struct tern_err err;
    CHECK_INT(run(&w, 60000, false, &err), TERN_OK);
    CHECK(w.changed);
    CHECK(in_step());

    /* a wake in the middle of a line waits for the line's end */
    reset();
    F.during = "* OK Sti\x01\x01\x01ll here\r\n";
    F.wake_after = 1;
    CHECK_INT(run(&w, 60000, false, &err), TERN_OK);
    CHECK(!w.changed);
    CHECK(in_step());
}

static void test_compare(void)
{
    struct index_folder f = {0};
    struct tern_err err = {0};
    CHECK_INT(index_folder_get(D.ix, FID, NULL, &f, &err), TERN_OK);
    f.uidvalidity = 7;
    f.uidnext = 4;
    CHECK_INT(index_folder_update(D.ix, &f, &err), TERN_OK);

    /* the index agrees with the server: IDLE */
    reset();
    F.wake_after = 1;
    struct acct_wait w;
    CHECK_INT(run(&w, 60000, true, &err), TERN_OK);
    CHECK(!w.changed);
    CHECK(logged("IDLE\n"));

    /* mail came before the wait: a change at once, no IDLE */
    reset();
    F.uidnext = 6;
    CHECK_INT(run(&w, 60000, true, &err), TERN_OK);
    CHECK(w.changed);
    CHECK(!logged("IDLE\n"));
    CHECK(in_step());

    /* a new UIDVALIDITY too */
    reset();
    F.uidvalidity = 8;
    CHECK_INT(run(&w, 60000, true, &err), TERN_OK);
    CHECK(w.changed);

    /* without compare the server's word alone counts */
    reset();
    F.uidnext = 6;
    F.wake_after = 1;
    CHECK_INT(run(&w, 60000, false, &err), TERN_OK);
    CHECK(!w.changed);
    index_folder_clear(&f);
}

static void test_hostile(void)
{
    struct acct_wait w;
    struct tern_err err;

    /* an endless line, a piece per slice: a ceiling, the session dropped */
    reset();
    struct tbuf big;
    tbuf_init(&big, 0);
    tbuf_puts(&big, "* OK ");
    for (int i = 0; i < 200; i++) {
        for (int k = 0; k < 1000; k++)
            tbuf_putc(&big, 'x');
        tbuf_putc(&big, '\x01');
    }
    F.during = big.data;
    CHECK_INT(run(&w, 60000, false, &err), TERN_EPROTO);
    CHECK(D.s == NULL);
    tbuf_free(&big);

    /* a line that stops half way and never ends: the normal timeout */
    reset();
    F.during = "* 4 EXI";
    CHECK_INT(run(&w, 60000, false, &err), TERN_ETIMEOUT);
    CHECK(D.s == NULL);

    /* a tagged reply in the middle of IDLE: out of step, dropped */
    reset();
    F.during = "A3 OK whatever\r\n";
    CHECK_INT(run(&w, 60000, false, &err), TERN_EPROTO);
    CHECK(D.s == NULL);

    /* BYE, then the connection closes */
    reset();
    F.during = "* BYE shutting down\r\n";
    F.closes = true;
    CHECK_INT(run(&w, 60000, false, &err), TERN_ECONN);
    CHECK(strstr(err.msg, "BYE") != NULL);
    CHECK(D.s == NULL);

    /* an untagged response with a huge literal while idling */
    reset();
    F.during = "* 1 FETCH (BODY[] {99999999999}\r\n";
    CHECK_INT(run(&w, 60000, false, &err), TERN_EPROTO);
    CHECK(D.s == NULL);

    /* IDLE refused */
    reset();
    F.refuse_idle = true;
    CHECK(run(&w, 60000, false, &err) != TERN_OK);
    CHECK(strstr(err.msg, "not now") != NULL);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    struct tern_err err = {0};
    CHECK_INT(index_open_dir(tmpdir, 0, &D.ix, &err), TERN_OK);
    CHECK_INT(index_folder_get_or_create(D.ix, "INBOX", "INBOX", &FID, &err), TERN_OK);
    ACC.name = "t";
    ACC.data_dir = tmpdir;
    ACC.timeout = 1;
    ENV.cfg = &ACC;
    ENV.index = D.ix;
    D.env = &ENV;
    char cache[256];
    snprintf(cache, sizeof cache, "%s/cache", tmpdir);
    D.cache_root = cache;
    test_no_capability();
    test_exists_is_a_change();
    test_other_changes();
    test_wake_and_timeout();
    test_line_across_slices();
    test_compare();
    test_hostile();
    imap_sess_free(&D.s);
    index_close(&D.ix);
    tbuf_free(&F.out);
    tbuf_free(&F.log);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_done("test-imap-idle");
}
