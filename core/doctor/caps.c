/*
 * Capabilities of IMAP, POP3 and SMTP servers in one form, and the few
 * commands the doctor sends itself: capability queries (before TLS on a
 * plain socket, after TLS on a core/conn stream), IMAP LIST and POP3 STAT
 * after login, and the goodbye.
 */
#include "private.h"

#include "core/charset/lib.h"
#include "core/imap/lib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void caps_init(struct doctor_caps *c)
{
    memset(c, 0, sizeof *c);
    tbuf_init(&c->words, DOCTOR_CAPS_MAX);
}

void caps_free(struct doctor_caps *c)
{
    tbuf_free(&c->words);
    c->size_limit = 0;
    c->answered = false;
}

bool caps_has(const struct doctor_caps *c, const char *word)
{
    if (!c->words.data)
        return false;
    size_t n = strlen(word);
    for (const char *p = c->words.data; (p = strstr(p, word)) != NULL; p++) {
        if (p > c->words.data && p[-1] == ' ' && p[n] == ' ')
            return true;
    }
    return false;
}

/* Add one word (upper-cased; printable ASCII only; kept once). A full
 * buffer drops the word: the list is for display and simple tests. */
static void add_word(struct doctor_caps *c, const char *w, size_t n)
{
    if (n == 0 || n > 64)
        return;
    char up[72];
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)w[i];
        if (ch <= 0x20 || ch >= 0x7f)
            return;
        up[i] = (char)((ch >= 'a' && ch <= 'z') ? ch - 32 : ch);
    }
    up[n] = '\0';
    if (caps_has(c, up))
        return;
    if (c->words.len == 0 && tbuf_putc(&c->words, ' '))
        return;
    size_t keep = c->words.len;
    if (tbuf_append(&c->words, up, n) || tbuf_putc(&c->words, ' ')) {
        c->words.len = keep;
        if (c->words.data)
            c->words.data[keep] = '\0';
    }
}

static void add_auth(struct doctor_caps *c, const char *mech, size_t n)
{
    char w[80];
    if (n > 64)
        return;
    memcpy(w, "AUTH=", 5);
    memcpy(w + 5, mech, n);
    add_word(c, w, n + 5);
}

/* Call fn for each blank-separated word of p[0..n). */
static void each_word(const char *p, size_t n, struct doctor_caps *c, bool auth)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (p[i] == ' ' || p[i] == '\t'))
            i++;
        size_t s = i;
        while (i < n && p[i] != ' ' && p[i] != '\t')
            i++;
        if (i > s) {
            if (auth)
                add_auth(c, p + s, i - s);
            else
                add_word(c, p + s, i - s);
        }
    }
}

static bool starts_ci(const char *p, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && !tern_strncasecmp(p, prefix, k);
}

void caps_feed(struct doctor_caps *c, enum conn_proto proto, const char *line, size_t n,
               bool first_line)
{
    if (proto == CONN_IMAP) {
        const char *p = NULL;
        size_t len = 0;
        if (starts_ci(line, n, "* CAPABILITY ")) {
            p = line + 13;
            len = n - 13;
        } else {
            /* "[CAPABILITY ...]" in a greeting or tagged OK */
            for (size_t i = 0; i + 12 <= n; i++) {
                if (!tern_strncasecmp(line + i, "[CAPABILITY ", 12)) {
                    p = line + i + 12;
                    const char *end = memchr(p, ']', n - i - 12);
                    len = end ? (size_t)(end - p) : n - i - 12;
                    break;
                }
            }
        }
        if (p) {
            c->answered = true;
            each_word(p, len, c, false);
        }
        return;
    }
    if (proto == CONN_POP3) {
        if (starts_ci(line, n, "SASL ")) {
            each_word(line + 5, n - 5, c, true);
            add_word(c, "SASL", 4);
        } else {
            /* first word only: "IMPLEMENTATION Dovecot" is one capability */
            size_t k = 0;
            while (k < n && line[k] != ' ')
                k++;
            add_word(c, line, k);
        }
        return;
    }
    /* SMTP: "250-KEYWORD params" / "250 KEYWORD params" */
    if (first_line || n < 4)
        return;
    const char *p = line + 4;
    size_t len = n - 4;
    if (starts_ci(p, len, "AUTH ") || starts_ci(p, len, "AUTH=")) {
        add_word(c, "AUTH", 4);
        each_word(p + 5, len - 5, c, true);
        return;
    }
    size_t k = 0;
    while (k < len && p[k] != ' ')
        k++;
    add_word(c, p, k);
    if (k == 4 && !tern_strncasecmp(p, "SIZE", 4) && k < len) {
        uint64_t v;
        const char *num = p + k + 1;
        size_t nl = len - k - 1;
        if (tern_parse_u64(num, nl, UINT64_MAX / 2, &v))
            c->size_limit = v;
    }
}

