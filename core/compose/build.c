#include "private.h"

#include "core/charset/lib.h"
#include "core/codec/lib.h"

#include <stdlib.h>
#include <string.h>

void compose_msg_init(struct compose_msg *m)
{
    memset(m, 0, sizeof *m);
    tbuf_init(&m->data, COMPOSE_MSG_MAX);
}

void compose_msg_free(struct compose_msg *m)
{
    if (!m)
        return;
    tbuf_free(&m->data);
    for (size_t i = 0; i < m->nrcpts; i++)
        free(m->rcpts[i]);
    free(m->rcpts);
    free(m->from);
    m->rcpts = NULL;
    m->nrcpts = 0;
    m->from = NULL;
}

enum tern_rc compose_msg_add_rcpt(struct compose_msg *m, const char *addr, struct tern_err *err)
{
    for (size_t i = 0; i < m->nrcpts; i++)
        if (!tern_strcasecmp(m->rcpts[i], addr))
            return TERN_OK;
    if (m->nrcpts >= COMPOSE_ADDRS_MAX)
        return tern_fail(err, TERN_EDATA, "more than %d recipients", COMPOSE_ADDRS_MAX);
    char **v = realloc(m->rcpts, (m->nrcpts + 1) * sizeof *v);
    if (!v)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    m->rcpts = v;
    if (!(v[m->nrcpts] = tern_strdup(addr)))
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    m->nrcpts++;
    return TERN_OK;
}

enum tern_rc compose_text_body(const char *text, size_t n, struct tbuf *out, const char **cte,
                               struct tern_err *err)
{
    bool ascii = true;
    size_t longest = 0, cur = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\n' || c == '\r') {
            cur = 0;
            continue;
        }
        if (++cur > longest)
            longest = cur;
        if (c >= 0x80)
            ascii = false;
    }
    enum tern_rc rc = TERN_OK;
    if (ascii && longest <= 998) {
        *cte = "7bit";
        size_t i = 0;
        while (i < n && !rc) {
            size_t e = i;
            while (e < n && text[e] != '\r' && text[e] != '\n')
                e++;
            rc = tbuf_append(out, text + i, e - i);
            if (!rc)
                rc = tbuf_append(out, "\r\n", 2);
            if (e < n && text[e] == '\r' && e + 1 < n && text[e + 1] == '\n')
                e++;
            i = e + 1;
        }
    } else {
        *cte = "quoted-printable";
        /* qp_encode takes LF or CRLF line ends: make bare CRs LF first */
        struct tbuf lf;
        tbuf_init(&lf, COMPOSE_MSG_MAX);
        for (size_t i = 0; i < n && !rc; i++) {
            if (text[i] == '\r' && !(i + 1 < n && text[i + 1] == '\n'))
                rc = tbuf_putc(&lf, '\n');
            else
                rc = tbuf_putc(&lf, text[i]);
        }
        size_t before = out->len;
        if (!rc)
            rc = qp_encode(lf.data ? lf.data : "", lf.len, out);
        tbuf_free(&lf);
        if (!rc && out->len > before &&
            (out->len - before < 2 || memcmp(out->data + out->len - 2, "\r\n", 2)))
            rc = tbuf_append(out, "\r\n", 2);
    }
    if (rc)
        return tern_fail(err, rc == TERN_ENOMEM ? rc : TERN_EDATA, "message too large");
    return TERN_OK;
}

/* Fields tern writes itself and that --header may not set. */
static const char *const reserved[] = {"From",
                                       "To",
                                       "Cc",
                                       "Bcc",
                                       "Subject",
                                       "Reply-To",
                                       "MIME-Version",
                                       "Content-Type",
                                       "Content-Transfer-Encoding",
                                       "Content-Disposition",
                                       "Resent-Bcc",
                                       "Sender"};

static bool user_has(const struct compose_opts *o, const char *name)
{
    size_t k = strlen(name);
    for (size_t i = 0; i < o->nheaders; i++)
        if (!tern_strncasecmp(o->headers[i], name, k) && o->headers[i][k] == ':')
            return true;
    return false;
}

