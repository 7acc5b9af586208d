/* The part tree. Each multipart body is split by one linear scan over its
 * lines; parts are offsets into the caller's buffer, and nothing is decoded
 * until someone asks (mime_part_decode). Depth and part count are capped:
 * below the cap a multipart or message is kept as one opaque leaf. */
#include "private.h"

#include "core/codec/lib.h"

#include <stdlib.h>
#include <string.h>

struct tree_ctx {
    const char *buf;
    size_t len;
    size_t nparts;
};

static void part_free_chain(struct mime_part *p);

static void part_free_one(struct mime_part *p)
{
    part_free_chain(p->child);
    free(p->type);
    free(p->charset);
    free(p->filename);
    free(p->content_id);
    mime_envelope_free(&p->env);
    free(p);
}

/* Siblings are freed in a loop (there may be thousands); recursion only
 * follows children, which the depth ceiling bounds. */
static void part_free_chain(struct mime_part *p)
{
    while (p) {
        struct mime_part *next = p->next;
        part_free_one(p);
        p = next;
    }
}

static enum mime_encoding parse_encoding(const struct mime_headers *h)
{
    const struct mime_header *f = mime_headers_find(h, "Content-Transfer-Encoding", 0);
    if (!f)
        return MIME_ENC_7BIT;
    const char *v = f->value;
    size_t n = f->value_len;
    while (n && mime_is_space(*v))
        v++, n--;
    size_t k = 0;
    while (k < n && !mime_is_space(v[k]) && v[k] != ';' && v[k] != '(')
        k++;
    static const struct {
        const char *name;
        enum mime_encoding enc;
    } encs[] = {
        {"7bit", MIME_ENC_7BIT},     {"8bit", MIME_ENC_8BIT},
        {"binary", MIME_ENC_BINARY}, {"quoted-printable", MIME_ENC_QP},
        {"base64", MIME_ENC_BASE64},
    };
    for (size_t i = 0; i < sizeof encs / sizeof encs[0]; i++)
        if (strlen(encs[i].name) == k && !tern_strncasecmp(v, encs[i].name, k))
            return encs[i].enc;
    return MIME_ENC_UNKNOWN;
}

static bool type_is(const char *type, const char *prefix)
{
    return !tern_strncasecmp(type, prefix, strlen(prefix));
}

/* Boundary characters (RFC 2046 bcharsnospace). */
static bool is_bchar(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           strchr("'()+_,-./:=?", c) != NULL;
}

/* Is the line at buf[a..e) (without its line end) a delimiter for
 * boundary b? *close says it is the close delimiter. Trailing whitespace is
 * allowed, and so is trailing junk that cannot be a longer boundary. */
static bool is_delimiter(const char *line, size_t n, const char *b, size_t bn, bool *close)
{
    if (n < 2 + bn || line[0] != '-' || line[1] != '-' || memcmp(line + 2, b, bn))
        return false;
    size_t i = 2 + bn;
    *close = false;
    if (i + 2 <= n && line[i] == '-' && line[i + 1] == '-') {
        *close = true;
        return true;
    }
    if (i < n && !mime_is_space(line[i]) && is_bchar(line[i]))
        return false;
    return true;
}

static enum tern_rc parse_part(struct tree_ctx *c, struct mime_part *parent, size_t off,
                               size_t end, unsigned depth, const char *default_type,
                               struct mime_part **out);

/* Split buf[b..e) at the delimiter lines of `boundary` and parse each
 * part as a child of p. */
