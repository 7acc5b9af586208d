/* Colours, drawing primitives, keys, the prompt line editor. */
#include "core/charset/lib.h"
#include "ui/private.h"

#include <curses.h>
#include <stdlib.h>
#include <string.h>

/* Longest line a prompt accepts (bytes of UTF-8). */
#define PROMPT_MAX 1024

static const char *const color_names[UI_C_COUNT] = {
    "normal",  "indicator", "status",  "title",     "message", "error",
    "header",  "quoted",    "quoted1", "signature", "url",     "new",
    "flagged", "deleted",   "tree",    "sidebar",   "search",
};

static int attrs[UI_C_COUNT];
static bool have_color;

const char *draw_color_name(enum ui_color c)
{
    return c < UI_C_COUNT ? color_names[c] : "?";
}

int draw_attr(enum ui_color c)
{
    return c < UI_C_COUNT ? attrs[c] : (int)A_NORMAL;
}

/* fg, bg: curses colour numbers, -1 the terminal's default */
static void set_pair(enum ui_color c, int fg, int bg, int extra)
{
    if (!have_color) {
        attrs[c] = extra;
        return;
    }
    short pair = (short)(c + 1);
    if (init_pair(pair, (short)fg, (short)bg) == ERR) {
        attrs[c] = extra;
        return;
    }
    attrs[c] = (int)COLOR_PAIR(pair) | extra;
}

void draw_colors_init(bool use_color)
{
    have_color = use_color && has_colors() && start_color() != ERR;
    if (have_color && use_default_colors() == ERR)
        assume_default_colors(COLOR_WHITE, COLOR_BLACK);
    /* Without colour, attributes still separate what matters. */
    static const struct {
        enum ui_color c;
        int fg, bg, extra, mono;
    } defaults[] = {
        {UI_C_NORMAL, -1, -1, A_NORMAL, A_NORMAL},
        {UI_C_INDICATOR, -1, -1, A_REVERSE, A_REVERSE},
        {UI_C_STATUS, COLOR_WHITE, COLOR_BLUE, A_BOLD, A_REVERSE},
        {UI_C_TITLE, COLOR_WHITE, COLOR_BLUE, A_NORMAL, A_REVERSE},
        {UI_C_MESSAGE, -1, -1, A_NORMAL, A_NORMAL},
        {UI_C_ERROR, COLOR_RED, -1, A_BOLD, A_BOLD},
        {UI_C_HEADER, COLOR_CYAN, -1, A_NORMAL, A_BOLD},
        {UI_C_QUOTED, COLOR_GREEN, -1, A_NORMAL, A_NORMAL},
        {UI_C_QUOTED1, COLOR_YELLOW, -1, A_NORMAL, A_NORMAL},
        {UI_C_SIGNATURE, COLOR_BLUE, -1, A_NORMAL, A_DIM},
        {UI_C_URL, COLOR_MAGENTA, -1, A_UNDERLINE, A_UNDERLINE},
        {UI_C_NEW, -1, -1, A_BOLD, A_BOLD},
        {UI_C_FLAGGED, COLOR_RED, -1, A_BOLD, A_BOLD},
        {UI_C_DELETED, COLOR_RED, -1, A_NORMAL, A_DIM},
        {UI_C_TREE, COLOR_MAGENTA, -1, A_NORMAL, A_NORMAL},
        {UI_C_SIDEBAR, -1, -1, A_NORMAL, A_NORMAL},
        {UI_C_SEARCH, COLOR_BLACK, COLOR_YELLOW, A_NORMAL, A_REVERSE},
    };
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        set_pair(defaults[i].c, defaults[i].fg, defaults[i].bg,
                 have_color ? defaults[i].extra : defaults[i].mono);
}

static bool color_number(const char *s, int *out)
{
    static const char *const names[] = {"black", "red",     "green", "yellow",
                                        "blue",  "magenta", "cyan",  "white"};
    if (!strcmp(s, "default")) {
        *out = -1;
        return true;
    }
    bool bright = !strncmp(s, "bright", 6);
    const char *base = bright ? s + 6 : s;
    for (int i = 0; i < 8; i++)
        if (!strcmp(base, names[i])) {
            *out = bright ? i + 8 : i;
            return true;
        }
    uint64_t n;
    if (!strncmp(s, "color", 5) && tern_parse_u64(s + 5, strlen(s + 5), 255, &n)) {
        *out = (int)n;
        return true;
    }
    return false;
}

