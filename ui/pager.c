/* The pager (one message through core/mime's renderer), the text viewer
 * (help, an attachment as text) and the attachment list. */
#include "core/charset/lib.h"
#include "core/index/lib.h"
#include "core/mime/lib.h"
#include "ui/private.h"

#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------- textview */

void tv_free(struct ui_textview *tv)
{
    tbuf_free(&tv->text);
    free(tv->lines);
    free(tv->title);
    memset(tv, 0, sizeof *tv);
}

enum tern_rc tv_set_text(struct ui_textview *tv, const char *s, size_t n, bool message)
{
    char *title = tv->title;
    tv->title = NULL;
    tv_free(tv);
    tv->title = title;
    /* Whatever the source, only LF and TAB survive as controls. */
    struct tbuf safe;
    tbuf_init(&safe, 0);
    enum tern_rc rc = safe_text(s, n, SAFE_ALLOW_NEWLINE | SAFE_ALLOW_TAB, &safe);
    tbuf_init(&tv->text, 0);
    /* TABs expand per line */
    const char *p = safe.data ? safe.data : "";
    size_t len = safe.len;
    while (!rc && len) {
        const char *nl = memchr(p, '\n', len);
        size_t ll = nl ? (size_t)(nl - p) : len;
        rc = ui_expand_tabs(p, ll, &tv->text);
        if (!rc && nl)
            rc = tbuf_putc(&tv->text, '\n');
        p += ll + (nl ? 1 : 0);
        len -= ll + (nl ? 1 : 0);
    }
    tbuf_free(&safe);
    tv->width = 0; /* wrapped when drawn */
    (void)message;
    return rc;
}

struct wrap_ctx {
    struct ui_textview *tv;
    size_t base; /* offset of the logical line */
    uint8_t kind;
    const size_t *url_s, *url_e; /* URL spans of the logical line (relative) */
    size_t nurl;
    bool oom;
};

static int wrap_piece(void *arg, size_t off, size_t len)
{
    struct wrap_ctx *c = arg;
    struct ui_textview *tv = c->tv;
    if (tv->nlines == tv->cap) {
        size_t cap = tv->cap ? tv->cap * 2 : 256;
        struct ui_line *v = realloc(tv->lines, cap * sizeof *v);
        if (!v) {
            c->oom = true;
            return 1;
        }
        tv->lines = v;
        tv->cap = cap;
    }
    bool cont = false;
    for (size_t i = 0; i < c->nurl; i++)
        if (c->url_s[i] < off && off < c->url_e[i])
            cont = true;
    tv->lines[tv->nlines++] = (struct ui_line){c->base + off, len, c->kind, cont};
    return 0;
}

static bool is_url_char(char ch)
{
    return ch > ' ' && ch != '<' && ch != '>' && ch != '"' && (unsigned char)ch < 0x80;
}

/* URL spans in s[0..n): start at a scheme or "www.", end at a space or
 * a delimiter, trailing punctuation dropped. */
static size_t find_urls(const char *s, size_t n, size_t *st, size_t *en, size_t max)
{
    static const char *const schemes[] = {"https://", "http://", "ftp://", "mailto:", "www."};
    size_t k = 0;
    for (size_t i = 0; i < n && k < max; i++) {
        size_t sl = 0;
        for (size_t j = 0; j < sizeof schemes / sizeof schemes[0]; j++) {
            size_t l = strlen(schemes[j]);
            if (n - i > l && !tern_strncasecmp(s + i, schemes[j], l) &&
                (i == 0 || !is_url_char(s[i - 1]) || s[i - 1] == '(' || s[i - 1] == ':')) {
                sl = l;
                break;
            }
        }
        if (!sl)
            continue;
        size_t e = i + sl;
        while (e < n && is_url_char(s[e]))
            e++;
        while (e > i + sl && strchr(".,;:!?')]", s[e - 1]))
            e--;
        if (e > i + sl) {
            st[k] = i;
            en[k] = e;
            k++;
        }
        i = e;
    }
    return k;
}

static size_t quote_depth(const char *s, size_t n)
{
    size_t d = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '>')
            d++;
        else if (s[i] != ' ')
            break;
    }
    return d;
}

