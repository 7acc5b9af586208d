/* The envelope: the fields every listing needs, decoded once from a header
 * block. The first occurrence of a duplicated field wins (what most
 * readers show, and what a forged second From cannot change). */
#include "private.h"

#include <stdlib.h>
#include <string.h>

/* Find the next <...> id in s[*i..n); returns its inside. */
static bool next_id(const char *s, size_t n, size_t *i, const char **id, size_t *idn)
{
    while (*i < n) {
        const char *lt = memchr(s + *i, '<', n - *i);
        if (!lt)
            break;
        size_t a = (size_t)(lt - s) + 1;
        const char *gt = memchr(s + a, '>', n - a);
        if (!gt)
            break;
        *i = (size_t)(gt - s) + 1;
        /* Ids hold no whitespace; drop any that folding put inside. */
        size_t e = (size_t)(gt - s);
        if (e > a) {
            *id = s + a;
            *idn = e - a;
            return true;
        }
    }
    *i = n;
    return false;
}

static enum tern_rc dup_id(const char *id, size_t n, char **out)
{
    struct tbuf b;
    tbuf_init(&b, 0);
    for (size_t i = 0; i < n; i++) {
        if (!mime_is_space(id[i]) && tbuf_putc(&b, id[i])) {
            tbuf_free(&b);
            return TERN_ENOMEM;
        }
    }
    *out = mime_take_str(&b);
    return *out ? TERN_OK : TERN_ENOMEM;
}

/* One id: the first <...>, or (broken mailers) the first word. */
static enum tern_rc first_id(const char *v, char **out)
{
    *out = NULL;
    if (!v)
        return TERN_OK;
    size_t n = strlen(v), i = 0;
    const char *id;
    size_t idn;
    if (next_id(v, n, &i, &id, &idn))
        return dup_id(id, idn, out);
    size_t a = 0;
    while (a < n && mime_is_space(v[a]))
        a++;
    size_t e = a;
    while (e < n && !mime_is_space(v[e]))
        e++;
    return e > a ? dup_id(v + a, e - a, out) : TERN_OK;
}

static enum tern_rc parse_refs(const char *v, struct mime_envelope *e)
{
    if (!v)
        return TERN_OK;
    size_t n = strlen(v), i = 0, count = 0;
    const char *id;
    size_t idn;
    while (next_id(v, n, &i, &id, &idn))
        count++;
    /* The newest ids matter for threading: keep the last ones. */
    size_t skip = count > MIME_MAX_REFERENCES ? count - MIME_MAX_REFERENCES : 0;
    size_t keep = count - skip;
    if (!keep)
        return TERN_OK;
    e->references = calloc(keep, sizeof *e->references);
    if (!e->references)
        return TERN_ENOMEM;
    i = 0;
    for (size_t k = 0; next_id(v, n, &i, &id, &idn); k++) {
        if (k < skip)
            continue;
        if (dup_id(id, idn, &e->references[e->nreferences]))
            return TERN_ENOMEM;
        e->nreferences++;
    }
    return TERN_OK;
}

static enum tern_rc addr_field(const struct mime_headers *h, const char *name,
                               struct mime_addr_list *l)
{
    const struct mime_header *f = mime_headers_find(h, name, 0);
    return f ? mime_parse_addresses(f->value, f->value_len, l) : TERN_OK;
}

enum tern_rc mime_envelope_from_headers(const struct mime_headers *h, struct mime_envelope **out)
{
    *out = NULL;
    struct mime_envelope *e = calloc(1, sizeof *e);
    if (!e)
        return TERN_ENOMEM;
    e->header_len = h->body_off;
    e->truncated = h->truncated;
    char *v = NULL;
    enum tern_rc rc = addr_field(h, "From", &e->from);
    if (!rc)
        rc = addr_field(h, "To", &e->to);
    if (!rc)
        rc = addr_field(h, "Cc", &e->cc);
    if (!rc)
        rc = addr_field(h, "Reply-To", &e->reply_to);
    if (!rc) {
        const struct mime_header *f = mime_headers_find(h, "Subject", 0);
        if (f) {
            struct tbuf b;
            tbuf_init(&b, 0);
            rc = mime_header_unfold(f->value, f->value_len, &b);
            if (!rc) {
                e->subject = mime_decode_text(b.data, b.len);
                if (!e->subject)
                    rc = TERN_ENOMEM;
            }
            tbuf_free(&b);
        }
    }
    if (!rc)
        rc = mime_field_unfolded(h, "Date", &e->date_raw);
    if (!rc && e->date_raw)
        e->date_known = mime_parse_date(e->date_raw, strlen(e->date_raw), &e->date);
    if (!rc && !(rc = mime_field_unfolded(h, "Message-ID", &v)))
        rc = first_id(v, &e->message_id);
    free(v);
    v = NULL;
    if (!rc && !(rc = mime_field_unfolded(h, "In-Reply-To", &v)))
        rc = first_id(v, &e->in_reply_to);
    free(v);
    v = NULL;
    if (!rc && !(rc = mime_field_unfolded(h, "References", &v)))
        rc = parse_refs(v, e);
    free(v);
    v = NULL;
    if (!rc && !(rc = mime_field_unfolded(h, "List-Id", &v)))
        rc = first_id(v, &e->list_id);
    free(v);
    v = NULL;
    if (!rc) {
        const struct mime_header *f = mime_headers_find(h, "Content-Type", 0);
        struct mime_params p;
        if (f && !(rc = mime_params_parse(f->value, f->value_len, &p))) {
            if (strchr(p.value, '/'))
                e->content_type = tern_strdup(p.value);
            mime_params_free(&p);
        }
        if (!rc && !e->content_type)
            e->content_type = tern_strdup("text/plain");
        if (!rc && !e->content_type)
            rc = TERN_ENOMEM;
    }
    if (rc) {
        mime_envelope_free(&e);
        return rc;
    }
    *out = e;
    return TERN_OK;
}

enum tern_rc mime_parse_headers(const char *buf, size_t len, struct mime_envelope **out,
                                struct tern_err *err)
{
    *out = NULL;
    struct mime_headers h;
    enum tern_rc rc = mime_headers_scan(buf, len, &h);
    if (!rc)
        rc = mime_envelope_from_headers(&h, out);
    mime_headers_free(&h);
    if (rc)
        return tern_fail(err, rc, "message header: %s", tern_rc_str(rc));
    return TERN_OK;
}

void mime_envelope_free(struct mime_envelope **pe)
{
    if (!pe || !*pe)
        return;
    struct mime_envelope *e = *pe;
    mime_addr_list_free(&e->from);
    mime_addr_list_free(&e->to);
    mime_addr_list_free(&e->cc);
    mime_addr_list_free(&e->reply_to);
    free(e->subject);
    free(e->date_raw);
    free(e->message_id);
    free(e->in_reply_to);
    for (size_t i = 0; i < e->nreferences; i++)
        free(e->references[i]);
    free(e->references);
    free(e->list_id);
    free(e->content_type);
    free(e);
    *pe = NULL;
}
