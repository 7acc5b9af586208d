/* Stand-in for headers.c while core/mime is not part of the build. */
#include "lib.h"

enum tern_rc index_msg_from_headers(const char *raw_header_block, size_t n, struct index_msg *m)
{
    (void)raw_header_block;
    (void)n;
    (void)m;
    return TERN_ENOTSUP;
}
