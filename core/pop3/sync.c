/*
 * The POP3 sync: what never loses and never duplicates a message.
 *
 * Per batch of messages (POP3_BATCH_* decides when a batch closes):
 *   1. RETR streams each message into a Maildir delivery (tmp/); a RETR
 *      that ends without its "." line is aborted (tmp file unlinked).
 *      A complete one is finished (maildir_delivery_finish: no fsync yet
 *      when more than POP3_SYNCFS_MIN messages are to come; else the file
 *      is fsynced, so a cron run with a few messages never waits for other
 *      programs' dirty data as syncfs would) and stays in tmp/.
 *   2. Its size, fingerprint, UIDL and file name are appended to the
 *      journal (<data_dir>/pop3.journal).
 *   3. At the end of the batch: fsync(journal) — every file the batch is
 *      about to put into new/ is now named in a durable journal; then each
 *      file is renamed into new/ (maildir_publish).
 *   4. maildir_flush (one syncfs, or one fsync of new/) — files and
 *      directory entries are durable; then one index transaction inserts
 *      the message rows and records the UIDLs in the ledger (the index runs
 *      with synchronous=FULL: in WAL mode NORMAL would leave a commit
 *      undurable until the next checkpoint); then the journal is emptied.
 *   5. Only now DELE for the batch (pipelined); QUIT; after QUIT's +OK the
 *      ledger marks them deleted.
 * A crash (kill -9 or power cut) between 3 and 4 leaves files in new/ that
 * the ledger does not know: the next run finds the journal non-empty and
 * adopts each such file (matched by name, size and fingerprint; the file
 * is fsynced before it is recorded) instead of downloading the message
 * again. After a power cut such a file may be empty or cut short (renamed,
 * data not yet written): it is tern's own unrecorded file, so it is
 * removed and the message (never deleted on the server) downloaded again.
 * Because the journal is durable before any rename, no message can appear
 * in new/ without the journal naming it: a power cut causes neither a
 * duplicate nor a loss. A crash before 3 leaves only tmp/ files; the next
 * fetch removes them (maildir_clean_tmp: the account lock means no other
 * fetch is writing them). A connection lost before QUIT leaves the ledger
 * saying "stored, not deleted": the next run does not download those
 * UIDLs again and deletes them then.
 *
 * Directory entries: the first run for an account creates the data dir,
 * the index and the journal; a DELE must not depend on entries a power
 * cut can take back, so journal_open fsyncs the data dir and its
 * ancestors when it creates the journal (once per account).
 *
 * UIDLs are data: validated (1..70 bytes 0x21..0x7E), stored in the
 * ledger and journal, never used in a path. A message with an invalid or
 * duplicated UIDL is left on the server and reported. The ledger forgets
 * UIDLs the server no longer lists, so it stays the size of the maildrop.
 */
#include "core/index/lib.h"
#include "core/maildir/lib.h"
#include "core/pop3/private.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum action { ACT_SKIP, ACT_RETR, ACT_DELE };

struct msg {
    uint32_t msgno;
    uint32_t uid_off; /* into the uid arena */
    uint8_t uid_len;
    uint8_t action;
};

struct listing {
    struct msg *v;
    size_t n, cap;
    struct tbuf uids; /* arena of UIDL bytes */
    struct pop3_state *s;
    bool malformed, too_many;
};

static const char *uid_of(const struct listing *l, const struct msg *m)
{
    return l->uids.data + m->uid_off;
}

static void msg_problem(struct pop3_state *s, enum tern_rc rc, const char *fmt, ...)
    TERN_PRINTF(3, 4);
static void msg_problem(struct pop3_state *s, enum tern_rc rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tern_failv(&s->msg_err, rc, fmt, ap);
    va_end(ap);
    s->msg_errors++;
}

/* ------------------------------------------------------------ fingerprint */

#define FP_MUL 0x9e3779b97f4a7c15ull

void pop3_fp_init(struct pop3_fp *f)
{
    f->h = 0x6a09e667f3bcc908ull;
    f->carry = 0;
    f->ncarry = 0;
}

static inline uint64_t fp_mix(uint64_t h, uint64_t w)
{
    h ^= w;
    h *= FP_MUL;
    h ^= h >> 29;
    return h;
}

void pop3_fp_update(struct pop3_fp *f, const void *data, size_t n)
{
    const unsigned char *p = data;
    while (n && f->ncarry) {
        f->carry |= (uint64_t)*p++ << (8 * f->ncarry);
        n--;
        if (++f->ncarry == 8) {
            f->h = fp_mix(f->h, f->carry);
            f->carry = 0;
            f->ncarry = 0;
        }
    }
    uint64_t h = f->h;
    while (n >= 8) {
        /* Little-endian words, like the carry path above and below, so
         * any split of the same bytes gives the same value. */
        uint64_t w;
        memcpy(&w, p, 8);
        h = fp_mix(h, le64toh(w));
        p += 8;
        n -= 8;
    }
    f->h = h;
    while (n--) {
        f->carry |= (uint64_t)*p++ << (8 * f->ncarry);
        if (++f->ncarry == 8) { /* only reachable when starting at 0 */
            f->h = fp_mix(f->h, f->carry);
            f->carry = 0;
            f->ncarry = 0;
        }
    }
}

uint64_t pop3_fp_final(const struct pop3_fp *f)
{
    uint64_t h = f->ncarry ? fp_mix(f->h, f->carry ^ ((uint64_t)f->ncarry << 56)) : f->h;
    return fp_mix(h, 0x5bd1e995ull);
}

/* ----------------------------------------------------------- header block */

/* Collects the header block (through the first empty line) of a message
 * as it streams, up to POP3_HEADER_MAX bytes. */
