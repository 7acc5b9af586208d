/* Unit tests for core/charset: names and aliases, conversion with U+FFFD
 * repair, guessing, stateful charsets, the converter cache, UTF-8 helpers,
 * modified UTF-7, terminal safety and JSON escaping. The expected bytes
 * were worked out by hand from the charset tables (and cross-checked with
 * a second implementation), not taken from this code's output. */
#include "core/charset/lib.h"

#include "check.h"

#include <locale.h>
#include <stdlib.h>
#include <string.h>

#define R "\xEF\xBF\xBD" /* U+FFFD */

static char *last; /* result of the latest helper call, freed by the next */

static const char *keep(struct tbuf *b, enum tern_rc rc)
{
    free(last);
    last = rc == TERN_OK ? tbuf_steal(b) : NULL;
    tbuf_free(b);
    return last;
}

static const char *conv_n(const char *cs, const char *in, size_t n)
{
    struct tbuf b;
    tbuf_init(&b, 0);
    return keep(&b, charset_to_utf8(cs, in, n, &b));
}
#define CONV(cs, lit) conv_n(cs, lit, sizeof(lit) - 1)

static const char *safe_n(const char *in, size_t n, unsigned flags)
{
    struct tbuf b;
    tbuf_init(&b, 0);
    return keep(&b, safe_text(in, n, flags, &b));
}
#define SAFE(lit, flags) safe_n(lit, sizeof(lit) - 1, flags)

static const char *json_n(const char *in, size_t n)
{
    struct tbuf b;
    tbuf_init(&b, 0);
    return keep(&b, json_put_string(&b, in, n));
}
#define JSON(lit) json_n(lit, sizeof(lit) - 1)

static enum tern_rc u7_rc;
static const char *u7(bool encode, const char *in)
{
    struct tbuf b;
    tbuf_init(&b, 0);
    u7_rc = encode ? utf7imap_encode(in, strlen(in), &b) : utf7imap_decode(in, strlen(in), &b);
    return keep(&b, u7_rc);
}

static void test_canonical(void)
{
    /* the aliases the issue names */
    CHECK_STR(charset_canonical("ks_c_5601-1987"), "CP949");
    CHECK_STR(charset_canonical("KS_C_5601-1987"), "CP949");
    CHECK_STR(charset_canonical("iso-8859-8-i"), "ISO-8859-8");
    CHECK_STR(charset_canonical("x-mac-roman"), "MACINTOSH");
    CHECK_STR(charset_canonical("unicode-1-1-utf-7"), "UTF-7");
    CHECK_STR(charset_canonical("cp-850"), "CP850");
    CHECK_STR(charset_canonical("gb2312"), "GB18030");
    CHECK_STR(charset_canonical("us-ascii"), "WINDOWS-1252");
    CHECK_STR(charset_canonical("iso-8859-1"), "WINDOWS-1252");
    CHECK_STR(charset_canonical("latin1"), "WINDOWS-1252");
    CHECK_STR(charset_canonical("x-unknown"), NULL);
    CHECK_STR(charset_canonical("unknown-8bit"), NULL);
    CHECK_STR(charset_canonical("default"), NULL);
    CHECK_STR(charset_canonical("x-user-defined"), NULL);
    /* more names real mail uses */
    CHECK_STR(charset_canonical("euc-kr"), "CP949");
    CHECK_STR(charset_canonical("shift_jis"), "CP932");
    CHECK_STR(charset_canonical("big5"), "BIG5-HKSCS");
    CHECK_STR(charset_canonical("gbk"), "GB18030");
    CHECK_STR(charset_canonical("iso-8859-9"), "WINDOWS-1254");
    CHECK_STR(charset_canonical("tis-620"), "WINDOWS-874");
    CHECK_STR(charset_canonical("x-cp1251"), "WINDOWS-1251");
    CHECK_STR(charset_canonical("win-1250"), "WINDOWS-1250");
    CHECK_STR(charset_canonical("cp1252"), "WINDOWS-1252");
    CHECK_STR(charset_canonical("windows-1258"), "WINDOWS-1258");
    CHECK_STR(charset_canonical("windows-1259"), NULL);
    CHECK_STR(charset_canonical("koi8-r"), "KOI8-R");
    CHECK_STR(charset_canonical("utf8"), "UTF-8");
    /* spelling, quotes, RFC 2231 language suffix */
    CHECK_STR(charset_canonical("UTF-8"), "UTF-8");
    CHECK_STR(charset_canonical("utf-8*en"), "UTF-8");
    CHECK_STR(charset_canonical("\"utf-8\""), "UTF-8");
    CHECK_STR(charset_canonical(" ISO_8859-2 "), "ISO-8859-2");
    CHECK_STR(charset_canonical("iso8859-15"), "ISO-8859-15");
    /* a name only glibc knows, picked from its list */
    CHECK_STR(charset_canonical("ebcdic-us"), "EBCDIC-US");
    CHECK_STR(charset_canonical("ISO-2022-JP"), "ISO-2022-JP");
    /* not names */
    CHECK_STR(charset_canonical(NULL), NULL);
    CHECK_STR(charset_canonical(""), NULL);
    CHECK_STR(charset_canonical("*en"), NULL);
    CHECK_STR(charset_canonical("no-such-charset"), NULL);
    CHECK_STR(charset_canonical("utf\xC3\xA9-8"), NULL);
    char lng[200];
    memset(lng, 'a', sizeof lng - 1);
    lng[sizeof lng - 1] = '\0';
    CHECK_STR(charset_canonical(lng), NULL);
}

