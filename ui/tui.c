/* ui_run: set-up, the main loop, the index and folder screens, the
 * status bar, the command line and the actions every screen shares. */
#include "core/charset/lib.h"
#include "core/index/lib.h"
#include "core/mime/lib.h"
#include "ui/private.h"

#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* How long quitting waits for a running network operation. */
#define UI_QUIT_WAIT_MS 3000
/* The main loop wakes at least this often (status, timers). */
#define UI_TICK_MS 1000

static volatile sig_atomic_t got_sigint;
static volatile sig_atomic_t got_sigtstp;
static volatile sig_atomic_t got_sigcont;
static volatile sig_atomic_t cancel_flag;

static void on_sigint(int sig)
{
    (void)sig;
    got_sigint = 1;
    cancel_flag = 1; /* the worker's network waits end (core/conn polls it) */
}

/* Ctrl-Z: the main loop (woken by EINTR) gives the terminal back and
 * stops; nothing curses does is safe inside a handler. */
static void on_sigtstp(int sig)
{
    (void)sig;
    got_sigtstp = 1;
}

static void on_sigcont(int sig)
{
    (void)sig;
    got_sigcont = 1;
}

static long long now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec;
}

void ui_set_status(struct ui *u, bool error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(u->status, sizeof u->status, fmt, ap);
    va_end(ap);
    u->status_err = error;
}

struct ui_row *ui_current(struct ui *u)
{
    return model_at(&u->m, u->cur);
}

static int body_top(void)
{
    return 1;
}

static int body_rows(void)
{
    return LINES > 3 ? LINES - 3 : 1;
}

/* ------------------------------------------------------------- folders */

static void folders_free(struct ui *u)
{
    for (size_t i = 0; i < u->nfolders; i++)
        free(u->folders[i].name);
    free(u->folders);
    u->folders = NULL;
    u->nfolders = 0;
}

struct fcollect {
    struct ui *u;
    size_t cap;
    bool oom;
};

static int folder_cb(void *arg, const struct index_folder *f)
{
    struct fcollect *c = arg;
    struct ui *u = c->u;
    if (u->nfolders == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct ui_folder *v = realloc(u->folders, cap * sizeof *v);
        if (!v) {
            c->oom = true;
            return 1;
        }
        u->folders = v;
        c->cap = cap;
    }
    struct ui_folder *x = &u->folders[u->nfolders];
    if (!(x->name = tern_strdup(f->name))) {
        c->oom = true;
        return 1;
    }
    x->id = f->id;
    x->total = f->total;
    x->unread = f->unread;
    x->special = (int)f->special_use;
    u->nfolders++;
    return 0;
}

/* INBOX first, then by name (index_folder_list gives names in order). */
static int folder_order(const void *pa, const void *pb)
{
    const struct ui_folder *a = pa, *b = pb;
    bool ia = !tern_strcasecmp(a->name, "INBOX"), ib = !tern_strcasecmp(b->name, "INBOX");
    if (ia != ib)
        return ia ? -1 : 1;
    return strcmp(a->name, b->name);
}

static void load_folders(struct ui *u)
{
    folders_free(u);
    if (!u->ix)
        return;
    struct fcollect c = {.u = u};
    struct tern_err err = {0};
    if (index_folder_list(u->ix, folder_cb, &c, &err) && !c.oom)
        ui_set_status(u, true, "cannot list folders: %s", err.msg);
    if (c.oom)
        ui_set_status(u, true, "out of memory");
    if (u->nfolders > 1) /* (none: u->folders is NULL, and qsort may not get NULL) */
        qsort(u->folders, u->nfolders, sizeof *u->folders, folder_order);
}

static void open_index_handle(struct ui *u)
{
    if (u->ix)
        return;
    struct tern_err err = {0};
    enum tern_rc rc = index_open_dir(u->acct->data_dir, INDEX_OPEN_NOCREATE, &u->ix, &err);
    if (rc && rc != TERN_ENOTFOUND)
        ui_set_status(u, true, "cannot open the index: %s", err.msg);
}

/* Reload the open folder's rows, keeping the cursor on the same message. */
static void reload(struct ui *u, uint64_t first)
{
    int64_t keep = 0;
    struct ui_row *r = ui_current(u);
    if (r)
        keep = r->id;
    size_t oldcur = u->cur;
    struct tern_err err = {0};
    if (model_load(&u->m, u->ix, u->folder_id, first, &err))
        ui_set_status(u, true, "cannot read the index: %s", err.msg);
    size_t at = keep ? model_find(&u->m, keep) : SIZE_MAX;
    if (at != SIZE_MAX)
        u->cur = at;
    else
        u->cur = oldcur < u->m.nview ? oldcur : (u->m.nview ? u->m.nview - 1 : 0);
}

static bool open_folder(struct ui *u, const char *name, uint64_t first)
{
    const struct ui_folder *f = NULL;
    for (size_t i = 0; i < u->nfolders; i++)
        if (!strcmp(u->folders[i].name, name))
            f = &u->folders[i];
    if (!f)
        for (size_t i = 0; i < u->nfolders; i++)
            if (!tern_strcasecmp(u->folders[i].name, name))
                f = &u->folders[i];
    if (!f)
        return false;
    char *n = tern_strdup(f->name);
    if (!n)
        return false;
    free(u->folder_name);
    u->folder_name = n;
    bool moved = u->folder_id != f->id;
    u->folder_id = f->id;
    if (moved && u->w)
        worker_watch(u->w, f->id); /* IDLE follows the folder shown */
    u->cur = u->top = 0;
    free(u->m.limit);
    u->m.limit = NULL;
    reload(u, first);
    u->cur = 0;
    return true;
}

char *ui_folder_complete(void *arg, const char *sofar, unsigned nth)
{
    struct ui *u = arg;
    size_t n = strlen(sofar);
    unsigned k = 0;
    size_t nmatch = 0;
    for (size_t i = 0; i < u->nfolders; i++)
        if (!tern_strncasecmp(u->folders[i].name, sofar, n))
            nmatch++;
    if (!nmatch)
        return NULL;
    nth %= (unsigned)nmatch;
    for (size_t i = 0; i < u->nfolders; i++)
        if (!tern_strncasecmp(u->folders[i].name, sofar, n) && k++ == nth)
            return tern_strdup(u->folders[i].name);
    return NULL;
}

/* ------------------------------------------------------------- drawing */

