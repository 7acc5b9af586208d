#include "private.h"

#include "core/charset/lib.h"
#include "core/smtp/lib.h"

#include <stdlib.h>
#include <string.h>

/* A line of the input: text [p, p+len) without its line end. */
struct line {
    const char *p;
    size_t len;
    bool bare_cr; /* ended by a CR not followed by LF */
};

struct field {
    size_t first, nlines; /* index range into the line array */
    const char *name;
    size_t name_len;
};

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* Split in[0..n) into lines; CRLF, LF and CR each end one. */
static enum tern_rc split_lines(const char *in, size_t n, struct line **out, size_t *nout,
                                struct tern_err *err)
{
    size_t cap = 64, cnt = 0;
    struct line *v = malloc(cap * sizeof *v);
    if (!v)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    size_t i = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && in[e] != '\r' && in[e] != '\n')
            e++;
        if (cnt == cap) {
            cap *= 2;
            struct line *nv = realloc(v, cap * sizeof *v);
            if (!nv) {
                free(v);
                return tern_fail(err, TERN_ENOMEM, "out of memory");
            }
            v = nv;
        }
        v[cnt].p = in + i;
        v[cnt].len = e - i;
        v[cnt].bare_cr = e < n && in[e] == '\r' && !(e + 1 < n && in[e + 1] == '\n');
        cnt++;
        if (e < n && in[e] == '\r' && e + 1 < n && in[e + 1] == '\n')
            e++;
        i = e + 1;
    }
    *out = v;
    *nout = cnt;
    return TERN_OK;
}

/* "Name:" or "Name :" at the start of a line; the name's length or 0. */
static size_t field_name_len(const struct line *l)
{
    size_t k = 0;
    while (k < l->len && l->p[k] > 32 && l->p[k] < 127 && l->p[k] != ':')
        k++;
    size_t j = k;
    while (j < l->len && is_wsp(l->p[j]))
        j++;
    return (k && j < l->len && l->p[j] == ':' && compose_field_name_ok(l->p, k)) ? k : 0;
}

static bool name_is(const struct field *f, const char *name)
{
    return strlen(name) == f->name_len && !tern_strncasecmp(f->name, name, f->name_len);
}

/* The value of field f (after the colon), continuation lines joined with
 * CRLF so the address parser sees the folding. */
static enum tern_rc field_value(const struct line *lines, const struct field *f, struct tbuf *out)
{
    const struct line *l = &lines[f->first];
    const char *colon = memchr(l->p, ':', l->len);
    size_t off = (size_t)(colon - l->p) + 1;
    enum tern_rc rc = tbuf_append(out, l->p + off, l->len - off);
    for (size_t i = 1; i < f->nlines && !rc; i++) {
        rc = tbuf_append(out, "\r\n", 2);
        if (!rc)
            rc = tbuf_append(out, lines[f->first + i].p, lines[f->first + i].len);
    }
    return rc;
}

static const struct field *find_field(const struct field *fs, size_t nf, const char *name)
{
    for (size_t i = 0; i < nf; i++)
        if (name_is(&fs[i], name))
            return &fs[i];
    return NULL;
}

static enum tern_rc add_from_fields(const struct line *lines, const struct field *fs, size_t nf,
                                    const char *name, struct compose_msg *m, struct tern_err *err)
{
    enum tern_rc rc = TERN_OK;
    for (size_t i = 0; i < nf && !rc; i++) {
        if (!name_is(&fs[i], name))
            continue;
        struct tbuf v;
        tbuf_init(&v, COMPOSE_MSG_MAX);
        struct compose_addrs l = {0};
        rc = field_value(lines, &fs[i], &v);
        if (rc)
            rc = tern_fail(err, TERN_EDATA, "%s field too long", name);
        if (!rc)
            rc = compose_parse_header_addrs(v.data ? v.data : "", v.len, &l, err);
        for (size_t k = 0; !rc && k < l.n; k++)
            rc = compose_msg_add_rcpt(m, l.v[k].addr, err);
        compose_addrs_free(&l);
        tbuf_free(&v);
    }
    return rc;
}

