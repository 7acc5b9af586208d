/* POP3 response parser: a byte-at-a-time state machine with fast paths, so
 * a response may arrive split at any byte and nothing but one status or
 * listing line is ever buffered. Message data streams straight to a sink. */
#include "core/pop3/lib.h"

#include <string.h>

enum {
    ST_STATUS,     /* reading the status line */
    ST_LINE_START, /* at the start of a data line */
    ST_DOT,        /* saw '.' at the start of a line */
    ST_DOT_CR,     /* saw ".\r" at the start of a line */
    ST_IN_LINE,    /* inside a data line */
    ST_CR,         /* STREAM mode: a CR whose fate depends on the next byte */
    ST_LIST,       /* LINES mode: accumulating one listing line */
    ST_DONE,
};

void pop3_parser_init(struct pop3_parser *p)
{
    memset(p, 0, sizeof *p);
    p->state = ST_DONE;
    p->done = true;
}

void pop3_parser_begin(struct pop3_parser *p, bool multiline, enum pop3_data_mode mode,
                       pop3_sink_fn *sink, void *arg)
{
    p->state = ST_STATUS;
    p->multiline = multiline;
    p->mode = mode;
    p->sink = sink;
    p->sink_arg = arg;
    p->done = false;
    p->ok = false;
    p->status[0] = '\0';
    p->status_len = 0;
    p->line_len = 0;
    p->data_bytes = 0;
}

static enum tern_rc emit(struct pop3_parser *p, const char *b, size_t n, struct tern_err *err)
{
    if (!n)
        return TERN_OK;
    if (p->data_bytes + n > POP3_MESSAGE_MAX)
        return tern_fail(err, TERN_EPROTO, "server sent a response larger than %llu bytes",
                         (unsigned long long)POP3_MESSAGE_MAX);
    p->data_bytes += n;
    if (!p->sink)
        return TERN_OK;
    return p->sink(p->sink_arg, b, n);
}

/* Quote at most 60 bytes of a bad line in an error message; cmd/ sanitises
 * control bytes on output, NULs would cut the text early. */
static void quote_line(char *dst, size_t size, const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && i < 60 && k + 1 < size; i++)
        dst[k++] = s[i] ? s[i] : '?';
    dst[k] = '\0';
}

static enum tern_rc finish_status(struct pop3_parser *p, struct tern_err *err)
{
    size_t n = p->line_len; /* without the LF */
    if (n && p->line[n - 1] == '\r')
        n--;
    if (memchr(p->line, '\0', n)) {
        return tern_fail(err, TERN_EPROTO, "server sent a NUL byte in a status line");
    }
    const char *text;
    if (n >= 3 && !tern_strncasecmp(p->line, "+OK", 3) && (n == 3 || p->line[3] == ' ')) {
        p->ok = true;
        text = p->line + 3;
    } else if (n >= 4 && !tern_strncasecmp(p->line, "-ERR", 4) && (n == 4 || p->line[4] == ' ')) {
        p->ok = false;
        text = p->line + 4;
    } else {
        char q[64];
        quote_line(q, sizeof q, p->line, n);
        return tern_fail(err, TERN_EPROTO, "unexpected reply from server: '%s'", q);
    }
    size_t tn = n - (size_t)(text - p->line);
    if (tn && *text == ' ') {
        text++;
        tn--;
    }
    memcpy(p->status, text, tn);
    p->status[tn] = '\0';
    p->status_len = tn;
    p->line_len = 0;
    if (p->ok && p->multiline)
        p->state = p->mode == POP3_DATA_LINES ? ST_LIST : ST_LINE_START;
    else
        p->state = ST_DONE;
    return TERN_OK;
}

static enum tern_rc finish_list_line(struct pop3_parser *p, struct tern_err *err)
{
    size_t n = p->line_len; /* without the LF */
    if (n && p->line[n - 1] == '\r')
        n--;
    p->line_len = 0;
    if (n == 1 && p->line[0] == '.') {
        p->state = ST_DONE;
        return TERN_OK;
    }
    const char *s = p->line;
    if (n && s[0] == '.') {
        s++;
        n--;
    }
    if (memchr(s, '\0', n))
        return tern_fail(err, TERN_EPROTO, "server sent a NUL byte in a listing");
    return emit(p, s, n, err);
}

/* Accumulate up to and including LF into p->line; *complete when the LF
 * arrived. The LF is not stored. */
