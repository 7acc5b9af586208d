/* Internals shared by the files of ui/ (see ui/lib.h for the map). */
#ifndef TERN_UI_PRIVATE_H
#define TERN_UI_PRIVATE_H

#include "ui/lib.h"

#include <signal.h>
#include <stdint.h>
#include <wchar.h>

/* ------------------------------------------------------------- keymap */

/* A key: a Unicode code point, or UI_KEY_FN + a curses KEY_* code, with
 * UI_KEY_META added for Esc-prefixed keys. */
#define UI_KEY_FN 0x200000
#define UI_KEY_META 0x400000
#define UI_KEY_NONE (-1)

enum ui_ctx {
    UI_CTX_GENERIC, /* fallback for every screen */
    UI_CTX_INDEX,
    UI_CTX_PAGER,
    UI_CTX_FOLDERS,
    UI_CTX_ATTACH,
    UI_CTX_COUNT,
};

#define UI_ACTIONS(X)                                                                              \
    X(NOOP, "noop", "do nothing (unbinds a key)")                                                  \
    X(NEXT, "next-entry", "move to the next entry")                                                \
    X(PREV, "previous-entry", "move to the previous entry")                                        \
    X(NEXT_LINE, "next-line", "scroll down one line")                                              \
    X(PREV_LINE, "previous-line", "scroll up one line")                                            \
    X(NEXT_PAGE, "next-page", "move down one page")                                                \
    X(PREV_PAGE, "previous-page", "move up one page")                                              \
    X(FIRST, "first-entry", "move to the first entry")                                             \
    X(LAST, "last-entry", "move to the last entry")                                                \
    X(OPEN, "select-entry", "open the message, folder or attachment")                              \
    X(QUIT, "quit", "leave this screen (in the index: quit tern)")                                 \
    X(EXIT, "exit", "leave this screen without questions")                                         \
    X(HELP, "help", "show the keys of this screen")                                                \
    X(REDRAW, "redraw-screen", "clear and redraw the screen")                                      \
    X(COMMAND, "enter-command", "enter a command (bind, color, folder, sort, ...)")                \
    X(SEARCH, "search", "search forward for text")                                                 \
    X(SEARCH_REV, "search-reverse", "search backward for text")                                    \
    X(SEARCH_NEXT, "search-next", "repeat the last search")                                        \
    X(LIMIT, "limit", "show only messages containing text (empty: all)")                           \
    X(TOGGLE_NEW, "toggle-new", "toggle the unread mark")                                          \
    X(FLAG, "flag-message", "toggle the important flag")                                           \
    X(DELETE, "delete-message", "mark for deletion (purged on sync or quit)")                      \
    X(UNDELETE, "undelete-message", "remove the deletion mark")                                    \
    X(MOVE, "save-message", "move to another folder")                                              \
    X(SYNC, "sync-mailbox", "fetch new mail and send changes now")                                 \
    X(CHANGE_FOLDER, "change-folder", "open another folder")                                       \
    X(FOLDER_LIST, "browse-folders", "list the folders with their counts")                         \
    X(COMPOSE, "mail", "write a new message")                                                      \
    X(REPLY, "reply", "reply to the sender")                                                       \
    X(GROUP_REPLY, "group-reply", "reply to all recipients")                                       \
    X(FORWARD, "forward-message", "forward the message inline")                                    \
    X(ATTACHMENTS, "view-attachments", "list the attachments")                                     \
    X(PIPE, "pipe-message", "pipe the message (or attachment) to a command")                       \
    X(SAVE_ATTACHMENT, "save-entry", "save the attachment to a directory")                         \
    X(SORT, "sort-mailbox", "sort by date, sender or subject")                                     \
    X(SORT_REVERSE, "sort-reverse", "reverse the sort order")                                      \
    X(TOGGLE_THREADS, "toggle-threads", "switch between threads and a flat list")                  \
    X(COLLAPSE, "collapse-thread", "collapse or expand this thread")                               \
    X(COLLAPSE_ALL, "collapse-all", "collapse or expand all threads")                              \
    X(SIDEBAR, "sidebar-toggle", "show or hide the folder sidebar")                                \
    X(TOP, "top", "go to the top of the message")                                                  \
    X(BOTTOM, "bottom", "go to the bottom of the message")                                         \
    X(CANCEL, "cancel", "cancel the running network operation")

