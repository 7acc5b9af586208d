/* `tern attachments ID|--file FILE [--save DIR]`: list or save the
 * attachments of one message (by ID: found and fetched like `tern read
 * ID`, see cmd_msg_open; never marked seen). Names and saving rules are
 * core/mime's (mime_safe_filename, mime_save_part). Text parts are saved
 * with LF line ends whichever protocol brought the message (see
 * mime_parse_local); binary and base64 parts byte for byte. */
#include "cmd.h"
#include "core/charset/lib.h"
#include "core/mime/lib.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put_safe(struct tbuf *out, const char *s)
{
    safe_text(s, strlen(s), 0, out);
}

int cmd_attachments(struct cmd_ctx *ctx, int argc, char **argv)
{
    const char *file = NULL, *dir = NULL, *account = NULL, *idarg = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--file") || !strcmp(a, "-f")) {
            if (++i >= argc)
                return cmd_usage("attachments", "%s needs a file name ('-' for stdin)", a);
            file = argv[i];
        } else if (!strncmp(a, "--file=", 7)) {
            file = a + 7;
        } else if (!strcmp(a, "--save")) {
            if (++i >= argc)
                return cmd_usage("attachments", "--save needs a directory");
            dir = argv[i];
        } else if (!strncmp(a, "--save=", 7)) {
            dir = a + 7;
        } else if (!strcmp(a, "-a") || !strcmp(a, "--account")) {
            if (++i >= argc)
                return cmd_usage("attachments", "%s needs an account name", a);
            account = argv[i];
        } else if (!strncmp(a, "--account=", 10)) {
            account = a + 10;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (a[0] == '-' && a[1]) {
            return cmd_usage("attachments", "unknown option '%s'", a);
        } else if (idarg) {
            return cmd_usage("attachments", "one message at a time ('%s' and '%s')", idarg, a);
        } else {
            idarg = a;
        }
    }
    if (!file && !idarg)
        return cmd_usage("attachments",
                         "which message? give its ID (see tern list) or --file FILE");
    if (file && idarg)
        return cmd_usage("attachments", "give a message ID or --file, not both");
    if (file && account)
        return cmd_usage("attachments", "-a goes with a message ID, not with --file");
    if (dir && !*dir)
        return cmd_usage("attachments", "--save needs a directory");
    struct cmd_msg msg = {0};
    int ex = idarg ? cmd_msg_open(ctx, "attachments", account, idarg, &msg) : EX_OK;
    if (ex)
        return ex;
    if (idarg)
        file = msg.path;
    char *buf = NULL;
    size_t len = 0;
    ex = cmd_slurp_message(file, &buf, &len);
    /* The file is read: let go of the account (lock, connection) before
     * writing anything. */
    if (idarg) {
        cmd_msg_close(&msg);
        file = NULL;
    }
    if (ex)
        return ex;
    struct tern_err err = {0};
    struct mime_message *m = NULL;
    struct mime_attachments at = {0};
    int dfd = -1;
    char *copy = NULL; /* the message with local line ends, when it had CRLF */
    if (mime_parse_local(buf, len, &copy, &m, &err) || (err.rc = mime_attachments_list(m, &at))) {
        ex = cmd_report(&err);
        goto out;
    }
    if (dir) {
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
            tern_fail(&err, errno == ENOENT ? TERN_ENOTFOUND : TERN_EIO, "%s: %s", dir,
                      strerror(errno));
            ex = cmd_report(&err);
            goto out;
        }
    }
    struct tbuf o;
    tbuf_init(&o, 0);
    if (json)
        tbuf_putc(&o, '[');
    for (size_t i = 0; i < at.n; i++) {
        const struct mime_attachment *a = &at.v[i];
        char *written = NULL;
        if (dfd >= 0) {
            struct tern_err serr = {0};
            if (mime_save_part(m, a->part, dfd, a->safe_name, &written, &serr)) {
                /* Go on with the others; the exit code tells. */
                int e = cmd_report(&serr);
                if (!ex)
                    ex = e;
                continue;
            }
        }
        const char *name = a->filename ? a->filename : a->safe_name;
        if (json) {
            tbuf_puts(&o, o.len > 1 ? ",\n {\"filename\":" : "\n {\"filename\":");
            json_put_string(&o, name, strlen(name));
            tbuf_puts(&o, ",\"content_type\":");
            json_put_string(&o, a->content_type, strlen(a->content_type));
            tbuf_printf(&o, ",\"size\":%zu", a->size);
            if (written) {
                tbuf_puts(&o, ",\"path\":");
                struct tbuf p;
                tbuf_init(&p, 0);
                tbuf_printf(&p, "%s/%s", dir, written);
                json_put_string(&o, p.data, p.len);
                tbuf_free(&p);
            }
            tbuf_putc(&o, '}');
        } else if (written) {
            put_safe(&o, dir);
            tbuf_putc(&o, '/');
            put_safe(&o, written);
            tbuf_putc(&o, '\n');
        } else {
            tbuf_printf(&o, "%zu\t%zu\t", i + 1, a->size);
            put_safe(&o, a->content_type);
            tbuf_putc(&o, '\t');
            put_safe(&o, name);
            tbuf_putc(&o, '\n');
        }
        free(written);
    }
    if (json)
        tbuf_puts(&o, o.len > 1 ? "\n]\n" : "]\n");
    fwrite(o.data ? o.data : "", 1, o.len, stdout);
    tbuf_free(&o);
out:
    if (dfd >= 0)
        close(dfd);
    mime_attachments_free(&at);
    mime_message_free(&m);
    free(copy);
    free(buf);
    return ex;
}
