/* RFC 2047 encoded words: =?charset[*lang]?B|Q?text?= in header text. */
#include "private.h"

#include "core/charset/lib.h"

/* A charset token longer than this is not one: the word is text. */
#define EW_CHARSET_MAX 64
/* RFC 2047 2: an encoded word is at most 75 characters, and a line holding
 * one at most 76. */
#define EW_WORD_MAX 75
#define EW_LINE_MAX 76
#define EW_PREFIX "=?UTF-8?"
#define EW_OVERHEAD 12 /* "=?UTF-8?Q?" + "?=" */

struct ew {
    const char *cs; /* charset, with any *lang */
    size_t cs_len;
    char enc; /* 'B' or 'Q' */
    const char *text;
    size_t text_len;
    size_t end; /* index just past "?=" */
};

static bool is_lwsp(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Parse an encoded word at in[i] (which holds "=?"). *no_end_before
 * remembers where an earlier scan of encoded text failed: a later word
 * whose text starts before that point fails there too, which keeps a
 * header full of unfinished "=?" linear. */
static bool parse_ew(const char *in, size_t n, size_t i, size_t *no_end_before, struct ew *w)
{
    size_t j = i + 2, cs = j;
    while (j < n && in[j] != '?') {
        unsigned char c = (unsigned char)in[j];
        if (c <= 0x20 || c >= 0x7F || j - cs >= EW_CHARSET_MAX)
            return false;
        j++;
    }
    if (j == cs || j + 2 >= n || in[j + 2] != '?')
        return false;
    char enc = in[j + 1];
    if (enc == 'b' || enc == 'q')
        enc = (char)(enc - 32);
    if (enc != 'B' && enc != 'Q')
        return false;
    size_t t = j + 3;
    if (t < *no_end_before)
        return false;
    /* The text runs to the first "?", which must start "?=". Raw 8-bit
     * inside is tolerated (some mailers do that); blanks and controls are
     * not. */
    for (size_t k = t; k < n; k++) {
        unsigned char c = (unsigned char)in[k];
        if (c == '?') {
            if (k + 1 >= n || in[k + 1] != '=') {
                *no_end_before = k;
                return false;
            }
            w->cs = in + cs;
            w->cs_len = j - cs;
            w->enc = enc;
            w->text = in + t;
            w->text_len = k - t;
            w->end = k + 2;
            return true;
        }
        if (c <= 0x20 || c == 0x7F) {
            *no_end_before = k;
            return false;
        }
    }
    *no_end_before = n;
    return false;
}

static bool all_lwsp(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_lwsp((unsigned char)s[i]))
            return false;
    return true;
}

static bool has_8bit(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return true;
    return false;
}

/* Adjacent words join their bytes before conversion when their charsets
 * are the same charset (so a UTF-8 sequence split across two words
 * survives); "utf-8" and "UTF8*en" are the same. */
static bool same_charset(const char *a, const char *b)
{
    const char *ca = charset_canonical(a), *cb = charset_canonical(b);
    if (ca || cb)
        return ca && cb && strcmp(ca, cb) == 0;
    size_t la = strcspn(a, "*"), lb = strcspn(b, "*");
    return la == lb && tern_strncasecmp(a, b, la) == 0;
}

/* Text outside encoded words: RFC 6532 allows raw UTF-8; anything else
 * 8-bit is guessed (windows-1252). */
static enum tern_rc put_raw(struct charset_cache *cc, const char *s, size_t n, struct tbuf *out)
{
    if (!has_8bit(s, n))
        return tbuf_append(out, s, n);
    return charset_to_utf8_cached(cc, NULL, s, n, out);
}

struct pending {
    struct tbuf bytes; /* decoded bytes of adjacent words in one charset */
    char cs[EW_CHARSET_MAX + 1];
    bool have;
};

static enum tern_rc flush(struct charset_cache *cc, struct pending *p, struct tbuf *out)
{
    if (!p->have)
        return TERN_OK;
    p->have = false;
    enum tern_rc rc = charset_to_utf8_cached(cc, p->cs, p->bytes.data, p->bytes.len, out);
    tbuf_reset(&p->bytes);
    return rc;
}

enum tern_rc rfc2047_decode_cached(struct charset_cache *cc, const char *in, size_t n,
                                   struct tbuf *out)
{
    if (!in) {
        in = "";
        n = 0;
    }
    /* Most subjects and names are plain ASCII: no words, no conversion. */
    if (!has_8bit(in, n) && (n < 2 || !memmem(in, n, "=?", 2)))
        return tbuf_append(out, in, n);

