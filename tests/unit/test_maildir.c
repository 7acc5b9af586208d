/* Unit tests for core/maildir: delivery in every sync mode, abort and
 * failed commits leave nothing, unique names, flush, reading back, flag
 * renames, Maildir++ sub-folders. */
#include "check.h"
#include "check_fs.h"
#include "core/maildir/lib.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char root[256];

static int count_dir(const char *md, const char *sub)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", md, sub);
    DIR *d = opendir(p);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static char *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    static char buf[1 << 20];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0)
        return NULL;
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static char *deliver(struct maildir *md, unsigned flags, const char *const *chunks)
{
    struct maildir_delivery *d = NULL;
    struct tern_err err = {0};
    if (maildir_delivery_begin(md, flags, &d, &err))
        return NULL;
    for (size_t i = 0; chunks[i]; i++)
        if (maildir_delivery_write(d, chunks[i], strlen(chunks[i]), &err)) {
            maildir_delivery_abort(&d);
            return NULL;
        }
    char *name = NULL;
    if (maildir_delivery_commit(&d, &name, &err))
        return NULL;
    CHECK(d == NULL);
    return name;
}

static void test_open_and_deliver(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/a/b/Maildir", root);
    struct maildir *md = NULL;
    struct tern_err err = {0};
    CHECK_INT(maildir_open(path, MAILDIR_SYNC_EACH, &md, &err), TERN_OK);
    if (!md)
        return;
    CHECK_STR(maildir_path(md), path);
    const char *subs[] = {"tmp", "new", "cur"};
    for (int i = 0; i < 3; i++) {
        char p[600];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", path, subs[i]);
        CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
        CHECK_INT(st.st_mode & 0777, 0700);
    }

    /* A message in three chunks comes back byte for byte from new/. */
    const char *chunks[] = {"From: a@example.org\r\n", "Subject: hi\r\n\r\n", "body\r\n", NULL};
    char *name = deliver(md, 0, chunks);
    CHECK(name != NULL);
    if (name) {
        char p[900];
        size_t len = 0;
        snprintf(p, sizeof p, "%s/new/%s", path, name);
        const char *got = slurp(p, &len);
        CHECK_STR(got, "From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n");
        struct stat st;
        CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
        /* The name carries no ':' or '/', and has time.pid_random.host. */
        CHECK(strchr(name, ':') == NULL && strchr(name, '/') == NULL);
        char pidpart[64];
        snprintf(pidpart, sizeof pidpart, ".%ld_", (long)getpid());
        CHECK(strstr(name, pidpart) != NULL);
        CHECK(name[0] >= '1' && name[0] <= '9');

        /* Reading back by base name. */
        int fd = -1;
        char *rel = NULL;
        CHECK_INT(maildir_open_msg(md, name, &fd, &rel, &err), TERN_OK);
        CHECK(fd >= 0);
        if (fd >= 0) {
            char buf[128];
            ssize_t n = read(fd, buf, sizeof buf);
            CHECK_INT(n, 42);
            close(fd);
        }
        char want[400];
        snprintf(want, sizeof want, "new/%s", name);
        CHECK_STR(rel, want);
        free(rel);
    }
    CHECK_INT(count_dir(path, "tmp"), 0);
    CHECK_INT(count_dir(path, "new"), 1);
    free(name);

    /* Opening again is fine; flush in EACH mode is a no-op. */
    struct maildir *md2 = NULL;
    CHECK_INT(maildir_open(path, MAILDIR_SYNC_BATCH_FSYNC, &md2, &err), TERN_OK);
    CHECK_INT(maildir_flush(md2, &err), TERN_OK);
    maildir_close(&md2);
    CHECK(md2 == NULL);
    CHECK_INT(maildir_flush(md, &err), TERN_OK);
    maildir_close(&md);
    maildir_close(&md);
    maildir_close(NULL);

    /* A file where the Maildir should be. */
    char file[600];
    snprintf(file, sizeof file, "%s/plainfile", root);
    close(open(file, O_WRONLY | O_CREAT, 0600));
    struct tern_err e2 = {0};
    CHECK_INT(maildir_open(file, MAILDIR_SYNC_EACH, &md, &e2), TERN_EIO);
    CHECK(md == NULL);
    CHECK_INT(maildir_open("", MAILDIR_SYNC_EACH, &md, &e2), TERN_EUSAGE);
}

