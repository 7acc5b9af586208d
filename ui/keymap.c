/* Actions, default bindings, key names, `bind` lines and the help text. */
#include "ui/private.h"

#include <curses.h>
#include <stdlib.h>
#include <string.h>

/* Bindings a config can add (beyond the defaults). */
#define KEYMAP_MAX 4096

static const struct {
    const char *name;
    const char *help;
} actions[UI_A_COUNT] = {
#define UI_ACTION_DEF(id, name, help) [UI_A_##id] = {name, help},
    UI_ACTIONS(UI_ACTION_DEF)
#undef UI_ACTION_DEF
};

static const char *const ctx_names[UI_CTX_COUNT] = {"generic", "index", "pager", "browser",
                                                    "attach"};

struct binding {
    enum ui_ctx ctx;
    int32_t key;
    enum ui_action act;
};

struct keymap {
    struct binding *v;
    size_t n, cap;
};

const char *action_name(enum ui_action a)
{
    return a >= 0 && a < UI_A_COUNT ? actions[a].name : "?";
}

const char *action_help(enum ui_action a)
{
    return a >= 0 && a < UI_A_COUNT ? actions[a].help : "";
}

enum ui_action action_by_name(const char *name)
{
    for (int i = 0; i < UI_A_COUNT; i++)
        if (!strcmp(actions[i].name, name))
            return (enum ui_action)i;
    return UI_A_NONE;
}

const char *ctx_name(enum ui_ctx c)
{
    return c < UI_CTX_COUNT ? ctx_names[c] : "?";
}

static bool ctx_by_name(const char *s, size_t n, enum ui_ctx *out)
{
    for (int i = 0; i < UI_CTX_COUNT; i++)
        if (strlen(ctx_names[i]) == n && !strncmp(ctx_names[i], s, n)) {
            *out = (enum ui_ctx)i;
            return true;
        }
    /* mutt's name for the folder list */
    if (n == 7 && !strncmp(s, "folders", 7)) {
        *out = UI_CTX_FOLDERS;
        return true;
    }
    return false;
}

/* Later bindings replace earlier ones for the same context and key. */
static bool bind(struct keymap *km, enum ui_ctx ctx, int32_t key, enum ui_action act)
{
    for (size_t i = 0; i < km->n; i++)
        if (km->v[i].ctx == ctx && km->v[i].key == key) {
            km->v[i].act = act;
            return true;
        }
    if (km->n >= KEYMAP_MAX)
        return false;
    if (km->n == km->cap) {
        size_t cap = km->cap ? km->cap * 2 : 128;
        struct binding *v = realloc(km->v, cap * sizeof *v);
        if (!v)
            return false;
        km->v = v;
        km->cap = cap;
    }
    km->v[km->n++] = (struct binding){ctx, key, act};
    return true;
}

#define FN(k) (UI_KEY_FN + (k))
#define CTRL(c) ((c)&0x1f)

