/* Unit tests for the parts of ui/ that need no terminal: key names and
 * `bind` lines, the help text, threading, column-exact text cutting and
 * wrapping, and the folder model over a real index. */
#include "check.h"
#include "core/index/lib.h"
#include "ui/private.h"

#include <curses.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_keys(void)
{
    int32_t k;
    CHECK(ui_key_parse("j", &k) && k == 'j');
    CHECK(ui_key_parse("<Down>", &k) && k == UI_KEY_FN + KEY_DOWN);
    CHECK(ui_key_parse("<pagedown>", &k) && k == UI_KEY_FN + KEY_NPAGE);
    CHECK(ui_key_parse("^L", &k) && k == 12);
    CHECK(ui_key_parse("\\Cl", &k) && k == 12);
    CHECK(ui_key_parse("<Esc>v", &k) && k == UI_KEY_META + 'v');
    CHECK(ui_key_parse("<Enter>", &k) && k == '\n');
    CHECK(ui_key_parse("<Space>", &k) && k == ' ');
    CHECK(ui_key_parse("<F5>", &k) && k == UI_KEY_FN + KEY_F(5));
    CHECK(ui_key_parse("\xc3\xa9", &k) && k == 0xe9); /* é */
    CHECK(!ui_key_parse("", &k));
    CHECK(!ui_key_parse("jj", &k));
    CHECK(!ui_key_parse("<Nope>", &k));
    CHECK(!ui_key_parse("\x1b", &k));
    char name[32];
    ui_key_name(UI_KEY_FN + KEY_UP, name, sizeof name);
    CHECK_STR(name, "<Up>");
    ui_key_name(12, name, sizeof name);
    CHECK_STR(name, "^L");
    ui_key_name(UI_KEY_META + 'V', name, sizeof name);
    CHECK_STR(name, "<Esc>V");
    ui_key_name(0xe9, name, sizeof name);
    CHECK_STR(name, "\xc3\xa9");
}

static void test_keymap(void)
{
    struct keymap *km = keymap_new();
    CHECK(km != NULL);
    if (!km)
        return;
    /* defaults: mutt-like */
    CHECK_INT(keymap_lookup(km, UI_CTX_INDEX, 'j'), UI_A_NEXT);
    CHECK_INT(keymap_lookup(km, UI_CTX_INDEX, 'd'), UI_A_DELETE);
    CHECK_INT(keymap_lookup(km, UI_CTX_INDEX, '$'), UI_A_SYNC);
    CHECK_INT(keymap_lookup(km, UI_CTX_PAGER, UI_KEY_FN + KEY_DOWN), UI_A_NEXT_LINE);
    CHECK_INT(keymap_lookup(km, UI_CTX_INDEX, UI_KEY_FN + KEY_DOWN), UI_A_NEXT);
    CHECK_INT(keymap_lookup(km, UI_CTX_PAGER, 'j'), UI_A_NEXT); /* next message */
    CHECK_INT(keymap_lookup(km, UI_CTX_INDEX, 12), UI_A_REDRAW);
    CHECK_INT(keymap_lookup(km, UI_CTX_INDEX, 'Z'), UI_A_NONE);
    char why[200];
    CHECK(keymap_bind_line(km, "index Z sync-mailbox", why, sizeof why));
    CHECK_INT(keymap_lookup(km, UI_CTX_INDEX, 'Z'), UI_A_SYNC);
    CHECK_INT(keymap_lookup(km, UI_CTX_PAGER, 'Z'), UI_A_NONE);
    CHECK(keymap_bind_line(km, "index,pager  <Esc>x   quit", why, sizeof why));
    CHECK_INT(keymap_lookup(km, UI_CTX_PAGER, UI_KEY_META + 'x'), UI_A_QUIT);
    /* rebinding replaces; noop unbinds */
    CHECK(keymap_bind_line(km, "index j previous-entry", why, sizeof why));
    CHECK_INT(keymap_lookup(km, UI_CTX_INDEX, 'j'), UI_A_PREV);
    CHECK(keymap_bind_line(km, "generic q noop", why, sizeof why));
    CHECK_INT(keymap_lookup(km, UI_CTX_FOLDERS, 'q'), UI_A_NOOP);
    CHECK(!keymap_bind_line(km, "index j", why, sizeof why));
    CHECK(strstr(why, "CONTEXT KEY ACTION") != NULL);
    CHECK(!keymap_bind_line(km, "nowhere j quit", why, sizeof why));
    CHECK(strstr(why, "unknown context") != NULL);
    CHECK(!keymap_bind_line(km, "index <Bogus> quit", why, sizeof why));
    CHECK(strstr(why, "unknown key") != NULL);
    CHECK(!keymap_bind_line(km, "index j fly", why, sizeof why));
    CHECK(strstr(why, "unknown action 'fly'") != NULL);
    CHECK(!keymap_bind_line(km, "index j quit extra", why, sizeof why));
    /* help is generated from the bindings */
    struct tbuf h;
    tbuf_init(&h, 0);
    CHECK(keymap_help(km, UI_CTX_INDEX, &h) == TERN_OK);
    CHECK(h.data && strstr(h.data, "Z            sync-mailbox") != NULL);
    CHECK(h.data && strstr(h.data, "j            previous-entry") != NULL);
    CHECK(h.data && strstr(h.data, "^L           redraw-screen") != NULL);
    /* the generic 'q' is now noop and hidden from help */
    CHECK(h.data && !strstr(h.data, "\nq "));
    tbuf_free(&h);
    CHECK(keymap_key_for(km, UI_CTX_INDEX, UI_A_SYNC) == '$'); /* the generic key first */
    CHECK(keymap_key_for(km, UI_CTX_INDEX, UI_A_LIMIT) == 'l');
    CHECK(keymap_key_for(km, UI_CTX_PAGER, UI_A_SYNC) == '$');
    keymap_free(&km);
    CHECK(km == NULL);
    keymap_free(&km);
}