void caps_merge_auth(struct doctor_caps *dst, const struct doctor_caps *src)
{
    const char *p = src->words.data;
    while (p && (p = strstr(p, " AUTH=")) != NULL) {
        p++;
        size_t n = strcspn(p, " ");
        add_word(dst, p, n);
        p += n;
    }
}

bool caps_can_login(const struct doctor_caps *c, enum conn_auth auth)
{
    if (auth == CONN_AUTH_XOAUTH2)
        return caps_has(c, "AUTH=XOAUTH2");
    return caps_has(c, "AUTH=PLAIN") || caps_has(c, "AUTH=LOGIN");
}

enum tern_rc caps_describe(const struct doctor_caps *c, enum conn_proto proto, struct tbuf *out)
{
    static const char *imap_want[] = {"IDLE", "CONDSTORE", "QRESYNC", "MOVE", "SPECIAL-USE", NULL};
    static const char *pop3_want[] = {"UIDL", "PIPELINING", NULL};
    static const char *smtp_want[] = {"SIZE", "8BITMIME", "PIPELINING", NULL};
    const char **want = proto == CONN_IMAP ? imap_want : proto == CONN_POP3 ? pop3_want : smtp_want;
    enum tern_rc rc = TERN_OK;
    bool any = false;
    for (size_t i = 0; want[i]; i++) {
        if (!caps_has(c, want[i]))
            continue;
        rc = rc ? rc : tbuf_printf(out, "%s%s", any ? ", " : "has ", want[i]);
        if (!strcmp(want[i], "SIZE") && c->size_limit)
            rc = rc ? rc
                    : tbuf_printf(out, " (%llu MB)", (unsigned long long)(c->size_limit / 1000000));
        any = true;
    }
    bool missing = false;
    for (size_t i = 0; want[i]; i++) {
        if (caps_has(c, want[i]))
            continue;
        rc = rc ? rc
                : tbuf_printf(out, "%s%s", missing ? ", " : (any ? "; lacks " : "lacks "), want[i]);
        missing = true;
    }
    /* login mechanisms */
    bool mech = false;
    const char *p = c->words.data;
    while (p && (p = strstr(p, " AUTH=")) != NULL) {
        p += 6;
        const char *e = strchr(p, ' ');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        rc = rc ? rc : tbuf_printf(out, "%s%.*s", mech ? " " : "; login: ", (int)n, p);
        mech = true;
    }
    if (!mech)
        rc = rc ? rc : tbuf_puts(out, "; login: none offered");
    return rc;
}

/* ---- line I/O over either a plain socket or a conn stream ------------ */

struct liner {
    struct net_sock *ns;
    struct conn *c;
};

static enum tern_rc l_read(struct liner *l, struct tbuf *line, struct tern_err *err)
{
    if (l->ns)
        return net_read_line(l->ns, line, err);
    tbuf_reset(line);
    enum tern_rc rc = conn_read_line(l->c, line, DOCTOR_LINE_MAX, err);
    if (rc)
        return rc;
    while (line->len && (line->data[line->len - 1] == '\n' || line->data[line->len - 1] == '\r'))
        line->data[--line->len] = '\0';
    return TERN_OK;
}