static const struct {
    enum ui_ctx ctx;
    int32_t key;
    enum ui_action act;
} defaults[] = {
    /* everywhere */
    {UI_CTX_GENERIC, '?', UI_A_HELP},
    {UI_CTX_GENERIC, CTRL('l'), UI_A_REDRAW},
    {UI_CTX_GENERIC, ':', UI_A_COMMAND},
    {UI_CTX_GENERIC, 'q', UI_A_QUIT},
    {UI_CTX_GENERIC, 'x', UI_A_EXIT},
    {UI_CTX_GENERIC, 'j', UI_A_NEXT},
    {UI_CTX_GENERIC, 'k', UI_A_PREV},
    {UI_CTX_GENERIC, FN(KEY_DOWN), UI_A_NEXT},
    {UI_CTX_GENERIC, FN(KEY_UP), UI_A_PREV},
    {UI_CTX_GENERIC, FN(KEY_NPAGE), UI_A_NEXT_PAGE},
    {UI_CTX_GENERIC, FN(KEY_PPAGE), UI_A_PREV_PAGE},
    {UI_CTX_GENERIC, FN(KEY_RIGHT), UI_A_NEXT_PAGE},
    {UI_CTX_GENERIC, FN(KEY_LEFT), UI_A_PREV_PAGE},
    {UI_CTX_GENERIC, FN(KEY_HOME), UI_A_FIRST},
    {UI_CTX_GENERIC, FN(KEY_END), UI_A_LAST},
    {UI_CTX_GENERIC, '\n', UI_A_OPEN},
    {UI_CTX_GENERIC, '$', UI_A_SYNC},
    {UI_CTX_GENERIC, 'c', UI_A_CHANGE_FOLDER},
    {UI_CTX_GENERIC, 'm', UI_A_COMPOSE},
    {UI_CTX_GENERIC, CTRL('c'), UI_A_CANCEL},
    /* the message index */
    {UI_CTX_INDEX, ' ', UI_A_NEXT_PAGE},
    {UI_CTX_INDEX, '=', UI_A_FIRST},
    {UI_CTX_INDEX, '*', UI_A_LAST},
    {UI_CTX_INDEX, '/', UI_A_SEARCH},
    {UI_CTX_INDEX, UI_KEY_META + '/', UI_A_SEARCH_REV},
    {UI_CTX_INDEX, 'n', UI_A_SEARCH_NEXT},
    {UI_CTX_INDEX, 'l', UI_A_LIMIT},
    {UI_CTX_INDEX, 'N', UI_A_TOGGLE_NEW},
    {UI_CTX_INDEX, 'F', UI_A_FLAG},
    {UI_CTX_INDEX, 'd', UI_A_DELETE},
    {UI_CTX_INDEX, 'u', UI_A_UNDELETE},
    {UI_CTX_INDEX, 's', UI_A_MOVE},
    {UI_CTX_INDEX, 'y', UI_A_FOLDER_LIST},
    {UI_CTX_INDEX, 'r', UI_A_REPLY},
    {UI_CTX_INDEX, 'g', UI_A_GROUP_REPLY},
    {UI_CTX_INDEX, 'f', UI_A_FORWARD},
    {UI_CTX_INDEX, 'v', UI_A_ATTACHMENTS},
    {UI_CTX_INDEX, '|', UI_A_PIPE},
    {UI_CTX_INDEX, 'o', UI_A_SORT},
    {UI_CTX_INDEX, 'O', UI_A_SORT_REVERSE},
    {UI_CTX_INDEX, 'T', UI_A_TOGGLE_THREADS},
    {UI_CTX_INDEX, UI_KEY_META + 'v', UI_A_COLLAPSE},
    {UI_CTX_INDEX, UI_KEY_META + 'V', UI_A_COLLAPSE_ALL},
    {UI_CTX_INDEX, '\t', UI_A_COLLAPSE},
    {UI_CTX_INDEX, 'B', UI_A_SIDEBAR},
    /* the pager: j/k go to the next/previous message as in mutt */
    {UI_CTX_PAGER, FN(KEY_DOWN), UI_A_NEXT_LINE},
    {UI_CTX_PAGER, FN(KEY_UP), UI_A_PREV_LINE},
    {UI_CTX_PAGER, '\n', UI_A_NEXT_LINE},
    {UI_CTX_PAGER, FN(KEY_BACKSPACE), UI_A_PREV_LINE},
    {UI_CTX_PAGER, ' ', UI_A_NEXT_PAGE},
    {UI_CTX_PAGER, '-', UI_A_PREV_PAGE},
    {UI_CTX_PAGER, FN(KEY_HOME), UI_A_TOP},
    {UI_CTX_PAGER, FN(KEY_END), UI_A_BOTTOM},
    {UI_CTX_PAGER, '^', UI_A_TOP},
    {UI_CTX_PAGER, 'i', UI_A_QUIT},
    {UI_CTX_PAGER, '/', UI_A_SEARCH},
    {UI_CTX_PAGER, 'n', UI_A_SEARCH_NEXT},
    {UI_CTX_PAGER, 'N', UI_A_TOGGLE_NEW},
    {UI_CTX_PAGER, 'F', UI_A_FLAG},
    {UI_CTX_PAGER, 'd', UI_A_DELETE},
    {UI_CTX_PAGER, 'u', UI_A_UNDELETE},
    {UI_CTX_PAGER, 's', UI_A_MOVE},
    {UI_CTX_PAGER, 'r', UI_A_REPLY},
    {UI_CTX_PAGER, 'g', UI_A_GROUP_REPLY},
    {UI_CTX_PAGER, 'f', UI_A_FORWARD},
    {UI_CTX_PAGER, 'v', UI_A_ATTACHMENTS},
    {UI_CTX_PAGER, '|', UI_A_PIPE},
    /* the folder list */
    {UI_CTX_FOLDERS, ' ', UI_A_OPEN},
    /* the attachment list */
    {UI_CTX_ATTACH, 's', UI_A_SAVE_ATTACHMENT},
    {UI_CTX_ATTACH, '|', UI_A_PIPE},
};

