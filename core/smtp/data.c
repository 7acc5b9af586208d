#include "lib.h"

#include <string.h>

enum tern_rc smtp_data_encode(const char *msg, size_t n, struct tbuf *out, bool *eightbit,
                              struct tern_err *err)
{
    if (eightbit)
        *eightbit = false;
    if (memchr(msg, '\0', n))
        return tern_fail(err, TERN_EDATA, "message contains a NUL byte");
    bool high = false;
    size_t i = 0;
    enum tern_rc rc = TERN_OK;
    /* Lines are copied whole (one append per line plus its CRLF), so the
     * cost is one pass even for large messages. */
    while (i < n && !rc) {
        size_t e = i;
        while (e < n && msg[e] != '\r' && msg[e] != '\n')
            e++;
        size_t len = e - i;
        if (len > SMTP_LINE_MAX)
            return tern_fail(err, TERN_EDATA,
                             "message line longer than %d octets (it must be encoded, "
                             "not cut)",
                             SMTP_LINE_MAX);
        if (!high)
            for (size_t k = i; k < e; k++)
                if ((unsigned char)msg[k] >= 0x80) {
                    high = true;
                    break;
                }
        if (len && msg[i] == '.')
            rc = tbuf_putc(out, '.');
        if (!rc)
            rc = tbuf_append(out, msg + i, len);
        if (!rc)
            rc = tbuf_append(out, "\r\n", 2);
        /* CRLF, bare LF and bare CR each end one line. */
        if (e < n && msg[e] == '\r' && e + 1 < n && msg[e + 1] == '\n')
            e++;
        i = e + 1;
    }
    if (!rc)
        rc = tbuf_append(out, ".\r\n", 3);
    if (rc)
        return tern_fail(err, rc, rc == TERN_ENOMEM ? "out of memory" : "message too large");
    if (eightbit)
        *eightbit = high;
    return TERN_OK;
}
