/* Charset names and conversion to UTF-8. UTF-8 and windows-1252 (what
 * us-ascii and iso-8859-1 mean in practice, and the guess for undeclared
 * 8-bit text) are converted here; every other charset goes through iconv,
 * opened per call or kept in a caller-owned struct charset_cache. */
#include "private.h"

#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>

/* A charset name longer than this is not a name. */
#define CS_NAME_MAX 64
/* Converters a struct charset_cache keeps open. */
#define CS_CACHE_SLOTS 8

enum cs_kind {
    CS_GUESS, /* unknown or "unknown-8bit": UTF-8 if valid, else windows-1252 */
    CS_ASCII, /* us-ascii: 8-bit bytes in it are undeclared, so guessed too */
    CS_UTF8,
    CS_1252,
    CS_ICONV,
};

struct cs_name {
    const char *key;  /* lower-case letters and digits of the name */
    const char *name; /* iconv name; NULL: guess */
};

struct cs_info {
    const char *name; /* NULL when guessed */
    enum cs_kind kind;
    unsigned unit; /* bytes to skip on an invalid sequence (UTF-16: 2) */
};

static const char n_utf8[] = "UTF-8";
static const char n_1252[] = "WINDOWS-1252";

/* Names real mail uses that iconv lacks or that mean something else in
 * practice (the WHATWG Encoding Standard's choices: a superset decodes
 * what the subset would and more). Sorted by key for bsearch. n_ascii
 * marks us-ascii and its aliases. */
static const char n_ascii[] = "WINDOWS-1252"; /* distinct object: see cs_lookup */
static const struct cs_name aliases[] = {
    {"8bit", NULL},
    {"ansix341968", n_ascii},
    {"ascii", n_ascii},
    {"big5", "BIG5-HKSCS"},
    {"big5hkscs", "BIG5-HKSCS"},
    {"chinese", "GB18030"},
    {"cnbig5", "BIG5-HKSCS"},
    {"cp367", n_ascii},
    {"cp819", n_1252},
    {"cp850", "CP850"},
    {"cp932", "CP932"},
    {"cp936", "GB18030"},
    {"cp949", "CP949"},
    {"csascii", n_ascii},
    {"csbig5", "BIG5-HKSCS"},
    {"cseuckr", "CP949"},
    {"csgb2312", "GB18030"},
    {"csiso58gb231280", "GB18030"},
    {"csiso88596e", "ISO-8859-6"},
    {"csiso88596i", "ISO-8859-6"},
    {"csiso88598e", "ISO-8859-8"},
    {"csiso88598i", "ISO-8859-8"},
    {"csisolatin1", n_1252},
    {"csisolatin5", "WINDOWS-1254"},
    {"csksc56011987", "CP949"},
    {"csmacintosh", "MACINTOSH"},
    {"csshiftjis", "CP932"},
    {"csunicode11utf7", "UTF-7"},
    {"default", NULL},
    {"dos874", "WINDOWS-874"},
    {"euccn", "GB18030"},
    {"euckr", "CP949"},
    {"gb2312", "GB18030"},
    {"gb231280", "GB18030"},
    {"gbk", "GB18030"},
    {"ibm367", n_ascii},
    {"ibm819", n_1252},
    {"iso10646utf8", n_utf8},
    {"iso646us", n_ascii},
    {"iso88591", n_1252},
    {"iso885911", "WINDOWS-874"},
    {"iso885911987", n_1252},
    {"iso88596e", "ISO-8859-6"},
    {"iso88596i", "ISO-8859-6"},
    {"iso88598e", "ISO-8859-8"},
    {"iso88598i", "ISO-8859-8"},
    {"iso88599", "WINDOWS-1254"},
    {"isoir100", n_1252},
    {"isoir148", "WINDOWS-1254"},
    {"isoir149", "CP949"},
    {"isoir58", "GB18030"},
    {"isoir6", n_ascii},
    {"koi", "KOI8-R"},
    {"koi8", "KOI8-R"},
    {"korean", "CP949"},
    {"ksc5601", "CP949"},
    {"ksc56011987", "CP949"},
    {"ksc56011989", "CP949"},
    {"l1", n_1252},
    {"l5", "WINDOWS-1254"},
    {"latin1", n_1252},
    {"latin5", "WINDOWS-1254"},
    {"logical", "ISO-8859-8"},
    {"mac", "MACINTOSH"},
    {"macintosh", "MACINTOSH"},
    {"macroman", "MACINTOSH"},
    {"ms932", "CP932"},
    {"ms936", "GB18030"},
    {"mskanji", "CP932"},
    {"none", NULL},
    {"shiftjis", "CP932"},
    {"sjis", "CP932"},
    {"tis620", "WINDOWS-874"},
    {"unicode11utf7", "UTF-7"},
    {"unknown", NULL},
    {"unknown8bit", NULL},
    {"us", n_ascii},
    {"usascii", n_ascii},
    {"utf7", "UTF-7"},
    {"utf8", n_utf8},
    {"visual", "ISO-8859-8"},
    {"windows31j", "CP932"},
    {"windows874", "WINDOWS-874"},
    {"windows936", "GB18030"},
    {"windows949", "CP949"},
    {"xbig5", "BIG5-HKSCS"},
    {"xeuccn", "GB18030"},
    {"xgbk", "GB18030"},
    {"xmac", "MACINTOSH"},
    {"xmacce", "MAC-CENTRALEUROPE"},
    {"xmaccentraleurope", "MAC-CENTRALEUROPE"},
    {"xmaccyrillic", "MAC-CYRILLIC"},
    {"xmacroman", "MACINTOSH"},
    {"xmacukrainian", "MACUKRAINIAN"},
    {"xsjis", "CP932"},
    {"xunknown", NULL},
    {"xuserdefined", NULL},
    {"xutf8", n_utf8},
    {"xwindows949", "CP949"},
};

