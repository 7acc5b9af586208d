#include "private.h"

#include "core/imap/lib.h"
#include "core/index/lib.h"
#include "core/maildir/lib.h"

#include <stdlib.h>
#include <string.h>

/* POP3 accounts: the local Maildir's Maildir++ folder (".Sent" unless
 * sent_folder names another), marked seen, stored as sent (CRLF), fsynced
 * before this returns. */
static enum tern_rc save_maildir(const struct tern_account *a, const char *data, size_t len,
                                 struct tern_err *err)
{
    struct maildir *md = NULL, *sent = NULL;
    struct maildir_delivery *d = NULL;
    char *name = NULL;
    enum tern_rc rc = maildir_open(a->maildir, MAILDIR_SYNC_EACH, &md, err);
    if (!rc)
        rc = maildir_open_sub(md, a->sent_folder ? a->sent_folder : "Sent", &sent, err);
    if (!rc)
        rc = maildir_delivery_begin(sent, 0, &d, err);
    if (!rc) {
        rc = maildir_delivery_write(d, data, len, err);
        if (rc)
            maildir_delivery_abort(&d);
        else
            rc = maildir_delivery_commit(&d, &name, err);
    }
    if (!rc)
        rc = maildir_set_flags(sent, name, MAILDIR_FLAG_SEEN, NULL, err);
    free(name);
    maildir_close(&sent);
    maildir_close(&md);
    return rc;
}

/* Failures after which the IMAP connection cannot be used again. */
static bool conn_gone(enum tern_rc rc)
{
    return rc == TERN_ECONN || rc == TERN_ETIMEOUT || rc == TERN_ETLS || rc == TERN_ENOTLS ||
           rc == TERN_EPROTO || rc == TERN_EAUTH || rc == TERN_ECANCELED || rc == TERN_EINTERNAL;
}

/* IMAP accounts: APPEND to the Sent folder (see imap_appender_open for
 * which one), flagged \Seen, with the send time as internal date. */
static enum tern_rc save_imap(struct sent_copier *c, const char *data, size_t len, time_t date,
                              struct tern_err *err)
{
    enum tern_rc rc = TERN_OK;
    if (!c->ap) {
        char *secret = NULL;
        struct tern_err e = {0};
        rc = account_secret(c->a, false, &secret, &e);
        if (!rc) {
            struct imap_appender_params p = {
                .cfg = c->a,
                .secret = secret,
                .trace = c->o ? c->o->trace : NULL,
                .trace_arg = c->o ? c->o->trace_arg : NULL,
            };
            rc = imap_appender_open(&p, &c->ap, &e);
        }
        tern_free_secret(secret);
        if (rc) {
            tern_fail(&c->down, rc, "%s", e.msg);
            return tern_fail(err, rc, "%s", e.msg);
        }
    }
    struct tern_err e = {0};
    rc = imap_appender_add(c->ap, INDEX_FLAG_SEEN, (int64_t)date, data, len, NULL, &e);
    if (rc) {
        struct tern_err full = {0};
        tern_fail(&full, rc, "storing in '%s' failed: %s", imap_appender_folder(c->ap), e.msg);
        if (conn_gone(rc)) {
            c->down = full;
            imap_appender_close(&c->ap);
        }
        return tern_fail(err, rc, "%s", full.msg);
    }
    return TERN_OK;
}

enum tern_rc sent_copy(struct sent_copier *c, const char *data, size_t len, time_t date,
                       struct tern_err *err)
{
    if (!c->a->save_sent)
        return TERN_OK;
    if (c->down.rc)
        return tern_fail(err, c->down.rc, "%s", c->down.msg);
    if (c->a->incoming == INCOMING_POP3)
        return save_maildir(c->a, data, len, err);
    return save_imap(c, data, len, date, err);
}

void sent_copier_close(struct sent_copier *c)
{
    if (!c)
        return;
    imap_appender_close(&c->ap);
    tern_err_clear(&c->down);
}

enum tern_rc outbox_save_sent(const struct tern_account *a, const char *data, size_t len,
                              struct tern_err *err)
{
    struct sent_copier c = {.a = a};
    enum tern_rc rc = sent_copy(&c, data, len, time(NULL), err);
    sent_copier_close(&c);
    return rc;
}