bool draw_color_line(const char *line, char *why, size_t whysize)
{
    char buf[256];
    if (!tern_snprintf(buf, sizeof buf, "%s", line)) {
        tern_snprintf(why, whysize, "line too long");
        return false;
    }
    char *words[8];
    size_t n = 0;
    for (char *s = buf; *s && n < 8;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            break;
        words[n++] = s;
        while (*s && *s != ' ' && *s != '\t')
            s++;
        if (*s)
            *s++ = '\0';
    }
    if (n < 2) {
        tern_snprintf(why, whysize, "expected 'OBJECT [ATTRIBUTE...] FOREGROUND [BACKGROUND]'");
        return false;
    }
    int obj = -1;
    for (int i = 0; i < UI_C_COUNT; i++)
        if (!strcmp(words[0], color_names[i]))
            obj = i;
    if (obj < 0) {
        tern_snprintf(why, whysize, "unknown object '%.40s'", words[0]);
        return false;
    }
    int extra = A_NORMAL;
    size_t i = 1;
    for (; i < n; i++) {
        if (!strcmp(words[i], "bold"))
            extra |= A_BOLD;
        else if (!strcmp(words[i], "underline"))
            extra |= A_UNDERLINE;
        else if (!strcmp(words[i], "reverse"))
            extra |= A_REVERSE;
        else if (!strcmp(words[i], "dim"))
            extra |= A_DIM;
        else if (!strcmp(words[i], "none"))
            extra = A_NORMAL;
        else
            break;
    }
    int fg = -1, bg = -1;
    if (i < n && !color_number(words[i++], &fg)) {
        tern_snprintf(why, whysize, "unknown colour '%.40s'", words[i - 1]);
        return false;
    }
    if (i < n && !color_number(words[i++], &bg)) {
        tern_snprintf(why, whysize, "unknown colour '%.40s'", words[i - 1]);
        return false;
    }
    if (i < n) {
        tern_snprintf(why, whysize, "too many words");
        return false;
    }
    if (have_color && (fg >= COLORS || bg >= COLORS)) {
        tern_snprintf(why, whysize, "this terminal has %d colours", COLORS);
        return false;
    }
    /* Without colour (NO_COLOR, mono terminal) only attributes apply. */
    set_pair((enum ui_color)obj, fg, bg, extra);
    return true;
}

/* ------------------------------------------------------------ drawing */

void draw_fill(int y, int x, int w, int attr)
{
    if (w <= 0)
        return;
    attrset(attr);
    mvhline(y, x, ' ', w);
    attrset(A_NORMAL);
}

int draw_text(int y, int x, int w, const char *s, size_t n, int attr, bool pad, bool ellipsis)
{
    if (w <= 0)
        return 0;
    wchar_t buf[1024];
    int cols = 0;
    size_t k = ui_wtext(s, n, w, ellipsis, buf, sizeof buf / sizeof buf[0], &cols);
    attrset(attr);
    if (k)
        mvaddnwstr(y, x, buf, (int)k);
    if (pad && cols < w)
        mvhline(y, x + cols, ' ', w - cols);
    attrset(A_NORMAL);
    return cols;
}

int draw_str(int y, int x, int w, const char *s, int attr, bool pad)
{
    return draw_text(y, x, w, s ? s : "", s ? strlen(s) : 0, attr, pad, true);
}

void draw_message(const char *s, bool error)
{
    int y = LINES - 1;
    draw_fill(y, 0, COLS, A_NORMAL);
    draw_str(y, 0, COLS, s, draw_attr(error ? UI_C_ERROR : UI_C_MESSAGE), false);
}

/* ---------------------------------------------------------------- keys */

int32_t draw_getkey(int timeout_ms)
{
    timeout(timeout_ms);
    wint_t ch;
    int r = get_wch(&ch);
    if (r == ERR)
        return UI_KEY_NONE;
    if (r == KEY_CODE_YES) {
        if (ch == KEY_ENTER)
            return '\n';
        return UI_KEY_FN + (int32_t)ch;
    }
    if (ch == '\r')
        return '\n';
    if (ch == 127 || ch == 8)
        return UI_KEY_FN + KEY_BACKSPACE;
    if (ch == 27) {
        /* Esc then a key within a moment: a meta key */
        timeout(60);
        wint_t c2;
        int r2 = get_wch(&c2);
        if (r2 == OK && c2 != 27)
            return UI_KEY_META + (int32_t)(c2 == '\r' ? '\n' : c2);
        if (r2 == KEY_CODE_YES)
            return UI_KEY_META + UI_KEY_FN + (int32_t)c2;
        return 27;
    }
    return (int32_t)ch;
}

/* ------------------------------------------------------------- prompt */

static size_t prev_cp(const char *s, size_t i)
{
    while (i > 0 && ((unsigned char)s[--i] & 0xc0) == 0x80)
        ;
    return i;
}

