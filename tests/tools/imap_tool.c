/*
 * imap-tool: drives core/imap's driver directly for the integration tests
 * (tests/integration/test_imap.py) and the benchmark, without the CLI.
 *
 *   imap-tool CONFIG ACCOUNT sync            header sync, prints the stats
 *   imap-tool CONFIG ACCOUNT body ID         fetch_body, prints the path
 *   imap-tool CONFIG ACCOUNT push            replay the queue
 *
 * Exit status 0 on success, else 1 with the error on stderr.
 */
#include "core/config/lib.h"
#include "core/conn/lib.h"
#include "core/imap/lib.h"
#include "core/index/lib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void trace(void *arg, const char *line)
{
    (void)arg;
    fprintf(stderr, "debug: %s\n", line);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: imap-tool CONFIG ACCOUNT sync|push|body ID\n");
        return 2;
    }
    struct tern_err err = {0};
    struct tern_config *cfg = NULL;
    struct index *ix = NULL;
    void *state = NULL;
    char *secret = NULL;
    enum tern_rc rc = config_load(argv[1], &cfg, &err);
    const struct tern_account *a = rc ? NULL : config_account(cfg, argv[2]);
    if (!rc && !a)
        rc = tern_fail(&err, TERN_ENOTFOUND, "no account %s", argv[2]);
    if (!rc)
        rc = conn_global_init(&err);
    if (!rc)
        rc = index_open_dir(a->data_dir, 0, &ix, &err);
    if (!rc)
        rc = account_secret(a, false, &secret, &err);
    struct acct_env env = {0};
    if (!rc) {
        env.cfg = a;
        env.index = ix;
        env.secret = secret;
        env.trace = getenv("IMAP_TOOL_DEBUG") ? trace : NULL;
        rc = imap_driver.open(&env, &state, &err);
    }
    struct acct_sync_stats st = {0};
    if (!rc && !strcmp(argv[3], "sync")) {
        rc = imap_driver.sync(state, &st, &err);
        printf("new %llu flags %llu expunged %llu\n", (unsigned long long)st.new_messages,
               (unsigned long long)st.flags_changed, (unsigned long long)st.expunged);
    } else if (!rc && !strcmp(argv[3], "push")) {
        rc = imap_driver.push(state, &st, &err);
    } else if (!rc && !strcmp(argv[3], "body") && argc > 4) {
        char *path = NULL;
        uint64_t id = 0;
        if (!tern_parse_u64(argv[4], strlen(argv[4]), INT64_MAX, &id))
            rc = tern_fail(&err, TERN_EUSAGE, "bad message id %s", argv[4]);
        else
            rc = imap_driver.fetch_body(state, (int64_t)id, &path, &err);
        if (!rc)
            printf("%s\n", path);
        free(path);
    } else if (!rc) {
        rc = tern_fail(&err, TERN_EUSAGE, "unknown command %s", argv[3]);
    }
    struct tern_err cerr = {0};
    if (state)
        imap_driver.close(&state, &cerr);
    index_close(&ix);
    tern_free_secret(secret);
    config_free(&cfg);
    conn_global_cleanup();
    if (rc) {
        fprintf(stderr, "imap-tool: %s\n", err.msg[0] ? err.msg : tern_rc_str(rc));
        return 1;
    }
    return 0;
}