static void test_aliases_convert(void)
{
    CHECK_STR(CONV("ks_c_5601-1987", "\xC7\xD1\xB1\xDB"), "\xED\x95\x9C\xEA\xB8\x80"); /* 한글 */
    CHECK_STR(CONV("ks_c_5601-1987", "\x8C\x63"), "\xEB\x98\xA0"); /* 똠: CP949 only */
    CHECK_STR(CONV("euc-kr", "\x8C\x63"), "\xEB\x98\xA0");
    CHECK_STR(CONV("iso-8859-8-i", "\xF9\xEC\xE5\xED"), "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D");
    CHECK_STR(CONV("x-mac-roman", "\x8A\x8E"), "\xC3\xA4\xC3\xA9"); /* äé */
    CHECK_STR(CONV("unicode-1-1-utf-7", "+AOQ-"), "\xC3\xA4");
    CHECK_STR(CONV("cp-850", "\x81\x94"), "\xC3\xBC\xC3\xB6");                 /* üö */
    CHECK_STR(CONV("gb2312", "\xD6\xD0\xCE\xC4"), "\xE4\xB8\xAD\xE6\x96\x87"); /* 中文 */
    /* GB18030 decodes what a gb2312 label often really carries */
    CHECK_STR(CONV("gb2312", "\xA2\xE3\x81\x30\x8A\x31"), "\xE2\x82\xAC\xC3\xA4"); /* €ä */
    CHECK_STR(CONV("shift_jis", "\x93\xFA\x96\x7B"), "\xE6\x97\xA5\xE6\x9C\xAC");  /* 日本 */
    CHECK_STR(CONV("big5", "\xA4\xA4\xA4\xE5"), "\xE4\xB8\xAD\xE6\x96\x87");
    CHECK_STR(CONV("koi8-r", "\xF0\xD2\xC9\xD7\xC5\xD4"),
              "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82"); /* Привет */
    CHECK_STR(CONV("windows-1251", "\xCF\xF0\xE8\xE2\xE5\xF2"),
              "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82");
    /* iso-8859-1 and latin1 mean windows-1252: 0x80-0x9F are printable */
    CHECK_STR(CONV("iso-8859-1", "\x80 caf\xE9"), "\xE2\x82\xAC caf\xC3\xA9");
    CHECK_STR(CONV("latin1", "\x93q\x94"), "\xE2\x80\x9Cq\xE2\x80\x9D");
    CHECK_STR(CONV("ISO-8859-1", "Gr\xFC\xDF"
                                 "e"),
              "Gr\xC3\xBC\xC3\x9F"
              "e");
    /* us-ascii with 8-bit bytes is undeclared 8-bit: guessed */
    CHECK_STR(CONV("us-ascii", "caf\xE9"), "caf\xC3\xA9");
    CHECK_STR(CONV("us-ascii", "caf\xC3\xA9"), "caf\xC3\xA9");
    CHECK_STR(CONV("us-ascii", "plain"), "plain");
    /* guess markers: UTF-8 kept, else windows-1252 */
    CHECK_STR(CONV("x-unknown", "caf\xC3\xA9"), "caf\xC3\xA9");
    CHECK_STR(CONV("unknown-8bit", "caf\xE9"), "caf\xC3\xA9");
    CHECK_STR(CONV("default", "\x80"), "\xE2\x82\xAC");
    CHECK_STR(CONV("x-user-defined", "\xE2\x82\xAC"), "\xE2\x82\xAC");
    CHECK_STR(CONV("utf-8*de", "\xC3\xBC"), "\xC3\xBC");
    CHECK_STR(CONV("ebcdic-us", "\xC8\x85\x93\x93\x96"), "Hello");
}

