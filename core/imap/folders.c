/*
 * The folder list: one pipelined burst of ENABLE (optional) and LIST —
 * LIST-EXTENDED with RETURN (SUBSCRIBED SPECIAL-USE STATUS (...)) when
 * offered, so a no-change sync learns every folder's UIDNEXT and
 * HIGHESTMODSEQ in the same round trip; else LIST + LSUB. The result
 * replaces the index's folder table (display names decoded from modified
 * UTF-7), and SELECT for a folder.
 */
#include "core/charset/lib.h"
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    LA_NOSELECT = 1 << 0,
    LA_SUBSCRIBED = 1 << 1,
};

struct lent {
    char *raw; /* NUL-free, <= IMAP_NAME_MAX */
    char delim;
    unsigned attrs;
    enum index_special special;
    struct imap_folder_status st;
};

struct lctx {
    struct lent *v;
    size_t n, cap;
    bool lsub_seen;
};

static void lctx_free(struct lctx *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i].raw);
    free(c->v);
    memset(c, 0, sizeof *c);
}

static bool is_inbox(const char *s, size_t n)
{
    return n == 5 && tern_strncasecmp(s, "INBOX", 5) == 0;
}

static struct lent *find(struct lctx *c, const char *s, size_t n)
{
    if (c->n && strlen(c->v[c->n - 1].raw) == n && !memcmp(c->v[c->n - 1].raw, s, n))
        return &c->v[c->n - 1];
    for (size_t i = 0; i < c->n; i++)
        if (strlen(c->v[i].raw) == n && !memcmp(c->v[i].raw, s, n))
            return &c->v[i];
    if (is_inbox(s, n))
        for (size_t i = 0; i < c->n; i++)
            if (!strcmp(c->v[i].raw, "INBOX"))
                return &c->v[i];
    return NULL;
}

static bool name_of(const struct imap_resp *r, uint32_t t, const char **s, size_t *n)
{
    if (!imap_str(r, t, s, n) || *n == 0 || *n > IMAP_NAME_MAX || memchr(*s, '\0', *n) ||
        tern_has_crlf(*s, *n))
        return false;
    if (is_inbox(*s, *n))
        *s = "INBOX";
    return true;
}

/* STATUS facts decide whether a folder is selected at all, and an empty
 * one has its watermark set from them: a count that does not parse is a
 * protocol error, not a 0 ("empty, watermark at UIDNEXT" would lose the
 * folder's mail). */
static enum tern_rc status_items(const struct imap_resp *r, uint32_t l,
                                 struct imap_folder_status *st, struct tern_err *err)
{
    static const char *const u32_items[] = {"MESSAGES", "UIDNEXT", "UIDVALIDITY"};
    unsigned got = 0; /* bits: MESSAGES, UIDNEXT, UIDVALIDITY */
    for (uint32_t c = imap_child(r, l); c != IMAP_NONE;) {
        uint32_t v = imap_next(r, l, c);
        if (v == IMAP_NONE)
            break;
        uint64_t x;
        for (size_t i = 0; i < sizeof u32_items / sizeof u32_items[0]; i++) {
            if (!imap_eq(r, c, u32_items[i]))
                continue;
            if (!imap_num(r, v, UINT32_MAX, &x))
                return tern_fail(err, TERN_EPROTO, "IMAP server sent an out-of-range STATUS %s",
                                 u32_items[i]);
            if (i == 0)
                st->messages = (uint32_t)x;
            else if (i == 1)
                st->uidnext = (uint32_t)x;
            else
                st->uidvalidity = (uint32_t)x;
            got |= 1u << i;
        }
        if (imap_eq(r, c, "HIGHESTMODSEQ")) {
            if (!imap_num(r, v, UINT64_MAX / 2, &x))
                return tern_fail(err, TERN_EPROTO,
                                 "IMAP server sent an out-of-range STATUS HIGHESTMODSEQ");
            st->highestmodseq = x;
        }
        c = imap_next(r, l, v);
    }
    /* facts missing: the folder is selected and looked at instead */
    st->have = got == 7;
    return TERN_OK;
}

