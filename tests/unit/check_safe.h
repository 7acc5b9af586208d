/*
 * What "safe to show on a terminal" means to the unit tests of rendered
 * message output (test_mime.c, test_mime_hostile.c).
 */
#ifndef TERN_TEST_CHECK_SAFE_H
#define TERN_TEST_CHECK_SAFE_H

#include "core/charset/lib.h"

/* Output is unsafe when it is not valid UTF-8 (a stray 0x9B byte is a CSI
 * on some terminals) or holds a C0 control other than TAB and LF (ESC, BEL,
 * NUL, CR, BS, ...), DEL, a C1 control (U+009B is CSI) or a bidi
 * override/isolate. 0x9B inside a valid sequence (U+00DB) is an ordinary
 * character. */
static inline bool has_unsafe(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = utf8_decode(s + i, n - i, &cp);
        if (cp == 0xFFFD && k == 1)
            return true;
        if ((cp < 0x20 && cp != '\t' && cp != '\n') || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
            (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
            return true;
        i += k;
    }
    return false;
}

#endif