static bool tv_wrap(struct ui_textview *tv, int width, bool message)
{
    size_t keep = tv->top < tv->nlines ? tv->lines[tv->top].off : 0;
    tv->nlines = 0;
    const char *s = tv->text.data ? tv->text.data : "";
    size_t n = tv->text.len;
    bool in_header = message, in_sig = false, in_att = false;
    struct wrap_ctx c = {.tv = tv};
    size_t st[64], en[64];
    for (size_t pos = 0; pos < n || (pos == 0 && n == 0);) {
        const char *nl = memchr(s + pos, '\n', n - pos);
        size_t ll = nl ? (size_t)(nl - (s + pos)) : n - pos;
        const char *line = s + pos;
        uint8_t kind = UI_L_BODY;
        if (in_header) {
            if (ll == 0)
                in_header = false;
            else
                kind = UI_L_HEADER;
        }
        if (!in_header && kind == UI_L_BODY && message) {
            if (ll == 13 && !memcmp(line, "[attachments]", 13))
                in_att = true;
            if (ll == 3 && !memcmp(line, "-- ", 3))
                in_sig = true;
            size_t q = quote_depth(line, ll);
            if (in_att)
                kind = UI_L_ATTACH;
            else if (q)
                kind = q % 2 ? UI_L_QUOTED : UI_L_QUOTED1;
            else if (in_sig)
                kind = UI_L_SIGNATURE;
        }
        c.base = pos;
        c.kind = kind;
        c.nurl = find_urls(line, ll, st, en, 64);
        c.url_s = st;
        c.url_e = en;
        ui_wrap_line(line, ll, width, wrap_piece, &c);
        if (c.oom)
            return false;
        if (!nl)
            break;
        pos += ll + 1;
    }
    tv->width = width;
    /* keep the first line shown */
    tv->top = 0;
    for (size_t i = 0; i < tv->nlines; i++)
        if (tv->lines[i].off <= keep)
            tv->top = i;
        else
            break;
    return true;
}

static int kind_attr(uint8_t kind)
{
    switch (kind) {
    case UI_L_HEADER:
        return draw_attr(UI_C_HEADER);
    case UI_L_QUOTED:
        return draw_attr(UI_C_QUOTED);
    case UI_L_QUOTED1:
        return draw_attr(UI_C_QUOTED1);
    case UI_L_SIGNATURE:
        return draw_attr(UI_C_SIGNATURE);
    case UI_L_ATTACH:
        return draw_attr(UI_C_HEADER);
    default:
        return draw_attr(UI_C_NORMAL);
    }
}

static bool wlower_eq(wchar_t a, char b)
{
    if (a >= 'A' && a <= 'Z')
        a += 32;
    if (b >= 'A' && b <= 'Z')
        b = (char)(b + 32);
    return a == (wchar_t)(unsigned char)b;
}

static void draw_line(const struct ui_textview *tv, const struct ui_line *l, int y,
                      const char *search)
{
    wchar_t w[1024];
    int attr[1024];
    int cols;
    size_t k = ui_wtext(tv->text.data + l->off, l->len, COLS, false, w, 1024, &cols);
    int base = kind_attr(l->kind);
    for (size_t i = 0; i < k; i++)
        attr[i] = base;
    /* URLs: from each scheme to the next space; a wrapped URL goes on */
    static const char *const schemes[] = {"https://", "http://", "ftp://", "mailto:", "www."};
    size_t i = 0;
    if (l->url_cont)
        for (; i < k && w[i] != ' '; i++)
            attr[i] = draw_attr(UI_C_URL);
    for (; i < k; i++) {
        for (size_t s = 0; s < sizeof schemes / sizeof schemes[0]; s++) {
            size_t sl = strlen(schemes[s]), j = 0;
            while (j < sl && i + j < k && wlower_eq(w[i + j], schemes[s][j]))
                j++;
            if (j == sl && (i == 0 || w[i - 1] == ' ' || w[i - 1] == '<' || w[i - 1] == '(' ||
                            w[i - 1] == '"')) {
                size_t e = i;
                while (e < k && w[e] > ' ' && w[e] != '>' && w[e] != '"' && w[e] < 0x80)
                    e++;
                while (e > i + sl && wcschr(L".,;:!?')]", w[e - 1]))
                    e--;
                for (size_t x = i; x < e; x++)
                    attr[x] = draw_attr(UI_C_URL);
                i = e;
                break;
            }
        }
    }
    if (search && *search) {
        size_t sl = strlen(search);
        for (size_t a = 0; a + sl <= k; a++) {
            size_t j = 0;
            while (j < sl && wlower_eq(w[a + j], search[j]))
                j++;
            if (j == sl)
                for (size_t x = a; x < a + sl; x++)
                    attr[x] = draw_attr(UI_C_SEARCH);
        }
    }
    draw_fill(y, 0, COLS, A_NORMAL);
    move(y, 0);
    for (size_t a = 0; a < k;) {
        size_t b = a;
        while (b < k && attr[b] == attr[a])
            b++;
        attrset(attr[a]);
        addnwstr(w + a, (int)(b - a));
        a = b;
    }
    attrset(A_NORMAL);
}

