/* The text to show: which part, and how it becomes plain UTF-8 text
 * (transfer decoding, charset, format=flowed, HTML). */
#include "private.h"

#include "core/charset/lib.h"

#include <string.h>

static bool is_type(const struct mime_part *p, const char *t)
{
    return !strcmp(p->type, t);
}

static bool is_text_leaf(const struct mime_part *p)
{
    return !p->child && !p->opaque && p->disposition != MIME_DISP_ATTACHMENT &&
           (is_type(p, "text/plain") || is_type(p, "text/html"));
}

static const struct mime_part *best_in(const struct mime_part *p)
{
    if (p->opaque)
        return NULL;
    if (is_type(p, "multipart/alternative")) {
        /* The plain version wins; an HTML one (perhaps inside
         * multipart/related) is the fallback. */
        const struct mime_part *html = NULL, *other = NULL;
        for (const struct mime_part *c = p->child; c; c = c->next) {
            const struct mime_part *r = best_in(c);
            if (!r)
                continue;
            if (is_type(r, "text/plain"))
                return r;
            if (is_type(r, "text/html") && !html)
                html = r;
            else if (!other)
                other = r;
        }
        return html ? html : other;
    }
    if (!strncmp(p->type, "multipart/", 10)) {
        /* mixed, related (the root comes first), signed (the signed part
         * first), digest and unknown kinds: the first part with text. */
        for (const struct mime_part *c = p->child; c; c = c->next) {
            if (c->env) /* an attached message is an attachment */
                continue;
            const struct mime_part *r = best_in(c);
            if (r)
                return r;
        }
        return NULL;
    }
    if (p->env) /* a message/rfc822 shown on its own: its content */
        return p->child ? best_in(p->child) : NULL;
    return is_text_leaf(p) ? p : NULL;
}

const struct mime_part *mime_best_text(const struct mime_message *m)
{
    return m->root ? best_in(m->root) : NULL;
}

/* CRLF and lone CR line ends become LF, so later steps see one form. */
static enum tern_rc normalise_newlines(const char *in, size_t n, struct tbuf *out)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] != '\r')
            continue;
        enum tern_rc rc = tbuf_append(out, in + start, i - start);
        if (rc)
            return rc;
        if (i + 1 >= n || in[i + 1] != '\n') {
            if ((rc = tbuf_putc(out, '\n')))
                return rc;
        }
        start = i + 1;
    }
    return tbuf_append(out, in + start, n - start);
}

enum tern_rc mime_part_text(const struct mime_message *m, const struct mime_part *p,
                            const struct mime_text_opts *opts, struct tbuf *out)
{
    struct tbuf raw, utf, nl;
    tbuf_init(&raw, 0);
    tbuf_init(&utf, 0);
    tbuf_init(&nl, 0);
    enum tern_rc rc = mime_part_decode(m, p, &raw);
    if (!rc)
        rc = charset_to_utf8(p->charset, raw.data ? raw.data : "", raw.len, &utf);
    tbuf_free(&raw);
    if (!rc)
        rc = normalise_newlines(utf.data ? utf.data : "", utf.len, &nl);
    tbuf_free(&utf);
    if (rc) {
        tbuf_free(&nl);
        return rc;
    }
    const char *t = nl.data ? nl.data : "";
    if (is_type(p, "text/html")) {
        rc = TERN_EINTERNAL;
        if (opts && opts->html_filter && *opts->html_filter) {
            unsigned ms = opts->filter_timeout_ms ? opts->filter_timeout_ms
                                                  : MIME_HTML_FILTER_TIMEOUT_MS;
            struct tbuf f;
            tbuf_init(&f, 0);
            rc = mime_html_filter(opts->html_filter, t, nl.len, ms, &f, NULL);
            if (!rc) {
                /* The filter's output is text in the locale's charset,
                 * which is UTF-8 or ASCII for any sane setup; guess. */
                struct tbuf g;
                tbuf_init(&g, 0);
                rc = charset_to_utf8(NULL, f.data ? f.data : "", f.len, &g);
                if (!rc)
                    rc = normalise_newlines(g.data ? g.data : "", g.len, out);
                tbuf_free(&g);
            }
            tbuf_free(&f);
        }
        if (rc && rc != TERN_ENOMEM)
            rc = mime_html_to_text(t, nl.len, out);
    } else if (p->flowed) {
        rc = mime_flowed_join(t, nl.len, p->delsp, out);
    } else {
        rc = tbuf_append(out, t, nl.len);
    }
    tbuf_free(&nl);
    return rc;
}

enum tern_rc mime_flowed_join(const char *in, size_t n, bool delsp, struct tbuf *out)
{
    size_t pos = 0;
    bool open = false;      /* a flowed line is waiting for its continuation */
    size_t open_depth = 0;
    enum tern_rc rc = TERN_OK;
    while (pos < n && !rc) {
        const char *line = in + pos;
        size_t len;
        pos = mime_next_line(in, pos, n, &len);
        bool ended = in[pos - 1] == '\n'; /* not the last line without a line end */
        size_t depth = 0;
        while (depth < len && line[depth] == '>')
            depth++;
        const char *c = line + depth;
        size_t cl = len - depth;
        if (cl && c[0] == ' ') /* space-stuffing */
            c++, cl--;
        bool sig = cl == 3 && !memcmp(c, "-- ", 3);
        bool flowed = !sig && cl && c[cl - 1] == ' ';
        if (open && depth != open_depth) {
            /* A quote-depth change ends a paragraph (RFC 3676 4.5). */
            rc = tbuf_putc(out, '\n');
            open = false;
        }
        if (!rc && !open && depth) {
            for (size_t k = 0; k < depth && !rc; k++)
                rc = tbuf_putc(out, '>');
            if (!rc)
                rc = tbuf_putc(out, ' ');
        }
        if (flowed && delsp)
            cl--;
        if (!rc)
            rc = tbuf_append(out, c, cl);
        if (rc)
            break;
        if (flowed) {
            open = true;
            open_depth = depth;
        } else {
            open = false;
            if (ended)
                rc = tbuf_putc(out, '\n');
        }
    }
    if (!rc && open)
        rc = tbuf_putc(out, '\n');
    return rc ? rc : tbuf_append(out, "", 0);
}