/* Check a --header "Name: value" and split it. */
static enum tern_rc check_user_header(const char *h, char *name, size_t nsize, const char **value,
                                      struct tern_err *err)
{
    size_t hn = strlen(h);
    char q[100];
    compose_quote_for_msg(h, hn, q, sizeof q);
    if (compose_has_ctl_line(h, hn))
        return tern_fail(err, TERN_EDATA, "CR or LF in --header '%s'", q);
    const char *colon = strchr(h, ':');
    if (!colon || !compose_field_name_ok(h, (size_t)(colon - h)) || (size_t)(colon - h) >= nsize)
        return tern_fail(err, TERN_EUSAGE, "--header '%s' is not 'Name: value'", q);
    memcpy(name, h, (size_t)(colon - h));
    name[colon - h] = '\0';
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (!tern_strcasecmp(name, reserved[i]))
            return tern_fail(err, TERN_EUSAGE, "--header cannot set %s (tern writes it%s)", name,
                             i < 6 ? "; use the option" : "");
    if (!tern_strncasecmp(name, "Content-", 8))
        return tern_fail(err, TERN_EUSAGE, "--header cannot set %s (tern writes the MIME fields)",
                         name);
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    *value = v;
    return TERN_OK;
}

static enum tern_rc put_addrs(struct tbuf *out, const char *name, const struct compose_addrs *l,
                              struct tern_err *err)
{
    if (!l || !l->n)
        return TERN_OK;
    struct tbuf v;
    tbuf_init(&v, COMPOSE_MSG_MAX);
    enum tern_rc rc = TERN_OK;
    for (size_t i = 0; i < l->n && !rc; i++) {
        if (i)
            rc = tbuf_puts(&v, ", ");
        if (!rc && (rc = compose_render_addr(&l->v[i], &v)) == TERN_EDATA)
            rc = tern_fail(err, TERN_EDATA, "display name in %s is not valid UTF-8", name);
    }
    if (!rc)
        rc = compose_put_field(out, name, v.data ? v.data : "", false, err);
    else if (rc != TERN_EDATA)
        rc = tern_fail(err, rc, "out of memory");
    tbuf_free(&v);
    return rc;
}

static enum tern_rc add_rcpts(struct compose_msg *m, const struct compose_addrs *l,
                              struct tern_err *err)
{
    enum tern_rc rc = TERN_OK;
    for (size_t i = 0; l && i < l->n && !rc; i++)
        rc = compose_msg_add_rcpt(m, l->v[i].addr, err);
    return rc;
}

enum tern_rc compose_build(const struct compose_opts *o, struct compose_msg *out,
                           struct tern_err *err)
{
    compose_msg_init(out);
    if (!o->from || !o->from->addr)
        return tern_fail(err, TERN_EUSAGE, "no sender address");
    if (o->nheaders > COMPOSE_HEADERS_MAX)
        return tern_fail(err, TERN_EUSAGE, "more than %d --header options", COMPOSE_HEADERS_MAX);
    /* Everything from the command line is checked before any work. */
    char name[80];
    const char *value;
    enum tern_rc rc = TERN_OK;
    for (size_t i = 0; i < o->nheaders; i++)
        if ((rc = check_user_header(o->headers[i], name, sizeof name, &value, err)))
            return rc;
    if (o->subject && compose_has_ctl_line(o->subject, strlen(o->subject)))
        return tern_fail(err, TERN_EDATA, "CR or LF in the subject");
    if (memchr(o->body ? o->body : "", '\0', o->body ? o->body_len : 0))
        return tern_fail(err, TERN_EDATA,
                         "the body contains NUL bytes (attach binary data with --attach)");
    rc = add_rcpts(out, o->to, err);
    if (!rc)
        rc = add_rcpts(out, o->cc, err);
    if (!rc)
        rc = add_rcpts(out, o->bcc, err);
    if (!rc && !out->nrcpts)
        rc = tern_fail(err, TERN_EUSAGE, "no recipients (give --to, --cc or --bcc)");
    struct compose_attachment *att = NULL;
    if (!rc && o->nattach) {
        att = calloc(o->nattach, sizeof *att);
        if (!att)
            rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    }
    for (size_t i = 0; !rc && i < o->nattach; i++)
        rc = compose_attach_load(o->attach[i], &att[i], err);

