/* mime_parse_local: a message with local (LF) line ends in its text, so a
 * text attachment saved from an IMAP body (CRLF on the wire) has the same
 * bytes as the same message delivered to a Maildir by POP3 (LF). */
#include "core/mime/lib.h"

#include <stdlib.h>
#include <string.h>

/* A leaf whose bytes are data, not text: left exactly as it is. Base64
 * bodies need no exemption (the decoder skips line ends, so their decoded
 * bytes do not change), nor do containers and message/rfc822 (mail text). */
static bool keep_bytes(const struct mime_part *p)
{
    return !p->child && p->encoding != MIME_ENC_BASE64 && strncmp(p->type, "text/", 5) != 0 &&
           strncmp(p->type, "message/", 8) != 0 && strncmp(p->type, "multipart/", 10) != 0;
}

/* Copy buf[*pos..end) to out with CRLF -> LF (a lone CR stays, as in a
 * Maildir delivery). */
static enum tern_rc put_lf(struct tbuf *out, const char *buf, size_t *pos, size_t end)
{
    enum tern_rc rc = TERN_OK;
    size_t i = *pos;
    while (!rc && i < end) {
        const char *cr = memchr(buf + i, '\r', end - i);
        size_t stop = cr ? (size_t)(cr - buf) : end;
        rc = tbuf_append(out, buf + i, stop - i);
        if (cr && !rc && !(stop + 1 < end && buf[stop + 1] == '\n'))
            rc = tbuf_append(out, "\r", 1);
        i = cr ? stop + 1 : end;
    }
    *pos = end;
    return rc;
}

static enum tern_rc put_parts(struct tbuf *out, const char *buf, size_t *pos,
                              const struct mime_part *p)
{
    enum tern_rc rc = TERN_OK;
    for (; p && !rc; p = p->next) {
        if (p->child) {
            rc = put_parts(out, buf, pos, p->child);
        } else if (keep_bytes(p) && p->body_off >= *pos) {
            size_t end = p->body_off + p->body_len;
            if (!(rc = put_lf(out, buf, pos, p->body_off)))
                rc = tbuf_append(out, buf + p->body_off, p->body_len);
            *pos = end;
        }
    }
    return rc;
}

enum tern_rc mime_parse_local(const char *buf, size_t len, char **copy, struct mime_message **out,
                              struct tern_err *err)
{
    *copy = NULL;
    *out = NULL;
    enum tern_rc rc = mime_parse(buf, len, out, err);
    if (rc || !memmem(buf, len, "\r\n", 2))
        return rc;
    struct tbuf lf;
    tbuf_init(&lf, 0);
    size_t pos = 0;
    rc = put_parts(&lf, buf, &pos, (*out)->root);
    if (!rc)
        rc = put_lf(&lf, buf, &pos, len);
    size_t n = lf.len;
    char *c = rc ? NULL : tbuf_steal(&lf);
    tbuf_free(&lf);
    struct mime_message *m = NULL;
    struct tern_err ignored = {0};
    /* Out of memory here: the message as it came is still readable. */
    if (!c || mime_parse(c, n, &m, &ignored)) {
        free(c);
        return TERN_OK;
    }
    mime_message_free(out);
    *out = m;
    *copy = c;
    return TERN_OK;
}
