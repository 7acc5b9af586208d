/* `tern list`: the messages of the local index, newest first, offline. */
#include "cmd.h"
#include "core/charset/lib.h"
#include "core/index/lib.h"

#include <langinfo.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* -n takes at most this many (more than any index holds). */
#define LIST_MAX_LIMIT 100000000ull
/* Columns given to the sender in the text listing. */
#define LIST_FROM_COLS 22
/* Output is written in pieces of about this size. */
#define LIST_FLUSH_AT 65536

/* One listed message, owned; rows of all accounts are merged by date. */
struct row {
    const char *account; /* borrowed from the config */
    char *folder;
    int64_t id;
    uint32_t uid;
    unsigned flags;
    int64_t date;
    uint64_t size;
    bool has_attachments;
    char *from_name, *from_addr, *to_text, *subject, *message_id;
    uint64_t order; /* position of the account, then of the row: a stable tie-break */
};

struct rows {
    struct row *v;
    size_t n, cap;
    bool oom;
};

/* The folder names of one account, by id. */
struct folder_map {
    int64_t *ids;
    char **names;
    size_t n, cap;
    bool oom;
};

struct collect {
    struct rows *rows;
    struct folder_map *folders;
    const char *account;
};

static void rows_free(struct rows *r)
{
    for (size_t i = 0; i < r->n; i++) {
        struct row *x = &r->v[i];
        free(x->folder);
        free(x->from_name);
        free(x->from_addr);
        free(x->to_text);
        free(x->subject);
        free(x->message_id);
    }
    free(r->v);
    memset(r, 0, sizeof *r);
}

static void folder_map_free(struct folder_map *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->names[i]);
    free(m->ids);
    free(m->names);
    memset(m, 0, sizeof *m);
}

static int folder_cb(void *arg, const struct index_folder *f)
{
    struct folder_map *m = arg;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        int64_t *ids = realloc(m->ids, cap * sizeof *ids);
        if (ids)
            m->ids = ids;
        char **names = ids ? realloc(m->names, cap * sizeof *names) : NULL;
        if (!names) {
            m->oom = true;
            return 1;
        }
        m->names = names;
        m->cap = cap;
    }
    if (!(m->names[m->n] = tern_strdup(f->name))) {
        m->oom = true;
        return 1;
    }
    m->ids[m->n++] = f->id;
    return 0;
}

static const char *folder_name(const struct folder_map *m, int64_t id)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->ids[i] == id)
            return m->names[i];
    return "";
}

static char *dup_or_null(const char *s, bool *oom)
{
    if (!s)
        return NULL;
    char *d = tern_strdup(s);
    if (!d)
        *oom = true;
    return d;
}

static int collect_cb(void *arg, const struct index_msg *m)
{
    struct collect *c = arg;
    struct rows *r = c->rows;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 256;
        struct row *v = realloc(r->v, cap * sizeof *v);
        if (!v) {
            r->oom = true;
            return 1;
        }
        r->v = v;
        r->cap = cap;
    }
    struct row *x = &r->v[r->n];
    memset(x, 0, sizeof *x);
    x->account = c->account;
    x->id = m->id;
    x->uid = m->uid;
    x->flags = m->flags;
    x->date = m->date;
    x->size = m->size;
    x->has_attachments = m->has_attachments;
    x->order = r->n;
    x->folder = dup_or_null(folder_name(c->folders, m->folder_id), &r->oom);
    x->from_name = dup_or_null(m->from_name, &r->oom);
    x->from_addr = dup_or_null(m->from_addr, &r->oom);
    x->to_text = dup_or_null(m->to_text, &r->oom);
    x->subject = dup_or_null(m->subject, &r->oom);
    x->message_id = dup_or_null(m->message_id, &r->oom);
    r->n++; /* counted even on OOM so rows_free frees what was copied */
    return r->oom ? 1 : 0;
}

/* Newest first, unknown dates last; ties keep the order they came in
 * (account order, then the index's id-descending order). */