/* Every name glibc's iconv lists. */
static const struct cs_name iconv_names[] = {
#include "names.inc"
};

static const char *const windows125x[] = {
    "WINDOWS-1250", "WINDOWS-1251", n_1252,         "WINDOWS-1253", "WINDOWS-1254",
    "WINDOWS-1255", "WINDOWS-1256", "WINDOWS-1257", "WINDOWS-1258",
};

static int cmp_key(const void *k, const void *e)
{
    return strcmp(k, ((const struct cs_name *)e)->key);
}

/* The lookup key of a declared name: surrounding space and quotes dropped,
 * an RFC 2231 "*lang" suffix cut, then only letters (lower-cased) and
 * digits kept, so "ISO_8859-1", "iso-8859-1" and "ISO8859-1" are one.
 * False when there is no usable name. */
static bool make_key(const char *cs, char key[CS_NAME_MAX + 1])
{
    size_t k = 0, seen = 0;
    if (!cs)
        return false;
    for (const char *p = cs; *p && *p != '*'; p++) {
        unsigned char c = (unsigned char)*p;
        if (++seen > CS_NAME_MAX + 8) /* a name, not a paragraph */
            return false;
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            if (k == CS_NAME_MAX)
                return false;
            key[k++] = (char)c;
        } else if (c >= 0x80 || c < 0x20) {
            return false; /* not a charset name at all */
        }
    }
    key[k] = '\0';
    return k > 0;
}

static const char *windows_family(const char *key)
{
    static const char *const prefixes[] = {"windows", "xwindows", "win", "cp", "xcp", "mscp"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t pl = strlen(prefixes[i]);
        if (strncmp(key, prefixes[i], pl) == 0 && strncmp(key + pl, "125", 3) == 0 &&
            key[pl + 3] >= '0' && key[pl + 3] <= '8' && key[pl + 4] == '\0')
            return windows125x[key[pl + 3] - '0'];
    }
    return NULL;
}

/* Bytes one code unit takes in the fixed-width Unicode forms; an invalid
 * unit is skipped whole so the text after it stays aligned. */
