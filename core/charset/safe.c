/* Terminal safety and JSON escaping: what every output boundary applies to
 * text that came from outside. An escape sequence is swallowed whole and
 * shown as one placeholder, so "a<ESC>[31mb" reads "a\uFFFDb", and a
 * sequence that never ends within SAFE_SEQ_MAX bytes swallows nothing. */
#include "private.h"

#include <stdlib.h>

enum seq_kind {
    SEQ_CSI,    /* parameters and intermediates, then one final byte */
    SEQ_OSC,    /* a string ended by ST or BEL */
    SEQ_STRING, /* DCS, SOS, PM, APC: a string ended by ST */
};

static bool is_c1_string_intro(unsigned char b)
{
    return b == 0x90 || b == 0x98 || b == 0x9D || b == 0x9E || b == 0x9F; /* DCS SOS OSC PM APC */
}

/* The end (exclusive) of the sequence whose introducer starts at `start`
 * and whose body starts at `body`, or 0 when it is not terminated within
 * SAFE_SEQ_MAX bytes or before the end of the input. A new ESC or C1
 * introducer inside a string aborts it (terminals do the same), which also
 * keeps the scan linear: no byte is scanned by two sequences. */
static size_t seq_end(const char *in, size_t n, size_t start, size_t body, enum seq_kind kind)
{
    const unsigned char *p = (const unsigned char *)in;
    for (size_t k = body; k < n && k - start <= SAFE_SEQ_MAX; k++) {
        unsigned char b = p[k];
        if (b == 0x18 || b == 0x1A) /* CAN, SUB: cancel the sequence */
            return k + 1;
        if (kind == SEQ_CSI) {
            if (b >= 0x20 && b <= 0x3F)
                continue;
            if (b >= 0x40 && b <= 0x7E)
                return k + 1;
            return k; /* anything else breaks it off here */
        }
        if (b == 0x07 && kind == SEQ_OSC)
            return k + 1;
        if (b == 0x1B)
            return k + 1 < n && p[k + 1] == '\\' ? k + 2 : k;
        if (b == 0x9C) /* 8-bit ST as a raw byte */
            return k + 1;
        if (b == 0xC2 && k + 1 < n) {
            if (p[k + 1] == 0x9C) /* U+009C ST */
                return k + 2;
            if (p[k + 1] == 0x9B || is_c1_string_intro(p[k + 1]))
                return k;
        }
    }
    return 0;
}

/* Bytes an ESC at in[i] takes together with what follows it; at least 1. */
static size_t esc_len(const char *in, size_t n, size_t i)
{
    const unsigned char *p = (const unsigned char *)in;
    if (i + 1 >= n)
        return 1;
    unsigned char b = p[i + 1];
    size_t end;
    switch (b) {
    case '[':
        end = seq_end(in, n, i, i + 2, SEQ_CSI);
        return end ? end - i : 2;
    case ']':
        end = seq_end(in, n, i, i + 2, SEQ_OSC);
        return end ? end - i : 2;
    case 'P':
    case 'X':
    case '^':
    case '_':
        end = seq_end(in, n, i, i + 2, SEQ_STRING);
        return end ? end - i : 2;
    default:
        break;
    }
    if (b >= 0x20 && b <= 0x2F) { /* intermediates, then a final byte: ESC ( B */
        size_t k = i + 1;
        while (k < n && p[k] >= 0x20 && p[k] <= 0x2F && k - i < SAFE_SEQ_MAX)
            k++;
        if (k < n && p[k] >= 0x30 && p[k] <= 0x7E)
            return k + 1 - i;
        return 1; /* unfinished: only the ESC goes */
    }
    if (b >= 0x30 && b <= 0x7E) /* two-byte ESC x: ESC c, ESC 7, ESC \ */
        return 2;
    return 1;
}

/* Bytes a C1 control written as UTF-8 (C2 80..C2 9F) at in[i] takes. */
static size_t c1_len(const char *in, size_t n, size_t i)
{
    unsigned char b = (unsigned char)in[i + 1];
    size_t end = 0;
    if (b == 0x9B)
        end = seq_end(in, n, i, i + 2, SEQ_CSI);
    else if (b == 0x9D)
        end = seq_end(in, n, i, i + 2, SEQ_OSC);
    else if (is_c1_string_intro(b))
        end = seq_end(in, n, i, i + 2, SEQ_STRING);
    return end ? end - i : 2;
}