static int row_cmp(const void *pa, const void *pb)
{
    const struct row *a = pa, *b = pb;
    bool ka = a->date != INDEX_NO_DATE, kb = b->date != INDEX_NO_DATE;
    if (ka != kb)
        return ka ? -1 : 1;
    if (ka && a->date != b->date)
        return a->date > b->date ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

/* ------------------------------------------------------------- printing */

static bool utf8_locale;

/* Columns of UTF-8 text; in a non-UTF-8 locale wcwidth knows nothing, so
 * count one column per code point. */
static size_t text_width(const char *s, size_t n)
{
    if (utf8_locale)
        return utf8_width(s, n);
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += utf8_decode(s + i, n - i, &cp);
        w++;
    }
    return w;
}

/* Append safe text s cut to at most `cols` columns (with "…" when cut),
 * padded with spaces to exactly `cols` when pad is set. cols 0: no limit. */
static enum tern_rc put_cols(struct tbuf *out, const char *s, size_t cols, bool pad)
{
    size_t n = strlen(s), used = 0, i = 0;
    if (!cols || text_width(s, n) <= cols) {
        i = n;
        used = cols ? text_width(s, n) : 0;
    } else {
        while (i < n) {
            uint32_t cp;
            size_t len = utf8_decode(s + i, n - i, &cp);
            size_t w = text_width(s + i, len);
            if (used + w + 1 > cols) /* keep one column for the ellipsis */
                break;
            used += w;
            i += len;
        }
    }
    enum tern_rc rc = tbuf_append(out, s, i);
    if (!rc && i < n) {
        rc = tbuf_puts(out, utf8_locale ? "\xe2\x80\xa6" : ".");
        used++;
    }
    while (!rc && pad && used < cols) {
        rc = tbuf_putc(out, ' ');
        used++;
    }
    return rc;
}

static void human_size(uint64_t n, char buf[16])
{
    if (n < 1000)
        tern_snprintf(buf, 16, "%llu", (unsigned long long)n);
    else if (n < 10 * 1024)
        tern_snprintf(buf, 16, "%.1fK", (double)n / 1024);
    else if (n < 1000 * 1024)
        tern_snprintf(buf, 16, "%lluK", (unsigned long long)(n + 512) / 1024);
    else if (n < 10ull * 1024 * 1024)
        tern_snprintf(buf, 16, "%.1fM", (double)n / (1024 * 1024));
    else if (n < 1000ull * 1024 * 1024)
        tern_snprintf(buf, 16, "%lluM", (unsigned long long)(n + 512 * 1024) / (1024 * 1024));
    else
        tern_snprintf(buf, 16, "%.1fG", (double)n / (1024 * 1024 * 1024));
}

static size_t terminal_cols(void)
{
    if (!isatty(STDOUT_FILENO))
        return 0; /* piped: never cut the subject */
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *c = getenv("COLUMNS");
    uint64_t v;
    if (c && tern_parse_u64(c, strlen(c), 10000, &v) && v > 0)
        return (size_t)v;
    return 80;
}