    struct pending p = {.have = false};
    enum tern_rc rc = TERN_OK;
    size_t raw = 0, i = 0, no_end_before = 0;
    tbuf_init(&p.bytes, n + 16); /* decoded words are never longer than in */
    while (rc == TERN_OK && i + 1 < n) {
        const char *eq = memchr(in + i, '=', n - i - 1);
        if (!eq)
            break;
        i = (size_t)(eq - in);
        struct ew w;
        if (in[i + 1] != '?' || !parse_ew(in, n, i, &no_end_before, &w)) {
            i++;
            continue;
        }
        /* Whitespace between two encoded words is not text (RFC 2047 6.2). */
        if (!(p.have && all_lwsp(in + raw, i - raw))) {
            rc = flush(cc, &p, out);
            if (rc == TERN_OK)
                rc = put_raw(cc, in + raw, i - raw, out);
        }
        char cs[EW_CHARSET_MAX + 1];
        memcpy(cs, w.cs, w.cs_len);
        cs[w.cs_len] = '\0';
        if (rc == TERN_OK && p.have && !same_charset(p.cs, cs))
            rc = flush(cc, &p, out);
        if (rc == TERN_OK) {
            memcpy(p.cs, cs, w.cs_len + 1);
            p.have = true;
            if (w.enc == 'B')
                rc = base64_decode(w.text, w.text_len, &p.bytes);
            else
                rc = cd_q_decode(w.text, w.text_len, &p.bytes);
        }
        i = w.end;
        raw = i;
    }
    if (rc == TERN_OK)
        rc = flush(cc, &p, out);
    if (rc == TERN_OK)
        rc = put_raw(cc, in + raw, n - raw, out);
    tbuf_free(&p.bytes);
    return rc;
}

enum tern_rc rfc2047_decode(const char *in, size_t n, struct tbuf *out)
{
    return rfc2047_decode_cached(NULL, in, n, out);
}

/* ---- encoding ---- */

/* Characters that stand for themselves in a Q word anywhere in a header
 * (RFC 2047 5 rule 3, the strictest context). */
static bool q_literal(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '!' ||
           c == '*' || c == '+' || c == '-' || c == '/';
}

struct ew_writer {
    struct tbuf *out;
    enum tern_rc rc;
    size_t col;    /* columns on the current output line */
    bool need_sep; /* a blank goes before the next word */
    bool b;        /* B rather than Q */
    size_t max;    /* encoded-text chars allowed in the current word */
    char text[EW_WORD_MAX];
    size_t tlen; /* Q: encoded text so far */
    unsigned char raw[EW_WORD_MAX];
    size_t rlen; /* B: bytes so far */
};

static void put(struct ew_writer *w, const char *s, size_t n)
{
    if (w->rc == TERN_OK)
        w->rc = tbuf_append(w->out, s, n);
}

/* A separator blank: folded onto a new line when what follows (len
 * columns) would not fit on this one. */
static void put_sep(struct ew_writer *w, size_t len)
{
    if (w->col + 1 + len > EW_LINE_MAX) {
        put(w, "\r\n ", 3);
        w->col = 1;
    } else {
        put(w, " ", 1);
        w->col++;
    }
}

static size_t b_len(size_t bytes)
{
    return (bytes + 2) / 3 * 4;
}

/* Encoded-text room for a word started now, given what is on the line;
 * 0 when less than a useful piece fits and the word should start on a
 * new line. */
static size_t room(const struct ew_writer *w)
{
    size_t left = w->col + (w->need_sep ? 1 : 0) + EW_OVERHEAD;
    size_t r = left < EW_LINE_MAX ? EW_LINE_MAX - left : 0;
    if (r > EW_WORD_MAX - EW_OVERHEAD)
        r = EW_WORD_MAX - EW_OVERHEAD;
    if (r < 16)
        r = 0;
    return w->b ? r / 4 * 4 : r;
}

/* No room on this line: the next word goes on a new one. With a
 * separator pending, put_sep folds there; at the very start of the value
 * the fold comes first, so the value unfolds with one leading blank that
 * was not in the input (the input then has none: leading blanks are never
 * encoded, so they give a separator to fold at). */
static void new_line(struct ew_writer *w)
{
    if (!w->need_sep && w->col > 0) {
        put(w, "\r\n ", 3);
        w->col = 1;
        w->max = room(w);
        return;
    }
    w->max = (EW_WORD_MAX - EW_OVERHEAD) / (w->b ? 4 : 1) * (w->b ? 4 : 1);
}