void ui_draw_title(struct ui *u, enum ui_ctx ctx)
{
    static const struct {
        enum ui_action a;
        const char *label;
    } hints[] = {
        {UI_A_QUIT, "Quit"},         {UI_A_OPEN, "Open"},    {UI_A_DELETE, "Del"},
        {UI_A_MOVE, "Move"},         {UI_A_COMPOSE, "Mail"}, {UI_A_REPLY, "Reply"},
        {UI_A_GROUP_REPLY, "Group"}, {UI_A_SYNC, "Sync"},    {UI_A_SAVE_ATTACHMENT, "Save"},
        {UI_A_HELP, "Help"},
    };
    struct tbuf b;
    tbuf_init(&b, 0);
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++) {
        int32_t k = keymap_key_for(u->km, ctx, hints[i].a);
        if (k == UI_KEY_NONE)
            continue;
        if (hints[i].a == UI_A_OPEN && ctx == UI_CTX_PAGER)
            continue;
        char name[32];
        ui_key_name(k, name, sizeof name);
        tbuf_printf(&b, "%s:%s  ", name, hints[i].label);
    }
    int attr = draw_attr(UI_C_TITLE);
    draw_fill(0, 0, COLS, attr);
    draw_str(0, 0, COLS, b.data ? b.data : "", attr, true);
    tbuf_free(&b);
}

void ui_draw_status(struct ui *u, const char *left, const char *right)
{
    int y = LINES - 2;
    int attr = draw_attr(UI_C_STATUS);
    draw_fill(y, 0, COLS, attr);
    struct tbuf b;
    tbuf_init(&b, 0);
    size_t queued = 0;
    const char *busy = u->w ? worker_busy(u->w, &queued) : NULL;
    tbuf_printf(&b, "-- tern: %s [%s] ", u->acct->name, u->folder_name ? u->folder_name : "-");
    if (left && *left)
        tbuf_printf(&b, "-- %s ", left);
    if (busy)
        tbuf_printf(&b, "-- %s...%s ", busy, queued ? " (more queued)" : "");
    else if (u->w && worker_watching(u->w))
        tbuf_printf(&b, "-- watching (IDLE) ");
    int rw = right && *right ? (int)utf8_width(right, strlen(right)) + 1 : 0;
    draw_text(y, 0, COLS - rw, b.data ? b.data : "", b.len, attr, true, true);
    if (rw && rw <= COLS)
        draw_str(y, COLS - rw, rw, right, attr, false);
    tbuf_free(&b);
}

static void format_date(int64_t d, char *buf, size_t size)
{
    if (d == INDEX_NO_DATE) {
        tern_snprintf(buf, size, "-");
        return;
    }
    time_t t = (time_t)d, now = time(NULL);
    struct tm tm, tn;
    if (!localtime_r(&t, &tm) || !localtime_r(&now, &tn)) {
        tern_snprintf(buf, size, "?");
        return;
    }
    size_t n;
    if (tm.tm_year == tn.tm_year && tm.tm_yday == tn.tm_yday)
        n = strftime(buf, size, "%H:%M", &tm);
    else if (tm.tm_year == tn.tm_year || (d <= now && now - d < 180 * 86400))
        n = strftime(buf, size, "%b %d", &tm);
    else
        n = strftime(buf, size, "%Y-%m-%d", &tm);
    if (!n)
        tern_snprintf(buf, size, "?");
}

/* Thread tree before the subject: one cell pair per level. */
static void tree_prefix(const struct ui_model *m, const struct ui_row *r, struct tbuf *out)
{
    bool ascii = ui_text_ascii();
    unsigned d = r->depth;
    if (!d)
        return;
    if (d > 32)
        d = 32;
    /* ancestors' "has a next sibling" from the top down */
    bool more[33] = {0};
    const struct ui_row *x = r;
    for (unsigned lv = r->depth; lv > 0 && x->parent != UI_NONE; lv--) {
        if (lv <= 32)
            more[lv] = !x->last_sibling;
        x = &m->rows[x->parent];
    }
    for (unsigned lv = 1; lv < d; lv++)
        tbuf_puts(out, more[lv] ? (ascii ? "| " : "\xe2\x94\x82 ") : "  ");
    tbuf_puts(out, ascii ? (more[d] ? "|->" : "`->")
                         : (more[d] ? "\xe2\x94\x9c\xe2\x94\x80>" : "\xe2\x94\x94\xe2\x94\x80>"));
}

static int sidebar_width(struct ui *u)
{
    if (!u->sidebar || COLS < 60 || u->nfolders == 0)
        return 0;
    int w = COLS / 4;
    return w > 30 ? 30 : w;
}

static void draw_sidebar(struct ui *u, int w)
{
    int rows = body_rows();
    for (int r = 0; r < rows; r++) {
        int y = body_top() + r;
        size_t i = (size_t)r;
        int attr = draw_attr(UI_C_SIDEBAR);
        draw_fill(y, 0, w - 1, attr);
        if (i < u->nfolders) {
            const struct ui_folder *f = &u->folders[i];
            if (f->id == u->folder_id)
                attr = draw_attr(UI_C_INDICATOR);
            else if (f->unread)
                attr |= A_BOLD;
            char count[24] = "";
            if (f->unread)
                tern_snprintf(count, sizeof count, " %llu", (unsigned long long)f->unread);
            int cw = (int)strlen(count);
            draw_fill(y, 0, w - 1, attr);
            draw_str(y, 0, w - 1 - cw, f->name, attr, true);
            if (cw && cw < w - 1)
                draw_str(y, w - 1 - cw, cw, count, attr, false);
        }
        draw_str(y, w - 1, 1, ui_text_ascii() ? "|" : "\xe2\x94\x82", draw_attr(UI_C_TREE), false);
    }
}

