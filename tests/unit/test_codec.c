/* Unit tests for core/codec: base64, quoted-printable, RFC 2047 encoded
 * words and RFC 2231 parameter values. Expected values are worked out by
 * hand (RFC examples where there are some). */
#include "core/charset/lib.h"
#include "core/codec/lib.h"

#include "check.h"

#include <stdlib.h>
#include <string.h>

#define R "\xEF\xBF\xBD" /* U+FFFD */

static char *last;
static size_t last_len;

static const char *keep(struct tbuf *b, enum tern_rc rc)
{
    free(last);
    last_len = b->len;
    last = rc == TERN_OK ? tbuf_steal(b) : NULL;
    tbuf_free(b);
    return last;
}

#define RUN(call)                                                                                  \
    ({                                                                                             \
        struct tbuf b_;                                                                            \
        tbuf_init(&b_, 0);                                                                         \
        enum tern_rc rc_ = call;                                                                   \
        keep(&b_, rc_);                                                                            \
    })
#define B64D(lit) RUN(base64_decode(lit, sizeof(lit) - 1, &b_))
#define B64E(lit, ll) RUN(base64_encode(lit, sizeof(lit) - 1, ll, &b_))
#define QPD(lit) RUN(qp_decode(lit, sizeof(lit) - 1, &b_))
#define QPE(lit) RUN(qp_encode(lit, sizeof(lit) - 1, &b_))
#define D2047(lit) RUN(rfc2047_decode(lit, sizeof(lit) - 1, &b_))
#define E2047(s, used) RUN(rfc2047_encode(s, strlen(s), used, &b_))

/* Remove CRLF before SP or TAB: what a receiver does to a folded header. */
static char *unfold(const char *s)
{
    size_t n = strlen(s), k = 0;
    char *o = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r' && s[i + 1] == '\n' && (s[i + 2] == ' ' || s[i + 2] == '\t')) {
            i++;
            continue;
        }
        o[k++] = s[i];
    }
    o[k] = '\0';
    return o;
}

/* Longest line of s (lines split at CRLF). */
static size_t longest_line(const char *s, size_t first_col)
{
    size_t best = 0, col = first_col;
    for (const char *p = s; *p; p++) {
        if (p[0] == '\r' && p[1] == '\n') {
            if (col > best)
                best = col;
            col = 0;
            p++;
            continue;
        }
        col++;
    }
    return col > best ? col : best;
}

static void test_base64(void)
{
    CHECK_STR(B64D("aGVsbG8="), "hello");
    CHECK_STR(B64D("aGVs\r\nbG8=\r\n"), "hello");
    CHECK_STR(B64D("  aG Vs\tbG\n8= "), "hello");
    CHECK_STR(B64D("aG!V*s\x01"
                   "bG8\xFF="),
              "hello");                  /* junk skipped */
    CHECK_STR(B64D("aGVsbG8"), "hello"); /* no padding */
    CHECK_STR(B64D("aGVsbA"), "hell");
    CHECK_STR(B64D("aGVsbA="), "hell");
    CHECK_STR(B64D("aGVsb"), "hel"); /* a lone trailing sextet carries nothing */
    CHECK_STR(B64D("aGk=IGlnbm9yZWQ="), "hi");
    CHECK_STR(B64D("=aGk="), "");
    CHECK_STR(B64D(""), "");
    CHECK_STR(B64D("Zm9vYmFy"), "foobar");
    CHECK_STR(B64D("+/+/"), "\xFB\xFF\xBF");
    /* RFC 4648 section 10 vectors */
    CHECK_STR(B64E("", 0), "");
    CHECK_STR(B64E("f", 0), "Zg==");
    CHECK_STR(B64E("fo", 0), "Zm8=");
    CHECK_STR(B64E("foo", 0), "Zm9v");
    CHECK_STR(B64E("foob", 0), "Zm9vYg==");
    CHECK_STR(B64E("fooba", 0), "Zm9vYmE=");
    CHECK_STR(B64E("foobar", 0), "Zm9vYmFy");
    CHECK_STR(B64E("foobar", 4), "Zm9v\r\nYmFy");
    CHECK_STR(B64E("foobarx", 8), "Zm9vYmFy\r\neA==");
    /* every byte value, lines of 76, and back */
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    const char *enc = RUN(base64_encode(all, sizeof all, 76, &b_));
    CHECK(enc != NULL);
    CHECK_INT(longest_line(enc, 0), 76);
    CHECK(strlen(enc) >= 2 && strcmp(enc + strlen(enc) - 2, "\r\n") != 0);
    char *copy = strdup(enc);
    const char *dec = RUN(base64_decode(copy, strlen(copy), &b_));
    CHECK_INT(last_len, 256);
    CHECK(dec && memcmp(dec, all, 256) == 0);
    free(copy);
}

