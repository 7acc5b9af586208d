/*
 * core/doctor internals shared by its files and its unit test.
 */
#ifndef TERN_DOCTOR_PRIVATE_H
#define TERN_DOCTOR_PRIVATE_H

#include "lib.h"

/* ---- net.c: plain sockets ------------------------------------------- */

/* Resolve host for TCP. On success *addrs holds up to `max` numeric
 * addresses joined by ", " (for the step line) and *ai the list (caller
 * frees with freeaddrinfo). */
struct addrinfo;
enum tern_rc net_resolve(const char *host, unsigned port, struct addrinfo **ai, char *addrs,
                         size_t addrs_size, struct tern_err *err);

/* A plaintext TCP connection used only to look at greetings and ask for
 * capabilities; never carries credentials. */
struct net_sock {
    int fd;
    unsigned timeout_ms; /* per wait */
    char buf[4096];
    size_t len; /* bytes buffered, not yet returned */
    bool eof;
};

/* Connect to the first address that answers, each within timeout_ms.
 * Errors: TERN_ECONN ("refused"/"unreachable" in err), TERN_ETIMEOUT
 * (no answer: filtered or down). *ms gets the time taken. */
enum tern_rc net_connect(struct net_sock *s, const struct addrinfo *ai, unsigned timeout_ms,
                         unsigned *ms, struct tern_err *err);
void net_close(struct net_sock *s);

/* What the server sent first, within wait_ms. */
enum net_first {
    FIRST_SILENT, /* nothing yet: waits for us (a TLS ClientHello?) */
    FIRST_CLOSED, /* closed the connection without a word */
    FIRST_TLS,    /* binary TLS record bytes */
    FIRST_IMAP,   /* "* OK", "* PREAUTH", "* BYE" */
    FIRST_POP3,   /* "+OK", "-ERR" */
    FIRST_SMTP,   /* "220 ", "421-", ... */
    FIRST_OTHER,  /* some other text */
};
/* Wait up to wait_ms for the first line (or first bytes); *line gets it
 * without CRLF (bytes kept as they are). */
enum net_first net_sniff(struct net_sock *s, unsigned wait_ms, struct tbuf *line);
/* Classify a first line (exposed for the unit test). */
enum net_first net_classify(const char *p, size_t n);

/* Read one line (CRLF/LF removed) within the socket's timeout; longer than
 * DOCTOR_LINE_MAX is TERN_EPROTO, closed is TERN_ECONN, silence
 * TERN_ETIMEOUT. */
enum tern_rc net_read_line(struct net_sock *s, struct tbuf *line, struct tern_err *err);
enum tern_rc net_send(struct net_sock *s, const char *text, struct tern_err *err);

/* ---- caps.c --------------------------------------------------------- */

/* Capability words, upper-cased, each kept once; SASL mechanisms of every
 * protocol are stored as "AUTH=MECH"; SMTP SIZE keeps its number in
 * size_limit. */
struct doctor_caps {
    struct tbuf words; /* " WORD WORD " */
    uint64_t size_limit;
    bool answered; /* the server answered the capability query */
};
void caps_init(struct doctor_caps *c);
void caps_free(struct doctor_caps *c);
bool caps_has(const struct doctor_caps *c, const char *word);
/* Feed one server line of a capability answer. IMAP: "* CAPABILITY ..." or
 * a greeting/tagged reply with [CAPABILITY ...]; POP3: one CAPA line;
 * SMTP: one EHLO reply line ("250-AUTH PLAIN"; the first line is the
 * greeting and ignored). */
void caps_feed(struct doctor_caps *c, enum conn_proto proto, const char *line, size_t n,
               bool first_line);
/* "IDLE, CONDSTORE, MOVE (no QRESYNC, SPECIAL-USE); login: PLAIN LOGIN" */
enum tern_rc caps_describe(const struct doctor_caps *c, enum conn_proto proto, struct tbuf *out);
/* Copy the AUTH=... words of src into dst (IMAP lists them only before
 * login). */
void caps_merge_auth(struct doctor_caps *dst, const struct doctor_caps *src);
/* Can tern log in with what the server offers? (PLAIN or LOGIN; XOAUTH2) */
bool caps_can_login(const struct doctor_caps *c, enum conn_auth auth);

/* Plaintext (pre-TLS) capability query on a raw socket after the greeting
 * was read; then LOGOUT/QUIT. */
enum tern_rc caps_query_plain(struct net_sock *s, enum conn_proto proto, const char *ehlo,
                              const char *greeting, struct doctor_caps *c, struct tern_err *err);
/* The same over an open core/conn stream (after TLS, before or after
 * login). Does not log out. */
enum tern_rc caps_query_conn(struct conn *c, enum conn_proto proto, const char *ehlo,
                             struct doctor_caps *caps, struct tern_err *err);
/* Say goodbye on a conn stream (LOGOUT / QUIT), ignoring the answer's
 * content; errors are ignored by callers. */
void caps_logout(struct conn *c, enum conn_proto proto);

/* IMAP folder list after login. */
#define DOCTOR_FOLDERS_KEPT 256 /* names kept for sorting before display */
struct doctor_folders {
    uint64_t count;
    char **names; /* up to DOCTOR_FOLDERS_KEPT names (UTF-8), owned */
    size_t nnames;
    char *sent_special;  /* the folder the server marks \Sent (UTF-8), or NULL */
    bool has_named_sent; /* a folder called "Sent" exists */
    char *wanted;        /* in: sent_folder to look for (borrowed... copied), or NULL */
    bool wanted_found;
};
void folders_free(struct doctor_folders *f);
/* "INBOX, Archive, Drafts, ..." : INBOX first, then by name, at most
 * DOCTOR_FOLDER_NAMES. */
enum tern_rc folders_summary(struct doctor_folders *f, struct tbuf *out);
enum tern_rc folders_list_imap(struct conn *c, struct doctor_folders *f, struct tern_err *err);
/* POP3 STAT after login. */
enum tern_rc pop3_stat(struct conn *c, uint64_t *count, uint64_t *bytes, struct tern_err *err);

#endif
