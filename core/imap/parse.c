/*
 * The streaming IMAP response parser. It is fed one line at a time; a line
 * that ends in a literal announcement ({n} or ~{n}) pauses the parse until
 * the caller has delivered the literal's bytes (into the parser, capped,
 * or to its own sink), then the next line continues the same response.
 *
 * Everything parsed is copied into one bounded buffer per response and
 * described by a flat token array (lists know where they end), so reading
 * a response never chases pointers and a response costs two allocations
 * that are reused for the next one.
 */
#include "lib.h"

#include <stdlib.h>
#include <string.h>

enum pstate {
    PS_START,   /* next line starts a response */
    PS_DATA,    /* inside the data tokens */
    PS_CODE,    /* inside [response code] */
    PS_LITERAL, /* waiting for a literal's bytes */
    PS_DONE,    /* a response is complete */
};

struct imap_parser {
    struct tbuf buf;
    struct imap_tok *tok;
    uint32_t ntok, tokcap;
    uint32_t stack[IMAP_DEPTH_MAX + 1]; /* open lists; stack[0] is the root */
    uint32_t prev[IMAP_DEPTH_MAX + 1];  /* last token closed at each depth */
    int depth;
    enum pstate state;
    enum pstate after_literal; /* PS_DATA or PS_CODE */
    uint64_t lit_size, lit_got;
    uint32_t lit_tok;
    bool lit_external;
    size_t tag_off, text_off;
    struct imap_resp resp;
};

struct imap_parser *imap_parser_new(void)
{
    struct imap_parser *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    tbuf_init(&p->buf, IMAP_RESP_MAX);
    p->state = PS_START;
    return p;
}

void imap_parser_free(struct imap_parser **pp)
{
    if (!pp || !*pp)
        return;
    struct imap_parser *p = *pp;
    tbuf_free(&p->buf);
    free(p->tok);
    free(p);
    *pp = NULL;
}

static enum tern_rc fail(struct tern_err *err, const char *what)
{
    return tern_fail(err, TERN_EPROTO, "IMAP server sent a malformed response (%s)", what);
}

static enum tern_rc new_tok(struct imap_parser *p, enum imap_type type, uint32_t *idx,
                            struct tern_err *err)
{
    if (p->ntok >= IMAP_TOKENS_MAX)
        return tern_fail(err, TERN_EPROTO, "IMAP response has more than %u items",
                         (unsigned)IMAP_TOKENS_MAX);
    if (p->ntok == p->tokcap) {
        uint32_t cap = p->tokcap ? p->tokcap * 2 : 256;
        if (cap > IMAP_TOKENS_MAX)
            cap = IMAP_TOKENS_MAX;
        struct imap_tok *t = realloc(p->tok, (size_t)cap * sizeof *t);
        if (!t)
            return tern_fail(err, TERN_ENOMEM, "out of memory");
        p->tok = t;
        p->tokcap = cap;
    }
    uint32_t i = p->ntok++;
    p->tok[i] = (struct imap_tok){.type = type, .end = i + 1, .off = p->buf.len, .len = 0};
    *idx = i;
    return TERN_OK;
}

static enum tern_rc put(struct imap_parser *p, const void *s, size_t n, struct tern_err *err)
{
    /* the common case without a call: room was reserved for the line */
    if (p->buf.data && n < p->buf.cap - p->buf.len) {
        memcpy(p->buf.data + p->buf.len, s, n);
        p->buf.len += n;
        p->buf.data[p->buf.len] = '\0';
        return TERN_OK;
    }
    enum tern_rc rc = tbuf_append(&p->buf, s, n);
    if (rc == TERN_EPROTO)
        return tern_fail(err, rc, "IMAP response larger than %zu bytes", (size_t)IMAP_RESP_MAX);
    if (rc)
        return tern_fail(err, rc, "out of memory");
    return TERN_OK;
}

static void reset(struct imap_parser *p)
{
    tbuf_reset(&p->buf);
    p->ntok = 0;
    p->depth = 0;
    p->lit_size = p->lit_got = 0;
    p->lit_external = false;
    p->tag_off = p->text_off = 0;
    memset(&p->resp, 0, sizeof p->resp);
}

