#include "lib.h"

#include <stdio.h>
#include <string.h>

enum tern_rc tern_failv(struct tern_err *err, enum tern_rc rc, const char *fmt, va_list ap)
{
    if (!err || err->rc != TERN_OK)
        return rc;
    err->rc = rc;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    /* Keep the promise of one line: a newline from a server reply or a
     * library message must not split it. */
    for (char *p = err->msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return rc;
}

enum tern_rc tern_fail(struct tern_err *err, enum tern_rc rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tern_failv(err, rc, fmt, ap);
    va_end(ap);
    return rc;
}

void tern_err_clear(struct tern_err *err)
{
    if (!err)
        return;
    err->rc = TERN_OK;
    err->msg[0] = '\0';
}

const char *tern_rc_str(enum tern_rc rc)
{
    switch (rc) {
    case TERN_OK: return "ok";
    case TERN_ENOMEM: return "out of memory";
    case TERN_EUSAGE: return "usage error";
    case TERN_EDATA: return "bad data";
    case TERN_ECONFIG: return "configuration error";
    case TERN_EIO: return "local I/O error";
    case TERN_ENOTFOUND: return "not found";
    case TERN_ECONN: return "connection failed";
    case TERN_ETIMEOUT: return "timed out";
    case TERN_ETLS: return "TLS failure";
    case TERN_ENOTLS: return "STARTTLS not offered";
    case TERN_EPROTO: return "protocol error";
    case TERN_EAUTH: return "authentication refused";
    case TERN_ETEMP: return "temporary server failure";
    case TERN_EREFUSED: return "refused by server";
    case TERN_ENOTSUP: return "not supported by server";
    case TERN_ELOCKED: return "locked by another tern";
    case TERN_ECANCELED: return "canceled";
    case TERN_EINTERNAL: return "internal error";
    }
    return "unknown error";
}

bool tern_rc_is_temporary(enum tern_rc rc)
{
    return rc == TERN_ECONN || rc == TERN_ETIMEOUT || rc == TERN_ETEMP || rc == TERN_ELOCKED;
}
