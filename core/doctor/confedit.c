/*
 * Edits to the config file that keep the user's file as it was: comments,
 * blank lines, key order, indentation and line ends are untouched; only
 * the new section or the one changed line differ. The result is parsed
 * before anything is written, and written atomically (a temporary file in
 * the same directory, fsync, rename, fsync of the directory), so a crash
 * leaves either the old file or the new one.
 */
#include "lib.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFEDIT_MAX_BYTES (1024 * 1024) /* the parser's own ceiling */

enum tern_rc doctor_config_line(struct tbuf *out, const char *key, const char *value,
                                struct tern_err *err)
{
    if (!value || tern_has_crlf(value, SIZE_MAX) || tern_has_crlf(key, SIZE_MAX))
        return tern_fail(err, TERN_EDATA, "a value for '%s' must not contain a line break", key);
    size_t n = strlen(value);
    /* The parser trims blanks around a value and strips one pair of
     * surrounding double quotes; quote exactly when that would change it. */
    bool quote = n && (value[0] == ' ' || value[0] == '\t' || value[n - 1] == ' ' ||
                       value[n - 1] == '\t' || (n >= 2 && value[0] == '"' && value[n - 1] == '"'));
    if (!n)
        return tern_fail(err, TERN_EDATA, "empty value for '%s'", key);
    if (tbuf_printf(out, quote ? "%s = \"%s\"\n" : "%s = %s\n", key, value))
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    return TERN_OK;
}

/* Validate a whole file text with the real parser. */
static enum tern_rc validate(const char *name, const char *text, bool private_file,
                             struct tern_err *err)
{
    struct tern_config *cfg = NULL;
    enum tern_rc rc = config_parse(name, text, strlen(text), private_file, &cfg, err);
    config_free(&cfg);
    return rc;
}

enum tern_rc doctor_text_append(const char *text, const char *section, char **out,
                                struct tern_err *err)
{
    *out = NULL;
    if (strncmp(section, "[account ", 9) != 0)
        return tern_fail(err, TERN_EINTERNAL, "not an account section");
    struct tbuf b;
    tbuf_init(&b, CONFEDIT_MAX_BYTES);
    size_t n = strlen(text);
    enum tern_rc rc = tbuf_append(&b, text, n);
    /* end the last line, then one blank line between sections */
    if (!rc && n && text[n - 1] != '\n')
        rc = tbuf_putc(&b, '\n');
    if (!rc && n && !(b.len >= 2 && b.data[b.len - 2] == '\n'))
        rc = tbuf_putc(&b, '\n');
    if (!rc)
        rc = tbuf_puts(&b, section);
    if (!rc && b.len && b.data[b.len - 1] != '\n')
        rc = tbuf_putc(&b, '\n');
    if (rc == TERN_EPROTO) {
        tbuf_free(&b);
        return tern_fail(err, TERN_ECONFIG, "the config file would grow past %d bytes",
                         CONFEDIT_MAX_BYTES);
    }
    if (rc) {
        tbuf_free(&b);
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    }
    *out = tbuf_steal(&b);
    return TERN_OK;
}

