/* One message by ID: which account holds it, a local file with its raw
 * bytes (fetching the body when the driver keeps bodies remote), and flag
 * changes (queued and pushed, or Maildir renames). See lib.h. */
#include "core/account/lib.h"
#include "core/account/private.h"
#include "core/index/lib.h"
#include "core/maildir/lib.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Flag bits go into the pending queue as decimal text. */
#define FLAG_ARG_MAX 24

struct acct_local {
    const struct tern_account *cfg; /* borrowed */
    const struct acct_driver *drv;
    struct acct_hooks hooks;
    struct acct_env env;
    struct index *ix;   /* owned */
    struct maildir *md; /* owned; local-flag accounts, opened on demand */
    char *secret;       /* owned, wiped on close */
    void *state;        /* the driver's, once opened */
    int lock_fd;
};

/* ------------------------------------------------------------- locating */

/* Does the index of account `a` hold message `id`? An account whose index
 * does not exist yet holds nothing. */
static enum tern_rc index_has(const struct tern_account *a, int64_t id, bool *found,
                              struct tern_err *err)
{
    *found = false;
    if (!a->data_dir)
        return TERN_OK;
    struct index *ix = NULL;
    struct tern_err e = {0};
    enum tern_rc rc = index_open_dir(a->data_dir, INDEX_OPEN_NOCREATE, &ix, &e);
    if (rc == TERN_ENOTFOUND)
        return TERN_OK;
    if (!rc) {
        struct index_msg m;
        index_msg_init(&m);
        rc = index_msg_get(ix, id, &m, &e);
        index_msg_clear(&m);
        if (!rc)
            *found = true;
        else if (rc == TERN_ENOTFOUND)
            rc = TERN_OK;
    }
    index_close(&ix);
    return rc ? tern_fail(err, rc, "account %s: %s", a->name, e.msg) : TERN_OK;
}

/* Append ", name" (or "name" first) to a list of account names. */
static enum tern_rc add_name(struct tbuf *b, const char *name)
{
    enum tern_rc rc = b->len ? tbuf_puts(b, ", ") : TERN_OK;
    return rc ? rc : tbuf_puts(b, name);
}

enum tern_rc account_locate_message(const struct tern_config *cfg, const char *name, int64_t id,
                                    const struct tern_account **out, struct tern_err *err)
{
    *out = NULL;
    bool found;
    enum tern_rc rc;
    if (name) {
        const struct tern_account *a = config_account(cfg, name);
        if (!a)
            return tern_fail(err, TERN_EUSAGE, "no account named '%s'", name);
        if ((rc = index_has(a, id, &found, err)))
            return rc;
        if (!found)
            return tern_fail(err, TERN_ENOTFOUND, "no message with ID %lld in account %s",
                             (long long)id, a->name);
        *out = a;
        return TERN_OK;
    }
    const struct tern_account *def = config_account(cfg, NULL);
    if (!def)
        return tern_fail(err, TERN_ECONFIG, "no account configured");
    if ((rc = index_has(def, id, &found, err)))
        return rc;
    if (found) {
        *out = def;
        return TERN_OK;
    }
    /* Not in the default account: any other one that has it, but only
     * when exactly one does (the same ID may name different messages in
     * different accounts). */
    const struct tern_account *hit = NULL;
    struct tbuf hits, searched;
    tbuf_init(&hits, 0);
    tbuf_init(&searched, 0);
    size_t nhits = 0;
    rc = add_name(&searched, def->name);
    for (size_t i = 0; i < cfg->naccounts && !rc; i++) {
        const struct tern_account *a = &cfg->accounts[i];
        if (a == def)
            continue;
        if ((rc = add_name(&searched, a->name)) || (rc = index_has(a, id, &found, err)))
            break;
        if (found) {
            hit = a;
            nhits++;
            rc = add_name(&hits, a->name);
        }
    }
    if (rc == TERN_ENOMEM || rc == TERN_EPROTO)
        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    else if (!rc && nhits == 1)
        *out = hit;
    else if (!rc && nhits > 1)
        rc = tern_fail(err, TERN_EUSAGE,
                       "message ID %lld is in several accounts (%s); choose one with -a ACCOUNT",
                       (long long)id, hits.data);
    else if (!rc)
        rc = tern_fail(err, TERN_ENOTFOUND, "no message with ID %lld (searched account%s %s)",
                       (long long)id, cfg->naccounts > 1 ? "s" : "", searched.data);
    tbuf_free(&hits);
    tbuf_free(&searched);
    return rc;
}

/* --------------------------------------------------------- open / close */

