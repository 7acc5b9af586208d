/* libFuzzer target: parse a message, render it as text and JSON, list its
 * attachments and sanitise their names. The rendered text must be valid
 * UTF-8 without ESC, C1 controls or bidi overrides; a safe name must never
 * hold '/' or start with '.' or '-'. */
#include "core/charset/lib.h"
#include "core/mime/lib.h"

#include <stdlib.h>
#include <string.h>

static void check_safe(const char *s, size_t n, bool allow_nl)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = utf8_decode(s + i, n - i, &cp);
        if (cp == 0xFFFD && k == 1)
            abort(); /* invalid UTF-8 in the output */
        if ((cp < 0x20 && !(allow_nl && (cp == '\n' || cp == '\t'))) || cp == 0x7f ||
            (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
            (cp >= 0x2066 && cp <= 0x2069))
            abort();
        i += k;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct mime_envelope *e = NULL;
    if (mime_parse_headers(buf, size, &e, NULL) == TERN_OK)
        mime_envelope_free(&e);
    struct mime_message *m = NULL;
    if (mime_parse(buf, size, &m, NULL) != TERN_OK)
        return 0;
    struct tbuf o;
    tbuf_init(&o, 0);
    if (mime_render_text(m, NULL, &o) == TERN_OK)
        check_safe(o.data ? o.data : "", o.len, true);
    tbuf_reset(&o);
    if (mime_render_json(m, NULL, &o) == TERN_OK)
        check_safe(o.data ? o.data : "", o.len, false);
    tbuf_free(&o);
    struct mime_attachments at;
    if (mime_attachments_list(m, &at) == TERN_OK) {
        for (size_t i = 0; i < at.n; i++) {
            const char *s = at.v[i].safe_name;
            size_t n = strlen(s);
            if (!n || n > MIME_MAX_FILENAME + 32 || strchr(s, '/') || strchr(s, '\\') ||
                s[0] == '.' || s[0] == '-')
                abort();
            check_safe(s, n, false);
            /* the raw decoded name through the sanitiser as well */
            char *again = mime_safe_filename(at.v[i].filename, at.v[i].content_type, i + 1);
            if (!again || strcmp(again, s))
                abort();
            free(again);
        }
        mime_attachments_free(&at);
    }
    mime_message_free(&m);
    return 0;
}