bool draw_prompt(const char *prompt, const char *initial, ui_complete_fn *complete, void *carg,
                 char **out)
{
    *out = NULL;
    struct tbuf b;
    tbuf_init(&b, PROMPT_MAX);
    if (initial)
        tbuf_puts(&b, initial);
    size_t pos = b.len;
    unsigned tabs = 0;
    char *before_tab = NULL;
    bool ok = false;
    curs_set(1);
    for (;;) {
        int y = LINES - 1;
        draw_fill(y, 0, COLS, A_NORMAL);
        int pw = draw_str(y, 0, COLS / 2, prompt, A_NORMAL, false);
        /* show the part around the cursor when the text is too long */
        int avail = COLS - pw - 1;
        const char *text = b.data ? b.data : "";
        size_t start = 0;
        while (avail > 0 && utf8_width(text + start, pos - start) >= (size_t)avail)
            start += utf8_decode(text + start, b.len - start, &(uint32_t){0});
        draw_text(y, pw, avail, text + start, b.len - start, A_NORMAL, false, false);
        move(y, pw + (int)utf8_width(text + start, pos - start));
        refresh();
        int32_t k = draw_getkey(-1);
        if (k == UI_KEY_FN + KEY_RESIZE)
            continue;
        if (k == '\t' && complete) {
            if (!tabs) {
                free(before_tab);
                before_tab = tern_strdup(text);
            }
            char *c = complete(carg, before_tab ? before_tab : "", tabs++);
            if (c) {
                tbuf_reset(&b);
                tbuf_puts(&b, c);
                pos = b.len;
                free(c);
            } else {
                beep();
            }
            continue;
        }
        tabs = 0;
        if (k == '\n') {
            ok = true;
            break;
        }
        if (k == 27 || k == 7 || k == 3) /* Esc, ^G, ^C */
            break;
        if (k == UI_KEY_FN + KEY_BACKSPACE || k == 8) {
            if (pos > 0) {
                size_t p = prev_cp(b.data, pos);
                memmove(b.data + p, b.data + pos, b.len - pos + 1);
                b.len -= pos - p;
                pos = p;
            } else if (b.len == 0) {
                break; /* backspace on an empty line cancels, as in mutt */
            }
        } else if (k == UI_KEY_FN + KEY_DC || k == 4) {
            if (pos < b.len) {
                size_t e = pos + utf8_decode(b.data + pos, b.len - pos, &(uint32_t){0});
                memmove(b.data + pos, b.data + e, b.len - e + 1);
                b.len -= e - pos;
            }
        } else if (k == UI_KEY_FN + KEY_LEFT || k == 2) {
            if (pos > 0)
                pos = prev_cp(b.data, pos);
        } else if (k == UI_KEY_FN + KEY_RIGHT || k == 6) {
            if (pos < b.len)
                pos += utf8_decode(b.data + pos, b.len - pos, &(uint32_t){0});
        } else if (k == UI_KEY_FN + KEY_HOME || k == 1) {
            pos = 0;
        } else if (k == UI_KEY_FN + KEY_END || k == 5) {
            pos = b.len;
        } else if (k == 21) { /* ^U */
            tbuf_reset(&b);
            if (b.data)
                b.data[0] = '\0';
            pos = 0;
        } else if (k == 23) { /* ^W: the word before the cursor */
            size_t p = pos;
            while (p > 0 && b.data[p - 1] == ' ')
                p--;
            while (p > 0 && b.data[p - 1] != ' ')
                p--;
            memmove(b.data + p, b.data + pos, b.len - pos + 1);
            b.len -= pos - p;
            pos = p;
        } else if (k >= 0x20 && k < UI_KEY_FN && k != 127) {
            struct tbuf ch;
            tbuf_init(&ch, 8);
            if (!utf8_put(&ch, (uint32_t)k) && b.len + ch.len < PROMPT_MAX) {
                size_t tail = b.len - pos;
                if (!tbuf_append(&b, ch.data, ch.len)) {
                    memmove(b.data + pos + ch.len, b.data + pos, tail);
                    memcpy(b.data + pos, ch.data, ch.len);
                    pos += ch.len;
                }
            }
            tbuf_free(&ch);
        }
    }
    curs_set(0);
    free(before_tab);
    draw_fill(LINES - 1, 0, COLS, A_NORMAL);
    if (ok) {
        *out = b.data ? tbuf_steal(&b) : tern_strdup("");
        if (!*out)
            ok = false;
    }
    tbuf_free(&b);
    return ok;
}

int draw_ask(const char *question, const char *keys)
{
    for (;;) {
        draw_message(question, false);
        refresh();
        int32_t k = draw_getkey(-1);
        if (k == 27 || k == 7 || k == 3)
            return 0;
        if (k == UI_KEY_FN + KEY_RESIZE)
            continue;
        if (k > 0 && k < 0x80) {
            int c = k >= 'A' && k <= 'Z' ? k + 32 : k;
            if (strchr(keys, c))
                return c;
            if (k == '\n' && keys[0])
                return keys[0]; /* Enter takes the first (default) answer */
        }
    }
}