static void test_threads(void)
{
    /* 0 root, 1 reply to 0, 2 reply to 1 whose In-Reply-To is missing but
     * References reach 0, 3 a loop with 4, 5 a duplicate id of 0, 6 with
     * brackets and spaces in its ids */
    struct ui_thread_in in[] = {
        {"a@x", NULL, NULL},
        {"b@x", "a@x", "a@x"},
        {"c@x", "gone@x", "a@x gone@x"},
        {"d@x", "e@x", NULL},
        {"e@x", "d@x", NULL},
        {"a@x", NULL, NULL},
        {"f@x", NULL, " <b@x>  <nothing@x> "},
        {NULL, "a@x", NULL},
        {"self@x", "self@x", "self@x"},
    };
    size_t n = sizeof in / sizeof in[0];
    uint32_t p[9];
    CHECK(ui_thread_parents(in, n, p) == TERN_OK);
    CHECK_INT(p[0], UI_NONE);
    CHECK_INT(p[1], 0);
    CHECK_INT(p[2], 0);
    /* the loop is cut: exactly one of the two is a root */
    CHECK((p[3] == UI_NONE) != (p[4] == UI_NONE));
    CHECK(p[3] == 4 || p[4] == 3);
    CHECK_INT(p[5], UI_NONE);
    CHECK_INT(p[6], 1);
    CHECK_INT(p[7], 0);
    CHECK_INT(p[8], UI_NONE);
    CHECK(ui_thread_parents(in, 0, p) == TERN_OK);
}

static void test_text(void)
{
    wchar_t w[64];
    int cols;
    /* CJK: two columns each; cut on a character boundary */
    const char *cjk = "\xe4\xb8\xad\xe6\x96\x87\xe5\xad\x97"; /* 中文字 */
    size_t k = ui_wtext(cjk, strlen(cjk), 5, false, w, 64, &cols);
    CHECK_INT(k, 2);
    CHECK_INT(cols, 4);
    k = ui_wtext(cjk, strlen(cjk), 5, true, w, 64, &cols);
    CHECK_INT(cols, 5); /* 中 + … would be 3; 中文 + … is 5 */
    CHECK(k == 3 && w[2] == 0x2026);
    /* combining marks take no column and stay with their letter */
    const char *comb = "e\xcc\x81te\xcc\x81"; /* été with combining acute */
    k = ui_wtext(comb, strlen(comb), 10, false, w, 64, &cols);
    CHECK_INT(cols, 3);
    CHECK_INT(k, 5);
    CHECK_INT(ui_wcols(w, k), 3);
    /* escape sequences and controls never come through */
    const char *evil = "a\x1b]0;pwned\x07"
                       "b\x1b[31mc\x9b"
                       "d\r\n";
    k = ui_wtext(evil, strlen(evil), 40, false, w, 64, &cols);
    bool clean = true;
    for (size_t i = 0; i < k; i++)
        if (w[i] < 0x20 || w[i] == 0x1b || (w[i] >= 0x7f && w[i] < 0xa0))
            clean = false;
    CHECK(clean);
    CHECK(k >= 4 && w[0] == 'a');
    /* the whole string fits: no ellipsis */
    k = ui_wtext("hello", 5, 5, true, w, 64, &cols);
    CHECK(k == 5 && cols == 5 && w[4] == 'o');
    k = ui_wtext("hello!", 6, 5, true, w, 64, &cols);
    CHECK(k == 5 && cols == 5 && w[4] == 0x2026);
    /* ASCII-only terminals get '?' */
    ui_text_set_ascii(true);
    k = ui_wtext(cjk, strlen(cjk), 10, false, w, 64, &cols);
    CHECK(k == 3 && w[0] == '?' && cols == 3);
    ui_text_set_ascii(false);
    CHECK(ui_contains("Hello World", "wORLD"));
    CHECK(!ui_contains("Hello", "xyz"));
    CHECK(ui_contains(NULL, ""));
}