enum ui_action {
#define UI_ACTION_ENUM(id, name, help) UI_A_##id,
    UI_ACTIONS(UI_ACTION_ENUM)
#undef UI_ACTION_ENUM
        UI_A_COUNT,
    UI_A_NONE = -1,
};

struct keymap;
/* The default bindings (mutt-like). NULL on out of memory. */
struct keymap *keymap_new(void);
void keymap_free(struct keymap **km);
/* Apply one `bind` line: "CONTEXT[,CONTEXT...] KEY ACTION". On a bad line
 * returns false with a reason in why. */
bool keymap_bind_line(struct keymap *km, const char *line, char *why, size_t whysize);
/* The action for key in ctx (falling back to generic), or UI_A_NONE. */
enum ui_action keymap_lookup(const struct keymap *km, enum ui_ctx ctx, int32_t key);
/* Parse a key name ("j", "<Down>", "^L", "\\Cl", "<Esc>v", "<Space>", ...). */
bool ui_key_parse(const char *s, int32_t *key);
/* Name of a key for the help screen. */
void ui_key_name(int32_t key, char *buf, size_t size);
const char *action_name(enum ui_action a);
const char *action_help(enum ui_action a);
enum ui_action action_by_name(const char *name);
const char *ctx_name(enum ui_ctx c);
/* Help for ctx: one line per bound key (ctx first, then generic keys not
 * overridden), "KEY  ACTION  DESCRIPTION", aligned. */
enum tern_rc keymap_help(const struct keymap *km, enum ui_ctx ctx, struct tbuf *out);
/* The first key bound to action a in ctx (or generic), UI_KEY_NONE if none. */
int32_t keymap_key_for(const struct keymap *km, enum ui_ctx ctx, enum ui_action a);

/* --------------------------------------------------------------- text */

/* Cut untrusted UTF-8 s[0..n) for display: made safe (core/charset
 * safe_text, no controls at all), decoded to wide characters and cut to at
 * most maxcols columns (wcwidth: 2 for CJK, 0 for combining marks; an
 * unprintable code point becomes U+FFFD). With ascii_only (non-UTF-8
 * locale) every non-ASCII character becomes '?'. out gets at most outcap-1
 * characters plus a NUL; *cols the columns used. Returns the character
 * count. When the text is cut and ellipsis is set, the last column holds
 * U+2026 ('.' with ascii_only). */
size_t ui_wtext(const char *s, size_t n, int maxcols, bool ellipsis, wchar_t *out, size_t outcap,
                int *cols);
/* Columns of a wide string (unprintables 1). */
int ui_wcols(const wchar_t *w, size_t n);
/* Columns of one code point as ui_wtext counts it. */
int ui_cp_cols(uint32_t cp);
/* Set once from the locale: true when LC_CTYPE is not UTF-8. */
void ui_text_set_ascii(bool ascii_only);
bool ui_text_ascii(void);

/* Break one line of safe UTF-8 (no LF; TAB already expanded) into pieces
 * of at most width columns, preferring to break after a space. Calls fn
 * with each piece's byte offset and length. */
typedef int ui_wrap_fn(void *arg, size_t off, size_t len);
void ui_wrap_line(const char *s, size_t n, int width, ui_wrap_fn *fn, void *arg);
/* Expand TABs (to multiples of 8 columns) into spaces. */
enum tern_rc ui_expand_tabs(const char *s, size_t n, struct tbuf *out);
/* ASCII-case-insensitive substring search in UTF-8 text. */
bool ui_contains(const char *hay, const char *needle);

/* ------------------------------------------------------------- threads */

#define UI_NONE UINT32_MAX

struct ui_thread_in {
    const char *msgid; /* may be NULL */
    const char *irt;   /* In-Reply-To id, may be NULL */
    const char *refs;  /* References ids separated by spaces, may be NULL */
};
/* parent[i] = the row i replies to (UI_NONE for a thread root): In-Reply-To
 * when that message is present, else the nearest present message of
 * References (last first). Loops are broken. O(n). */
enum tern_rc ui_thread_parents(const struct ui_thread_in *in, size_t n, uint32_t *parent);

/* --------------------------------------------------------------- model */

enum ui_sort { UI_SORT_DATE, UI_SORT_FROM, UI_SORT_SUBJECT };