struct hdr_cap {
    struct tbuf b;
    bool done;
    char prev;
};

static void hdr_init(struct hdr_cap *h)
{
    tbuf_init(&h->b, POP3_HEADER_MAX);
    h->done = false;
    h->prev = '\n'; /* a message starting with "\n" has no headers */
}

static enum tern_rc hdr_feed(struct hdr_cap *h, const char *p, size_t n)
{
    if (h->done || !n)
        return TERN_OK;
    size_t take = n;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n' && (h->prev == '\n')) {
            take = i + 1;
            h->done = true;
            break;
        }
        if (p[i] != '\r') /* CRLF CRLF also ends the block */
            h->prev = p[i];
    }
    if (h->b.len + take > POP3_HEADER_MAX) {
        take = POP3_HEADER_MAX - h->b.len;
        h->done = true; /* the index gets what fits */
    }
    enum tern_rc rc = tbuf_append(&h->b, p, take);
    return rc == TERN_EPROTO ? TERN_OK : rc;
}

/* Fill the index fields of m from a header block; a header the parser
 * cannot use still leaves a row (the message is stored either way). */
static enum tern_rc fill_headers(struct index_msg *m, const struct tbuf *hdr)
{
    enum tern_rc rc = index_msg_from_headers(hdr->data ? hdr->data : "", hdr->len, m);
    return rc == TERN_ENOMEM ? rc : TERN_OK;
}

/* ---------------------------------------------------------------- journal */

/* fsync the directory that holds `path`, and its parent, and so on up to
 * the root: each new directory entry on the way (the data dir tern
 * created, the index, the journal) becomes durable. Directories we cannot
 * open (no read permission) are skipped: we did not create them now. */
static enum tern_rc sync_dir_chain(const char *path, struct tern_err *err)
{
    char *p = tern_strdup(path);
    if (!p)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    enum tern_rc rc = TERN_OK;
    char *slash;
    while (!rc && (slash = strrchr(p, '/')) != NULL) {
        if (slash == p)
            slash[1] = '\0'; /* "/" itself */
        else
            *slash = '\0';
        int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            if (fsync(fd) < 0)
                rc = tern_fail(err, TERN_EIO, "fsync %s: %s", p, strerror(errno));
            close(fd);
        }
        if (slash == p)
            break;
    }
    free(p);
    return rc;
}

