/* Rendering a message for people (terminal-safe text) and for programs
 * (JSON). Every string that came from the message passes through
 * safe_text or json_put_string on its way into the output: nothing is
 * appended raw. */
#include "private.h"

#include "core/charset/lib.h"

#include <string.h>

static enum tern_rc put_safe_line(struct tbuf *out, const char *s, size_t n)
{
    /* Header values are one line: no newline may start a fake header
     * below. A TAB is whitespace (folding leaves one wherever a mailer
     * folded with TAB, e.g. "the\r\n\tquarterly" unfolds to "the\tquarterly"):
     * shown as a space, not as a placeholder between the words. */
    return safe_text(s, n, SAFE_TAB_AS_SPACE, out);
}

static enum tern_rc put_addrs(struct tbuf *out, const char *label,
                              const struct mime_addr_list *l)
{
    struct tbuf raw;
    tbuf_init(&raw, 0);
    enum tern_rc rc = TERN_OK;
    for (size_t i = 0; i < l->n && !rc; i++) {
        const struct mime_addr *a = &l->v[i];
        if (i)
            rc = tbuf_puts(&raw, ", ");
        if (!rc && *a->name)
            rc = tbuf_printf(&raw, "%s <%s>", a->name, a->address);
        else if (!rc)
            rc = tbuf_puts(&raw, a->address);
    }
    if (!rc)
        rc = tbuf_printf(out, "%s: ", label);
    if (!rc)
        rc = put_safe_line(out, raw.data ? raw.data : "", raw.len);
    if (!rc)
        rc = tbuf_putc(out, '\n');
    tbuf_free(&raw);
    return rc;
}

static enum tern_rc put_size(struct tbuf *out, size_t n)
{
    if (n < 1024)
        return tbuf_printf(out, "%zu B", n);
    if (n < 1024 * 1024)
        return tbuf_printf(out, "%.1f KiB", (double)n / 1024);
    return tbuf_printf(out, "%.1f MiB", (double)n / (1024 * 1024));
}

/* The decoded text of m's best text part, appended to t; *found false
 * when m has none. */
static enum tern_rc best_text(const struct mime_message *m, const struct mime_text_opts *opts,
                              struct tbuf *t, bool *found)
{
    const struct mime_part *best = mime_best_text(m);
    *found = best != NULL;
    return best ? mime_part_text(m, best, opts, t) : TERN_OK;
}

enum tern_rc mime_render_text(const struct mime_message *m, const struct mime_text_opts *opts,
                              struct tbuf *out)
{
    const struct mime_envelope *e = m->env;
    enum tern_rc rc = put_addrs(out, "From", &e->from);
    if (!rc)
        rc = put_addrs(out, "To", &e->to);
    if (!rc && e->cc.n)
        rc = put_addrs(out, "Cc", &e->cc);
    if (!rc && e->date_raw) {
        rc = tbuf_puts(out, "Date: ");
        if (!rc)
            rc = put_safe_line(out, e->date_raw, strlen(e->date_raw));
        if (!rc)
            rc = tbuf_putc(out, '\n');
    }
    if (!rc) {
        rc = tbuf_puts(out, "Subject: ");
        if (!rc && e->subject)
            rc = put_safe_line(out, e->subject, strlen(e->subject));
        if (!rc)
            rc = tbuf_puts(out, "\n\n");
    }
    struct tbuf t;
    bool found = false;
    tbuf_init(&t, 0);
    if (!rc)
        rc = best_text(m, opts, &t, &found);
    if (!rc && found) {
        rc = safe_text(t.data ? t.data : "", t.len, SAFE_ALLOW_NEWLINE | SAFE_ALLOW_TAB, out);
        if (!rc && out->len && out->data[out->len - 1] != '\n')
            rc = tbuf_putc(out, '\n');
    } else if (!rc) {
        rc = tbuf_puts(out, "[this message has no text part]\n");
    }
    tbuf_free(&t);
    struct mime_attachments at = {0};
    if (!rc)
        rc = mime_attachments_list(m, &at);
    if (!rc && at.n)
        rc = tbuf_puts(out, "\n[attachments]\n");
    for (size_t i = 0; i < at.n && !rc; i++) {
        rc = tbuf_printf(out, "  %zu. ", i + 1);
        const char *name = at.v[i].filename ? at.v[i].filename : at.v[i].safe_name;
        if (!rc)
            rc = put_safe_line(out, name, strlen(name));
        if (!rc)
            rc = tbuf_puts(out, " (");
        if (!rc)
            rc = put_safe_line(out, at.v[i].content_type, strlen(at.v[i].content_type));
        if (!rc)
            rc = tbuf_puts(out, ", ");
        if (!rc)
            rc = put_size(out, at.v[i].size);
        if (!rc)
            rc = tbuf_puts(out, ")\n");
    }
    mime_attachments_free(&at);
    return rc;
}