struct ui_row {
    int64_t id;
    int64_t date; /* INDEX_NO_DATE when unknown */
    uint64_t size;
    unsigned flags; /* INDEX_FLAG_* */
    bool att;
    bool collapsed;   /* threads: a collapsed root */
    bool gone;        /* moved or purged: no longer listed */
    const char *from; /* display name or address (raw UTF-8) */
    const char *addr;
    const char *to;
    const char *subject;
    const char *msgid, *irt, *refs;
    /* threads (valid in thread mode) */
    uint32_t parent, child, next;
    uint32_t ndesc; /* descendants (shown as a count when collapsed) */
    uint16_t depth;
    bool last_sibling;
};

struct ui_arena;
struct ui_model {
    struct ui_row *rows;
    size_t n, cap;
    struct ui_arena *arena;
    uint32_t *view; /* row numbers in display order */
    size_t nview, viewcap;
    enum ui_sort sort;
    bool reverse; /* oldest first */
    bool threads;
    char *limit;   /* NULL: all */
    bool complete; /* every row of the folder is loaded */
    uint64_t total, unread, flagged, deleted;
};

struct index;
void model_init(struct ui_model *m);
void model_free(struct ui_model *m);
/* Load the newest `first` rows (0: all) of folder_id (0: all folders). */
enum tern_rc model_load(struct ui_model *m, struct index *ix, int64_t folder_id, uint64_t first,
                        struct tern_err *err);
/* Rebuild view from rows (after a load, sort, thread, collapse, limit or
 * flag change). */
enum tern_rc model_build(struct ui_model *m);
/* Position of row id in the view, or SIZE_MAX. */
size_t model_find(const struct ui_model *m, int64_t id);
/* The row shown at view position i. */
struct ui_row *model_at(struct ui_model *m, size_t i);
/* Next view position >= from (dir +1) or <= from (dir -1) whose row
 * matches text; SIZE_MAX when none (wraps around). */
size_t model_search(const struct ui_model *m, size_t from, int dir, const char *text);
/* Recount totals after flag changes. */
void model_count(struct ui_model *m);
/* Toggle the collapse state of the thread holding view position i;
 * returns the view position of its root afterwards. */
size_t model_toggle_collapse(struct ui_model *m, size_t i);
void model_collapse_all(struct ui_model *m, bool collapse);

/* --------------------------------------------------------------- draw */

enum ui_color {
    UI_C_NORMAL,
    UI_C_INDICATOR,
    UI_C_STATUS,
    UI_C_TITLE,
    UI_C_MESSAGE,
    UI_C_ERROR,
    UI_C_HEADER,
    UI_C_QUOTED,
    UI_C_QUOTED1,
    UI_C_SIGNATURE,
    UI_C_URL,
    UI_C_NEW,
    UI_C_FLAGGED,
    UI_C_DELETED,
    UI_C_TREE,
    UI_C_SIDEBAR,
    UI_C_SEARCH,
    UI_C_COUNT,
};

/* Colours from the defaults, then the `color` lines; NO_COLOR (set and
 * not empty) or a terminal without colours keeps attributes only. */
void draw_colors_init(bool use_color);
bool draw_color_line(const char *line, char *why, size_t whysize);
/* Attribute (pair and attributes) of an object. */
int draw_attr(enum ui_color c);
const char *draw_color_name(enum ui_color c);

/* Fill row y from x over w columns with spaces in attr. */
void draw_fill(int y, int x, int w, int attr);
/* Draw untrusted UTF-8 at (y, x) in at most w columns; returns columns
 * used. pad: fill the rest of w with spaces. */
int draw_text(int y, int x, int w, const char *s, size_t n, int attr, bool pad, bool ellipsis);
int draw_str(int y, int x, int w, const char *s, int attr, bool pad);
/* The message line at the bottom: error messages stay until the next key. */
void draw_message(const char *s, bool error);

/* Read a line on the bottom row. Returns true with the text (UTF-8, new
 * string in *out) on Enter, false on Esc/^G/^C. complete: called on Tab
 * with the text so far; returns a new string to replace it (or NULL). */
typedef char *ui_complete_fn(void *arg, const char *sofar, unsigned nth);
bool draw_prompt(const char *prompt, const char *initial, ui_complete_fn *complete, void *carg,
                 char **out);
/* Ask a one-key question; returns the key typed (lower-cased ASCII), or 0
 * on ^G/^C/Esc. */
int draw_ask(const char *question, const char *keys);