static enum tern_rc l_send(struct liner *l, const char *text, struct tern_err *err)
{
    if (l->ns)
        return net_send(l->ns, text, err);
    return conn_send(l->c, text, strlen(text), err);
}

static enum tern_rc query(struct liner *l, enum conn_proto proto, const char *ehlo,
                          struct doctor_caps *c, struct tern_err *err)
{
    struct tbuf line;
    tbuf_init(&line, DOCTOR_LINE_MAX + 1);
    enum tern_rc rc;
    if (proto == CONN_IMAP) {
        rc = l_send(l, "D1 CAPABILITY\r\n", err);
        for (unsigned i = 0; !rc; i++) {
            if (i >= DOCTOR_CAPS_LINES_MAX) {
                rc = tern_fail(err, TERN_EPROTO, "too many lines in the CAPABILITY answer");
                break;
            }
            if ((rc = l_read(l, &line, err)))
                break;
            if (!strncmp(line.data, "D1 ", 3))
                break; /* OK or not: what was listed is what we know */
            caps_feed(c, proto, line.data, line.len, false);
        }
    } else if (proto == CONN_POP3) {
        rc = l_send(l, "CAPA\r\n", err);
        if (!rc)
            rc = l_read(l, &line, err);
        if (!rc && !strncmp(line.data, "+OK", 3)) {
            c->answered = true;
            for (unsigned i = 0; !rc; i++) {
                if (i >= DOCTOR_CAPS_LINES_MAX) {
                    rc = tern_fail(err, TERN_EPROTO, "too many lines in the CAPA answer");
                    break;
                }
                if ((rc = l_read(l, &line, err)))
                    break;
                if (!strcmp(line.data, "."))
                    break;
                caps_feed(c, proto, line.data, line.len, false);
            }
        }
    } else {
        char cmd[300];
        if (!tern_snprintf(cmd, sizeof cmd, "EHLO %s\r\n", ehlo && *ehlo ? ehlo : "localhost") ||
            tern_has_crlf(ehlo ? ehlo : "", SIZE_MAX))
            rc = tern_fail(err, TERN_ECONFIG, "invalid EHLO name");
        else
            rc = l_send(l, cmd, err);
        for (unsigned i = 0; !rc; i++) {
            if (i >= DOCTOR_CAPS_LINES_MAX) {
                rc = tern_fail(err, TERN_EPROTO, "too many lines in the EHLO answer");
                break;
            }
            if ((rc = l_read(l, &line, err)))
                break;
            if (line.len < 4 || strncmp(line.data, "250", 3) != 0)
                break; /* EHLO refused: nothing known */
            c->answered = true;
            caps_feed(c, proto, line.data, line.len, i == 0);
            if (line.data[3] == ' ')
                break;
        }
    }
    tbuf_free(&line);
    return rc;
}

enum tern_rc caps_query_plain(struct net_sock *s, enum conn_proto proto, const char *ehlo,
                              const char *greeting, struct doctor_caps *c, struct tern_err *err)
{
    struct liner l = {.ns = s};
    enum tern_rc rc = TERN_OK;
    if (proto == CONN_IMAP && greeting)
        caps_feed(c, proto, greeting, strlen(greeting), true);
    if (proto == CONN_SMTP && greeting && strlen(greeting) > 3 && greeting[3] == '-') {
        /* the rest of a multi-line greeting */
        struct tbuf line;
        tbuf_init(&line, DOCTOR_LINE_MAX + 1);
        for (unsigned i = 0; !rc; i++) {
            if (i >= DOCTOR_CAPS_LINES_MAX) {
                rc = tern_fail(err, TERN_EPROTO, "too many lines in the greeting");
                break;
            }
            if ((rc = l_read(&l, &line, err)))
                break;
            if (line.len >= 4 && line.data[3] == ' ')
                break;
        }
        tbuf_free(&line);
    }
    if (!rc)
        rc = query(&l, proto, ehlo, c, err);
    /* goodbye without waiting for the answer */
    net_send(s, proto == CONN_IMAP ? "D9 LOGOUT\r\n" : "QUIT\r\n", NULL);
    return rc;
}