static enum tern_rc split_multipart(struct tree_ctx *c, struct mime_part *p, size_t b, size_t e,
                                    const char *boundary, const char *child_default)
{
    size_t bn = strlen(boundary);
    size_t pos = b;
    size_t part_start = SIZE_MAX; /* content start of the open part */
    struct mime_part **tail = &p->child;
    while (pos < e) {
        const char *line = c->buf + pos;
        size_t content;
        size_t next = mime_next_line(c->buf, pos, e, &content);
        bool close;
        if (line[0] == '-' && is_delimiter(line, content, boundary, bn, &close)) {
            if (part_start != SIZE_MAX) {
                /* The line end before a delimiter belongs to it. */
                size_t pe = pos;
                if (pe > part_start && c->buf[pe - 1] == '\n')
                    pe--;
                if (pe > part_start && c->buf[pe - 1] == '\r')
                    pe--;
                if (c->nparts >= MIME_MAX_PARTS)
                    return TERN_OK;
                enum tern_rc rc =
                    parse_part(c, p, part_start, pe, p->depth + 1, child_default, tail);
                if (rc)
                    return rc;
                tail = &(*tail)->next;
            }
            if (close)
                return TERN_OK; /* the epilogue is ignored */
            part_start = next;
        }
        pos = next;
    }
    /* No close delimiter: the last part runs to the end. */
    if (part_start != SIZE_MAX && c->nparts < MIME_MAX_PARTS) {
        if (part_start > e)
            part_start = e;
        return parse_part(c, p, part_start, e, p->depth + 1, child_default, tail);
    }
    return TERN_OK;
}

/* Fill p's descriptive fields from its header; *boundary (owned) is set
 * for a multipart with one. Kept out of parse_part so the recursive frames
 * stay small and no parameter lists stay alive during recursion. */
static enum tern_rc describe_part(struct mime_part *p, const struct mime_headers *h,
                                  const char *default_type, char **boundary)
{
    enum tern_rc rc = TERN_OK;
    p->encoding = parse_encoding(h);
    struct mime_params ct;
    bool have_ct = false;
    const struct mime_header *f = mime_headers_find(h, "Content-Type", 0);
    if (f) {
        if ((rc = mime_params_parse(f->value, f->value_len, &ct)))
            return rc;
        have_ct = true;
    }
    /* A missing or malformed type is text/plain (RFC 2045 5.2), or
     * message/rfc822 in a digest. */
    const char *type =
        have_ct && ct.value[0] != '/' && strchr(ct.value, '/') ? ct.value : default_type;
    if (!(p->type = tern_strdup(type))) {
        rc = TERN_ENOMEM;
        goto out;
    }
    if (have_ct) {
        const char *cs = mime_param_raw(&ct, "charset");
        if (cs && *cs) {
            if (!(p->charset = tern_strdup(cs))) {
                rc = TERN_ENOMEM;
                goto out;
            }
            for (char *s = p->charset; *s; s++)
                *s = mime_lower(*s);
        }
        const char *fmt = mime_param_raw(&ct, "format");
        const char *delsp = mime_param_raw(&ct, "delsp");
        p->flowed = type_is(p->type, "text/plain") && fmt && !tern_strcasecmp(fmt, "flowed");
        p->delsp = p->flowed && delsp && !tern_strcasecmp(delsp, "yes");
        const char *b = mime_param_raw(&ct, "boundary");
        if (type_is(p->type, "multipart/") && b && *b && strlen(b) <= 998 &&
            !(*boundary = tern_strdup(b))) {
            rc = TERN_ENOMEM;
            goto out;
        }
    }
    f = mime_headers_find(h, "Content-Disposition", 0);
    if (f) {
        struct mime_params cd;
        if ((rc = mime_params_parse(f->value, f->value_len, &cd)))
            goto out;
        if (!strcmp(cd.value, "attachment"))
            p->disposition = MIME_DISP_ATTACHMENT;
        else if (!strcmp(cd.value, "inline"))
            p->disposition = MIME_DISP_INLINE;
        rc = mime_param_decoded(&cd, "filename", &p->filename);
        mime_params_free(&cd);
        if (rc)
            goto out;
    }
    if (!p->filename && have_ct && (rc = mime_param_decoded(&ct, "name", &p->filename)))
        goto out;
    if (p->filename && !*p->filename) {
        free(p->filename);
        p->filename = NULL;
    }
    char *cid = NULL;
    if ((rc = mime_field_unfolded(h, "Content-ID", &cid)))
        goto out;
    if (cid) {
        size_t a = 0, n = strlen(cid);
        if (n && cid[0] == '<')
            a = 1;
        if (n > a && cid[n - 1] == '>')
            n--;
        memmove(cid, cid + a, n - a);
        cid[n - a] = '\0';
        p->content_id = cid;
    }
out:
    if (have_ct)
        mime_params_free(&ct);
    return rc;
}