static enum tern_rc json_str(struct tbuf *out, const char *s)
{
    return s ? json_put_string(out, s, strlen(s)) : tbuf_puts(out, "null");
}

static enum tern_rc json_addrs(struct tbuf *out, const char *key, const struct mime_addr_list *l)
{
    enum tern_rc rc = tbuf_printf(out, "\"%s\":[", key);
    for (size_t i = 0; i < l->n && !rc; i++) {
        rc = tbuf_puts(out, i ? ",{\"name\":" : "{\"name\":");
        if (!rc)
            rc = json_str(out, l->v[i].name);
        if (!rc)
            rc = tbuf_puts(out, ",\"address\":");
        if (!rc)
            rc = json_str(out, l->v[i].address);
        if (!rc)
            rc = tbuf_putc(out, '}');
    }
    return rc ? rc : tbuf_puts(out, "],");
}

enum tern_rc mime_render_json(const struct mime_message *m, const struct mime_text_opts *opts,
                              struct tbuf *out)
{
    const struct mime_envelope *e = m->env;
    enum tern_rc rc = tbuf_putc(out, '{');
    if (!rc)
        rc = json_addrs(out, "from", &e->from);
    if (!rc)
        rc = json_addrs(out, "to", &e->to);
    if (!rc)
        rc = json_addrs(out, "cc", &e->cc);
    if (!rc)
        rc = tbuf_puts(out, "\"subject\":");
    if (!rc)
        rc = json_str(out, e->subject);
    if (!rc)
        rc = tbuf_puts(out, ",\"date\":");
    char date[32];
    if (!rc && e->date_known && mime_format_rfc3339(e->date, date, sizeof date))
        rc = json_str(out, date);
    else if (!rc)
        rc = tbuf_puts(out, "null");
    if (!rc)
        rc = tbuf_puts(out, ",\"message_id\":");
    if (!rc)
        rc = json_str(out, e->message_id);
    if (!rc)
        rc = tbuf_puts(out, ",\"text\":");
    struct tbuf t;
    bool found = false;
    tbuf_init(&t, 0);
    if (!rc)
        rc = best_text(m, opts, &t, &found);
    if (!rc)
        rc = found ? json_put_string(out, t.data ? t.data : "", t.len) : tbuf_puts(out, "null");
    tbuf_free(&t);
    struct mime_attachments at = {0};
    if (!rc)
        rc = mime_attachments_list(m, &at);
    if (!rc)
        rc = tbuf_puts(out, ",\"attachments\":[");
    for (size_t i = 0; i < at.n && !rc; i++) {
        rc = tbuf_puts(out, i ? ",{\"filename\":" : "{\"filename\":");
        if (!rc)
            rc = json_str(out, at.v[i].filename ? at.v[i].filename : at.v[i].safe_name);
        if (!rc)
            rc = tbuf_puts(out, ",\"content_type\":");
        if (!rc)
            rc = json_str(out, at.v[i].content_type);
        if (!rc)
            rc = tbuf_printf(out, ",\"size\":%zu}", at.v[i].size);
    }
    mime_attachments_free(&at);
    return rc ? rc : tbuf_puts(out, "]}");
}