static void draw_index_row(struct ui *u, int y, int x0, int w, size_t i, int numw)
{
    struct ui_row *r = model_at(&u->m, i);
    int attr = draw_attr(UI_C_NORMAL);
    if (r->flags & INDEX_FLAG_DELETED)
        attr = draw_attr(UI_C_DELETED);
    else if (r->flags & INDEX_FLAG_FLAGGED)
        attr = draw_attr(UI_C_FLAGGED);
    else if (!(r->flags & INDEX_FLAG_SEEN))
        attr = draw_attr(UI_C_NEW);
    bool sel = i == u->cur;
    if (sel)
        attr = draw_attr(UI_C_INDICATOR);
    draw_fill(y, x0, w, attr);
    char head[64], date[32];
    format_date(r->date, date, sizeof date);
    char f1 = r->flags & INDEX_FLAG_DELETED ? 'D' : !(r->flags & INDEX_FLAG_SEEN) ? 'N' : ' ';
    char f2 = r->flags & INDEX_FLAG_FLAGGED ? 'F' : ' ';
    char f3 = r->flags & INDEX_FLAG_ANSWERED ? 'A' : r->flags & INDEX_FLAG_FORWARDED ? 'P' : ' ';
    char f4 = r->att ? '@' : ' ';
    tern_snprintf(head, sizeof head, "%*zu %c%c%c%c %-10s ", numw, i + 1, f1, f2, f3, f4, date);
    int x = x0 + draw_str(y, x0, w, head, attr, false);
    int left = x0 + w - x;
    int fromw = left >= 60 ? 20 : left >= 40 ? 16 : left / 3;
    const char *from = r->from && *r->from ? r->from : "(unknown)";
    draw_str(y, x, fromw, from, attr, true);
    x += fromw + 1;
    left = x0 + w - x;
    if (left <= 0)
        return;
    struct tbuf s;
    tbuf_init(&s, 0);
    if (u->m.threads) {
        tree_prefix(&u->m, r, &s);
        int tw = draw_text(y, x, left / 2, s.data ? s.data : "", s.len,
                           sel ? attr : draw_attr(UI_C_TREE), false, false);
        x += tw;
        left -= tw;
        tbuf_reset(&s);
        if (r->collapsed && r->ndesc)
            tbuf_printf(&s, "(+%u) ", r->ndesc);
    }
    tbuf_puts(&s, r->subject && *r->subject ? r->subject : "(no subject)");
    draw_text(y, x, left, s.data, s.len, attr, false, true);
    tbuf_free(&s);
}

static void draw_index(struct ui *u)
{
    ui_draw_title(u, UI_CTX_INDEX);
    int rows = body_rows();
    int sw = sidebar_width(u);
    if (sw)
        draw_sidebar(u, sw);
    if (u->cur >= u->m.nview)
        u->cur = u->m.nview ? u->m.nview - 1 : 0;
    if (u->cur < u->top)
        u->top = u->cur;
    if (u->cur >= u->top + (size_t)rows)
        u->top = u->cur - (size_t)rows + 1;
    /* keep the page full when the list shrank */
    if (u->top && u->top + (size_t)rows > u->m.nview)
        u->top = u->m.nview > (size_t)rows ? u->m.nview - (size_t)rows : 0;
    int numw = 1;
    for (size_t n = u->m.nview; n >= 10; n /= 10)
        numw++;
    if (numw < 3)
        numw = 3;
    for (int r = 0; r < rows; r++) {
        size_t i = u->top + (size_t)r;
        if (i < u->m.nview)
            draw_index_row(u, body_top() + r, sw, COLS - sw, i, numw);
        else
            draw_fill(body_top() + r, sw, COLS - sw, A_NORMAL);
    }
    if (!u->m.nview && rows > 1) {
        const char *what = !u->ix       ? "No mail has been fetched yet: press $ to sync."
                           : u->m.limit ? "No message matches the limit ('l' then Enter shows all)."
                                        : "This folder is empty.";
        draw_str(body_top() + 1, sw + 2, COLS - sw - 2, what, A_NORMAL, false);
    }
    char left[160], right[64];
    const char *sorts[] = {"date", "from", "subject"};
    uint64_t total = u->m.total, unread = u->m.unread, nview = u->m.nview;
    if (!u->m.complete) {
        /* the first page only: the folder's counts come from the index */
        for (size_t i = 0; i < u->nfolders; i++)
            if (u->folders[i].id == u->folder_id) {
                total = nview = u->folders[i].total;
                unread = u->folders[i].unread;
            }
    }
    size_t l = 0;
    tern_snprintf(left, sizeof left, "msgs:%llu new:%llu flagged:%llu", (unsigned long long)total,
                  (unsigned long long)unread, (unsigned long long)u->m.flagged);
    l = strlen(left);
    if (u->m.deleted)
        tern_snprintf(left + l, sizeof left - l, " del:%llu", (unsigned long long)u->m.deleted);
    l = strlen(left);
    if (u->m.limit)
        tern_snprintf(left + l, sizeof left - l, " (limited)");
    tern_snprintf(right, sizeof right, "(%s%s%s) %llu/%llu", u->m.reverse ? "reverse-" : "",
                  sorts[u->m.sort], u->m.threads ? "/threads" : "",
                  (unsigned long long)(nview ? u->cur + 1 : 0), (unsigned long long)nview);
    ui_draw_status(u, left, right);
}

static void draw_folders(struct ui *u)
{
    ui_draw_title(u, UI_CTX_FOLDERS);
    int rows = body_rows();
    if (u->fcur >= u->nfolders)
        u->fcur = u->nfolders ? u->nfolders - 1 : 0;
    if (u->fcur < u->ftop)
        u->ftop = u->fcur;
    if (u->fcur >= u->ftop + (size_t)rows)
        u->ftop = u->fcur - (size_t)rows + 1;
    for (int r = 0; r < rows; r++) {
        size_t i = u->ftop + (size_t)r;
        int y = body_top() + r;
        draw_fill(y, 0, COLS, A_NORMAL);
        if (i >= u->nfolders)
            continue;
        const struct ui_folder *f = &u->folders[i];
        int attr = (int)A_NORMAL;
        if (i == u->fcur)
            attr = draw_attr(UI_C_INDICATOR);
        else if (f->unread)
            attr = draw_attr(UI_C_NEW);
        char counts[64];
        tern_snprintf(counts, sizeof counts, "%c %8llu %8llu  ", f->id == u->folder_id ? '*' : ' ',
                      (unsigned long long)f->unread, (unsigned long long)f->total);
        draw_fill(y, 0, COLS, attr);
        int x = draw_str(y, 0, COLS, counts, attr, false);
        draw_str(y, x, COLS - x, f->name, attr, false);
    }
    char left[64];
    tern_snprintf(left, sizeof left, "folders: %zu (unread, total)", u->nfolders);
    ui_draw_status(u, left, "");
}

static void draw(struct ui *u)
{
    if (u->redraw_all) {
        clearok(curscr, TRUE);
        u->redraw_all = false;
    }
    erase();
    switch (u->scr) {
    case UI_SCR_INDEX:
        draw_index(u);
        break;
    case UI_SCR_PAGER:
        pager_draw(u);
        break;
    case UI_SCR_FOLDERS:
        draw_folders(u);
        break;
    case UI_SCR_ATTACH:
        attach_draw(u);
        break;
    case UI_SCR_TEXT:
        text_draw(u);
        break;
    }
    if (u->status[0])
        draw_message(u->status, u->status_err);
    refresh();
}