void tv_draw(struct ui *u, struct ui_textview *tv, int y0, int rows)
{
    if (tv->width != COLS && !tv_wrap(tv, COLS, tv == &u->pager))
        ui_set_status(u, true, "out of memory");
    for (int r = 0; r < rows; r++) {
        size_t i = tv->top + (size_t)r;
        if (i < tv->nlines) {
            draw_line(tv, &tv->lines[i], y0 + r, u->search);
        } else {
            draw_fill(y0 + r, 0, COLS, A_NORMAL);
            draw_str(y0 + r, 0, 1, "~", draw_attr(UI_C_TREE), false);
        }
    }
}

bool tv_scroll(struct ui_textview *tv, enum ui_action a, int rows)
{
    size_t page = rows > 1 ? (size_t)rows - 1 : 1;
    size_t max = tv->nlines > (size_t)rows ? tv->nlines - (size_t)rows : 0;
    switch (a) {
    case UI_A_NEXT_LINE:
        if (tv->top < max)
            tv->top++;
        return true;
    case UI_A_PREV_LINE:
        if (tv->top)
            tv->top--;
        return true;
    case UI_A_NEXT_PAGE:
        tv->top = tv->top + page > max ? max : tv->top + page;
        return true;
    case UI_A_PREV_PAGE:
        tv->top = tv->top > page ? tv->top - page : 0;
        return true;
    case UI_A_TOP:
    case UI_A_FIRST:
        tv->top = 0;
        return true;
    case UI_A_BOTTOM:
    case UI_A_LAST:
        tv->top = max;
        return true;
    default:
        return false;
    }
}

