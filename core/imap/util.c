/*
 * Reading parsed responses: tree walking, numbers (always through
 * tern_parse_u64), FETCH items, sequence sets, flags, BODYSTRUCTURE.
 * Every function here tolerates any token shape: a server that sends a
 * list where a number belongs gets "no" for an answer, not a crash.
 */
#include "core/index/lib.h"
#include "lib.h"

#include <string.h>

static bool valid(const struct imap_resp *r, uint32_t t)
{
    return r && t != IMAP_NONE && t < r->ntok;
}

uint32_t imap_child(const struct imap_resp *r, uint32_t l)
{
    if (!valid(r, l) || r->tok[l].type != IMAP_LIST)
        return IMAP_NONE;
    uint32_t c = l + 1;
    return c < r->tok[l].end && c < r->ntok ? c : IMAP_NONE;
}

uint32_t imap_next(const struct imap_resp *r, uint32_t l, uint32_t c)
{
    if (!valid(r, l) || !valid(r, c))
        return IMAP_NONE;
    uint32_t n = r->tok[c].end;
    return n < r->tok[l].end && n < r->ntok && n > c ? n : IMAP_NONE;
}

uint32_t imap_nth(const struct imap_resp *r, uint32_t l, uint32_t n)
{
    uint32_t c = imap_child(r, l);
    while (c != IMAP_NONE && n--)
        c = imap_next(r, l, c);
    return c;
}

uint32_t imap_count(const struct imap_resp *r, uint32_t l)
{
    uint32_t k = 0;
    for (uint32_t c = imap_child(r, l); c != IMAP_NONE; c = imap_next(r, l, c))
        k++;
    return k;
}

bool imap_is_list(const struct imap_resp *r, uint32_t t)
{
    return valid(r, t) && r->tok[t].type == IMAP_LIST;
}

bool imap_is_nil(const struct imap_resp *r, uint32_t t)
{
    return valid(r, t) && r->tok[t].type == IMAP_NIL;
}

bool imap_str(const struct imap_resp *r, uint32_t t, const char **s, size_t *n)
{
    if (!valid(r, t))
        return false;
    uint32_t ty = r->tok[t].type;
    if (ty != IMAP_ATOM && ty != IMAP_QUOTED && ty != IMAP_LITERAL)
        return false;
    *s = r->buf + r->tok[t].off;
    *n = r->tok[t].len;
    return true;
}

bool imap_eq(const struct imap_resp *r, uint32_t t, const char *want)
{
    const char *s;
    size_t n;
    if (!imap_str(r, t, &s, &n))
        return false;
    size_t wn = strlen(want);
    return n == wn && tern_strncasecmp(s, want, n) == 0 && memchr(s, '\0', n) == NULL;
}

bool imap_num(const struct imap_resp *r, uint32_t t, uint64_t max, uint64_t *out)
{
    if (!valid(r, t) || r->tok[t].type != IMAP_ATOM)
        return false;
    return tern_parse_u64(r->buf + r->tok[t].off, r->tok[t].len, max, out);
}

uint32_t imap_fetch_item(const struct imap_resp *r, uint32_t l, const char *key, bool prefix)
{
    size_t kn = strlen(key);
    for (uint32_t c = imap_child(r, l); c != IMAP_NONE;) {
        uint32_t v = imap_next(r, l, c);
        if (v == IMAP_NONE)
            return IMAP_NONE;
        const char *s;
        size_t n;
        if (r->tok[c].type == IMAP_ATOM && imap_str(r, c, &s, &n) && (prefix ? n >= kn : n == kn) &&
            tern_strncasecmp(s, key, kn) == 0)
            return v;
        c = imap_next(r, l, v);
    }
    return IMAP_NONE;
}