static enum tern_rc text_line(struct tbuf *out, const struct row *x, size_t account_cols,
                              size_t term_cols, struct tbuf *tmp)
{
    size_t start = out->len;
    enum tern_rc rc = TERN_OK;
    if (account_cols) {
        tbuf_reset(tmp);
        rc = safe_text(x->account, strlen(x->account), 0, tmp);
        if (!rc)
            rc = put_cols(out, tmp->data ? tmp->data : "", account_cols, true);
        if (!rc)
            rc = tbuf_puts(out, "  ");
    }
    char date[32] = "-";
    if (x->date != INDEX_NO_DATE) {
        time_t t = (time_t)x->date;
        struct tm tm;
        if (!localtime_r(&t, &tm) || !strftime(date, sizeof date, "%Y-%m-%d %H:%M", &tm))
            memcpy(date, "?", 2);
    }
    char size[16];
    human_size(x->size, size);
    if (!rc)
        rc = tbuf_printf(
            out, "%6lld %c%c%c%c %-16s %5s  ", (long long)x->id,
            x->flags & INDEX_FLAG_SEEN ? ' ' : 'N', x->flags & INDEX_FLAG_FLAGGED ? 'F' : ' ',
            x->flags & INDEX_FLAG_ANSWERED ? 'A' : ' ', x->has_attachments ? '@' : ' ', date, size);
    /* Everything from the server passes through safe_text: no escape
     * sequence, control or bidi override reaches the terminal. */
    const char *from = x->from_name && *x->from_name   ? x->from_name
                       : x->from_addr && *x->from_addr ? x->from_addr
                                                       : "(unknown)";
    tbuf_reset(tmp);
    if (!rc)
        rc = safe_text(from, strlen(from), SAFE_TAB_AS_SPACE, tmp);
    if (!rc)
        rc = put_cols(out, tmp->data ? tmp->data : "", LIST_FROM_COLS, true);
    if (!rc)
        rc = tbuf_puts(out, "  ");
    const char *subject = x->subject && *x->subject ? x->subject : "(no subject)";
    tbuf_reset(tmp);
    if (!rc)
        rc = safe_text(subject, strlen(subject), SAFE_TAB_AS_SPACE, tmp);
    if (!rc) {
        size_t used = text_width(out->data + start, out->len - start);
        size_t left = term_cols > used + 1 ? term_cols - used - 1 : 0;
        /* On a terminal too narrow for any subject, show at least a few. */
        if (term_cols && left < 8)
            left = 8;
        rc = put_cols(out, tmp->data ? tmp->data : "", term_cols ? left : 0, false);
    }
    return rc ? rc : tbuf_putc(out, '\n');
}

static enum tern_rc json_str_or_null(struct tbuf *b, const char *s)
{
    return s ? json_put_string(b, s, strlen(s)) : tbuf_puts(b, "null");
}

static enum tern_rc json_row(struct tbuf *b, const struct row *x, bool first)
{
    static const struct {
        unsigned bit;
        const char *name;
    } flag_names[] = {
        {INDEX_FLAG_SEEN, "seen"},       {INDEX_FLAG_ANSWERED, "answered"},
        {INDEX_FLAG_FLAGGED, "flagged"}, {INDEX_FLAG_DELETED, "deleted"},
        {INDEX_FLAG_DRAFT, "draft"},     {INDEX_FLAG_FORWARDED, "forwarded"},
    };
    enum tern_rc rc =
        tbuf_printf(b, "%s {\"id\": %lld, \"account\": ", first ? "\n" : ",\n", (long long)x->id);
    if (!rc)
        rc = json_str_or_null(b, x->account);
    if (!rc)
        rc = tbuf_puts(b, ", \"folder\": ");
    if (!rc)
        rc = json_str_or_null(b, x->folder);
    if (!rc)
        rc = tbuf_printf(b, ", \"uid\": %lu, \"date\": ", (unsigned long)x->uid);
    char date[40];
    time_t t = (time_t)x->date;
    struct tm tm;
    if (!rc) {
        if (x->date != INDEX_NO_DATE && gmtime_r(&t, &tm) &&
            strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm))
            rc = tbuf_printf(b, "\"%s\"", date);
        else
            rc = tbuf_puts(b, "null");
    }
    /* from: "Name <addr>" when there is a name, else the address. */
    if (!rc)
        rc = tbuf_puts(b, ", \"from\": ");
    if (!rc) {
        if (x->from_name && *x->from_name) {
            struct tbuf f;
            tbuf_init(&f, 0);
            rc = x->from_addr ? tbuf_printf(&f, "%s <%s>", x->from_name, x->from_addr)
                              : tbuf_puts(&f, x->from_name);
            if (!rc)
                rc = json_put_string(b, f.data, f.len);
            tbuf_free(&f);
        } else {
            rc = json_str_or_null(b, x->from_addr);
        }
    }
    if (!rc)
        rc = tbuf_puts(b, ", \"to\": ");
    if (!rc)
        rc = json_str_or_null(b, x->to_text);
    if (!rc)
        rc = tbuf_puts(b, ", \"subject\": ");
    if (!rc)
        rc = json_str_or_null(b, x->subject);
    if (!rc)
        rc = tbuf_puts(b, ", \"flags\": [");
    bool any = false;
    for (size_t i = 0; !rc && i < sizeof flag_names / sizeof flag_names[0]; i++) {
        if (!(x->flags & flag_names[i].bit))
            continue;
        rc = tbuf_printf(b, "%s\"%s\"", any ? ", " : "", flag_names[i].name);
        any = true;
    }
    if (!rc)
        rc = tbuf_printf(b, "], \"size\": %llu, \"has_attachments\": %s, \"message_id\": ",
                         (unsigned long long)x->size, x->has_attachments ? "true" : "false");
    if (!rc)
        rc = json_str_or_null(b, x->message_id);
    return rc ? rc : tbuf_putc(b, '}');
}

