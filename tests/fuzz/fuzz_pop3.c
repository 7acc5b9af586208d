/* libFuzzer target for the POP3 response parser (core/pop3/parse.c).
 * The first byte picks the mode and a split step; the rest is parsed once
 * in one piece and once in pieces. Both runs must agree on the outcome,
 * the bytes used and the data handed out (the parser is resumable at any
 * byte), and every listing line goes through the line helpers. */
#include "core/pop3/private.h"

#include <stdlib.h>
#include <string.h>

struct sink {
    struct tbuf b;
};

static enum tern_rc sink_fn(void *arg, const char *buf, size_t n)
{
    struct sink *s = arg;
    /* Exercise the helpers on whatever a listing line holds. */
    uint32_t no;
    const char *uid;
    size_t ul;
    uint64_t size;
    if (pop3_parse_uidl_line(buf, n, &no, &uid, &ul) == TERN_OK &&
        (!pop3_uid_valid(uid, ul) || no == 0 || no > POP3_MSGNO_MAX))
        abort();
    if (pop3_parse_list_line(buf, n, &no, &size) == TERN_OK && (no == 0 || size > POP3_MESSAGE_MAX))
        abort();
    (void)pop3_capa_line(buf, n);
    enum tern_rc rc = tbuf_append(&s->b, buf, n);
    return rc == TERN_EPROTO ? TERN_OK : rc;
}

struct run {
    enum tern_rc rc;
    bool done, ok;
    size_t used;
    struct sink out;
    char status[POP3_STATUS_MAX];
};

static void run_once(const uint8_t *data, size_t n, enum pop3_data_mode mode, bool multi,
                     size_t step, struct run *r)
{
    static struct pop3_parser p; /* big: keep it off the stack */
    pop3_parser_init(&p);
    tbuf_init(&r->out.b, 1 << 20);
    pop3_parser_begin(&p, multi, mode, sink_fn, &r->out);
    struct tern_err err = {0};
    size_t off = 0;
    r->rc = TERN_OK;
    r->used = 0;
    while (off < n && !p.done) {
        size_t k = step ? (n - off < step ? n - off : step) : n - off;
        size_t used;
        r->rc = pop3_parser_feed(&p, (const char *)data + off, k, &used, &err);
        if (used > k)
            abort();
        off += used;
        r->used += used;
        if (r->rc || used < k)
            break;
    }
    r->done = p.done;
    r->ok = p.ok;
    memcpy(r->status, p.status, sizeof r->status);
    if (p.done && strlen(p.status) != p.status_len)
        abort();
    (void)pop3_resp_code(p.status);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t ctl = data[0];
    data++;
    size--;
    enum pop3_data_mode mode = (enum pop3_data_mode)(ctl % 3);
    bool multi = (ctl >> 2) & 1;
    size_t step = 1 + (ctl >> 3);
    static struct run a, b;
    run_once(data, size, mode, multi, 0, &a);
    run_once(data, size, mode, multi, step, &b);
    if (a.rc != b.rc || a.done != b.done)
        abort();
    if (a.rc == TERN_OK) {
        if (a.used != b.used || a.ok != b.ok || a.out.b.len != b.out.b.len ||
            (a.out.b.len && memcmp(a.out.b.data, b.out.b.data, a.out.b.len)))
            abort();
        if (a.done && strcmp(a.status, b.status))
            abort();
    }
    tbuf_free(&a.out.b);
    tbuf_free(&b.out.b);
    return 0;
}
