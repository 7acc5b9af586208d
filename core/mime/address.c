/* Address lists: a single left-to-right scan that collects, per mailbox, the
 * display phrase, the bare addr-spec text, the first angle address and the
 * last comment, and emits a (name, address) pair at each top-level ',' or
 * ';'. Nothing backtracks, so the cost is linear in the header. */
#include "private.h"

#include <stdlib.h>
#include <string.h>

#define MAX_COMMENT_DEPTH 32

struct mbox_state {
    struct tbuf phrase;  /* words of the display name, single-spaced */
    struct tbuf bare;    /* the addr-spec when there are no angle brackets */
    struct tbuf angle;   /* inside <...> */
    struct tbuf comment; /* the last comment */
    bool have_angle;
    bool space;          /* whitespace seen since the last word */
    bool bare_special;   /* last thing added to bare was '.' or '@' */
};

static bool is_special(char c)
{
    return c == '(' || c == ')' || c == '<' || c == '>' || c == '@' || c == ',' || c == ';' ||
           c == ':' || c == '\\' || c == '"' || c == '.' || c == '[' || c == ']';
}

static void state_reset(struct mbox_state *st)
{
    tbuf_reset(&st->phrase);
    tbuf_reset(&st->bare);
    tbuf_reset(&st->angle);
    tbuf_reset(&st->comment);
    st->have_angle = false;
    st->space = false;
    st->bare_special = true;
}

/* Add one word (atom, quoted string, or '.'/'@') to phrase and bare. In
 * the bare form a quoted local part keeps its quotes, and whitespace around
 * '.' and '@' is obsolete folding noise ("john . doe @ host") while
 * between two words it is kept. */
static enum tern_rc add_word(struct mbox_state *st, const char *w, size_t n, bool special,
                             bool quoted)
{
    enum tern_rc rc = TERN_OK;
    if (st->space && st->phrase.len)
        rc = tbuf_putc(&st->phrase, ' ');
    if (!rc)
        rc = tbuf_append(&st->phrase, w, n);
    if (!rc && st->space && st->bare.len && !special && !st->bare_special)
        rc = tbuf_putc(&st->bare, ' ');
    if (!rc && quoted)
        rc = tbuf_putc(&st->bare, '"');
    if (!rc)
        rc = tbuf_append(&st->bare, w, n);
    if (!rc && quoted)
        rc = tbuf_putc(&st->bare, '"');
    st->bare_special = special;
    st->space = false;
    return rc;
}

/* Scan a comment starting at s[*i] == '(' into dst (unescaped, nested
 * parentheses kept as text). */
static enum tern_rc scan_comment(const char *s, size_t n, size_t *i, struct tbuf *dst)
{
    int depth = 0;
    tbuf_reset(dst);
    enum tern_rc rc = TERN_OK;
    for (; *i < n && !rc; (*i)++) {
        char c = s[*i];
        if (c == '\\' && *i + 1 < n) {
            (*i)++;
            rc = tbuf_putc(dst, s[*i]);
        } else if (c == '(') {
            if (depth++ > 0 && depth < MAX_COMMENT_DEPTH)
                rc = tbuf_putc(dst, c);
        } else if (c == ')') {
            if (--depth == 0) {
                (*i)++;
                break;
            }
            rc = tbuf_putc(dst, c);
        } else {
            rc = tbuf_putc(dst, c == '\r' || c == '\n' ? ' ' : c);
        }
    }
    return rc ? rc : tbuf_append(dst, "", 0);
}

/* Scan a quoted string at s[*i] == '"' (to the closing quote or the end). */
static enum tern_rc scan_quoted(const char *s, size_t n, size_t *i, struct tbuf *dst)
{
    enum tern_rc rc = TERN_OK;
    for ((*i)++; *i < n && !rc; (*i)++) {
        char c = s[*i];
        if (c == '\\' && *i + 1 < n) {
            (*i)++;
            rc = tbuf_putc(dst, s[*i]);
        } else if (c == '"') {
            (*i)++;
            break;
        } else if (c != '\r' && c != '\n') {
            rc = tbuf_putc(dst, c);
        }
    }
    return rc;
}

/* Scan <...> at s[*i] == '<': keeps the text without whitespace and
 * comments, quoted local parts with their quotes. */
static enum tern_rc scan_angle(const char *s, size_t n, size_t *i, struct tbuf *dst)
{
    enum tern_rc rc = TERN_OK;
    struct tbuf junk;
    tbuf_init(&junk, 0);
    for ((*i)++; *i < n && !rc; (*i)++) {
        char c = s[*i];
        if (c == '>') {
            (*i)++;
            break;
        } else if (c == '(') {
            rc = scan_comment(s, n, i, &junk);
            (*i)--;
        } else if (c == '"') {
            struct tbuf q;
            tbuf_init(&q, 0);
            rc = scan_quoted(s, n, i, &q);
            if (!rc)
                rc = tbuf_putc(dst, '"');
            if (!rc)
                rc = tbuf_append(dst, q.data ? q.data : "", q.len);
            if (!rc)
                rc = tbuf_putc(dst, '"');
            tbuf_free(&q);
            (*i)--;
        } else if (!mime_is_space(c)) {
            rc = tbuf_putc(dst, c);
        }
    }
    tbuf_free(&junk);
    return rc;
}