bool imap_is_numbered(const struct imap_resp *r, const char *name, uint64_t *num, uint32_t *rest)
{
    if (!r || r->kind != IMAP_UNTAGGED || r->status != IMAP_ST_NONE)
        return false;
    uint32_t c0 = imap_child(r, 0);
    uint32_t c1 = imap_next(r, 0, c0);
    if (c1 == IMAP_NONE || !imap_num(r, c0, UINT32_MAX, num) || !imap_eq(r, c1, name))
        return false;
    *rest = imap_next(r, 0, c1);
    return true;
}

bool imap_is_named(const struct imap_resp *r, const char *name, uint32_t *rest)
{
    if (!r || r->kind != IMAP_UNTAGGED || r->status != IMAP_ST_NONE)
        return false;
    uint32_t c0 = imap_child(r, 0);
    if (!imap_eq(r, c0, name))
        return false;
    *rest = imap_next(r, 0, c0);
    return true;
}

/* one sequence number: digits (1..2^32-1) or '*' */
static bool seq_num(const char *s, size_t n, uint32_t star, uint32_t *out)
{
    if (n == 1 && s[0] == '*') {
        *out = star;
        return true;
    }
    uint64_t v;
    if (!tern_parse_u64(s, n, UINT32_MAX, &v) || v == 0)
        return false;
    *out = (uint32_t)v;
    return true;
}

bool imap_seqset_walk(const char *s, size_t n, uint32_t star, imap_range_fn *fn, void *arg)
{
    if (!s || n == 0)
        return false;
    size_t i = 0, ranges = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && s[j] != ',')
            j++;
        if (j == i || ++ranges > IMAP_SEQSET_MAX)
            return false;
        const char *colon = memchr(s + i, ':', j - i);
        uint32_t lo, hi;
        if (colon) {
            size_t a = (size_t)(colon - (s + i));
            if (!seq_num(s + i, a, star, &lo) || !seq_num(colon + 1, j - i - a - 1, star, &hi))
                return false;
        } else {
            if (!seq_num(s + i, j - i, star, &lo))
                return false;
            hi = lo;
        }
        if (lo > hi) {
            uint32_t t = lo;
            lo = hi;
            hi = t;
        }
        if (fn && fn(arg, lo, hi))
            return true;
        if (j == n)
            break;
        i = j + 1;
        if (i == n)
            return false; /* trailing comma */
    }
    return true;
}

static const struct {
    const char *name;
    unsigned bit;
} flag_names[] = {
    {"\\Seen", INDEX_FLAG_SEEN},       {"\\Answered", INDEX_FLAG_ANSWERED},
    {"\\Flagged", INDEX_FLAG_FLAGGED}, {"\\Deleted", INDEX_FLAG_DELETED},
    {"\\Draft", INDEX_FLAG_DRAFT},     {"$Forwarded", INDEX_FLAG_FORWARDED},
};

static bool keyword_ok(const char *s, size_t n)
{
    if (n == 0 || n > 200 || s[0] == '\\')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == '(' || c == ')' || c == '{' || c == '"' || c == '\\' ||
            c == ']' || c == '%' || c == '*')
            return false;
    }
    return true;
}

unsigned imap_flags_parse(const struct imap_resp *r, uint32_t l, struct tbuf *kw)
{
    unsigned flags = 0;
    for (uint32_t c = imap_child(r, l); c != IMAP_NONE; c = imap_next(r, l, c)) {
        const char *s;
        size_t n;
        if (r->tok[c].type != IMAP_ATOM || !imap_str(r, c, &s, &n))
            continue;
        bool known = false;
        for (size_t i = 0; i < sizeof flag_names / sizeof flag_names[0]; i++) {
            if (strlen(flag_names[i].name) == n &&
                tern_strncasecmp(s, flag_names[i].name, n) == 0) {
                flags |= flag_names[i].bit;
                known = true;
                break;
            }
        }
        if (!known && kw && keyword_ok(s, n)) {
            if (kw->len)
                tbuf_putc(kw, ' ');
            tbuf_append(kw, s, n);
        }
    }
    return flags;
}

