/* core/imap internals shared by session.c, sync.c, folders.c, body.c,
 * push.c and driver.c. Nothing outside core/imap includes this (the
 * session tests do, via tests/unit/test_imap_sync.c, which is the IMAP
 * engineer's). */
#ifndef TERN_IMAP_PRIVATE_H
#define TERN_IMAP_PRIVATE_H

#include "core/config/lib.h"
#include "core/index/lib.h"
#include "lib.h"

/* Sync tuning. */
#define IMAP_CHUNK 10000 /* UIDs per pipelined header FETCH; rows per commit */
#define IMAP_MAX_CHUNKS 2000   /* commands in flight for one folder's new mail */
#define IMAP_BODY_BATCH 50     /* bodies per pipelined prefetch round */
#define IMAP_STORE_BATCH 500   /* UIDs per STORE/MOVE command on replay */
#define IMAP_FOLDERS_MAX 10000 /* LIST entries kept */
#define IMAP_NAME_MAX 1000     /* bytes of a folder name */
/* Untagged responses read while waiting for one (pipelined) burst: a
 * 1,000,000-message mailbox's full flag fetch plus as many new headers
 * plus expunges fit; a server streaming data without end does not. */
#define IMAP_UNTAGGED_MAX ((uint64_t)4000000)

/* Header fields the index is filled from. */
#define IMAP_HEADER_FIELDS                                                                         \
    "From To Cc Subject Date Message-ID In-Reply-To References List-Id Content-Type"

enum imap_cap {
    CAP_IMAP4REV1 = 1u << 0,
    CAP_CONDSTORE = 1u << 1,
    CAP_QRESYNC = 1u << 2,
    CAP_ENABLE = 1u << 3,
    CAP_MOVE = 1u << 4,
    CAP_UIDPLUS = 1u << 5,
    CAP_SPECIAL_USE = 1u << 6,
    CAP_LIST_EXTENDED = 1u << 7,
    CAP_LIST_STATUS = 1u << 8,
    CAP_ESEARCH = 1u << 9,
    CAP_LITERALPLUS = 1u << 10,  /* LITERAL+ (RFC 7888): {n+} of any size */
    CAP_LITERALMINUS = 1u << 11, /* LITERAL-: {n+} up to 4096 bytes */
    CAP_KNOWN = 1u << 31,        /* a capability list was seen */
};

/* The selected mailbox as the server described it. */
struct imap_sel {
    bool selected;
    uint32_t uidvalidity;
    uint32_t uidnext; /* 0: not sent */
    uint32_t exists;
    bool exists_seen; /* SELECT must send EXISTS: 0 when missing is a guess */
    uint64_t highestmodseq;
    bool nomodseq;
    bool readonly;
    bool expunged; /* an EXPUNGE/VANISHED arrived since the select */
};

/* Called for every response read while waiting for a tag, except the
 * awaited tagged one: untagged data, and tagged replies to earlier
 * pipelined commands. Non-OK stops the wait (the handler sets err). */
typedef enum tern_rc imap_resp_fn(void *arg, const struct imap_resp *r, struct tern_err *err);

struct imap_sess {
    struct imap_io io;
    struct imap_parser *p;
    struct tbuf line;
    struct tbuf out; /* commands not sent yet */
    uint32_t tag_next;
    uint32_t done_below; /* every tag below this has its tagged reply */
    uint32_t *ahead;     /* tags completed out of order (>= done_below) */
    size_t nahead, capahead;
    unsigned caps;
    bool qresync;   /* ENABLE QRESYNC answered */
    bool condstore; /* CONDSTORE active (ENABLE or implied) */
    bool broken;    /* a wait was cut short: responses are out of step */
    bool bye;
    struct imap_sel sel;
    uint64_t untagged_max; /* IMAP_UNTAGGED_MAX; tests lower it */
    imap_route_fn *route;  /* literal routing for the current wait */
    void *route_arg;
};

struct imap_sess *imap_sess_new(const struct imap_io *io);
void imap_sess_free(struct imap_sess **s);
/* Capabilities from a CAPABILITY list in a response (response code or
 * "* CAPABILITY"); `first` is the first capability token. */
void imap_sess_caps(struct imap_sess *s, const struct imap_resp *r, uint32_t l, uint32_t first);
/* From conn's connect transcript: true when its last line (the login
 * reply) carried [CAPABILITY ...]. */
bool imap_sess_caps_from_transcript(struct imap_sess *s, const char *transcript);
/* Queue a command (tag added, CRLF appended); *tag (may be NULL) gets its
 * number. Arguments must be validated/quoted by the caller. */
enum tern_rc imap_cmd(struct imap_sess *s, uint32_t *tag, struct tern_err *err, const char *fmt,
                      ...) TERN_PRINTF(4, 5);
enum tern_rc imap_flush(struct imap_sess *s, struct tern_err *err);
/* Send what is queued, then read until `tag` and every tag before it
 * have their tagged replies (servers such as Dovecot run pipelined
 * FETCHes in parallel and may complete them out of order). fn sees every
 * response except the awaited reply when that one comes last; then
 * *final (may be NULL) is that reply, valid until the next read. When the
 * awaited reply came before others, fn saw it too and *final is NULL; a
 * NO/BAD for it is then returned as the error. */
enum tern_rc imap_wait(struct imap_sess *s, uint32_t tag, imap_resp_fn *fn, void *arg,
                       const struct imap_resp **final, struct tern_err *err);
