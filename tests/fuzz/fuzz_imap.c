/*
 * libFuzzer target for core/imap's response parser and the readers the
 * sync uses on parsed data. The input is a server byte stream: read as
 * responses until the bytes run out or the parser refuses them; every
 * response is then walked the way the sync walks FETCH, VANISHED, LIST,
 * ESEARCH and response codes.
 */
#include "core/imap/lib.h"

#include <stdint.h>
#include <string.h>

struct mem {
    const char *d;
    size_t n, pos;
};

static enum tern_rc mem_line(void *arg, struct tbuf *line, size_t max, struct tern_err *err)
{
    struct mem *m = arg;
    tbuf_reset(line);
    if (m->pos >= m->n)
        return tern_fail(err, TERN_ECONN, "eof");
    const char *s = m->d + m->pos;
    const char *nl = memchr(s, '\n', m->n - m->pos);
    size_t take = nl ? (size_t)(nl - s) + 1 : m->n - m->pos;
    if (take > max)
        return tern_fail(err, TERN_EPROTO, "long line");
    enum tern_rc rc = tbuf_append(line, s, take);
    m->pos += take;
    return rc;
}

static enum tern_rc mem_exact(void *arg, uint64_t n, conn_sink_fn *sink, void *sarg,
                              struct tern_err *err)
{
    struct mem *m = arg;
    if (n > m->n - m->pos)
        return tern_fail(err, TERN_ECONN, "eof in literal");
    /* deliver in small pieces like a socket would */
    size_t left = (size_t)n, step = 7;
    while (left) {
        size_t k = left < step ? left : step;
        if (sink) {
            enum tern_rc rc = sink(sarg, m->d + m->pos, k);
            if (rc)
                return rc;
        }
        m->pos += k;
        left -= k;
        step = step * 3 + 1;
    }
    return TERN_OK;
}

static uint64_t discarded;

static enum tern_rc discard(void *arg, const char *buf, size_t n)
{
    (void)buf;
    discarded += n;
    return TERN_OK;
}

static conn_sink_fn *route(void *arg, const char *key, size_t n, uint64_t size, void **sarg)
{
    if (key && n >= 6 && memcmp(key, "BODY[]", 6) == 0) {
        *sarg = NULL;
        return discard;
    }
    return NULL;
}

static int range(void *arg, uint32_t lo, uint32_t hi)
{
    uint64_t *sum = arg;
    *sum += (uint64_t)hi - lo;
    return 0;
}

static void walk(const struct imap_resp *r, struct tbuf *kw)
{
    /* touch every token through the public readers */
    for (uint32_t t = 0; t < r->ntok; t++) {
        const char *s;
        size_t n;
        uint64_t v;
        if (imap_str(r, t, &s, &n) && n)
            discarded += (unsigned char)s[n - 1];
        (void)imap_num(r, t, UINT64_MAX, &v);
        (void)imap_count(r, t);
        (void)imap_nth(r, t, 3);
    }
    uint64_t num, sum = 0;
    uint32_t rest;
    if (imap_is_numbered(r, "FETCH", &num, &rest)) {
        uint64_t v;
        (void)imap_num(r, imap_fetch_item(r, rest, "UID", false), UINT32_MAX, &v);
        (void)imap_num(r, imap_fetch_item(r, rest, "RFC822.SIZE", false), UINT64_MAX, &v);
        (void)imap_child(r, imap_fetch_item(r, rest, "MODSEQ", false));
        tbuf_reset(kw);
        (void)imap_flags_parse(r, imap_fetch_item(r, rest, "FLAGS", false), kw);
        (void)imap_bodystructure_has_attachments(r,
                                                 imap_fetch_item(r, rest, "BODYSTRUCTURE", false));
        (void)imap_fetch_item(r, rest, "BODY[HEADER.FIELDS", true);
    } else if (imap_is_named(r, "VANISHED", &rest) || imap_is_named(r, "SEARCH", &rest) ||
               imap_is_named(r, "ESEARCH", &rest)) {
        for (uint32_t c = rest; c != IMAP_NONE; c = imap_next(r, 0, c)) {
            const char *s;
            size_t n;
            if (imap_str(r, c, &s, &n))
                (void)imap_seqset_walk(s, n, 1000, range, &sum);
        }
    } else if (r->has_code) {
        for (uint32_t c = imap_child(r, 0); c != IMAP_NONE; c = imap_next(r, 0, c)) {
            const char *s;
            size_t n;
            if (imap_str(r, c, &s, &n))
                (void)imap_seqset_walk(s, n, 7, range, &sum);
        }
    }
    discarded += sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mem m = {(const char *)data, size, 0};
    struct imap_io io = {mem_line, mem_exact, NULL, NULL, &m};
    struct imap_parser *p = imap_parser_new();
    struct tbuf line, kw;
    tbuf_init(&line, IMAP_LINE_MAX);
    tbuf_init(&kw, 65536);
    while (p && m.pos < m.n) {
        struct tern_err err = {0};
        const struct imap_resp *r;
        if (imap_read_resp(p, &io, &line, route, NULL, &r, &err) != TERN_OK)
            continue; /* the parser must recover at the next line */
        walk(r, &kw);
    }
    tbuf_free(&line);
    tbuf_free(&kw);
    imap_parser_free(&p);
    return 0;
}
