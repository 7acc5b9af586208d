/* `tern read --file FILE`: show one message from a file (or stdin). The
 * message logic lives in core/mime (mime_render_text / mime_render_json),
 * shared with the TUI; this file reads the input and picks the output. */
#include "cmd.h"
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

int cmd_read(struct cmd_ctx *ctx, int argc, char **argv)
{
    const char *file = NULL;
    bool json = false, raw = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--file") || !strcmp(a, "-f")) {
            if (++i >= argc)
                return cmd_usage("read", "%s needs a file name ('-' for stdin)", a);
            file = argv[i];
        } else if (!strncmp(a, "--file=", 7)) {
            file = a + 7;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--raw")) {
            raw = true;
        } else if (a[0] == '-' && a[1]) {
            return cmd_usage("read", "unknown option '%s'", a);
        } else {
            return cmd_usage("read", "reading by message ID is not available yet; use --file");
        }
    }
    if (!file)
        return cmd_usage("read", "which message? use --file FILE");
    if (json && raw)
        return cmd_usage("read", "--json and --raw do not go together");
    char *buf = NULL;
    size_t len = 0;
    int ex = cmd_slurp_message(file, &buf, &len);
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
        rc = mime_parse(buf, len, &m, &err);
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
    }
    if (!rc)
        fwrite(out.data ? out.data : "", 1, out.len, stdout);
    tbuf_free(&out);
    free(buf);
    if (rc) {
        struct tern_err err = {0};
        tern_fail(&err, rc, "%s: %s", file, tern_rc_str(rc));
        return cmd_report(&err);
    }
    return EX_OK;
}