/* Close the token just made at the current depth (for literal keys). */
static void done_tok(struct imap_parser *p, uint32_t i)
{
    p->prev[p->depth] = i;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/*
 * Tokenize s[*pos..n). Returns TERN_OK with *what = 0 at end of line,
 * 1 when a literal was announced (state set), 2 when the response code's
 * closing bracket was reached (*pos just past it).
 */
static enum tern_rc tokens(struct imap_parser *p, const char *s, size_t n, size_t *pos, bool code,
                           int *what, struct tern_err *err)
{
    size_t i = *pos;
    enum tern_rc rc;
    for (;;) {
        while (i < n && s[i] == ' ')
            i++;
        if (i >= n) {
            *pos = i;
            *what = 0;
            return TERN_OK;
        }
        char c = s[i];
        uint32_t t;
        if (c == '(') {
            if (p->depth >= IMAP_DEPTH_MAX)
                return tern_fail(err, TERN_EPROTO, "IMAP response nested deeper than %d",
                                 IMAP_DEPTH_MAX);
            if ((rc = new_tok(p, IMAP_LIST, &t, err)))
                return rc;
            p->stack[++p->depth] = t;
            p->prev[p->depth] = IMAP_NONE;
            i++;
        } else if (c == ')') {
            if (p->depth == 0)
                return fail(err, "unbalanced ')'");
            t = p->stack[p->depth--];
            p->tok[t].end = p->ntok;
            done_tok(p, t);
            i++;
        } else if (c == ']' && code) {
            if (p->depth != 0)
                return fail(err, "unbalanced list in response code");
            *pos = i + 1;
            *what = 2;
            return TERN_OK;
        } else if (c == '"') {
            if ((rc = new_tok(p, IMAP_QUOTED, &t, err)))
                return rc;
            i++;
            bool closed = false;
            while (i < n) {
                /* copy runs without escapes in one go */
                size_t j = i;
                while (j < n && s[j] != '"' && s[j] != '\\')
                    j++;
                if (j > i && (rc = put(p, s + i, j - i, err)))
                    return rc;
                i = j;
                if (i >= n)
                    break;
                if (s[i] == '"') {
                    i++;
                    closed = true;
                    break;
                }
                /* backslash: the next byte stands for itself */
                if (i + 1 >= n)
                    break;
                if ((rc = put(p, s + i + 1, 1, err)))
                    return rc;
                i += 2;
            }
            if (!closed)
                return fail(err, "unterminated quoted string");
            p->tok[t].len = p->buf.len - p->tok[t].off;
            done_tok(p, t);
        } else if (c == '{' || (c == '~' && i + 1 < n && s[i + 1] == '{')) {
            size_t j = i + (c == '~' ? 2 : 1);
            size_t d = j;
            while (j < n && is_digit(s[j]))
                j++;
            uint64_t size;
            if (j >= n || s[j] != '}' || j + 1 != n)
                return fail(err, "bad literal announcement");
            if (!tern_parse_u64(s + d, j - d, IMAP_LITERAL_NUM_MAX, &size))
                return fail(err, "literal size out of range");
            if ((rc = new_tok(p, IMAP_LITERAL, &t, err)))
                return rc;
            p->lit_tok = t;
            p->lit_size = size;
            p->lit_got = 0;
            p->lit_external = false;
            p->after_literal = code ? PS_CODE : PS_DATA;
            p->state = PS_LITERAL;
            *pos = n;
            *what = 1;
            return TERN_OK;
        } else {
            /* atom, possibly with a [section] that may hold spaces and
             * parentheses (BODY[HEADER.FIELDS (From To)]<0>) */
            if ((rc = new_tok(p, IMAP_ATOM, &t, err)))
                return rc;
            size_t j = i;
            int br = 0;
            while (j < n) {
                char b = s[j];
                if (br > 0) {
                    if (b == '[')
                        br++;
                    else if (b == ']')
                        br--;
                    j++;
                    continue;
                }
                if (b == ' ' || b == '(' || b == ')')
                    break;
                if (code && b == ']')
                    break;
                if (b == '[' && !code)
                    br++;
                j++;
            }
            if (br > 0)
                return fail(err, "unterminated '['");
            if ((rc = put(p, s + i, j - i, err)))
                return rc;
            p->tok[t].len = j - i;
            if (j - i == 3 && tern_strncasecmp(s + i, "NIL", 3) == 0)
                p->tok[t].type = IMAP_NIL;
            done_tok(p, t);
            i = j;
        }
    }
}

static void finish(struct imap_parser *p, enum imap_step *step)
{
    p->tok[0].end = p->ntok;
    p->resp.tok = p->tok;
    p->resp.ntok = p->ntok;
    /* nothing copied yet leaves the buffer unallocated */
    const char *base = p->buf.data ? p->buf.data : "";
    p->resp.buf = base;
    if (p->resp.kind == IMAP_TAGGED)
        p->resp.tag = base + p->tag_off;
    p->resp.text = base + p->text_off;
    p->state = PS_DONE;
    *step = IMAP_STEP_DONE;
}

static enum tern_rc set_text(struct imap_parser *p, const char *s, size_t n, struct tern_err *err)
{
    p->text_off = p->buf.len;
    p->resp.text_len = n;
    return put(p, s, n, err);
}

static enum imap_status status_word(const char *s, size_t n)
{
    static const struct {
        const char *w;
        enum imap_status st;
    } words[] = {{"OK", IMAP_ST_OK},
                 {"NO", IMAP_ST_NO},
                 {"BAD", IMAP_ST_BAD},
                 {"BYE", IMAP_ST_BYE},
                 {"PREAUTH", IMAP_ST_PREAUTH}};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strlen(words[i].w) == n && tern_strncasecmp(s, words[i].w, n) == 0)
            return words[i].st;
    return IMAP_ST_NONE;
}