/* imap_wait for a command that carries a synchronizing literal: returns
 * TERN_OK with *cont true when the server's "+" continuation came (send
 * the literal, then call imap_wait for the rest), or with *cont false
 * when the tag completed first (*final as imap_wait: the server refused
 * without asking for the literal). */
enum tern_rc imap_wait_cont(struct imap_sess *s, uint32_t tag, imap_resp_fn *fn, void *arg,
                            bool *cont, const struct imap_resp **final, struct tern_err *err);
/* Map a tagged NO/BAD to tern_rc with the server's text; OK (or NULL:
 * completed OK out of order, see imap_wait) -> TERN_OK. */
enum tern_rc imap_check(const struct imap_resp *r, const char *what, struct tern_err *err);
/* imap_cmd + imap_wait + imap_check. */
enum tern_rc imap_simple(struct imap_sess *s, imap_resp_fn *fn, void *arg, struct tern_err *err,
                         const char *fmt, ...) TERN_PRINTF(5, 6);
/* The tag number of a tagged response ("A17" -> 17), 0 if not ours. */
uint32_t imap_tag_num(const struct imap_resp *r);
/* Response code name check ("* OK [COPYUID ...]"). */
bool imap_code_is(const struct imap_resp *r, const char *name);

/* A mailbox name for a command: modified UTF-7 raw name, quoted. */
enum tern_rc imap_put_mailbox(struct tbuf *out, const char *raw, struct tern_err *err);

/* Parse INTERNALDATE "17-Jul-1996 02:44:25 -0700" to unix time. */
bool imap_parse_internaldate(const char *s, size_t n, int64_t *out);

/* ---------------------------------------------------------- the driver */

struct imap_drv {
    const struct acct_env *env;
    struct index *ix;
    struct conn *conn;
    struct imap_sess *s;
    char *cache_root; /* <data_dir>/cache */
    bool listed;      /* folder list refreshed in this session */
    int64_t sel_fid;  /* index folder selected now, 0: none */
};

/* Connect and log in when not connected yet. */
enum tern_rc imap_drv_connect(struct imap_drv *d, struct tern_err *err);
/* Drop the connection without LOGOUT (after a protocol failure). */
void imap_drv_drop(struct imap_drv *d);

/* folders.c: LIST into the index; with want_status also STATUS facts
 * (LIST-STATUS) for the folders in `status` order. */
struct imap_folder_status {
    int64_t folder_id;
    bool have;
    uint32_t messages, uidnext, uidvalidity;
    uint64_t highestmodseq;
};
struct imap_listing {
    struct imap_folder_status *v; /* one per index folder listed */
    size_t n;
};
void imap_listing_free(struct imap_listing *l);
/* Pipeline ENABLE (when wanted) and LIST, apply to the index. */
enum tern_rc imap_list_folders(struct imap_drv *d, bool enable, struct imap_listing *out,
                               struct tern_err *err);
/* Select folder f (QRESYNC/CONDSTORE as available); fn sees the
 * responses (VANISHED, FETCH) that come with it. */
enum tern_rc imap_select(struct imap_drv *d, const struct index_folder *f, bool qresync,
                         imap_resp_fn *fn, void *arg, struct tern_err *err);

/* sync.c */
enum tern_rc imap_sync_all(struct imap_drv *d, struct acct_sync_stats *st, struct tern_err *err);

/* body.c */
enum tern_rc imap_cache_path(const struct imap_drv *d, int64_t folder_id, uint32_t uidvalidity,
                             uint32_t uid, bool dir_only, char **out, struct tern_err *err);
/* Remove <cache>/<folder_id>/ (all UIDVALIDITY generations) or, with
 * keep != 0, every generation except `keep`. */
void imap_cache_drop(const struct imap_drv *d, int64_t folder_id, uint32_t keep);
enum tern_rc imap_fetch_body(struct imap_drv *d, int64_t id, char **path, struct tern_err *err);
/* Download bodies of messages in folder f (selected) that have none. */
enum tern_rc imap_prefetch(struct imap_drv *d, const struct index_folder *f, struct tern_err *err);

/* append.c: APPEND data to the raw (modified UTF-7) mailbox; flags are
 * INDEX_FLAG_* bits, date unix time (<= 0 or INDEX_NO_DATE: none). With
 * create, NO [TRYCREATE] leads to CREATE + SUBSCRIBE + one more APPEND. */
enum tern_rc imap_append(struct imap_sess *s, const char *raw_mbox, unsigned flags, int64_t date,
                         const char *data, size_t len, bool create, struct imap_appenduid *uid,
                         struct tern_err *err);
/* The raw and display names (caller frees both) of the folder for sent
 * copies: sent_folder (UTF-8; NULL: none configured) looked up in ix (may
 * be NULL) or encoded, else ix's \Sent folder, else LIST's \Sent, else
 * "Sent". */
enum tern_rc imap_sent_mailbox(struct imap_sess *s, const char *sent_folder, struct index *ix,
                               char **raw, char **display, struct tern_err *err);

/* push.c: replay queued changes for the selected folder f; with f NULL,
 * for every folder that has any (selecting each). */
enum tern_rc imap_push_folder(struct imap_drv *d, const struct index_folder *f,
                              struct acct_sync_stats *st, struct tern_err *err);
enum tern_rc imap_push_all(struct imap_drv *d, struct acct_sync_stats *st, struct tern_err *err);
/* Folder ids that have queued changes (sorted, unique); caller frees. */
enum tern_rc imap_pending_folders(struct imap_drv *d, int64_t **ids, size_t *n,
                                  struct tern_err *err);

#endif