enum tern_rc caps_query_conn(struct conn *c, enum conn_proto proto, const char *ehlo,
                             struct doctor_caps *caps, struct tern_err *err)
{
    struct liner l = {.c = c};
    return query(&l, proto, ehlo, caps, err);
}

void caps_logout(struct conn *c, enum conn_proto proto)
{
    struct liner l = {.c = c};
    const char *bye = proto == CONN_IMAP ? "D9 LOGOUT\r\n" : "QUIT\r\n";
    if (l_send(&l, bye, NULL))
        return;
    struct tbuf line;
    tbuf_init(&line, DOCTOR_LINE_MAX + 1);
    /* read the answer so the server sees an orderly end (bounded) */
    for (unsigned i = 0; i < 8; i++) {
        if (l_read(&l, &line, NULL))
            break;
        if (proto != CONN_IMAP || !strncmp(line.data, "D9 ", 3))
            break;
    }
    tbuf_free(&line);
}

/* ---- IMAP LIST and POP3 STAT ---------------------------------------- */

static enum tern_rc io_line(void *arg, struct tbuf *line, size_t max, struct tern_err *err)
{
    return conn_read_line(arg, line, max, err);
}

static enum tern_rc io_exact(void *arg, uint64_t n, conn_sink_fn *sink, void *sarg,
                             struct tern_err *err)
{
    return conn_read_exact(arg, n, sink, sarg, err);
}

static enum tern_rc io_send(void *arg, const void *buf, size_t n, struct tern_err *err)
{
    return conn_send(arg, buf, n, err);
}

void folders_free(struct doctor_folders *f)
{
    for (size_t i = 0; i < f->nnames; i++)
        free(f->names[i]);
    free(f->names);
    f->names = NULL;
    f->nnames = 0;
    free(f->sent_special);
    f->sent_special = NULL;
}

static int cmp_folder(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    bool xi = !tern_strcasecmp(x, "INBOX"), yi = !tern_strcasecmp(y, "INBOX");
    if (xi != yi)
        return xi ? -1 : 1;
    return strcmp(x, y);
}

enum tern_rc folders_summary(struct doctor_folders *f, struct tbuf *out)
{
    if (f->nnames)
        qsort(f->names, f->nnames, sizeof f->names[0], cmp_folder);
    enum tern_rc rc = TERN_OK;
    for (size_t i = 0; !rc && i < f->nnames && i < DOCTOR_FOLDER_NAMES; i++)
        rc = tbuf_printf(out, "%s%s", i ? ", " : "", f->names[i]);
    if (!rc && f->count > DOCTOR_FOLDER_NAMES)
        rc = tbuf_puts(out, ", ...");
    return rc;
}