static unsigned unit_of(const char *name)
{
    char key[CS_NAME_MAX + 1];
    if (!make_key(name, key))
        return 1;
    if (!strncmp(key, "utf16", 5) || !strncmp(key, "ucs2", 4) || !strncmp(key, "unicode", 7) ||
        !strcmp(key, "iso10646ucs2"))
        return 2;
    if (!strncmp(key, "utf32", 5) || !strncmp(key, "ucs4", 4) || !strcmp(key, "wchart") ||
        !strcmp(key, "iso10646") || !strcmp(key, "iso10646ucs4") || !strcmp(key, "1064611993") ||
        !strcmp(key, "1064611993ucs4"))
        return 4;
    return 1;
}

static struct cs_info cs_lookup(const char *charset)
{
    struct cs_info r = {NULL, CS_GUESS, 1};
    char key[CS_NAME_MAX + 1];
    if (!make_key(charset, key))
        return r;
    const struct cs_name *e =
        bsearch(key, aliases, sizeof aliases / sizeof aliases[0], sizeof aliases[0], cmp_key);
    const char *name = NULL;
    if (e) {
        if (!e->name)
            return r;
        if (e->name == n_ascii) {
            r.name = n_1252;
            r.kind = CS_ASCII;
            return r;
        }
        name = e->name;
    }
    if (!name)
        name = windows_family(key);
    if (!name) {
        e = bsearch(key, iconv_names, sizeof iconv_names / sizeof iconv_names[0],
                    sizeof iconv_names[0], cmp_key);
        if (!e)
            return r;
        name = e->name;
    }
    r.name = name;
    if (!strcmp(name, n_utf8)) {
        r.name = n_utf8;
        r.kind = CS_UTF8;
    } else if (!strcmp(name, n_1252)) {
        r.name = n_1252;
        r.kind = CS_1252;
    } else {
        r.kind = CS_ICONV;
        r.unit = unit_of(name);
    }
    return r;
}

const char *charset_canonical(const char *charset)
{
    return cs_lookup(charset).name;
}

/* ---- built-in windows-1252 ---- */

/* 0x80..0x9F; 0 marks the five bytes windows-1252 leaves undefined, which
 * become U+FFFD like glibc's EILSEQ for them. */
static const uint16_t cp1252_high[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178,
};

enum tern_rc cs_put_cp1252(const char *in, size_t n, struct tbuf *out)
{
    struct tbuf_stage e;
    tbuf_stage_init(&e, out);
    size_t run = 0; /* start of the pending ASCII run */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c < 0x80)
            continue;
        tbuf_stage_put(&e, in + run, i - run);
        run = i + 1;
        uint32_t cp = c >= 0xA0 ? c : cp1252_high[c - 0x80];
        if (cp == 0)
            cp = 0xFFFD;
        char b[4];
        tbuf_stage_put(&e, b, cs_utf8_encode(cp, b));
    }
    tbuf_stage_put(&e, in + run, n - run);
    return tbuf_stage_done(&e);
}

static enum tern_rc put_guess(const char *in, size_t n, struct tbuf *out)
{
    if (utf8_valid(in, n))
        return tbuf_append(out, in, n);
    return cs_put_cp1252(in, n, out);
}

/* ---- iconv ---- */

struct cs_slot {
    const char *name; /* static: from the tables above, compared by pointer */
    iconv_t cd;       /* (iconv_t)-1: iconv cannot open it, guess instead */
};

struct charset_cache {
    struct cs_slot slot[CS_CACHE_SLOTS];
    size_t used;
    size_t next; /* round-robin victim once full */
};

struct charset_cache *charset_cache_new(void)
{
    return calloc(1, sizeof(struct charset_cache));
}

void charset_cache_free(struct charset_cache **c)
{
    if (!c || !*c)
        return;
    for (size_t i = 0; i < (*c)->used; i++)
        if ((*c)->slot[i].cd != (iconv_t)-1)
            iconv_close((*c)->slot[i].cd);
    free(*c);
    *c = NULL;
}