static enum tern_rc journal_open(struct pop3_state *s, struct tern_err *err)
{
    if (s->journal_fd >= 0)
        return TERN_OK;
    s->journal_fd = open(s->journal_path, O_RDWR | O_APPEND | O_CLOEXEC);
    if (s->journal_fd >= 0 || errno != ENOENT) {
        if (s->journal_fd < 0)
            return tern_fail(err, TERN_EIO, "cannot open %s: %s", s->journal_path, strerror(errno));
        return TERN_OK;
    }
    s->journal_fd = open(s->journal_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (s->journal_fd < 0)
        return tern_fail(err, TERN_EIO, "cannot open %s: %s", s->journal_path, strerror(errno));
    /* First fetch of this account: the journal, the index (SQLite syncs
     * the directory for its -wal file, not for the database file) and
     * maybe the data dir itself are new. */
    return sync_dir_chain(s->journal_path, err);
}

/* Longest Maildir base name a journal line carries (core/maildir makes
 * them shorter). */
#define JOURNAL_NAME_MAX 320

/* "SIZE FP UIDL NAME\n"; journal_read also takes lines without NAME
 * (written by earlier versions). */
static enum tern_rc journal_append(struct pop3_state *s, uint64_t size, uint64_t fp,
                                   const char *uid, size_t uid_len, const char *name,
                                   struct tern_err *err)
{
    char line[POP3_UIDL_MAX + JOURNAL_NAME_MAX + 64];
    if (strlen(name) >= JOURNAL_NAME_MAX ||
        !tern_snprintf(line, sizeof line, "%llu %016llx %.*s %s\n", (unsigned long long)size,
                       (unsigned long long)fp, (int)uid_len, uid, name))
        return tern_fail(err, TERN_EINTERNAL, "journal line too long");
    size_t n = strlen(line);
    /* One write with O_APPEND, so a crash leaves whole lines (a torn
     * last line is ignored); batch_commit fsyncs the journal before the
     * renames it announces. */
    ssize_t w = write(s->journal_fd, line, n);
    if (w != (ssize_t)n)
        return tern_fail(err, TERN_EIO, "cannot write %s: %s", s->journal_path,
                         w < 0 ? strerror(errno) : "short write");
    return TERN_OK;
}

static enum tern_rc journal_sync(struct pop3_state *s, struct tern_err *err)
{
    if (fsync(s->journal_fd) < 0)
        return tern_fail(err, TERN_EIO, "fsync %s: %s", s->journal_path, strerror(errno));
    return TERN_OK;
}

static enum tern_rc journal_clear(struct pop3_state *s, struct tern_err *err)
{
    /* No fsync: a stale journal only makes the next run check entries the
     * ledger already has. */
    if (ftruncate(s->journal_fd, 0) < 0)
        return tern_fail(err, TERN_EIO, "truncate %s: %s", s->journal_path, strerror(errno));
    return TERN_OK;
}

struct jentry {
    uint64_t size;
    uint64_t fp;
    char uid[POP3_UIDL_MAX + 1];
    size_t uid_len;
    char name[JOURNAL_NAME_MAX]; /* "" in an old-format line */
    bool adopted;
};

struct recover {
    struct pop3_state *s;
    struct jentry *e;
    size_t n;
    char **names; /* sorted base names the index already refers to */
    size_t nnames, capnames;
    struct tern_err err;
    enum tern_rc rc;
    unsigned adopted;
    unsigned torn; /* cut-short copies removed */
};

static const char *base_of(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

static size_t base_len(const char *base)
{
    const char *c = strchr(base, ':');
    return c ? (size_t)(c - base) : strlen(base);
}

static int collect_name(void *arg, const struct index_msg *m)
{
    struct recover *r = arg;
    if (!m->body_path)
        return 0;
    if (r->nnames == r->capnames) {
        size_t cap = r->capnames ? r->capnames * 2 : 256;
        char **v = realloc(r->names, cap * sizeof *v);
        if (!v) {
            r->rc = TERN_ENOMEM;
            return 1;
        }
        r->names = v;
        r->capnames = cap;
    }
    const char *b = base_of(m->body_path);
    if (!(r->names[r->nnames] = tern_strndup(b, base_len(b)))) {
        r->rc = TERN_ENOMEM;
        return 1;
    }
    r->nnames++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Size, fingerprint and header block of a stored file. */
static enum tern_rc scan_file(int fd, uint64_t *size, uint64_t *fp, struct hdr_cap *hdr)
{
    struct pop3_fp f;
    pop3_fp_init(&f);
    char buf[65536];
    uint64_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return TERN_EIO;
        if (n == 0)
            break;
        pop3_fp_update(&f, buf, (size_t)n);
        if (hdr && hdr_feed(hdr, buf, (size_t)n))
            return TERN_ENOMEM;
        total += (uint64_t)n;
    }
    *size = total;
    *fp = pop3_fp_final(&f);
    return TERN_OK;
}

static enum tern_rc adopt(struct recover *r, struct jentry *e, const char *relpath, int fd)
{
    struct pop3_state *s = r->s;
    struct hdr_cap hdr;
    hdr_init(&hdr);
    uint64_t size, fp;
    enum tern_rc rc = TERN_OK;
    /* The file was written by a run that died before its batch flush:
     * its data may still be only in the page cache. It must be durable
     * before the ledger says "stored" (this run then deletes it on the
     * server); the directory entries are synced in pop3_journal_recover. */
    if (fsync(fd) < 0 || lseek(fd, 0, SEEK_SET) < 0 || scan_file(fd, &size, &fp, &hdr)) {
        tbuf_free(&hdr.b);
        return tern_fail(&r->err, TERN_EIO, "cannot read %s/%s", maildir_path(s->md), relpath);
    }
    struct index_msg m;
    index_msg_init(&m);
    struct tbuf path;
    tbuf_init(&path, 0);
    if ((rc = fill_headers(&m, &hdr.b)) ||
        (rc = tbuf_printf(&path, "%s/%s", maildir_path(s->md), relpath))) {
        rc = tern_fail(&r->err, rc, "out of memory");
        goto out;
    }
    m.folder_id = s->folder_id;
    m.size = size;
    m.internaldate = s->now;
    m.body_path = tbuf_steal(&path);
    if ((rc = index_folder_alloc_uid(s->env->index, s->folder_id, &m.uid, &r->err)) ||
        (rc = index_msg_insert(s->env->index, &m, &r->err)) ||
        (rc = index_uidl_record(s->env->index, e->uid, e->uid_len, m.id, s->now, &r->err)))
        goto out;
    e->adopted = true;
    r->adopted++;
out:
    index_msg_clear(&m);
    tbuf_free(&path);
    tbuf_free(&hdr.b);
    return rc;
}

static int recover_file(void *arg, const char *relpath)
{
    struct recover *r = arg;
    const char *b = base_of(relpath);
    char key[512];
    size_t bl = base_len(b);
    if (bl >= sizeof key)
        return 0;
    memcpy(key, b, bl);
    key[bl] = '\0';
    const char *kp = key;
    if (r->nnames && bsearch(&kp, r->names, r->nnames, sizeof *r->names, cmp_str))
        return 0; /* the index already has it */
    int fd;
    if (maildir_open_msg(r->s->md, relpath, &fd, NULL, NULL))
        return 0;
    struct jentry *named = NULL;
    for (size_t i = 0; i < r->n && !named; i++)
        if (!r->e[i].adopted && !strcmp(r->e[i].name, key))
            named = &r->e[i];
    if (named) {
        /* The journal names this very file. */
        uint64_t size, fp;
        if (scan_file(fd, &size, &fp, NULL) == TERN_OK) {
            if (size == named->size && fp == named->fp) {
                r->rc = adopt(r, named, relpath, fd);
                close(fd);
                return r->rc ? 1 : 0;
            }
            /* Renamed into new/ before a power cut wrote its data: not the
             * message. Ours, unrecorded, and the message is still on the
             * server (no DELE without a ledger entry): remove it so the
             * download that follows does not leave a broken extra copy. */
            struct tern_err ignore = {0};
            if (!maildir_remove(r->s->md, relpath, &ignore))
                r->torn++;
        }
        close(fd);
        return 0;
    }
    struct stat sb;
    bool want = false;
    if (fstat(fd, &sb) == 0)
        for (size_t i = 0; i < r->n; i++)
            if (!r->e[i].adopted && !r->e[i].name[0] && r->e[i].size == (uint64_t)sb.st_size)
                want = true;
    if (want) {
        uint64_t size, fp;
        if (scan_file(fd, &size, &fp, NULL) == TERN_OK) {
            for (size_t i = 0; i < r->n; i++) {
                struct jentry *e = &r->e[i];
                if (e->adopted || e->name[0] || e->size != size || e->fp != fp)
                    continue;
                if ((r->rc = adopt(r, e, relpath, fd))) {
                    close(fd);
                    return 1;
                }
                break;
            }
        }
    }
    close(fd);
    return 0;
}

/* Parse the journal into r->e, keeping only UIDLs the ledger lacks. */
static enum tern_rc journal_read(struct pop3_state *s, struct recover *r, bool *any,
                                 struct tern_err *err)
{
    *any = false;
    struct stat sb;
    if (fstat(s->journal_fd, &sb) < 0)
        return tern_fail(err, TERN_EIO, "stat %s: %s", s->journal_path, strerror(errno));
    if (sb.st_size == 0)
        return TERN_OK;
    *any = true;
    size_t len = sb.st_size > POP3_JOURNAL_MAX ? POP3_JOURNAL_MAX : (size_t)sb.st_size;
    char *buf = malloc(len + 1);
    if (!buf)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    ssize_t got = pread(s->journal_fd, buf, len, 0);
    if (got < 0) {
        free(buf);
        return tern_fail(err, TERN_EIO, "read %s: %s", s->journal_path, strerror(errno));
    }
    buf[got] = '\0';
    enum tern_rc rc = TERN_OK;
    size_t cap = 0;
    for (char *p = buf; *p && !rc;) {
        char *nl = strchr(p, '\n');
        if (!nl)
            break; /* a torn last line: its rename never happened */
        *nl = '\0';
        char *sp1 = strchr(p, ' ');
        char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
        struct jentry e = {0};
        uint64_t fp = 0;
        bool good = sp1 && sp2 && sp2 - sp1 == 17 &&
                    tern_parse_u64(p, (size_t)(sp1 - p), POP3_MESSAGE_MAX, &e.size);
        for (const char *h = sp1 + 1; good && h < sp2; h++) {
            int v = (*h >= '0' && *h <= '9')   ? *h - '0'
                    : (*h >= 'a' && *h <= 'f') ? *h - 'a' + 10
                                               : -1;
            if (v < 0)
                good = false;
            fp = fp << 4 | (uint64_t)(v < 0 ? 0 : v);
        }
        char *sp3 = sp2 ? strchr(sp2 + 1, ' ') : NULL;
        if (good && sp3) {
            /* The file name (a name core/maildir made; checked again by
             * maildir_open_msg before any use). */
            size_t nl_len = strlen(sp3 + 1);
            good = nl_len > 0 && nl_len < sizeof e.name && !strchr(sp3 + 1, '/');
            if (good)
                memcpy(e.name, sp3 + 1, nl_len + 1);
            *sp3 = '\0';
        }
        if (good) {
            e.fp = fp;
            e.uid_len = strlen(sp2 + 1);
            good = pop3_uid_valid(sp2 + 1, e.uid_len);
        }
        if (good) {
            memcpy(e.uid, sp2 + 1, e.uid_len);
            bool found = false;
            rc = index_uidl_get(s->env->index, e.uid, e.uid_len, &found, NULL, err);
            if (!rc && !found) {
                if (r->n == cap) {
                    cap = cap ? cap * 2 : 64;
                    struct jentry *v = realloc(r->e, cap * sizeof *v);
                    if (!v) {
                        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
                        break;
                    }
                    r->e = v;
                }
                r->e[r->n++] = e;
            }
        }
        p = nl + 1;
    }
    free(buf);
    return rc;
}

enum tern_rc pop3_journal_recover(struct pop3_state *s, uint64_t *adopted, struct tern_err *err)
{
    enum tern_rc rc = journal_open(s, err);
    if (rc)
        return rc;
    struct recover r = {.s = s};
    bool any;
    if ((rc = journal_read(s, &r, &any, err)) || !any)
        goto out;
    if (r.n) {
        struct index_query q = {.folder_id = s->folder_id};
        rc = index_list(s->env->index, &q, collect_name, &r, err);
        if (!rc && r.rc)
            rc = tern_fail(err, r.rc, "out of memory");
        if (rc)
            goto out;
        if (r.nnames)
            qsort(r.names, r.nnames, sizeof *r.names, cmp_str);
        if ((rc = index_begin(s->env->index, err)))
            goto out;
        rc = maildir_scan(s->md, recover_file, &r, err);
        if (rc == TERN_ECANCELED && r.rc) {
            rc = r.rc;
            tern_fail(err, rc, "%s", r.err.msg[0] ? r.err.msg : tern_rc_str(rc));
        }
        /* The adopted files were fsynced one by one; their entries in new/
         * (or cur/) must be durable too before the ledger records them and
         * this run deletes them on the server. */
        if (!rc && r.adopted)
            rc = maildir_sync_dirs(s->md, err);
        if (!rc)
            rc = index_commit(s->env->index, err);
        if (rc) {
            index_rollback(s->env->index);
            goto out;
        }
        *adopted = r.adopted;
        if (s->env->trace) {
            char line[160];
            snprintf(line, sizeof line,
                     "* pop3: an interrupted run left %zu message(s) unrecorded; %u adopted "
                     "from the Maildir, the rest will be downloaded again (%u cut-short "
                     "copies removed)",
                     r.n, r.adopted, r.torn);
            s->env->trace(s->env->trace_arg, line);
        }
    }
    rc = journal_clear(s, err);
out:
    for (size_t i = 0; i < r.nnames; i++)
        free(r.names[i]);
    free(r.names);
    free(r.e);
    return rc;
}

/* ---------------------------------------------------------------- listing */

static enum tern_rc uidl_sink(void *arg, const char *line, size_t n)
{
    struct listing *l = arg;
    uint32_t msgno = 0;
    const char *uid;
    size_t ulen;
    enum tern_rc rc = pop3_parse_uidl_line(line, n, &msgno, &uid, &ulen);
    if (rc == TERN_EPROTO) {
        l->malformed = true;
        return TERN_EPROTO;
    }
    if (rc == TERN_EDATA) {
        msg_problem(l->s, TERN_EPROTO,
                    "message %u has an invalid unique-id (RFC 1939: 1-70 printable bytes); "
                    "left on the server",
                    (unsigned)msgno);
        return TERN_OK;
    }
    if (l->n >= POP3_MAX_MESSAGES) {
        l->too_many = true;
        return TERN_EPROTO;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        struct msg *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return TERN_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    struct msg *m = &l->v[l->n];
    m->msgno = msgno;
    m->uid_off = (uint32_t)l->uids.len;
    m->uid_len = (uint8_t)ulen;
    m->action = ACT_SKIP;
    rc = tbuf_append(&l->uids, uid, ulen);
    if (!rc)
        rc = tbuf_putc(&l->uids, '\0');
    if (!rc)
        l->n++;
    return rc;
}

/* For sorting by UIDL without global state: qsort has no context. */
struct uid_ref {
    const char *uid;
    size_t idx;
};

static int cmp_uid_ref(const void *a, const void *b)
{
    return strcmp(((const struct uid_ref *)a)->uid, ((const struct uid_ref *)b)->uid);
}

static enum tern_rc get_listing(struct pop3_state *s, struct listing *l, struct tern_err *err)
{
    bool ok;
    enum tern_rc rc = pop3_sess_queue(&s->sess, POP3_CMD_UIDL, 0, 0, err);
    if (!rc)
        rc = pop3_sess_read(&s->sess, POP3_DATA_LINES, uidl_sink, l, NULL, &ok, err);
    if (l->malformed)
        return tern_fail(err, TERN_EPROTO, "server sent a malformed UIDL line");
    if (l->too_many)
        return tern_fail(err, TERN_EPROTO, "server listed more than %u messages",
                         POP3_MAX_MESSAGES);
    if (rc)
        return tern_fail(err, rc, "UIDL: %s", tern_rc_str(rc));
    if (!ok)
        return tern_fail(err, TERN_ENOTSUP,
                         "server refused UIDL (%s): tern needs unique-ids to never download a "
                         "message twice",
                         s->sess.parser.status);
    return TERN_OK;
}

/* ------------------------------------------------------------------- plan */

static bool should_delete(const struct pop3_state *s, int64_t downloaded_at)
{
    const struct tern_account *a = s->env->cfg;
    if (!a->keep)
        return true;
    if (a->keep_days == 0)
        return false;
    return s->now - downloaded_at >= (int64_t)a->keep_days * 86400;
}

struct prune {
    const struct uid_ref *by_uid; /* sorted */
    size_t n;
    char **gone;
    size_t ngone, cap;
    bool oom;
};

static int prune_visit(void *arg, const struct index_uidl *u)
{
    struct prune *p = arg;
    size_t lo = 0, hi = p->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(p->by_uid[mid].uid, u->uidl);
        if (c == 0)
            return 0; /* still on the server */
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (p->ngone == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        char **v = realloc(p->gone, cap * sizeof *v);
        if (!v) {
            p->oom = true;
            return 1;
        }
        p->gone = v;
        p->cap = cap;
    }
    if (!(p->gone[p->ngone] = tern_strdup(u->uidl))) {
        p->oom = true;
        return 1;
    }
    p->ngone++;
    return 0;
}

/* Decide per message: download, delete (already stored) or leave. Forget
 * ledger entries the server no longer lists, so the ledger stays the size
 * of the maildrop (and a reused UIDL is not mistaken for an old one). */
static enum tern_rc plan(struct pop3_state *s, struct listing *l, size_t *nretr, size_t *ndele,
                         struct tern_err *err)
{
    enum tern_rc rc = TERN_OK;
    *nretr = *ndele = 0;
    struct uid_ref *by_uid = malloc((l->n ? l->n : 1) * sizeof *by_uid);
    if (!by_uid)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    for (size_t i = 0; i < l->n; i++) {
        by_uid[i].uid = uid_of(l, &l->v[i]);
        by_uid[i].idx = i;
    }
    qsort(by_uid, l->n, sizeof *by_uid, cmp_uid_ref);
    /* A UIDL listed twice cannot be told apart in the ledger: leave both. */
    for (size_t i = 0; i < l->n; i++) {
        struct msg *m = &l->v[by_uid[i].idx];
        m->action = ACT_RETR;
        bool dup = (i > 0 && !strcmp(by_uid[i].uid, by_uid[i - 1].uid)) ||
                   (i + 1 < l->n && !strcmp(by_uid[i].uid, by_uid[i + 1].uid));
        if (dup) {
            m->action = ACT_SKIP;
            msg_problem(s, TERN_EPROTO,
                        "message %u shares its unique-id with another message; left on the "
                        "server",
                        (unsigned)m->msgno);
        }
    }
    for (size_t i = 0; i < l->n && !rc; i++) {
        struct msg *m = &l->v[i];
        if (m->action != ACT_RETR)
            continue;
        bool found = false;
        struct index_uidl u;
        rc = index_uidl_get(s->env->index, uid_of(l, m), m->uid_len, &found, &u, err);
        if (rc)
            break;
        if (found) {
            m->action = should_delete(s, u.downloaded_at) ? ACT_DELE : ACT_SKIP;
            index_uidl_clear(&u);
        }
        *nretr += m->action == ACT_RETR;
        *ndele += m->action == ACT_DELE;
    }
    if (!rc) {
        struct prune p = {.by_uid = by_uid, .n = l->n};
        rc = index_uidl_list(s->env->index, prune_visit, &p, err);
        if (rc == TERN_ECANCELED || p.oom)
            rc = tern_fail(err, TERN_ENOMEM, "out of memory");
        if (!rc && p.ngone) {
            rc = index_begin(s->env->index, err);
            for (size_t i = 0; i < p.ngone && !rc; i++)
                rc = index_uidl_forget(s->env->index, p.gone[i], strlen(p.gone[i]), err);
            if (!rc)
                rc = index_commit(s->env->index, err);
            if (rc)
                index_rollback(s->env->index);
        }
        for (size_t i = 0; i < p.ngone; i++)
            free(p.gone[i]);
        free(p.gone);
    }
    free(by_uid);
    return rc;
}

/* --------------------------------------------------------------- transfer */

struct item {
    size_t msg;
    char *name;     /* base name in tmp/, then new/ */
    bool published; /* renamed into new/ */
    struct index_msg im;
};

struct xfer {
    struct pop3_state *s;
    struct acct_sync_stats *st;
    struct listing *l;
    size_t *retr; /* messages to download, in msgno order */
    size_t nretr, next_retr, retr_in_flight, retr_done;
    size_t *deleq; /* ready for DELE (durable), FIFO */
    size_t dq_head, dq_len;
    size_t *acked; /* DELE answered +OK */
    size_t nacked;
    struct item batch[POP3_BATCH_MSGS];
    size_t nbatch;
    uint64_t batch_bytes;
    int64_t batch_started;
    /* the RETR being read */
    struct maildir_delivery *d;
    struct pop3_fp fp;
    struct hdr_cap hdr;
    struct tern_err werr;
};

/* A local failure (disk full) must not stop reading the response, or the
 * next response would be parsed from the middle of this one: note it and
 * discard the rest. */
static enum tern_rc retr_sink(void *arg, const char *buf, size_t n)
{
    struct xfer *x = arg;
    if (x->werr.rc)
        return TERN_OK;
    if (maildir_delivery_write(x->d, buf, n, &x->werr))
        return TERN_OK;
    pop3_fp_update(&x->fp, buf, n);
    if (hdr_feed(&x->hdr, buf, n))
        tern_fail(&x->werr, TERN_ENOMEM, "out of memory");
    return TERN_OK;
}

static void batch_free(struct xfer *x)
{
    for (size_t i = 0; i < x->nbatch; i++) {
        /* Not in new/ (the batch failed first): nothing refers to it. */
        if (!x->batch[i].published && x->batch[i].name)
            maildir_discard(x->s->md, x->batch[i].name);
        free(x->batch[i].name);
        index_msg_clear(&x->batch[i].im);
    }
    x->nbatch = 0;
    x->batch_bytes = 0;
}

/* Steps 3 and 4 of the top comment. On failure nothing is recorded and
 * the journal stays, so the next run adopts the files already in new/. */
static enum tern_rc batch_commit(struct xfer *x, bool queue_dele, struct tern_err *err)
{
    struct pop3_state *s = x->s;
    struct index *ix = s->env->index;
    if (!x->nbatch)
        return TERN_OK;
    enum tern_rc rc = journal_sync(s, err);
    for (size_t i = 0; i < x->nbatch && !rc; i++) {
        rc = maildir_publish(s->md, x->batch[i].name, err);
        x->batch[i].published = rc == TERN_OK;
    }
    if (rc || (rc = maildir_flush(s->md, err)) || (rc = index_begin(ix, err))) {
        batch_free(x);
        return rc;
    }
    struct tbuf path;
    tbuf_init(&path, 0);
    for (size_t i = 0; i < x->nbatch && !rc; i++) {
        struct item *it = &x->batch[i];
        const struct msg *m = &x->l->v[it->msg];
        tbuf_reset(&path);
        if ((rc = tbuf_printf(&path, "%s/new/%s", maildir_path(s->md), it->name))) {
            rc = tern_fail(err, rc, "out of memory");
            break;
        }
        it->im.folder_id = s->folder_id;
        it->im.internaldate = s->now;
        free(it->im.body_path);
        it->im.body_path = tbuf_steal(&path);
        if ((rc = index_folder_alloc_uid(ix, s->folder_id, &it->im.uid, err)) ||
            (rc = index_msg_insert(ix, &it->im, err)) ||
            (rc = index_uidl_record(ix, uid_of(x->l, m), m->uid_len, it->im.id, s->now, err)))
            break;
    }
    tbuf_free(&path);
    if (!rc)
        rc = index_commit(ix, err);
    if (rc) {
        index_rollback(ix);
        batch_free(x);
        return rc;
    }
    x->st->new_messages += x->nbatch;
    if ((rc = journal_clear(s, err))) {
        batch_free(x);
        return rc;
    }
    if (queue_dele && should_delete(s, s->now))
        for (size_t i = 0; i < x->nbatch; i++)
            x->deleq[(x->dq_head + x->dq_len++) % x->l->n] = x->batch[i].msg;
    batch_free(x);
    return TERN_OK;
}

static bool batch_due(const struct xfer *x)
{
    if (!x->nbatch)
        return false;
    if (x->nbatch >= POP3_BATCH_MSGS || x->batch_bytes >= POP3_BATCH_BYTES)
        return true;
    if (x->next_retr == x->nretr && x->retr_in_flight == 0)
        return true;
    return (int64_t)time(NULL) - x->batch_started >= POP3_BATCH_SECONDS;
}

/* Read the response to a RETR at the head of the queue into the Maildir. */
static enum tern_rc read_retr(struct xfer *x, struct tern_err *err)
{
    struct pop3_state *s = x->s;
    const size_t ref = pop3_sess_head(&s->sess)->ref;
    const struct msg *m = &x->l->v[ref];
    enum tern_rc rc = maildir_delivery_begin(s->md, 0, &x->d, err);
    if (rc)
        return rc;
    pop3_fp_init(&x->fp);
    hdr_init(&x->hdr);
    tern_err_clear(&x->werr);
    bool ok = false;
    rc = pop3_sess_read(&s->sess, POP3_DATA_STREAM, retr_sink, x, NULL, &ok, err);
    x->retr_in_flight--;
    if (rc || x->werr.rc) {
        /* Not ended by its "." line, or not stored: nothing of it is kept. */
        maildir_delivery_abort(&x->d);
        tbuf_free(&x->hdr.b);
        if (!rc)
            return tern_fail(err, x->werr.rc, "%s", x->werr.msg);
        return rc;
    }
    x->retr_done++;
    if (s->env->progress)
        s->env->progress(s->env->progress_arg, x->retr_done, x->nretr);
    if (!ok) {
        maildir_delivery_abort(&x->d);
        tbuf_free(&x->hdr.b);
        msg_problem(s, TERN_ETEMP, "server refused to send message %u: %s", (unsigned)m->msgno,
                    s->sess.parser.status);
        return TERN_OK;
    }
    struct item *it = &x->batch[x->nbatch];
    uint64_t size = maildir_delivery_size(x->d);
    index_msg_init(&it->im);
    it->msg = ref;
    it->name = NULL;
    it->published = false;
    it->im.size = size;
    if ((rc = fill_headers(&it->im, &x->hdr.b))) {
        maildir_delivery_abort(&x->d);
        index_msg_clear(&it->im);
        tbuf_free(&x->hdr.b);
        return tern_fail(err, rc, "out of memory");
    }
    tbuf_free(&x->hdr.b);
    /* Finished in tmp/ and named in the journal; batch_commit renames it
     * into new/ once the journal is durable. */
    if ((rc = maildir_delivery_finish(&x->d, &it->name, err)) ||
        (rc = journal_append(s, size, pop3_fp_final(&x->fp), uid_of(x->l, m), m->uid_len, it->name,
                             err))) {
        if (it->name)
            maildir_discard(s->md, it->name);
        free(it->name);
        it->name = NULL;
        index_msg_clear(&it->im);
        return rc;
    }
    if (!x->nbatch)
        x->batch_started = time(NULL);
    x->nbatch++;
    x->batch_bytes += size;
    x->st->bytes += size;
    return TERN_OK;
}

/* Put commands on the wire: ready DELEs first, then RETRs up to the
 * window. Without PIPELINING one command at a time. */
static enum tern_rc fill_queue(struct xfer *x, struct tern_err *err)
{
    struct pop3_sess *ss = &x->s->sess;
    enum tern_rc rc = TERN_OK;
    bool pipelining = x->s->window > 1;
    /* Refill RETRs in bursts: only once half the window is answered. At
     * most POP3_BURST commands per send, so a send always fits the socket
     * buffer even while the server is busy writing to us. */
    bool retr_ok = x->retr_in_flight <= x->s->window / 2;
    for (unsigned burst = 0;
         !rc && burst < POP3_BURST && pop3_sess_outstanding(ss) < POP3_QUEUE_MAX; burst++) {
        if (!pipelining && pop3_sess_outstanding(ss) > 0)
            break;
        if (x->dq_len) {
            size_t i = x->deleq[x->dq_head];
            x->dq_head = (x->dq_head + 1) % x->l->n;
            x->dq_len--;
            rc = pop3_sess_queue(ss, POP3_CMD_DELE, x->l->v[i].msgno, i, err);
        } else if (retr_ok && x->next_retr < x->nretr && x->retr_in_flight < x->s->window) {
            size_t i = x->retr[x->next_retr++];
            x->retr_in_flight++;
            rc = pop3_sess_queue(ss, POP3_CMD_RETR, x->l->v[i].msgno, i, err);
        } else {
            break;
        }
    }
    return rc;
}

static enum tern_rc transfer(struct pop3_state *s, struct listing *l, struct acct_sync_stats *st,
                             size_t nretr, bool *conn_ok, struct xfer *x, struct tern_err *err)
{
    enum tern_rc rc = TERN_OK;
    x->s = s;
    x->st = st;
    x->l = l;
    x->nretr = nretr;
    size_t n = l->n ? l->n : 1;
    x->retr = malloc(n * sizeof *x->retr);
    x->deleq = malloc(n * sizeof *x->deleq);
    x->acked = malloc(n * sizeof *x->acked);
    if (!x->retr || !x->deleq || !x->acked)
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].action == ACT_RETR)
            x->retr[k++] = i;
        else if (l->v[i].action == ACT_DELE)
            x->deleq[x->dq_len++] = i; /* stored by an earlier run: delete now */
    }
    if (s->env->progress && nretr)
        s->env->progress(s->env->progress_arg, 0, nretr);
    for (;;) {
        if ((rc = fill_queue(x, err)))
            break;
        const struct pop3_cmd *head = pop3_sess_head(&s->sess);
        if (!head)
            break;
        if (head->kind == POP3_CMD_RETR) {
            if ((rc = read_retr(x, err)))
                break;
        } else {
            bool ok;
            struct pop3_cmd cmd;
            if ((rc = pop3_sess_read(&s->sess, POP3_DATA_RAW, NULL, NULL, &cmd, &ok, err)))
                break;
            if (ok)
                x->acked[x->nacked++] = cmd.ref;
            else
                msg_problem(s, TERN_ETEMP, "server refused to delete message %u: %s",
                            (unsigned)cmd.msgno, s->sess.parser.status);
        }
        if (batch_due(x) && (rc = batch_commit(x, true, err))) {
            /* Local failure: the connection is still in step. */
            break;
        }
    }
    if (rc) {
        bool local = rc == TERN_EIO || rc == TERN_ENOMEM || rc == TERN_ELOCKED ||
                     rc == TERN_EINTERNAL || rc == TERN_EDATA;
        *conn_ok = local;
        /* What arrived completely is kept (and deleted next time). */
        struct tern_err ignore = {0};
        batch_commit(x, false, &ignore);
    }
    return rc;
}

