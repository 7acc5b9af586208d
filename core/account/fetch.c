/* `tern fetch` for one account: open (lock, index, login), sync, close,
 * and a line in the fetch log. */
#include "core/account/lib.h"

#include <stdio.h>

static void log_result(const struct tern_account *cfg, const struct acct_sync_stats *st,
                       enum tern_rc rc, const struct tern_err *err)
{
    char line[TERN_ERR_MSG_MAX + 128];
    if (rc == TERN_OK)
        tern_snprintf(line, sizeof line, "fetch ok: %llu new, %llu deleted from server",
                      (unsigned long long)st->new_messages, (unsigned long long)st->deleted_server);
    else
        snprintf(line, sizeof line, "fetch failed (%s): %s; %llu new, %llu deleted from server",
                 tern_rc_str(rc), err && err->msg[0] ? err->msg : tern_rc_str(rc),
                 (unsigned long long)st->new_messages, (unsigned long long)st->deleted_server);
    /* The log is a convenience: failing to write it does not fail the
     * fetch. */
    acct_log_append(cfg->data_dir, line, NULL);
}

enum tern_rc acct_fetch(const struct tern_account *cfg, const struct acct_hooks *hooks,
                        struct acct_sync_stats *stats, struct tern_err *err)
{
    struct account *a = NULL;
    enum tern_rc rc = account_open(cfg, hooks, &a, err);
    if (rc) {
        /* A locked account belongs to the other tern: leave its log alone;
         * before the data dir exists there is no log to write. */
        if (rc != TERN_ELOCKED && rc != TERN_ENOTSUP && cfg->data_dir &&
            acct_mkdir_p(cfg->data_dir, NULL) == TERN_OK)
            log_result(cfg, stats, rc, err);
        return rc;
    }
    rc = account_sync(a, stats, err);
    struct tern_err cerr = {0};
    enum tern_rc crc = account_close(&a, &cerr);
    if (!rc && crc)
        rc = tern_fail(err, crc, "%s", cerr.msg);
    log_result(cfg, stats, rc, err);
    return rc;
}