/* ------------------------------------------------------------- actions */

void ui_set_flags(struct ui *u, struct ui_row *r, unsigned flags)
{
    if (!r || r->flags == flags)
        return;
    struct ui_job *j = job_new(UI_JOB_FLAGS);
    if (!j || !(j->ids = malloc(sizeof *j->ids)) || !(j->flags = malloc(sizeof *j->flags))) {
        job_free(j);
        ui_set_status(u, true, "out of memory");
        return;
    }
    j->ids[0] = r->id;
    j->flags[0] = flags;
    j->nids = 1;
    /* shown at once; the worker writes it (and reports if that fails) */
    r->flags = flags;
    model_count(&u->m);
    for (size_t i = 0; i < u->nfolders; i++)
        if (u->folders[i].id == u->folder_id)
            u->folders[i].unread = u->m.unread;
    worker_submit(u->w, j);
}

static void submit_sync(struct ui *u, bool quiet)
{
    if (worker_has(u->w, UI_JOB_SYNC)) {
        if (!quiet)
            ui_set_status(u, false, "a sync is already running");
        return;
    }
    struct ui_job *j = job_new(UI_JOB_SYNC);
    if (!j)
        return;
    worker_submit(u->w, j);
    u->last_check = now_s();
}

/* Purge messages marked deleted (on sync, folder change, quit). */
static void purge(struct ui *u)
{
    size_t n = 0;
    for (size_t i = 0; i < u->m.n; i++)
        if (!u->m.rows[i].gone && (u->m.rows[i].flags & INDEX_FLAG_DELETED))
            n++;
    if (!n)
        return;
    struct ui_job *j = job_new(UI_JOB_PURGE);
    if (!j || !(j->ids = malloc(n * sizeof *j->ids))) {
        job_free(j);
        return;
    }
    for (size_t i = 0; i < u->m.n; i++) {
        struct ui_row *r = &u->m.rows[i];
        if (!r->gone && (r->flags & INDEX_FLAG_DELETED)) {
            j->ids[j->nids++] = r->id;
            r->gone = true;
        }
    }
    int64_t keep = ui_current(u) ? ui_current(u)->id : 0;
    model_build(&u->m);
    size_t at = keep ? model_find(&u->m, keep) : SIZE_MAX;
    if (at != SIZE_MAX)
        u->cur = at;
    worker_submit(u->w, j);
}

static void move_current(struct ui *u)
{
    struct ui_row *r = ui_current(u);
    if (!r)
        return;
    char *dest = NULL;
    if (!draw_prompt("Move to folder: ", NULL, ui_folder_complete, u, &dest) || !*dest) {
        free(dest);
        return;
    }
    bool exists = false;
    for (size_t i = 0; i < u->nfolders; i++)
        if (!strcmp(u->folders[i].name, dest))
            exists = true;
    if (exists && u->folder_name && !strcmp(dest, u->folder_name)) {
        ui_set_status(u, false, "the message is already in %s", dest);
        free(dest);
        return;
    }
    if (!exists && u->acct->incoming == INCOMING_POP3 &&
        (strchr(dest, '/') || dest[0] == '.' || tern_has_crlf(dest, SIZE_MAX))) {
        ui_set_status(u, true, "a folder name has no '/' and does not start with '.'");
        free(dest);
        return;
    }
    if (!exists) {
        char q[300];
        tern_snprintf(q, sizeof q, "Create folder %.200s? (y/n)", dest);
        if (draw_ask(q, "yn") != 'y') {
            free(dest);
            return;
        }
    }
    struct ui_job *j = job_new(UI_JOB_MOVE);
    if (!j || !(j->ids = malloc(sizeof *j->ids))) {
        job_free(j);
        free(dest);
        return;
    }
    j->ids[0] = r->id;
    j->nids = 1;
    j->arg = dest;
    r->gone = true;
    size_t cur = u->cur;
    model_build(&u->m);
    u->cur = cur < u->m.nview ? cur : (u->m.nview ? u->m.nview - 1 : 0);
    worker_submit(u->w, j);
    if (u->scr == UI_SCR_PAGER) {
        if (u->m.nview)
            pager_open(u, ui_current(u));
        else
            u->scr = UI_SCR_INDEX;
    }
}

static void show_help(struct ui *u, enum ui_ctx ctx)
{
    struct tbuf b;
    tbuf_init(&b, 0);
    if (!keymap_help(u->km, ctx, &b))
        ui_show_text(u, "help", b.data ? b.data : "", b.len);
    tbuf_free(&b);
}

