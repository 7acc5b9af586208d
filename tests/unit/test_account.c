/* Unit tests for core/account: driver choice, mkdir -p modes, the lock,
 * the fetch log and its rotation. Network paths are covered by
 * tests/integration/test_pop3.py. */
#include "check.h"
#include "core/account/lib.h"
#include "core/pop3/lib.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[256];

static void test_driver_for(void)
{
    struct tern_account a = {.name = "x", .incoming = INCOMING_POP3};
    const struct acct_driver *d = NULL;
    struct tern_err err = {0};
    CHECK_INT(acct_driver_for(&a, &d, &err), TERN_OK);
    CHECK(d == &pop3_driver);
    a.incoming = INCOMING_IMAP;
    enum tern_rc rc = acct_driver_for(&a, &d, &err);
    /* Either the IMAP driver is built in, or a clear ENOTSUP. */
    CHECK(rc == TERN_OK ? d != NULL && !strcmp(d->name, "imap") : rc == TERN_ENOTSUP && d == NULL);
    a.incoming = (enum acct_incoming)42;
    CHECK_INT(acct_driver_for(&a, &d, NULL), TERN_ENOTSUP);
}

static void test_mkdir(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/a/b/c", tmp);
    struct tern_err err = {0};
    CHECK_INT(acct_mkdir_p(path, &err), TERN_OK);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) && (sb.st_mode & 0777) == 0700);
    CHECK_INT(acct_mkdir_p(path, &err), TERN_OK); /* exists: fine */
    char file[600];
    snprintf(file, sizeof file, "%s/f", path);
    close(open(file, O_CREAT | O_WRONLY, 0600));
    tern_err_clear(&err);
    CHECK_INT(acct_mkdir_p(file, &err), TERN_EIO);
    CHECK_INT(acct_mkdir_p("", NULL), TERN_ECONFIG);
    CHECK_INT(acct_mkdir_p(NULL, NULL), TERN_ECONFIG);
}

static void test_lock(void)
{
    char dd[512], lock[600];
    snprintf(dd, sizeof dd, "%s/locked", tmp);
    snprintf(lock, sizeof lock, "%s/%s", dd, ACCT_LOCK_NAME);
    CHECK_INT(acct_mkdir_p(dd, NULL), TERN_OK);
    int fd = open(lock, O_CREAT | O_RDWR, 0600);
    CHECK(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0);
    struct tern_account a = {.name = "locked",
                             .incoming = INCOMING_POP3,
                             .data_dir = dd,
                             .host = "127.0.0.1",
                             .port = 1,
                             .password = "x"};
    struct account *acc = NULL;
    struct tern_err err = {0};
    CHECK_INT(account_open(&a, NULL, &acc, &err), TERN_ELOCKED);
    CHECK(acc == NULL);
    CHECK(strstr(err.msg, "another tern") != NULL);
    /* acct_fetch reports it and leaves the other tern's log alone. */
    struct acct_sync_stats st = {0};
    tern_err_clear(&err);
    CHECK_INT(acct_fetch(&a, NULL, &st, &err), TERN_ELOCKED);
    char logp[700];
    snprintf(logp, sizeof logp, "%s/%s", dd, ACCT_LOG_NAME);
    CHECK(access(logp, F_OK) != 0);
    close(fd);
    /* Unlocked: the lock is taken, then the connection fails (port 1) and
     * the failure is logged. */
    tern_err_clear(&err);
    enum tern_rc rc = acct_fetch(&a, NULL, &st, &err);
    CHECK(rc != TERN_OK && rc != TERN_ELOCKED);
    CHECK(access(logp, F_OK) == 0);
    CHECK_INT(account_close(NULL, NULL), TERN_OK);
    acc = NULL;
    CHECK_INT(account_close(&acc, NULL), TERN_OK);
}

static void test_log(void)
{
    char dd[512], logp[600], old[700];
    snprintf(dd, sizeof dd, "%s/log", tmp);
    snprintf(logp, sizeof logp, "%s/%s", dd, ACCT_LOG_NAME);
    snprintf(old, sizeof old, "%s.1", logp);
    CHECK_INT(acct_mkdir_p(dd, NULL), TERN_OK);
    struct tern_err err = {0};
    CHECK_INT(acct_log_append(dd, "fetch ok: 1 new\nforged line", &err), TERN_OK);
    FILE *f = fopen(logp, "r");
    char line[256] = "";
    CHECK(f && fgets(line, sizeof line, f));
    CHECK(strstr(line, "fetch ok: 1 new forged line\n") != NULL);
    CHECK(line[4] == '-' && line[19] == 'Z');
    CHECK(!fgets(line, sizeof line, f)); /* one line only */
    if (f)
        fclose(f);
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (int i = 0; i < 600; i++)
        CHECK_INT(acct_log_append(dd, big, NULL), TERN_OK);
    struct stat a, b;
    CHECK(stat(logp, &a) == 0 && stat(old, &b) == 0);
    CHECK((uint64_t)a.st_size < ACCT_LOG_MAX);
    CHECK((uint64_t)b.st_size >= ACCT_LOG_MAX && (uint64_t)b.st_size < ACCT_LOG_MAX + 2000);
    CHECK((a.st_mode & 0777) == 0600);
    char missing[600];
    snprintf(missing, sizeof missing, "%s/nope/nope", tmp);
    CHECK_INT(acct_log_append(missing, "x", NULL), TERN_EIO);
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/tern-test-account-XXXXXX");
    if (!mkdtemp(tmp))
        return 1;
    test_driver_for();
    test_mkdir();
    test_lock();
    test_log();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", tmp);
    return check_done("test-account");
}