static void test_crlf(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/crlf", root);
    struct maildir *md = NULL;
    struct tern_err err = {0};
    CHECK_INT(maildir_open(path, MAILDIR_SYNC_BATCH_SYNCFS, &md, &err), TERN_OK);
    if (!md)
        return;
    /* CR LF split across chunks, a lone CR kept, a CR at the very end kept. */
    const char *chunks[] = {"a\r", "\nb\r", "x\r\n", "", "c\r\r\n", "\r", NULL};
    char *name = deliver(md, MAILDIR_DELIVER_LF, chunks);
    CHECK(name != NULL);
    CHECK_INT(maildir_flush(md, &err), TERN_OK);
    if (name) {
        char p[900];
        size_t len = 0;
        snprintf(p, sizeof p, "%s/new/%s", path, name);
        CHECK_STR(slurp(p, &len), "a\nb\rx\nc\r\n\r");
    }
    free(name);

    /* maildir_delivery_size follows the converted bytes. */
    struct maildir_delivery *d = NULL;
    CHECK_INT(maildir_delivery_begin(md, MAILDIR_DELIVER_LF, &d, &err), TERN_OK);
    if (d) {
        CHECK_INT(maildir_delivery_write(d, "ab\r\ncd\r\n", 8, &err), TERN_OK);
        CHECK_INT(maildir_delivery_size(d), 6);
        maildir_delivery_abort(&d);
        CHECK(d == NULL);
    }
    maildir_delivery_abort(&d);
    maildir_delivery_abort(NULL);
    maildir_close(&md);
}

static void test_abort_and_failures(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/abort", root);
    struct maildir *md = NULL;
    struct tern_err err = {0};
    CHECK_INT(maildir_open(path, MAILDIR_SYNC_EACH, &md, &err), TERN_OK);
    if (!md)
        return;
    struct maildir_delivery *d = NULL;
    CHECK_INT(maildir_delivery_begin(md, 0, &d, &err), TERN_OK);
    CHECK_INT(maildir_delivery_write(d, "partial", 7, &err), TERN_OK);
    CHECK_INT(count_dir(path, "tmp"), 1);
    maildir_delivery_abort(&d);
    CHECK(d == NULL);
    CHECK_INT(count_dir(path, "tmp"), 0);
    CHECK_INT(count_dir(path, "new"), 0);

    /* A write that fails (file size limit: EFBIG) leaves the delivery to
     * be aborted, and abort leaves nothing. */
    struct rlimit old;
    getrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {4096, old.rlim_max};
    static char big[200000];
    memset(big, 'x', sizeof big);
    CHECK_INT(maildir_delivery_begin(md, 0, &d, &err), TERN_OK);
    setrlimit(RLIMIT_FSIZE, &lim);
    struct tern_err werr = {0};
    CHECK_INT(maildir_delivery_write(d, big, sizeof big, &werr), TERN_EIO);
    setrlimit(RLIMIT_FSIZE, &old);
    maildir_delivery_abort(&d);
    CHECK_INT(count_dir(path, "tmp"), 0);
    CHECK_INT(count_dir(path, "new"), 0);

    /* A commit that fails (the buffered bytes cannot be written) frees the
     * delivery and leaves nothing in tmp/ or new/. */
    CHECK_INT(maildir_delivery_begin(md, 0, &d, &err), TERN_OK);
    CHECK_INT(maildir_delivery_write(d, big, 10000, &err), TERN_OK);
    setrlimit(RLIMIT_FSIZE, &lim);
    struct tern_err cerr = {0};
    char *name = NULL;
    CHECK_INT(maildir_delivery_commit(&d, &name, &cerr), TERN_EIO);
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK(d == NULL);
    CHECK(name == NULL);
    CHECK(cerr.msg[0] != '\0');
    CHECK_INT(count_dir(path, "tmp"), 0);
    CHECK_INT(count_dir(path, "new"), 0);
    signal(SIGXFSZ, SIG_DFL);
    maildir_close(&md);
}