static bool write_out(struct tbuf *b)
{
    bool ok = !b->len || fwrite(b->data, 1, b->len, stdout) == b->len;
    tbuf_reset(b);
    return ok;
}

/* ------------------------------------------------------------- command */

struct list_opts {
    const char *account;
    const char *folder;
    uint64_t limit;
    bool unread;
    const char *search;
    bool json;
};

/* Rows of one account into r. *folder_found is set when opts->folder
 * exists in this account. ENOTFOUND from index_open (no index yet) is
 * not an error: the account simply lists nothing. */
static enum tern_rc list_account(const struct tern_account *a, const struct list_opts *o,
                                 size_t account_no, struct rows *r, bool *folder_found,
                                 struct tern_err *err)
{
    struct index *ix = NULL;
    struct tern_err e = {0};
    enum tern_rc rc = index_open_dir(a->data_dir, INDEX_OPEN_NOCREATE, &ix, &e);
    if (rc == TERN_ENOTFOUND)
        return TERN_OK;
    if (rc)
        return tern_fail(err, rc, "account %s: %s", a->name, e.msg);
    struct folder_map folders = {0};
    struct index_query q = {.limit = o->limit, .unread_only = o->unread, .search = o->search};
    rc = index_folder_list(ix, folder_cb, &folders, &e);
    if (folders.oom)
        rc = tern_fail(&e, TERN_ENOMEM, "out of memory");
    if (!rc && o->folder) {
        struct index_folder f;
        rc = index_folder_get(ix, 0, o->folder, &f, &e);
        if (rc == TERN_ENOTFOUND) {
            index_folder_clear(&f);
            folder_map_free(&folders);
            index_close(&ix);
            return TERN_OK;
        }
        if (!rc) {
            q.folder_id = f.id;
            *folder_found = true;
        }
        index_folder_clear(&f);
    }
    size_t first = r->n;
    struct collect c = {.rows = r, .folders = &folders, .account = a->name};
    if (!rc)
        rc = index_list(ix, &q, collect_cb, &c, &e);
    if (!rc && r->oom)
        rc = tern_fail(&e, TERN_ENOMEM, "out of memory");
    /* Order key: account first, then position within the account. */
    for (size_t i = first; i < r->n; i++)
        r->v[i].order = ((uint64_t)account_no << 40) | (uint64_t)(i - first);
    folder_map_free(&folders);
    index_close(&ix);
    if (rc)
        return tern_fail(err, rc, "account %s: %s", a->name, e.msg);
    return TERN_OK;
}

static int need_arg(int *i, int argc, char **argv, const char **out)
{
    if (*i + 1 >= argc)
        return cmd_usage("list", "%s needs an argument", argv[*i]);
    *out = argv[++*i];
    return 0;
}