/* Read one key, waiting at most timeout_ms (-1: forever): the Esc prefix
 * for meta keys is folded in; Enter, Backspace normalised. UI_KEY_NONE on
 * timeout. */
int32_t draw_getkey(int timeout_ms);

/* ------------------------------------------------------------- worker */

enum ui_job_kind {
    UI_JOB_SYNC,  /* account sync (plus the outbox) */
    UI_JOB_FLAGS, /* set flags of ids (one value each) */
    UI_JOB_PURGE, /* delete ids for good (POP3) or queue the delete (IMAP) */
    UI_JOB_MOVE,  /* move ids to folder arg */
    UI_JOB_SEND,  /* submit data (canonical message) */
    UI_JOB_BODY,  /* make the body of id available locally */
    UI_JOB_WATCH, /* results only: what watching the folder (IDLE) says */
};

struct ui_job {
    enum ui_job_kind kind;
    int64_t *ids;
    unsigned *flags; /* UI_JOB_FLAGS: new flags per id */
    size_t nids;
    char *arg;  /* MOVE: destination; SEND: envelope sender */
    char *data; /* SEND: the message with Bcc */
    size_t len;
    char **rcpts; /* SEND */
    size_t nrcpts;
    int64_t after_id; /* SEND: message to mark answered/forwarded after */
    unsigned after_flag;
    uint64_t seq; /* set by worker_submit */
    bool from_watch; /* SYNC queued by the worker because the folder changed */
    struct ui_job *next;
};

struct ui_result {
    enum ui_job_kind kind;
    uint64_t seq;
    enum tern_rc rc;
    char msg[TERN_ERR_MSG_MAX + 64]; /* one line for the status bar */
    uint64_t new_messages;
    bool changed; /* the index changed: reload */
    char *path;   /* BODY: the local file (owned) */
    int64_t id;
    struct ui_result *next;
};

struct ui_worker;
enum tern_rc worker_start(const struct tern_config *cfg, const struct tern_account *acct,
                          volatile sig_atomic_t *cancel, struct ui_worker **out,
                          struct tern_err *err);
/* Stop after the running job (queued jobs are dropped) and join.
 * wait_ms bounds the wait; false when the worker is still busy (the caller
 * may then exit anyway: every write it makes is crash-safe). */
bool worker_stop(struct ui_worker **w, int wait_ms);
/* Queue a job (ownership passes to the worker; freed there). */
void worker_submit(struct ui_worker *w, struct ui_job *j);
/* The read end of the wake-up pipe (readable when results are waiting). */
int worker_fd(const struct ui_worker *w);
/* Take all results (oldest first; caller frees with result_free). */
struct ui_result *worker_results(struct ui_worker *w);
void result_free(struct ui_result *r);
/* What the worker is doing ("syncing", "sending", ...) or NULL when idle;
 * queued: jobs waiting. */
const char *worker_busy(struct ui_worker *w, size_t *queued);
/* Watch folder_id (index id; 0: none) for changes while no job runs:
 * when the driver can wait (caps ACCT_CAP_WAIT: IMAP IDLE, if the server
 * offers it) a change makes the worker sync, and the result comes back as
 * a UI_JOB_SYNC result. Also wakes a running wait, which re-checks the
 * folder (after a resume). */
void worker_watch(struct ui_worker *w, int64_t folder_id);
/* True while the worker holds the folder in IDLE. */
bool worker_watching(struct ui_worker *w);
/* Drop queued jobs of this kind (e.g. a second sync). */
bool worker_has(struct ui_worker *w, enum ui_job_kind kind);
struct ui_job *job_new(enum ui_job_kind kind);
void job_free(struct ui_job *j);

/* The raw message of index message id, read from its local file (POP3
 * Maildir or IMAP cache; a Maildir file that has moved to cur/ is found).
 * TERN_ENOTFOUND when the body is not local. */
#define UI_MSG_MAX ((size_t)256 << 20)
enum tern_rc ui_read_body(const struct tern_account *a, const char *body_path, struct tbuf *out,
                          struct tern_err *err);

/* ---------------------------------------------------- the application */

struct mime_message;

enum ui_screen { UI_SCR_INDEX, UI_SCR_PAGER, UI_SCR_FOLDERS, UI_SCR_ATTACH, UI_SCR_TEXT };