bool tv_search(struct ui_textview *tv, const char *text, int rows)
{
    (void)rows;
    for (size_t i = tv->top + 1; i < tv->nlines; i++) {
        const struct ui_line *l = &tv->lines[i];
        char *line = tern_strndup(tv->text.data + l->off, l->len);
        bool hit = line && ui_contains(line, text);
        free(line);
        if (hit) {
            tv->top = i;
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------- pager */

enum tern_rc ui_load_message(struct ui *u, int64_t id, struct tern_err *err)
{
    if (u->msg && u->pager_id == id)
        return TERN_OK;
    mime_message_free(&u->msg);
    free(u->raw_lf);
    u->raw_lf = NULL;
    tbuf_free(&u->raw);
    u->pager_id = 0;
    if (!u->ix)
        return tern_fail(err, TERN_ENOTFOUND, "no index");
    struct index_msg im;
    index_msg_init(&im);
    enum tern_rc rc = index_msg_get(u->ix, id, &im, err);
    tbuf_init(&u->raw, UI_MSG_MAX);
    if (!rc)
        rc = ui_read_body(u->acct, im.body_path, &u->raw, err);
    index_msg_clear(&im);
    if (!rc)
        rc = mime_parse_local(u->raw.data ? u->raw.data : "", u->raw.len, &u->raw_lf, &u->msg,
                              err);
    if (rc) {
        tbuf_free(&u->raw);
        return rc;
    }
    u->pager_id = id;
    return TERN_OK;
}

enum tern_rc pager_open(struct ui *u, struct ui_row *r)
{
    struct tern_err err = {0};
    enum tern_rc rc = ui_load_message(u, r->id, &err);
    if (rc == TERN_ENOTFOUND && u->w) {
        /* not on this computer: ask the worker (IMAP bodies on demand) */
        struct ui_job *j = job_new(UI_JOB_BODY);
        if (j && (j->ids = malloc(sizeof *j->ids))) {
            j->ids[0] = r->id;
            j->nids = 1;
            worker_submit(u->w, j);
            ui_set_status(u, false, "fetching the message...");
            return rc;
        }
        job_free(j);
    }
    if (rc) {
        ui_set_status(u, true, "cannot open the message: %s", err.msg);
        return rc;
    }
    struct tbuf out;
    tbuf_init(&out, 0);
    struct mime_text_opts o = {.html_filter = u->cfg->html_filter};
    rc = mime_render_text(u->msg, &o, &out);
    if (!rc)
        rc = tv_set_text(&u->pager, out.data ? out.data : "", out.len, true);
    tbuf_free(&out);
    if (rc) {
        ui_set_status(u, true, "cannot show the message: %s", tern_rc_str(rc));
        return rc;
    }
    struct tbuf title;
    tbuf_init(&title, 0);
    tbuf_printf(&title, "%s \xe2\x80\x94 %s", r->from ? r->from : "",
                r->subject ? r->subject : "(no subject)");
    free(u->pager.title);
    u->pager.title = tbuf_steal(&title);
    u->pager.top = 0;
    u->scr = UI_SCR_PAGER;
    if (!(r->flags & INDEX_FLAG_SEEN))
        ui_set_flags(u, r, r->flags | INDEX_FLAG_SEEN);
    return TERN_OK;
}

void pager_close(struct ui *u)
{
    tv_free(&u->pager);
    mime_message_free(&u->msg);
    free(u->raw_lf);
    u->raw_lf = NULL;
    tbuf_free(&u->raw);
    u->pager_id = 0;
}

static int body_rows(void)
{
    return LINES > 3 ? LINES - 3 : 1;
}

void pager_draw(struct ui *u)
{
    ui_draw_title(u, UI_CTX_PAGER);
    tv_draw(u, &u->pager, 1, body_rows());
    char right[48];
    size_t rows = (size_t)body_rows();
    if (u->pager.nlines <= rows)
        tern_snprintf(right, sizeof right, "(all)");
    else if (u->pager.top + rows >= u->pager.nlines)
        tern_snprintf(right, sizeof right, "(end)");
    else
        tern_snprintf(right, sizeof right, "(%zu%%)",
                      (u->pager.top + rows) * 100 / u->pager.nlines);
    ui_draw_status(u, u->pager.title, right);
}

void pager_key(struct ui *u, enum ui_action a)
{
    int rows = body_rows();
    if (a == UI_A_NEXT_PAGE && u->pager.top + (size_t)rows >= u->pager.nlines)
        a = UI_A_NEXT; /* Space at the end goes on to the next message */
    if (tv_scroll(&u->pager, a, rows))
        return;
    switch (a) {
    case UI_A_NEXT:
    case UI_A_PREV: {
        size_t to = a == UI_A_NEXT ? u->cur + 1 : u->cur - 1;
        if ((a == UI_A_PREV && u->cur == 0) || to >= u->m.nview) {
            ui_set_status(u, false,
                          a == UI_A_NEXT ? "this is the last message"
                                         : "this is the first message");
            return;
        }
        u->cur = to;
        pager_open(u, model_at(&u->m, u->cur));
        return;
    }
    case UI_A_QUIT:
    case UI_A_EXIT:
        u->scr = UI_SCR_INDEX;
        return;
    case UI_A_SEARCH:
    case UI_A_SEARCH_REV:
    case UI_A_SEARCH_NEXT: {
        char *text = NULL;
        if (a != UI_A_SEARCH_NEXT || !u->search) {
            if (!draw_prompt("Search for: ", NULL, NULL, NULL, &text) || !*text) {
                free(text);
                return;
            }
            free(u->search);
            u->search = text;
        }
        if (!tv_search(&u->pager, u->search, rows))
            ui_set_status(u, false, "not found");
        return;
    }
    case UI_A_OPEN:
        tv_scroll(&u->pager, UI_A_NEXT_LINE, rows);
        return;
    default:
        ui_set_status(u, false, "that key does nothing here ('?' lists the keys)");
        return;
    }
}

/* ------------------------------------------------------ text viewer */

void ui_show_text(struct ui *u, const char *title, const char *s, size_t n)
{
    if (u->scr != UI_SCR_TEXT)
        u->text_return = u->scr;
    tv_set_text(&u->aux, s, n, false);
    free(u->aux.title);
    u->aux.title = tern_strdup(title);
    u->aux.top = 0;
    u->scr = UI_SCR_TEXT;
}

void text_draw(struct ui *u)
{
    ui_draw_title(u, UI_CTX_PAGER);
    tv_draw(u, &u->aux, 1, body_rows());
    ui_draw_status(u, u->aux.title, "");
}

void text_key(struct ui *u, enum ui_action a)
{
    if (a == UI_A_NEXT)
        a = UI_A_NEXT_LINE;
    else if (a == UI_A_PREV)
        a = UI_A_PREV_LINE;
    if (tv_scroll(&u->aux, a, body_rows()))
        return;
    if (a == UI_A_QUIT || a == UI_A_EXIT || a == UI_A_HELP) {
        u->scr = u->text_return;
        tv_free(&u->aux);
        return;
    }
    if (a == UI_A_SEARCH || a == UI_A_SEARCH_NEXT) {
        char *text = NULL;
        if (a == UI_A_SEARCH || !u->search) {
            if (!draw_prompt("Search for: ", NULL, NULL, NULL, &text) || !*text) {
                free(text);
                return;
            }
            free(u->search);
            u->search = text;
        }
        if (!tv_search(&u->aux, u->search, body_rows()))
            ui_set_status(u, false, "not found");
    }
}

/* -------------------------------------------------------- attachments */

static void human(uint64_t n, char *buf, size_t size)
{
    if (n < 1024)
        tern_snprintf(buf, size, "%lluB", (unsigned long long)n);
    else if (n < 1024 * 1024)
        tern_snprintf(buf, size, "%.1fK", (double)n / 1024);
    else
        tern_snprintf(buf, size, "%.1fM", (double)n / (1024 * 1024));
}

void attach_draw(struct ui *u)
{
    ui_draw_title(u, UI_CTX_ATTACH);
    struct mime_attachments at = {0};
    if (u->msg)
        mime_attachments_list(u->msg, &at);
    int rows = body_rows();
    if (u->acur >= at.n)
        u->acur = at.n ? at.n - 1 : 0;
    if (u->acur < u->atop)
        u->atop = u->acur;
    if (u->acur >= u->atop + (size_t)rows)
        u->atop = u->acur - (size_t)rows + 1;
    for (int r = 0; r < rows; r++) {
        size_t i = u->atop + (size_t)r;
        int y = 1 + r;
        draw_fill(y, 0, COLS, A_NORMAL);
        if (i >= at.n)
            continue;
        const struct mime_attachment *x = &at.v[i];
        int attr = i == u->acur ? draw_attr(UI_C_INDICATOR) : (int)A_NORMAL;
        char size[16], head[64];
        human(x->size, size, sizeof size);
        tern_snprintf(head, sizeof head, "%3zu %7s  ", i + 1, size);
        draw_fill(y, 0, COLS, attr);
        int c = draw_str(y, 0, COLS, head, attr, false);
        int tw = COLS - c > 60 ? 28 : (COLS - c) / 3;
        draw_str(y, c, tw, x->content_type, attr, true);
        c += tw + 1;
        draw_str(y, c, COLS - c, x->filename ? x->filename : x->safe_name, attr, false);
    }
    char left[64];
    tern_snprintf(left, sizeof left, "attachments: %zu", at.n);
    ui_draw_status(u, left, "");
    if (!at.n)
        draw_message("this message has no attachments", false);
    mime_attachments_free(&at);
}

static char *expand_home(const char *p)
{
    const char *home = getenv("HOME");
    if (p[0] == '~' && (p[1] == '/' || !p[1]) && home) {
        struct tbuf b;
        tbuf_init(&b, 0);
        tbuf_printf(&b, "%s%s", home, p + 1);
        return tbuf_steal(&b);
    }
    return tern_strdup(p);
}

static void save_attachment(struct ui *u, const struct mime_attachment *x)
{
    char *dir = NULL;
    const char *home = getenv("HOME");
    struct tbuf def;
    tbuf_init(&def, 0);
    struct stat st;
    if (home)
        tbuf_printf(&def, "%s/Downloads", home);
    if (!def.data || stat(def.data, &st) != 0 || !S_ISDIR(st.st_mode)) {
        tbuf_reset(&def);
        tbuf_puts(&def, ".");
    }
    bool ok = draw_prompt("Save to directory: ", def.data, NULL, NULL, &dir);
    tbuf_free(&def);
    if (!ok || !*dir) {
        free(dir);
        return;
    }
    char *path = expand_home(dir);
    free(dir);
    int fd = path ? open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd < 0) {
        ui_set_status(u, true, "cannot open directory %s: %s", path ? path : "?", strerror(errno));
        free(path);
        return;
    }
    char *written = NULL;
    struct tern_err err = {0};
    /* the name is reduced to a safe one; an existing file is never
     * replaced ("name (1).ext") */
    enum tern_rc rc = mime_save_part(u->msg, x->part, fd, x->safe_name, &written, &err);
    close(fd);
    if (rc)
        ui_set_status(u, true, "not saved: %s", err.msg);
    else
        ui_set_status(u, false, "saved %s/%s", path, written);
    free(written);
    free(path);
}

static void view_attachment(struct ui *u, const struct mime_attachment *x)
{
    const struct mime_part *p = x->part;
    struct tbuf out;
    tbuf_init(&out, 0);
    enum tern_rc rc;
    struct mime_text_opts o = {.html_filter = u->cfg->html_filter};
    if (!strncmp(p->type, "text/", 5)) {
        rc = mime_part_text(u->msg, p, &o, &out);
    } else if (!strcmp(p->type, "message/rfc822")) {
        struct tbuf raw;
        tbuf_init(&raw, UI_MSG_MAX);
        struct mime_message *inner = NULL;
        struct tern_err err = {0};
        rc = mime_part_decode(u->msg, p, &raw);
        if (!rc)
            rc = mime_parse(raw.data ? raw.data : "", raw.len, &inner, &err);
        if (!rc)
            rc = mime_render_text(inner, &o, &out);
        mime_message_free(&inner);
        tbuf_free(&raw);
    } else {
        ui_set_status(u, false, "%s is not text: 's' saves it, '|' pipes it to a program", p->type);
        tbuf_free(&out);
        return;
    }
    if (rc)
        ui_set_status(u, true, "cannot show the attachment: %s", tern_rc_str(rc));
    else
        ui_show_text(u, x->filename ? x->filename : x->safe_name, out.data ? out.data : "",
                     out.len);
    tbuf_free(&out);
}

void attach_key(struct ui *u, enum ui_action a)
{
    struct mime_attachments at = {0};
    if (u->msg)
        mime_attachments_list(u->msg, &at);
    size_t rows = (size_t)body_rows();
    switch (a) {
    case UI_A_NEXT:
    case UI_A_NEXT_LINE:
        if (u->acur + 1 < at.n)
            u->acur++;
        break;
    case UI_A_PREV:
    case UI_A_PREV_LINE:
        if (u->acur)
            u->acur--;
        break;
    case UI_A_NEXT_PAGE:
        u->acur = u->acur + rows < at.n ? u->acur + rows : (at.n ? at.n - 1 : 0);
        break;
    case UI_A_PREV_PAGE:
        u->acur = u->acur > rows ? u->acur - rows : 0;
        break;
    case UI_A_FIRST:
        u->acur = 0;
        break;
    case UI_A_LAST:
        u->acur = at.n ? at.n - 1 : 0;
        break;
    case UI_A_QUIT:
    case UI_A_EXIT:
        u->scr = u->attach_return;
        break;
    case UI_A_OPEN:
        if (u->acur < at.n)
            view_attachment(u, &at.v[u->acur]);
        break;
    case UI_A_SAVE_ATTACHMENT:
        if (u->acur < at.n)
            save_attachment(u, &at.v[u->acur]);
        break;
    case UI_A_PIPE:
        if (u->acur < at.n) {
            struct tbuf b;
            tbuf_init(&b, UI_MSG_MAX);
            if (!mime_part_decode(u->msg, at.v[u->acur].part, &b))
                ui_pipe(u, b.data ? b.data : "", b.len);
            tbuf_free(&b);
        }
        break;
    default:
        ui_set_status(u, false, "that key does nothing here ('?' lists the keys)");
        break;
    }
    mime_attachments_free(&at);
}