struct pieces {
    char got[16][64];
    size_t n;
    const char *src;
};

static int piece(void *arg, size_t off, size_t len)
{
    struct pieces *p = arg;
    if (p->n < 16)
        tern_snprintf(p->got[p->n++], 64, "%.*s", (int)len, p->src + off);
    return 0;
}

static void test_wrap(void)
{
    struct pieces p = {.src = "the quick brown fox jumps"};
    ui_wrap_line(p.src, strlen(p.src), 10, piece, &p);
    CHECK_INT(p.n, 3);
    CHECK_STR(p.got[0], "the quick ");
    CHECK_STR(p.got[1], "brown fox ");
    CHECK_STR(p.got[2], "jumps");
    /* a word longer than the width is cut */
    struct pieces q = {.src = "https://example.org/a/very/long/path"};
    ui_wrap_line(q.src, strlen(q.src), 10, piece, &q);
    CHECK_INT(q.n, 4);
    CHECK_STR(q.got[0], "https://ex");
    /* double-width characters are never split and never overflow */
    struct pieces c = {.src = "\xe4\xb8\xad\xe6\x96\x87\xe5\xad\x97"};
    ui_wrap_line(c.src, strlen(c.src), 3, piece, &c);
    CHECK_INT(c.n, 3);
    struct pieces e = {.src = ""};
    ui_wrap_line(e.src, 0, 10, piece, &e);
    CHECK_INT(e.n, 1);
    struct tbuf t;
    tbuf_init(&t, 0);
    CHECK(ui_expand_tabs("a\tb", 3, &t) == TERN_OK);
    CHECK_STR(t.data, "a       b");
    tbuf_free(&t);
}

static int64_t add(struct index *ix, int64_t fid, uint32_t uid, int64_t date, const char *subject,
                   const char *from, const char *id, const char *irt, unsigned flags)
{
    struct index_msg m;
    index_msg_init(&m);
    m.folder_id = fid;
    m.uid = uid;
    m.date = date;
    m.flags = flags;
    m.subject = (char *)subject;
    m.from_name = (char *)from;
    m.message_id = (char *)id;
    m.in_reply_to = (char *)irt;
    m.references = (char *)irt;
    struct tern_err err = {0};
    CHECK(index_msg_insert(ix, &m, &err) == TERN_OK);
    return m.id;
}