static enum tern_rc take_line(struct pop3_parser *p, const char *b, size_t n, size_t *i, size_t max,
                              bool *complete, struct tern_err *err)
{
    const char *start = b + *i;
    size_t avail = n - *i;
    const char *lf = memchr(start, '\n', avail);
    size_t take = lf ? (size_t)(lf - start) : avail;
    /* max counts the line end (CRLF) too, like the RFCs do. */
    if (p->line_len + take + 1 > max || p->line_len + take > sizeof p->line)
        return tern_fail(err, TERN_EPROTO, "server sent a line longer than %zu bytes", max);
    memcpy(p->line + p->line_len, start, take);
    p->line_len += take;
    *i += take + (lf ? 1 : 0);
    *complete = lf != NULL;
    return TERN_OK;
}

enum tern_rc pop3_parser_feed(struct pop3_parser *p, const char *buf, size_t n, size_t *used,
                              struct tern_err *err)
{
    size_t i = 0;
    enum tern_rc rc = TERN_OK;
    if (used)
        *used = 0;
    if (p->done)
        return n ? tern_fail(err, TERN_EINTERNAL, "pop3 parser fed after the response ended")
                 : TERN_OK;
    const bool lf_only = p->mode == POP3_DATA_STREAM;
    while (i < n && rc == TERN_OK && p->state != ST_DONE) {
        char c = buf[i];
        switch (p->state) {
        case ST_STATUS: {
            bool complete = false;
            rc = take_line(p, buf, n, &i, POP3_STATUS_MAX, &complete, err);
            if (rc == TERN_OK && complete)
                rc = finish_status(p, err);
            break;
        }
        case ST_LIST: {
            bool complete = false;
            rc = take_line(p, buf, n, &i, POP3_LIST_LINE_MAX, &complete, err);
            if (rc == TERN_OK && complete)
                rc = finish_list_line(p, err);
            break;
        }
        case ST_LINE_START:
            if (c == '.') {
                p->state = ST_DOT;
                i++;
            } else {
                p->state = ST_IN_LINE;
            }
            break;
        case ST_DOT:
            if (c == '\r') {
                p->state = ST_DOT_CR;
                i++;
            } else if (c == '\n') {
                p->state = ST_DONE;
                i++;
            } else {
                p->state = ST_IN_LINE; /* the stuffed dot is dropped */
            }
            break;
        case ST_DOT_CR:
            if (c == '\n') {
                p->state = ST_DONE;
                i++;
            } else if (lf_only) {
                p->state = ST_CR; /* ".\rX": dot dropped, CR is data */
            } else {
                rc = emit(p, "\r", 1, err);
                p->state = ST_IN_LINE;
            }
            break;
        case ST_CR:
            if (c == '\n') {
                rc = emit(p, "\n", 1, err);
                p->state = ST_LINE_START;
                i++;
            } else {
                rc = emit(p, "\r", 1, err);
                p->state = ST_IN_LINE;
            }
            break;
        case ST_IN_LINE: {
            const char *start = buf + i;
            size_t avail = n - i;
            const char *lf = memchr(start, '\n', avail);
            if (!lf) {
                size_t k = avail;
                if (lf_only && start[k - 1] == '\r') {
                    k--;
                    p->state = ST_CR;
                }
                rc = emit(p, start, k, err);
                i = n;
                break;
            }
            size_t len = (size_t)(lf - start);
            if (lf_only && len && start[len - 1] == '\r') {
                rc = emit(p, start, len - 1, err);
                if (rc == TERN_OK)
                    rc = emit(p, "\n", 1, err);
            } else {
                rc = emit(p, start, len + 1, err);
            }
            i += len + 1;
            p->state = ST_LINE_START;
            break;
        }
        default:
            rc = tern_fail(err, TERN_EINTERNAL, "pop3 parser in a bad state");
            break;
        }
    }
    if (p->state == ST_DONE)
        p->done = true;
    if (used)
        *used = i;
    return rc;
}