/* Write data to a private temporary file; its fd, positioned at 0. */
static int temp_input(const char *data, size_t n)
{
    const char *dir = getenv("TMPDIR");
    struct tbuf p;
    tbuf_init(&p, 0);
    tbuf_printf(&p, "%s/tern-pipe-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = p.data ? mkostemp(p.data, O_CLOEXEC) : -1;
    if (fd >= 0) {
        unlink(p.data);
        if (!tern_write_all(fd, data, n) || lseek(fd, 0, SEEK_SET) < 0) {
            close(fd);
            fd = -1;
        }
    }
    tbuf_free(&p);
    return fd;
}

int ui_run_external(struct ui *u, const char *const *argv, const char *stdin_data, size_t n,
                    bool wait_key)
{
    (void)u;
    int in = -1;
    if (stdin_data && (in = temp_input(stdin_data, n)) < 0)
        return -1;
    def_prog_mode();
    endwin();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (in >= 0) {
            dup2(in, STDIN_FILENO);
            close(in);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (in >= 0)
        close(in);
    int status = -1;
    if (pid > 0)
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    got_sigint = 0;
    got_sigtstp = 0; /* Ctrl-Z in the program was the program's */
    cancel_flag = 0;
    if (wait_key) {
        fputs("\nPress any key to continue...", stdout);
        fflush(stdout);
        struct termios old, raw;
        if (tcgetattr(STDIN_FILENO, &old) == 0) {
            raw = old;
            raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
            raw.c_cc[VMIN] = 1;
            raw.c_cc[VTIME] = 0;
            tcsetattr(STDIN_FILENO, TCSANOW, &raw);
            char c;
            while (read(STDIN_FILENO, &c, 1) < 0 && errno == EINTR)
                ;
            tcsetattr(STDIN_FILENO, TCSANOW, &old);
        }
    }
    reset_prog_mode();
    clearok(curscr, TRUE);
    refresh();
    return pid < 0 ? -1 : status;
}

void ui_pipe(struct ui *u, const char *data, size_t n)
{
    char *cmd = NULL;
    if (!draw_prompt("Pipe to command: ", NULL, NULL, NULL, &cmd) || !*cmd) {
        free(cmd);
        return;
    }
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    int st = ui_run_external(u, argv, data, n, true);
    if (st < 0)
        ui_set_status(u, true, "cannot run the command");
    else if (WIFEXITED(st) && WEXITSTATUS(st))
        ui_set_status(u, true, "the command exited with status %d", WEXITSTATUS(st));
    free(cmd);
}

/* The current row with its message loaded into u->msg and u->raw, or NULL
 * (no row, or the reason it could not be loaded is in the status line). */
static struct ui_row *current_loaded(struct ui *u)
{
    struct ui_row *r = ui_current(u);
    if (!r)
        return NULL;
    struct tern_err err = {0};
    if (ui_load_message(u, r->id, &err)) {
        ui_set_status(u, true, "%s", err.msg);
        return NULL;
    }
    return r;
}

static void pipe_message(struct ui *u)
{
    if (current_loaded(u))
        ui_pipe(u, u->raw.data ? u->raw.data : "", u->raw.len);
}

static void open_attachments(struct ui *u)
{
    struct ui_row *r = current_loaded(u);
    if (!r)
        return;
    u->acur = u->atop = 0;
    u->attach_return = u->scr == UI_SCR_PAGER && u->pager_id == r->id ? UI_SCR_PAGER : UI_SCR_INDEX;
    u->scr = UI_SCR_ATTACH;
}

static void change_folder(struct ui *u)
{
    if (!u->nfolders) {
        ui_set_status(u, false, "no folders yet: press $ to sync");
        return;
    }
    char *name = NULL;
    if (!draw_prompt("Open folder ('?' for the list): ", NULL, ui_folder_complete, u, &name)) {
        free(name);
        return;
    }
    if (!*name || !strcmp(name, "?")) {
        load_folders(u);
        u->scr = UI_SCR_FOLDERS;
        free(name);
        return;
    }
    purge(u);
    if (!open_folder(u, name, 0))
        ui_set_status(u, true, "no folder '%s'", name);
    else
        u->scr = UI_SCR_INDEX;
    free(name);
}

static void do_sort(struct ui *u)
{
    int c = draw_ask("Sort by (d)ate, (f)rom, (s)ubject, or (t)hreads on/off?", "dfst");
    int64_t keep = ui_current(u) ? ui_current(u)->id : 0;
    switch (c) {
    case 'd':
        u->m.sort = UI_SORT_DATE;
        break;
    case 'f':
        u->m.sort = UI_SORT_FROM;
        break;
    case 's':
        u->m.sort = UI_SORT_SUBJECT;
        break;
    case 't':
        u->m.threads = !u->m.threads;
        break;
    default:
        return;
    }
    model_build(&u->m);
    size_t at = keep ? model_find(&u->m, keep) : SIZE_MAX;
    u->cur = at == SIZE_MAX ? 0 : at;
}

static void rebuild_keep(struct ui *u)
{
    int64_t keep = ui_current(u) ? ui_current(u)->id : 0;
    model_build(&u->m);
    size_t at = keep ? model_find(&u->m, keep) : SIZE_MAX;
    u->cur = at == SIZE_MAX ? 0 : at;
}

static void search_index(struct ui *u, enum ui_action a)
{
    if (a != UI_A_SEARCH_NEXT || !u->search) {
        char *text = NULL;
        if (!draw_prompt(a == UI_A_SEARCH_REV ? "Reverse search for: " : "Search for: ", NULL, NULL,
                         NULL, &text) ||
            !*text) {
            free(text);
            return;
        }
        free(u->search);
        u->search = text;
        u->search_dir = a == UI_A_SEARCH_REV ? -1 : 1;
    }
    if (!u->m.nview)
        return;
    size_t from =
        u->search_dir > 0 ? (u->cur + 1) % u->m.nview : (u->cur + u->m.nview - 1) % u->m.nview;
    size_t at = model_search(&u->m, from, u->search_dir, u->search);
    if (at == SIZE_MAX)
        ui_set_status(u, false, "not found");
    else {
        if ((u->search_dir > 0 && at <= u->cur) || (u->search_dir < 0 && at >= u->cur))
            ui_set_status(u, false, "search wrapped");
        u->cur = at;
    }
}

static void limit(struct ui *u)
{
    char *text = NULL;
    if (!draw_prompt("Limit to messages containing: ", u->m.limit, NULL, NULL, &text)) {
        free(text);
        return;
    }
    free(u->m.limit);
    u->m.limit = *text ? text : NULL;
    if (!*text)
        free(text);
    rebuild_keep(u);
}

static void handle_action(struct ui *u, enum ui_action a);

/* `:` commands */
static void command(struct ui *u)
{
    char *line = NULL;
    if (!draw_prompt(":", NULL, NULL, NULL, &line) || !*line) {
        free(line);
        return;
    }
    char why[200];
    const char *arg = line;
    while (*arg && *arg != ' ')
        arg++;
    size_t clen = (size_t)(arg - line);
    while (*arg == ' ')
        arg++;
#define IS(word) (clen == strlen(word) && !strncmp(line, word, clen))
    if (IS("bind")) {
        if (!keymap_bind_line(u->km, arg, why, sizeof why))
            ui_set_status(u, true, "bind: %s", why);
        else
            ui_set_status(u, false, "bound");
    } else if (IS("color") || IS("colour")) {
        if (!draw_color_line(arg, why, sizeof why))
            ui_set_status(u, true, "color: %s", why);
    } else if (IS("folder") || IS("open") || IS("cd")) {
        purge(u);
        if (!open_folder(u, arg, 0))
            ui_set_status(u, true, "no folder '%s'", arg);
        else
            u->scr = UI_SCR_INDEX;
    } else if (IS("sort")) {
        if (!strcmp(arg, "date"))
            u->m.sort = UI_SORT_DATE;
        else if (!strcmp(arg, "from"))
            u->m.sort = UI_SORT_FROM;
        else if (!strcmp(arg, "subject"))
            u->m.sort = UI_SORT_SUBJECT;
        else
            ui_set_status(u, true, "sort: date, from or subject");
        rebuild_keep(u);
    } else if (IS("threads")) {
        u->m.threads = true;
        rebuild_keep(u);
    } else if (IS("flat")) {
        u->m.threads = false;
        rebuild_keep(u);
    } else if (IS("limit")) {
        free(u->m.limit);
        u->m.limit = *arg ? tern_strdup(arg) : NULL;
        rebuild_keep(u);
    } else if (IS("sync")) {
        submit_sync(u, false);
    } else if (IS("quit") || IS("q")) {
        u->quit = true;
    } else if (IS("help")) {
        show_help(u, UI_CTX_INDEX);
    } else {
        /* any action by name */
        char name[64];
        enum ui_action a =
            clen < sizeof name && tern_snprintf(name, sizeof name, "%.*s", (int)clen, line)
                ? action_by_name(name)
                : UI_A_NONE;
        if (a == UI_A_NONE)
            ui_set_status(u, true,
                          "unknown command '%s' (bind, color, folder, sort, threads, "
                          "flat, limit, sync, quit, or an action name)",
                          line);
        else
            handle_action(u, a);
    }
#undef IS
    free(line);
}

static void apply_config(struct ui *u)
{
    char why[200];
    for (size_t i = 0; i < u->cfg->nbinds; i++)
        if (!keymap_bind_line(u->km, u->cfg->binds[i], why, sizeof why))
            ui_set_status(u, true, "config: bind = %s: %s", u->cfg->binds[i], why);
    for (size_t i = 0; i < u->cfg->ncolors; i++)
        if (!draw_color_line(u->cfg->colors[i], why, sizeof why))
            ui_set_status(u, true, "config: color = %s: %s", u->cfg->colors[i], why);
}

/* Actions on the current message, shared by the index and the pager. */
static bool message_action(struct ui *u, enum ui_action a)
{
    struct ui_row *r = ui_current(u);
    switch (a) {
    case UI_A_TOGGLE_NEW:
        if (r)
            ui_set_flags(u, r, r->flags ^ INDEX_FLAG_SEEN);
        if (r && u->scr == UI_SCR_PAGER)
            u->scr = UI_SCR_INDEX; /* as in mutt: marking unread leaves the pager */
        return true;
    case UI_A_FLAG:
        if (r)
            ui_set_flags(u, r, r->flags ^ INDEX_FLAG_FLAGGED);
        return true;
    case UI_A_DELETE:
    case UI_A_UNDELETE:
        if (r) {
            unsigned f = a == UI_A_DELETE ? r->flags | INDEX_FLAG_DELETED
                                          : r->flags & ~(unsigned)INDEX_FLAG_DELETED;
            if (u->acct->incoming == INCOMING_POP3) {
                /* POP3: the mark lives in the UI until the purge (the
                 * local copy is the only one: no flag to keep) */
                r->flags = f;
                model_count(&u->m);
            } else {
                ui_set_flags(u, r, f);
            }
            if (u->cur + 1 < u->m.nview) {
                u->cur++;
                if (u->scr == UI_SCR_PAGER)
                    pager_open(u, ui_current(u));
            }
        }
        return true;
    case UI_A_MOVE:
        move_current(u);
        return true;
    case UI_A_REPLY:
    case UI_A_GROUP_REPLY:
    case UI_A_FORWARD:
        if (r)
            ui_compose(u,
                       a == UI_A_REPLY         ? UI_REPLY
                       : a == UI_A_GROUP_REPLY ? UI_GROUP_REPLY
                                               : UI_FORWARD,
                       r);
        return true;
    case UI_A_ATTACHMENTS:
        open_attachments(u);
        return true;
    case UI_A_PIPE:
        pipe_message(u);
        return true;
    default:
        return false;
    }
}

static void index_key(struct ui *u, enum ui_action a)
{
    size_t rows = (size_t)body_rows();
    size_t n = u->m.nview;
    switch (a) {
    case UI_A_NEXT:
    case UI_A_NEXT_LINE:
        if (u->cur + 1 < n)
            u->cur++;
        else
            ui_set_status(u, false, "you are on the last message");
        break;
    case UI_A_PREV:
    case UI_A_PREV_LINE:
        if (u->cur)
            u->cur--;
        else
            ui_set_status(u, false, "you are on the first message");
        break;
    case UI_A_NEXT_PAGE:
        if (u->top + rows < n) {
            u->top += rows;
            u->cur = u->top;
        } else if (n) {
            u->cur = n - 1;
        }
        break;
    case UI_A_PREV_PAGE:
        u->top = u->top > rows ? u->top - rows : 0;
        u->cur = u->cur > rows ? u->cur - rows : 0;
        break;
    case UI_A_FIRST:
    case UI_A_TOP:
        u->cur = 0;
        break;
    case UI_A_LAST:
    case UI_A_BOTTOM:
        u->cur = n ? n - 1 : 0;
        break;
    case UI_A_OPEN:
        if (ui_current(u))
            pager_open(u, ui_current(u));
        break;
    case UI_A_QUIT: {
        size_t del = (size_t)u->m.deleted;
        if (del) {
            char q[80];
            tern_snprintf(q, sizeof q, "Purge %zu deleted message%s? ([y]/n)", del,
                          del == 1 ? "" : "s");
            int c = draw_ask(q, "yn");
            if (!c)
                break;
            if (c == 'y')
                purge(u);
        }
        u->quit = true;
        break;
    }
    case UI_A_EXIT:
        u->quit = true; /* leave without purging */
        break;
    case UI_A_SEARCH:
    case UI_A_SEARCH_REV:
    case UI_A_SEARCH_NEXT:
        search_index(u, a);
        break;
    case UI_A_LIMIT:
        limit(u);
        break;
    case UI_A_SORT:
        do_sort(u);
        break;
    case UI_A_SORT_REVERSE:
        u->m.reverse = !u->m.reverse;
        rebuild_keep(u);
        break;
    case UI_A_TOGGLE_THREADS:
        u->m.threads = !u->m.threads;
        rebuild_keep(u);
        break;
    case UI_A_COLLAPSE:
        if (!u->m.threads)
            ui_set_status(u, false, "threads are off ('T' turns them on)");
        else
            u->cur = model_toggle_collapse(&u->m, u->cur);
        break;
    case UI_A_COLLAPSE_ALL: {
        bool any = false;
        for (size_t i = 0; i < u->m.n; i++)
            if (u->m.rows[i].parent == UI_NONE && u->m.rows[i].collapsed)
                any = true;
        int64_t keep = ui_current(u) ? ui_current(u)->id : 0;
        if (keep && u->m.threads) {
            struct ui_row *x = ui_current(u);
            while (x->parent != UI_NONE)
                x = &u->m.rows[x->parent];
            keep = x->id;
        }
        model_collapse_all(&u->m, !any);
        size_t at = keep ? model_find(&u->m, keep) : SIZE_MAX;
        u->cur = at == SIZE_MAX ? 0 : at;
        break;
    }
    case UI_A_SIDEBAR:
        u->sidebar = !u->sidebar;
        break;
    case UI_A_FOLDER_LIST:
        load_folders(u); /* fresh counts */
        u->scr = UI_SCR_FOLDERS;
        break;
    default:
        ui_set_status(u, false, "that key does nothing here ('?' lists the keys)");
        break;
    }
}

static void folders_key(struct ui *u, enum ui_action a)
{
    size_t rows = (size_t)body_rows();
    size_t n = u->nfolders;
    switch (a) {
    case UI_A_NEXT:
    case UI_A_NEXT_LINE:
        if (u->fcur + 1 < n)
            u->fcur++;
        break;
    case UI_A_PREV:
    case UI_A_PREV_LINE:
        if (u->fcur)
            u->fcur--;
        break;
    case UI_A_NEXT_PAGE:
        u->fcur = u->fcur + rows < n ? u->fcur + rows : (n ? n - 1 : 0);
        break;
    case UI_A_PREV_PAGE:
        u->fcur = u->fcur > rows ? u->fcur - rows : 0;
        break;
    case UI_A_FIRST:
        u->fcur = 0;
        break;
    case UI_A_LAST:
        u->fcur = n ? n - 1 : 0;
        break;
    case UI_A_OPEN:
        if (u->fcur < n) {
            char *name = tern_strdup(u->folders[u->fcur].name);
            purge(u);
            if (name && open_folder(u, name, 0))
                u->scr = UI_SCR_INDEX;
            free(name);
        }
        break;
    case UI_A_QUIT:
    case UI_A_EXIT:
        u->scr = UI_SCR_INDEX;
        break;
    default:
        ui_set_status(u, false, "that key does nothing here ('?' lists the keys)");
        break;
    }
}

static enum ui_ctx screen_ctx(enum ui_screen s)
{
    switch (s) {
    case UI_SCR_INDEX:
        return UI_CTX_INDEX;
    case UI_SCR_PAGER:
        return UI_CTX_PAGER;
    case UI_SCR_FOLDERS:
        return UI_CTX_FOLDERS;
    case UI_SCR_ATTACH:
        return UI_CTX_ATTACH;
    case UI_SCR_TEXT:
        return UI_CTX_PAGER;
    }
    return UI_CTX_GENERIC;
}

static void handle_key(struct ui *u, int32_t key)
{
    if (key == UI_KEY_FN + KEY_RESIZE) {
        /* curses has the new size; every screen is laid out per draw */
        u->redraw_all = true;
        return;
    }
    u->status[0] = '\0';
    enum ui_action a = keymap_lookup(u->km, screen_ctx(u->scr), key);
    if (a == UI_A_NONE) {
        char name[32];
        ui_key_name(key, name, sizeof name);
        ui_set_status(u, false, "key %s is not bound ('?' lists the keys)", name);
        return;
    }
    handle_action(u, a);
}

static void handle_action(struct ui *u, enum ui_action a)
{
    enum ui_ctx ctx = screen_ctx(u->scr);
    /* everywhere */
    switch (a) {
    case UI_A_NOOP:
        return;
    case UI_A_HELP:
        if (u->scr != UI_SCR_TEXT) {
            show_help(u, ctx);
            return;
        }
        break;
    case UI_A_REDRAW:
        u->redraw_all = true;
        return;
    case UI_A_COMMAND:
        command(u);
        return;
    case UI_A_SYNC:
        if (u->scr == UI_SCR_INDEX)
            purge(u);
        submit_sync(u, false);
        return;
    case UI_A_CHANGE_FOLDER:
        change_folder(u);
        return;
    case UI_A_COMPOSE:
        ui_compose(u, UI_NEW, NULL);
        return;
    case UI_A_CANCEL:
        if (u->w && worker_busy(u->w, NULL)) {
            cancel_flag = 1;
            ui_set_status(u, false, "cancel requested");
        }
        return;
    default:
        break;
    }
    if ((u->scr == UI_SCR_INDEX || u->scr == UI_SCR_PAGER) && message_action(u, a))
        return;
    switch (u->scr) {
    case UI_SCR_INDEX:
        index_key(u, a);
        break;
    case UI_SCR_PAGER:
        pager_key(u, a);
        break;
    case UI_SCR_FOLDERS:
        folders_key(u, a);
        break;
    case UI_SCR_ATTACH:
        attach_key(u, a);
        break;
    case UI_SCR_TEXT:
        text_key(u, a);
        break;
    }
}

static void handle_results(struct ui *u)
{
    struct ui_result *res = worker_results(u->w);
    bool changed = false;
    for (struct ui_result *r = res; r; r = r->next) {
        if (r->changed)
            changed = true;
        if (r->kind == UI_JOB_SYNC && r->rc == TERN_OK && r->new_messages)
            beep();
        /* flag saves report only failures */
        if (r->msg[0] && (r->rc || r->kind != UI_JOB_FLAGS))
            ui_set_status(u, r->rc != TERN_OK, "%s", r->msg);
        if (r->kind == UI_JOB_SYNC && !u->ix)
            changed = true;
        if (r->kind == UI_JOB_FLAGS && r->rc)
            changed = true; /* show what the index really holds */
    }
    int64_t body_id = 0;
    for (struct ui_result *r = res; r; r = r->next)
        if (r->kind == UI_JOB_BODY && r->rc == TERN_OK)
            body_id = r->id;
    result_free(res);
    if (body_id && u->scr == UI_SCR_INDEX && ui_current(u) && ui_current(u)->id == body_id) {
        u->status[0] = '\0'; /* "fetching the message..." */
        pager_open(u, ui_current(u));
        return;
    }
    if (!changed)
        return;
    bool had = u->ix != NULL;
    open_index_handle(u);
    load_folders(u);
    if (!had && u->ix) {
        /* the first sync created the index */
        if (!open_folder(u, "INBOX", 0) && u->nfolders)
            open_folder(u, u->folders[0].name, 0);
    } else if (u->ix) {
        reload(u, 0);
    }
    if (u->scr == UI_SCR_PAGER && u->pager_id && model_find(&u->m, u->pager_id) == SIZE_MAX)
        u->scr = UI_SCR_INDEX; /* the message shown went away */
}

/* ---------------------------------------------------------------- run */

static void ui_free(struct ui *u)
{
    folders_free(u);
    model_free(&u->m);
    free(u->m.limit);
    pager_close(u);
    tv_free(&u->aux);
    free(u->folder_name);
    free(u->search);
    keymap_free(&u->km);
    index_close(&u->ix);
}

static bool utf8_locale(void)
{
    const char *cs = nl_langinfo(CODESET);
    return cs && (!tern_strcasecmp(cs, "UTF-8") || !tern_strcasecmp(cs, "utf8"));
}

/* Back from a stop (ours or anyone's): the terminal may hold anything,
 * and the server may have dropped us meanwhile; the watcher re-checks the
 * folder (and reports a lost connection). */
static void resumed(struct ui *u)
{
    got_sigcont = 0;
    clearok(curscr, TRUE);
    u->redraw_all = true;
    ui_set_status(u, false, "resumed");
    if (u->w && u->folder_id)
        worker_watch(u->w, u->folder_id);
}

/* Ctrl-Z: the terminal as it was before tern, then stop for real (the
 * default action); a SIGCONT comes back here. The worker goes on: its
 * waits are bounded, and its results wait in the pipe. */
static void suspend(struct ui *u)
{
    def_prog_mode();
    endwin();
    fflush(stdout);
    struct sigaction dfl = {0}, mine;
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGTSTP, &dfl, &mine);
    sigset_t tstp, old;
    sigemptyset(&tstp);
    sigaddset(&tstp, SIGTSTP);
    pthread_sigmask(SIG_UNBLOCK, &tstp, &old);
    raise(SIGTSTP);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    sigaction(SIGTSTP, &mine, NULL);
    reset_prog_mode();
    resumed(u);
}

enum tern_rc ui_run(const struct ui_opts *o, struct tern_err *err)
{
    struct ui u = {0};
    u.cfg = o->cfg;
    u.acct = o->account;
    u.cancel = &cancel_flag;
    u.search_dir = 1;
    model_init(&u.m);
    if (!(u.km = keymap_new()))
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    ui_text_set_ascii(!utf8_locale());

    /* the worker first: it blocks every signal before curses sets any */
    enum tern_rc rc = worker_start(u.cfg, u.acct, &cancel_flag, &u.w, err);
    if (rc) {
        ui_free(&u);
        return rc;
    }
    struct sigaction sa = {0}, old_int, old_pipe, old_tstp, old_cont;
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, &old_pipe);
    /* ours before newterm: curses then leaves SIGTSTP to us */
    sa.sa_handler = on_sigtstp;
    sigaction(SIGTSTP, &sa, &old_tstp);
    sa.sa_handler = on_sigcont;
    sigaction(SIGCONT, &sa, &old_cont);

    if (!newterm(NULL, stdout, stdin)) {
        worker_stop(&u.w, 0);
        ui_free(&u);
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGPIPE, &old_pipe, NULL);
        sigaction(SIGTSTP, &old_tstp, NULL);
        sigaction(SIGCONT, &old_cont, NULL);
        return tern_fail(err, TERN_EUSAGE, "cannot use this terminal (TERM=%s)",
                         getenv("TERM") ? getenv("TERM") : "");
    }
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    curs_set(0);
    set_escdelay(50);
    const char *nc = getenv("NO_COLOR");
    u.color = !(nc && *nc);
    draw_colors_init(u.color);
    apply_config(&u);

    /* First screen as soon as possible: the newest page of the folder,
     * then the rest (threads, counts, scrolling need every row). */
    open_index_handle(&u);
    load_folders(&u);
    uint64_t first = LINES > 3 ? (uint64_t)LINES : 24;
    if (!open_folder(&u, "INBOX", first) && u.nfolders)
        open_folder(&u, u.folders[0].name, first);
    draw(&u);
    if (u.ix && !u.m.complete)
        reload(&u, 0);

    u.last_check = now_s();
    unsigned interval = u.cfg->check_interval;
    if (interval)
        submit_sync(&u, true);

    while (!u.quit) {
        draw(&u);
        struct pollfd p[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
                              {.fd = worker_fd(u.w), .events = POLLIN}};
        int timeout = UI_TICK_MS;
        int r = poll(p, 2, timeout);
        if (r < 0 && errno != EINTR)
            break;
        if (got_sigint) {
            got_sigint = 0;
            if (worker_busy(u.w, NULL))
                ui_set_status(&u, false, "cancel requested");
            else
                ui_set_status(&u, false, "press q to quit");
        }
        if (got_sigtstp) {
            got_sigtstp = 0;
            suspend(&u);
        }
        if (got_sigcont) {
            got_sigcont = 0;
            resumed(&u);
        }
        if (r > 0 && (p[1].revents & POLLIN))
            handle_results(&u);
        /* keys: also after EINTR (KEY_RESIZE comes from SIGWINCH) */
        for (int n = 0; n < 256 && !u.quit; n++) {
            int32_t k = draw_getkey(0);
            if (k == UI_KEY_NONE)
                break;
            handle_key(&u, k);
            if (n % 16 == 15)
                draw(&u);
        }
        if (r > 0 && (p[0].revents & (POLLHUP | POLLERR)))
            break; /* the terminal went away */
        if (interval && now_s() - u.last_check >= (long long)interval)
            submit_sync(&u, true);
    }
    /* Local changes still queued (flags, purge, moves, a message being
     * sent) are written before leaving; a network wait is bounded by the
     * account's timeout, and Ctrl-C leaves at once. */
    got_sigint = 0;
    bool stopped = worker_stop(&u.w, UI_QUIT_WAIT_MS);
    while (!stopped && !got_sigint) {
        draw_message("finishing the running operation (Ctrl-C: leave now)...", false);
        refresh();
        stopped = worker_stop(&u.w, 200);
    }
    endwin();
    delscreen(set_term(NULL));
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    sigaction(SIGTSTP, &old_tstp, NULL);
    sigaction(SIGCONT, &old_cont, NULL);
    ui_free(&u);
    if (!stopped)
        /* the worker still uses cfg and the account: the caller must end
         * the process without freeing them (every write the worker makes
         * is crash-safe: SQLite, Maildir, outbox) */
        return tern_fail(err, TERN_ECANCELED, "left while a network operation was running");
    return TERN_OK;
}