struct keymap *keymap_new(void)
{
    struct keymap *km = calloc(1, sizeof *km);
    if (!km)
        return NULL;
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (!bind(km, defaults[i].ctx, defaults[i].key, defaults[i].act)) {
            keymap_free(&km);
            return NULL;
        }
    return km;
}

void keymap_free(struct keymap **km)
{
    if (!km || !*km)
        return;
    free((*km)->v);
    free(*km);
    *km = NULL;
}

enum ui_action keymap_lookup(const struct keymap *km, enum ui_ctx ctx, int32_t key)
{
    enum ui_action generic = UI_A_NONE;
    for (size_t i = 0; i < km->n; i++) {
        if (km->v[i].key != key)
            continue;
        if (km->v[i].ctx == ctx)
            return km->v[i].act;
        if (km->v[i].ctx == UI_CTX_GENERIC)
            generic = km->v[i].act;
    }
    return generic;
}

int32_t keymap_key_for(const struct keymap *km, enum ui_ctx ctx, enum ui_action a)
{
    /* a generic key still in effect on this screen (the familiar one),
     * else the screen's own; the newest binding first, so a `bind` line
     * shows in the hints */
    for (size_t i = km->n; i-- > 0;)
        if (km->v[i].ctx == UI_CTX_GENERIC && km->v[i].act == a &&
            keymap_lookup(km, ctx, km->v[i].key) == a)
            return km->v[i].key;
    for (size_t i = km->n; i-- > 0;)
        if (km->v[i].ctx == ctx && km->v[i].act == a)
            return km->v[i].key;
    return UI_KEY_NONE;
}

/* ---------------------------------------------------------------- names */

static const struct {
    const char *name;
    int32_t key;
} key_names[] = {
    {"Down", FN(KEY_DOWN)},
    {"Up", FN(KEY_UP)},
    {"Left", FN(KEY_LEFT)},
    {"Right", FN(KEY_RIGHT)},
    {"PageUp", FN(KEY_PPAGE)},
    {"PageDown", FN(KEY_NPAGE)},
    {"Home", FN(KEY_HOME)},
    {"End", FN(KEY_END)},
    {"Insert", FN(KEY_IC)},
    {"Delete", FN(KEY_DC)},
    {"Backspace", FN(KEY_BACKSPACE)},
    {"Enter", '\n'},
    {"Return", '\n'},
    {"Tab", '\t'},
    {"Space", ' '},
    {"Esc", 27},
    {"BackTab", FN(KEY_BTAB)},
};