static void test_guess(void)
{
    CHECK_STR(CONV(NULL, "na\xC3\xAFve \xE2\x82\xAC"), "na\xC3\xAFve \xE2\x82\xAC");
    CHECK_STR(CONV(NULL, "na\xEFve \x80"), "na\xC3\xAFve \xE2\x82\xAC");
    CHECK_STR(CONV("", "caf\xE9"), "caf\xC3\xA9");
    CHECK_STR(CONV("no-such-charset", "caf\xC3\xA9"), "caf\xC3\xA9");
    CHECK_STR(CONV("no-such-charset", "caf\xE9"), "caf\xC3\xA9");
    /* one stray byte makes the whole text windows-1252 */
    CHECK_STR(CONV(NULL, "\xC3\xA9\xE9"), "\xC3\x83\xC2\xA9\xC3\xA9");
    CHECK_STR(CONV(NULL, ""), "");
    CHECK_STR(conv_n(NULL, NULL, 0), "");
}

static void test_bad_bytes(void)
{
    /* windows-1252 holes */
    CHECK_STR(CONV("windows-1252", "a\x81"
                                   "b\x8D"
                                   "c\x8F"
                                   "d\x90"
                                   "e\x9D"
                                   "f"),
              "a" R "b" R "c" R "d" R "e" R "f");
    /* through iconv: 0xA5 is not in ISO-8859-3 */
    CHECK_STR(CONV("iso-8859-3", "before\xA5"
                                 "after"),
              "before" R "after");
    /* declared UTF-8 with garbage */
    CHECK_STR(CONV("utf-8", "ok\xFF\xFEok"), "ok" R R "ok");
    CHECK_STR(CONV("utf-8", "\xC0\xAF"), R R);            /* overlong "/" */
    CHECK_STR(CONV("utf-8", "\xED\xA0\x80x"), R R R "x"); /* surrogate */
    /* a bad lead byte in Shift_JIS */
    CHECK_STR(CONV("shift_jis", "A\xA0"
                                "B"),
              "A" R "B");
    /* UTF-16: a lone surrogate skips one unit, the rest stays aligned */
    CHECK_STR(CONV("utf-16le", "a\0\x00\xD8"
                               "b\0"),
              "a" R "b");
    CHECK_STR(CONV("utf-16le", "\xFC\x00n\x00\xEF\x00"), "\xC3\xBCn\xC3\xAF");
    /* NUL survives as a byte */
    const char *z = conv_n("iso-8859-2", "a\0b", 3);
    CHECK(z && memcmp(z, "a\0b", 4) == 0);
}

static void test_incomplete_end(void)
{
    CHECK_STR(CONV("ks_c_5601-1987", "\xC7\xD1\xB1"), "\xED\x95\x9C" R);
    CHECK_STR(CONV("euc-jp", "x\xA4"), "x" R);
    CHECK_STR(CONV("utf-16le", "a\0b"), "a" R);
    CHECK_STR(CONV("utf-8", "ab\xE2\x82"), "ab" R R);
    CHECK_STR(CONV("gb18030", "\xD6\xD0\x81\x30"), "\xE4\xB8\xAD" R);
}

/* Texts whose UTF-8 is longer than the converter's output chunk (4 KiB):
 * no character is lost, doubled or split where one chunk ends and the next
 * begins, a bad byte deep inside becomes one U+FFFD, and an incomplete
 * sequence at the very end still becomes U+FFFD. Each expected result is
 * built from the same repeated character, not from this code's output. */
static void check_long(const char *cs, const char *unit, size_t ul, const char *want_unit,
                       size_t count, const char *bad, const char *tail, const char *want_tail)
{
    struct tbuf in, want;
    tbuf_init(&in, 0);
    tbuf_init(&want, 0);
    for (size_t i = 0; i < count; i++) {
        if (bad && i == count / 2) {
            tbuf_puts(&in, bad);
            tbuf_puts(&want, R);
        }
        tbuf_append(&in, unit, ul);
        tbuf_puts(&want, want_unit);
    }
    if (tail) {
        tbuf_puts(&in, tail);
        tbuf_puts(&want, want_tail);
    }
    const char *got = conv_n(cs, in.data, in.len);
    CHECK(got != NULL && want.len > 3 * 4096);
    if (got && strcmp(got, want.data)) {
        fprintf(stderr, "long %s text differs (got %zu bytes, want %zu)\n", cs, strlen(got),
                want.len);
        CHECK(false);
    }
    tbuf_free(&in);
    tbuf_free(&want);
}