/* Status response: after "OK"/"NO"/... at s[i..n). */
static enum tern_rc status_rest(struct imap_parser *p, const char *s, size_t n, size_t i,
                                enum imap_step *step, struct tern_err *err)
{
    if (i < n && s[i] == ' ')
        i++;
    if (i < n && s[i] == '[') {
        /* a response code; if it does not close on this line (and no
         * literal intervenes) the bracket was just text */
        uint32_t saved_ntok = p->ntok;
        size_t saved_len = p->buf.len;
        size_t pos = i + 1;
        int what = 0;
        struct tern_err tmp = {0};
        enum tern_rc rc = tokens(p, s, n, &pos, true, &what, &tmp);
        if (rc == TERN_OK && what == 1) {
            p->resp.has_code = true;
            *step = IMAP_STEP_LITERAL;
            return TERN_OK;
        }
        if (rc == TERN_OK && what == 2) {
            p->resp.has_code = true;
            if (pos < n && s[pos] == ' ')
                pos++;
            if ((rc = set_text(p, s + pos, n - pos, err)))
                return rc;
            finish(p, step);
            return TERN_OK;
        }
        if (rc == TERN_ENOMEM)
            return tern_fail(err, rc, "%s", tmp.msg);
        p->ntok = saved_ntok;
        p->buf.len = saved_len;
        p->depth = 0;
        p->state = PS_DATA;
    }
    enum tern_rc rc = set_text(p, s + i, n - i, err);
    if (rc)
        return rc;
    finish(p, step);
    return TERN_OK;
}