static enum tern_rc parse_part(struct tree_ctx *c, struct mime_part *parent, size_t off,
                               size_t end, unsigned depth, const char *default_type,
                               struct mime_part **out)
{
    struct mime_part *p = calloc(1, sizeof *p);
    if (!p)
        return TERN_ENOMEM;
    *out = p;
    c->nparts++;
    p->parent = parent;
    p->depth = depth;
    p->off = off;
    struct mime_headers h;
    enum tern_rc rc = mime_headers_scan(c->buf + off, end - off, &h);
    if (rc)
        return rc;
    p->body_off = off + h.body_off;
    p->body_len = end - p->body_off;
    char *boundary = NULL;
    rc = describe_part(p, &h, default_type, &boundary);
    mime_headers_free(&h);
    if (rc) {
        free(boundary);
        return rc;
    }
    bool multi = type_is(p->type, "multipart/");
    bool message = !strcmp(p->type, "message/rfc822") || !strcmp(p->type, "message/global");
    if ((multi || message) && (depth >= MIME_MAX_DEPTH || c->nparts >= MIME_MAX_PARTS)) {
        p->opaque = true;
    } else if (multi) {
        if (!boundary) {
            p->opaque = true;
        } else {
            const char *child_default =
                !strcmp(p->type, "multipart/digest") ? "message/rfc822" : "text/plain";
            rc = split_multipart(c, p, p->body_off, end, boundary, child_default);
        }
    } else if (message) {
        /* An embedded message can be split in place only when its
         * transfer encoding is the identity. */
        if (p->encoding == MIME_ENC_BASE64 || p->encoding == MIME_ENC_QP) {
            p->opaque = true;
        } else {
            rc = mime_parse_headers(c->buf + p->body_off, p->body_len, &p->env, NULL);
            if (!rc)
                rc = parse_part(c, p, p->body_off, end, depth + 1, "text/plain", &p->child);
        }
    }
    free(boundary);
    return rc;
}

enum tern_rc mime_parse(const char *buf, size_t len, struct mime_message **out,
                        struct tern_err *err)
{
    *out = NULL;
    struct mime_message *m = calloc(1, sizeof *m);
    if (!m)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    m->buf = buf;
    m->len = len;
    struct tree_ctx c = {buf, len, 0};
    enum tern_rc rc = mime_parse_headers(buf, len, &m->env, NULL);
    if (!rc)
        rc = parse_part(&c, NULL, 0, len, 0, "text/plain", &m->root);
    m->nparts = c.nparts;
    if (rc) {
        mime_message_free(&m);
        return tern_fail(err, rc, "message: %s", tern_rc_str(rc));
    }
    *out = m;
    return TERN_OK;
}

void mime_message_free(struct mime_message **pm)
{
    if (!pm || !*pm)
        return;
    struct mime_message *m = *pm;
    part_free_chain(m->root);
    mime_envelope_free(&m->env);
    free(m);
    *pm = NULL;
}

const struct mime_part *mime_part_next(const struct mime_message *m, const struct mime_part *p)
{
    if (!p)
        return m->root;
    if (p->child)
        return p->child;
    while (p) {
        if (p->next)
            return p->next;
        p = p->parent;
    }
    return NULL;
}

enum tern_rc mime_part_decode(const struct mime_message *m, const struct mime_part *p,
                              struct tbuf *out)
{
    const char *body = m->buf + p->body_off;
    switch (p->encoding) {
    case MIME_ENC_BASE64: return base64_decode(body, p->body_len, out);
    case MIME_ENC_QP: return qp_decode(body, p->body_len, out);
    default: return tbuf_append(out, body, p->body_len);
    }
}

size_t mime_part_size(const struct mime_message *m, const struct mime_part *p)
{
    if (p->encoding != MIME_ENC_BASE64 && p->encoding != MIME_ENC_QP)
        return p->body_len;
    struct tbuf b;
    tbuf_init(&b, 0);
    size_t n = mime_part_decode(m, p, &b) ? 0 : b.len;
    tbuf_free(&b);
    return n;
}