static void close_word(struct ew_writer *w)
{
    size_t tl = w->b ? b_len(w->rlen) : w->tlen;
    if (tl == 0)
        return;
    if (w->need_sep)
        put_sep(w, tl + EW_OVERHEAD);
    put(w, w->b ? EW_PREFIX "B?" : EW_PREFIX "Q?", 10);
    if (w->b)
        w->rc = w->rc ? w->rc : base64_encode(w->raw, w->rlen, 0, w->out);
    else
        put(w, w->text, w->tlen);
    put(w, "?=", 2);
    w->col += tl + EW_OVERHEAD;
    w->need_sep = true;
    w->tlen = 0;
    w->rlen = 0;
    w->max = room(w);
}

/* Add one character (its UTF-8 bytes, or one invalid byte) to the current
 * word, starting a new word first when it would not fit: a character is
 * never split across words. */
static void add_char(struct ew_writer *w, const unsigned char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    if (w->b) {
        if (b_len(w->rlen + len) > w->max && w->rlen)
            close_word(w);
        if (b_len(w->rlen + len) > w->max)
            new_line(w);
        memcpy(w->raw + w->rlen, s, len);
        w->rlen += len;
        return;
    }
    char q[12];
    size_t ql = 0;
    for (size_t k = 0; k < len; k++) {
        if (s[k] == ' ') {
            q[ql++] = '_';
        } else if (q_literal(s[k])) {
            q[ql++] = (char)s[k];
        } else {
            q[ql++] = '=';
            q[ql++] = hex[s[k] >> 4];
            q[ql++] = hex[s[k] & 15];
        }
    }
    if (w->tlen + ql > w->max && w->tlen)
        close_word(w);
    if (w->tlen + ql > w->max)
        new_line(w);
    memcpy(w->text + w->tlen, q, ql);
    w->tlen += ql;
}

static bool printable_ascii(unsigned char c)
{
    return c >= 0x20 && c <= 0x7E;
}

enum tern_rc rfc2047_encode(const char *in, size_t n, size_t used, struct tbuf *out)
{
    if (!in) {
        in = "";
        n = 0;
    }
    size_t first = n, last = 0;
    for (size_t i = 0; i < n; i++) {
        if (!printable_ascii((unsigned char)in[i])) {
            if (first == n)
                first = i;
            last = i;
        }
    }
    bool lookalike = n >= 2 && memmem(in, n, "=?", 2) != NULL;
    if (first == n && !lookalike)
        return tbuf_append(out, in ? in : "", n);

    /* Encode whole blank-separated words from the first to the last one
     * that needs it; the ASCII before and after stays readable. Text that
     * could be mistaken for an encoded word is encoded entirely. */
    size_t ps = 0, pe = n;
    if (lookalike) { /* leading blanks stay raw (see the fold below) */
        while (ps < n && in[ps] == ' ')
            ps++;
    } else {
        ps = first;
        while (ps > 0 && in[ps - 1] != ' ')
            ps--;
        pe = last + 1;
        while (pe < n && in[pe] != ' ')
            pe++;
    }
    size_t esc = 0;
    for (size_t i = ps; i < pe; i++)
        if (!q_literal((unsigned char)in[i]) && in[i] != ' ')
            esc++;

    struct ew_writer w = {.out = out, .rc = TERN_OK, .col = used};
    w.b = (pe - ps) + 2 * esc > b_len(pe - ps); /* the shorter form; Q on a tie */
    if (ps > 0) {
        /* in[ps - 1] is the blank before the first encoded word: it stays
         * as the separator (or the fold) in front of it. */
        put(&w, in, ps - 1);
        w.col += ps - 1;
        w.need_sep = true;
    }
    w.max = room(&w);
    for (size_t i = ps; i < pe && w.rc == TERN_OK;) {
        uint32_t cp;
        size_t len = utf8_decode(in + i, pe - i, &cp);
        add_char(&w, (const unsigned char *)in + i, len);
        i += len;
    }
    close_word(&w);
    if (pe < n) { /* in[pe] is a blank: keep it as the separator */
        size_t word = 0;
        while (pe + 1 + word < n && in[pe + 1 + word] != ' ')
            word++;
        put_sep(&w, word);
        put(&w, in + pe + 1, n - pe - 1);
    }
    if (w.rc == TERN_OK)
        w.rc = tbuf_append(out, "", 0);
    return w.rc;
}