static enum tern_rc start(struct imap_parser *p, const char *s, size_t n, enum imap_step *step,
                          struct tern_err *err)
{
    reset(p);
    uint32_t root;
    enum tern_rc rc = new_tok(p, IMAP_LIST, &root, err);
    if (rc)
        return rc;
    p->stack[0] = root;
    p->prev[0] = IMAP_NONE;
    size_t i = 0;
    while (i < n && s[i] != ' ')
        i++;
    if (i == 0)
        return fail(err, "empty line or missing tag");
    p->state = PS_DATA;
    if (i == 1 && s[0] == '+') {
        p->resp.kind = IMAP_CONT;
        size_t t = i < n ? i + 1 : i;
        if ((rc = set_text(p, s + t, n - t, err)))
            return rc;
        finish(p, step);
        return TERN_OK;
    }
    bool tagged = !(i == 1 && s[0] == '*');
    if (tagged) {
        p->resp.kind = IMAP_TAGGED;
        p->tag_off = p->buf.len;
        p->resp.tag_len = i;
        if ((rc = put(p, s, i, err)))
            return rc;
    } else {
        p->resp.kind = IMAP_UNTAGGED;
    }
    if (i >= n)
        return fail(err, "response without content");
    i++;
    size_t w = i;
    while (w < n && s[w] != ' ' && s[w] != '[')
        w++;
    enum imap_status st = status_word(s + i, w - i);
    if (tagged && st != IMAP_ST_OK && st != IMAP_ST_NO && st != IMAP_ST_BAD)
        return fail(err, "tagged response without OK/NO/BAD");
    if (st != IMAP_ST_NONE) {
        p->resp.status = st;
        return status_rest(p, s, n, w, step, err);
    }
    size_t pos = i;
    int what;
    if ((rc = tokens(p, s, n, &pos, false, &what, err)))
        return rc;
    if (what == 1) {
        *step = IMAP_STEP_LITERAL;
        return TERN_OK;
    }
    if (p->depth != 0)
        return fail(err, "unclosed list");
    finish(p, step);
    return TERN_OK;
}

static enum tern_rc feed(struct imap_parser *p, const char *line, size_t n, enum imap_step *step,
                         struct tern_err *err)
{
    if (n > 0 && line[n - 1] == '\n')
        n--;
    if (n > 0 && line[n - 1] == '\r')
        n--;
    *step = IMAP_STEP_LINE;
    if (p->state == PS_START || p->state == PS_DONE)
        tbuf_reset(&p->buf);
    /* What one line adds never exceeds its length: make room once. */
    if (p->buf.cap - p->buf.len <= n && p->buf.len + n <= p->buf.max) {
        size_t had = p->buf.len;
        if (tbuf_append(&p->buf, line, n) == TERN_OK)
            p->buf.len = had;
    }
    if (p->state == PS_START || p->state == PS_DONE)
        return start(p, line, n, step, err);
    if (p->state != PS_LITERAL)
        return tern_fail(err, TERN_EINTERNAL, "IMAP parser fed in a bad state");
    /* the literal must be complete before the rest of its line */
    if (!p->lit_external && p->lit_got != p->lit_size)
        return fail(err, "literal shorter than announced");
    struct imap_tok *lt = &p->tok[p->lit_tok];
    if (p->lit_external) {
        lt->type = IMAP_EXTERNAL;
        lt->len = p->lit_size;
    } else {
        lt->len = p->buf.len - lt->off;
    }
    done_tok(p, p->lit_tok);
    p->state = p->after_literal;
    bool code = p->state == PS_CODE;
    size_t pos = 0;
    int what;
    enum tern_rc rc = tokens(p, line, n, &pos, code, &what, err);
    if (rc)
        return rc;
    if (what == 1) {
        *step = IMAP_STEP_LITERAL;
        return TERN_OK;
    }
    if (code) {
        if (what != 2)
            return fail(err, "unterminated response code");
        if (pos < n && line[pos] == ' ')
            pos++;
        if ((rc = set_text(p, line + pos, n - pos, err)))
            return rc;
        finish(p, step);
        return TERN_OK;
    }
    if (p->depth != 0)
        return fail(err, "unclosed list");
    finish(p, step);
    return TERN_OK;
}

enum tern_rc imap_parser_feed(struct imap_parser *p, const char *line, size_t n,
                              enum imap_step *step, struct tern_err *err)
{
    enum tern_rc rc = feed(p, line, n, step, err);
    if (rc) /* the next line starts afresh */
        p->state = PS_START;
    return rc;
}

