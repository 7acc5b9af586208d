/*
 * `tern move [-a ACCOUNT] ID... FOLDER`: queue a move of each message to
 * FOLDER (its name as `tern folders` shows it) and send the queue (IMAP
 * MOVE, or COPY + STORE \Deleted + UID EXPUNGE where MOVE is missing).
 * Offline, the move stays queued for the next fetch and the message stays
 * listed in its old folder until then.
 */
#include "cmd.h"
#include "core/index/lib.h"

#include <stdlib.h>
#include <string.h>

/* The folder called `name`; refreshes the folder list from the server
 * once when it is not known locally. */
int cmd_mail_folder(struct cmd_mail *m, const char *cmd, const char *name, struct index_folder *f)
{
    struct tern_err err = {0};
    const char *look = tern_strcasecmp(name, "INBOX") == 0 ? "INBOX" : name;
    enum tern_rc rc = index_folder_get(m->ix, 0, look, f, &err);
    if (rc == TERN_ENOTFOUND && m->drv->list_folders) {
        tern_err_clear(&err);
        rc = cmd_mail_driver(m, &err);
        if (!rc)
            rc = m->drv->list_folders(m->state, &err);
        if (!rc)
            rc = index_folder_get(m->ix, 0, look, f, &err);
        else
            rc = TERN_ENOTFOUND;
    }
    if (rc == TERN_ENOTFOUND) {
        fprintf(stderr, "tern %s: no folder named '", cmd);
        cmd_print_safe(stderr, name);
        fputs("' (see tern folders)\n", stderr);
        return EX_NOINPUT;
    }
    if (rc)
        return cmd_report(&err);
    return EX_OK;
}

/* Queue op (MOVE to dest, or DELETE) for ids; messages already in dest
 * are skipped. Then push. */
int cmd_mail_queue(struct cmd_mail *m, const int64_t *ids, size_t n, enum index_op op,
                   const struct index_folder *dest)
{
    struct tern_err err = {0};
    enum tern_rc rc = index_begin(m->ix, &err);
    size_t queued = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        struct index_msg msg;
        index_msg_init(&msg);
        rc = index_msg_get(m->ix, ids[i], &msg, &err);
        if (rc == TERN_ENOTFOUND) {
            tern_err_clear(&err);
            rc = tern_fail(&err, TERN_ENOTFOUND, "no message with ID %lld", (long long)ids[i]);
        }
        if (!rc && !(op == INDEX_OP_MOVE && msg.folder_id == dest->id)) {
            if (op == INDEX_OP_DELETE && !(msg.flags & INDEX_FLAG_DELETED))
                rc = index_msg_set_flags(m->ix, ids[i], msg.flags | INDEX_FLAG_DELETED, NULL, &err);
            if (!rc)
                rc = index_pending_add(m->ix, ids[i], op, op == INDEX_OP_MOVE ? dest->name : NULL,
                                       NULL, &err);
            queued++;
        }
        index_msg_clear(&msg);
    }
    if (!rc)
        rc = index_commit(m->ix, &err);
    if (rc) {
        index_rollback(m->ix);
        return cmd_report(&err);
    }
    return cmd_mail_push(m, queued);
}

int cmd_move(struct cmd_ctx *ctx, int argc, char **argv)
{
    const char *account = NULL;
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    size_t npos = 0;
    if (!pos)
        return EX_OSERR;
    int ex = EX_OK;
    for (int i = 1; i < argc && !ex; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-a") || !strcmp(a, "--account")) {
            if (++i >= argc)
                ex = cmd_usage("move", "%s needs an account name", a);
            else
                account = argv[i];
        } else if (!strncmp(a, "--account=", 10)) {
            account = a + 10;
        } else if (!strcmp(a, "--")) {
            while (++i < argc)
                pos[npos++] = argv[i];
        } else {
            pos[npos++] = argv[i];
        }
    }
    if (!ex && npos < 2)
        ex = cmd_usage("move", "need message IDs and a folder");
    int64_t *ids = calloc(npos + 1, sizeof *ids);
    if (!ex && !ids)
        ex = EX_OSERR;
    if (!ex)
        ex = cmd_mail_ids("move", pos, npos - 1, ids);
    struct cmd_mail m;
    if (!ex && !(ex = cmd_mail_open(ctx, account, &m))) {
        struct index_folder dest = {0};
        if (!(m.drv->caps & ACCT_CAP_MOVE))
            ex = cmd_usage("move", "account '%s' has a single folder", m.acc->name);
        if (!ex)
            ex = cmd_mail_folder(&m, "move", pos[npos - 1], &dest);
        if (!ex)
            ex = cmd_mail_queue(&m, ids, npos - 1, INDEX_OP_MOVE, &dest);
        index_folder_clear(&dest);
        cmd_mail_close(&m);
    }
    free(ids);
    free(pos);
    return ex;
}
