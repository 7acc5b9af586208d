#include "private.h"

#include "core/charset/lib.h"
#include "core/codec/lib.h"

#include <errno.h>
#include <fcntl.h>
#include <magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIME_TYPES_FILE "/etc/mime.types"
#define MIME_TYPES_MAX (1 << 20)

/* Read a whole file (attachments): missing or unreadable is
 * TERN_ENOTFOUND so `tern send` can exit EX_NOINPUT before sending. */
enum tern_rc compose_read_file(const char *path, size_t max, struct tbuf *out, struct tern_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return tern_fail(err, TERN_ENOTFOUND, "cannot read attachment '%s': %s", path,
                         strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return tern_fail(err, TERN_ENOTFOUND, "attachment '%s' is not a regular file", path);
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return tern_fail(err, TERN_EDATA, "attachment '%s' is larger than %zu MiB", path,
                         max >> 20);
    }
    tbuf_init(out, max);
    enum tern_rc rc = tbuf_read_fd(out, fd);
    int e = errno;
    close(fd);
    if (rc == TERN_OK)
        return TERN_OK;
    tbuf_free(out);
    if (rc == TERN_EIO)
        return tern_fail(err, TERN_ENOTFOUND, "cannot read attachment '%s': %s", path, strerror(e));
    return tern_fail(err, rc == TERN_ENOMEM ? rc : TERN_EDATA, "attachment '%s' is too large",
                     path);
}

/* A MIME type as libmagic or mime.types write it must be token/token
 * before it goes into a header. */
static bool type_ok(const char *t)
{
    const char *slash = strchr(t, '/');
    if (!slash || slash == t || !slash[1] || strlen(t) > 100)
        return false;
    for (const char *p = t; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  strchr("!#$&^_.+-", c) || (c == '/' && p == slash);
        if (!ok)
            return false;
    }
    return true;
}

/* The type /etc/mime.types gives the file's extension, or NULL. */
static char *type_by_extension(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || !dot[1] || strlen(dot + 1) > 20)
        return NULL;
    const char *ext = dot + 1;
    FILE *f = fopen(MIME_TYPES_FILE, "re");
    if (!f)
        return NULL;
    char line[1024];
    char *found = NULL;
    size_t total = 0;
    while (!found && fgets(line, sizeof line, f)) {
        total += strlen(line);
        if (total > MIME_TYPES_MAX)
            break;
        if (line[0] == '#')
            continue;
        /* "type/subtype ext ext ..." split on blanks in place */
        char *words[64];
        size_t nw = 0;
        for (char *p = line; *p && nw < 64;) {
            while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
                *p++ = '\0';
            if (!*p)
                break;
            words[nw++] = p;
            while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
                p++;
        }
        for (size_t w = 1; w < nw; w++)
            if (!tern_strcasecmp(words[w], ext)) {
                found = type_ok(words[0]) ? tern_strdup(words[0]) : NULL;
                break;
            }
    }
    fclose(f);
    return found;
}

void compose_attach_free(struct compose_attachment *a)
{
    free(a->type);
    free(a->charset);
    free(a->name);
    tbuf_free(&a->data);
    memset(a, 0, sizeof *a);
}

static bool generic_type(const char *t)
{
    return !strcmp(t, "application/octet-stream") || !strcmp(t, "text/plain") ||
           !strcmp(t, "application/zip") || !strcmp(t, "application/x-empty") ||
           !strcmp(t, "inode/x-empty") || !strcmp(t, "application/csv");
}

