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

/* "--": what follows is IDs and the folder even when it starts with '-'. */
static int move_arg(void *arg, const char *a)
{
    (void)arg;
    return strcmp(a, "--") ? CMD_ARG_POSITIONAL : CMD_ARG_REST;
}

int cmd_move(struct cmd_ctx *ctx, int argc, char **argv)
{
    struct cmd_mail_args args;
    int ex = cmd_mail_args_parse("move", argc, argv, move_arg, NULL, &args);
    size_t npos = args.npos;
    if (!ex && npos < 2)
        ex = cmd_usage("move", "need message IDs and a folder");
    if (!ex)
        ex = cmd_mail_args_ids("move", &args, npos - 1);
    struct cmd_mail m;
    if (!ex && !(ex = cmd_mail_open(ctx, args.account, &m))) {
        struct index_folder dest = {0};
        if (!(m.drv->caps & ACCT_CAP_MOVE))
            ex = cmd_usage("move", "account '%s' has a single folder", m.acc->name);
        if (!ex)
            ex = cmd_mail_folder(&m, "move", args.pos[npos - 1], &dest);
        if (!ex)
            ex = cmd_mail_queue(&m, args.ids, npos - 1, INDEX_OP_MOVE, &dest);
        index_folder_clear(&dest);
        cmd_mail_close(&m);
    }
    cmd_mail_args_free(&args);
    return ex;
}
