/*
 * core/outbox: the queue on disk (add, list, metadata round trip, removal,
 * failed/, hostile metadata, orphans) and flush without a server (empty
 * queue: nothing happens; due entries with an unreachable server: an
 * attempt is counted and the next try pushed back; not due: skipped).
 * The SMTP paths are covered by tests/integration/test_send.py.
 */
#include "check.h"
#include "check_fs.h"
#include "core/outbox/lib.h"
#include "core/outbox/private.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64];

static size_t count_dir(const char *sub)
{
    char p[256];
    snprintf(p, sizeof p, "%s/outbox/%s", root, sub);
    DIR *d = opendir(p);
    size_t n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += de->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static const char *rc2[] = {"bob@example.org", "carol@example.org"};

static void add_entry(struct outbox_store *st, struct store_meta *m, const char *msg, time_t next)
{
    memset(m, 0, sizeof *m);
    m->e.from = strdup("alice@example.org");
    m->e.rcpts = calloc(2, sizeof *m->e.rcpts);
    m->e.rcpts[0] = strdup(rc2[0]);
    m->e.rcpts[1] = strdup(rc2[1]);
    m->e.nrcpts = 2;
    m->e.created = 1700000000;
    m->e.next_try = next;
    m->e.attempts = 1;
    m->e.save_sent = true;
    m->e.error = strdup("451 4.3.0 try\nlater");
    CHECK_INT(store_add(st, msg, strlen(msg), m, NULL), TERN_OK);
}

static void test_store(struct tern_account *a)
{
    struct outbox_list l;
    /* no outbox yet: empty list, flush does nothing */
    CHECK_INT(outbox_list(a, &l, NULL), TERN_OK);
    CHECK_INT(l.n, 0);
    outbox_list_free(&l);
    struct outbox_opts o = {0};
    struct outbox_flush_stats fs;
    CHECK_INT(outbox_flush(a, &o, &fs, NULL), TERN_OK);
    CHECK_INT(fs.sent + fs.queued + fs.failed + fs.skipped, 0);

    struct outbox_store *st = NULL;
    CHECK_INT(store_open(a, true, &st, NULL), TERN_OK);
    struct store_meta m1, m2;
    add_entry(st, &m1, "Subject: =?UTF-8?B?w5xiZXI=?=\r\nBcc: x@example.org\r\n\r\nbody\r\n",
              1700000000);
    add_entry(st, &m2, "Subject: second\r\n\r\nbody\r\n", 1700000000);
    CHECK(strcmp(m1.e.id, m2.e.id) != 0);
    CHECK_INT(count_dir("new"), 2);
    CHECK_INT(count_dir("meta"), 2);
    CHECK_INT(count_dir("tmp"), 0);

    struct store_meta r;
    CHECK_INT(store_read_meta(st, m1.e.id, &r, NULL), TERN_OK);
    CHECK_STR(r.e.from, "alice@example.org");
    CHECK_INT(r.e.nrcpts, 2);
    CHECK_STR(r.e.rcpts[1], "carol@example.org");
    CHECK_INT(r.e.attempts, 1);
    CHECK(r.e.save_sent);
    CHECK(!r.sent);
    CHECK_STR(r.e.error, "451 4.3.0 try later"); /* one line */
    CHECK_INT(r.e.state, OUTBOX_QUEUED);
    store_meta_free(&r);
    store_meta_free(&r);

    CHECK_INT(outbox_list(a, &l, NULL), TERN_OK);
    CHECK_INT(l.n, 2);
    if (l.n == 2) {
        CHECK_STR(l.v[0].subject, "\xc3\x9c"
                                  "ber");
        CHECK_STR(l.v[1].subject, "second");
        CHECK(l.v[0].size > 0);
    }
    outbox_list_free(&l);

    /* ids that try to leave the directory */
    CHECK_INT(store_read_meta(st, "../../etc/passwd", &r, NULL), TERN_ENOTFOUND);
    CHECK_INT(store_remove(st, "..", NULL), TERN_ENOTFOUND);
    CHECK_INT(outbox_delete(a, "../x", NULL), TERN_ENOTFOUND);

    /* hostile metadata: skipped, counted, never crashes */
    char p[256];
    snprintf(p, sizeof p, "%s/outbox/meta/1700000000.1_00000000000000aa", root);
    FILE *f = fopen(p, "w");
    fputs("tern-outbox 1\nid 1700000000.1_00000000000000aa\nfrom a@b.c\n"
          "rcpt evil@example.org>\r\nRSET\nattempts 99999999999999999999\n",
          f);
    fclose(f);
    CHECK_INT(outbox_list(a, &l, NULL), TERN_OK);
    CHECK_INT(l.n, 2);
    CHECK(l.orphans >= 1);
    outbox_list_free(&l);
    unlink(p);

    /* delete: moved to failed/ */
    CHECK_INT(outbox_delete(a, m2.e.id, NULL), TERN_OK);
    CHECK_INT(count_dir("meta"), 1);
    CHECK_INT(count_dir("new"), 1);
    CHECK_INT(count_dir("failed"), 2);
    CHECK_INT(outbox_delete(a, m2.e.id, NULL), TERN_ENOTFOUND);

    /* flush: not due -> skipped, no connection, no password asked */
    struct outbox_store *locked = NULL;
    CHECK_INT(store_open(a, false, &locked, NULL), TERN_OK);
    CHECK_INT(store_lock(locked, NULL), TERN_OK);
    o.now = 1600000000;
    CHECK_INT(outbox_flush(a, &o, &fs, NULL), TERN_ELOCKED);
    store_close(&locked);
    CHECK_INT(outbox_flush(a, &o, &fs, NULL), TERN_OK);
    CHECK_INT(fs.skipped, 1);

    /* due, server unreachable: an attempt, next try pushed back */
    o.now = 1700000100;
    struct tern_err e = {0};
    CHECK_INT(outbox_flush(a, &o, &fs, &e), TERN_ECONN);
    CHECK_INT(fs.queued, 1);
    CHECK_INT(store_read_meta(st, m1.e.id, &r, NULL), TERN_OK);
    CHECK_INT(r.e.attempts, 2);
    CHECK_INT(r.e.next_try, 1700000100 + OUTBOX_BACKOFF_FIRST);
    CHECK_INT(r.e.last_try, 1700000100);
    store_meta_free(&r);
    CHECK_INT(outbox_flush(a, &o, &fs, NULL), TERN_OK); /* not due again yet */
    CHECK_INT(fs.skipped, 1);
    o.force = true;
    CHECK_INT(outbox_flush(a, &o, &fs, NULL), TERN_ECONN);
    CHECK_INT(store_read_meta(st, m1.e.id, &r, NULL), TERN_OK);
    CHECK_INT(r.e.attempts, 3);
    CHECK_INT(r.e.next_try, 1700000100 + 2 * OUTBOX_BACKOFF_FIRST);
    store_meta_free(&r);
    /* after five days of that: failed/ */
    o.now = 1700000000 + OUTBOX_GIVE_UP + 1;
    CHECK_INT(outbox_flush(a, &o, &fs, NULL), TERN_ECONN);
    CHECK_INT(fs.failed, 1);
    CHECK_INT(count_dir("meta"), 0);
    CHECK_INT(count_dir("failed"), 4);

    /* remove */
    struct store_meta m3;
    add_entry(st, &m3, "x\r\n", 1700000000);
    CHECK_INT(store_remove(st, m3.e.id, NULL), TERN_OK);
    CHECK_INT(count_dir("meta"), 0);
    CHECK_INT(count_dir("new"), 0);
    store_meta_free(&m1);
    store_meta_free(&m2);
    store_meta_free(&m3);
    store_close(&st);
    store_close(&st);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/tern-outbox-%ld", (long)getpid());
    rm_rf(root);
    mkdir(root, 0700);
    struct tern_account a = {0};
    a.name = "test";
    a.address = "alice@example.org";
    a.data_dir = root;
    a.maildir = root;
    a.smtp_host = "127.0.0.1";
    a.smtp_port = 1; /* nothing listens: ECONN quickly */
    a.smtp_user = "alice@example.org";
    a.smtp_password = "pw";
    a.timeout = 5;
    a.incoming = INCOMING_POP3;
    test_store(&a);
    rm_rf(root);
    return check_done("test-outbox");
}
