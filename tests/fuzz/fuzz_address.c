/* libFuzzer target: address lists. Every result has a name and an address
 * string, and the count stays within its ceiling. */
#include "core/mime/lib.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mime_addr_list l = {0};
    if (mime_parse_addresses((const char *)data, size, &l) == TERN_OK) {
        if (l.n > MIME_MAX_ADDRESSES)
            abort();
        for (size_t i = 0; i < l.n; i++)
            if (!l.v[i].name || !l.v[i].address)
                abort();
    }
    mime_addr_list_free(&l);
    return 0;
}