static void test_long_texts(void)
{
    /* 한 in CP949: 2 bytes -> 3 */
    check_long("ks_c_5601-1987", "\xC7\xD1", 2, "\xED\x95\x9C", 5000, "\xFF", "\xC7", R);
    /* odd offsets: an ASCII byte shifts every character by one */
    check_long("ks_c_5601-1987", "a\xC7\xD1", 3, "a\xED\x95\x9C", 4001, NULL, NULL, NULL);
    /* UTF-16LE with a surrogate pair: 4 bytes -> 4 */
    check_long("utf-16le", "\x3D\xD8\x00\xDE", 4, "\xF0\x9F\x98\x80", 4000, NULL, "a", R);
    /* ISO-2022-JP: one shift, then two-byte JIS characters (こ) */
    struct tbuf jp, want;
    tbuf_init(&jp, 0);
    tbuf_init(&want, 0);
    tbuf_puts(&jp, "\x1B$B");
    for (int i = 0; i < 5000; i++) {
        tbuf_puts(&jp, "$3");
        tbuf_puts(&want, "\xE3\x81\x93");
    }
    tbuf_puts(&jp, "\x1B(B!");
    tbuf_puts(&want, "!");
    const char *got = conv_n("iso-2022-jp", jp.data, jp.len);
    CHECK(got && !strcmp(got, want.data));
    tbuf_free(&jp);
    tbuf_free(&want);
    /* GB18030 four-byte sequences (ä = 81 30 8A 31) */
    check_long("gb18030", "\x81\x30\x8A\x31", 4, "\xC3\xA4", 7000, NULL, "\x81\x30", R);
}

static void test_stateful(void)
{
    /* ISO-2022-JP: こんにちは between the escapes */
    CHECK_STR(CONV("iso-2022-jp", "\x1B$B$3$s$K$A$O\x1B(B!"),
              "\xE3\x81\x93\xE3\x82\x93\xE3\x81\xAB\xE3\x81\xA1\xE3\x81\xAF!");
    /* ended in JIS X 0208 mode without switching back */
    CHECK_STR(CONV("ISO-2022-JP", "a\x1B$B$3"), "a\xE3\x81\x93");
    /* UTF-7 (RFC 2152 examples) */
    CHECK_STR(CONV("utf-7", "Hi Mom -+Jjo--!"), "Hi Mom -\xE2\x98\xBA-!");
    CHECK_STR(CONV("utf-7", "+ZeVnLIqe-"), "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E");
    /* base64 running to the end: only the flush gets it out */
    CHECK_STR(CONV("utf-7", "x+ZeVnLIqe"), "x\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E");
}

static void test_cache(void)
{
    struct charset_cache *c = charset_cache_new();
    CHECK(c != NULL);
    static const struct {
        const char *cs, *in, *want;
    } v[] = {
        {"iso-8859-2", "\xB1", "\xC4\x85"},     {"koi8-r", "\xF0", "\xD0\x9F"},
        {"cp850", "\x81", "\xC3\xBC"},          {"iso-8859-5", "\xBF", "\xD0\x9F"},
        {"iso-8859-7", "\xE1", "\xCE\xB1"},     {"cp949", "\xC7\xD1", "\xED\x95\x9C"},
        {"euc-jp", "\xA4\xB3", "\xE3\x81\x93"}, {"iso-8859-15", "\xA4", "\xE2\x82\xAC"},
        {"windows-1250", "\x8A", "\xC5\xA0"},   {"iso-2022-jp", "\x1B$B$3\x1B(B", "\xE3\x81\x93"},
    };
    /* three rounds over more charsets than slots: hits, misses, eviction */
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
            struct tbuf b;
            tbuf_init(&b, 0);
            CHECK_INT(charset_to_utf8_cached(c, v[i].cs, v[i].in, strlen(v[i].in), &b), TERN_OK);
            CHECK_STR(b.data, v[i].want);
            tbuf_free(&b);
        }
    }
    /* a cached stateful converter left in JIS mode starts clean next time */
    struct tbuf b;
    tbuf_init(&b, 0);
    charset_to_utf8_cached(c, "iso-2022-jp", "\x1B$B$3", 5, &b);
    tbuf_reset(&b);
    CHECK_INT(charset_to_utf8_cached(c, "iso-2022-jp", "$3", 2, &b), TERN_OK);
    CHECK_STR(b.data, "$3");
    /* a BOM seen by one conversion does not set the byte order of the next */
    tbuf_reset(&b);
    CHECK_INT(charset_to_utf8_cached(c, "utf-16", "\xFE\xFF\x00\x41", 4, &b), TERN_OK);
    CHECK_STR(b.data, "A");
    tbuf_reset(&b);
    CHECK_INT(charset_to_utf8_cached(c, "utf-16", "\x42\x00", 2, &b), TERN_OK);
    CHECK_STR(b.data, CONV("utf-16", "\x42\x00"));
    /* names iconv cannot open fall back to guessing, cached or not */
    tbuf_reset(&b);
    CHECK_INT(charset_to_utf8_cached(c, NULL, "caf\xE9", 4, &b), TERN_OK);
    CHECK_STR(b.data, "caf\xC3\xA9");
    tbuf_free(&b);
    charset_cache_free(&c);
    CHECK(c == NULL);
    charset_cache_free(&c);
    charset_cache_free(NULL);
}