enum tern_rc acct_local_open(const struct tern_account *cfg, const struct acct_hooks *hooks,
                             struct acct_local **out, struct tern_err *err)
{
    *out = NULL;
    struct acct_local *a = calloc(1, sizeof *a);
    if (!a)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    a->cfg = cfg;
    a->lock_fd = -1;
    if (hooks)
        a->hooks = *hooks;
    enum tern_rc rc = acct_driver_for(cfg, &a->drv, err);
    if (!rc && !cfg->data_dir)
        rc = tern_fail(err, TERN_ECONFIG, "account %s has no data directory", cfg->name);
    if (!rc)
        rc = acct_mkdir_p(cfg->data_dir, err);
    if (!rc)
        rc = acct_lock(cfg->data_dir, &a->lock_fd, err); /* the same as account_open's */
    if (!rc)
        rc = index_open_dir(cfg->data_dir, 0, &a->ix, err);
    if (rc) {
        acct_local_close(&a);
        return rc;
    }
    *out = a;
    return TERN_OK;
}

struct index *acct_local_index(struct acct_local *a)
{
    return a->ix;
}

const struct acct_driver *acct_local_driver(const struct acct_local *a)
{
    return a->drv;
}

void acct_local_close(struct acct_local **ap)
{
    if (!ap || !*ap)
        return;
    struct acct_local *a = *ap;
    if (a->state && a->drv->close) {
        struct tern_err ignore = {0};
        a->drv->close(&a->state, &ignore);
    }
    maildir_close(&a->md);
    index_close(&a->ix);
    tern_free_secret(a->secret);
    if (a->lock_fd >= 0)
        close(a->lock_fd); /* drops the flock */
    free(a);
    *ap = NULL;
}

/* The driver, opened on first need: only then is the password command
 * run (a cached body must not ask for a password). */
static enum tern_rc driver_up(struct acct_local *a, struct tern_err *err)
{
    if (a->state)
        return TERN_OK;
    enum tern_rc rc = TERN_OK;
    if (!a->secret)
        rc = account_secret(a->cfg, false, &a->secret, err);
    if (rc)
        return rc;
    a->env.cfg = a->cfg;
    a->env.index = a->ix;
    a->env.secret = a->secret;
    a->env.trace = a->hooks.trace;
    a->env.trace_arg = a->hooks.trace_arg;
    a->env.progress = a->hooks.progress;
    a->env.progress_arg = a->hooks.progress_arg;
    a->env.cancel = a->hooks.cancel;
    return a->drv->open(&a->env, &a->state, err);
}

static enum tern_rc maildir_up(struct acct_local *a, struct tern_err *err)
{
    if (a->md)
        return TERN_OK;
    if (!a->cfg->maildir)
        return tern_fail(err, TERN_ECONFIG, "account %s has no Maildir", a->cfg->name);
    /* Flag renames are single operations: make each durable at once. */
    return maildir_open(a->cfg->maildir, MAILDIR_SYNC_EACH, &a->md, err);
}

/* ------------------------------------------------------------- the file */

static bool regular_file(const char *path, uint64_t *size)
{
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return false;
    *size = (uint64_t)sb.st_size;
    return true;
}

static enum tern_rc get_msg(struct acct_local *a, int64_t id, struct index_msg *m,
                            struct tern_err *err)
{
    struct tern_err e = {0};
    enum tern_rc rc = index_msg_get(a->ix, id, m, &e);
    if (rc == TERN_ENOTFOUND)
        return tern_fail(err, rc, "no message with ID %lld in account %s", (long long)id,
                         a->cfg->name);
    return rc ? tern_fail(err, rc, "%s", e.msg) : TERN_OK;
}

/* A Maildir message, wherever a flag change moved it (new/ or cur/ with
 * any ":2,FLAGS"); a path outside the configured Maildir (the config
 * changed since) is used as it is when it still exists. */
static enum tern_rc maildir_file(struct acct_local *a, const struct index_msg *m, char **path,
                                 struct tern_err *err)
{
    uint64_t size;
    char *rel = NULL;
    struct tern_err e = {0};
    enum tern_rc rc = maildir_up(a, &e);
    if (!rc)
        rc = maildir_find(a->md, m->body_path, &rel, &e);
    if (!rc) {
        struct tbuf p;
        tbuf_init(&p, 0);
        rc = tbuf_printf(&p, "%s/%s", maildir_path(a->md), rel);
        free(rel);
        if (rc) {
            tbuf_free(&p);
            return tern_fail(err, TERN_ENOMEM, "out of memory");
        }
        *path = tbuf_steal(&p);
        return *path ? TERN_OK : tern_fail(err, TERN_ENOMEM, "out of memory");
    }
    if (regular_file(m->body_path, &size)) {
        *path = tern_strdup(m->body_path);
        return *path ? TERN_OK : tern_fail(err, TERN_ENOMEM, "out of memory");
    }
    if (rc == TERN_ENOTFOUND)
        return tern_fail(err, rc, "message %lld: its file is gone from the Maildir (%s)",
                         (long long)m->id, m->body_path);
    return tern_fail(err, rc, "%s", e.msg);
}

