/* `tern read ID` and `tern read --file FILE`: show one message from the
 * index (its body fetched on demand, then marked seen) or from a file (or
 * stdin). The message logic lives in core/mime (mime_render_text /
 * mime_render_json), shared with the TUI, and finding/marking a message by
 * ID in core/account (message.c); this file picks the input and output. */
#include "cmd.h"
#include "core/account/lib.h"
#include "core/charset/lib.h"
#include "core/mime/lib.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Messages larger than this are refused rather than read into memory. */
#define READ_MAX_BYTES ((size_t)256 << 20)

int cmd_slurp_message(const char *path, char **buf, size_t *len)
{
    bool is_stdin = !strcmp(path, "-");
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    struct tern_err err = {0};
    if (!f) {
        tern_fail(&err, errno == ENOENT ? TERN_ENOTFOUND : TERN_EIO, "%s: %s", path,
                  strerror(errno));
        return cmd_report(&err);
    }
    struct tbuf b;
    tbuf_init(&b, READ_MAX_BYTES);
    char tmp[65536];
    size_t n;
    enum tern_rc rc = TERN_OK;
    while (!rc && (n = fread(tmp, 1, sizeof tmp, f)) > 0)
        rc = tbuf_append(&b, tmp, n);
    if (!rc && ferror(f))
        tern_fail(&err, TERN_EIO, "%s: read error", path);
    else if (rc == TERN_EPROTO)
        tern_fail(&err, TERN_EDATA, "%s: message larger than %zu MiB", path,
                  READ_MAX_BYTES >> 20);
    else if (rc)
        tern_fail(&err, rc, "%s: %s", path, tern_rc_str(rc));
    if (!is_stdin)
        fclose(f);
    if (err.rc) {
        tbuf_free(&b);
        return cmd_report(&err);
    }
    *len = b.len;
    *buf = tbuf_steal(&b);
    return *buf ? EX_OK : EX_OSERR;
}

const char *cmd_html_filter(struct cmd_ctx *ctx)
{
    /* Reading a file needs no account: a missing config just means the
     * built-in HTML converter; a broken one is worth a warning only. */
    if (!ctx->cfg) {
        struct tern_err err = {0};
        char *path = config_find_path(ctx->config_path, &err);
        enum tern_rc rc = path ? config_load(path, &ctx->cfg, &err) : err.rc;
        free(path);
        if (rc && (rc != TERN_ENOTFOUND || ctx->config_path)) {
            fputs("tern: warning: ", stderr);
            char *s = safe_text_dup(err.msg, strlen(err.msg), SAFE_ASCII);
            fputs(s ? s : "configuration not loaded", stderr);
            free(s);
            fputs(" (using the built-in HTML converter)\n", stderr);
        }
        if (rc)
            return NULL;
    }
    return ctx->cfg ? ctx->cfg->html_filter : NULL;
}

/* "tern: ACCOUNT: message" on stderr (sanitised); returns the exit code. */
static int report_in(const struct tern_account *acc, const struct tern_err *err)
{
    fputs("tern: ", stderr);
    cmd_print_safe(stderr, acc->name);
    fputs(": ", stderr);
    cmd_print_safe(stderr, err->msg[0] ? err->msg : tern_rc_str(err->rc));
    fputc('\n', stderr);
    return cmd_exit_code(err->rc);
}

int cmd_msg_open(struct cmd_ctx *ctx, const char *cmd, const char *account, const char *idarg,
                 struct cmd_msg *m)
{
    memset(m, 0, sizeof *m);
    uint64_t v;
    if (!tern_parse_u64(idarg, strlen(idarg), INT64_MAX, &v) || v == 0)
        return cmd_usage(cmd, "'%s' is not a message ID (see tern list)", idarg);
    m->id = (int64_t)v;
    int ex = cmd_load_config(ctx);
    if (ex)
        return ex;
    struct tern_err err = {0};
    if (account_locate_message(ctx->cfg, account, m->id, &m->acc, &err))
        return cmd_report(&err);
    /* libcurl's global init, in case the body must be fetched or a flag
     * pushed (cheap next to a connection, needless for a cached body). */
    if (conn_global_init(&err))
        return cmd_report(&err);
    m->global = true;
    struct acct_hooks hooks = {.trace = ctx->debug ? cmd_trace : NULL};
    enum tern_rc rc = acct_local_open(m->acc, &hooks, &m->acct, &err);
    if (!rc)
        rc = account_message_file(m->acct, m->id, &m->path, &err);
    if (rc) {
        ex = report_in(m->acc, &err);
        cmd_msg_close(m);
    }
    return ex;
}

void cmd_msg_close(struct cmd_msg *m)
{
    acct_local_close(&m->acct);
    free(m->path);
    m->path = NULL;
    if (m->global)
        conn_global_cleanup();
    m->global = false;
}

