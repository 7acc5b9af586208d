/* The rows of one folder: one scan of the index (strings kept in an
 * arena), then sort, threads, collapse, limit and search in memory. */
#include "core/index/lib.h"
#include "ui/private.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK ((size_t)256 << 10)

struct chunk {
    struct chunk *next;
    size_t used, cap;
    char data[];
};

struct ui_arena {
    struct chunk *head;
};

static const char *arena_dup(struct ui_arena *a, const char *s, bool *oom)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    struct chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        c = malloc(sizeof *c + cap);
        if (!c) {
            *oom = true;
            return NULL;
        }
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    char *d = c->data + c->used;
    memcpy(d, s, n);
    c->used += n;
    return d;
}

static void arena_free(struct ui_arena *a)
{
    if (!a)
        return;
    for (struct chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

void model_init(struct ui_model *m)
{
    memset(m, 0, sizeof *m);
}

void model_free(struct ui_model *m)
{
    free(m->rows);
    free(m->view);
    arena_free(m->arena);
    free(m->limit);
    enum ui_sort sort = m->sort;
    bool reverse = m->reverse, threads = m->threads;
    model_init(m);
    m->sort = sort;
    m->reverse = reverse;
    m->threads = threads;
}

struct loader {
    struct ui_model *m;
    bool oom;
};

static int load_cb(void *arg, const struct index_msg *im)
{
    struct loader *l = arg;
    struct ui_model *m = l->m;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        struct ui_row *v = realloc(m->rows, cap * sizeof *v);
        if (!v) {
            l->oom = true;
            return 1;
        }
        m->rows = v;
        m->cap = cap;
    }
    struct ui_row *r = &m->rows[m->n];
    memset(r, 0, sizeof *r);
    r->id = im->id;
    r->date = im->date;
    r->size = im->size;
    r->flags = im->flags;
    r->att = im->has_attachments;
    const char *from = im->from_name && *im->from_name ? im->from_name : im->from_addr;
    r->from = arena_dup(m->arena, from, &l->oom);
    r->addr = arena_dup(m->arena, im->from_addr, &l->oom);
    r->to = arena_dup(m->arena, im->to_text, &l->oom);
    r->subject = arena_dup(m->arena, im->subject, &l->oom);
    r->msgid = arena_dup(m->arena, im->message_id, &l->oom);
    r->irt = arena_dup(m->arena, im->in_reply_to, &l->oom);
    r->refs = arena_dup(m->arena, im->references, &l->oom);
    r->parent = r->child = r->next = UI_NONE;
    m->n++;
    return l->oom ? 1 : 0;
}

enum tern_rc model_load(struct ui_model *m, struct index *ix, int64_t folder_id, uint64_t first,
                        struct tern_err *err)
{
    char *limit = m->limit;
    m->limit = NULL;
    model_free(m);
    m->limit = limit;
    if (!ix) {
        m->complete = true;
        return model_build(m);
    }
    if (!(m->arena = calloc(1, sizeof *m->arena)))
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    struct loader l = {.m = m};
    struct index_query q = {.folder_id = folder_id, .limit = first};
    enum tern_rc rc = index_list(ix, &q, load_cb, &l, err);
    if (!rc && l.oom)
        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    if (rc)
        return rc;
    m->complete = !first || m->n < first;
    return model_build(m);
}

/* ---------------------------------------------------------------- sort */

/* qsort_r context */
struct sorter {
    const struct ui_model *m;
    const int64_t *latest; /* threads: newest date in each row's thread */
};

/* Subject without Re:/Fwd:/Aw: prefixes, for sorting. */
static const char *bare_subject(const char *s)
{
    if (!s)
        return "";
    for (;;) {
        while (*s == ' ')
            s++;
        size_t k = 0;
        if (!tern_strncasecmp(s, "re", 2) || !tern_strncasecmp(s, "aw", 2))
            k = 2;
        else if (!tern_strncasecmp(s, "fwd", 3))
            k = 3;
        else if (!tern_strncasecmp(s, "fw", 2))
            k = 2;
        if (!k)
            return s;
        const char *p = s + k;
        if (*p == '[') { /* Re[2]: */
            while (*p && *p != ']')
                p++;
            if (*p)
                p++;
        }
        if (*p != ':')
            return s;
        s = p + 1;
    }
}

static int cmp_date(const struct ui_row *a, const struct ui_row *b)
{
    /* newest first; unknown dates last; then id (arrival) */
    bool ka = a->date != INDEX_NO_DATE, kb = b->date != INDEX_NO_DATE;
    if (ka != kb)
        return ka ? -1 : 1;
    if (a->date != b->date)
        return a->date > b->date ? -1 : 1;
    return a->id > b->id ? -1 : a->id < b->id;
}

static int cmp_rows(const void *pa, const void *pb, void *arg)
{
    const struct ui_model *sm = ((const struct sorter *)arg)->m;
    const struct ui_row *a = &sm->rows[*(const uint32_t *)pa];
    const struct ui_row *b = &sm->rows[*(const uint32_t *)pb];
    int c = 0;
    switch (sm->sort) {
    case UI_SORT_DATE:
        break;
    case UI_SORT_FROM:
        c = tern_strcasecmp(a->from ? a->from : "", b->from ? b->from : "");
        break;
    case UI_SORT_SUBJECT:
        c = tern_strcasecmp(bare_subject(a->subject), bare_subject(b->subject));
        break;
    }
    if (!c)
        c = cmp_date(a, b);
    return sm->reverse ? -c : c;
}

/* thread roots: by the newest message in the thread */
static int cmp_roots(const void *pa, const void *pb, void *arg)
{
    const struct sorter *so = arg;
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    if (so->m->sort != UI_SORT_DATE)
        return cmp_rows(pa, pb, arg); /* applies reverse itself */
    int64_t da = so->latest[a], db = so->latest[b];
    int c = da != db ? (da > db ? -1 : 1) : cmp_date(&so->m->rows[a], &so->m->rows[b]);
    return so->m->reverse ? -c : c;
}

/* children: oldest first, as a conversation reads */
static int cmp_children(const void *pa, const void *pb, void *arg)
{
    const struct ui_model *sm = ((const struct sorter *)arg)->m;
    return -cmp_date(&sm->rows[*(const uint32_t *)pa], &sm->rows[*(const uint32_t *)pb]);
}

static bool matches(const struct ui_row *r, const char *text)
{
    return ui_contains(r->subject, text) || ui_contains(r->from, text) ||
           ui_contains(r->addr, text) || ui_contains(r->to, text);
}

static enum tern_rc view_push(struct ui_model *m, uint32_t r)
{
    if (m->nview == m->viewcap) {
        size_t cap = m->viewcap ? m->viewcap * 2 : 1024;
        uint32_t *v = realloc(m->view, cap * sizeof *v);
        if (!v)
            return TERN_ENOMEM;
        m->view = v;
        m->viewcap = cap;
    }
    m->view[m->nview++] = r;
    return TERN_OK;
}

void model_count(struct ui_model *m)
{
    m->total = m->unread = m->flagged = m->deleted = 0;
    for (size_t i = 0; i < m->n; i++) {
        const struct ui_row *r = &m->rows[i];
        if (r->gone)
            continue;
        m->total++;
        m->unread += !(r->flags & INDEX_FLAG_SEEN);
        m->flagged += !!(r->flags & INDEX_FLAG_FLAGGED);
        m->deleted += !!(r->flags & INDEX_FLAG_DELETED);
    }
}

static enum tern_rc build_flat(struct ui_model *m)
{
    for (size_t i = 0; i < m->n; i++) {
        struct ui_row *r = &m->rows[i];
        r->depth = 0;
        if (r->gone || (m->limit && !matches(r, m->limit)))
            continue;
        if (view_push(m, (uint32_t)i))
            return TERN_ENOMEM;
    }
    struct sorter so = {m, NULL};
    if ((m->sort != UI_SORT_DATE || m->reverse) && m->nview > 1) /* view is NULL when empty */
        qsort_r(m->view, m->nview, sizeof *m->view, cmp_rows, &so);
    return TERN_OK;
}

static enum tern_rc build_threads(struct ui_model *m)
{
    size_t n = m->n;
    struct ui_thread_in *in = malloc((n ? n : 1) * sizeof *in);
    uint32_t *parent = malloc((n ? n : 1) * sizeof *parent);
    uint32_t *tmp = malloc((n ? n : 1) * sizeof *tmp);
    int64_t *latest = malloc((n ? n : 1) * sizeof *latest);
    uint32_t *stack = malloc((n ? n : 1) * sizeof *stack);
    enum tern_rc rc = TERN_OK;
    if (!in || !parent || !tmp || !latest || !stack) {
        rc = TERN_ENOMEM;
        goto out;
    }
    /* rows gone, or hidden by the limit, take no part */
    for (size_t i = 0; i < n; i++) {
        const struct ui_row *r = &m->rows[i];
        bool on = !r->gone && (!m->limit || matches(r, m->limit));
        in[i] = on ? (struct ui_thread_in){r->msgid, r->irt, r->refs}
                   : (struct ui_thread_in){NULL, NULL, NULL};
    }
    if ((rc = ui_thread_parents(in, n, parent)))
        goto out;
    for (size_t i = 0; i < n; i++) {
        struct ui_row *r = &m->rows[i];
        r->parent = parent[i];
        r->child = r->next = UI_NONE;
        r->ndesc = 0;
        latest[i] = r->date;
    }
    /* latest date per thread: push each date up its ancestors (depth is
     * bounded by the loop cut, but walks are cheap: typical depth < 20) */
    for (size_t i = 0; i < n; i++) {
        if (m->rows[i].gone)
            continue;
        int64_t d = m->rows[i].date;
        for (uint32_t p = parent[i]; p != UI_NONE; p = parent[p]) {
            m->rows[p].ndesc++;
            if (d > latest[p])
                latest[p] = d;
        }
    }
    /* children lists, each sorted oldest first */
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (parent[i] != UI_NONE)
            tmp[k++] = (uint32_t)i;
    struct sorter so = {m, latest};
    qsort_r(tmp, k, sizeof *tmp, cmp_children, &so);
    /* link in reverse so each list ends up in sorted order */
    for (size_t j = k; j-- > 0;) {
        uint32_t c = tmp[j];
        m->rows[c].next = m->rows[parent[c]].child;
        m->rows[parent[c]].child = c;
    }
    /* roots */
    size_t nroots = 0;
    for (size_t i = 0; i < n; i++) {
        const struct ui_row *r = &m->rows[i];
        bool on = !r->gone && (!m->limit || matches(r, m->limit));
        if (on && parent[i] == UI_NONE)
            tmp[nroots++] = (uint32_t)i;
    }
    qsort_r(tmp, nroots, sizeof *tmp, cmp_roots, &so);
    /* depth-first: root, then its children in order */
    for (size_t j = 0; j < nroots && !rc; j++) {
        size_t sp = 0;
        stack[sp++] = tmp[j];
        m->rows[tmp[j]].depth = 0;
        m->rows[tmp[j]].last_sibling = true;
        while (sp && !rc) {
            uint32_t x = stack[--sp];
            struct ui_row *r = &m->rows[x];
            if ((rc = view_push(m, x)))
                break;
            if (r->collapsed && r->parent == UI_NONE)
                continue;
            /* push children in reverse so the first comes out first */
            size_t base = sp;
            for (uint32_t c = r->child; c != UI_NONE; c = m->rows[c].next) {
                m->rows[c].depth = (uint16_t)(r->depth < 0xfffe ? r->depth + 1 : r->depth);
                m->rows[c].last_sibling = m->rows[c].next == UI_NONE;
                stack[sp++] = c;
            }
            for (size_t a = base, b = sp; a + 1 < b; a++, b--) {
                uint32_t t = stack[a];
                stack[a] = stack[b - 1];
                stack[b - 1] = t;
            }
        }
    }
out:
    free(in);
    free(parent);
    free(tmp);
    free(latest);
    free(stack);
    return rc;
}

enum tern_rc model_build(struct ui_model *m)
{
    m->nview = 0;
    model_count(m);
    return m->threads ? build_threads(m) : build_flat(m);
}

size_t model_find(const struct ui_model *m, int64_t id)
{
    for (size_t i = 0; i < m->nview; i++)
        if (m->rows[m->view[i]].id == id)
            return i;
    return SIZE_MAX;
}

struct ui_row *model_at(struct ui_model *m, size_t i)
{
    return i < m->nview ? &m->rows[m->view[i]] : NULL;
}

size_t model_search(const struct ui_model *m, size_t from, int dir, const char *text)
{
    if (!m->nview || !text || !*text)
        return SIZE_MAX;
    size_t i = from < m->nview ? from : 0;
    for (size_t k = 0; k < m->nview; k++) {
        if (matches(&m->rows[m->view[i]], text))
            return i;
        i = dir > 0 ? (i + 1) % m->nview : (i + m->nview - 1) % m->nview;
    }
    return SIZE_MAX;
}

size_t model_toggle_collapse(struct ui_model *m, size_t i)
{
    if (!m->threads || i >= m->nview)
        return i;
    uint32_t x = m->view[i];
    while (m->rows[x].parent != UI_NONE)
        x = m->rows[x].parent;
    m->rows[x].collapsed = !m->rows[x].collapsed;
    int64_t id = m->rows[x].id;
    model_build(m);
    size_t at = model_find(m, id);
    return at == SIZE_MAX ? 0 : at;
}

void model_collapse_all(struct ui_model *m, bool collapse)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->rows[i].parent == UI_NONE)
            m->rows[i].collapsed = collapse;
    model_build(m);
}