static void test_ceiling(void)
{
    struct tbuf b;
    tbuf_init(&b, 4);
    CHECK_INT(charset_to_utf8("iso-8859-2", "abcdefgh", 8, &b), TERN_EPROTO);
    tbuf_free(&b);
    tbuf_init(&b, 4);
    CHECK_INT(charset_to_utf8("windows-1252", "\x80\x80", 2, &b), TERN_EPROTO);
    tbuf_free(&b);
    tbuf_init(&b, 4);
    CHECK_INT(safe_text("abcdefgh", 8, 0, &b), TERN_EPROTO);
    tbuf_free(&b);
}

static void test_utf8(void)
{
    CHECK(utf8_valid("", 0));
    CHECK(utf8_valid(NULL, 0));
    CHECK(utf8_valid("plain ascii text, long enough for the fast path", 48));
    CHECK(utf8_valid("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 9));
    CHECK(utf8_valid("\xF4\x8F\xBF\xBF", 4));  /* U+10FFFF */
    CHECK(utf8_valid("\xEE\x80\x80", 3));      /* U+E000 after the surrogates */
    CHECK(!utf8_valid("\xC0\x80", 2));         /* overlong NUL */
    CHECK(!utf8_valid("\xC1\xBF", 2));         /* overlong */
    CHECK(!utf8_valid("\xE0\x80\xAF", 3));     /* overlong */
    CHECK(!utf8_valid("\xF0\x80\x80\xAF", 4)); /* overlong */
    CHECK(!utf8_valid("\xED\xA0\x80", 3));     /* U+D800 */
    CHECK(!utf8_valid("\xED\xBF\xBF", 3));     /* U+DFFF */
    CHECK(!utf8_valid("\xF4\x90\x80\x80", 4)); /* U+110000 */
    CHECK(!utf8_valid("\xF5\x80\x80\x80", 4));
    CHECK(!utf8_valid("\x80", 1));
    CHECK(!utf8_valid("abcdefghij\xC3", 11)); /* truncated after the fast path */
    CHECK(!utf8_valid("\xFF", 1));

    uint32_t cp = 0;
    CHECK_INT(utf8_decode("A", 1, &cp), 1);
    CHECK_INT(cp, 'A');
    CHECK_INT(utf8_decode("\xC3\xA9", 2, &cp), 2);
    CHECK_INT(cp, 0xE9);
    CHECK_INT(utf8_decode("\xE2\x82\xAC", 3, &cp), 3);
    CHECK_INT(cp, 0x20AC);
    CHECK_INT(utf8_decode("\xF0\x9F\x98\x80", 4, &cp), 4);
    CHECK_INT(cp, 0x1F600);
    CHECK_INT(utf8_decode("\xE2\x82\xAC", 2, &cp), 1); /* n cuts it short */
    CHECK_INT(cp, 0xFFFD);
    CHECK_INT(utf8_decode("\xED\xA0\x80", 3, &cp), 1);
    CHECK_INT(cp, 0xFFFD);
    CHECK_INT(utf8_decode("\xEF\xBF\xBD", 3, &cp), 3); /* a real U+FFFD is 3 bytes */
    CHECK_INT(cp, 0xFFFD);

    struct tbuf b;
    tbuf_init(&b, 0);
    CHECK_INT(utf8_put(&b, 'A'), TERN_OK);
    CHECK_INT(utf8_put(&b, 0xE9), TERN_OK);
    CHECK_INT(utf8_put(&b, 0x20AC), TERN_OK);
    CHECK_INT(utf8_put(&b, 0x1F600), TERN_OK);
    CHECK_INT(utf8_put(&b, 0xD800), TERN_OK);
    CHECK_INT(utf8_put(&b, 0x110000), TERN_OK);
    CHECK_STR(b.data, "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80" R R);
    tbuf_reset(&b);
    CHECK_INT(utf8_sanitize("a\xFF"
                            "b\xE2\x82"
                            "c",
                            6, &b),
              TERN_OK);
    CHECK_STR(b.data, "a" R "b" R R "c");
    tbuf_free(&b);

    CHECK(setlocale(LC_CTYPE, "C.UTF-8") != NULL);
    CHECK_INT(utf8_width("abc", 3), 3);
    CHECK_INT(utf8_width("\xE6\x97\xA5\xE6\x9C\xAC", 6), 4); /* 日本: wide */
    CHECK_INT(utf8_width("e\xCC\x81", 3), 1);                /* e + combining acute */
    CHECK_INT(utf8_width("a\x01"
                         "b",
                         3),
              2);                         /* control: 0 */
    CHECK_INT(utf8_width("a\xFF", 2), 2); /* bad byte shown as U+FFFD */
    CHECK_INT(utf8_width("\xC3\xA9t\xC3\xA9", 5), 3);
    CHECK_INT(utf8_width("", 0), 0);
    setlocale(LC_CTYPE, "C");
}

static void test_utf7imap(void)
{
    CHECK_STR(u7(false, "INBOX"), "INBOX");
    CHECK_STR(u7(false, "&-"), "&");
    CHECK_STR(u7(false, "Tom &- Jerry"), "Tom & Jerry");
    CHECK_STR(u7(false, "Entw&APw-rfe"), "Entw\xC3\xBCrfe");
    CHECK_STR(u7(false, "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
              "~peter/mail/\xE5\x8F\xB0\xE5\x8C\x97/\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E");
    CHECK_STR(u7(false, "&2D3eAA-"), "\xF0\x9F\x98\x80"); /* surrogate pair */
    CHECK_STR(u7(false, ""), "");
    CHECK_INT(u7_rc, TERN_OK);

    CHECK_STR(u7(true, "INBOX"), "INBOX");
    CHECK_STR(u7(true, "&"), "&-");
    CHECK_STR(u7(true, "Tom & Jerry"), "Tom &- Jerry");
    CHECK_STR(u7(true, "Entw\xC3\xBCrfe"), "Entw&APw-rfe");
    CHECK_STR(u7(true, "~peter/mail/\xE5\x8F\xB0\xE5\x8C\x97/\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"),
              "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
    CHECK_STR(u7(true, "\xF0\x9F\x98\x80"), "&2D3eAA-");
    CHECK_STR(u7(true, "\xC3\xA4\xC3\xB6\xC3\xBC"), "&AOQA9gD8-");
    CHECK_STR(u7(false, "&AOQA9gD8-"), "\xC3\xA4\xC3\xB6\xC3\xBC");

    /* malformed */
    CHECK_STR(u7(false, "&"), NULL);
    CHECK_INT(u7_rc, TERN_EDATA);
    CHECK_STR(u7(false, "&APw"), NULL);            /* unterminated */
    CHECK_STR(u7(false, "&APw!-"), NULL);          /* not base64 */
    CHECK_STR(u7(false, "&APx-"), NULL);           /* pad bits not zero */
    CHECK_STR(u7(false, "&AP-"), NULL);            /* too short for a unit */
    CHECK_STR(u7(false, "&AGE-"), NULL);           /* "a" must not be encoded */
    CHECK_STR(u7(false, "&2D0-"), NULL);           /* high surrogate alone */
    CHECK_STR(u7(false, "&3gA-"), NULL);           /* low surrogate alone */
    CHECK_STR(u7(false, "&AAA-"), NULL);           /* U+0000 */
    CHECK_STR(u7(false, "Entw\xC3\xBCrfe"), NULL); /* 8-bit is not mUTF-7 */
    CHECK_STR(u7(false, "a\tb"), NULL);
    CHECK_STR(u7(true, "a\xFF"), NULL);
    CHECK_INT(u7_rc, TERN_EDATA);
}

static void test_safe_escapes(void)
{
    /* CSI: colours, cursor, erase, private modes */
    CHECK_STR(SAFE("a\x1B[31mred\x1B[0m b", 0), "a" R "red" R " b");
    CHECK_STR(SAFE("x\x1B[?25ly", 0), "x" R "y");
    CHECK_STR(SAFE("x\x1B[2Jy", 0), "x" R "y");
    CHECK_STR(SAFE("x\x1B[1;2;3 qy", 0), "x" R "y"); /* intermediate byte */
    /* OSC 52 (clipboard write), with BEL and with ST */
    CHECK_STR(SAFE("copy\x1B]52;c;ZXZpbA==\x07me", 0), "copy" R "me");
    CHECK_STR(SAFE("copy\x1B]52;c;ZXZpbA==\x1B\\me", 0), "copy" R "me");
    /* title set (OSC 0 and 2) */
    CHECK_STR(SAFE("Hi \x1B]0;pwned\x07there", 0), "Hi " R "there");
    CHECK_STR(SAFE("Hi \x1B]2;pwned\x1B\\there", 0), "Hi " R "there");
    /* OSC 8 hyperlink: both halves go, the link text stays */
    CHECK_STR(SAFE("\x1B]8;;http://evil/\x1B\\click\x1B]8;;\x1B\\", 0), R "click" R);
    /* DCS, APC, PM, SOS */
    CHECK_STR(SAFE("a\x1BP1$r0m\x1B\\b", 0), "a" R "b");
    CHECK_STR(SAFE("a\x1B_apc stuff\x1B\\b", 0), "a" R "b");
    CHECK_STR(SAFE("a\x1B^pm stuff\x1B\\b", 0), "a" R "b");
    CHECK_STR(SAFE("a\x1BXsos stuff\x1B\\b", 0), "a" R "b");
    /* BEL does not end a DCS; ST written as U+009C does */
    CHECK_STR(SAFE("a\x1BPq\x07q\xC2\x9C"
                   "b",
                   0),
              "a" R "b");
    /* two-byte and nF escapes */
    CHECK_STR(SAFE("a\x1B"
                   "cb",
                   0),
              "a" R "b");
    CHECK_STR(SAFE("a\x1B"
                   "7b",
                   0),
              "a" R "b");
    CHECK_STR(SAFE("a\x1B(Bb", 0), "a" R "b");
    CHECK_STR(SAFE("a\x1B#8b", 0), "a" R "b");
    /* lone ESC, ESC before non-ASCII or a control */
    CHECK_STR(SAFE("abc\x1B", 0), "abc" R);
    CHECK_STR(SAFE("\x1B\xC3\xA9", 0), R "\xC3\xA9");
    CHECK_STR(SAFE("\x1B\x1B[1mx", 0), R R "x");
    /* CAN aborts a sequence; an ESC inside an OSC starts a new one */
    CHECK_STR(SAFE("\x1B[12\x18x", 0), R "x");
    CHECK_STR(SAFE("\x1B]0;abc\x1B[31mX", 0), R R "X");
    /* a CSI broken off by a control */
    CHECK_STR(SAFE("\x1B[1\x01x", 0), R R "x");
}

static void test_safe_unterminated(void)
{
    /* nothing is eaten when the terminator never comes */
    CHECK_STR(SAFE("a\x1B]0;title words", 0), "a" R "0;title words");
    CHECK_STR(SAFE("a\x1BPdata", 0), "a" R "data");
    CHECK_STR(SAFE("a\x1B[12", 0), "a" R "12");
    CHECK_STR(SAFE("a\x1B(", 0), "a" R "(");
    /* a terminator beyond SAFE_SEQ_MAX does not count */
    char in[400], want[420];
    size_t n = 0, w = 0;
    memcpy(in, "x\x1B]0;", 5);
    n = 5;
    memcpy(want, "x" R "0;", 6);
    w = 6;
    for (int i = 0; i < 300; i++) {
        in[n++] = 'p';
        want[w++] = 'p';
    }
    in[n++] = '\x07';
    memcpy(want + w, R, 3);
    w += 3;
    in[n++] = 'y';
    want[w++] = 'y';
    want[w] = '\0';
    CHECK_STR(safe_n(in, n, 0), want);
    /* ... and one within it does */
    n = 5 + 200;
    in[n++] = '\x07';
    in[n++] = 'y';
    CHECK_STR(safe_n(in, n, 0), "x" R "y");
}

static void test_safe_controls(void)
{
    /* 8-bit CSI as a raw byte is invalid UTF-8: one placeholder, the rest
     * shown; written as UTF-8 (U+009B) it starts a sequence */
    CHECK_STR(SAFE("a\x9B"
                   "31mb",
                   0),
              "a" R "31mb");
    CHECK_STR(SAFE("a\xC2\x9B"
                   "31mb",
                   0),
              "a" R "b");
    CHECK_STR(SAFE("a\xC2\x9D"
                   "0;t\x07"
                   "b",
                   0),
              "a" R "b"); /* U+009D OSC */
    CHECK_STR(SAFE("a\xC2\x85"
                   "b",
                   0),
              "a" R "b"); /* NEL */
    CHECK_STR(SAFE("a\xC2\x80"
                   "b\xC2\x9F",
                   0),
              "a" R "b" R); /* first C1, APC unterminated */
    /* C0 and DEL */
    CHECK_STR(safe_n("a\0b", 3, 0), "a" R "b");
    CHECK_STR(SAFE("bell\x07"
                   "bs\x08"
                   "del\x7F"
                   "end",
                   0),
              "bell" R "bs" R "del" R "end");
    /* TAB and newlines */
    CHECK_STR(SAFE("a\tb\nc", 0), "a" R "b" R "c");
    CHECK_STR(SAFE("a\tb\nc", SAFE_ALLOW_TAB), "a\tb" R "c");
    CHECK_STR(SAFE("a\tb\nc", SAFE_TAB_AS_SPACE), "a b" R "c");
    CHECK_STR(SAFE("a\tb\nc", SAFE_ALLOW_TAB | SAFE_ALLOW_NEWLINE), "a\tb\nc");
    CHECK_STR(SAFE("a\r\nb\rc", SAFE_ALLOW_NEWLINE), "a\nb" R "c");
    CHECK_STR(SAFE("a\r\nb", 0), "a" R R "b");
    /* bidi overrides and isolates; marks stay */
    CHECK_STR(SAFE("abc\xE2\x80\xAE"
                   "fdp.exe",
                   0),
              "abc" R "fdp.exe"); /* U+202E */
    CHECK_STR(SAFE("\xE2\x80\xAA\xE2\x80\xAB\xE2\x80\xAC\xE2\x80\xAD", 0), R R R R);
    CHECK_STR(SAFE("\xE2\x81\xA6"
                   "x\xE2\x81\xA7\xE2\x81\xA8\xE2\x81\xA9",
                   0),
              R "x" R R R);
    CHECK_STR(SAFE("a\xE2\x80\x8F"
                   "b",
                   0),
              "a\xE2\x80\x8F"
              "b");                                     /* RLM */
    CHECK_STR(SAFE("\xE2\x81\xA5", 0), "\xE2\x81\xA5"); /* U+2065 is not one */
    /* invalid UTF-8 */
    CHECK_STR(SAFE("ok\xFF"
                   "ok\xED\xA0\x80!",
                   0),
              "ok" R "ok" R R R "!");
    /* plain text and non-ASCII untouched */
    CHECK_STR(SAFE("Gr\xC3\xBC\xC3\x9F"
                   "e \xF0\x9F\x98\x80",
                   0),
              "Gr\xC3\xBC\xC3\x9F"
              "e \xF0\x9F\x98\x80");
    CHECK_STR(SAFE("", 0), "");
    CHECK_STR(safe_n(NULL, 0, 0), "");
    /* ASCII placeholder */
    CHECK_STR(SAFE("a\x1B[31mb\xFF"
                   "c\xE2\x80\xAE"
                   "d\xC3\xA9",
                   SAFE_ASCII),
              "a?b?c?d\xC3\xA9");
    char *d = safe_text_dup("x\x1B]0;t\x07y", 8, 0);
    CHECK_STR(d, "x" R "y");
    free(d);
}

static void test_json(void)
{
    CHECK_STR(JSON(""), "\"\"");
    CHECK_STR(JSON("plain"), "\"plain\"");
    CHECK_STR(JSON("a\"b\\c"), "\"a\\\"b\\\\c\"");
    CHECK_STR(JSON("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
    CHECK_STR(JSON("\x01\x1B[0m\x1F\x7F"), "\"\\u0001\\u001b[0m\\u001f\\u007f\"");
    CHECK_STR(json_n("a\0b", 3), "\"a\\u0000b\"");
    CHECK_STR(JSON("\xC2\x85\xC2\x9B"), "\"\\u0085\\u009b\"");
    CHECK_STR(JSON("x\xE2\x80\xAEy\xE2\x81\xA6"), "\"x\\u202ey\\u2066\"");
    CHECK_STR(JSON("\xE2\x80\xA8\xE2\x80\xA9"), "\"\\u2028\\u2029\"");
    CHECK_STR(JSON("caf\xC3\xA9 \xF0\x9F\x98\x80"), "\"caf\xC3\xA9 \xF0\x9F\x98\x80\"");
    CHECK_STR(JSON("bad\xFF"
                   "byte\xC3"),
              "\"bad" R "byte" R "\"");
    CHECK_STR(JSON("\xEF\xBF\xBD"), "\"" R "\"");
    CHECK_STR(json_n(NULL, 0), "\"\"");
}

int main(void)
{
    test_canonical();
    test_aliases_convert();
    test_guess();
    test_bad_bytes();
    test_incomplete_end();
    test_long_texts();
    test_stateful();
    test_cache();
    test_ceiling();
    test_utf8();
    test_utf7imap();
    test_safe_escapes();
    test_safe_unterminated();
    test_safe_controls();
    test_json();
    free(last);
    return check_done("charset");
}