static void test_qp_decode(void)
{
    CHECK_STR(QPD("abc=\r\ndef"), "abcdef");
    CHECK_STR(QPD("abc=\ndef"), "abcdef");
    CHECK_STR(QPD("abc=  \t\r\ndef"), "abcdef"); /* blanks after the soft "=" */
    CHECK_STR(QPD("end="), "end");
    CHECK_STR(QPD("a=3Db"), "a=b");
    CHECK_STR(QPD("caf=E9 caf=e9"), "caf\xE9 caf\xE9");
    CHECK_STR(QPD("=C3=A9=c3=a9"), "\xC3\xA9\xC3\xA9");
    CHECK_STR(QPD("=fe=FF=aF=Bd"), "\xFE\xFF\xAF\xBD"); /* every hex letter, both cases */
    CHECK_STR(QPD("100=ZZ% =G1 x"), "100=ZZ% =G1 x");   /* bad escapes stay */
    CHECK_STR(QPD("a=4"), "a=4");
    CHECK_STR(QPD("a= b"), "a= b");
    CHECK_STR(QPD("line one  \r\nline two\t\nend  "), "line one\r\nline two\nend");
    CHECK_STR(QPD("keep=20\r\n"), "keep \r\n");
    CHECK_STR(QPD("a  b"), "a  b");
    CHECK_STR(QPD(""), "");
    CHECK_STR(QPD("=\r\n"), "");
}

static void test_qp_encode(void)
{
    CHECK_STR(QPE("plain text"), "plain text");
    CHECK_STR(QPE("h\xC3\xA9llo"), "h=C3=A9llo");
    CHECK_STR(QPE("a=b"), "a=3Db");
    CHECK_STR(QPE("one\ntwo\n"), "one\r\ntwo\r\n");
    CHECK_STR(QPE("one\r\ntwo"), "one\r\ntwo");
    CHECK_STR(QPE("space \nTab\t\nend "), "space=20\r\nTab=09\r\nend=20");
    CHECK_STR(QPE("a\tb c"), "a\tb c");
    CHECK_STR(QPE(".\n.hidden\nx.y"), "=2E\r\n=2Ehidden\r\nx.y");
    CHECK_STR(QPE("From me\nFrom\nFromage"), "=46rom me\r\nFrom\r\nFromage");
    CHECK_STR(QPE("cr\ronly"), "cr=0Donly");
    CHECK_STR(QPE("nul\0x"), "nul=00x");
    /* exactly 76 fits; 77 gets a soft break after 75 */
    char l76[77], l77[78];
    memset(l76, 'a', 76);
    l76[76] = '\0';
    memset(l77, 'a', 77);
    l77[77] = '\0';
    CHECK_STR(RUN(qp_encode(l76, 76, &b_)), l76);
    char want[90];
    memset(want, 'a', 75);
    memcpy(want + 75, "=\r\naa", 6);
    CHECK_STR(RUN(qp_encode(l77, 77, &b_)), want);
    /* a soft break never splits an escape; a "." after a soft break is
     * encoded too */
    char in[200], w2[120];
    memset(in, 'x', 74);
    memcpy(in + 74, "\xE9.yz", 4);
    memset(w2, 'x', 74);
    memcpy(w2 + 74, "=\r\n=E9.yz", 10);
    CHECK_STR(RUN(qp_encode(in, 78, &b_)), w2);
    memset(in, 'x', 75);
    memcpy(in + 75, ".y", 2);
    memset(w2, 'x', 75);
    memcpy(w2 + 75, "=\r\n=2Ey", 8);
    CHECK_STR(RUN(qp_encode(in, 77, &b_)), w2);
    /* round trip of every byte value, with line length kept */
    unsigned char all[600];
    for (int i = 0; i < 600; i++)
        all[i] = (unsigned char)(i * 7 + 3);
    for (int i = 0; i < 600; i++) /* no LF: LF would become CRLF */
        if (all[i] == '\n')
            all[i] = 'n';
    const char *enc = RUN(qp_encode((const char *)all, sizeof all, &b_));
    CHECK(enc && longest_line(enc, 0) <= 76);
    char *copy = strdup(enc);
    const char *dec = RUN(qp_decode(copy, strlen(copy), &b_));
    CHECK_INT(last_len, 600);
    CHECK(dec && memcmp(dec, all, 600) == 0);
    free(copy);
}

