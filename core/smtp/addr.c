#include "lib.h"

#include <string.h>

enum tern_rc smtp_addr_check(const char *addr, bool allow_empty, bool *utf8, struct tern_err *err)
{
    if (utf8)
        *utf8 = false;
    if (!addr)
        return tern_fail(err, TERN_EDATA, "missing address");
    size_t n = strlen(addr);
    if (n == 0)
        return allow_empty ? TERN_OK : tern_fail(err, TERN_EDATA, "empty address");
    if (n > SMTP_ADDR_MAX)
        return tern_fail(err, TERN_EDATA, "address longer than %d octets", SMTP_ADDR_MAX);
    const unsigned char *s = (const unsigned char *)addr;
    const char *at = strrchr(addr, '@');
    bool nonascii = false;
    for (size_t i = 0; i < n; i++) {
        unsigned c = s[i];
        if (c < 0x20 || c == 0x7f)
            return tern_fail(err, TERN_EDATA, "control character in address");
        if (c == ' ' || c == '<' || c == '>')
            return tern_fail(err, TERN_EDATA, "'%c' in address", (char)c);
        if (c >= 0x80) {
            uint32_t cp;
            size_t k = tern_utf8_seq(s + i, n - i, &cp);
            if (!k)
                return tern_fail(err, TERN_EDATA, "address is not valid UTF-8");
            i += k - 1;
            nonascii = true;
        }
    }
    if (!at || at == addr || at[1] == '\0')
        return tern_fail(err, TERN_EDATA, "address is not of the form local@domain");
    /* The domain: a dotted name without empty labels, or an address
     * literal in brackets. '@' may appear in a quoted local part only. */
    const char *dom = at + 1;
    if (dom[0] == '[') {
        size_t dn = strlen(dom);
        if (dn < 3 || dom[dn - 1] != ']')
            return tern_fail(err, TERN_EDATA, "bad address literal");
        for (size_t i = 1; i + 1 < dn; i++)
            if (dom[i] == '[' || dom[i] == ']' || dom[i] == '\\')
                return tern_fail(err, TERN_EDATA, "bad address literal");
    } else {
        if (dom[0] == '.' || dom[strlen(dom) - 1] == '.' || strstr(dom, ".."))
            return tern_fail(err, TERN_EDATA, "empty label in the domain");
        for (const char *p = dom; *p; p++) {
            unsigned char c = (unsigned char)*p;
            bool ok = c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
            if (!ok)
                return tern_fail(err, TERN_EDATA, "'%c' in the domain", (char)c);
        }
    }
    /* The local part: dot-atom, or a quoted string (no backslash games:
     * a quoted local part may not contain '"' or '\'). */
    size_t ln = (size_t)(at - addr);
    if (addr[0] == '"') {
        if (ln < 2 || addr[ln - 1] != '"')
            return tern_fail(err, TERN_EDATA, "bad quoted local part");
        for (size_t i = 1; i + 1 < ln; i++)
            if (addr[i] == '"' || addr[i] == '\\')
                return tern_fail(err, TERN_EDATA, "bad quoted local part");
    } else {
        for (size_t i = 0; i < ln; i++) {
            unsigned char c = (unsigned char)addr[i];
            if (c < 0x80 && strchr("\"(),:;@[\\]", c))
                return tern_fail(err, TERN_EDATA, "'%c' in the local part", (char)c);
        }
        if (addr[0] == '.' || addr[ln - 1] == '.')
            return tern_fail(err, TERN_EDATA, "local part starts or ends with '.'");
    }
    if (utf8)
        *utf8 = nonascii;
    return TERN_OK;
}
