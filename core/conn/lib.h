/*
 * core/conn — the one place that builds libcurl handles, so every
 * connection tern makes gets the same hardened option set, and the
 * authenticated byte stream the protocol modules speak over.
 *
 *   conn.c     struct conn_params -> CURL easy handle (TLS required, TLS 1.2+,
 *              CA file, pin, timeouts, protocols restricted, SASL limited,
 *              XOAUTH2), error mapping CURLcode -> tern_rc with one-line text
 *   stream.c   CONNECT_ONLY streams: send-all, line reading with a ceiling,
 *              exact-length reads, deadlines (per wait and whole operation)
 *   trace.c    redacting debug callback (no password, no AUTH payload, no
 *              message data ever reaches the trace)
 *   tlsinfo.c  certificate facts from the TLS session (GnuTLS): subject,
 *              issuer, expiry, SHA-256 fingerprint, curl pin string
 *
 * There is no plaintext mode: a conn_params with tls other than STARTTLS or
 * IMPLICIT does not exist, and STARTTLS is CURLUSESSL_ALL.
 */
#ifndef TERN_CONN_LIB_H
#define TERN_CONN_LIB_H

#include "core/base/lib.h"

#include <time.h>

enum conn_proto { CONN_IMAP, CONN_POP3, CONN_SMTP };
enum conn_tls { CONN_TLS_STARTTLS, CONN_TLS_IMPLICIT };
enum conn_auth { CONN_AUTH_PASSWORD, CONN_AUTH_XOAUTH2 };

/* Trace sink for --debug: gets one redacted line at a time (no newline).
 * NULL means no tracing. */
typedef void conn_trace_fn(void *arg, const char *line);

struct conn_params {
    enum conn_proto proto;
    enum conn_tls tls;
    const char *host;     /* borrowed */
    unsigned port;        /* 0: default for proto and tls */
    const char *user;     /* borrowed; NULL: no login (SMTP without AUTH) */
    const char *secret;   /* borrowed password or XOAUTH2 token */
    enum conn_auth auth;
    const char *ca_file;  /* borrowed; NULL: system trust store */
    const char *pin;      /* borrowed "sha256//BASE64[;sha256//...]" or NULL */
    unsigned timeout_s;   /* per wait (connect, each reply, each recv); 0: 60 */
    unsigned deadline_s;  /* whole operation; 0: none */
    const char *ehlo_name; /* SMTP: name to announce; NULL: "localhost" */
    conn_trace_fn *trace; /* borrowed */
    void *trace_arg;
};

/* Default port for a protocol and TLS mode (143/993, 110/995, 587/465). */
unsigned conn_default_port(enum conn_proto proto, enum conn_tls tls);

/* Global libcurl init; call once from main() before threads. */
enum tern_rc conn_global_init(struct tern_err *err);
void conn_global_cleanup(void);

/*
 * An authenticated stream (CONNECT_ONLY): libcurl did greeting, capability
 * query, STARTTLS, certificate checks and login; the protocol module speaks
 * the rest itself. Owned by the caller; conn_close frees it (it does not send
 * LOGOUT/QUIT: the protocol module does that first).
 */
struct conn;

enum tern_rc conn_open(const struct conn_params *p, struct conn **out, struct tern_err *err);
void conn_close(struct conn **c);

/* Send all n bytes (waits with the timeout). Never logs the bytes unless
 * the caller marked them safe with conn_send_traced. */
enum tern_rc conn_send(struct conn *c, const void *buf, size_t n, struct tern_err *err);
/* Send and show in the trace (the trace module still redacts credentials). */
enum tern_rc conn_send_traced(struct conn *c, const char *line, size_t n, struct tern_err *err);
/* Read one line ending in LF into line (CRLF/LF kept), at most max bytes
 * including the end; a longer line is TERN_EPROTO. The connection closing
 * mid-line is TERN_ECONN. */
enum tern_rc conn_read_line(struct conn *c, struct tbuf *line, size_t max, struct tern_err *err);
/* Read exactly n bytes, handing them to sink in pieces (for IMAP literals
 * and bodies streamed to files); sink returning non-OK stops with that code. */
typedef enum tern_rc conn_sink_fn(void *arg, const char *buf, size_t n);
enum tern_rc conn_read_exact(struct conn *c, uint64_t n, conn_sink_fn *sink, void *arg,
                             struct tern_err *err);
/* Reset the whole-operation deadline (e.g. per message in a long fetch). */
void conn_set_deadline(struct conn *c, unsigned deadline_s);
/* Lines the server sent during the connect phase (greeting, capabilities
 * after TLS), for capability parsing; borrowed, valid until conn_close. */
const char *conn_connect_transcript(const struct conn *c);

/* Certificate facts of the peer, filled after connect (or after a TLS
 * failure, from CURLINFO_CERTINFO). Strings are owned by the struct. */
struct conn_cert_info {
    char *subject;
    char *issuer;
    char *not_after;     /* "2027-01-01 00:00:00 UTC" */
    char *sha256_fp;     /* hex with colons */
    char *pin;           /* "sha256//BASE64" for the config's pin key */
};
void conn_cert_info_free(struct conn_cert_info *ci);

/*
 * Request-style use (SMTP submission via libcurl's own SMTP, POP3 simple
 * requests): a hardened easy handle the caller sets the request options on.
 * Returned as void* so callers need not include curl.h unless they use it;
 * owned by the caller, free with conn_handle_free.
 */
void *conn_handle_new(const struct conn_params *p, struct tern_err *err);
void conn_handle_free(void **handle);
/* Map a CURLcode from a perform on such a handle to tern_rc with a one-line
 * message naming host, port and the server's last reply when useful. */
enum tern_rc conn_handle_fail(void *handle, int curlcode, struct tern_err *err);

#endif