enum tern_rc imap_flags_format(unsigned flags, struct tbuf *out)
{
    bool first = true;
    for (size_t i = 0; i < sizeof flag_names / sizeof flag_names[0]; i++) {
        if (!(flags & flag_names[i].bit))
            continue;
        enum tern_rc rc;
        if (!first && (rc = tbuf_putc(out, ' ')))
            return rc;
        if ((rc = tbuf_puts(out, flag_names[i].name)))
            return rc;
        first = false;
    }
    return TERN_OK;
}

/* Does a body-fld-param list (key value ...) hold `key`? */
static bool param_has(const struct imap_resp *r, uint32_t l, const char *key)
{
    for (uint32_t c = imap_child(r, l); c != IMAP_NONE;) {
        uint32_t v = imap_next(r, l, c);
        if (imap_eq(r, c, key))
            return true;
        if (v == IMAP_NONE)
            break;
        c = imap_next(r, l, v);
    }
    return false;
}

static bool bs_part(const struct imap_resp *r, uint32_t t, const char *parent, int depth)
{
    if (!imap_is_list(r, t) || depth > IMAP_DEPTH_MAX)
        return false;
    uint32_t first = imap_child(r, t);
    if (first == IMAP_NONE)
        return false;
    if (imap_is_list(r, first)) {
        /* multipart: parts, then the subtype */
        uint32_t c = first;
        while (c != IMAP_NONE && imap_is_list(r, c))
            c = imap_next(r, t, c);
        const char *sub = "mixed";
        if (imap_eq(r, c, "alternative"))
            sub = "alternative";
        else if (imap_eq(r, c, "related"))
            sub = "related";
        else if (imap_eq(r, c, "signed"))
            sub = "signed";
        for (c = first; c != IMAP_NONE && imap_is_list(r, c); c = imap_next(r, t, c))
            if (bs_part(r, c, sub, depth + 1))
                return true;
        return false;
    }
    uint32_t type = first, sub = imap_next(r, t, type);
    uint32_t base = 7;
    if (imap_eq(r, type, "text"))
        base = 8;
    else if (imap_eq(r, type, "message") &&
             (imap_eq(r, sub, "rfc822") || imap_eq(r, sub, "global")))
        base = 10;
    uint32_t disp = imap_nth(r, t, base + 1);
    uint32_t dtype = imap_is_list(r, disp) ? imap_child(r, disp) : IMAP_NONE;
    if (imap_eq(r, dtype, "attachment"))
        return true;
    bool inline_disp = imap_eq(r, dtype, "inline");
    uint32_t params = imap_nth(r, t, 2);
    bool named = param_has(r, params, "name");
    if (imap_eq(r, type, "text"))
        return named && !inline_disp && parent && strcmp(parent, "mixed") == 0;
    if (imap_eq(r, type, "application") &&
        (imap_eq(r, sub, "pgp-signature") || imap_eq(r, sub, "pkcs7-signature") ||
         imap_eq(r, sub, "x-pkcs7-signature") || imap_eq(r, sub, "pgp-encrypted")))
        return false;
    if (imap_eq(r, type, "message") &&
        (imap_eq(r, sub, "delivery-status") || imap_eq(r, sub, "disposition-notification")))
        return false;
    if (parent && (strcmp(parent, "related") == 0 || strcmp(parent, "alternative") == 0))
        return false;
    if (inline_disp && !named && parent)
        return false;
    return true;
}

bool imap_bodystructure_has_attachments(const struct imap_resp *r, uint32_t bs)
{
    return bs_part(r, bs, NULL, 0);
}

enum tern_rc imap_quote(struct tbuf *out, const char *s, size_t n)
{
    if (tern_has_crlf(s, n))
        return TERN_EDATA;
    enum tern_rc rc = tbuf_putc(out, '"');
    for (size_t i = 0; i < n && !rc; i++) {
        if (s[i] == '"' || s[i] == '\\')
            rc = tbuf_putc(out, '\\');
        if (!rc)
            rc = tbuf_putc(out, s[i]);
    }
    if (!rc)
        rc = tbuf_putc(out, '"');
    return rc;
}
