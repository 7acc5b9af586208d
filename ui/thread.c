/* Threads from Message-ID, In-Reply-To and References.
 *
 * Each message gets one parent: the message its In-Reply-To names when
 * that message is in the folder, else the nearest ancestor from
 * References that is (walking from the last id, the direct parent, to the
 * first). A missing middle message so links a reply to the nearest
 * ancestor present instead of starting a new thread. Hostile ids can form
 * loops; they are cut. One hash table, linear time. */
#include "ui/private.h"

#include <stdlib.h>
#include <string.h>

struct slot {
    const char *id; /* borrowed */
    size_t len;
    uint32_t row;
};

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint32_t lookup(const struct slot *t, size_t mask, const char *id, size_t len)
{
    for (size_t i = hash(id, len) & mask;; i = (i + 1) & mask) {
        if (!t[i].id)
            return UI_NONE;
        if (t[i].len == len && !memcmp(t[i].id, id, len))
            return t[i].row;
    }
}

/* ids are stored without angle brackets; tolerate them anyway */
static void trim_id(const char **s, size_t *n)
{
    while (*n && (**s == '<' || **s == ' ')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == '>' || (*s)[*n - 1] == ' '))
        (*n)--;
}

enum tern_rc ui_thread_parents(const struct ui_thread_in *in, size_t n, uint32_t *parent)
{
    if (n >= UI_NONE)
        return TERN_EINTERNAL;
    size_t size = 16;
    while (size < n * 2)
        size *= 2;
    struct slot *t = calloc(size, sizeof *t);
    uint8_t *state = calloc(n ? n : 1, 1);
    if (!t || !state) {
        free(t);
        free(state);
        return TERN_ENOMEM;
    }
    size_t mask = size - 1;
    /* first message with an id wins (duplicates become ordinary rows) */
    for (size_t r = 0; r < n; r++) {
        parent[r] = UI_NONE;
        const char *id = in[r].msgid;
        if (!id || !*id)
            continue;
        size_t len = strlen(id);
        trim_id(&id, &len);
        if (!len)
            continue;
        size_t i = hash(id, len) & mask;
        while (t[i].id && !(t[i].len == len && !memcmp(t[i].id, id, len)))
            i = (i + 1) & mask;
        if (!t[i].id)
            t[i] = (struct slot){id, len, (uint32_t)r};
    }
    for (size_t r = 0; r < n; r++) {
        uint32_t p = UI_NONE;
        if (in[r].irt && *in[r].irt) {
            const char *id = in[r].irt;
            size_t len = strlen(id);
            trim_id(&id, &len);
            if (len)
                p = lookup(t, mask, id, len);
        }
        if ((p == UI_NONE || p == r) && in[r].refs) {
            p = UI_NONE;
            /* walk the ids from the end */
            const char *s = in[r].refs;
            size_t end = strlen(s);
            while (end > 0 && p == UI_NONE) {
                while (end > 0 && (s[end - 1] == ' ' || s[end - 1] == '\t'))
                    end--;
                size_t start = end;
                while (start > 0 && s[start - 1] != ' ' && s[start - 1] != '\t')
                    start--;
                if (start == end)
                    break;
                const char *id = s + start;
                size_t len = end - start;
                trim_id(&id, &len);
                if (len) {
                    uint32_t q = lookup(t, mask, id, len);
                    if (q != r)
                        p = q;
                }
                end = start;
            }
        }
        parent[r] = p == r ? UI_NONE : p;
    }
    /* cut loops: state 0 unseen, 1 on the current walk, 2 settled */
    for (size_t r = 0; r < n; r++) {
        if (state[r])
            continue;
        uint32_t x = (uint32_t)r;
        while (x != UI_NONE && state[x] == 0) {
            state[x] = 1;
            uint32_t p = parent[x];
            if (p != UI_NONE && state[p] == 1) {
                parent[x] = UI_NONE; /* x closes a loop: make it a root */
                break;
            }
            x = p;
        }
        for (x = (uint32_t)r; x != UI_NONE && state[x] == 1; x = parent[x])
            state[x] = 2;
    }
    free(t);
    free(state);
    return TERN_OK;
}
