/*
 * Sync logic of core/imap against a scripted in-memory IMAP server: the
 * paths the lab's Dovecot does not take (no CONDSTORE/QRESYNC: full flag
 * fetch + expunge diff; no UIDNEXT), tagged replies out of order, a
 * UIDVALIDITY change, queued changes, and hostile replies. The fake server
 * keeps a mailbox, answers the commands tern sends and records them so the
 * tests can check the exact command text.
 */
#include "check.h"
#include "core/imap/private.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXMSG 64

struct fmsg {
    uint32_t uid;
    char flags[64];
    char subject[64];
    bool gone;
    uint64_t modseq;
};

struct fake {
    struct fmsg m[MAXMSG];
    size_t n;
    uint32_t uidvalidity, uidnext;
    bool send_uidnext;
    bool reverse_tags;  /* answer pipelined FETCHes' tagged OKs in reverse */
    bool condstore;     /* offer CONDSTORE (not QRESYNC) */
    uint64_t modseq;    /* HIGHESTMODSEQ */
    size_t huge_header; /* announce a header literal this big */
    /* hostile numbers: text sent instead of the real value (NULL: the
     * real one; "": leave the item out) */
    const char *exists_text; /* SELECT's EXISTS count */
    const char *uid1_text;   /* UID of the first message in a header FETCH */
    const char *seq1_text;   /* its sequence number */
    size_t flood;            /* "* OK" lines sent before a header FETCH's data */
    bool unsolicited;        /* a flag update by sequence number, no UID */
    struct tbuf out;         /* bytes the client has yet to read */
    size_t rpos;
    struct tbuf log;  /* commands received, one per line, without tags */
    char held[8][64]; /* tagged lines held back (reverse_tags) */
    size_t nheld;
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

static size_t alive(void)
{
    size_t k = 0;
    for (size_t i = 0; i < F.n; i++)
        k += !F.m[i].gone;
    return k;
}

/* parse "a:b" or "a:*" or "a" */
static void range(const char *s, uint32_t *lo, uint32_t *hi)
{
    char *end;
    *lo = (uint32_t)strtoul(s, &end, 10);
    *hi = *lo;
    if (*end == ':')
        *hi = end[1] == '*' ? UINT32_MAX : (uint32_t)strtoul(end + 1, NULL, 10);
}

static void fetch_one(size_t seq, struct fmsg *m, bool full)
{
    if (!full) {
        say("* %zu FETCH (UID %u FLAGS (%s))", seq, m->uid, m->flags);
        return;
    }
    char hdr[256];
    snprintf(hdr, sizeof hdr, "From: a@b.example\r\nSubject: %s\r\n\r\n", m->subject);
    size_t len = F.huge_header ? F.huge_header : strlen(hdr);
    char seqs[32], uid[48];
    snprintf(seqs, sizeof seqs, "%zu", seq);
    snprintf(uid, sizeof uid, "UID %u ", m->uid);
    if (m == &F.m[0] && F.seq1_text)
        snprintf(seqs, sizeof seqs, "%s", F.seq1_text);
    if (m == &F.m[0] && F.uid1_text)
        snprintf(uid, sizeof uid, "%s%s%s", *F.uid1_text ? "UID " : "", F.uid1_text,
                 *F.uid1_text ? " " : "");
    char line[1024];
    snprintf(line, sizeof line,
             "* %s FETCH (%sFLAGS (%s) INTERNALDATE \" 2-Jan-2024 10:00:00 +0000\" "
             "RFC822.SIZE 100 BODYSTRUCTURE (\"text\" \"plain\" NIL NIL NIL \"7bit\" 10 1) "
             "BODY[HEADER.FIELDS (FROM SUBJECT)] {%zu}\r\n",
             seqs, uid, m->flags, len);
    tbuf_puts(&F.out, line);
    if (F.huge_header)
        return; /* the client must refuse before reading it */
    tbuf_puts(&F.out, hdr);
    tbuf_puts(&F.out, ")\r\n");
}

/* Tagged replies of UID FETCH are held back and sent in reverse order at
 * the end of the burst when reverse_tags is set (Dovecot completes
 * pipelined FETCHes in parallel). */
static void tagged(const char *tag, const char *rest)
{
    if (F.reverse_tags && F.nheld < 8) {
        snprintf(F.held[F.nheld++], sizeof F.held[0], "%s %s", tag, rest);
        return;
    }
    say("%s %s", tag, rest);
}

static void flush_held(void)
{
    while (F.nheld)
        say("%s", F.held[--F.nheld]);
}

static void command(char *line)
{
    char *sp = strchr(line, ' ');
    if (!sp)
        return;
    *sp = '\0';
    const char *tag = line;
    char *cmd = sp + 1;
    tbuf_puts(&F.log, cmd);
    tbuf_putc(&F.log, '\n');
    if (!strncmp(cmd, "CAPABILITY", 10)) {
        say("* CAPABILITY IMAP4rev1 UIDPLUS");
        say("%s OK", tag);
    } else if (!strncmp(cmd, "LIST", 4)) {
        say("* LIST () \"/\" INBOX");
        say("* LIST (\\Trash) \"/\" Trash");
        say("%s OK", tag);
    } else if (!strncmp(cmd, "LSUB", 4)) {
        say("* LSUB () \"/\" INBOX");
        say("%s OK", tag);
    } else if (!strncmp(cmd, "ENABLE", 6)) {
        if (F.condstore)
            say("* ENABLED CONDSTORE");
        say("%s OK", tag);
    } else if (!strncmp(cmd, "UID SEARCH UID ", 15)) {
        uint32_t lo, hi;
        range(cmd + 15, &lo, &hi);
        struct tbuf r;
        tbuf_init(&r, 0);
        tbuf_puts(&r, "* SEARCH");
        for (size_t i = 0; i < F.n; i++)
            if (!F.m[i].gone && F.m[i].uid >= lo && F.m[i].uid <= hi)
                tbuf_printf(&r, " %u", F.m[i].uid);
        say("%s", r.data);
        tbuf_free(&r);
        say("%s OK", tag);
    } else if (!strncmp(cmd, "SELECT", 6)) {
        bool inbox = strstr(cmd, "INBOX") != NULL;
        if (!inbox || !F.exists_text)
            say("* %zu EXISTS", inbox ? alive() : 0);
        else if (*F.exists_text)
            say("* %s EXISTS", F.exists_text);
        say("* OK [UIDVALIDITY %u] ok", inbox ? F.uidvalidity : 77);
        if (F.send_uidnext)
            say("* OK [UIDNEXT %u] ok", inbox ? F.uidnext : 1);
        if (F.condstore)
            say("* OK [HIGHESTMODSEQ %llu] ok", (unsigned long long)F.modseq);
        say("%s OK [READ-WRITE] done", tag);
    } else if (!strncmp(cmd, "UID FETCH ", 10)) {
        uint32_t lo, hi;
        range(cmd + 10, &lo, &hi);
        bool full = strstr(cmd, "HEADER.FIELDS") != NULL;
        const char *cs = strstr(cmd, "(CHANGEDSINCE ");
        uint64_t since = cs ? strtoull(cs + 14, NULL, 10) : 0;
        size_t seq = 0;
        for (size_t i = 0; full && i < F.flood; i++)
            say("* OK still here");
        if (full && F.unsolicited)
            say("* 1 FETCH (FLAGS (\\Seen))");
        for (size_t i = 0; i < F.n; i++) {
            if (F.m[i].gone)
                continue;
            seq++;
            if (F.m[i].uid >= lo && F.m[i].uid <= hi && F.m[i].modseq > since)
                fetch_one(seq, &F.m[i], full);
        }
        if (F.huge_header && full)
            return;
        tagged(tag, "OK fetch done");
    } else if (!strncmp(cmd, "UID STORE ", 10)) {
        uint32_t lo, hi;
        range(cmd + 10, &lo, &hi);
        const char *fl = strchr(cmd, '(');
        bool add = strstr(cmd, "+FLAGS") != NULL;
        size_t seq = 0;
        for (size_t i = 0; i < F.n; i++) {
            if (F.m[i].gone)
                continue;
            seq++;
            if (F.m[i].uid < lo || F.m[i].uid > hi || !fl)
                continue;
            char want[64];
            snprintf(want, sizeof want, "%.*s", (int)(strchr(fl, ')') - fl - 1), fl + 1);
            if (add && !strstr(F.m[i].flags, want)) {
                size_t k = strlen(F.m[i].flags);
                snprintf(F.m[i].flags + k, sizeof F.m[i].flags - k, "%s%s", k ? " " : "", want);
            }
            if (!strstr(cmd, ".SILENT"))
                fetch_one(seq, &F.m[i], false);
        }
        say("%s OK store done", tag);
    } else if (!strncmp(cmd, "LOGOUT", 6)) {
        say("* BYE bye");
        say("%s OK", tag);
    } else {
        say("%s BAD unknown command", tag);
    }
}

static enum tern_rc f_send(void *arg, const void *buf, size_t n, struct tern_err *err)
{
    char *copy = tern_strndup(buf, n);
    for (char *line = copy, *next; line && *line; line = next) {
        next = strstr(line, "\r\n");
        if (next) {
            *next = '\0';
            next += 2;
        }
        command(line);
    }
    flush_held();
    free(copy);
    return TERN_OK;
}

static enum tern_rc f_line(void *arg, struct tbuf *line, size_t max, struct tern_err *err)
{
    tbuf_reset(line);
    const char *s = F.out.data + F.rpos;
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
    enum tern_rc rc = sink ? sink(sarg, F.out.data + F.rpos, (size_t)n) : TERN_OK;
    F.rpos += (size_t)n;
    return rc;
}

/* ------------------------------------------------------------- harness */

static char tmpdir[] = "/tmp/tern-imap-sync-XXXXXX";
static struct tern_account ACC;
static struct acct_env ENV;
static struct imap_drv D;

static void reset_fake(void)
{
    tbuf_free(&F.out);
    tbuf_free(&F.log);
    memset(&F, 0, sizeof F);
    tbuf_init(&F.out, 0);
    tbuf_init(&F.log, 0);
    F.uidvalidity = 100;
    F.send_uidnext = true;
}

static void add_msg(const char *subject, const char *flags)
{
    struct fmsg *m = &F.m[F.n++];
    if (F.uidnext == 0)
        F.uidnext = 1;
    m->uid = F.uidnext++;
    m->modseq = ++F.modseq;
    snprintf(m->subject, sizeof m->subject, "%s", subject);
    snprintf(m->flags, sizeof m->flags, "%s", flags);
}

static uint64_t untagged_max; /* 0: the session's default */

static enum tern_rc run_sync(struct acct_sync_stats *st, struct tern_err *err)
{
    struct imap_io io = {.read_line = f_line, .read_exact = f_exact, .send = f_send};
    imap_sess_free(&D.s);
    D.s = imap_sess_new(&io);
    if (untagged_max)
        D.s->untagged_max = untagged_max;
    D.sel_fid = 0;
    D.s->caps = CAP_KNOWN | CAP_IMAP4REV1 | CAP_UIDPLUS;
    if (F.condstore)
        D.s->caps |= CAP_CONDSTORE | CAP_ENABLE;
    memset(st, 0, sizeof *st);
    memset(err, 0, sizeof *err);
    tbuf_reset(&F.log);
    return imap_sync_all(&D, st, err);
}

static long long count(const char *what)
{
    struct index_folder f;
    struct tern_err err = {0};
    if (index_folder_get(D.ix, 0, what, &f, &err))
        return -1;
    long long t = (long long)f.total;
    index_folder_clear(&f);
    return t;
}

static int64_t id_of(uint32_t uid)
{
    struct index_folder f;
    struct index_msg m;
    struct tern_err err = {0};
    index_msg_init(&m);
    int64_t id = 0;
    if (!index_folder_get(D.ix, 0, "INBOX", &f, &err) &&
        !index_msg_get_uid(D.ix, f.id, uid, &m, &err))
        id = m.id;
    index_folder_clear(&f);
    index_msg_clear(&m);
    return id;
}

static unsigned flags_of(uint32_t uid)
{
    struct index_folder f;
    struct index_msg m;
    struct tern_err err = {0};
    index_msg_init(&m);
    unsigned fl = 999;
    if (!index_folder_get(D.ix, 0, "INBOX", &f, &err) &&
        !index_msg_get_uid(D.ix, f.id, uid, &m, &err))
        fl = m.flags;
    index_folder_clear(&f);
    index_msg_clear(&m);
    return fl;
}

static bool sent(const char *cmd)
{
    return F.log.data && strstr(F.log.data, cmd) != NULL;
}

static void test_plain_server(void)
{
    reset_fake();
    add_msg("one", "");
    add_msg("two", "\\Seen");
    add_msg("three", "\\Flagged $Work");
    struct acct_sync_stats st;
    struct tern_err err;
    CHECK_INT(run_sync(&st, &err), TERN_OK);
    if (err.rc)
        fprintf(stderr, "  %s\n", err.msg);
    CHECK_INT(st.new_messages, 3);
    CHECK_INT(count("INBOX"), 3);
    CHECK(sent("LIST \"\" \"*\"\nLSUB \"\" \"*\"\n")); /* no LIST-EXTENDED */
    CHECK(sent("SELECT \"INBOX\"\n"));                 /* no CONDSTORE param */
    CHECK(sent("UID FETCH 1:3 (UID FLAGS INTERNALDATE RFC822.SIZE BODYSTRUCTURE "
               "BODY.PEEK[HEADER.FIELDS (From To Cc Subject Date Message-ID In-Reply-To "
               "References List-Id Content-Type)])"));
    CHECK(!sent("ENABLE"));
    CHECK_INT(flags_of(2), INDEX_FLAG_SEEN);
    int64_t id1 = id_of(1);

    /* other client: flags changed, one expunged, one new */
    snprintf(F.m[0].flags, sizeof F.m[0].flags, "\\Answered");
    F.m[1].gone = true;
    add_msg("four", "");
    CHECK_INT(run_sync(&st, &err), TERN_OK);
    CHECK(sent("UID FETCH 1:3 (UID FLAGS)\n")); /* full flag fetch */
    CHECK(sent("UID FETCH 4 (UID FLAGS INTERNALDATE"));
    CHECK_INT(st.new_messages, 1);
    CHECK_INT(st.expunged, 1);
    CHECK_INT(st.flags_changed, 1);
    CHECK_INT(count("INBOX"), 3);
    CHECK_INT(flags_of(1), INDEX_FLAG_ANSWERED);
    CHECK_INT(flags_of(2), 999);
    CHECK(id_of(1) == id1); /* stable id */

    /* nothing changed: still a full flag fetch (no CONDSTORE), no new FETCH */
    CHECK_INT(run_sync(&st, &err), TERN_OK);
    CHECK_INT(st.new_messages + st.expunged + st.flags_changed, 0);
    CHECK(!sent("HEADER.FIELDS"));

    /* a queued flag change is replayed with STORE and its FETCH reply */
    CHECK_INT(index_pending_add(D.ix, id_of(3), INDEX_OP_FLAG_ADD, "1", NULL, &err), TERN_OK);
    CHECK_INT(run_sync(&st, &err), TERN_OK);
    CHECK(sent("UID STORE 3 +FLAGS (\\Seen)\n"));
    CHECK(strstr(F.m[2].flags, "\\Seen") != NULL);
    CHECK_INT(flags_of(3), INDEX_FLAG_FLAGGED | INDEX_FLAG_SEEN);
    struct tern_err e2 = {0};
    int64_t *ids = NULL;
    size_t np = 9;
    CHECK_INT(imap_pending_folders(&D, &ids, &np, &e2), TERN_OK);
    CHECK_INT(np, 0);
    free(ids);

    /* an expunge alone (the flag fetch is the last command of the burst) */
    F.m[0].gone = true;
    CHECK_INT(run_sync(&st, &err), TERN_OK);
    CHECK_INT(st.expunged, 1);
    CHECK_INT(count("INBOX"), 2);
    F.m[0].gone = false;
    CHECK_INT(run_sync(&st, &err), TERN_OK); /* back (a test shortcut): not refetched */
    CHECK_INT(count("INBOX"), 2);

    /* UIDVALIDITY change: everything dropped and fetched again, new ids */
    F.uidvalidity = 200;
    CHECK_INT(run_sync(&st, &err), TERN_OK);
    CHECK_INT(st.expunged, 2);
    CHECK_INT(st.new_messages, 3);
    CHECK_INT(count("INBOX"), 3);
    CHECK(id_of(1) != id1 && id_of(1) != 0);
}

static void drop_inbox(void)
{
    struct tern_err err = {0};
    struct index_folder f;
    if (!index_folder_get(D.ix, 0, "INBOX", &f, &err)) {
        index_folder_delete(D.ix, f.id, &err);
        index_folder_clear(&f);
    }
}

static void test_out_of_order_and_no_uidnext(void)
{
    reset_fake();
    drop_inbox();
    for (int i = 0; i < 5; i++)
        add_msg("m", "");
    struct acct_sync_stats st;
    struct tern_err err;
    CHECK_INT(run_sync(&st, &err), TERN_OK);
    CHECK_INT(count("INBOX"), 5);
    /* flag fetch and new-mail fetch in one burst, answered in reverse */
    F.reverse_tags = true;
    snprintf(F.m[1].flags, sizeof F.m[1].flags, "\\Flagged");
    F.m[3].gone = true;
    add_msg("n1", "");
    add_msg("n2", "\\Seen");
    CHECK_INT(run_sync(&st, &err), TERN_OK);
    if (err.rc)
        fprintf(stderr, "  %s\n", err.msg);
    CHECK(!D.s->broken);
    CHECK_INT(count("INBOX"), 6);
    CHECK_INT(st.expunged, 1);
    CHECK_INT(st.new_messages, 2);
    CHECK_INT(flags_of(2), INDEX_FLAG_FLAGGED);
    CHECK_INT(flags_of(7), INDEX_FLAG_SEEN);
    /* no UIDNEXT: one open-ended fetch, the watermark from the data */
    F.reverse_tags = false;
    F.send_uidnext = false;
    add_msg("late", "");
    CHECK_INT(run_sync(&st, &err), TERN_OK);
    CHECK(sent("UID FETCH 8:* (UID FLAGS INTERNALDATE"));
    CHECK_INT(st.new_messages, 1);
    CHECK_INT(count("INBOX"), 7);
    /* `9:*` when 8 is the highest answers 8 again: not a new message */
    CHECK_INT(run_sync(&st, &err), TERN_OK);
    CHECK(sent("UID FETCH 9:* (UID FLAGS INTERNALDATE"));
    CHECK_INT(st.new_messages, 0);
    CHECK_INT(count("INBOX"), 7);

    /* a sync killed after committing chunks out of order leaves rows above
     * the watermark; one of them is expunged before the next sync */
    F.send_uidnext = true;
    struct index_folder f;
    CHECK_INT(index_folder_get(D.ix, 0, "INBOX", &f, &err), TERN_OK);
    f.uidnext = 3;
    f.highestmodseq = 0;
    CHECK_INT(index_folder_update(D.ix, &f, &err), TERN_OK);
    index_folder_clear(&f);
    int64_t id6 = id_of(6);
    F.m[4].gone = true; /* uid 5 */
    CHECK_INT(run_sync(&st, &err), TERN_OK);
    CHECK(sent("UID FETCH 3:8 (UID FLAGS INTERNALDATE"));
    CHECK_INT(count("INBOX"), 6);
    CHECK(id_of(5) == 0);
    CHECK(id_of(6) == id6);        /* refetched rows keep their ids */
    CHECK_INT(st.new_messages, 4); /* 3, 6, 7, 8 (4 and 5 are gone) */
}

static void test_hostile(void)
{
    reset_fake();
    struct tern_err err;
    drop_inbox();
    add_msg("x", "");
    F.huge_header = IMAP_LITERAL_MAX + 1;
    struct acct_sync_stats st;
    CHECK_INT(run_sync(&st, &err), TERN_EPROTO);
    CHECK(strstr(err.msg, "literal") != NULL);
    CHECK(D.s->broken);
    /* the index is still usable and holds nothing half-written */
    CHECK_INT(count("INBOX"), 0);
    F.huge_header = 0;
    tbuf_reset(&F.out);
    F.rpos = 0;
    CHECK_INT(run_sync(&st, &err), TERN_OK);
    CHECK_INT(count("INBOX"), 1);
}

static uint32_t watermark(void)
{
    struct index_folder f;
    struct tern_err err = {0};
    if (index_folder_get(D.ix, 0, "INBOX", &f, &err))
        return 999;
    uint32_t u = f.uidnext;
    index_folder_clear(&f);
    return u;
}

/* A bad number must fail the sync, not be skipped: nothing stored, the
 * watermark where it was, and the next clean sync brings every message. */
static void bad_number_case(const char *what, const char **knob, const char *text, const char *msg)
{
    reset_fake();
    drop_inbox();
    add_msg("one", "");
    add_msg("two", "");
    struct acct_sync_stats st;
    struct tern_err err;
    *knob = text;
    enum tern_rc rc = run_sync(&st, &err);
    if (rc != TERN_EPROTO)
        fprintf(stderr, "  case %s: rc %d (%s)\n", what, (int)rc, err.msg);
    CHECK_INT(rc, TERN_EPROTO);
    CHECK(strstr(err.msg, msg) != NULL);
    CHECK(count("INBOX") <= 0);
    CHECK(watermark() <= 1);
    *knob = NULL;
    tbuf_reset(&F.out);
    F.rpos = 0;
    CHECK_INT(run_sync(&st, &err), TERN_OK);
    CHECK_INT(count("INBOX"), 2);
    CHECK(id_of(1) != 0 && id_of(2) != 0);
    CHECK_INT(watermark(), 3);
}

static void test_bad_numbers(void)
{
    bad_number_case("exists 2^32", &F.exists_text, "4294967296", "out-of-range");
    bad_number_case("exists 20 digits", &F.exists_text, "99999999999999999999", "out-of-range");
    bad_number_case("exists negative", &F.exists_text, "-1", "out-of-range");
    bad_number_case("no exists", &F.exists_text, "", "EXISTS");
    bad_number_case("uid 2^32+1", &F.uid1_text, "4294967297", "UID");
    bad_number_case("uid 20 digits", &F.uid1_text, "99999999999999999999", "UID");
    bad_number_case("uid negative", &F.uid1_text, "-1", "UID");
    bad_number_case("uid 0", &F.uid1_text, "0", "UID");
    bad_number_case("no uid", &F.uid1_text, "", "UID");
    bad_number_case("seq 20 digits", &F.seq1_text, "99999999999999999999", "out-of-range");
    bad_number_case("seq 2^32", &F.seq1_text, "4294967296", "out-of-range");

    /* an unsolicited flag update without UID is not an error */
    reset_fake();
    drop_inbox();
    add_msg("one", "");
    F.unsolicited = true;
    struct acct_sync_stats st;
    struct tern_err err;
    CHECK_INT(run_sync(&st, &err), TERN_OK);
    CHECK_INT(count("INBOX"), 1);
}

/* A server answering with well-formed untagged data without end: the wait
 * stops at the ceiling (lowered here) and the chunk is rolled back. */
static void test_untagged_flood(void)
{
    reset_fake();
    drop_inbox();
    add_msg("one", "");
    add_msg("two", "");
    struct acct_sync_stats st;
    struct tern_err err;
    untagged_max = 100;
    F.flood = 101; /* plus EXISTS and the OK lines of SELECT in their own wait */
    CHECK_INT(run_sync(&st, &err), TERN_EPROTO);
    CHECK(strstr(err.msg, "more than 100 responses") != NULL);
    CHECK(D.s->broken);
    CHECK(count("INBOX") <= 0);
    CHECK(watermark() <= 1);
    /* up to the ceiling is fine: 96 + 2 FETCH = 98 */
    tbuf_reset(&F.out);
    F.rpos = 0;
    F.flood = 96;
    CHECK_INT(run_sync(&st, &err), TERN_OK);
    CHECK_INT(count("INBOX"), 2);
    CHECK_INT(watermark(), 3);
    untagged_max = 0;
    /* the default ceiling holds a 1,000,000-message mailbox's flag fetch
     * plus as many new headers */
    CHECK(IMAP_UNTAGGED_MAX >= 2000000);
}

static void set_flags(size_t i, const char *flags)
{
    snprintf(F.m[i].flags, sizeof F.m[i].flags, "%s", flags);
    F.m[i].modseq = ++F.modseq;
}

/* CONDSTORE without QRESYNC: flag changes by CHANGEDSINCE, expunges found
 * by comparing counts and then the UID list. */
static void test_condstore(void)
{
    reset_fake();
    drop_inbox();
    F.condstore = true;
    for (int i = 0; i < 6; i++)
        add_msg("c", "");
    struct acct_sync_stats st;
    struct tern_err err;
    CHECK_INT(run_sync(&st, &err), TERN_OK);
    if (err.rc)
        fprintf(stderr, "  %s\n", err.msg);
    CHECK(sent("ENABLE CONDSTORE\n"));
    CHECK(sent("SELECT \"INBOX\" (CONDSTORE)\n"));
    CHECK_INT(count("INBOX"), 6);
    struct index_folder f;
    CHECK_INT(index_folder_get(D.ix, 0, "INBOX", &f, &err), TERN_OK);
    CHECK_INT(f.highestmodseq, 6);
    index_folder_clear(&f);
    /* nothing changed: CHANGEDSINCE returns nothing, counts match, no SEARCH */
    CHECK_INT(run_sync(&st, &err), TERN_OK);
    CHECK(sent("UID FETCH 1:6 (UID FLAGS) (CHANGEDSINCE 6)\n"));
    CHECK(!sent("SEARCH"));
    CHECK_INT(st.flags_changed + st.expunged + st.new_messages, 0);
    set_flags(1, "\\Flagged");
    F.m[4].gone = true;
    F.modseq++;
    CHECK_INT(run_sync(&st, &err), TERN_OK);
    CHECK_INT(st.flags_changed, 1);
    CHECK_INT(flags_of(2), INDEX_FLAG_FLAGGED);
    CHECK(sent("UID SEARCH UID 1:6\n"));
    CHECK_INT(st.expunged, 1);
    CHECK_INT(count("INBOX"), 5);
    CHECK(id_of(5) == 0);
    CHECK_INT(index_folder_get(D.ix, 0, "INBOX", &f, &err), TERN_OK);
    CHECK_INT(f.highestmodseq, 8);
    index_folder_clear(&f);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    struct tern_err err = {0};
    CHECK_INT(index_open_dir(tmpdir, 0, &D.ix, &err), TERN_OK);
    ACC.name = "t";
    ACC.data_dir = tmpdir;
    ENV.cfg = &ACC;
    ENV.index = D.ix;
    D.env = &ENV;
    char cache[256];
    snprintf(cache, sizeof cache, "%s/cache", tmpdir);
    D.cache_root = cache;
    test_plain_server();
    test_out_of_order_and_no_uidnext();
    test_hostile();
    test_condstore();
    test_bad_numbers();
    test_untagged_flood();
    imap_sess_free(&D.s);
    index_close(&D.ix);
    tbuf_free(&F.out);
    tbuf_free(&F.log);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_done("test-imap-sync");
}