int cmd_list(struct cmd_ctx *ctx, int argc, char **argv)
{
    struct list_opts o = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int ex = 0;
        if (!strcmp(a, "-a") || !strcmp(a, "--account"))
            ex = need_arg(&i, argc, argv, &o.account);
        else if (!strcmp(a, "-f") || !strcmp(a, "--folder"))
            ex = need_arg(&i, argc, argv, &o.folder);
        else if (!strcmp(a, "-n") || !strcmp(a, "--limit")) {
            if (!(ex = need_arg(&i, argc, argv, &v)) &&
                (!tern_parse_u64(v, strlen(v), LIST_MAX_LIMIT, &o.limit) || o.limit == 0))
                ex = cmd_usage("list", "-n needs a number from 1 to %llu, not '%s'", LIST_MAX_LIMIT,
                               v);
        } else if (!strcmp(a, "--unread"))
            o.unread = true;
        else if (!strcmp(a, "--search") || !strcmp(a, "-s"))
            ex = need_arg(&i, argc, argv, &o.search);
        else if (!strcmp(a, "--json"))
            o.json = true;
        else
            ex = cmd_usage("list", "unknown argument '%s'", a);
        if (ex)
            return ex;
    }
    int ex = cmd_load_config(ctx);
    if (ex)
        return ex;
    const struct tern_config *cfg = ctx->cfg;
    const struct tern_account *only = NULL;
    if (o.account && !(only = config_account(cfg, o.account))) {
        struct tern_err e = {0};
        tern_fail(&e, TERN_ENOTFOUND, "no account '%s' in %s", o.account, cfg->path);
        return cmd_report(&e);
    }
    const char *codeset = nl_langinfo(CODESET);
    utf8_locale =
        codeset && (!tern_strcasecmp(codeset, "UTF-8") || !tern_strcasecmp(codeset, "utf8"));

    struct rows rows = {0};
    struct tern_err err = {0};
    bool folder_found = false;
    int status = EX_OK;
    size_t account_cols = 0;
    for (size_t i = 0; i < cfg->naccounts; i++) {
        const struct tern_account *a = &cfg->accounts[i];
        if (only && a != only)
            continue;
        struct tern_err e = {0};
        enum tern_rc rc = list_account(a, &o, i, &rows, &folder_found, &e);
        if (rc) {
            /* One broken index does not hide the other accounts. */
            if (rc == TERN_ENOMEM) {
                rows_free(&rows);
                return cmd_report(&e);
            }
            int code = cmd_report(&e);
            if (status == EX_OK)
                status = code;
            continue;
        }
        size_t w = text_width(a->name, strlen(a->name));
        if (w > account_cols)
            account_cols = w;
    }
    if (o.folder && !folder_found && status == EX_OK) {
        tern_fail(&err, TERN_ENOTFOUND, "no folder '%s'%s%s", o.folder, only ? " in account " : "",
                  only ? only->name : "");
        rows_free(&rows);
        return cmd_report(&err);
    }
    /* Merge the accounts by date; one account is already in order. */
    if (!only && cfg->naccounts > 1 && rows.n > 1)
        qsort(rows.v, rows.n, sizeof rows.v[0], row_cmp);
    size_t n = rows.n;
    if (o.limit && n > o.limit)
        n = (size_t)o.limit;
    /* Show the account column whenever more than one account could have
     * listed something: IDs are per account. */
    if (only || cfg->naccounts < 2)
        account_cols = 0;
    else if (account_cols > 16)
        account_cols = 16;

    struct tbuf out, tmp;
    tbuf_init(&out, 0);
    tbuf_init(&tmp, 0);
    size_t term_cols = o.json ? 0 : terminal_cols();
    enum tern_rc rc = o.json ? tbuf_putc(&out, '[') : TERN_OK;
    bool io_ok = true;
    for (size_t i = 0; i < n && !rc; i++) {
        rc = o.json ? json_row(&out, &rows.v[i], i == 0)
                    : text_line(&out, &rows.v[i], account_cols, term_cols, &tmp);
        if (!rc && out.len >= LIST_FLUSH_AT)
            io_ok &= write_out(&out);
    }
    if (!rc && o.json)
        rc = tbuf_puts(&out, n ? "\n]\n" : "]\n");
    if (!rc)
        io_ok &= write_out(&out);
    tbuf_free(&out);
    tbuf_free(&tmp);
    rows_free(&rows);
    if (rc)
        return cmd_exit_code(rc);
    if (!io_ok)
        return EX_IOERR;
    return status;
}