enum tern_rc account_message_file(struct acct_local *a, int64_t id, char **path,
                                  struct tern_err *err)
{
    *path = NULL;
    struct index_msg m;
    index_msg_init(&m);
    enum tern_rc rc = get_msg(a, id, &m, err);
    uint64_t size = 0;
    if (rc) {
        /* nothing */
    } else if (!a->drv->fetch_body) {
        /* Bodies always local (POP3): the Maildir file. */
        if (m.body_path)
            rc = maildir_file(a, &m, path, err);
        else
            rc = tern_fail(err, TERN_ENOTFOUND, "message %lld has no local copy", (long long)id);
    } else if (m.body_path && regular_file(m.body_path, &size) && (size > 0 || m.size == 0)) {
        /* Cached: no driver, no password, no network. (An empty file for
         * a non-empty message is a download cut short: fetch again.) */
        *path = m.body_path;
        m.body_path = NULL;
    } else {
        rc = driver_up(a, err);
        if (!rc)
            rc = a->drv->fetch_body(a->state, id, path, err);
    }
    index_msg_clear(&m);
    return rc;
}

/* ---------------------------------------------------------------- flags */

/* Local flags: the Maildir file name carries them too. A file already
 * gone is left alone (the index still records the flags). */
static enum tern_rc rename_for_flags(struct acct_local *a, const struct index_msg *m,
                                     unsigned flags, struct tern_err *err)
{
    if (!m->body_path || !a->cfg->maildir)
        return TERN_OK;
    char *rel = NULL;
    struct tern_err e = {0};
    enum tern_rc rc = maildir_up(a, &e);
    if (!rc)
        rc = maildir_set_flags(a->md, m->body_path, flags, &rel, &e);
    if (rc == TERN_ENOTFOUND)
        return TERN_OK;
    if (rc)
        return tern_fail(err, rc, "%s", e.msg);
    struct tbuf p;
    tbuf_init(&p, 0);
    if (tbuf_printf(&p, "%s/%s", maildir_path(a->md), rel))
        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    else
        rc = index_msg_set_body_path(a->ix, m->id, p.data, err);
    tbuf_free(&p);
    free(rel);
    return rc;
}

static enum tern_rc queue_flags(struct acct_local *a, int64_t id, enum index_op op, unsigned bits,
                                size_t *queued, struct tern_err *err)
{
    if (!bits)
        return TERN_OK;
    char arg[FLAG_ARG_MAX];
    if (!tern_snprintf(arg, sizeof arg, "%u", bits))
        return tern_fail(err, TERN_EINTERNAL, "flag bits do not fit");
    enum tern_rc rc = index_pending_add(a->ix, id, op, arg, NULL, err);
    if (!rc)
        (*queued)++;
    return rc;
}

enum tern_rc account_set_flags(struct acct_local *a, const int64_t *ids, size_t n, unsigned add,
                               unsigned del, struct tern_err *note, struct tern_err *err)
{
    bool remote = (a->drv->caps & ACCT_CAP_FLAGS_REMOTE) && a->drv->push;
    size_t queued = 0;
    enum tern_rc rc = index_begin(a->ix, err);
    for (size_t i = 0; i < n && !rc; i++) {
        struct index_msg m;
        index_msg_init(&m);
        rc = get_msg(a, ids[i], &m, err);
        unsigned now = (m.flags | add) & ~del;
        if (!rc && now != m.flags) {
            rc = index_msg_set_flags(a->ix, ids[i], now, NULL, err);
            if (!rc && remote)
                rc = queue_flags(a, ids[i], INDEX_OP_FLAG_ADD, now & ~m.flags, &queued, err);
            if (!rc && remote)
                rc = queue_flags(a, ids[i], INDEX_OP_FLAG_DEL, m.flags & ~now, &queued, err);
            if (!rc && !remote)
                rc = rename_for_flags(a, &m, now, err);
        }
        index_msg_clear(&m);
    }
    if (!rc)
        rc = index_commit(a->ix, err);
    if (rc) {
        index_rollback(a->ix);
        return rc;
    }
    if (!queued)
        return TERN_OK;
    /* The change is made and queued; reaching the server now is a bonus
     * whose failure the next sync makes good. */
    struct tern_err perr = {0};
    struct acct_sync_stats st = {0};
    enum tern_rc prc = driver_up(a, &perr);
    if (!prc)
        prc = a->drv->push(a->state, &st, &perr);
    if (prc)
        tern_fail(note, prc, "%s", perr.msg[0] ? perr.msg : tern_rc_str(prc));
    return TERN_OK;
}

enum tern_rc account_mark_seen(struct acct_local *a, int64_t id, struct tern_err *note,
                               struct tern_err *err)
{
    return account_set_flags(a, &id, 1, INDEX_FLAG_SEEN, 0, note, err);
}