static enum tern_rc emit(struct mbox_state *st, struct mime_addr_list *out, size_t *cap)
{
    const char *addr;
    size_t alen;
    const char *name;
    size_t nlen;
    if (st->have_angle) {
        addr = st->angle.data ? st->angle.data : "";
        alen = st->angle.len;
        /* Obsolete route: <@relay1,@relay2:user@host>. */
        if (alen && addr[0] == '@') {
            const char *colon = memchr(addr, ':', alen);
            if (colon) {
                alen -= (size_t)(colon + 1 - addr);
                addr = colon + 1;
            }
        }
        name = st->phrase.len ? st->phrase.data : st->comment.data;
        nlen = st->phrase.len ? st->phrase.len : st->comment.len;
    } else {
        addr = st->bare.data ? st->bare.data : "";
        alen = st->bare.len;
        name = st->comment.data;
        nlen = st->comment.len;
    }
    if (!name)
        name = "", nlen = 0;
    if (alen == 0 && nlen == 0)
        return TERN_OK;
    if (alen == 0 && !st->have_angle) {
        /* A lone comment is not a mailbox. */
        return TERN_OK;
    }
    if (out->n >= MIME_MAX_ADDRESSES)
        return TERN_OK;
    if (out->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        struct mime_addr *v = realloc(out->v, ncap * sizeof *v);
        if (!v)
            return TERN_ENOMEM;
        out->v = v;
        *cap = ncap;
    }
    char *dn = mime_decode_text(name, nlen);
    struct tbuf a;
    tbuf_init(&a, 0);
    char *ad = NULL;
    if (tbuf_append(&a, addr, alen) == TERN_OK)
        ad = mime_take_str(&a);
    tbuf_free(&a);
    if (!dn || !ad) {
        free(dn);
        free(ad);
        return TERN_ENOMEM;
    }
    out->v[out->n++] = (struct mime_addr){dn, ad};
    return TERN_OK;
}

enum tern_rc mime_parse_addresses(const char *s, size_t n, struct mime_addr_list *out)
{
    struct mbox_state st;
    tbuf_init(&st.phrase, 0);
    tbuf_init(&st.bare, 0);
    tbuf_init(&st.angle, 0);
    tbuf_init(&st.comment, 0);
    state_reset(&st);
    size_t cap = out->n; /* grow from what is there */
    bool in_group = false;
    enum tern_rc rc = TERN_OK;
    size_t i = 0;
    while (i < n && !rc && out->n < MIME_MAX_ADDRESSES) {
        char c = s[i];
        if (mime_is_space(c)) {
            st.space = true;
            i++;
        } else if (c == '(') {
            rc = scan_comment(s, n, &i, &st.comment);
            st.space = true;
        } else if (c == '"') {
            struct tbuf q;
            tbuf_init(&q, 0);
            rc = scan_quoted(s, n, &i, &q);
            if (!rc)
                rc = add_word(&st, q.data ? q.data : "", q.len, false, true);
            tbuf_free(&q);
        } else if (c == '<') {
            if (!st.have_angle) {
                rc = scan_angle(s, n, &i, &st.angle);
                st.have_angle = true;
            } else {
                struct tbuf junk;
                tbuf_init(&junk, 0);
                rc = scan_angle(s, n, &i, &junk);
                tbuf_free(&junk);
            }
            st.space = true;
        } else if (c == ',') {
            rc = emit(&st, out, &cap);
            state_reset(&st);
            i++;
        } else if (c == ';') {
            rc = emit(&st, out, &cap);
            state_reset(&st);
            in_group = false;
            i++;
        } else if (c == ':' && !in_group && !st.have_angle) {
            /* Group start: the phrase so far is the group's name. */
            state_reset(&st);
            in_group = true;
            i++;
        } else if (c == '.' || c == '@' || c == ':') {
            rc = add_word(&st, &s[i], 1, true, false);
            i++;
        } else if (c == '[') {
            /* domain literal: up to ']' */
            size_t a = i;
            while (i < n && s[i] != ']')
                i++;
            if (i < n)
                i++;
            rc = add_word(&st, s + a, i - a, false, false);
        } else {
            size_t a = i;
            while (i < n && !mime_is_space(s[i]) && !is_special(s[i]))
                i++;
            if (i == a) /* a stray '>' ')' ']' '\\' */
                i++;
            rc = add_word(&st, s + a, i - a, false, false);
        }
    }
    if (!rc)
        rc = emit(&st, out, &cap);
    tbuf_free(&st.phrase);
    tbuf_free(&st.bare);
    tbuf_free(&st.angle);
    tbuf_free(&st.comment);
    return rc;
}

void mime_addr_list_free(struct mime_addr_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].address);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}