static void test_2047_decode(void)
{
    /* plain text: the fast path */
    CHECK_STR(D2047("Hello world"), "Hello world");
    CHECK_STR(D2047("a = b ? c"), "a = b ? c");
    CHECK_STR(D2047(""), "");
    CHECK_STR(RUN(rfc2047_decode(NULL, 0, &b_)), "");
    /* B and Q */
    CHECK_STR(D2047("=?UTF-8?B?SGVsbG8=?="), "Hello");
    CHECK_STR(D2047("=?utf-8?b?5pel5pys6Kqe?="), "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E");
    CHECK_STR(D2047("=?iso-8859-1?Q?caf=E9?="), "caf\xC3\xA9");
    CHECK_STR(D2047("=?utf-8?q?caf=c3=a9?="), "caf\xC3\xA9");
    CHECK_STR(D2047("=?utf-8?q?=ef=bf=bd=EF=BF=BD?="), R R);
    CHECK_STR(D2047("=?utf-8?q?hello_world?="), "hello world");
    CHECK_STR(D2047("=?utf-8?q?a=5Fb?="), "a_b");
    CHECK_STR(D2047("=?utf-8?q?\?="), "");
    CHECK_STR(D2047("=?utf-8?q?100=?="), "100=");
    CHECK_STR(D2047("=?utf-8?q?a=zzb?="), "a=zzb");
    /* RFC 2047 section 8 examples */
    CHECK_STR(D2047("=?ISO-8859-1?Q?a?="), "a");
    CHECK_STR(D2047("=?ISO-8859-1?Q?a?= b"), "a b");
    CHECK_STR(D2047("=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?="), "ab");
    CHECK_STR(D2047("=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?="), "ab");
    CHECK_STR(D2047("=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?="), "ab");
    CHECK_STR(D2047("=?ISO-8859-1?Q?a_b?="), "a b");
    CHECK_STR(D2047("=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?="), "a b");
    CHECK_STR(D2047("Keld =?ISO-8859-1?Q?J=F8rn_Simonsen?= <k@dk>"),
              "Keld J\xC3\xB8rn Simonsen <k@dk>");
    CHECK_STR(D2047("=?utf-8?q?a?= x =?utf-8?q?b?="), "a x b");
    CHECK_STR(D2047("Re: =?utf-8?q?x?=  tail "), "Re: x  tail ");
    /* not separated by blanks, inside quotes */
    CHECK_STR(D2047("foo=?utf-8?q?bar?=baz"), "foobarbaz");
    CHECK_STR(D2047("=?utf-8?q?a?==?utf-8?q?b?="), "ab");
    CHECK_STR(D2047("\"=?utf-8?q?J=C3=B6rg?=\" <j@x>"), "\"J\xC3\xB6rg\" <j@x>");
    /* language tags (RFC 2231 section 5) */
    CHECK_STR(D2047("=?US-ASCII*EN?Q?Keith_Moore?="), "Keith Moore");
    CHECK_STR(D2047("=?utf-8*de?q?Gr=C3=BC=C3=9Fe?="), "Gr\xC3\xBC\xC3\x9F"
                                                       "e");
    /* malformed words stay text */
    CHECK_STR(D2047("=?utf-8?x?abc?="), "=?utf-8?x?abc?=");
    CHECK_STR(D2047("=?utf-8?q?abc"), "=?utf-8?q?abc");
    CHECK_STR(D2047("=??q?abc?="), "=??q?abc?=");
    CHECK_STR(D2047("=?utf-8?q?a b?="), "=?utf-8?q?a b?=");
    CHECK_STR(D2047("=?utf 8?q?ab?="), "=?utf 8?q?ab?=");
    CHECK_STR(D2047("=?utf-8?qq?ab?="), "=?utf-8?qq?ab?=");
    CHECK_STR(D2047("=?"), "=?");
    CHECK_STR(D2047("x=?utf-8?q?"), "x=?utf-8?q?");
    CHECK_STR(D2047("=?=?utf-8?q?ok?="), "=?ok");
    CHECK_STR(
        D2047("=?aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa?q?x?="),
        "=?aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa?q?x?=");
    /* a UTF-8 sequence split across two words joins up (Q and B) */
    CHECK_STR(D2047("=?utf-8?q?=E2=82?= =?UTF-8?Q?=AC?="), "\xE2\x82\xAC");
    CHECK_STR(D2047("=?UTF-8?B?4oI=?=\r\n =?UTF-8?B?rA==?="), "\xE2\x82\xAC");
    CHECK_STR(D2047("=?utf-8?q?=E2=82?= =?utf8*en?b?rA==?="), "\xE2\x82\xAC");
    /* ... but not across charsets or text */
    CHECK_STR(D2047("=?utf-8?q?=E2=82?= =?iso-8859-1?q?=AC?="), R R "\xC2\xAC");
    CHECK_STR(D2047("=?utf-8?q?=E2=82?= x =?utf-8?q?=AC?="), R R " x " R);
    /* a stateful charset inside a word */
    CHECK_STR(D2047("=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?="),
              "\xE3\x81\x93\xE3\x82\x93\xE3\x81\xAB\xE3\x81\xA1\xE3\x81\xAF");
    /* unknown charset: guessed */
    CHECK_STR(D2047("=?x-unknown?q?caf=E9?="), "caf\xC3\xA9");
    CHECK_STR(D2047("=?bogus?q?caf=C3=A9?="), "caf\xC3\xA9");
    /* raw 8-bit outside words: UTF-8 if valid, else windows-1252 */
    CHECK_STR(D2047("Caf\xC3\xA9"), "Caf\xC3\xA9");
    CHECK_STR(D2047("Caf\xE9 \x80"), "Caf\xC3\xA9 \xE2\x82\xAC");
    CHECK_STR(D2047("\xE9t\xE9 =?utf-8?q?=C3=A9?="), "\xC3\xA9t\xC3\xA9 \xC3\xA9");
    /* raw 8-bit inside a word is taken in the word's charset */
    CHECK_STR(D2047("=?iso-8859-1?q?caf\xE9?="), "caf\xC3\xA9");
    /* invalid bytes in a word: U+FFFD, the rest survives */
    CHECK_STR(D2047("x =?utf-8?q?a=FFb?= y"), "x a" R "b y");
    /* hostile: many unfinished words, still linear and unchanged */
    size_t n = 200000;
    char *h = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        h[i] = "=?a?q?"[i % 6];
    h[n] = '\0';
    const char *out = RUN(rfc2047_decode(h, n, &b_));
    CHECK(out && strcmp(out, h) == 0);
    free(h);
    /* cached decoding gives the same */
    struct charset_cache *cc = charset_cache_new();
    static const char *const samples[] = {
        "=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?=",
        "=?koi8-r?b?8NLJ18XU?=",
        "=?koi8-r?q?=F0=D2=C9=D7=C5=D4?= =?iso-8859-2?q?=B1?=",
        "plain",
    };
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        char *a = strdup(RUN(rfc2047_decode(samples[i], strlen(samples[i]), &b_)));
        CHECK_STR(RUN(rfc2047_decode_cached(cc, samples[i], strlen(samples[i]), &b_)), a);
        CHECK_STR(RUN(rfc2047_decode_cached(cc, samples[i], strlen(samples[i]), &b_)), a);
        free(a);
    }
    CHECK_STR(RUN(rfc2047_decode_cached(cc, "=?koi8-r?b?8NLJ18XU?=", 21, &b_)),
              "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82");
    charset_cache_free(&cc);
    /* output ceiling */
    struct tbuf small;
    tbuf_init(&small, 3);
    CHECK_INT(rfc2047_decode("=?utf-8?q?abcdef?=", 18, &small), TERN_EPROTO);
    tbuf_free(&small);
}