enum pop3_resp_code pop3_resp_code(const char *text)
{
    if (!text || text[0] != '[')
        return POP3_RESP_NONE;
    const char *end = strchr(text, ']');
    if (!end)
        return POP3_RESP_NONE;
    size_t n = (size_t)(end - text - 1);
    const char *c = text + 1;
    static const struct {
        const char *name;
        enum pop3_resp_code code;
    } codes[] = {
        {"IN-USE", POP3_RESP_IN_USE},     {"LOGIN-DELAY", POP3_RESP_LOGIN_DELAY},
        {"SYS/TEMP", POP3_RESP_SYS_TEMP}, {"SYS/PERM", POP3_RESP_SYS_PERM},
        {"AUTH", POP3_RESP_AUTH},
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        size_t k = strlen(codes[i].name);
        /* Codes are hierarchical: "SYS/TEMP/DISK" is still SYS/TEMP. */
        if (n >= k && !tern_strncasecmp(c, codes[i].name, k) && (n == k || c[k] == '/'))
            return codes[i].code;
    }
    return POP3_RESP_OTHER;
}

enum tern_rc pop3_err_rc(const char *text)
{
    switch (pop3_resp_code(text)) {
    case POP3_RESP_IN_USE:
    case POP3_RESP_LOGIN_DELAY:
    case POP3_RESP_SYS_TEMP:
        return TERN_ETEMP;
    case POP3_RESP_AUTH:
        return TERN_EAUTH;
    case POP3_RESP_SYS_PERM:
    case POP3_RESP_NONE:
    case POP3_RESP_OTHER:
        break;
    }
    return TERN_EREFUSED;
}

unsigned pop3_capa_line(const char *line, size_t n)
{
    static const struct {
        const char *name;
        unsigned bit;
    } caps[] = {
        {"PIPELINING", POP3_CAP_PIPELINING},
        {"UIDL", POP3_CAP_UIDL},
        {"TOP", POP3_CAP_TOP},
        {"RESP-CODES", POP3_CAP_RESP_CODES},
        {"STLS", POP3_CAP_STLS},
        {"USER", POP3_CAP_USER},
        {"SASL", POP3_CAP_SASL},
    };
    if (!line)
        return 0;
    size_t w = 0;
    while (w < n && line[w] != ' ')
        w++;
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
        if (strlen(caps[i].name) == w && !tern_strncasecmp(line, caps[i].name, w))
            return caps[i].bit;
    return 0;
}

bool pop3_uid_valid(const char *uid, size_t n)
{
    if (!uid || n < 1 || n > POP3_UIDL_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)uid[i] < 0x21 || (unsigned char)uid[i] > 0x7e)
            return false;
    return true;
}

/* "NUMBER SP REST": parse NUMBER (1..max), point *rest past the single
 * separating space. */
static enum tern_rc number_then_rest(const char *line, size_t n, uint64_t max, uint64_t *num,
                                     const char **rest, size_t *rest_len)
{
    size_t d = 0;
    while (d < n && line[d] >= '0' && line[d] <= '9')
        d++;
    if (d == 0 || d >= n || line[d] != ' ')
        return TERN_EPROTO;
    if (!tern_parse_u64(line, d, max, num) || *num == 0)
        return TERN_EPROTO;
    *rest = line + d + 1;
    *rest_len = n - d - 1;
    return TERN_OK;
}

enum tern_rc pop3_parse_uidl_line(const char *line, size_t n, uint32_t *msgno, const char **uid,
                                  size_t *uid_len)
{
    uint64_t m;
    const char *rest;
    size_t rn;
    if (!line || number_then_rest(line, n, POP3_MSGNO_MAX, &m, &rest, &rn))
        return TERN_EPROTO;
    *msgno = (uint32_t)m;
    *uid = rest;
    *uid_len = rn;
    return pop3_uid_valid(rest, rn) ? TERN_OK : TERN_EDATA;
}

enum tern_rc pop3_parse_list_line(const char *line, size_t n, uint32_t *msgno, uint64_t *size)
{
    uint64_t m;
    const char *rest;
    size_t rn;
    if (!line || number_then_rest(line, n, POP3_MSGNO_MAX, &m, &rest, &rn))
        return TERN_EPROTO;
    size_t d = 0;
    while (d < rn && rest[d] >= '0' && rest[d] <= '9')
        d++;
    /* RFC 1939 lets more information follow the size after a space. */
    if (d == 0 || (d < rn && rest[d] != ' '))
        return TERN_EPROTO;
    if (!tern_parse_u64(rest, d, POP3_MESSAGE_MAX, size))
        return TERN_EPROTO;
    *msgno = (uint32_t)m;
    return TERN_OK;
}