/* After a local failure the server still answers what is in flight: read
 * it away (RETR data discarded, DELE acks kept) so QUIT can follow. */
static enum tern_rc drain(struct pop3_state *s, struct xfer *x, struct tern_err *err)
{
    while (pop3_sess_head(&s->sess)) {
        bool ok;
        struct pop3_cmd cmd;
        enum tern_rc rc = pop3_sess_read(&s->sess, POP3_DATA_RAW, NULL, NULL, &cmd, &ok, err);
        if (rc)
            return rc;
        if (cmd.kind == POP3_CMD_DELE && ok)
            x->acked[x->nacked++] = cmd.ref;
    }
    return TERN_OK;
}

static enum tern_rc quit(struct pop3_state *s, struct xfer *x, struct acct_sync_stats *st,
                         struct tern_err *err)
{
    bool ok;
    s->sess_live = false;
    enum tern_rc rc = pop3_sess_queue(&s->sess, POP3_CMD_QUIT, 0, 0, err);
    if (!rc)
        rc = pop3_sess_read(&s->sess, POP3_DATA_RAW, NULL, NULL, NULL, &ok, err);
    if (rc)
        return tern_fail(err, rc, "connection lost at QUIT; deletions will be retried");
    if (!ok)
        return tern_fail(err, TERN_ETEMP, "server did not commit the deletions: %s",
                         s->sess.parser.status);
    if (!x->nacked)
        return TERN_OK;
    struct index *ix = s->env->index;
    if ((rc = index_begin(ix, err)))
        return rc;
    for (size_t i = 0; i < x->nacked && !rc; i++) {
        const struct msg *m = &x->l->v[x->acked[i]];
        rc = index_uidl_mark_deleted(ix, uid_of(x->l, m), m->uid_len, s->now, err);
    }
    if (!rc)
        rc = index_commit(ix, err);
    if (rc) {
        index_rollback(ix);
        return rc;
    }
    st->deleted_server += x->nacked;
    return TERN_OK;
}

