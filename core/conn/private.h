/*
 * core/conn internals shared by its files and its unit test. Nothing here
 * is API for other modules.
 */
#ifndef TERN_CONN_PRIVATE_H
#define TERN_CONN_PRIVATE_H

#include "lib.h"

#include <curl/curl.h>

/* ---- trace.c: the redactor ------------------------------------------- */

/* Longest line shown in a trace; longer lines are cut with "...". */
#define CONN_TRACE_LINE_MAX 400

/* State carried across lines: what the client sends right after a
 * continuation prompt ("+ ", "334 ") is a SASL response or literal data and
 * is masked until the server answers with anything else; IMAP literals and
 * SMTP DATA content are never shown. */
struct conn_redact {
    enum conn_proto proto;
    bool secret_out;      /* mask client lines until a non-continuation reply */
    bool smtp_data_cmd;   /* SMTP: DATA sent, waiting for 354 */
    bool smtp_data;       /* SMTP: inside message data until "." */
    bool data_noted;      /* "[message data not shown]" printed once */
    uint64_t out_literal; /* IMAP: client literal bytes still to hide */
    uint64_t in_literal;  /* IMAP: server literal bytes still to hide */
};

void conn_redact_init(struct conn_redact *r, enum conn_proto proto);
/* Copy server or library text for display: control bytes, C1 controls
 * and invalid UTF-8 become '?'; cut at outsz - 1 bytes on a character
 * boundary; always NUL-terminated. Returns the length. */
size_t conn_safe_text(char *out, size_t outsz, const char *s, size_t n);
/* Turn one protocol line (with or without CRLF) into a display line in
 * out ("C: ..." or "S: ..."), masking secrets. Returns false when nothing
 * should be shown (e.g. message data after the first note). */
bool conn_redact_line(struct conn_redact *r, bool outgoing, const char *line, size_t n, char *out,
                      size_t outsz);

/* ---- errmap.c -------------------------------------------------------- */

/* Everything the error mapping may mention; any pointer may be NULL. */
struct conn_failure {
    int code; /* CURLcode */
    enum conn_proto proto;
    enum conn_tls tls;
    enum conn_auth auth;
    const char *host;
    unsigned port;
    const char *user;
    const char *curl_msg;     /* CURLOPT_ERRORBUFFER text */
    const char *last_line;    /* last server line */
    const char *cert_problem; /* from tlsinfo */
    const char *cert_fp;
    const char *cert_pin;
    bool auth_sent;    /* an AUTH/AUTHENTICATE command went out */
    bool smtp_no_auth; /* we aborted: SMTP offered no AUTH after TLS */
    unsigned timeout_ms;
    unsigned deadline_ms;
};

enum tern_rc conn_map_failure(const struct conn_failure *f, struct tern_err *err);

/* ---- tlsinfo.c ------------------------------------------------------- */

/* Fill ci from the PEM certificates in CURLINFO_CERTINFO (leaf first).
 * When verify is true, also work out why the chain does not verify against
 * ca_file (NULL: system store) for host. Returns TERN_ENOTFOUND when the
 * handle has no certificate. */
enum tern_rc conn_cert_from_handle(CURL *h, bool verify, const char *ca_file, const char *host,
                                   struct conn_cert_info *ci);
/* Same from a list of PEM blobs (tests). */
enum tern_rc conn_cert_from_pems(const char *const *pems, size_t npems, bool verify,
                                 const char *ca_file, const char *host, struct conn_cert_info *ci);

/* ---- conn.c ---------------------------------------------------------- */

#define CONN_LAST_LINES 4
#define CONN_LAST_LINE_MAX 300

/* Per-handle state, reached through CURLOPT_PRIVATE. */
struct conn_ctx {
    CURL *h;
    struct conn_params p; /* copy; see lib.h for which pointers stay borrowed */
    char *host;           /* owned copies */
    char *user;
    char *ca_file;
    char *scheme_host_port; /* "imaps://host:993/" without path */
    char peer[300];         /* "host:port" */
    unsigned port;
    unsigned timeout_ms;
    unsigned deadline_ms;
    struct conn_redact red;
    /* what the callbacks saw */
    bool auth_sent;
    bool starttls_sent;
    bool smtp_in_ehlo;
    bool smtp_ehlo_auth;
    bool smtp_no_auth;
    bool keep_transcript;
    struct tbuf transcript;
    char last[CONN_LAST_LINES][CONN_LAST_LINE_MAX];
    unsigned nlast; /* lines ever recorded */
    char errbuf[CURL_ERROR_SIZE];
};

struct conn_ctx *conn_ctx_new(const struct conn_params *p, struct tern_err *err);
void conn_ctx_free(struct conn_ctx **ctx);
const char *conn_ctx_last_line(const struct conn_ctx *ctx);
void conn_ctx_trace(struct conn_ctx *ctx, bool outgoing, const char *line, size_t n);
void conn_ctx_note(struct conn_ctx *ctx, const char *fmt, ...) TERN_PRINTF(2, 3);
/* Map a failed perform (fills p.cert_out when asked). */
enum tern_rc conn_ctx_fail(struct conn_ctx *ctx, CURLcode code, struct tern_err *err);
/* Validate params the way conn_ctx_new does (unit tests). */
enum tern_rc conn_check_params(const struct conn_params *p, struct tern_err *err);

#endif