static const char *skip_blank(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static const char *trim_end(const char *s, const char *p)
{
    while (p > s && (p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\r'))
        p--;
    return p;
}

/* Is [s, e) the header of [account NAME]? Mirrors the parser: blanks
 * around, optional quotes around the name. Sets *is_header for any
 * section header. */
static bool header_is(const char *s, const char *e, const char *name, bool *is_header)
{
    *is_header = false;
    s = skip_blank(s, e);
    e = trim_end(s, e);
    if (s >= e || *s != '[' || e[-1] != ']')
        return false;
    *is_header = true;
    const char *p = skip_blank(s + 1, e - 1);
    const char *q = trim_end(p, e - 1);
    if (q - p < 8 || strncmp(p, "account", 7) != 0 || (p[7] != ' ' && p[7] != '\t'))
        return false;
    p = skip_blank(p + 7, q);
    if (q - p >= 2 && *p == '"' && q[-1] == '"') {
        p++;
        q--;
    }
    size_t n = strlen(name);
    return (size_t)(q - p) == n && !memcmp(p, name, n);
}

/* Is [s, e) a `key = ...` line for key? */
static bool key_is(const char *s, const char *e, const char *key)
{
    s = skip_blank(s, e);
    if (s >= e)
        return false;
    const char *eq = memchr(s, '=', (size_t)(e - s));
    if (!eq || *s == '#' || *s == ';')
        return false;
    const char *k = trim_end(s, eq);
    size_t n = strlen(key);
    return (size_t)(k - s) == n && !memcmp(s, key, n);
}

static bool is_key_line(const char *s, const char *e)
{
    s = skip_blank(s, e);
    e = trim_end(s, e);
    return s < e && *s != '#' && *s != ';' && *s != '[';
}

enum tern_rc doctor_text_set(const char *text, const char *account, const char *key,
                             const char *value, char **out, struct tern_err *err)
{
    *out = NULL;
    struct tbuf line;
    tbuf_init(&line, 0);
    if (doctor_config_line(&line, key, value, err)) {
        tbuf_free(&line);
        return err ? err->rc : TERN_EDATA;
    }
    size_t n = strlen(text);
    const char *end = text + n;
    bool in = false, found_section = false;
    const char *replace_s = NULL, *replace_e = NULL; /* the key's line, without its end */
    const char *insert_at = NULL;                    /* after this line (incl. its end) */
    bool crlf = false;
    for (const char *s = text; s < end;) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        bool hdr;
        if (header_is(s, e, account, &hdr)) {
            in = true;
            found_section = true;
            insert_at = next;
            crlf = e > s && e[-1] == '\r';
        } else if (hdr) {
            if (in)
                break; /* the section ended */
        } else if (in && key_is(s, e, key) && !replace_s) {
            replace_s = s;
            replace_e = e > s && e[-1] == '\r' ? e - 1 : e;
        } else if (in && is_key_line(s, e)) {
            insert_at = next;
        }
        s = next;
    }
    if (!found_section) {
        tbuf_free(&line);
        return tern_fail(err, TERN_ENOTFOUND, "no [account %s] section in the config file",
                         account);
    }
    struct tbuf b;
    tbuf_init(&b, CONFEDIT_MAX_BYTES);
    enum tern_rc rc;
    /* line.data is "key = value\n" */
    line.data[--line.len] = '\0';
    if (replace_s) {
        const char *indent_end = skip_blank(replace_s, replace_e);
        rc = tbuf_append(&b, text, (size_t)(replace_s - text));
        if (!rc)
            rc = tbuf_append(&b, replace_s, (size_t)(indent_end - replace_s));
        if (!rc)
            rc = tbuf_append(&b, line.data, line.len);
        if (!rc)
            rc = tbuf_puts(&b, replace_e);
    } else {
        rc = tbuf_append(&b, text, (size_t)(insert_at - text));
        if (!rc && insert_at > text && insert_at[-1] != '\n')
            rc = tbuf_puts(&b, crlf ? "\r\n" : "\n");
        if (!rc)
            rc = tbuf_append(&b, line.data, line.len);
        if (!rc)
            rc = tbuf_puts(&b, crlf ? "\r\n" : "\n");
        if (!rc)
            rc = tbuf_puts(&b, insert_at);
    }
    tbuf_free(&line);
    if (rc) {
        tbuf_free(&b);
        return tern_fail(err, rc == TERN_EPROTO ? TERN_ECONFIG : TERN_ENOMEM,
                         rc == TERN_EPROTO ? "the config file is too large" : "out of memory");
    }
    *out = tbuf_steal(&b);
    return TERN_OK;
}

/* ---- files ------------------------------------------------------------- */

static enum tern_rc mkdir_parents(const char *path, struct tern_err *err)
{
    char *dir = tern_strdup(path);
    if (!dir)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) {
        free(dir);
        return TERN_OK;
    }
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
                enum tern_rc rc =
                    tern_fail(err, TERN_EIO, "cannot create %s: %s", dir, strerror(errno));
                free(dir);
                return rc;
            }
            *p = c;
            if (!c)
                break;
        }
    }
    free(dir);
    return TERN_OK;
}

/* Read the file (NULL text when it does not exist). */
static enum tern_rc read_file(const char *path, char **text, struct stat *st, bool *exists,
                              struct tern_err *err)
{
    *text = NULL;
    *exists = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return TERN_OK;
        return tern_fail(err, TERN_EIO, "cannot read %s: %s", path, strerror(errno));
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return tern_fail(err, TERN_ECONFIG, "%s: not a regular file", path);
    }
    *exists = true;
    struct tbuf b;
    tbuf_init(&b, CONFEDIT_MAX_BYTES + 1);
    enum tern_rc rc = tbuf_read_fd(&b, fd);
    if (rc == TERN_EIO)
        rc = tern_fail(err, TERN_EIO, "cannot read %s: %s", path, strerror(errno));
    else if (rc)
        rc = tern_fail(err, TERN_ECONFIG, "%s: file too large", path);
    close(fd);
    if (!rc && memchr(b.data ? b.data : "", '\0', b.len))
        rc = tern_fail(err, TERN_ECONFIG, "%s: contains a NUL byte", path);
    if (rc) {
        tbuf_free(&b);
        return rc;
    }
    *text = b.data ? tbuf_steal(&b) : tern_strdup("");
    if (!*text)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    return TERN_OK;
}