/* Kinds of pager lines (colour). */
enum ui_line_kind {
    UI_L_BODY,
    UI_L_HEADER,
    UI_L_QUOTED,
    UI_L_QUOTED1,
    UI_L_SIGNATURE,
    UI_L_ATTACH,
};

struct ui_line {
    size_t off, len; /* bytes in the view's text */
    uint8_t kind;    /* enum ui_line_kind */
    bool url_cont;   /* starts inside a URL cut by the wrap */
};

/* Scrollable safe text: the pager, help, an attachment shown as text. */
struct ui_textview {
    struct tbuf text;      /* terminal-safe UTF-8, TABs expanded */
    struct ui_line *lines; /* wrapped display lines */
    size_t nlines, cap;
    int width; /* wrapped for this many columns */
    size_t top;
    char *title; /* status bar text */
};

struct ui_folder {
    int64_t id;
    char *name;
    uint64_t total, unread;
    int special; /* enum index_special */
};

struct ui {
    const struct tern_config *cfg;
    const struct tern_account *acct;
    struct keymap *km;
    struct index *ix; /* read handle (UI thread) */
    struct ui_worker *w;
    volatile sig_atomic_t *cancel;
    /* folders */
    struct ui_folder *folders;
    size_t nfolders;
    int64_t folder_id;
    char *folder_name;
    size_t fcur, ftop;
    bool sidebar;
    /* the index */
    struct ui_model m;
    size_t cur, top;
    char *search; /* last search text */
    int search_dir;
    /* screens */
    enum ui_screen scr;
    enum ui_screen text_return; /* where q leaves UI_SCR_TEXT */
    struct ui_textview pager;   /* the message */
    int64_t pager_id;
    struct tbuf raw;              /* the message shown, raw */
    char *raw_lf;                 /* owned: raw with LF line ends, or NULL */
    struct mime_message *msg;     /* parsed (borrows raw_lf, else raw) */
    struct ui_textview aux;       /* help or an attachment */
    size_t acur, atop;            /* attachment list */
    enum ui_screen attach_return; /* where q leaves the attachment list */
    /* status */
    char status[TERN_ERR_MSG_MAX + 64];
    bool status_err;
    bool quit;
    bool redraw_all;
    long long last_check; /* monotonic seconds */
    unsigned pending_results;
    bool color;
};

/* tui.c */
void ui_set_status(struct ui *u, bool error, const char *fmt, ...) TERN_PRINTF(3, 4);
struct ui_row *ui_current(struct ui *u);
void ui_draw_status(struct ui *u, const char *left, const char *right);
void ui_draw_title(struct ui *u, enum ui_ctx ctx);
/* Run a program with the terminal handed over (curses suspended). */
int ui_run_external(struct ui *u, const char *const *argv, const char *stdin_data, size_t n,
                    bool wait_key);
/* Flag changes from any screen. */
void ui_set_flags(struct ui *u, struct ui_row *r, unsigned flags);
char *ui_folder_complete(void *arg, const char *sofar, unsigned nth);

/* pager.c */
void tv_free(struct ui_textview *tv);
enum tern_rc tv_set_text(struct ui_textview *tv, const char *s, size_t n, bool message);
void tv_draw(struct ui *u, struct ui_textview *tv, int y0, int rows);
/* Handle a scrolling action; false when the action is not a scroll. */
bool tv_scroll(struct ui_textview *tv, enum ui_action a, int rows);
bool tv_search(struct ui_textview *tv, const char *text, int rows);
enum tern_rc pager_open(struct ui *u, struct ui_row *r);
void pager_close(struct ui *u);
void pager_draw(struct ui *u);
void pager_key(struct ui *u, enum ui_action a);
void attach_draw(struct ui *u);
void attach_key(struct ui *u, enum ui_action a);
void text_draw(struct ui *u);
void text_key(struct ui *u, enum ui_action a);
void ui_show_text(struct ui *u, const char *title, const char *s, size_t n);
/* Load and parse the raw message of r into u->raw / u->msg (if not yet). */
enum tern_rc ui_load_message(struct ui *u, int64_t id, struct tern_err *err);
void ui_pipe(struct ui *u, const char *data, size_t n);

/* compose.c */
enum ui_compose_kind { UI_NEW, UI_REPLY, UI_GROUP_REPLY, UI_FORWARD };
void ui_compose(struct ui *u, enum ui_compose_kind kind, struct ui_row *r);

#endif