/* Render the message in `path` to stdout. `label` names it in errors. */
static int show(struct cmd_ctx *ctx, const char *path, const char *label, bool json, bool raw)
{
    char *buf = NULL;
    size_t len = 0;
    int ex = cmd_slurp_message(path, &buf, &len);
    if (ex)
        return ex;
    struct tbuf out;
    tbuf_init(&out, 0);
    enum tern_rc rc = TERN_OK;
    if (raw) {
        /* Raw bytes only into a pipe or file; a terminal gets them made
         * safe, since the message may carry escape sequences. */
        if (isatty(STDOUT_FILENO))
            rc = safe_text(buf, len, SAFE_ALLOW_NEWLINE | SAFE_ALLOW_TAB, &out);
        else
            rc = tbuf_append(&out, buf, len);
    } else {
        struct tern_err err = {0};
        struct mime_message *m = NULL;
        char *copy = NULL;
        rc = mime_parse_local(buf, len, &copy, &m, &err);
        if (rc) {
            tbuf_free(&out);
            free(buf);
            return cmd_report(&err);
        }
        struct mime_text_opts opts = {.html_filter = cmd_html_filter(ctx)};
        rc = json ? mime_render_json(m, &opts, &out) : mime_render_text(m, &opts, &out);
        if (!rc && json)
            rc = tbuf_putc(&out, '\n');
        mime_message_free(&m);
        free(copy);
    }
    if (!rc)
        fwrite(out.data ? out.data : "", 1, out.len, stdout);
    tbuf_free(&out);
    free(buf);
    if (rc) {
        struct tern_err err = {0};
        tern_fail(&err, rc, "%s: %s", label, tern_rc_str(rc));
        return cmd_report(&err);
    }
    /* Only a message that really went out counts as read. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        struct tern_err err = {0};
        tern_fail(&err, TERN_EIO, "%s: cannot write the output: %s", label, strerror(errno));
        return cmd_report(&err);
    }
    return EX_OK;
}

/* After showing: \Seen, sent at once or queued when the server cannot be
 * reached. Neither case undoes the reading: exit 0, with a note. */
static int mark_seen(struct cmd_ctx *ctx, struct cmd_msg *m)
{
    struct tern_err err = {0}, note = {0};
    if (account_mark_seen(m->acct, m->id, &note, &err))
        return report_in(m->acc, &err);
    if (note.rc && !ctx->quiet) {
        bool offline = note.rc == TERN_ECONN || note.rc == TERN_ETIMEOUT || note.rc == TERN_ETEMP;
        fputs("tern: ", stderr);
        cmd_print_safe(stderr, m->acc->name);
        fputs(offline ? ": offline (" : ": warning: not marked seen on the server (", stderr);
        cmd_print_safe(stderr, note.msg[0] ? note.msg : tern_rc_str(note.rc));
        fprintf(stderr, offline ? "); message %lld is marked seen at the next fetch\n" : ")\n",
                (long long)m->id);
    }
    return EX_OK;
}

int cmd_read(struct cmd_ctx *ctx, int argc, char **argv)
{
    const char *file = NULL, *account = NULL, *idarg = NULL;
    bool json = false, raw = false, no_mark = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--file") || !strcmp(a, "-f")) {
            if (++i >= argc)
                return cmd_usage("read", "%s needs a file name ('-' for stdin)", a);
            file = argv[i];
        } else if (!strncmp(a, "--file=", 7)) {
            file = a + 7;
        } else if (!strcmp(a, "-a") || !strcmp(a, "--account")) {
            if (++i >= argc)
                return cmd_usage("read", "%s needs an account name", a);
            account = argv[i];
        } else if (!strncmp(a, "--account=", 10)) {
            account = a + 10;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--raw")) {
            raw = true;
        } else if (!strcmp(a, "--no-mark")) {
            no_mark = true;
        } else if (a[0] == '-' && a[1]) {
            return cmd_usage("read", "unknown option '%s'", a);
        } else if (idarg) {
            return cmd_usage("read", "one message at a time ('%s' and '%s')", idarg, a);
        } else {
            idarg = a;
        }
    }
    if (!file && !idarg)
        return cmd_usage("read", "which message? give its ID (see tern list) or --file FILE");
    if (file && idarg)
        return cmd_usage("read", "give a message ID or --file, not both");
    if (file && account)
        return cmd_usage("read", "-a goes with a message ID, not with --file");
    if (json && raw)
        return cmd_usage("read", "--json and --raw do not go together");
    if (file)
        return show(ctx, file, file, json, raw);
    struct cmd_msg m;
    int ex = cmd_msg_open(ctx, "read", account, idarg, &m);
    if (ex)
        return ex;
    char label[40];
    tern_snprintf(label, sizeof label, "message %lld", (long long)m.id);
    ex = show(ctx, m.path, label, json, raw);
    if (!ex && !no_mark)
        ex = mark_seen(ctx, &m);
    cmd_msg_close(&m);
    return ex;
}
