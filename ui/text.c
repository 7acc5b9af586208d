/* Untrusted UTF-8 to safe wide text cut to terminal columns; wrapping. */
#include "core/charset/lib.h"
#include "ui/private.h"

#include <string.h>

static bool ascii_only;

void ui_text_set_ascii(bool a)
{
    ascii_only = a;
}

bool ui_text_ascii(void)
{
    return ascii_only;
}

int ui_cp_cols(uint32_t cp)
{
    if (ascii_only)
        return 1;
    int w = wcwidth((wchar_t)cp);
    return w < 0 ? 1 : w;
}

int ui_wcols(const wchar_t *w, size_t n)
{
    int cols = 0;
    for (size_t i = 0; i < n; i++)
        cols += ui_cp_cols((uint32_t)w[i]);
    return cols;
}

/* One code point as it will be drawn: safe_text has removed controls, but
 * a code point the C library cannot print (unassigned, or non-ASCII in a
 * non-UTF-8 locale) is replaced so curses never sees it. */
static wchar_t shown(uint32_t cp)
{
    if (ascii_only)
        return cp >= 0x20 && cp < 0x7f ? (wchar_t)cp : L'?';
    if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
        return 0xfffd;
    if (wcwidth((wchar_t)cp) < 0)
        return 0xfffd;
    return (wchar_t)cp;
}

size_t ui_wtext(const char *s, size_t n, int maxcols, bool ellipsis, wchar_t *out, size_t outcap,
                int *cols)
{
    *cols = 0;
    if (!outcap)
        return 0;
    out[0] = 0;
    if (!s || maxcols <= 0)
        return 0;
    /* Only what can fit is made safe: a column holds at least one byte of
     * printable text, but a long escape sequence takes many bytes for one
     * placeholder, so look a little further than maxcols characters. */
    struct tbuf safe;
    tbuf_init(&safe, 0);
    size_t look = n;
    size_t want = (size_t)maxcols * 4 + SAFE_SEQ_MAX + 8;
    if (look > want) {
        look = want;
        /* do not cut a UTF-8 sequence in the middle */
        while (look > 0 && ((unsigned char)s[look] & 0xc0) == 0x80)
            look--;
    }
    if (safe_text(s, look, SAFE_TAB_AS_SPACE, &safe) || !safe.data) {
        tbuf_free(&safe);
        return 0;
    }
    size_t k = 0;
    int used = 0;
    bool cut = false;
    for (size_t i = 0; i < safe.len;) {
        uint32_t cp;
        i += utf8_decode(safe.data + i, safe.len - i, &cp);
        wchar_t wc = shown(cp);
        int w = ui_cp_cols((uint32_t)wc);
        if (w == 0 && k == 0)
            continue; /* a combining mark with nothing to combine with */
        if (used + w > maxcols || k + 1 >= outcap) {
            cut = true;
            break;
        }
        out[k++] = wc;
        used += w;
    }
    if (!cut && look < n)
        cut = true;
    if (cut && ellipsis && k > 0) {
        /* make room for one column (marks go before their base) */
        while (k > 0 && used + 1 > maxcols)
            used -= ui_cp_cols((uint32_t)out[--k]);
        if (used + 1 <= maxcols && k + 1 < outcap) {
            out[k++] = ascii_only ? L'.' : 0x2026;
            used++;
        }
    }
    out[k] = 0;
    *cols = used;
    tbuf_free(&safe);
    return k;
}

enum tern_rc ui_expand_tabs(const char *s, size_t n, struct tbuf *out)
{
    size_t col = 0;
    enum tern_rc rc = TERN_OK;
    for (size_t i = 0; i < n && !rc;) {
        if (s[i] == '\t') {
            size_t to = (col / 8 + 1) * 8;
            while (col < to && !rc) {
                rc = tbuf_putc(out, ' ');
                col++;
            }
            i++;
            continue;
        }
        uint32_t cp;
        size_t len = utf8_decode(s + i, n - i, &cp);
        rc = tbuf_append(out, s + i, len);
        col += (size_t)ui_cp_cols(cp);
        i += len;
    }
    return rc;
}

void ui_wrap_line(const char *s, size_t n, int width, ui_wrap_fn *fn, void *arg)
{
    if (width < 1)
        width = 1;
    if (n == 0) {
        fn(arg, 0, 0);
        return;
    }
    size_t start = 0;
    while (start < n) {
        int used = 0;
        size_t i = start, last_space = 0;
        bool have_space = false;
        while (i < n) {
            uint32_t cp;
            size_t len = utf8_decode(s + i, n - i, &cp);
            int w = ui_cp_cols(cp);
            if (used + w > width && i > start)
                break;
            used += w;
            i += len;
            if (cp == ' ') {
                last_space = i;
                have_space = true;
            }
        }
        size_t end = i;
        /* break after the last space when the line goes on and the
         * word would be cut, unless that leaves almost nothing */
        if (end < n && s[end] != ' ' && have_space && last_space > start + 1)
            end = last_space;
        if (fn(arg, start, end - start))
            return;
        start = end;
    }
}

bool ui_contains(const char *hay, const char *needle)
{
    if (!needle || !*needle)
        return true;
    if (!hay)
        return false;
    size_t nl = strlen(needle);
    for (const char *h = hay; *h; h++)
        if (!tern_strncasecmp(h, needle, nl))
            return true;
    return false;
}
