/* libFuzzer target: dates. A parsed date must format as RFC 3339 when it
 * is within years 1900..9999 minus a day of zone offset, and parsing is
 * deterministic. */
#include "core/mime/lib.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    time_t t = 0, t2 = 0;
    bool ok = mime_parse_date((const char *)data, size, &t);
    bool ok2 = mime_parse_date((const char *)data, size, &t2);
    if (ok != ok2 || (ok && t != t2))
        abort();
    if (ok) {
        char buf[32];
        /* 1900-01-01 minus a day .. 9999-12-31 plus a day */
        if (t > -2208988800LL + 86400 && t < 253402300799LL - 86400 &&
            !mime_format_rfc3339(t, buf, sizeof buf))
            abort();
    }
    return 0;
}
