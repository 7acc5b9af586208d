/* bench-mime: how fast core/mime reads messages.
 *
 *   bench-mime DIR             time header-only and full parsing of every file in DIR
 *   bench-mime --gen N DIR     first write N generated messages into DIR
 *
 * "headers" is mime_parse_headers (what a sync or index listing does);
 * "full" is mime_parse + the text to show + transfer-decoding every leaf.
 * Each is run over all files, repeated until at least one second passed,
 * and reported in MB/s of message bytes. Not a test: numbers only. */
#include "core/mime/lib.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct msg {
    char *data;
    size_t len;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long long rng = 88172645463325252ULL;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static const char *const words[] = {"meeting", "report", "tomorrow", "budget", "the",
                                    "release", "question", "about", "and", "review",
                                    "Gr\xc3\xbc\xc3\x9f\x65", "caf\xc3\xa9", "deadline"};

static void put_words(FILE *f, int n)
{
    for (int i = 0; i < n; i++)
        fprintf(f, "%s%s", i ? " " : "", words[rnd(sizeof words / sizeof words[0])]);
}

/* A mix like a real mailbox: plain, QP, alternative with HTML, and some
 * base64 attachments, 15 Received lines each. */
static int generate(int count, const char *dir)
{
    mkdir(dir, 0700);
    for (int i = 0; i < count; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/msg%05d.eml", dir, i);
        FILE *f = fopen(path, "w");
        if (!f) {
            fprintf(stderr, "bench-mime: %s: %s\n", path, strerror(errno));
            return 1;
        }
        for (int r = 0; r < 15; r++)
            fprintf(f, "Received: from relay%d.example.net (relay%d.example.net [192.0.2.%d])\n"
                       "\tby mx.example.org with ESMTPS id %08x\n"
                       "\tfor <user@example.org>; Mon, 4 Mar 2024 09:%02d:00 +0000\n",
                    r, r, r, rnd(0xffffffffu), r);
        fprintf(f, "From: \"Sender %d\" <sender%d@example.com>\n", i, i % 50);
        fprintf(f, "To: user@example.org, \"Other, Person\" <other@example.org>\n");
        fprintf(f, "Subject: =?UTF-8?Q?Re:_caf=C3=A9_%d?= ", i);
        put_words(f, 6);
        fprintf(f, "\nDate: Mon, %d Mar 2024 %02d:%02d:00 +0100\n", 1 + i % 28, i % 24, i % 60);
        fprintf(f, "Message-ID: <%d.%u@example.com>\nMIME-Version: 1.0\n", i, rnd(100000));
        int kind = i % 4;
        if (kind == 0) {
            fprintf(f, "Content-Type: text/plain; charset=utf-8\n\n");
            for (int l = 0; l < 40; l++) {
                put_words(f, 10);
                fputc('\n', f);
            }
        } else if (kind == 1) {
            fprintf(f, "Content-Type: text/plain; charset=iso-8859-1\n"
                       "Content-Transfer-Encoding: quoted-printable\n\n");
            for (int l = 0; l < 40; l++)
                fprintf(f, "Caf=E9 line %d with some text that goes on and on=\n and on\n", l);
        } else {
            fprintf(f, "Content-Type: multipart/mixed; boundary=\"mix%d\"\n\n--mix%d\n", i, i);
            fprintf(f, "Content-Type: multipart/alternative; boundary=\"alt%d\"\n\n--alt%d\n"
                       "Content-Type: text/plain; charset=utf-8\n\n", i, i);
            for (int l = 0; l < 20; l++) {
                put_words(f, 10);
                fputc('\n', f);
            }
            fprintf(f, "--alt%d\nContent-Type: text/html; charset=utf-8\n\n<html><body>", i);
            for (int l = 0; l < 20; l++) {
                fputs("<p>", f);
                put_words(f, 10);
                fputs(" <a href=\"https://example.com/x\">link</a></p>\n", f);
            }
            fprintf(f, "</body></html>\n--alt%d--\n", i);
            if (kind == 3) {
                fprintf(f, "--mix%d\nContent-Type: application/pdf; name=\"r%d.pdf\"\n"
                           "Content-Disposition: attachment; filename=\"r%d.pdf\"\n"
                           "Content-Transfer-Encoding: base64\n\n", i, i, i);
                for (int l = 0; l < 200; l++)
                    fputs("JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSL0ZpbHRlci9GbGF0\n", f);
            }
            fprintf(f, "--mix%d--\n", i);
        }
        fclose(f);
    }
    return 0;
}

static int load(const char *dir, struct msg **out, size_t *count, size_t *bytes)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "bench-mime: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        struct tbuf b;
        tbuf_init(&b, 0);
        char tmp[65536];
        size_t n;
        while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
            tbuf_append(&b, tmp, n);
        fclose(f);
        if (*count == cap) {
            cap = cap ? cap * 2 : 256;
            *out = realloc(*out, cap * sizeof **out);
            if (!*out)
                return 1;
        }
        (*out)[*count].len = b.len;
        (*out)[*count].data = tbuf_steal(&b);
        *bytes += (*out)[*count].len;
        (*count)++;
    }
    closedir(d);
    return 0;
}

static void full(const struct msg *m)
{
    struct mime_message *mm = NULL;
    if (mime_parse(m->data, m->len, &mm, NULL))
        return;
    struct tbuf t;
    tbuf_init(&t, 0);
    const struct mime_part *best = mime_best_text(mm);
    if (best)
        mime_part_text(mm, best, NULL, &t);
    for (const struct mime_part *p = NULL; (p = mime_part_next(mm, p));) {
        if (!p->child) {
            tbuf_reset(&t);
            mime_part_decode(mm, p, &t);
        }
    }
    tbuf_free(&t);
    mime_message_free(&mm);
}

static void headers(const struct msg *m)
{
    struct mime_envelope *e = NULL;
    if (mime_parse_headers(m->data, m->len, &e, NULL) == TERN_OK)
        mime_envelope_free(&e);
}

static void run(const char *what, void (*fn)(const struct msg *), struct msg *v, size_t n,
                size_t bytes)
{
    double t0 = now(), dt;
    int rounds = 0;
    do {
        for (size_t i = 0; i < n; i++)
            fn(&v[i]);
        rounds++;
        dt = now() - t0;
    } while (dt < 1.0);
    double mb = (double)bytes * rounds / 1e6;
    printf("%-8s %6d rounds  %8.1f MB/s  %9.0f msgs/s\n", what, rounds, mb / dt,
           (double)n * rounds / dt);
}

int main(int argc, char **argv)
{
    int a = 1;
    if (argc >= 4 && !strcmp(argv[1], "--gen")) {
        uint64_t count;
        if (!tern_parse_u64(argv[2], strlen(argv[2]), 1000000, &count)) {
            fprintf(stderr, "bench-mime: bad count '%s'\n", argv[2]);
            return 64;
        }
        if (generate((int)count, argv[3]))
            return 1;
        a = 3;
    }
    if (a >= argc) {
        fprintf(stderr, "usage: bench-mime [--gen N] DIR\n");
        return 64;
    }
    struct msg *v = NULL;
    size_t n = 0, bytes = 0;
    if (load(argv[a], &v, &n, &bytes) || n == 0) {
        fprintf(stderr, "bench-mime: no messages in %s\n", argv[a]);
        return 1;
    }
    printf("%zu messages, %.1f MB\n", n, (double)bytes / 1e6);
    run("headers", headers, v, n, bytes);
    run("full", full, v, n, bytes);
    for (size_t i = 0; i < n; i++)
        free(v[i].data);
    free(v);
    return 0;
}