bool ui_key_parse(const char *s, int32_t *key)
{
    size_t n = strlen(s);
    int32_t meta = 0;
    if (n > 5 && !tern_strncasecmp(s, "<Esc>", 5)) {
        meta = UI_KEY_META;
        s += 5;
        n -= 5;
    } else if (n > 2 && (!strncmp(s, "\\e", 2) || !strncmp(s, "M-", 2))) {
        meta = UI_KEY_META;
        s += 2;
        n -= 2;
    }
    if (n >= 3 && s[0] == '<' && s[n - 1] == '>') {
        for (size_t i = 0; i < sizeof key_names / sizeof key_names[0]; i++)
            if (strlen(key_names[i].name) == n - 2 &&
                !tern_strncasecmp(key_names[i].name, s + 1, n - 2)) {
                *key = meta + key_names[i].key;
                return true;
            }
        /* <F1> .. <F12> */
        uint64_t f;
        if ((s[1] == 'F' || s[1] == 'f') && tern_parse_u64(s + 2, n - 3, 63, &f) && f >= 1) {
            *key = meta + FN(KEY_F((int)f));
            return true;
        }
        return false;
    }
    /* ^X and \Cx: control keys */
    if (n == 2 && s[0] == '^' && s[1] >= '?' && s[1] <= 'z') {
        *key = meta + (s[1] == '?' ? 127 : CTRL(s[1]));
        return true;
    }
    if (n == 3 && s[0] == '\\' && (s[1] == 'C' || s[1] == 'c') && s[2] >= '@' && s[2] <= 'z') {
        *key = meta + CTRL(s[2]);
        return true;
    }
    if (n == 2 && s[0] == '\\') {
        switch (s[1]) {
        case 't':
            *key = meta + '\t';
            return true;
        case 'n':
        case 'r':
            *key = meta + '\n';
            return true;
        case '\\':
            *key = meta + '\\';
            return true;
        default:
            return false;
        }
    }
    /* one character (UTF-8) */
    if (n == 0)
        return false;
    uint32_t cp = 0;
    size_t len;
    /* decode by hand to keep keymap free of core/charset */
    unsigned char c = (unsigned char)s[0];
    if (c < 0x80) {
        cp = c;
        len = 1;
    } else if ((c & 0xe0) == 0xc0 && n >= 2) {
        cp = ((uint32_t)(c & 0x1f) << 6) | (s[1] & 0x3f);
        len = 2;
    } else if ((c & 0xf0) == 0xe0 && n >= 3) {
        cp = ((uint32_t)(c & 0x0f) << 12) | ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
        len = 3;
    } else if ((c & 0xf8) == 0xf0 && n >= 4) {
        cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3f) << 12) |
             ((uint32_t)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
        len = 4;
    } else {
        return false;
    }
    if (len != n || cp < 0x20 || cp == 0x7f || cp > 0x10ffff)
        return false;
    *key = meta + (int32_t)cp;
    return true;
}

void ui_key_name(int32_t key, char *buf, size_t size)
{
    const char *meta = "";
    if (key >= UI_KEY_META) {
        meta = "<Esc>";
        key -= UI_KEY_META;
    }
    for (size_t i = 0; i < sizeof key_names / sizeof key_names[0]; i++)
        if (key_names[i].key == key) {
            tern_snprintf(buf, size, "%s<%s>", meta, key_names[i].name);
            return;
        }
    if (key >= FN(KEY_F(1)) && key <= FN(KEY_F(63))) {
        tern_snprintf(buf, size, "%s<F%d>", meta, key - FN(KEY_F(0)));
        return;
    }
    if (key >= UI_KEY_FN) {
        tern_snprintf(buf, size, "%s<key %d>", meta, key - UI_KEY_FN);
        return;
    }
    if (key < 0x20) {
        tern_snprintf(buf, size, "%s^%c", meta, key + '@');
        return;
    }
    if (key == 127) {
        tern_snprintf(buf, size, "%s^?", meta);
        return;
    }
    char u[5] = {0};
    uint32_t cp = (uint32_t)key;
    if (cp < 0x80) {
        u[0] = (char)cp;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
    }
    tern_snprintf(buf, size, "%s%s", meta, u);
}

