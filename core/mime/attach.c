/* Attachments: which parts are attachments, what to call them on disk, and
 * writing them without ever touching anything but a new file in the
 * chosen directory. */
#include "private.h"

#include "core/charset/lib.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_RENAME_TRIES 1000
#define MAX_EXT_BYTES 16 /* an extension kept when a long name is cut */

static bool is_attachment_leaf(const struct mime_part *p)
{
    if (p->disposition == MIME_DISP_ATTACHMENT || p->filename)
        return true;
    return strcmp(p->type, "text/plain") && strcmp(p->type, "text/html");
}

static enum tern_rc add(struct mime_attachments *a, size_t *cap, const struct mime_message *m,
                        const struct mime_part *p)
{
    if (a->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        struct mime_attachment *v = realloc(a->v, ncap * sizeof *v);
        if (!v)
            return TERN_ENOMEM;
        a->v = v;
        *cap = ncap;
    }
    struct mime_attachment *at = &a->v[a->n];
    memset(at, 0, sizeof *at);
    at->part = p;
    at->content_type = p->type;
    at->size = mime_part_size(m, p);
    if (p->filename && !(at->filename = tern_strdup(p->filename)))
        return TERN_ENOMEM;
    at->safe_name = mime_safe_filename(p->filename, p->type, a->n + 1);
    if (!at->safe_name) {
        free(at->filename);
        return TERN_ENOMEM;
    }
    a->n++;
    return TERN_OK;
}

enum tern_rc mime_attachments_list(const struct mime_message *m, struct mime_attachments *out)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    const struct mime_part *best = mime_best_text(m);
    const struct mime_part *p = m->root;
    enum tern_rc rc = TERN_OK;
    /* Walk the tree; an attached message is one attachment, so its
     * subtree is skipped. */
    while (p && !rc) {
        bool descend = false;
        if (p == best) {
            /* shown, not listed */
        } else if (p->env && p != m->root) {
            rc = add(out, &cap, m, p);
        } else if (p->child) {
            descend = true;
        } else if (is_attachment_leaf(p)) {
            rc = add(out, &cap, m, p);
        }
        if (descend) {
            p = p->child;
            continue;
        }
        while (p && !p->next)
            p = p->parent;
        if (p)
            p = p->next;
    }
    if (rc)
        mime_attachments_free(out);
    return rc;
}

void mime_attachments_free(struct mime_attachments *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++) {
        free(a->v[i].filename);
        free(a->v[i].safe_name);
    }
    free(a->v);
    a->v = NULL;
    a->n = 0;
}

static const char *ext_for_type(const char *type)
{
    static const struct {
        const char *type, *ext;
    } map[] = {
        {"text/plain", ".txt"},
        {"text/html", ".html"},
        {"text/calendar", ".ics"},
        {"text/csv", ".csv"},
        {"text/xml", ".xml"},
        {"text/markdown", ".md"},
        {"application/pdf", ".pdf"},
        {"application/zip", ".zip"},
        {"application/gzip", ".gz"},
        {"application/x-gzip", ".gz"},
        {"application/x-tar", ".tar"},
        {"application/json", ".json"},
        {"application/xml", ".xml"},
        {"application/msword", ".doc"},
        {"application/vnd.ms-excel", ".xls"},
        {"application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx"},
        {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx"},
        {"application/vnd.openxmlformats-officedocument.presentationml.presentation", ".pptx"},
        {"application/vnd.oasis.opendocument.text", ".odt"},
        {"application/pgp-signature", ".asc"},
        {"application/pgp-keys", ".asc"},
        {"application/pkcs7-signature", ".p7s"},
        {"application/octet-stream", ".bin"},
        {"image/png", ".png"},
        {"image/jpeg", ".jpg"},
        {"image/gif", ".gif"},
        {"image/webp", ".webp"},
        {"image/svg+xml", ".svg"},
        {"audio/mpeg", ".mp3"},
        {"audio/ogg", ".ogg"},
        {"video/mp4", ".mp4"},
        {"message/rfc822", ".eml"},
        {"message/global", ".eml"},
    };
    if (!type)
        return "";
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!tern_strcasecmp(type, map[i].type))
            return map[i].ext;
    return "";
}

/* Code points that must not appear in a file name shown to or used by
 * the user: controls, and the invisible direction controls that make
 * "gnp.exe" look like "exe.png". */
static bool bad_cp(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0xFFFD || cp == 0x061C ||
           cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2066 && cp <= 0x2069) || cp == 0xFEFF;
}

/* Cut s (length *n) to at most max bytes on a UTF-8 boundary. */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    size_t k = max;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    return k;
}

