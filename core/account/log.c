/* The per-account fetch log: one line per run, so "did cron fetch last
 * night?" has an answer. Bounded: past ACCT_LOG_MAX the log is renamed to
 * fetch.log.1 (replacing the older one) and a new one begins. */
#include "core/account/lib.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum tern_rc acct_log_append(const char *data_dir, const char *line, struct tern_err *err)
{
    char path[4096], old[4100];
    if (!tern_snprintf(path, sizeof path, "%s/%s", data_dir, ACCT_LOG_NAME) ||
        !tern_snprintf(old, sizeof old, "%s.1", path))
        return tern_fail(err, TERN_EIO, "data directory name too long");
    struct stat sb;
    if (stat(path, &sb) == 0 && (uint64_t)sb.st_size >= ACCT_LOG_MAX && rename(path, old) < 0)
        return tern_fail(err, TERN_EIO, "cannot rotate %s: %s", path, strerror(errno));
    struct tbuf b;
    tbuf_init(&b, 8192);
    time_t now = time(NULL);
    struct tm tm;
    char stamp[32];
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    tbuf_printf(&b, "%s ", stamp);
    size_t start = b.len;
    if (tbuf_puts(&b, line ? line : "") == TERN_EPROTO) {
        b.len = b.max - 1; /* a huge line is cut, not dropped */
        b.data[b.len] = '\0';
    }
    for (size_t i = start; i < b.len; i++)
        if (b.data[i] == '\n' || b.data[i] == '\r')
            b.data[i] = ' ';
    tbuf_putc(&b, '\n');
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        tbuf_free(&b);
        return tern_fail(err, TERN_EIO, "cannot open %s: %s", path, strerror(errno));
    }
    ssize_t w = b.data ? write(fd, b.data, b.len) : 0;
    int e = errno;
    close(fd);
    enum tern_rc rc = TERN_OK;
    if (w != (ssize_t)b.len)
        rc = tern_fail(err, TERN_EIO, "cannot write %s: %s", path, w < 0 ? strerror(e) : "short");
    tbuf_free(&b);
    return rc;
}