/* --------------------------------------------------------------- bind */

static const char *next_word(const char **p, size_t *len)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    const char *start = s;
    while (*s && *s != ' ' && *s != '\t')
        s++;
    *len = (size_t)(s - start);
    *p = s;
    return *len ? start : NULL;
}

bool keymap_bind_line(struct keymap *km, const char *line, char *why, size_t whysize)
{
    const char *p = line;
    size_t clen, klen, alen, xlen;
    const char *ctxs = next_word(&p, &clen);
    const char *keys = next_word(&p, &klen);
    const char *act = next_word(&p, &alen);
    if (!ctxs || !keys || !act || next_word(&p, &xlen)) {
        tern_snprintf(why, whysize, "expected 'CONTEXT KEY ACTION'");
        return false;
    }
    char kbuf[64], abuf[64];
    if (klen >= sizeof kbuf || alen >= sizeof abuf) {
        tern_snprintf(why, whysize, "key or action name too long");
        return false;
    }
    memcpy(kbuf, keys, klen);
    kbuf[klen] = '\0';
    memcpy(abuf, act, alen);
    abuf[alen] = '\0';
    int32_t key;
    if (!ui_key_parse(kbuf, &key)) {
        tern_snprintf(why, whysize, "unknown key '%.40s'", kbuf);
        return false;
    }
    enum ui_action a = action_by_name(abuf);
    if (a == UI_A_NONE) {
        tern_snprintf(why, whysize, "unknown action '%.40s' (see the help screen, '?')", abuf);
        return false;
    }
    /* check every context before binding any */
    enum ui_ctx list[UI_CTX_COUNT];
    size_t nlist = 0;
    for (const char *c = ctxs; c < ctxs + clen;) {
        const char *comma = memchr(c, ',', (size_t)(ctxs + clen - c));
        size_t n = comma ? (size_t)(comma - c) : (size_t)(ctxs + clen - c);
        enum ui_ctx x;
        if (!ctx_by_name(c, n, &x)) {
            tern_snprintf(why, whysize,
                          "unknown context '%.*s' (generic, index, pager, browser, attach)",
                          (int)(n > 40 ? 40 : n), c);
            return false;
        }
        if (nlist < UI_CTX_COUNT)
            list[nlist++] = x;
        c += n + (comma ? 1 : 0);
    }
    for (size_t i = 0; i < nlist; i++)
        if (!bind(km, list[i], key, a)) {
            tern_snprintf(why, whysize, "too many bindings");
            return false;
        }
    return true;
}

/* --------------------------------------------------------------- help */

static enum tern_rc help_line(struct tbuf *out, int32_t key, enum ui_action a)
{
    char name[32];
    ui_key_name(key, name, sizeof name);
    return tbuf_printf(out, "%-12s %-18s %s\n", name, action_name(a), action_help(a));
}

enum tern_rc keymap_help(const struct keymap *km, enum ui_ctx ctx, struct tbuf *out)
{
    enum tern_rc rc = tbuf_printf(out,
                                  "Keys of the %s screen (change them with 'bind' in the "
                                  "config or ':bind'):\n\n",
                                  ctx_name(ctx));
    for (size_t i = 0; !rc && i < km->n; i++)
        if (km->v[i].ctx == ctx && km->v[i].act != UI_A_NOOP)
            rc = help_line(out, km->v[i].key, km->v[i].act);
    if (!rc && ctx != UI_CTX_GENERIC)
        rc = tbuf_puts(out, "\nGeneric keys:\n\n");
    for (size_t i = 0; !rc && ctx != UI_CTX_GENERIC && i < km->n; i++) {
        const struct binding *b = &km->v[i];
        if (b->ctx != UI_CTX_GENERIC || b->act == UI_A_NOOP)
            continue;
        if (keymap_lookup(km, ctx, b->key) != b->act)
            continue; /* overridden in ctx */
        rc = help_line(out, b->key, b->act);
    }
    return rc;
}
