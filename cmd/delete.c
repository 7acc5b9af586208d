/*
 * `tern delete [-a ACCOUNT] [--expunge] ID...`: move messages to the Trash
 * folder (the special-use \Trash folder, else one named Trash), or remove
 * them for good with --expunge (and for messages already in Trash).
 * Queued and sent like `tern move`.
 */
#include "cmd.h"
#include "core/index/lib.h"

#include <stdlib.h>
#include <string.h>

struct trash {
    int64_t special, named;
};

static int find_trash(void *arg, const struct index_folder *f)
{
    struct trash *t = arg;
    if (f->special_use == INDEX_SPECIAL_TRASH && !t->special)
        t->special = f->id;
    if (!tern_strcasecmp(f->name, "Trash") && !t->named)
        t->named = f->id;
    return 0;
}

static int delete_arg(void *arg, const char *a)
{
    bool *expunge = arg;
    if (!strcmp(a, "--expunge")) {
        *expunge = true;
        return CMD_ARG_TAKEN;
    }
    if (a[0] == '-')
        return cmd_usage("delete", "unknown option '%s'", a);
    return CMD_ARG_POSITIONAL;
}

int cmd_delete(struct cmd_ctx *ctx, int argc, char **argv)
{
    bool expunge = false;
    struct cmd_mail_args args;
    int ex = cmd_mail_args_parse("delete", argc, argv, delete_arg, &expunge, &args);
    size_t nid = args.npos;
    int64_t *ids = args.ids;
    if (!ex && !nid)
        ex = cmd_usage("delete", "need at least one message ID");
    if (!ex)
        ex = cmd_mail_args_ids("delete", &args, nid);
    struct cmd_mail m;
    if (ex || (ex = cmd_mail_open(ctx, args.account, &m))) {
        cmd_mail_args_free(&args);
        return ex;
    }
    if (!(m.drv->caps & ACCT_CAP_FLAGS_REMOTE))
        ex = cmd_usage("delete",
                       "account '%s' keeps mail locally; deleting is not "
                       "supported for it yet",
                       m.acc->name);
    struct trash t = {0};
    struct tern_err err = {0};
    if (!ex && !expunge && index_folder_list(m.ix, find_trash, &t, &err))
        ex = cmd_report(&err);
    int64_t trash = t.special ? t.special : t.named;
    if (!ex && !expunge && !trash) {
        fprintf(stderr, "tern delete: account has no Trash folder (special-use \\Trash or named "
                        "Trash); use --expunge to delete for good\n");
        ex = EX_NOINPUT;
    }
    struct index_folder tf = {0};
    if (!ex && trash && index_folder_get(m.ix, trash, NULL, &tf, &err))
        ex = cmd_report(&err);
    /* messages already in Trash (or all, with --expunge) go for good */
    int64_t *to_trash = calloc(nid + 1, sizeof *to_trash),
            *to_expunge = calloc(nid + 1, sizeof *to_expunge);
    size_t nt = 0, ne = 0;
    if (!ex && (!to_trash || !to_expunge))
        ex = EX_OSERR;
    for (size_t i = 0; i < nid && !ex; i++) {
        struct index_msg msg;
        index_msg_init(&msg);
        enum tern_rc rc = index_msg_get(m.ix, ids[i], &msg, &err);
        if (rc == TERN_ENOTFOUND) {
            fprintf(stderr, "tern delete: no message with ID %lld\n", (long long)ids[i]);
            ex = EX_NOINPUT;
        } else if (rc) {
            ex = cmd_report(&err);
        } else if (expunge || msg.folder_id == trash) {
            to_expunge[ne++] = ids[i];
        } else {
            to_trash[nt++] = ids[i];
        }
        index_msg_clear(&msg);
    }
    if (!ex && nt)
        ex = cmd_mail_queue(&m, to_trash, nt, INDEX_OP_MOVE, &tf);
    if (!ex && ne)
        ex = cmd_mail_queue(&m, to_expunge, ne, INDEX_OP_DELETE, NULL);
    index_folder_clear(&tf);
    cmd_mail_close(&m);
    free(to_trash);
    free(to_expunge);
    cmd_mail_args_free(&args);
    return ex;
}
