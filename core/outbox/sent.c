#include "private.h"

#include "core/maildir/lib.h"

#include <stdlib.h>

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

enum tern_rc outbox_save_sent(const struct tern_account *a, const char *data, size_t len,
                              struct tern_err *err)
{
    if (!a->save_sent)
        return TERN_OK;
    if (a->incoming == INCOMING_POP3)
        return save_maildir(a, data, len, err);
    /* IMAP APPEND: core/imap has no append API yet. The copy stays pending
     * in the outbox (state "sent") until it has. */
    return tern_fail(err, TERN_ENOTSUP, "IMAP APPEND is not available yet");
}