uint64_t imap_parser_literal_size(const struct imap_parser *p)
{
    return p->state == PS_LITERAL ? p->lit_size : 0;
}

const char *imap_parser_literal_key(const struct imap_parser *p, size_t *n)
{
    *n = 0;
    if (p->state != PS_LITERAL)
        return NULL;
    uint32_t k = p->prev[p->depth];
    if (k == IMAP_NONE || k >= p->ntok || p->tok[k].type != IMAP_ATOM)
        return NULL;
    *n = p->tok[k].len;
    return p->buf.data + p->tok[k].off;
}

enum tern_rc imap_parser_literal_data(struct imap_parser *p, const char *buf, size_t n, size_t cap)
{
    if (p->state != PS_LITERAL || p->lit_external)
        return TERN_EINTERNAL;
    if (n > p->lit_size - p->lit_got)
        return TERN_EPROTO;
    if (p->lit_got + n > cap)
        return TERN_EPROTO;
    enum tern_rc rc = tbuf_append(&p->buf, buf, n);
    if (rc)
        return rc;
    p->lit_got += n;
    return TERN_OK;
}

void imap_parser_literal_external(struct imap_parser *p)
{
    if (p->state == PS_LITERAL)
        p->lit_external = true;
}

const struct imap_resp *imap_parser_resp(const struct imap_parser *p)
{
    return p->state == PS_DONE ? &p->resp : NULL;
}

/* --------------------------------------------------------- reading loop */

struct mem_sink {
    struct imap_parser *p;
    size_t cap;
};

static enum tern_rc mem_sink(void *arg, const char *buf, size_t n)
{
    struct mem_sink *m = arg;
    return imap_parser_literal_data(m->p, buf, n, m->cap);
}

enum tern_rc imap_read_resp(struct imap_parser *p, const struct imap_io *io, struct tbuf *line,
                            imap_route_fn *route, void *route_arg, const struct imap_resp **out,
                            struct tern_err *err)
{
    enum imap_step step = IMAP_STEP_LINE;
    enum tern_rc rc;
    *out = NULL;
    if (p->state == PS_LITERAL) /* a previous read failed half way */
        p->state = PS_START;
    for (;;) {
        tbuf_reset(line);
        if ((rc = io->read_line(io->arg, line, IMAP_LINE_MAX, err))) {
            p->state = PS_START;
            return rc;
        }
        if ((rc = imap_parser_feed(p, line->data, line->len, &step, err)))
            return rc;
        if (step == IMAP_STEP_DONE)
            break;
        if (step != IMAP_STEP_LITERAL)
            continue;
        uint64_t size = p->lit_size;
        size_t klen;
        const char *key = imap_parser_literal_key(p, &klen);
        void *sarg = NULL;
        conn_sink_fn *sink = route ? route(route_arg, key, klen, size, &sarg) : NULL;
        if (sink) {
            if (size > IMAP_BODY_MAX)
                return tern_fail(err, TERN_EPROTO,
                                 "IMAP server announced a %llu-byte message (limit %llu)",
                                 (unsigned long long)size, (unsigned long long)IMAP_BODY_MAX);
            imap_parser_literal_external(p);
            if ((rc = io->read_exact(io->arg, size, sink, sarg, err)))
                return rc;
        } else {
            if (size > IMAP_LITERAL_MAX)
                return tern_fail(err, TERN_EPROTO,
                                 "IMAP server sent a %llu-byte literal (limit %zu)",
                                 (unsigned long long)size, (size_t)IMAP_LITERAL_MAX);
            struct mem_sink ms = {p, IMAP_LITERAL_MAX};
            rc = io->read_exact(io->arg, size, mem_sink, &ms, err);
            if (rc == TERN_EPROTO)
                return tern_fail(err, rc, "IMAP response larger than %zu bytes",
                                 (size_t)IMAP_RESP_MAX);
            if (rc)
                return tern_fail(err, rc, "reading an IMAP literal failed");
        }
    }
    *out = imap_parser_resp(p);
    return TERN_OK;
}
