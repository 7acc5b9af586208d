#include "lib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tbuf_init(struct tbuf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : SIZE_MAX / 2;
}

void tbuf_free(struct tbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void tbuf_reset(struct tbuf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static enum tern_rc tbuf_reserve(struct tbuf *b, size_t extra)
{
    if (b->max == 0)
        b->max = SIZE_MAX / 2;
    if (extra > b->max || b->len > b->max - extra)
        return TERN_EPROTO;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return TERN_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 4 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return TERN_ENOMEM;
    b->data = p;
    b->cap = cap;
    return TERN_OK;
}

enum tern_rc tbuf_append(struct tbuf *b, const void *p, size_t n)
{
    enum tern_rc rc = tbuf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return TERN_OK;
}

enum tern_rc tbuf_putc(struct tbuf *b, char c)
{
    return tbuf_append(b, &c, 1);
}

enum tern_rc tbuf_puts(struct tbuf *b, const char *s)
{
    return tbuf_append(b, s, strlen(s));
}

enum tern_rc tbuf_printf(struct tbuf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return TERN_EINTERNAL;
    }
    enum tern_rc rc = tbuf_reserve(b, (size_t)n);
    if (rc == TERN_OK) {
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
    return rc;
}

char *tbuf_steal(struct tbuf *b)
{
    char *p = b->data;
    if (!p)
        p = calloc(1, 1);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

void tbuf_stage_init(struct tbuf_stage *s, struct tbuf *out)
{
    s->out = out;
    s->rc = TERN_OK;
    s->len = 0;
}

void tbuf_stage_flush(struct tbuf_stage *s)
{
    if (s->rc == TERN_OK)
        s->rc = tbuf_append(s->out, s->buf, s->len);
    s->len = 0;
}

enum tern_rc tbuf_stage_done(struct tbuf_stage *s)
{
    tbuf_stage_flush(s);
    if (s->rc == TERN_OK)
        s->rc = tbuf_append(s->out, "", 0);
    return s->rc;
}