/* Encode, check the shape (no line over 76 columns, no word over 75, no
 * bare CR or LF), unfold, decode, compare with the input. */
static void roundtrip_2047(const char *s, size_t used)
{
    const char *e = E2047(s, used);
    CHECK(e != NULL);
    if (!e)
        return;
    char *enc = strdup(e);
    CHECK(longest_line(enc, used) <= 76);
    for (const char *p = enc; *p; p++) {
        if (*p == '\r' || *p == '\n')
            CHECK(p[0] == '\r' && p[1] == '\n' && p[2] == ' ' && (p += 2));
    }
    /* every word on its own decodes to valid UTF-8: nothing split */
    for (const char *p = strstr(enc, "=?"); p; p = strstr(p + 2, "=?")) {
        const char *q = strstr(p + 10, "?=");
        CHECK(q != NULL);
        if (!q)
            break;
        CHECK(q + 2 - p <= 75);
        const char *w = RUN(rfc2047_decode(p, (size_t)(q + 2 - p), &b_));
        CHECK(w && utf8_valid(w, strlen(w)) && strstr(w, R) == NULL);
        p = q;
    }
    char *u = unfold(enc);
    /* a value that had to start on a new line unfolds with one blank */
    const char *d = RUN(rfc2047_decode(u, strlen(u), &b_));
    if (d && strncmp(enc, "\r\n ", 3) == 0 && s[0] != ' ' && *d == ' ')
        d++;
    CHECK_STR(d, s);
    free(u);
    free(enc);
}

