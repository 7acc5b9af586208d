#include "lib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool tern_parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    if (!s || n == 0)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

bool tern_has_crlf(const char *s, size_t n)
{
    if (!s)
        return false;
    if (n == SIZE_MAX)
        return strpbrk(s, "\r\n") != NULL;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
            return true;
    return false;
}

bool tern_snprintf(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst, size, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < size;
}

char *tern_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

char *tern_strndup(const char *s, size_t n)
{
    return s ? strndup(s, n) : NULL;
}

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

int tern_strncasecmp(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int ca = lower((unsigned char)a[i]), cb = lower((unsigned char)b[i]);
        if (ca != cb || ca == 0)
            return ca - cb;
    }
    return 0;
}

int tern_strcasecmp(const char *a, const char *b)
{
    return tern_strncasecmp(a, b, SIZE_MAX);
}

void tern_free_secret(char *s)
{
    if (!s)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}