static enum tern_rc on_list(void *arg, const struct imap_resp *r, struct tern_err *err)
{
    struct lctx *c = arg;
    uint32_t rest;
    bool lsub = false;
    if (imap_is_named(r, "STATUS", &rest)) {
        const char *s;
        size_t n;
        struct lent *e;
        if (name_of(r, rest, &s, &n) && (e = find(c, s, n)))
            return status_items(r, imap_next(r, 0, rest), &e->st, err);
        return TERN_OK;
    }
    if (!imap_is_named(r, "LIST", &rest) && !(lsub = imap_is_named(r, "LSUB", &rest)))
        return TERN_OK;
    uint32_t attrs = rest, delim = imap_next(r, 0, attrs), name = imap_next(r, 0, delim);
    const char *s, *d;
    size_t n, dn;
    if (!imap_is_list(r, attrs) || !name_of(r, name, &s, &n))
        return TERN_OK; /* a name we cannot use: skip it, keep the rest */
    if (lsub) {
        c->lsub_seen = true;
        struct lent *e = find(c, s, n);
        if (e)
            e->attrs |= LA_SUBSCRIBED;
        return TERN_OK;
    }
    if (c->n >= IMAP_FOLDERS_MAX)
        return tern_fail(err, TERN_EPROTO, "IMAP server lists more than %d folders",
                         IMAP_FOLDERS_MAX);
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        struct lent *v = realloc(c->v, cap * sizeof *v);
        if (!v)
            return tern_fail(err, TERN_ENOMEM, "out of memory");
        c->v = v;
        c->cap = cap;
    }
    struct lent *e = &c->v[c->n];
    memset(e, 0, sizeof *e);
    if (!(e->raw = tern_strndup(s, n)))
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    c->n++;
    if (imap_str(r, delim, &d, &dn) && dn == 1 && d[0] != '\0')
        e->delim = d[0];
    static const struct {
        const char *a;
        enum index_special sp;
    } specials[] = {{"\\Sent", INDEX_SPECIAL_SENT},
                    {"\\Drafts", INDEX_SPECIAL_DRAFTS},
                    {"\\Trash", INDEX_SPECIAL_TRASH},
                    {"\\Junk", INDEX_SPECIAL_JUNK},
                    {"\\Archive", INDEX_SPECIAL_ARCHIVE}};
    for (uint32_t a = imap_child(r, attrs); a != IMAP_NONE; a = imap_next(r, attrs, a)) {
        if (imap_eq(r, a, "\\Noselect") || imap_eq(r, a, "\\NonExistent"))
            e->attrs |= LA_NOSELECT;
        else if (imap_eq(r, a, "\\Subscribed"))
            e->attrs |= LA_SUBSCRIBED;
        for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++)
            if (imap_eq(r, a, specials[i].a))
                e->special = specials[i].sp;
    }
    return TERN_OK;
}