static void test_2047_encode(void)
{
    CHECK_STR(E2047("Hello world", 9), "Hello world");
    CHECK_STR(E2047("", 9), "");
    CHECK_STR(E2047("caf\xC3\xA9", 9), "=?UTF-8?B?Y2Fmw6k=?=");
    CHECK_STR(E2047("Re: caf\xC3\xA9 ok", 9), "Re: =?UTF-8?B?Y2Fmw6k=?= ok");
    CHECK_STR(E2047("a \xC3\x9C"
                    "berraschungsparty b",
                    9),
              "a =?UTF-8?Q?=C3=9Cberraschungsparty?= b");
    CHECK_STR(E2047("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", 9), "=?UTF-8?B?5pel5pys6Kqe?=");
    CHECK_STR(E2047("x_y=?z", 9), "=?UTF-8?B?eF95PT96?="); /* looks like a word */
    CHECK_STR(E2047("a b=?c", 9), "=?UTF-8?B?YSBiPT9j?=");
    CHECK_STR(E2047("a\r\nBcc: evil", 9), "=?UTF-8?B?YQ0KQmNjOg==?= evil"); /* no injection */
    /* the first word uses what is left of the line; later ones fold */
    CHECK_STR(E2047("\xC3\x9C"
                    "berraschungsparty",
                    45),
              "=?UTF-8?Q?=C3=9Cberraschungsp?=\r\n =?UTF-8?Q?arty?=");
    CHECK_STR(E2047("\xC3\x9C"
                    "berraschungsparty",
                    40),
              "=?UTF-8?Q?=C3=9Cberraschungsparty?=");
    /* less than a useful piece left: the value starts on a new line */
    CHECK_STR(E2047("\xC3\x9C"
                    "berraschungsparty",
                    60),
              "\r\n =?UTF-8?Q?=C3=9Cberraschungsparty?=");
    roundtrip_2047("caf\xC3\xA9", 9);
    roundtrip_2047("Gr\xC3\xBC\xC3\x9F"
                   "e aus K\xC3\xB6ln, sch\xC3\xB6nen Tag noch und viele Gr\xC3\xBC\xC3\x9F"
                   "e an alle, die das hier lesen werden",
                   9);
    roundtrip_2047("  leading and trailing blanks \xC3\xA9  ", 9);
    roundtrip_2047("\xC3\xA9  double  \xC3\xA9", 0);
    roundtrip_2047("a\r\nBcc: evil", 9);
    roundtrip_2047("=?utf-8?q?not_a_word?= \xC3\xA9", 9);
    roundtrip_2047("=?not-a-word", 9);
    roundtrip_2047("tab\there", 9);
    roundtrip_2047(" x\xC3\xA9", 61);        /* blank first, no room: fold at that blank */
    roundtrip_2047("x\xC3\xA9", 61);         /* no blank, no room: fold first */
    roundtrip_2047(" \x01\x1D=?UTF-8?", 63); /* leading blank kept raw when all is encoded */
    roundtrip_2047("\xF0\x9F\x98\x80\xF0\x9F\x98\x80 emoji", 70);
    char big[1200];
    size_t k = 0;
    for (int i = 0; i < 150; i++) { /* Q-friendly: mostly ASCII */
        memcpy(big + k, i % 5 ? "ab " : "\xC3\xBC ", i % 5 ? 3 : 3);
        k += 3;
    }
    big[k] = '\0';
    roundtrip_2047(big, 9);
    k = 0;
    for (int i = 0; i < 200; i++) { /* B: all 3-byte characters */
        memcpy(big + k, "\xE2\x82\xAC", 3);
        k += 3;
    }
    big[k] = '\0';
    roundtrip_2047(big, 9);
    roundtrip_2047(big, 60);
    k = 0;
    for (int i = 0; i < 100; i++) { /* one long word, 4-byte characters */
        memcpy(big + k, "\xF0\x9F\x98\x80", 4);
        k += 4;
    }
    big[k] = '\0';
    roundtrip_2047(big, 0);
}