static enum tern_rc one_folder(struct doctor_folders *f, const struct imap_resp *r, uint32_t rest)
{
    /* (flags) delimiter name */
    uint32_t flags = rest;
    uint32_t delim = flags == IMAP_NONE ? IMAP_NONE : imap_next(r, 0, flags);
    uint32_t name = delim == IMAP_NONE ? IMAP_NONE : imap_next(r, 0, delim);
    const char *raw;
    size_t rn;
    if (name == IMAP_NONE || !imap_is_list(r, flags) || !imap_str(r, name, &raw, &rn))
        return TERN_OK; /* malformed entry: not counted */
    f->count++;
    struct tbuf dec;
    tbuf_init(&dec, 4096);
    const char *shown = raw;
    size_t sn = rn;
    /* INBOX is case-insensitive and never encoded */
    if (!(rn == 5 && !tern_strncasecmp(raw, "INBOX", 5)) &&
        utf7imap_decode(raw, rn, &dec) == TERN_OK && dec.data) {
        shown = dec.data;
        sn = dec.len;
    }
    enum tern_rc rc = TERN_OK;
    if (f->nnames < DOCTOR_FOLDERS_KEPT) {
        char **v = realloc(f->names, (f->nnames + 1) * sizeof *v);
        char *copy = tern_strndup(shown, sn);
        if (!v || !copy) {
            free(copy);
            if (v)
                f->names = v;
            rc = TERN_ENOMEM;
        } else {
            f->names = v;
            f->names[f->nnames++] = copy;
        }
    }
    bool is_sent = false;
    for (uint32_t t = imap_child(r, flags); t != IMAP_NONE; t = imap_next(r, flags, t))
        if (imap_eq(r, t, "\\Sent"))
            is_sent = true;
    if (!rc && is_sent && !f->sent_special && !(f->sent_special = tern_strndup(shown, sn)))
        rc = TERN_ENOMEM;
    if (sn == 4 && !memcmp(shown, "Sent", 4))
        f->has_named_sent = true;
    if (f->wanted && strlen(f->wanted) == sn && !memcmp(f->wanted, shown, sn))
        f->wanted_found = true;
    tbuf_free(&dec);
    return rc;
}

enum tern_rc folders_list_imap(struct conn *c, struct doctor_folders *f, struct tern_err *err)
{
    struct imap_io io = {.read_line = io_line, .read_exact = io_exact, .send = io_send, .arg = c};
    struct imap_parser *p = imap_parser_new();
    if (!p)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    struct tbuf line;
    tbuf_init(&line, 0);
    static const char cmd[] = "D3 LIST \"\" \"*\"\r\n";
    enum tern_rc rc = conn_send(c, cmd, sizeof cmd - 1, err);
    for (uint64_t i = 0; !rc; i++) {
        const struct imap_resp *r;
        if (i > DOCTOR_FOLDERS_MAX + 100) {
            rc = tern_fail(err, TERN_EPROTO, "more than %d folders listed", DOCTOR_FOLDERS_MAX);
            break;
        }
        if ((rc = imap_read_resp(p, &io, &line, NULL, NULL, &r, err)))
            break;
        if (r->kind == IMAP_TAGGED) {
            if (r->tag_len == 2 && !memcmp(r->tag, "D3", 2)) {
                if (r->status != IMAP_ST_OK)
                    rc = tern_fail(err, TERN_EPROTO, "the server refused LIST: %.*s",
                                   (int)(r->text_len > 200 ? 200 : r->text_len), r->text);
                break;
            }
            continue;
        }
        uint32_t rest;
        if (r->kind == IMAP_UNTAGGED && imap_is_named(r, "LIST", &rest) &&
            one_folder(f, r, rest) != TERN_OK)
            rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    }
    tbuf_free(&line);
    imap_parser_free(&p);
    return rc;
}

enum tern_rc pop3_stat(struct conn *c, uint64_t *count, uint64_t *bytes, struct tern_err *err)
{
    struct liner l = {.c = c};
    struct tbuf line;
    tbuf_init(&line, DOCTOR_LINE_MAX + 1);
    enum tern_rc rc = l_send(&l, "STAT\r\n", err);
    if (!rc)
        rc = l_read(&l, &line, err);
    if (!rc) {
        /* "+OK 3 1234" */
        const char *p = line.data;
        const char *sp1 = strncmp(p, "+OK ", 4) ? NULL : p + 4;
        const char *sp2 = sp1 ? strchr(sp1, ' ') : NULL;
        size_t n2 = sp2 ? strcspn(sp2 + 1, " ") : 0;
        if (!sp2 || !tern_parse_u64(sp1, (size_t)(sp2 - sp1), UINT32_MAX, count) ||
            !tern_parse_u64(sp2 + 1, n2, UINT64_MAX / 2, bytes))
            rc = tern_fail(err, TERN_EPROTO, "unexpected answer to STAT: %.200s", p);
    }
    tbuf_free(&line);
    return rc;
}