void imap_listing_free(struct imap_listing *l)
{
    if (!l)
        return;
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

struct idlist {
    int64_t *v;
    size_t n, cap;
    bool oom;
};

static int collect_remote(void *arg, const struct index_folder *f)
{
    struct idlist *l = arg;
    if (!f->remote_name)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        int64_t *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->oom = true;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = f->id;
    return 0;
}

/* Write the listing into the index; ids[i] gets entry i's folder id (0 for
 * entries not stored). */
static enum tern_rc apply(struct imap_drv *d, struct lctx *c, int64_t *ids, struct tern_err *err)
{
    struct index *ix = d->ix;
    struct tbuf name;
    tbuf_init(&name, 4 * IMAP_NAME_MAX);
    enum tern_rc rc = index_begin(ix, err);
    for (size_t i = 0; i < c->n && !rc; i++) {
        struct lent *e = &c->v[i];
        ids[i] = 0;
        if (e->attrs & LA_NOSELECT)
            continue;
        tbuf_reset(&name);
        const char *display = e->raw;
        if (utf7imap_decode(e->raw, strlen(e->raw), &name) == TERN_OK && name.data &&
            strlen(name.data) == name.len)
            display = name.data;
        int64_t id;
        if ((rc = index_folder_get_or_create(ix, display, e->raw, &id, err)))
            break;
        struct index_folder f;
        if ((rc = index_folder_get(ix, id, NULL, &f, err)))
            break;
        bool sub = (e->attrs & LA_SUBSCRIBED) || !strcmp(e->raw, "INBOX");
        bool same_remote = f.remote_name && !strcmp(f.remote_name, e->raw);
        if (!same_remote || f.delim != e->delim || f.special_use != e->special ||
            f.subscribed != sub) {
            if (!same_remote) {
                free(f.remote_name);
                if (!(f.remote_name = tern_strdup(e->raw)))
                    rc = tern_fail(err, TERN_ENOMEM, "out of memory");
            }
            f.delim = e->delim;
            f.special_use = e->special;
            f.subscribed = sub;
            if (!rc)
                rc = index_folder_update(ix, &f, err);
        }
        index_folder_clear(&f);
        ids[i] = id;
    }
    /* folders the server no longer has */
    struct idlist known = {0};
    if (!rc)
        rc = index_folder_list(ix, collect_remote, &known, err);
    if (!rc && known.oom)
        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    for (size_t k = 0; k < known.n && !rc; k++) {
        bool listed = false;
        for (size_t i = 0; i < c->n && !listed; i++)
            listed = ids[i] == known.v[k];
        if (!listed) {
            rc = index_folder_delete(ix, known.v[k], err);
            if (!rc)
                imap_cache_drop(d, known.v[k], 0);
        }
    }
    free(known.v);
    tbuf_free(&name);
    if (!rc)
        rc = index_commit(ix, err);
    if (rc)
        index_rollback(ix);
    return rc;
}

enum tern_rc imap_list_folders(struct imap_drv *d, bool enable, struct imap_listing *out,
                               struct tern_err *err)
{
    struct imap_sess *s = d->s;
    if (out)
        memset(out, 0, sizeof *out);
    enum tern_rc rc = TERN_OK;
    if (enable && (s->caps & CAP_ENABLE) && !s->condstore) {
        if (s->caps & CAP_QRESYNC)
            rc = imap_cmd(s, NULL, err, "ENABLE QRESYNC");
        else if (s->caps & CAP_CONDSTORE)
            rc = imap_cmd(s, NULL, err, "ENABLE CONDSTORE");
    }
    uint32_t tag = 0;
    if (!rc && (s->caps & CAP_LIST_EXTENDED)) {
        const char *su = (s->caps & CAP_SPECIAL_USE) ? " SPECIAL-USE" : "";
        const char *stat = "";
        if (out && (s->caps & CAP_LIST_STATUS))
            stat = (s->caps & CAP_CONDSTORE)
                       ? " STATUS (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)"
                       : " STATUS (MESSAGES UIDNEXT UIDVALIDITY)";
        rc = imap_cmd(s, &tag, err, "LIST \"\" \"*\" RETURN (SUBSCRIBED%s%s)", su, stat);
    } else if (!rc) {
        rc = imap_cmd(s, NULL, err, "LIST \"\" \"*\"");
        if (!rc)
            rc = imap_cmd(s, &tag, err, "LSUB \"\" \"*\"");
    }
    struct lctx c = {0};
    const struct imap_resp *r;
    if (!rc)
        rc = imap_wait(s, tag, on_list, &c, &r, err);
    if (!rc)
        rc = imap_check(r, "LIST", err);
    int64_t *ids = NULL;
    if (!rc && !(ids = calloc(c.n ? c.n : 1, sizeof *ids)))
        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
    if (!rc)
        rc = apply(d, &c, ids, err);
    if (!rc && out) {
        out->v = calloc(c.n ? c.n : 1, sizeof *out->v);
        if (!out->v)
            rc = tern_fail(err, TERN_ENOMEM, "out of memory");
        for (size_t i = 0; i < c.n && !rc; i++) {
            if (!ids[i])
                continue;
            struct imap_folder_status *st = &out->v[out->n++];
            *st = c.v[i].st;
            st->folder_id = ids[i];
        }
    }
    if (!rc)
        d->listed = true;
    free(ids);
    lctx_free(&c);
    return rc;
}

enum tern_rc imap_select(struct imap_drv *d, const struct index_folder *f, bool qresync,
                         imap_resp_fn *fn, void *arg, struct tern_err *err)
{
    struct imap_sess *s = d->s;
    if (!f->remote_name)
        return tern_fail(err, TERN_ENOTFOUND, "folder '%s' is not on the server", f->name);
    struct tbuf cmd;
    tbuf_init(&cmd, 2 * IMAP_NAME_MAX + 200);
    enum tern_rc rc = tbuf_puts(&cmd, "SELECT ");
    if (!rc)
        rc = imap_put_mailbox(&cmd, f->remote_name, err);
    if (!rc && qresync && s->qresync && f->uidvalidity && f->highestmodseq)
        rc = tbuf_printf(&cmd, " (QRESYNC (%u %llu))", (unsigned)f->uidvalidity,
                         (unsigned long long)f->highestmodseq);
    else if (!rc && (s->caps & CAP_CONDSTORE))
        rc = tbuf_puts(&cmd, " (CONDSTORE)");
    memset(&s->sel, 0, sizeof s->sel);
    d->sel_fid = 0;
    uint32_t tag;
    const struct imap_resp *r;
    if (!rc)
        rc = imap_cmd(s, &tag, err, "%s", cmd.data);
    else
        rc = tern_fail(err, rc, "out of memory");
    tbuf_free(&cmd);
    if (!rc)
        rc = imap_wait(s, tag, fn, arg, &r, err);
    if (!rc)
        rc = imap_check(r, "SELECT", err);
    if (rc)
        return rc;
    if (!s->sel.uidvalidity)
        return tern_fail(err, TERN_EPROTO, "IMAP server did not send UIDVALIDITY for '%s'",
                         f->name);
    /* without EXISTS the folder would look empty while its watermark
     * moves to UIDNEXT */
    if (!s->sel.exists_seen)
        return tern_fail(err, TERN_EPROTO, "IMAP server did not send EXISTS for '%s'", f->name);
    if (s->sel.nomodseq)
        s->sel.highestmodseq = 0;
    s->sel.selected = true;
    d->sel_fid = f->id;
    return TERN_OK;
}