static void touch_at(const char *dir, const char *name, int64_t age_s)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(write(fd, "partial", 7) == 7);
    close(fd);
    if (age_s) {
        struct timespec ts[2] = {{time(NULL) - age_s, 0}, {time(NULL) - age_s, 0}};
        CHECK_INT(utimensat(AT_FDCWD, p, ts, 0), 0);
    }
}

static bool exists_in(const char *dir, const char *name)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

/* Two-step commit (finish in tmp/, publish into new/, discard), and the
 * removal of stale tmp/ files: tern's own from dead processes, anyone's
 * after 36 hours; never another program's recent file, never a file of a
 * live process. */
static void test_finish_publish_and_clean_tmp(void)
{
    char path[512], tmpd[600];
    snprintf(path, sizeof path, "%s/cleantmp", root);
    snprintf(tmpd, sizeof tmpd, "%s/tmp", path);
    struct maildir *md = NULL;
    struct tern_err err = {0};
    CHECK_INT(maildir_open(path, MAILDIR_SYNC_BATCH_FSYNC, &md, &err), TERN_OK);
    if (!md)
        return;
    struct maildir_delivery *d = NULL;
    char *name = NULL, *name2 = NULL;
    CHECK_INT(maildir_delivery_begin(md, 0, &d, &err), TERN_OK);
    CHECK_INT(maildir_delivery_write(d, "hello\n", 6, &err), TERN_OK);
    CHECK_INT(maildir_delivery_finish(&d, &name, &err), TERN_OK);
    CHECK(d == NULL && name != NULL);
    CHECK_INT(count_dir(path, "tmp"), 1);
    CHECK_INT(count_dir(path, "new"), 0);
    /* A finished delivery of this very process is never stale. */
    unsigned removed = 99;
    CHECK_INT(maildir_clean_tmp(md, &removed, &err), TERN_OK);
    CHECK_INT(removed, 0);
    CHECK_INT(maildir_publish(md, name, &err), TERN_OK);
    CHECK_INT(count_dir(path, "tmp"), 0);
    CHECK_INT(count_dir(path, "new"), 1);
    CHECK_INT(maildir_flush(md, &err), TERN_OK);
    char np[1024];
    snprintf(np, sizeof np, "%s/new/%s", path, name ? name : "");
    size_t len = 0;
    const char *got = slurp(np, &len);
    CHECK(got && len == 6 && !memcmp(got, "hello\n", 6));
    CHECK_INT(maildir_delivery_begin(md, 0, &d, &err), TERN_OK);
    CHECK_INT(maildir_delivery_finish(&d, &name2, &err), TERN_OK);
    CHECK_INT(count_dir(path, "tmp"), 1);
    maildir_discard(md, name2);
    CHECK_INT(count_dir(path, "tmp"), 0);
    struct tern_err e2 = {0};
    CHECK_INT(maildir_publish(md, "../escape", &e2), TERN_EUSAGE);
    /* Publishing never replaces a file in new/. */
    touch_at(tmpd, name ? name : "x", 0);
    struct tern_err e3 = {0};
    CHECK_INT(maildir_publish(md, name, &e3), TERN_EIO);
    got = slurp(np, &len);
    CHECK(got && len == 6 && !memcmp(got, "hello\n", 6));
    maildir_discard(md, name);
    CHECK_INT(count_dir(path, "tmp"), 0);

    /* This host's name as the module writes it: after "_<16 hex>.". */
    const char *us = name ? strchr(name, '_') : NULL;
    const char *host = us && strlen(us) > 18 ? us + 18 : "localhost";
    char dead[400], other_host[400], foreign[400], foreign_old[400], upper[400], live[400],
        adir[400], noname[400];
    /* pid_max is at most 2^22: this pid never runs. */
    snprintf(dead, sizeof dead, "1700000000.2147483646_0123456789abcdef.%s", host);
    snprintf(other_host, sizeof other_host, "1700000000.2147483646_0123456789abcdef.elsewhere%s",
             host);
    snprintf(foreign, sizeof foreign, "1700000000.M123P2147483646.%s", host);
    snprintf(foreign_old, sizeof foreign_old, "1600000000.M9P9.%s", host);
    snprintf(upper, sizeof upper, "1700000000.2147483646_0123456789ABCDEF.%s", host);
    snprintf(adir, sizeof adir, "1700000000.2147483645_0123456789abcdef.%s", host);
    snprintf(noname, sizeof noname, "1700000000.2147483646_0123456789abcdef");
    touch_at(tmpd, dead, 0);
    touch_at(tmpd, other_host, 0);
    touch_at(tmpd, foreign, 0);
    touch_at(tmpd, foreign_old, 37 * 3600);
    touch_at(tmpd, upper, 0);
    touch_at(tmpd, noname, 0);
    char dp[1024];
    snprintf(dp, sizeof dp, "%s/%s", tmpd, adir);
    CHECK_INT(mkdir(dp, 0700), 0);
    /* A live tern process's file (a child that sleeps) stays until it
     * dies. */
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    CHECK(child > 0);
    snprintf(live, sizeof live, "1700000000.%ld_00000000000000ff.%s", (long)child, host);
    touch_at(tmpd, live, 0);
    CHECK_INT(maildir_clean_tmp(md, &removed, &err), TERN_OK);
    CHECK_INT(removed, 2);
    CHECK(!exists_in(tmpd, dead));
    CHECK(!exists_in(tmpd, foreign_old));
    CHECK(exists_in(tmpd, other_host));
    CHECK(exists_in(tmpd, foreign));
    CHECK(exists_in(tmpd, upper));
    CHECK(exists_in(tmpd, noname));
    CHECK(exists_in(tmpd, adir));
    CHECK(exists_in(tmpd, live));
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    CHECK_INT(maildir_clean_tmp(md, &removed, &err), TERN_OK);
    CHECK_INT(removed, 1);
    CHECK(!exists_in(tmpd, live));
    CHECK_INT(count_dir(path, "tmp"), 5);
    CHECK_INT(count_dir(path, "new"), 1);
    free(name);
    free(name2);
    maildir_close(&md);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_unique_names(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/unique", root);
    struct maildir *md = NULL;
    struct tern_err err = {0};
    CHECK_INT(maildir_open(path, MAILDIR_SYNC_BATCH_SYNCFS, &md, &err), TERN_OK);
    if (!md)
        return;
    enum { N = 300 };
    char *names[N] = {0};
    const char *chunks[] = {"x", NULL};
    int ok = 0;
    for (int i = 0; i < N; i++)
        if ((names[i] = deliver(md, 0, chunks)))
            ok++;
    CHECK_INT(ok, N);
    CHECK_INT(maildir_flush(md, &err), TERN_OK);
    qsort(names, N, sizeof names[0], cmp_str);
    int dups = 0;
    for (int i = 1; i < N; i++)
        if (names[i] && names[i - 1] && !strcmp(names[i], names[i - 1]))
            dups++;
    CHECK_INT(dups, 0);
    CHECK_INT(count_dir(path, "new"), N);
    for (int i = 0; i < N; i++)
        free(names[i]);
    maildir_close(&md);
}

static void test_flags(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/flags", root);
    struct maildir *md = NULL;
    struct tern_err err = {0};
    CHECK_INT(maildir_open(path, MAILDIR_SYNC_BATCH_FSYNC, &md, &err), TERN_OK);
    if (!md)
        return;
    const char *chunks[] = {"Subject: f\n\nbody\n", NULL};
    char *a = deliver(md, 0, chunks);
    char *b = deliver(md, 0, chunks);
    CHECK(a && b);
    if (!a || !b)
        goto out;
    char *rel = NULL, want[600];

    CHECK_INT(maildir_set_flags(md, a, MAILDIR_FLAG_SEEN | MAILDIR_FLAG_FLAGGED, &rel, &err),
              TERN_OK);
    snprintf(want, sizeof want, "cur/%s:2,FS", a);
    CHECK_STR(rel, want);
    CHECK_INT(maildir_flags_of(rel), MAILDIR_FLAG_SEEN | MAILDIR_FLAG_FLAGGED);
    free(rel);
    rel = NULL;
    CHECK_INT(maildir_flush(md, &err), TERN_OK);

    /* Found by base name, by old name, and by a path ending in the name. */
    CHECK_INT(maildir_find(md, a, &rel, &err), TERN_OK);
    CHECK_STR(rel, want);
    free(rel);
    rel = NULL;
    char bypath[900];
    snprintf(bypath, sizeof bypath, "%s/new/%s", path, a);
    CHECK_INT(maildir_find(md, bypath, &rel, &err), TERN_OK);
    CHECK_STR(rel, want);
    free(rel);
    rel = NULL;

    /* Flags 0 on a new message still moves it to cur/. */
    CHECK_INT(maildir_set_flags(md, b, 0, &rel, &err), TERN_OK);
    snprintf(want, sizeof want, "cur/%s:2,", b);
    CHECK_STR(rel, want);
    free(rel);
    rel = NULL;
    CHECK_INT(count_dir(path, "new"), 0);
    CHECK_INT(count_dir(path, "cur"), 2);

    /* Letters we do not manage (keywords 'a', 'c') survive; ours are replaced. */
    char from[900], to[900];
    snprintf(from, sizeof from, "%s/cur/%s:2,", path, b);
    snprintf(to, sizeof to, "%s/cur/%s:2,DSac", path, b);
    CHECK(rename(from, to) == 0);
    CHECK_INT(maildir_set_flags(md, b, MAILDIR_FLAG_ANSWERED | MAILDIR_FLAG_DELETED, &rel, &err),
              TERN_OK);
    snprintf(want, sizeof want, "cur/%s:2,RTac", b);
    CHECK_STR(rel, want);
    free(rel);
    rel = NULL;

    char letters[8];
    maildir_flags_letters(MAILDIR_FLAG_SEEN | MAILDIR_FLAG_DRAFT | MAILDIR_FLAG_PASSED, letters);
    CHECK_STR(letters, "DPS");
    maildir_flags_letters(0, letters);
    CHECK_STR(letters, "");
    CHECK_INT(maildir_flags_of("x:2,RT"), MAILDIR_FLAG_ANSWERED | MAILDIR_FLAG_DELETED);
    CHECK_INT(maildir_flags_of("x"), 0);

    /* Reading after the rename, with a stale suffix in the name. */
    int fd = -1;
    char stale[400];
    snprintf(stale, sizeof stale, "%s:2,S", b);
    CHECK_INT(maildir_open_msg(md, stale, &fd, NULL, &err), TERN_OK);
    if (fd >= 0) {
        char buf[64];
        CHECK_INT(read(fd, buf, sizeof buf), 17);
        close(fd);
    }

    /* Remove; afterwards it is not found. */
    CHECK_INT(maildir_remove(md, a, &err), TERN_OK);
    struct tern_err nf = {0};
    CHECK_INT(maildir_find(md, a, NULL, &nf), TERN_ENOTFOUND);
    CHECK_INT(maildir_remove(md, a, &nf), TERN_ENOTFOUND);
    CHECK_INT(maildir_flush(md, &err), TERN_OK);

    /* Names that could escape the Maildir or are not names at all. */
    const char *bad[] = {"", ".", "..", "../..", "x/..", "a\nb", ":2,S", "a/", NULL};
    for (int i = 0; bad[i]; i++) {
        struct tern_err be = {0};
        enum tern_rc rc = maildir_find(md, bad[i], NULL, &be);
        CHECK(rc == TERN_EUSAGE);
    }
out:
    free(a);
    free(b);
    maildir_close(&md);
}

static int count_cb(void *arg, const char *relpath)
{
    int *n = arg;
    if (!strncmp(relpath, "new/", 4) || !strncmp(relpath, "cur/", 4))
        (*n)++;
    return 0;
}

static int stop_cb(void *arg, const char *relpath)
{
    (void)arg;
    (void)relpath;
    return 1;
}

static void test_sub_and_scan(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/sub", root);
    struct maildir *md = NULL, *sent = NULL;
    struct tern_err err = {0};
    CHECK_INT(maildir_open(path, MAILDIR_SYNC_EACH, &md, &err), TERN_OK);
    if (!md)
        return;
    CHECK_INT(maildir_open_sub(md, "Sent", &sent, &err), TERN_OK);
    if (sent) {
        char want[600];
        snprintf(want, sizeof want, "%s/.Sent", path);
        CHECK_STR(maildir_path(sent), want);
        char marker[700];
        struct stat st;
        snprintf(marker, sizeof marker, "%s/maildirfolder", want);
        CHECK(stat(marker, &st) == 0 && S_ISREG(st.st_mode));
        const char *chunks[] = {"sent copy\n", NULL};
        char *n = deliver(sent, 0, chunks);
        CHECK(n != NULL);
        free(n);
        CHECK_INT(count_dir(want, "new"), 1);
        maildir_close(&sent);
    }
    const char *bad[] = {"", ".hidden", "a/b", "x\ty", NULL};
    for (int i = 0; bad[i]; i++) {
        struct tern_err be = {0};
        CHECK_INT(maildir_open_sub(md, bad[i], &sent, &be), TERN_EUSAGE);
        CHECK(sent == NULL);
    }
    const char *chunks[] = {"m\n", NULL};
    char *x = deliver(md, 0, chunks), *y = deliver(md, 0, chunks);
    CHECK_INT(maildir_set_flags(md, y, MAILDIR_FLAG_SEEN, NULL, &err), TERN_OK);
    int n = 0;
    CHECK_INT(maildir_scan(md, count_cb, &n, &err), TERN_OK);
    CHECK_INT(n, 2); /* .Sent is not a message */
    struct tern_err se = {0};
    CHECK_INT(maildir_scan(md, stop_cb, NULL, &se), TERN_ECANCELED);
    free(x);
    free(y);
    maildir_close(&md);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Side by side cost of the three sync modes (printed, not asserted). */
static void bench_modes(void)
{
    static const char *names[] = {"each", "batch-fsync", "batch-syncfs"};
    static char body[10240];
    memset(body, 'b', sizeof body);
    enum { N = 300, BATCH = 100 };
    for (int mode = 0; mode < 3; mode++) {
        char path[512];
        snprintf(path, sizeof path, "%s/bench-%d", root, mode);
        struct maildir *md = NULL;
        struct tern_err err = {0};
        if (maildir_open(path, (enum maildir_sync)mode, &md, &err))
            continue;
        double t0 = now_s();
        int ok = 0;
        for (int i = 0; i < N; i++) {
            struct maildir_delivery *d = NULL;
            if (maildir_delivery_begin(md, 0, &d, &err) ||
                maildir_delivery_write(d, body, sizeof body, &err)) {
                maildir_delivery_abort(&d);
                continue;
            }
            if (maildir_delivery_commit(&d, NULL, &err) == TERN_OK)
                ok++;
            if ((i + 1) % BATCH == 0)
                maildir_flush(md, &err);
        }
        double t = now_s() - t0;
        CHECK_INT(ok, N);
        printf("bench: %-12s %d x 10 KB, flush every %d: %.3f s (%.2f ms/msg)\n", names[mode], N,
               BATCH, t, t * 1000 / N);
        maildir_close(&md);
    }
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/tern-maildir-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    test_open_and_deliver();
    test_crlf();
    test_abort_and_failures();
    test_finish_publish_and_clean_tmp();
    test_unique_names();
    test_flags();
    test_sub_and_scan();
    bench_modes();
    rm_rf(root);
    return check_done("test_maildir");
}
