/* index_msg_from_headers: the listing fields of a message, taken from its
 * header block through core/mime (tern has one RFC 5322 parser, there). */
#include "core/mime/lib.h"
#include "lib.h"

#include <stdlib.h>
#include <string.h>

/* Display text of To/Cc kept in the index; beyond it the list is cut with
 * ", ..." (a 1,000-recipient header must not bloat every row). */
#define INDEX_ADDR_TEXT_MAX 4096

static void replace(char **dst, char *s)
{
    free(*dst);
    *dst = s;
}

/* "Name <addr>, addr2, ..." */
static enum tern_rc addr_text(const struct mime_addr_list *l, char **out)
{
    if (!l->n) {
        replace(out, NULL);
        return TERN_OK;
    }
    struct tbuf b;
    tbuf_init(&b, 0);
    enum tern_rc rc = TERN_OK;
    for (size_t i = 0; i < l->n && !rc; i++) {
        const struct mime_addr *a = &l->v[i];
        size_t need = strlen(a->name) + strlen(a->address) + 5;
        if (b.len + need > INDEX_ADDR_TEXT_MAX) {
            rc = tbuf_puts(&b, ", ...");
            break;
        }
        if (i)
            rc = tbuf_puts(&b, ", ");
        if (!rc && a->name[0])
            rc = tbuf_printf(&b, "%s <%s>", a->name, a->address);
        else if (!rc)
            rc = tbuf_puts(&b, a->address);
    }
    if (rc) {
        tbuf_free(&b);
        return rc;
    }
    replace(out, tbuf_steal(&b));
    return TERN_OK;
}

static enum tern_rc dup_into(char **dst, const char *s)
{
    char *c = NULL;
    if (s && !(c = tern_strdup(s)))
        return TERN_ENOMEM;
    replace(dst, c);
    return TERN_OK;
}

/* A header-only guess: multipart/mixed (the usual wrapper of attachments)
 * or a single non-text, non-multipart body (a bare PDF). Alternative,
 * related (inline images) and signed/encrypted wrappers say nothing. */
static bool guess_attachments(const char *ct)
{
    if (!ct)
        return false;
    if (!strcmp(ct, "multipart/mixed"))
        return true;
    return strncmp(ct, "multipart/", 10) != 0 && strncmp(ct, "text/", 5) != 0;
}

enum tern_rc index_msg_from_headers(const char *raw, size_t n, struct index_msg *m)
{
    struct mime_envelope *env = NULL;
    enum tern_rc rc = mime_parse_headers(raw, n, &env, NULL);
    if (rc)
        return rc;
    const struct mime_addr *from = env->from.n ? &env->from.v[0] : NULL;
    if ((rc = dup_into(&m->from_name, from && from->name[0] ? from->name : NULL)) ||
        (rc = dup_into(&m->from_addr, from ? from->address : NULL)) ||
        (rc = addr_text(&env->to, &m->to_text)) || (rc = addr_text(&env->cc, &m->cc_text)) ||
        (rc = dup_into(&m->subject, env->subject)) ||
        (rc = dup_into(&m->message_id, env->message_id)) ||
        (rc = dup_into(&m->in_reply_to, env->in_reply_to)) ||
        (rc = dup_into(&m->list_id, env->list_id)))
        goto out;
    struct tbuf refs;
    tbuf_init(&refs, 0);
    for (size_t i = 0; i < env->nreferences && !rc; i++) {
        if (i)
            rc = tbuf_putc(&refs, ' ');
        if (!rc)
            rc = tbuf_puts(&refs, env->references[i]);
    }
    if (rc) {
        tbuf_free(&refs);
        goto out;
    }
    replace(&m->references, env->nreferences ? tbuf_steal(&refs) : NULL);
    tbuf_free(&refs);
    m->date = env->date_known ? (int64_t)env->date : INDEX_NO_DATE;
    m->has_attachments = guess_attachments(env->content_type);
out:
    mime_envelope_free(&env);
    return rc;
}
