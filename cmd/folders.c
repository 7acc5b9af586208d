/*
 * `tern folders [-a ACCOUNT] [--json]`: the account's folders with unread
 * and total counts from the local index. IMAP accounts refresh the list
 * from the server first (LIST, with SPECIAL-USE roles and subscriptions;
 * names decoded from modified UTF-7); offline, the list of the last fetch
 * is shown with a note on stderr.
 */
#include "cmd.h"
#include "core/charset/lib.h"
#include "core/index/lib.h"

#include <stdlib.h>
#include <string.h>

static const char *special_name(enum index_special s)
{
    switch (s) {
    case INDEX_SPECIAL_SENT:
        return "sent";
    case INDEX_SPECIAL_DRAFTS:
        return "drafts";
    case INDEX_SPECIAL_TRASH:
        return "trash";
    case INDEX_SPECIAL_JUNK:
        return "junk";
    case INDEX_SPECIAL_ARCHIVE:
        return "archive";
    case INDEX_SPECIAL_NONE:
        break;
    }
    return NULL;
}

struct frow {
    char *name; /* made safe for the terminal */
    char *raw;  /* as stored, for JSON */
    uint64_t unread, total;
    enum index_special special;
    bool subscribed;
};

struct frows {
    struct frow *v;
    size_t n, cap;
    bool oom;
};

static int collect(void *arg, const struct index_folder *f)
{
    struct frows *r = arg;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct frow *v = realloc(r->v, cap * sizeof *v);
        if (!v) {
            r->oom = true;
            return 1;
        }
        r->v = v;
        r->cap = cap;
    }
    struct frow *x = &r->v[r->n];
    x->name = safe_text_dup(f->name, strlen(f->name), 0);
    x->raw = tern_strdup(f->name);
    x->unread = f->unread;
    x->total = f->total;
    x->special = f->special_use;
    x->subscribed = f->subscribed;
    if (!x->name || !x->raw) {
        free(x->name);
        free(x->raw);
        r->oom = true;
        return 1;
    }
    r->n++;
    return 0;
}

/* INBOX first, then by name */
static int cmp_row(const void *a, const void *b)
{
    const struct frow *x = a, *y = b;
    bool xi = !strcmp(x->raw, "INBOX"), yi = !strcmp(y->raw, "INBOX");
    if (xi != yi)
        return xi ? -1 : 1;
    return strcmp(x->raw, y->raw);
}

int cmd_folders(struct cmd_ctx *ctx, int argc, char **argv)
{
    const char *account = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-a") || !strcmp(a, "--account")) {
            if (++i >= argc)
                return cmd_usage("folders", "%s needs an account name", a);
            account = argv[i];
        } else if (!strncmp(a, "--account=", 10)) {
            account = a + 10;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else {
            return cmd_usage("folders", "unknown argument '%s'", a);
        }
    }
    struct cmd_mail m;
    int ex = cmd_mail_open(ctx, account, &m);
    if (ex)
        return ex;
    struct tern_err err = {0};
    if (m.drv->list_folders && (m.drv->caps & ACCT_CAP_FOLDERS)) {
        enum tern_rc rc = cmd_mail_driver(&m, &err);
        if (!rc)
            rc = m.drv->list_folders(m.state, &err);
        if (rc == TERN_ECONN || rc == TERN_ETIMEOUT || rc == TERN_ETEMP) {
            if (!ctx->quiet) {
                fputs("tern folders: offline (", stderr);
                cmd_print_safe(stderr, err.msg);
                fputs("); showing the folders of the last fetch\n", stderr);
            }
        } else if (rc) {
            ex = cmd_report(&err);
            cmd_mail_close(&m);
            return ex;
        }
        tern_err_clear(&err);
    }
    struct frows r = {0};
    enum tern_rc rc = index_folder_list(m.ix, collect, &r, &err);
    if (!rc && r.oom)
        rc = tern_fail(&err, TERN_ENOMEM, "out of memory");
    if (rc)
        ex = cmd_report(&err);
    if (!ex && r.n)
        qsort(r.v, r.n, sizeof r.v[0], cmp_row);
    if (!ex && json) {
        struct tbuf out;
        tbuf_init(&out, 0);
        tbuf_putc(&out, '[');
        for (size_t i = 0; i < r.n; i++) {
            const char *sp = special_name(r.v[i].special);
            tbuf_puts(&out, i ? ",{\"name\":" : "{\"name\":");
            json_put_string(&out, r.v[i].raw, strlen(r.v[i].raw));
            tbuf_printf(&out, ",\"unread\":%llu,\"total\":%llu,\"special_use\":",
                        (unsigned long long)r.v[i].unread, (unsigned long long)r.v[i].total);
            if (sp)
                tbuf_printf(&out, "\"%s\"", sp);
            else
                tbuf_puts(&out, "null");
            tbuf_printf(&out, ",\"subscribed\":%s}", r.v[i].subscribed ? "true" : "false");
        }
        tbuf_puts(&out, "]\n");
        fputs(out.data ? out.data : "[]\n", stdout);
        tbuf_free(&out);
    } else if (!ex) {
        size_t w = 6;
        for (size_t i = 0; i < r.n; i++) {
            size_t cw = utf8_width(r.v[i].name, strlen(r.v[i].name));
            if (cw > w)
                w = cw;
        }
        if (w > 40)
            w = 40;
        for (size_t i = 0; i < r.n; i++) {
            const char *sp = special_name(r.v[i].special);
            size_t cw = utf8_width(r.v[i].name, strlen(r.v[i].name));
            fputs(r.v[i].name, stdout);
            for (size_t k = cw; k < w; k++)
                fputc(' ', stdout);
            printf("  %6llu unread  %7llu total%s%s\n", (unsigned long long)r.v[i].unread,
                   (unsigned long long)r.v[i].total, sp ? "  " : "", sp ? sp : "");
        }
    }
    for (size_t i = 0; i < r.n; i++) {
        free(r.v[i].name);
        free(r.v[i].raw);
    }
    free(r.v);
    cmd_mail_close(&m);
    return ex;
}
