/* Whole-file reads and writes on a descriptor, with EINTR retried: the
 * loops every module that reads a file into memory or writes one out would
 * otherwise repeat. */
#include "lib.h"

#include <errno.h>
#include <unistd.h>

enum tern_rc tbuf_read_fd(struct tbuf *b, int fd)
{
    char chunk[65536];
    for (;;) {
        ssize_t got = read(fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return TERN_EIO;
        if (got == 0)
            return TERN_OK;
        enum tern_rc rc = tbuf_append(b, chunk, (size_t)got);
        if (rc)
            return rc;
    }
}

bool tern_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        c += w;
        n -= (size_t)w;
    }
    return true;
}