/* Lower-case "type/subtype" of a Content-Type value into buf. */
static void content_type(const char *v, size_t n, char *buf, size_t size)
{
    size_t i = 0, o = 0;
    while (i < n && (is_wsp(v[i]) || v[i] == '\r' || v[i] == '\n'))
        i++;
    while (i < n && o + 1 < size && v[i] != ';' && !is_wsp(v[i]) && v[i] != '\r' && v[i] != '\n' &&
           v[i] != '(') {
        char c = v[i++];
        buf[o++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    buf[o] = '\0';
}

static enum tern_rc put_line(struct tbuf *out, const char *p, size_t n)
{
    enum tern_rc rc = tbuf_append(out, p, n);
    return rc ? rc : tbuf_append(out, "\r\n", 2);
}

enum tern_rc compose_ready(const char *in, size_t n, const struct compose_ready_opts *o,
                           struct compose_msg *out, struct tern_err *err)
{
    compose_msg_init(out);
    if (memchr(in, '\0', n))
        return tern_fail(err, TERN_EDATA, "the message contains a NUL byte");
    struct line *lines = NULL;
    size_t nl = 0;
    enum tern_rc rc = split_lines(in, n, &lines, &nl, err);
    if (rc)
        return rc;
    /* sendmail without -i: a line with a single "." ends the input */
    if (o->dot_ends)
        for (size_t i = 0; i < nl; i++)
            if (lines[i].len == 1 && lines[i].p[0] == '.') {
                nl = i;
                break;
            }
    size_t first = 0;
    if (nl && lines[0].len >= 5 && !memcmp(lines[0].p, "From ", 5))
        first = 1; /* mbox separator, not a header */

    /* the header block */
    struct field *fs = calloc(nl + 1, sizeof *fs);
    size_t nf = 0, i = first;
    if (!fs)
        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    for (; !rc && i < nl; i++) {
        const struct line *l = &lines[i];
        if (l->len == 0)
            break;
        if (is_wsp(l->p[0]) && nf) {
            fs[nf - 1].nlines++;
            continue;
        }
        size_t k = field_name_len(l);
        if (!k)
            break; /* not a header line: the body starts here */
        fs[nf].first = i;
        fs[nf].nlines = 1;
        fs[nf].name = l->p;
        fs[nf].name_len = k;
        nf++;
    }
    size_t body_start = i;
    bool blank_sep = body_start < nl && lines[body_start].len == 0;
    if (blank_sep)
        body_start++;
    /* A bare CR is a line end for the body (normalised to CRLF below), but
     * in the header section it would let "Subject: hi\rBcc: x" add a field
     * or a recipient the writer's LF filter never saw: refuse it there —
     * the mbox line, every field line and the blank separator. */
    for (size_t k = 0; !rc && k < body_start && k < nl; k++)
        if (lines[k].bare_cr)
            rc = tern_fail(err, TERN_EDATA,
                           "the message header has a bare CR (a CR not followed by LF) "
                           "in line %zu; refusing to guess where the field ends",
                           k + 1);

    /* recipients */
    if (!rc && o->extract) {
        bool resent = find_field(fs, nf, "Resent-To") || find_field(fs, nf, "Resent-Cc") ||
                      find_field(fs, nf, "Resent-Bcc");
        static const char *plain[] = {"To", "Cc", "Bcc"};
        static const char *res[] = {"Resent-To", "Resent-Cc", "Resent-Bcc"};
        for (int k = 0; k < 3 && !rc; k++)
            rc = add_from_fields(lines, fs, nf, resent ? res[k] : plain[k], out, err);
    }
    for (size_t k = 0; !rc && k < o->nrcpts; k++) {
        struct compose_addrs l = {0};
        rc = compose_parse_addrs(o->rcpts[k], strlen(o->rcpts[k]), &l, err);
        for (size_t j = 0; !rc && j < l.n; j++)
            rc = compose_msg_add_rcpt(out, l.v[j].addr, err);
        compose_addrs_free(&l);
    }
    if (!rc && !out->nrcpts)
        rc = tern_fail(err, TERN_EUSAGE,
                       o->extract ? "no recipients in To, Cc or Bcc, nor as arguments"
                                  : "no recipients (give them as arguments, or use -t)");

    /* body: does it need re-encoding? */
    size_t longest = 0;
    for (size_t k = body_start; k < nl; k++)
        if (lines[k].len > longest)
            longest = lines[k].len;
    bool reencode = false;
    const struct field *cte = find_field(fs, nf, "Content-Transfer-Encoding");
    const struct field *ctf = find_field(fs, nf, "Content-Type");
    if (!rc && longest > SMTP_LINE_MAX) {
        char ct[64] = "", enc[32] = "";
        struct tbuf v;
        tbuf_init(&v, 1 << 16);
        if (ctf && !field_value(lines, ctf, &v))
            content_type(v.data ? v.data : "", v.len, ct, sizeof ct);
        tbuf_reset(&v);
        if (cte && !field_value(lines, cte, &v))
            content_type(v.data ? v.data : "", v.len, enc, sizeof enc);
        tbuf_free(&v);
        bool text = !ct[0] || !strncmp(ct, "text/", 5);
        bool raw = !enc[0] || !strcmp(enc, "7bit") || !strcmp(enc, "8bit");
        if (text && raw)
            reencode = true;
        else
            rc = tern_fail(err, TERN_EDATA,
                           "a body line is longer than %d octets and the message is %s; "
                           "encode it before sending",
                           SMTP_LINE_MAX, text ? "already encoded" : "not single-part text");
    }

    /* assemble */
    struct tbuf *m = &out->data;
    time_t now = o->now ? o->now : time(NULL);
    if (!rc && !find_field(fs, nf, "Date")) {
        char date[64];
        if (!compose_date(now, date, sizeof date))
            rc = tern_fail(err, TERN_EINTERNAL, "cannot format the date");
        else
            rc = compose_put_field(m, "Date", date, false, err);
    }
    if (!rc && !find_field(fs, nf, "From")) {
        if (!o->from || !o->from->addr)
            rc = tern_fail(err, TERN_EDATA, "the message has no From field and no sender is known");
        struct tbuf v;
        tbuf_init(&v, 1 << 16);
        if (!rc && compose_render_addr(o->from, &v))
            rc = tern_fail(err, TERN_EDATA, "bad sender name");
        if (!rc)
            rc = compose_put_field(m, "From", v.data, false, err);
        tbuf_free(&v);
    }
    if (!rc && !find_field(fs, nf, "Message-ID")) {
        char mid[300];
        rc = compose_message_id(o->msgid_domain, now, mid, sizeof mid, err);
        if (!rc)
            rc = compose_put_field(m, "Message-ID", mid, false, err);
    }
    if (!rc && reencode) {
        if (!find_field(fs, nf, "MIME-Version"))
            rc = compose_put_field(m, "MIME-Version", "1.0", false, err);
        if (!rc && !ctf) {
            bool utf8 = true;
            for (size_t k = body_start; k < nl && utf8; k++)
                utf8 = utf8_valid(lines[k].p, lines[k].len);
            rc = compose_put_field(m, "Content-Type",
                                   utf8 ? "text/plain; charset=utf-8"
                                        : "text/plain; charset=unknown-8bit",
                                   false, err);
        }
    }
    for (size_t f = 0; !rc && f < nf; f++) {
        if (reencode && &fs[f] == cte)
            continue; /* replaced below */
        bool too_long = false;
        for (size_t k = 0; k < fs[f].nlines; k++)
            too_long |= lines[fs[f].first + k].len > SMTP_LINE_MAX;
        if (!too_long) {
            for (size_t k = 0; !rc && k < fs[f].nlines; k++)
                rc = put_line(m, lines[fs[f].first + k].p, lines[fs[f].first + k].len);
            continue;
        }
        /* unfold and fold again at blanks */
        struct tbuf u;
        tbuf_init(&u, COMPOSE_MSG_MAX);
        for (size_t k = 0; !rc && k < fs[f].nlines; k++)
            rc = tbuf_append(&u, lines[fs[f].first + k].p, lines[fs[f].first + k].len);
        if (!rc)
            rc = compose_fold(u.data, u.len, m, err);
        tbuf_free(&u);
    }
    if (!rc && reencode)
        rc = compose_put_field(m, "Content-Transfer-Encoding", "quoted-printable", false, err);
    if (!rc)
        rc = tbuf_append(m, "\r\n", 2);
    if (!rc && reencode) {
        struct tbuf text;
        tbuf_init(&text, COMPOSE_MSG_MAX);
        for (size_t k = body_start; k < nl && !rc; k++) {
            rc = tbuf_append(&text, lines[k].p, lines[k].len);
            if (!rc)
                rc = tbuf_putc(&text, '\n');
        }
        const char *enc;
        if (!rc)
            rc = compose_text_body(text.data ? text.data : "", text.len, m, &enc, err);
        tbuf_free(&text);
    } else {
        for (size_t k = body_start; k < nl && !rc; k++)
            rc = put_line(m, lines[k].p, lines[k].len);
    }
    if (rc == TERN_EPROTO)
        rc = TERN_EDATA;
    if (rc)
        tern_fail(err, rc, "message too large");
    free(fs);
    free(lines);
    if (rc)
        compose_msg_free(out);
    return rc;
}

char *compose_from_address(const char *msg, size_t n)
{
    struct line *lines = NULL;
    size_t nl = 0;
    if (split_lines(msg, n, &lines, &nl, NULL))
        return NULL;
    char *res = NULL;
    for (size_t i = 0; i < nl && lines[i].len && !res; i++) {
        if (lines[i].bare_cr)
            break; /* compose_ready refuses such a header */
        struct field f = {.first = i, .nlines = 1, .name = lines[i].p};
        f.name_len = field_name_len(&lines[i]);
        if (!f.name_len || !name_is(&f, "From"))
            continue;
        while (i + f.nlines < nl && lines[i + f.nlines].len && is_wsp(lines[i + f.nlines].p[0]))
            f.nlines++;
        struct tbuf v;
        tbuf_init(&v, 1 << 16);
        struct compose_addrs l = {0};
        if (!field_value(lines, &f, &v) &&
            !compose_parse_header_addrs(v.data ? v.data : "", v.len, &l, NULL) && l.n)
            res = tern_strdup(l.v[0].addr);
        compose_addrs_free(&l);
        tbuf_free(&v);
        break;
    }
    free(lines);
    return res;
}
