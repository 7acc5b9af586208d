/*
 * make-index — build a tern index for tests of `tern list` (not installed).
 *
 *   make-index DB_PATH < rows     one message per line, TAB-separated:
 *       folder uid date flags size attachments from_name from_addr to subject message_id
 *     date: unix seconds or "-" (unknown); flags: letters S seen, A answered,
 *     F flagged, D deleted, R draft, or "-"; attachments: 0 or 1; an empty
 *     text field is NULL. Text fields take backslash escapes \\ \t \n \r \e
 *     \xHH so tests can plant hostile bytes.
 *   make-index DB_PATH --bulk N   N synthetic messages in INBOX (timing)
 */
#include "core/index/lib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES 65536
#define NFIELDS 11

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Unescape s in place; returns NULL for an empty field. */
static char *unescape(char *s)
{
    if (!*s)
        return NULL;
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p != '\\' || !p[1]) {
            *o++ = *p;
            continue;
        }
        p++;
        switch (*p) {
        case 't':
            *o++ = '\t';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 'e':
            *o++ = 0x1b;
            break;
        case 'x':
            if (hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
                *o++ = (char)(hexval(p[1]) * 16 + hexval(p[2]));
                p += 2;
                break;
            }
            *o++ = 'x';
            break;
        default:
            *o++ = *p;
            break;
        }
    }
    *o = '\0';
    return s;
}

static bool number(const char *s, uint64_t max, uint64_t *out)
{
    return tern_parse_u64(s, strlen(s), max, out);
}

static unsigned parse_flags(const char *s)
{
    unsigned f = 0;
    for (; *s; s++) {
        switch (*s) {
        case 'S':
            f |= INDEX_FLAG_SEEN;
            break;
        case 'A':
            f |= INDEX_FLAG_ANSWERED;
            break;
        case 'F':
            f |= INDEX_FLAG_FLAGGED;
            break;
        case 'D':
            f |= INDEX_FLAG_DELETED;
            break;
        case 'R':
            f |= INDEX_FLAG_DRAFT;
            break;
        default:
            break;
        }
    }
    return f;
}

static int fail(const struct tern_err *err, const char *what)
{
    fprintf(stderr, "make-index: %s: %s\n", what, err->msg);
    return 1;
}

static int bulk(struct index *ix, uint64_t n)
{
    struct tern_err err = {0};
    int64_t f = 0;
    if (index_folder_get_or_create(ix, "INBOX", NULL, &f, &err) || index_begin(ix, &err))
        return fail(&err, "bulk");
    char subj[96], from[64], name[64];
    for (uint64_t i = 1; i <= n; i++) {
        struct index_msg m;
        index_msg_init(&m);
        m.folder_id = f;
        m.uid = (uint32_t)i;
        m.date = 1600000000 + (int64_t)((i * 7919u) % n) * 60;
        m.flags = i % 4 ? INDEX_FLAG_SEEN : 0;
        m.size = 2000 + i % 50000;
        snprintf(subj, sizeof subj, "Re: weekly report number %llu for the team",
                 (unsigned long long)i);
        snprintf(from, sizeof from, "sender%llu@example.org", (unsigned long long)(i % 977));
        snprintf(name, sizeof name, "Sender %llu", (unsigned long long)(i % 977));
        m.subject = subj;
        m.from_addr = from;
        m.from_name = name;
        m.to_text = "Me <me@example.org>";
        m.has_attachments = i % 10 == 0;
        if (index_msg_insert(ix, &m, &err))
            return fail(&err, "insert");
    }
    return index_commit(ix, &err) ? fail(&err, "commit") : 0;
}

int main(int argc, char **argv)
{
    if (argc != 2 && !(argc == 4 && !strcmp(argv[2], "--bulk"))) {
        fprintf(stderr, "usage: make-index DB_PATH [--bulk N] < rows\n");
        return 2;
    }
    struct index *ix = NULL;
    struct tern_err err = {0};
    if (index_open(argv[1], 0, &ix, &err))
        return fail(&err, argv[1]);
    int status = 0;
    if (argc == 4) {
        uint64_t n;
        if (!number(argv[3], 10000000, &n) || !n) {
            fprintf(stderr, "make-index: bad count\n");
            status = 2;
        } else {
            status = bulk(ix, n);
        }
        index_close(&ix);
        return status;
    }
    static char line[LINE_MAX_BYTES];
    unsigned lineno = 0;
    while (!status && fgets(line, sizeof line, stdin)) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        if (!line[0] || line[0] == '#')
            continue;
        char *field[NFIELDS];
        size_t nf = 0;
        for (char *p = line; nf < NFIELDS;) {
            field[nf++] = p;
            char *tab = strchr(p, '\t');
            if (!tab)
                break;
            *tab = '\0';
            p = tab + 1;
        }
        uint64_t uid, date = 0, size;
        if (nf != NFIELDS || !number(field[1], UINT32_MAX, &uid) ||
            (strcmp(field[2], "-") && !number(field[2], INT64_MAX, &date)) ||
            !number(field[4], INT64_MAX, &size)) {
            fprintf(stderr, "make-index: line %u: bad row\n", lineno);
            status = 2;
            break;
        }
        int64_t folder = 0;
        if (index_folder_get_or_create(ix, unescape(field[0]), NULL, &folder, &err)) {
            status = fail(&err, "folder");
            break;
        }
        struct index_msg m;
        index_msg_init(&m);
        m.folder_id = folder;
        m.uid = (uint32_t)uid;
        m.date = strcmp(field[2], "-") ? (int64_t)date : INDEX_NO_DATE;
        m.flags = parse_flags(field[3]);
        m.size = size;
        m.has_attachments = !strcmp(field[5], "1");
        m.from_name = unescape(field[6]);
        m.from_addr = unescape(field[7]);
        m.to_text = unescape(field[8]);
        m.subject = unescape(field[9]);
        m.message_id = unescape(field[10]);
        if (index_msg_insert(ix, &m, &err))
            status = fail(&err, "insert");
    }
    index_close(&ix);
    return status;
}