    /* the text, as valid UTF-8 */
    struct tbuf text;
    tbuf_init(&text, COMPOSE_MSG_MAX);
    if (!rc) {
        const char *b = o->body ? o->body : "";
        size_t bn = o->body ? o->body_len : 0;
        rc = utf8_valid(b, bn) ? tbuf_append(&text, b, bn) : charset_to_utf8(NULL, b, bn, &text);
        if (rc)
            rc = tern_fail(err, rc == TERN_ENOMEM ? rc : TERN_EDATA, "the body is too large");
    }

    time_t now = o->now ? o->now : time(NULL);
    struct tbuf *m = &out->data;
    char date[64], mid[300], bound[40] = "=_tern_";
    if (!rc && !user_has(o, "Date")) {
        if (!compose_date(now, date, sizeof date))
            rc = tern_fail(err, TERN_EINTERNAL, "cannot format the date");
        else
            rc = compose_put_field(m, "Date", date, false, err);
    }
    if (!rc) {
        struct compose_addrs f = {(struct compose_addr *)o->from, 1};
        rc = put_addrs(m, "From", &f, err);
    }
    if (!rc)
        rc = put_addrs(m, "Reply-To", o->reply_to, err);
    if (!rc)
        rc = put_addrs(m, "To", o->to, err);
    if (!rc)
        rc = put_addrs(m, "Cc", o->cc, err);
    if (!rc)
        rc = put_addrs(m, "Bcc", o->bcc, err);
    if (!rc && o->subject)
        rc = compose_put_field(m, "Subject", o->subject, true, err);
    if (!rc && !user_has(o, "Message-ID")) {
        rc = compose_message_id(o->msgid_domain, now, mid, sizeof mid, err);
        if (!rc)
            rc = compose_put_field(m, "Message-ID", mid, false, err);
    }
    for (size_t i = 0; !rc && i < o->nheaders; i++) {
        check_user_header(o->headers[i], name, sizeof name, &value, NULL);
        rc = compose_put_field(m, name, value, true, err);
    }
    if (!rc)
        rc = compose_put_field(m, "MIME-Version", "1.0", false, err);
    const char *cte = NULL;
    if (!rc && !o->nattach) {
        struct tbuf body;
        tbuf_init(&body, COMPOSE_MSG_MAX);
        rc = compose_text_body(text.data ? text.data : "", text.len, &body, &cte, err);
        if (!rc)
            rc = tbuf_printf(m,
                             "Content-Type: text/plain; charset=utf-8\r\n"
                             "Content-Transfer-Encoding: %s\r\n\r\n",
                             cte);
        if (!rc)
            rc = tbuf_append(m, body.data ? body.data : "", body.len);
        tbuf_free(&body);
    } else if (!rc) {
        rc = compose_random_hex(bound + 7, 12, err);
        if (!rc)
            rc = tbuf_printf(m,
                             "Content-Type: multipart/mixed;\r\n boundary=\"%s\"\r\n\r\n"
                             "This is a message in MIME format.\r\n\r\n",
                             bound);
        if (!rc && text.len) {
            struct tbuf body;
            tbuf_init(&body, COMPOSE_MSG_MAX);
            rc = compose_text_body(text.data, text.len, &body, &cte, err);
            if (!rc)
                rc = tbuf_printf(m,
                                 "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                                 "Content-Transfer-Encoding: %s\r\n\r\n",
                                 bound, cte);
            /* the CRLF before the next boundary belongs to the boundary:
             * one more keeps the text's last line end */
            if (!rc)
                rc = tbuf_append(m, body.data ? body.data : "", body.len);
            if (!rc)
                rc = tbuf_append(m, "\r\n", 2);
            tbuf_free(&body);
        }
        for (size_t i = 0; !rc && i < o->nattach; i++)
            rc = compose_attach_part(&att[i], bound, m, err);
        if (!rc)
            rc = tbuf_printf(m, "--%s--\r\n", bound);
    }
    if (rc == TERN_EPROTO)
        rc = TERN_EDATA; /* a tbuf ceiling: the message is too large */
    if (rc)
        tern_fail(err, rc, "message too large");
    for (size_t i = 0; att && i < o->nattach; i++)
        compose_attach_free(&att[i]);
    free(att);
    tbuf_free(&text);
    if (rc)
        compose_msg_free(out);
    return rc;
}