static void test_2231(void)
{
    char cs[RFC2231_CHARSET_MAX];
    const char *v = "utf-8'en'%E2%82%AC";
    const char *rest = rfc2231_split_charset(v, strlen(v), cs, sizeof cs);
    CHECK_STR(cs, "utf-8");
    CHECK_STR(rest, "%E2%82%AC");
    v = "''abc";
    CHECK_STR(rfc2231_split_charset(v, strlen(v), cs, sizeof cs), "abc");
    CHECK_STR(cs, "");
    v = "no quotes";
    CHECK(rfc2231_split_charset(v, strlen(v), cs, sizeof cs) == v);
    CHECK_STR(cs, "");
    v = "it's";
    CHECK(rfc2231_split_charset(v, strlen(v), cs, sizeof cs) == v);
    v = "iso-8859-1'de'x";
    char tiny[4];
    CHECK_STR(rfc2231_split_charset(v, strlen(v), tiny, sizeof tiny), "x");
    CHECK_STR(tiny, "iso");
    /* the quotes must be within n */
    v = "abc'de'f";
    CHECK(rfc2231_split_charset(v, 6, cs, sizeof cs) == v);

    CHECK_STR(RUN(rfc2231_decode_segment("%E2%82%AC", 9, true, "utf-8", &b_)), "\xE2\x82\xAC");
    CHECK_STR(RUN(rfc2231_decode_segment("%e2%82%ac", 9, true, "utf-8", &b_)), "\xE2\x82\xAC");
    CHECK_STR(RUN(rfc2231_decode_segment("%ef%BF%bD", 9, true, "utf-8", &b_)), R);
    CHECK_STR(RUN(rfc2231_decode_segment("100%ZZ %4", 9, true, NULL, &b_)), "100%ZZ %4");
    CHECK_STR(RUN(rfc2231_decode_segment("%41%42", 6, false, NULL, &b_)), "%41%42");
    CHECK_STR(RUN(rfc2231_decode_segment(NULL, 0, true, NULL, &b_)), "");

    /* continuations: name*0*=utf-8''%E2%82 name*1*=%AC name*2=" 100%" */
    {
        struct tbuf raw, out;
        tbuf_init(&raw, 0);
        tbuf_init(&out, 0);
        const char *s0 = "utf-8''%E2%82", *s1 = "%AC", *s2 = " 100%";
        const char *r0 = rfc2231_split_charset(s0, strlen(s0), cs, sizeof cs);
        CHECK_INT(rfc2231_decode_segment(r0, strlen(r0), true, cs, &raw), TERN_OK);
        CHECK_INT(rfc2231_decode_segment(s1, strlen(s1), true, cs, &raw), TERN_OK);
        CHECK_INT(rfc2231_decode_segment(s2, strlen(s2), false, cs, &raw), TERN_OK);
        CHECK_INT(charset_to_utf8(cs, raw.data, raw.len, &out), TERN_OK);
        CHECK_STR(out.data, "\xE2\x82\xAC 100%");
        tbuf_free(&raw);
        tbuf_free(&out);
    }
    /* RFC 2231 section 4 example, and a latin-1 value */
    v = "us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A";
    CHECK_STR(RUN(rfc2231_decode_value(v, strlen(v), &b_)), "This is ***fun***");
    v = "iso-8859-1'de'Gr%FC%DFe";
    CHECK_STR(RUN(rfc2231_decode_value(v, strlen(v), &b_)), "Gr\xC3\xBC\xC3\x9F"
                                                            "e");
    v = "''caf%C3%A9";
    CHECK_STR(RUN(rfc2231_decode_value(v, strlen(v), &b_)), "caf\xC3\xA9");
    v = "koi8-r''%F0%D2";
    CHECK_STR(RUN(rfc2231_decode_value(v, strlen(v), &b_)), "\xD0\x9F\xD1\x80");

    /* encoding */
    CHECK_STR(RUN(rfc2231_encode_param("filename",
                                       "Gr\xC3\xBC\xC3\x9F"
                                       "e.txt",
                                       &b_)),
              "filename*=utf-8''Gr%C3%BC%C3%9Fe.txt");
    CHECK_STR(RUN(rfc2231_encode_param("name", "a b;c\"d", &b_)), "name*=utf-8''a%20b%3Bc%22d");
    CHECK_STR(RUN(rfc2231_encode_param("name", "", &b_)), "name*=utf-8''");
    {
        struct tbuf b;
        tbuf_init(&b, 0);
        CHECK_INT(rfc2231_encode_param("", "x", &b), TERN_EDATA);
        CHECK_INT(rfc2231_encode_param(NULL, "x", &b), TERN_EDATA);
        CHECK_INT(rfc2231_encode_param("file name", "x", &b), TERN_EDATA);
        CHECK_INT(rfc2231_encode_param("name*", "x", &b), TERN_EDATA);
        CHECK_INT(rfc2231_encode_param("na\r\nme", "x", &b), TERN_EDATA);
        CHECK_INT(rfc2231_encode_param("name", NULL, &b), TERN_EDATA);
        tbuf_free(&b);
    }
    /* long value: continuations, lines <= 76, no split sequence, and the
     * segments decode back to the value */
    char val[400];
    size_t k = 0;
    for (int i = 0; i < 60; i++) {
        memcpy(val + k, i % 3 ? "\xC3\xA4" : "x", i % 3 ? 2 : 1);
        k += i % 3 ? 2 : 1;
    }
    memcpy(val + k, "\xF0\x9F\x98\x80 end", 8);
    k += 8;
    val[k] = '\0';
    const char *enc = RUN(rfc2231_encode_param("filename", val, &b_));
    CHECK(enc && strncmp(enc, "filename*0*=utf-8''", 19) == 0);
    CHECK(enc && longest_line(enc, 1) <= 75); /* plus the ";" */
    struct tbuf raw, out;
    tbuf_init(&raw, 0);
    tbuf_init(&out, 0);
    char *copy = strdup(enc ? enc : "");
    unsigned segs = 0;
    for (char *p = copy; p && *p; segs++) {
        char *end = strstr(p, ";\r\n ");
        if (end)
            *end = '\0';
        char head[32];
        snprintf(head, sizeof head, "filename*%u*=", segs);
        CHECK(strncmp(p, head, strlen(head)) == 0);
        const char *body = p + strlen(head);
        if (segs == 0)
            body = rfc2231_split_charset(body, strlen(body), cs, sizeof cs);
        struct tbuf one;
        tbuf_init(&one, 0);
        rfc2231_decode_segment(body, strlen(body), true, cs, &one);
        CHECK(utf8_valid(one.data, one.len)); /* segments never split a character */
        tbuf_free(&one);
        rfc2231_decode_segment(body, strlen(body), true, cs, &raw);
        p = end ? end + 4 : NULL;
    }
    CHECK(segs >= 3);
    CHECK_STR(cs, "utf-8");
    charset_to_utf8(cs, raw.data, raw.len, &out);
    CHECK_STR(out.data, val);
    tbuf_free(&raw);
    tbuf_free(&out);
    free(copy);
}

int main(void)
{
    test_base64();
    test_qp_decode();
    test_qp_encode();
    test_2047_decode();
    test_2047_encode();
    test_2231();
    free(last);
    return check_done("codec");
}