enum tern_rc pop3_sync_run(struct pop3_state *s, struct acct_sync_stats *st, struct tern_err *err)
{
    s->now = (int64_t)time(NULL);
    struct listing l = {.s = s};
    tbuf_init(&l.uids, (size_t)POP3_MAX_MESSAGES * (POP3_UIDL_MAX + 1));
    struct xfer *x = calloc(1, sizeof *x);
    bool conn_ok = true;
    size_t nretr = 0, ndele = 0;
    enum tern_rc rc;
    if (!x) {
        rc = tern_fail(err, TERN_ENOMEM, "out of memory");
        goto out;
    }
    x->l = &l;
    /* tmp/ files of an earlier fetch that was killed or lost power: with
     * the account lock held no other fetch is writing there. */
    unsigned cleaned = 0;
    if ((rc = maildir_clean_tmp(s->md, &cleaned, err)))
        goto out;
    if (cleaned && s->env->trace) {
        char line[120];
        snprintf(line, sizeof line,
                 "* pop3: removed %u file(s) an interrupted run left in the Maildir's tmp/",
                 cleaned);
        s->env->trace(s->env->trace_arg, line);
    }
    uint64_t adopted = 0;
    if ((rc = pop3_journal_recover(s, &adopted, err)))
        goto out;
    /* They are new to the index now. */
    st->new_messages += adopted;
    if ((rc = get_listing(s, &l, err))) {
        conn_ok = rc == TERN_ENOTSUP;
        goto out;
    }
    if ((rc = plan(s, &l, &nretr, &ndele, err)))
        goto out;
    /* syncfs makes a big batch durable cheaply, but it also waits for
     * every other program's dirty data on that file system; a cron run
     * that finds a few messages fsyncs just its own files. */
    enum maildir_sync mode =
        nretr > POP3_SYNCFS_MIN ? MAILDIR_SYNC_BATCH_SYNCFS : MAILDIR_SYNC_BATCH_FSYNC;
    if ((unsigned)mode != s->md_mode) {
        maildir_close(&s->md);
        if ((rc = maildir_open(s->env->cfg->maildir, mode, &s->md, err)))
            goto out;
        s->md_mode = mode;
    }
    if (s->env->trace) {
        char line[200];
        snprintf(line, sizeof line,
                 "* pop3: %zu message(s) on the server: %zu to download, %zu stored earlier to "
                 "delete; window %u; durability by %s",
                 l.n, nretr, ndele, s->window,
                 mode == MAILDIR_SYNC_BATCH_SYNCFS ? "syncfs per batch" : "fsync per message");
        s->env->trace(s->env->trace_arg, line);
    }
    rc = transfer(s, &l, st, nretr, &conn_ok, x, err);
out:
    if (conn_ok && s->sess_live && x) {
        struct tern_err qerr = {0};
        enum tern_rc qrc = drain(s, x, &qerr);
        if (!qrc)
            qrc = quit(s, x, st, &qerr);
        if (qrc && !rc)
            rc = tern_fail(err, qrc, "%s", qerr.msg);
    }
    if (!rc && s->msg_errors) {
        if (s->msg_errors == 1)
            rc = tern_fail(err, s->msg_err.rc, "%s", s->msg_err.msg);
        else
            rc = tern_fail(err, s->msg_err.rc, "%u messages not handled; first: %s", s->msg_errors,
                           s->msg_err.msg);
    }
    if (x) {
        batch_free(x);
        free(x->retr);
        free(x->deleq);
        free(x->acked);
        free(x);
    }
    free(l.v);
    tbuf_free(&l.uids);
    return rc;
}