static enum tern_rc write_atomic(const char *path, const char *text, mode_t mode,
                                 struct tern_err *err)
{
    struct tbuf tmp;
    tbuf_init(&tmp, PATH_MAX);
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) : 0;
    enum tern_rc rc;
    if (slash)
        rc = tbuf_printf(&tmp, "%.*s/.%s.tern-XXXXXX", (int)dlen, path, slash + 1);
    else
        rc = tbuf_printf(&tmp, ".%s.tern-XXXXXX", path);
    if (rc) {
        tbuf_free(&tmp);
        return tern_fail(err, TERN_EIO, "%s: path too long", path);
    }
    int fd = mkstemp(tmp.data);
    if (fd < 0) {
        rc = tern_fail(err, TERN_EIO, "cannot create a file next to %s: %s", path, strerror(errno));
        tbuf_free(&tmp);
        return rc;
    }
    if (fchmod(fd, mode & 07777) != 0)
        rc = tern_fail(err, TERN_EIO, "chmod %s: %s", tmp.data, strerror(errno));
    if (!rc && !tern_write_all(fd, text, strlen(text)))
        rc = tern_fail(err, TERN_EIO, "cannot write %s: %s", tmp.data, strerror(errno));
    if (!rc && fsync(fd) != 0)
        rc = tern_fail(err, TERN_EIO, "fsync %s: %s", tmp.data, strerror(errno));
    if (close(fd) != 0 && !rc)
        rc = tern_fail(err, TERN_EIO, "cannot write %s: %s", tmp.data, strerror(errno));
    if (!rc && rename(tmp.data, path) != 0)
        rc = tern_fail(err, TERN_EIO, "cannot replace %s: %s", path, strerror(errno));
    if (rc) {
        unlink(tmp.data);
        tbuf_free(&tmp);
        return rc;
    }
    /* the rename itself must reach the disk */
    char dir[PATH_MAX];
    if (slash && dlen < sizeof dir) {
        memcpy(dir, path, dlen);
        dir[dlen ? dlen : 1] = '\0';
        if (!dlen)
            dir[0] = '/';
    } else {
        dir[0] = '.';
        dir[1] = '\0';
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    tbuf_free(&tmp);
    return TERN_OK;
}

/* Shared by both edits: read (following a symlink), edit, validate,
 * write. */
static enum tern_rc edit_file(const char *path, const char *section, const char *account,
                              const char *key, const char *value, struct tern_err *err)
{
    char *real = realpath(path, NULL);
    const char *target = real ? real : path;
    char *old = NULL, *text = NULL;
    struct stat st;
    bool exists = false;
    enum tern_rc rc = read_file(target, &old, &st, &exists, err);
    if (!rc && !exists && !section)
        rc = tern_fail(err, TERN_ENOTFOUND, "config file %s does not exist", path);
    mode_t mode = exists ? (st.st_mode & 07777) : 0600;
    bool private_file = (mode & (S_IRWXG | S_IRWXO)) == 0;
    struct tern_err e2 = {0};
    if (!rc && exists && validate(target, old, private_file, &e2) != TERN_OK)
        rc = tern_fail(err, TERN_ECONFIG, "the config file has an error; fix it first: %s", e2.msg);
    if (!rc)
        rc = section ? doctor_text_append(old ? old : "", section, &text, err)
                     : doctor_text_set(old, account, key, value, &text, err);
    if (!rc && validate(target, text, private_file, &e2) != TERN_OK)
        rc = tern_fail(err, TERN_ECONFIG, "refusing to write a config that would not load: %s",
                       e2.msg);
    if (!rc && !exists)
        rc = mkdir_parents(target, err);
    if (!rc)
        rc = write_atomic(target, text, mode, err);
    if (old) {
        explicit_bzero(old, strlen(old));
        free(old);
    }
    if (text) {
        explicit_bzero(text, strlen(text));
        free(text);
    }
    free(real);
    return rc;
}

enum tern_rc doctor_config_append(const char *path, const char *section, struct tern_err *err)
{
    return edit_file(path, section, NULL, NULL, NULL, err);
}

enum tern_rc doctor_config_set(const char *path, const char *account, const char *key,
                               const char *value, struct tern_err *err)
{
    return edit_file(path, NULL, account, key, value, err);
}