static void test_model(void)
{
    char dir[] = "/tmp/tern-test-ui-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128];
    tern_snprintf(path, sizeof path, "%s/index.sqlite", dir);
    struct index *ix = NULL;
    struct tern_err err = {0};
    CHECK(index_open(path, 0, &ix, &err) == TERN_OK);
    if (!ix)
        return;
    int64_t inbox = 0, other = 0;
    CHECK(index_folder_get_or_create(ix, "INBOX", NULL, &inbox, &err) == TERN_OK);
    CHECK(index_folder_get_or_create(ix, "Other", NULL, &other, &err) == TERN_OK);
    add(ix, inbox, 1, 1000, "Plans", "Alice", "p1@x", NULL, INDEX_FLAG_SEEN);
    add(ix, inbox, 2, 3000, "Re: Plans", "Bob", "p2@x", "p1@x", 0);
    add(ix, inbox, 3, 2000, "Lunch", "Carol", "l1@x", NULL, INDEX_FLAG_FLAGGED | INDEX_FLAG_SEEN);
    add(ix, inbox, 4, 4000, "Re: Re: Plans", "Alice", "p3@x", "p2@x", INDEX_FLAG_SEEN);
    add(ix, other, 1, 5000, "Elsewhere", "Dan", "o1@x", NULL, 0);

    struct ui_model m;
    model_init(&m);
    CHECK(model_load(&m, ix, inbox, 0, &err) == TERN_OK);
    CHECK(m.complete);
    CHECK_INT(m.nview, 4);
    CHECK_INT(m.total, 4);
    CHECK_INT(m.unread, 1);
    CHECK_INT(m.flagged, 1);
    /* flat, newest first */
    CHECK_STR(model_at(&m, 0)->subject, "Re: Re: Plans");
    CHECK_STR(model_at(&m, 3)->subject, "Plans");
    /* first page only */
    CHECK(model_load(&m, ix, inbox, 2, &err) == TERN_OK);
    CHECK(!m.complete);
    CHECK_INT(m.nview, 2);
    CHECK(model_load(&m, ix, inbox, 0, &err) == TERN_OK);
    /* sort by sender, then reversed */
    m.sort = UI_SORT_FROM;
    model_build(&m);
    CHECK_STR(model_at(&m, 0)->from, "Alice");
    CHECK_STR(model_at(&m, 3)->from, "Carol");
    m.reverse = true;
    model_build(&m);
    CHECK_STR(model_at(&m, 0)->from, "Carol");
    m.reverse = false;
    m.sort = UI_SORT_SUBJECT; /* "Re:" is ignored */
    model_build(&m);
    CHECK_STR(model_at(&m, 0)->subject, "Lunch");
    m.sort = UI_SORT_DATE;
    /* threads: the Plans thread (newest 4000) first, children in order */
    m.threads = true;
    model_build(&m);
    CHECK_INT(m.nview, 4);
    CHECK_STR(model_at(&m, 0)->subject, "Plans");
    CHECK_INT(model_at(&m, 0)->depth, 0);
    CHECK_STR(model_at(&m, 1)->subject, "Re: Plans");
    CHECK_INT(model_at(&m, 1)->depth, 1);
    CHECK_STR(model_at(&m, 2)->subject, "Re: Re: Plans");
    CHECK_INT(model_at(&m, 2)->depth, 2);
    CHECK_STR(model_at(&m, 3)->subject, "Lunch");
    CHECK_INT(model_at(&m, 0)->ndesc, 2);
    /* collapse from a child: the root stays, its replies hide */
    size_t at = model_toggle_collapse(&m, 2);
    CHECK_INT(at, 0);
    CHECK_INT(m.nview, 2);
    CHECK_STR(model_at(&m, 1)->subject, "Lunch");
    model_toggle_collapse(&m, 0);
    CHECK_INT(m.nview, 4);
    model_collapse_all(&m, true);
    CHECK_INT(m.nview, 2);
    model_collapse_all(&m, false);
    /* search and limit */
    CHECK_INT(model_search(&m, 0, 1, "lunch"), 3);
    CHECK_INT(model_search(&m, 0, 1, "carol"), 3);
    CHECK_INT(model_search(&m, 0, 1, "nobody"), SIZE_MAX);
    m.limit = tern_strdup("plans");
    model_build(&m);
    CHECK_INT(m.nview, 3);
    free(m.limit);
    m.limit = NULL;
    model_build(&m);
    CHECK_INT(m.nview, 4);
    /* a moved message is gone from the view */
    model_at(&m, 3)->gone = true;
    model_build(&m);
    CHECK_INT(m.nview, 3);
    CHECK_INT(m.total, 3);
    size_t f = model_find(&m, model_at(&m, 1)->id);
    CHECK_INT(f, 1);
    model_free(&m);
    /* every folder */
    model_init(&m);
    CHECK(model_load(&m, ix, 0, 0, &err) == TERN_OK);
    CHECK_INT(m.nview, 5);
    model_free(&m);
    model_free(&m);
    index_close(&ix);
    unlink(path);
    char wal[160];
    tern_snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    tern_snprintf(wal, sizeof wal, "%s-shm", path);
    unlink(wal);
    rmdir(dir);
}

int main(void)
{
    /* widths need a UTF-8 locale */
    if (!setlocale(LC_CTYPE, "C.UTF-8"))
        setlocale(LC_CTYPE, "en_US.UTF-8");
    test_keys();
    test_keymap();
    test_threads();
    test_text();
    test_wrap();
    test_model();
    return check_done("ui");
}