static bool is_bidi_control(uint32_t cp)
{
    return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

enum tern_rc safe_text(const char *in, size_t n, unsigned flags, struct tbuf *out)
{
    const char *ph = (flags & SAFE_ASCII) ? "?" : CS_REPL;
    size_t phl = (flags & SAFE_ASCII) ? 1 : CS_REPL_LEN;
    struct tbuf_stage e;
    size_t i = 0, run = 0; /* in[run..i) is safe text not yet emitted */
    tbuf_stage_init(&e, out);
    if (!in) {
        in = "";
        n = 0;
    }
    while (i < n && e.rc == TERN_OK) {
        unsigned char c = (unsigned char)in[i];
        if (c >= 0x20 && c < 0x7F) {
            i++;
            continue;
        }
        size_t take = 1;      /* bytes this character or sequence covers */
        const char *rep = ph; /* what stands for it; NULL: keep as is */
        size_t repl = phl;
        if (c >= 0x80) {
            uint32_t cp;
            size_t len = utf8_decode(in + i, n - i, &cp);
            if (cp == 0xFFFD && len == 1) {
                take = 1;
            } else if (cp >= 0x80 && cp <= 0x9F) {
                take = c1_len(in, n, i);
            } else if (is_bidi_control(cp)) {
                take = len;
            } else {
                i += len; /* ordinary text */
                continue;
            }
        } else if (c == 0x1B) {
            take = esc_len(in, n, i);
        } else if (c == '\t' && (flags & (SAFE_ALLOW_TAB | SAFE_TAB_AS_SPACE))) {
            rep = flags & SAFE_ALLOW_TAB ? "\t" : " ";
            repl = 1;
        } else if (c == '\n' && (flags & SAFE_ALLOW_NEWLINE)) {
            rep = "\n";
            repl = 1;
        } else if (c == '\r' && (flags & SAFE_ALLOW_NEWLINE) && i + 1 < n && in[i + 1] == '\n') {
            rep = "\n";
            repl = 1;
            take = 2;
        }
        tbuf_stage_put(&e, in + run, i - run);
        tbuf_stage_put(&e, rep, repl);
        i += take;
        run = i;
    }
    tbuf_stage_put(&e, in + run, i - run);
    return tbuf_stage_done(&e);
}

char *safe_text_dup(const char *in, size_t n, unsigned flags)
{
    struct tbuf b;
    tbuf_init(&b, 0);
    if (safe_text(in, n, flags, &b) != TERN_OK) {
        tbuf_free(&b);
        return NULL;
    }
    return tbuf_steal(&b);
}

enum tern_rc json_put_string(struct tbuf *out, const char *in, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    struct tbuf_stage e;
    size_t i = 0, run = 0;
    tbuf_stage_init(&e, out);
    if (!in) {
        in = "";
        n = 0;
    }
    tbuf_stage_putc(&e, '"');
    while (i < n) {
        unsigned char c = (unsigned char)in[i];
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
            i++;
            continue;
        }
        uint32_t cp = c;
        size_t len = 1;
        if (c >= 0x80) {
            len = utf8_decode(in + i, n - i, &cp);
            if (!(cp >= 0x80 && cp <= 0x9F) && !is_bidi_control(cp) && cp != 0x2028 &&
                cp != 0x2029 && !(cp == 0xFFFD && len == 1)) {
                i += len;
                continue;
            }
        }
        tbuf_stage_put(&e, in + run, i - run);
        i += len;
        run = i;
        char esc[6] = {'\\', 'u', '0', '0', '0', '0'};
        switch (cp) {
        case '"':
            tbuf_stage_put(&e, "\\\"", 2);
            continue;
        case '\\':
            tbuf_stage_put(&e, "\\\\", 2);
            continue;
        case '\b':
            tbuf_stage_put(&e, "\\b", 2);
            continue;
        case '\f':
            tbuf_stage_put(&e, "\\f", 2);
            continue;
        case '\n':
            tbuf_stage_put(&e, "\\n", 2);
            continue;
        case '\r':
            tbuf_stage_put(&e, "\\r", 2);
            continue;
        case '\t':
            tbuf_stage_put(&e, "\\t", 2);
            continue;
        case 0xFFFD: /* only the invalid byte reaches here */
            tbuf_stage_put(&e, CS_REPL, CS_REPL_LEN);
            continue;
        default:
            esc[2] = hex[(cp >> 12) & 0xF];
            esc[3] = hex[(cp >> 8) & 0xF];
            esc[4] = hex[(cp >> 4) & 0xF];
            esc[5] = hex[cp & 0xF];
            tbuf_stage_put(&e, esc, sizeof esc);
            continue;
        }
    }
    tbuf_stage_put(&e, in + run, i - run);
    tbuf_stage_putc(&e, '"');
    tbuf_stage_flush(&e);
    return e.rc;
}