enum tern_rc compose_attach_load(const char *path, struct compose_attachment *a,
                                 struct tern_err *err)
{
    memset(a, 0, sizeof *a);
    enum tern_rc rc = compose_read_file(path, COMPOSE_ATTACH_MAX, &a->data, err);
    if (rc)
        return rc;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!*base)
        base = "attachment";
    struct tbuf nm;
    tbuf_init(&nm, 4096);
    /* file names in another charset are read as windows-1252 */
    rc = charset_to_utf8(NULL, base, strlen(base), &nm);
    if (rc) {
        tbuf_free(&nm);
        compose_attach_free(a);
        return tern_fail(err, TERN_EDATA, "attachment name too long");
    }
    a->name = tbuf_steal(&nm);

    char *type = NULL;
    magic_t m = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR | MAGIC_NO_CHECK_COMPRESS);
    if (m && magic_load(m, NULL) == 0) {
        const char *t = magic_buffer(m, a->data.data ? a->data.data : "", a->data.len);
        if (t && type_ok(t))
            type = tern_strdup(t);
        if (type && !strncmp(type, "text/", 5) && magic_setflags(m, MAGIC_MIME_ENCODING) == 0) {
            const char *cs = magic_buffer(m, a->data.data ? a->data.data : "", a->data.len);
            if (cs &&
                (!strcmp(cs, "us-ascii") || !strcmp(cs, "utf-8") || !strcmp(cs, "iso-8859-1")))
                a->charset = tern_strdup(cs);
        }
    }
    if (m)
        magic_close(m);
    if (!type || generic_type(type)) {
        char *ext = type_by_extension(base);
        if (ext) {
            free(type);
            type = ext;
        }
    }
    if (!type)
        type = tern_strdup("application/octet-stream");
    if (!strncmp(type, "text/", 5) && !a->charset &&
        utf8_valid(a->data.data ? a->data.data : "", a->data.len))
        a->charset = tern_strdup("utf-8");
    a->type = type;
    if (!a->type || !a->name) {
        compose_attach_free(a);
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    }
    return TERN_OK;
}

/* Printable ASCII without quotes, backslashes or controls: can go in a
 * quoted parameter value as is. */
static bool plain_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 60)
        return false;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
            return false;
    }
    return strstr(s, "=?") == NULL;
}

enum tern_rc compose_attach_part(const struct compose_attachment *a, const char *boundary,
                                 struct tbuf *out, struct tern_err *err)
{
    struct tbuf line;
    tbuf_init(&line, 1 << 16);
    bool plain = plain_name(a->name);
    enum tern_rc rc = tbuf_printf(out, "--%s\r\n", boundary);
    /* Content-Type with the old `name` parameter for clients that ignore
     * Content-Disposition: quoted when plain, RFC 2047 words otherwise
     * (common practice; the RFC 2231 filename below is authoritative). */
    if (!rc)
        rc = tbuf_printf(&line, "Content-Type: %s", a->type);
    if (!rc && a->charset)
        rc = tbuf_printf(&line, "; charset=%s", a->charset);
    if (!rc) {
        rc = tbuf_puts(&line, "; name=\"");
        if (!rc)
            rc = plain ? tbuf_puts(&line, a->name)
                       : compose_encode_words(a->name, strlen(a->name), &line);
        if (!rc)
            rc = tbuf_putc(&line, '"');
    }
    if (!rc)
        rc = compose_fold(line.data, line.len, out, err);
    if (!rc) {
        if (plain)
            rc = tbuf_printf(out, "Content-Disposition: attachment; filename=\"%s\"\r\n", a->name);
        else {
            rc = tbuf_puts(out, "Content-Disposition: attachment;\r\n ");
            if (!rc)
                rc = rfc2231_encode_param("filename", a->name, out);
            if (!rc)
                rc = tbuf_puts(out, "\r\n");
        }
    }
    if (!rc)
        rc = tbuf_puts(out, "Content-Transfer-Encoding: base64\r\n\r\n");
    if (!rc)
        rc = base64_encode(a->data.data ? a->data.data : "", a->data.len, 76, out);
    if (!rc && out->len >= 2 && memcmp(out->data + out->len - 2, "\r\n", 2))
        rc = tbuf_puts(out, "\r\n");
    tbuf_free(&line);
    if (rc && err && !err->rc)
        tern_fail(err, rc == TERN_ENOMEM ? rc : TERN_EDATA, "message too large");
    return rc;
}
