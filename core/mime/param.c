/* Content-Type / Content-Disposition parameters. The field is unfolded
 * into one owned copy and split in place (quoted values unescaped in
 * place: unescaping only shrinks), so a parameter list costs one
 * allocation and one pass. */
#include "private.h"

#include "core/charset/lib.h"
#include "core/codec/lib.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SECTIONS 100 /* RFC 2231 continuations joined at most */

/* Skip whitespace and comments. */
static char *skip_cfws(char *p)
{
    for (;;) {
        while (mime_is_space(*p))
            p++;
        if (*p != '(')
            return p;
        int depth = 0;
        for (; *p; p++) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '(')
                depth++;
            else if (*p == ')' && --depth == 0) {
                p++;
                break;
            }
        }
    }
}

static void lower_str(char *s)
{
    for (; *s; s++)
        *s = mime_lower(*s);
}

/* Split "name*3*" into its base, section and extended flag (in place). */
static void split_name(char *name, struct mime_param *p)
{
    size_t n = strlen(name);
    p->section = -1;
    p->extended = false;
    if (n > 1 && name[n - 1] == '*') {
        p->extended = true;
        name[--n] = '\0';
    }
    size_t d = n;
    while (d > 0 && name[d - 1] >= '0' && name[d - 1] <= '9')
        d--;
    if (d < n && d > 1 && name[d - 1] == '*') {
        uint64_t v;
        if (tern_parse_u64(name + d, n - d, MAX_SECTIONS, &v)) {
            p->section = (int)v;
            name[d - 1] = '\0';
        }
    }
    lower_str(name);
    p->name = name;
}

enum tern_rc mime_params_parse(const char *raw, size_t n, struct mime_params *p)
{
    memset(p, 0, sizeof *p);
    struct tbuf b;
    tbuf_init(&b, 0);
    if (mime_header_unfold(raw, n, &b)) {
        tbuf_free(&b);
        return TERN_ENOMEM;
    }
    /* A NUL inside would end the in-place strings early: harmless, the
     * rest is simply not seen. */
    p->text = tbuf_steal(&b);
    if (!p->text)
        return TERN_ENOMEM;
    char *s = skip_cfws(p->text);
    /* The main value ends at ';', whitespace or a comment. Every NUL is
     * written only behind the scan position, so no ';' is lost. */
    char *v = s;
    while (*s && *s != ';' && !mime_is_space(*s) && *s != '(')
        s++;
    char *vend = s;
    while (*s && *s != ';')
        s++;
    bool more = *s == ';';
    if (more)
        s++;
    *vend = '\0';
    lower_str(v);
    p->value = v;
    while (more) {
        more = false;
        s = skip_cfws(s);
        if (!*s)
            break;
        char *name = s;
        while (*s && *s != '=' && *s != ';' && !mime_is_space(*s))
            s++;
        char *name_end = s;
        s = skip_cfws(s);
        if (*s != '=') {
            /* "; junk" without a value */
            while (*s && *s != ';')
                s++;
            if (*s == ';') {
                more = true;
                s++;
            }
            continue;
        }
        s++;
        *name_end = '\0';
        s = skip_cfws(s);
        char *val = s;
        if (*s == '"') {
            char *w = s;
            s++;
            while (*s && *s != '"') {
                if (*s == '\\' && s[1])
                    s++;
                *w++ = *s++;
            }
            if (*s == '"')
                s++;
            while (*s && *s != ';')
                s++;
            if (*s == ';') {
                more = true;
                s++;
            }
            *w = '\0';
        } else {
            /* A token; lenient: everything up to ';' (broken mailers leave
             * spaces unquoted) minus a trailing comment and whitespace. */
            while (*s && *s != ';')
                s++;
            char *e = s;
            if (*s == ';') {
                more = true;
                s++;
            }
            for (char *c = val; c < e; c++) {
                if (*c == '(') {
                    e = c;
                    break;
                }
            }
            while (e > val && mime_is_space(e[-1]))
                e--;
            *e = '\0';
        }
        if (name_end > name && p->n < MIME_MAX_PARAMS) {
            struct mime_param *pp = &p->v[p->n];
            split_name(name, pp);
            pp->value = val;
            p->n++;
        }
    }
    return TERN_OK;
}

void mime_params_free(struct mime_params *p)
{
    if (!p)
        return;
    free(p->text);
    memset(p, 0, sizeof *p);
}

const char *mime_param_raw(const struct mime_params *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].section < 0 && !p->v[i].extended && !strcmp(p->v[i].name, name))
            return p->v[i].value;
    return NULL;
}

static const struct mime_param *find(const struct mime_params *p, const char *name, int section,
                                     int extended /* -1 any */)
{
    for (size_t i = 0; i < p->n; i++) {
        const struct mime_param *q = &p->v[i];
        if (q->section == section && (extended < 0 || q->extended == (extended > 0)) &&
            !strcmp(q->name, name))
            return q;
    }
    return NULL;
}

/* RFC 2231: name*=charset'lang'%XX or name*0*=..., name*1=..., joined
 * raw, then converted from the charset of section 0. */
static enum tern_rc decode_2231(const struct mime_params *p, const char *name,
                                const struct mime_param *single, char **out)
{
    char cs[64] = "";
    struct tbuf raw, utf;
    tbuf_init(&raw, 0);
    tbuf_init(&utf, 0);
    enum tern_rc rc = TERN_OK;
    bool any_extended = false;
    for (int sec = single ? -1 : 0; sec <= MAX_SECTIONS && !rc; sec++) {
        const struct mime_param *q = single ? single : find(p, name, sec, -1);
        if (!q)
            break;
        const char *v = q->value;
        size_t vn = strlen(v);
        if (q->extended) {
            any_extended = true;
            if (sec <= 0) {
                const char *rest = rfc2231_split_charset(v, vn, cs, sizeof cs);
                vn -= (size_t)(rest - v);
                v = rest;
            }
        }
        rc = rfc2231_decode_segment(v, vn, q->extended, cs[0] ? cs : NULL, &raw);
        if (single)
            break;
    }
    if (!rc) {
        if (any_extended)
            rc = charset_to_utf8(cs[0] ? cs : NULL, raw.data ? raw.data : "", raw.len, &utf);
        else
            rc = rfc2047_decode(raw.data ? raw.data : "", raw.len, &utf);
    }
    tbuf_free(&raw);
    if (rc) {
        tbuf_free(&utf);
        return rc;
    }
    *out = mime_take_str(&utf);
    return *out ? TERN_OK : TERN_ENOMEM;
}

enum tern_rc mime_param_decoded(const struct mime_params *p, const char *name, char **out)
{
    *out = NULL;
    const struct mime_param *q = find(p, name, -1, 1);
    if (q)
        return decode_2231(p, name, q, out);
    if (find(p, name, 0, -1))
        return decode_2231(p, name, NULL, out);
    q = find(p, name, -1, 0);
    if (!q)
        return TERN_OK;
    *out = mime_decode_text(q->value, strlen(q->value));
    return *out ? TERN_OK : TERN_ENOMEM;
}