char *mime_safe_filename(const char *name, const char *content_type, size_t n)
{
    struct tbuf b;
    tbuf_init(&b, 0);
    if (name) {
        /* The last path component, whichever separator the sender used. */
        const char *base = name;
        for (const char *s = name; *s; s++)
            if (*s == '/' || *s == '\\')
                base = s + 1;
        size_t len = strlen(base);
        for (size_t i = 0; i < len;) {
            uint32_t cp;
            size_t k = utf8_decode(base + i, len - i, &cp);
            enum tern_rc rc;
            if (bad_cp(cp))
                rc = cp < 0x20 || cp == 0xFFFD || (cp >= 0x7f && cp <= 0x9f) ? tbuf_putc(&b, '_')
                                                                              : TERN_OK;
            else
                rc = tbuf_append(&b, base + i, k);
            if (rc) {
                tbuf_free(&b);
                return NULL;
            }
            i += k;
        }
        /* No hidden files, no option-looking names, no padding. */
        size_t a = 0;
        while (a < b.len && (b.data[a] == '.' || b.data[a] == '-' || b.data[a] == ' '))
            a++;
        size_t e = b.len;
        while (e > a && (b.data[e - 1] == ' ' || b.data[e - 1] == '.'))
            e--;
        if (a)
            memmove(b.data, b.data + a, e - a);
        b.len = e - a;
        if (b.len > MIME_MAX_FILENAME) {
            /* Keep a short extension: "long...name.pdf" stays a PDF. */
            const char *dot = NULL;
            for (size_t i = b.len; i > 0; i--) {
                if (b.data[i - 1] == '.') {
                    dot = b.data + i - 1;
                    break;
                }
            }
            size_t el = dot ? (size_t)(b.data + b.len - dot) : 0;
            if (el > MAX_EXT_BYTES || !utf8_valid(dot, el))
                el = 0;
            size_t stem = utf8_cut(b.data, b.len - el, MIME_MAX_FILENAME - el);
            memmove(b.data + stem, b.data + b.len - el, el);
            b.len = stem + el;
        }
        if (b.data)
            b.data[b.len] = '\0';
        if (b.len && strcmp(b.data, ".") && strcmp(b.data, ".."))
            return tbuf_steal(&b);
        tbuf_reset(&b);
    }
    if (tbuf_printf(&b, "attachment-%zu%s", n, ext_for_type(content_type))) {
        tbuf_free(&b);
        return NULL;
    }
    return tbuf_steal(&b);
}

static bool name_is_safe(const char *name)
{
    return name && *name && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..") &&
           strlen(name) <= 255;
}

/* "name (k).ext" */
static char *numbered(const char *name, int k)
{
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name || strlen(dot) > MAX_EXT_BYTES)
        dot = name + strlen(name);
    struct tbuf b;
    tbuf_init(&b, 0);
    if (tbuf_printf(&b, "%.*s (%d)%s", (int)(dot - name), name, k, dot)) {
        tbuf_free(&b);
        return NULL;
    }
    return tbuf_steal(&b);
}

enum tern_rc mime_save_part(const struct mime_message *m, const struct mime_part *p, int dirfd,
                            const char *name, char **written, struct tern_err *err)
{
    *written = NULL;
    if (!name_is_safe(name))
        return tern_fail(err, TERN_EUSAGE, "unsafe attachment file name");
    struct tbuf data;
    tbuf_init(&data, 0);
    enum tern_rc rc = mime_part_decode(m, p, &data);
    if (rc) {
        tbuf_free(&data);
        return tern_fail(err, rc, "decoding attachment: %s", tern_rc_str(rc));
    }
    char *cand = tern_strdup(name);
    int fd = -1;
    for (int k = 1; cand && k <= MAX_RENAME_TRIES; k++) {
        /* O_EXCL|O_NOFOLLOW: an existing file or a planted symlink is
         * never opened, followed or truncated. */
        fd = openat(dirfd, cand, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0 || (errno != EEXIST && errno != ELOOP))
            break;
        free(cand);
        cand = numbered(name, k);
    }
    if (!cand) {
        tbuf_free(&data);
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    }
    if (fd < 0) {
        int e = errno;
        tbuf_free(&data);
        rc = tern_fail(err, TERN_EIO, "cannot create '%s': %s", cand, strerror(e));
        free(cand);
        return rc;
    }
    int e = 0;
    if (!tern_write_all(fd, data.data, data.len))
        e = errno ? errno : EIO;
    if (close(fd) < 0 && !e)
        e = errno;
    tbuf_free(&data);
    if (e) {
        unlinkat(dirfd, cand, 0);
        rc = tern_fail(err, TERN_EIO, "writing '%s': %s", cand, strerror(e));
        free(cand);
        return rc;
    }
    *written = cand;
    return TERN_OK;
}
