#include "private.h"

#include "core/charset/lib.h"
#include "core/codec/lib.h"
#include "core/smtp/lib.h"

#include <stdlib.h>
#include <string.h>

void compose_addrs_free(struct compose_addrs *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].addr);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void compose_quote_for_msg(const char *s, size_t n, char *buf, size_t size)
{
    size_t o = 0;
    size_t lim = size > 84 ? 80 : size - 4;
    for (size_t i = 0; i < n && o < lim; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (o < n && o == lim) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
}

bool compose_has_ctl_line(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
            return true;
    return false;
}

/* One element of a list being parsed. */
struct elem {
    struct tbuf phrase; /* display text, tokens joined by one space */
    struct tbuf spec;   /* addr-spec text when there are no angle brackets */
    struct tbuf angle;  /* text inside <...> */
    bool seen_angle, after_angle, space_pending;
    bool spec_gap;     /* whitespace between two words of the spec */
    const char *start; /* where the element starts, for messages */
};

static void elem_reset(struct elem *e, const char *start)
{
    tbuf_reset(&e->phrase);
    tbuf_reset(&e->spec);
    tbuf_reset(&e->angle);
    e->seen_angle = e->after_angle = e->space_pending = e->spec_gap = false;
    e->start = start;
}

static enum tern_rc phrase_put(struct elem *e, const char *p, size_t n)
{
    enum tern_rc rc = TERN_OK;
    if (e->space_pending && e->phrase.len)
        rc = tbuf_putc(&e->phrase, ' ');
    e->space_pending = false;
    return rc ? rc : tbuf_append(&e->phrase, p, n);
}

static enum tern_rc bad(const struct elem *e, const char *end, const char *why,
                        struct tern_err *err)
{
    char q[100];
    compose_quote_for_msg(e->start, (size_t)(end - e->start), q, sizeof q);
    return tern_fail(err, TERN_EDATA, "invalid address '%s': %s", q, why);
}

static enum tern_rc finish(struct elem *e, const char *end, struct compose_addrs *out,
                           struct tern_err *err)
{
    const char *addr;
    if (e->seen_angle) {
        if (!e->after_angle)
            return bad(e, end, "missing '>'", err);
        addr = e->angle.data ? e->angle.data : "";
        /* obsolete source route "@a,@b:local@domain" */
        if (addr[0] == '@' && strchr(addr, ':'))
            addr = strchr(addr, ':') + 1;
    } else {
        if (!e->spec.len && !e->phrase.len)
            return TERN_OK; /* empty element: ",," or a trailing comma */
        if (e->spec_gap)
            return bad(e, end, "a name needs the address in <...>", err);
        addr = e->spec.data ? e->spec.data : "";
    }
    struct tern_err why = {0};
    if (smtp_addr_check(addr, false, NULL, &why))
        return bad(e, end, why.msg, err);
    if (out->n >= COMPOSE_ADDRS_MAX)
        return tern_fail(err, TERN_EDATA, "more than %d addresses in one list", COMPOSE_ADDRS_MAX);
    struct compose_addr *v = realloc(out->v, (out->n + 1) * sizeof *v);
    if (!v)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    out->v = v;
    struct compose_addr *a = &v[out->n];
    a->addr = tern_strdup(addr);
    a->name = e->seen_angle && e->phrase.len ? tern_strdup(e->phrase.data) : NULL;
    if (!a->addr || (e->seen_angle && e->phrase.len && !a->name)) {
        free(a->addr);
        free(a->name);
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    }
    out->n++;
    return TERN_OK;
}

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

static enum tern_rc parse(const char *s, size_t n, bool header, struct compose_addrs *out,
                          struct tern_err *err)
{
    if (!header && compose_has_ctl_line(s, n))
        return tern_fail(err, TERN_EDATA, "CR, LF or NUL in an address list");
    if (memchr(s, '\0', n))
        return tern_fail(err, TERN_EDATA, "NUL in an address list");
    struct elem e;
    tbuf_init(&e.phrase, 4096);
    tbuf_init(&e.spec, 4096);
    tbuf_init(&e.angle, 4096);
    elem_reset(&e, s);
    enum tern_rc rc = TERN_OK;
    bool in_group = false;
    size_t i = 0;
    while (i < n && !rc) {
        char c = s[i];
        if (c == '\r' || c == '\n') {
            /* header mode: only folding (line end followed by WSP) */
            size_t k = i;
            if (s[k] == '\r' && k + 1 < n && s[k + 1] == '\n')
                k++;
            if (k + 1 >= n || !is_wsp(s[k + 1])) {
                rc = bad(&e, s + i, "line break that is not folding", err);
                break;
            }
            e.space_pending = true;
            i = k + 1;
            continue;
        }
        if (is_wsp(c)) {
            e.space_pending = true;
            i++;
            continue;
        }
        if (c == '(') {
            int depth = 0;
            size_t k = i;
            for (; k < n; k++) {
                if (s[k] == '\\' && k + 1 < n) {
                    k++;
                    continue;
                }
                if (s[k] == '(')
                    depth++;
                else if (s[k] == ')' && --depth == 0)
                    break;
            }
            if (k >= n) {
                rc = bad(&e, s + n, "unterminated comment", err);
                break;
            }
            e.space_pending = true;
            i = k + 1;
            continue;
        }
        if (e.after_angle && c != ',' && c != ';') {
            rc = bad(&e, s + i + 1, "text after '>'", err);
            break;
        }
        if (c == '"') {
            size_t k = i + 1;
            struct tbuf q;
            tbuf_init(&q, 4096);
            for (; k < n && s[k] != '"' && !rc; k++) {
                if (s[k] == '\\' && k + 1 < n)
                    k++;
                if (s[k] != '\r' && s[k] != '\n')
                    rc = tbuf_putc(&q, s[k]);
            }
            if (!rc && k >= n)
                rc = bad(&e, s + n, "unterminated quoted string", err);
            if (e.space_pending && e.spec.len && !strchr(".@", e.spec.data[e.spec.len - 1]))
                e.spec_gap = true;
            if (!rc)
                rc = phrase_put(&e, q.data ? q.data : "", q.len);
            tbuf_free(&q);
            if (!rc && !e.seen_angle)
                rc = tbuf_append(&e.spec, s + i, k + 1 - i);
            i = k + 1;
            continue;
        }
        if (c == '<') {
            if (e.seen_angle) {
                rc = bad(&e, s + i + 1, "second '<'", err);
                break;
            }
            size_t k = i + 1;
            while (k < n && s[k] != '>') {
                if (s[k] == '"') { /* quoted local part inside the brackets */
                    k++;
                    while (k < n && s[k] != '"')
                        k += s[k] == '\\' ? 2 : 1;
                }
                if (k < n)
                    k++;
            }
            if (k >= n) {
                rc = bad(&e, s + n, "missing '>'", err);
                break;
            }
            size_t a = i + 1, b = k;
            while (a < b && is_wsp(s[a]))
                a++;
            while (b > a && is_wsp(s[b - 1]))
                b--;
            rc = tbuf_append(&e.angle, s + a, b - a);
            e.seen_angle = e.after_angle = true;
            i = k + 1;
            continue;
        }
        if (c == ',' || c == ';') {
            if (c == ';' && !in_group) {
                rc = bad(&e, s + i + 1, "';' outside a group", err);
                break;
            }
            if (c == ';')
                in_group = false;
            rc = finish(&e, s + i, out, err);
            elem_reset(&e, s + i + 1);
            i++;
            continue;
        }
        if (c == ':' && !e.seen_angle) {
            /* "name:" starts a group; the name is not an address */
            if (in_group) {
                rc = bad(&e, s + i + 1, "group inside a group", err);
                break;
            }
            in_group = true;
            elem_reset(&e, s + i + 1);
            i++;
            continue;
        }
        if (c == '[') { /* domain literal: copied whole into the spec */
            size_t k = i;
            while (k < n && s[k] != ']')
                k++;
            if (k >= n) {
                rc = bad(&e, s + n, "unterminated '['", err);
                break;
            }
            rc = phrase_put(&e, s + i, k + 1 - i);
            if (!rc)
                rc = tbuf_append(&e.spec, s + i, k + 1 - i);
            i = k + 1;
            continue;
        }
        if (c == '>' || c == ']' || c == ')' || c == '\\') {
            rc = bad(&e, s + i + 1, "unexpected character", err);
            break;
        }
        /* an atom, or '.' / '@' of an addr-spec */
        size_t k = i;
        while (k < n && !is_wsp(s[k]) && !strchr("()<>[]:;,\"\\\r\n", s[k]))
            k++;
        /* "a @ b" (obsolete CFWS around '@' and '.') is one address,
         * "John a@b" is not */
        if (e.space_pending && e.spec.len && !strchr(".@", s[i]) &&
            !strchr(".@", e.spec.data[e.spec.len - 1]))
            e.spec_gap = true;
        rc = phrase_put(&e, s + i, k - i);
        if (!rc)
            rc = tbuf_append(&e.spec, s + i, k - i);
        i = k;
    }
    if (!rc)
        rc = finish(&e, s + n, out, err);
    if (!rc && in_group)
        rc = tern_fail(err, TERN_EDATA, "group without its closing ';'");
    if (rc == TERN_ENOMEM || rc == TERN_EPROTO)
        rc = tern_fail(err, rc == TERN_EPROTO ? TERN_EDATA : rc, "address list too long");
    tbuf_free(&e.phrase);
    tbuf_free(&e.spec);
    tbuf_free(&e.angle);
    return rc;
}

enum tern_rc compose_parse_addrs(const char *s, size_t n, struct compose_addrs *out,
                                 struct tern_err *err)
{
    return parse(s, n, false, out, err);
}

enum tern_rc compose_parse_header_addrs(const char *s, size_t n, struct compose_addrs *out,
                                        struct tern_err *err)
{
    return parse(s, n, true, out, err);
}

enum tern_rc compose_encode_words(const char *s, size_t n, struct tbuf *out)
{
    /* 42 octets of text -> 56 base64 characters + 12 of framing = 68, so
     * "Subject: " plus one word stays within 78 columns */
    enum tern_rc rc = TERN_OK;
    size_t i = 0;
    bool first = true;
    while (i < n && !rc) {
        size_t e = i;
        while (e < n) {
            size_t k = 1;
            unsigned char c = (unsigned char)s[e];
            if (c >= 0xf0)
                k = 4;
            else if (c >= 0xe0)
                k = 3;
            else if (c >= 0xc0)
                k = 2;
            if (e + k > n)
                k = n - e;
            if (e + k - i > 42 && e > i)
                break;
            e += k;
        }
        if (!first)
            rc = tbuf_putc(out, ' ');
        if (!rc)
            rc = tbuf_puts(out, "=?UTF-8?B?");
        if (!rc)
            rc = base64_encode(s + i, e - i, 0, out);
        if (!rc)
            rc = tbuf_puts(out, "?=");
        first = false;
        i = e;
    }
    return rc;
}

static bool atext_phrase(const char *s)
{
    if (!*s || *s == ' ' || s[strlen(s) - 1] == ' ')
        return false;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  (c == ' ' && p[1] != ' ') || (c < 0x80 && strchr("!#$%&'*+-/=?^_`{|}~", c));
        if (!ok || c == 0)
            return false;
    }
    /* "=?" would read as an encoded word */
    return strstr(s, "=?") == NULL;
}

enum tern_rc compose_render_addr(const struct compose_addr *a, struct tbuf *out)
{
    if (!a->name || !a->name[0])
        return tbuf_puts(out, a->addr);
    const char *nm = a->name;
    size_t nn = strlen(nm);
    bool ascii = true;
    for (size_t i = 0; i < nn; i++)
        if ((unsigned char)nm[i] >= 0x80 || (unsigned char)nm[i] < 0x20 || nm[i] == 0x7f)
            ascii = false;
    enum tern_rc rc;
    if (ascii && atext_phrase(nm)) {
        rc = tbuf_puts(out, nm);
    } else if (ascii) {
        rc = tbuf_putc(out, '"');
        for (size_t i = 0; i < nn && !rc; i++) {
            if (nm[i] == '"' || nm[i] == '\\')
                rc = tbuf_putc(out, '\\');
            if (!rc)
                rc = tbuf_putc(out, nm[i]);
        }
        if (!rc)
            rc = tbuf_putc(out, '"');
    } else {
        if (!utf8_valid(nm, nn))
            return TERN_EDATA;
        rc = compose_encode_words(nm, nn, out);
    }
    if (!rc)
        rc = tbuf_printf(out, " <%s>", a->addr);
    return rc;
}