static iconv_t cache_get(struct charset_cache *c, const char *name)
{
    for (size_t i = 0; i < c->used; i++)
        if (c->slot[i].name == name)
            return c->slot[i].cd;
    iconv_t cd = iconv_open("UTF-8", name);
    struct cs_slot *s;
    if (c->used < CS_CACHE_SLOTS) {
        s = &c->slot[c->used++];
    } else {
        s = &c->slot[c->next];
        c->next = (c->next + 1) % CS_CACHE_SLOTS;
        if (s->cd != (iconv_t)-1)
            iconv_close(s->cd);
    }
    s->name = name;
    s->cd = cd;
    return cd;
}

/* Append iconv's output, defensively repaired: whatever a converter emits,
 * callers get valid UTF-8. */
static void put_converted(struct tbuf_stage *e, const char *p, size_t n)
{
    if (utf8_valid(p, n)) {
        tbuf_stage_put(e, p, n);
        return;
    }
    tbuf_stage_flush(e);
    if (e->rc == TERN_OK)
        e->rc = utf8_sanitize(p, n, e->out);
}

static enum tern_rc run_iconv(iconv_t cd, unsigned unit, const char *in, size_t n, struct tbuf *out)
{
    struct tbuf_stage e;
    char chunk[4096];
    char *ip = (char *)in; /* iconv's prototype lacks const; it only reads */
    size_t il = n;
    tbuf_stage_init(&e, out);
    iconv(cd, NULL, NULL, NULL, NULL); /* initial shift state, also for a cached cd */
    while (il > 0 && e.rc == TERN_OK) {
        char *op = chunk;
        size_t ol = sizeof chunk;
        size_t r = iconv(cd, &ip, &il, &op, &ol);
        int err = errno;
        put_converted(&e, chunk, (size_t)(op - chunk));
        if (r != (size_t)-1 || err == E2BIG)
            continue;
        tbuf_stage_put(&e, CS_REPL, CS_REPL_LEN);
        if (err == EILSEQ) { /* skip the bad unit, convert the rest */
            size_t skip = unit < il ? unit : il;
            ip += skip;
            il -= skip;
        } else { /* EINVAL: incomplete sequence at the end (or worse) */
            break;
        }
    }
    /* Stateful charsets (ISO-2022-JP, UTF-7) may hold output back until
     * told the input is over. */
    char *op = chunk;
    size_t ol = sizeof chunk;
    iconv(cd, NULL, NULL, &op, &ol);
    put_converted(&e, chunk, (size_t)(op - chunk));
    return tbuf_stage_done(&e);
}

enum tern_rc charset_to_utf8_cached(struct charset_cache *c, const char *charset, const char *in,
                                    size_t n, struct tbuf *out)
{
    if (!in) {
        in = "";
        n = 0;
    }
    struct cs_info info = cs_lookup(charset);
    switch (info.kind) {
    case CS_GUESS:
    case CS_ASCII:
        return put_guess(in, n, out);
    case CS_UTF8:
        return utf8_sanitize(in, n, out);
    case CS_1252:
        return cs_put_cp1252(in, n, out);
    case CS_ICONV:
        break;
    }
    /* A cached UTF-16/32 converter would remember the byte order of an
     * earlier text's BOM, so those are opened afresh each time. */
    if (c && info.unit == 1) {
        iconv_t cd = cache_get(c, info.name);
        if (cd == (iconv_t)-1)
            return put_guess(in, n, out);
        return run_iconv(cd, info.unit, in, n, out);
    }
    iconv_t cd = iconv_open("UTF-8", info.name);
    if (cd == (iconv_t)-1) /* a name this system's iconv lacks */
        return put_guess(in, n, out);
    enum tern_rc rc = run_iconv(cd, info.unit, in, n, out);
    iconv_close(cd);
    return rc;
}

enum tern_rc charset_to_utf8(const char *charset, const char *in, size_t n, struct tbuf *out)
{
    return charset_to_utf8_cached(NULL, charset, in, n, out);
}
