/*
 * core/conn — the one place that builds libcurl handles, so every
 * connection tern makes gets the same hardened option set, and the
 * authenticated byte stream the protocol modules speak over.
 * Owner: connection engineer (core/conn, tests/unit/test_conn.c,
 * tests/tools/conn_check.c, tests/integration/test_conn.py).
 *
 *   conn.c     struct conn_params -> CURL easy handle (TLS required, TLS 1.2+,
 *              CA file, pin, timeouts, protocols restricted, SASL limited,
 *              XOAUTH2), header/debug callbacks, request-style handles
 *   errmap.c   CURLcode -> tern_rc with one line of text (host, port, reason,
 *              the server's last line, a hint)
 *   stream.c   CONNECT_ONLY streams: send-all, line reading with a ceiling,
 *              exact-length reads, deadlines (per wait and whole operation)
 *   trace.c    the redactor: no password, no SASL payload, no message data
 *              ever reaches the trace
 *   tlsinfo.c  certificate facts (GnuTLS, from CURLINFO_CERTINFO): subject,
 *              issuer, validity, SHA-256 fingerprint, curl pin string, and
 *              why verification failed
 *
 * There is no plaintext mode: a conn_params with tls other than STARTTLS or
 * IMPLICIT does not exist, and STARTTLS is CURLUSESSL_ALL (no STARTTLS
 * offered -> TERN_ENOTLS before any credential is sent).
 *
 * Trust: with ca_file, that file is the only trust anchor; without ca_file
 * and without pin, the system store. With a pin and no ca_file, the pin
 * alone is trusted (TOFU, like ssh): CA chain, host name and expiry are not
 * checked, but the server key must match the pin or the connection fails
 * right after the handshake, before any credential is sent. With a pin and
 * a ca_file both are enforced.
 *
 * Login: password auth uses SASL PLAIN with an initial response (IMAP:
 * when the server announces SASL-IR), falling
 * back to SASL LOGIN only when the server does not offer PLAIN (both send
 * the password inside TLS; e.g. Office 365 SMTP offers only LOGIN).
 * CRAM-MD5, DIGEST-MD5, NTLM, IMAP LOGIN and POP3 USER/PASS are never used.
 * A server that offers neither PLAIN nor LOGIN gives TERN_ENOTSUP; an SMTP
 * server that offers no AUTH at all while a user is configured also gives
 * TERN_ENOTSUP (libcurl would silently go on unauthenticated).
 */
#ifndef TERN_CONN_LIB_H
#define TERN_CONN_LIB_H

#include "core/base/lib.h"

#include <signal.h>
#include <stdint.h>

enum conn_proto { CONN_IMAP, CONN_POP3, CONN_SMTP };
enum conn_tls { CONN_TLS_STARTTLS, CONN_TLS_IMPLICIT };
enum conn_auth { CONN_AUTH_PASSWORD, CONN_AUTH_XOAUTH2 };

/* Ceilings for what the network can make us hold. */
#define CONN_LINE_MAX 65536       /* conn_read_line with max == 0 */
#define CONN_RBUF_SIZE 16384      /* the stream's internal read buffer */
#define CONN_TRANSCRIPT_MAX 65536 /* connect-phase server lines kept */
#define CONN_DEFAULT_TIMEOUT_S 60 /* per wait, when params say 0 */

/* Trace sink for --debug: gets one redacted line at a time (no newline),
 * "C: ..." client, "S: ..." server, "* ..." libcurl/tern notes. */
typedef void conn_trace_fn(void *arg, const char *line);
/* Server line hook (no CRLF, NUL-terminated) for every line libcurl reads
 * while it drives the protocol (connect phase, request-style performs);
 * e.g. SMTP per-recipient replies. Not called for conn_read_line. */
typedef void conn_line_fn(void *arg, const char *line, size_t n);

struct conn_cert_info;

struct conn_params {
    /* conn_open copies what it needs except trace/trace_arg, on_line/
     * line_arg and cancel, which must stay valid until conn_close. */
    enum conn_proto proto;
    enum conn_tls tls;
    const char *host;   /* borrowed; name, IPv4 or bare IPv6 */
    unsigned port;      /* 0: default for proto and tls */
    const char *user;   /* borrowed; NULL: no login */
    const char *secret; /* borrowed password or XOAUTH2 token */
    enum conn_auth auth;
    const char *ca_file; /* borrowed; NULL: system trust store (or pin only) */
    const char *pin;     /* borrowed "sha256//BASE64[;sha256//...]" or NULL */
    unsigned timeout_s;  /* per wait (connect, each reply, each recv); 0: 60 */
    /* ... and, on the stream, per 1 KiB: each read/send call that moves
     * less than CONN_PROGRESS_MIN bytes in one timeout of waiting is
     * TERN_ETIMEOUT "sends too slowly" (stream.c explains) */
    /* whole operation: for a stream it runs from the start of conn_open
     * until conn_set_deadline restarts it; for a request handle it bounds
     * each perform (CURLOPT_TIMEOUT). 0: none */
    unsigned deadline_s;
    unsigned timeout_ms;   /* nonzero: overrides timeout_s (tests use short values) */
    unsigned deadline_ms;  /* nonzero: overrides deadline_s */
    const char *ehlo_name; /* SMTP: name to announce; NULL: "localhost" */
    conn_trace_fn *trace;  /* borrowed; NULL: no tracing */
    void *trace_arg;
    conn_line_fn *on_line; /* borrowed; may be NULL */
    void *line_arg;
    /* borrowed; when it becomes nonzero, waits end with TERN_ECANCELED
     * (checked at least every 200 ms) */
    const volatile sig_atomic_t *cancel;
    /* optional out: when the server presented a certificate, conn_open
     * (and conn_handle_fail) fill it on success AND on failure (e.g. an
     * untrusted certificate, for a trust prompt), replacing what it held;
     * caller frees with conn_cert_info_free. Zeroed when no certificate was
     * seen. Must start zeroed. */
    struct conn_cert_info *cert_out;
};

/* Default port for a protocol and TLS mode (143/993, 110/995, 587/465). */
unsigned conn_default_port(enum conn_proto proto, enum conn_tls tls);
/* "imap", "pop3", "smtp" */
const char *conn_proto_name(enum conn_proto proto);

/* Global libcurl init; call once from main() before threads. */
enum tern_rc conn_global_init(struct tern_err *err);
void conn_global_cleanup(void);

/*
 * An authenticated stream (CONNECT_ONLY): libcurl did greeting, capability
 * query, STARTTLS, certificate checks and login; the protocol module speaks
 * the rest itself. Owned by the caller; conn_close frees it (it does not send
 * LOGOUT/QUIT: the protocol module does that first). Not thread-safe: one
 * thread uses a conn at a time.
 */
struct conn;

enum tern_rc conn_open(const struct conn_params *p, struct conn **out, struct tern_err *err);
void conn_close(struct conn **c);

/* Send all n bytes (each wait bounded by the timeout, all by the deadline).
 * Never logs the bytes. */
enum tern_rc conn_send(struct conn *c, const void *buf, size_t n, struct tern_err *err);
/* Send and show in the trace (still redacted: credentials, SASL responses
 * and anything sent after a continuation prompt are masked). */
enum tern_rc conn_send_traced(struct conn *c, const char *line, size_t n, struct tern_err *err);
/* Show a line the caller judged safe (e.g. a tagged reply) in the trace,
 * through the redactor; outgoing false = server line. No-op without trace. */
void conn_trace_line(struct conn *c, bool outgoing, const char *line, size_t n);
/* Read one line ending in LF into line (its old content is replaced; CRLF
 * or LF kept), at most max bytes including the end (0: CONN_LINE_MAX); a
 * longer line is TERN_EPROTO. The connection closing mid-line (or before
 * it) is TERN_ECONN. Never traced. */
enum tern_rc conn_read_line(struct conn *c, struct tbuf *line, size_t max, struct tern_err *err);
/* The same, for data with no line ceiling (a POP3 message line may be 10
 * MB): a longer line comes max bytes at a time with *partial set, the next
 * call going on with the rest. */
enum tern_rc conn_read_line_part(struct conn *c, struct tbuf *line, size_t max, bool *partial,
                                 struct tern_err *err);
/* Read exactly n bytes, handing them to sink in pieces (for IMAP literals
 * and bodies streamed to files; sink NULL discards); sink returning non-OK
 * stops with that code (the sink fills err itself if it wants text). */
typedef enum tern_rc conn_sink_fn(void *arg, const char *buf, size_t n);
enum tern_rc conn_read_exact(struct conn *c, uint64_t n, conn_sink_fn *sink, void *arg,
                             struct tern_err *err);
/* Restart the whole-operation deadline from now (e.g. per message in a long
 * fetch); 0 removes it. */
void conn_set_deadline(struct conn *c, unsigned deadline_s);
void conn_set_deadline_ms(struct conn *c, unsigned deadline_ms);
/* Change the per-wait timeout (e.g. IMAP IDLE waits up to 29 minutes);
 * 0 restores the value from the params. */
void conn_set_timeout_ms(struct conn *c, unsigned timeout_ms);
/* Lines the server sent during the connect phase (greeting, capabilities
 * before and after TLS, the login reply), CRLF-separated, at most
 * CONN_TRANSCRIPT_MAX bytes; borrowed, valid until conn_close. */
const char *conn_connect_transcript(const struct conn *c);
/* "host:port" for messages; borrowed, valid until conn_close. */
const char *conn_peer(const struct conn *c);

/* Certificate facts of the peer's leaf certificate. Strings are owned by
 * the struct; any may be NULL when GnuTLS could not produce it. */
struct conn_cert_info {
    char *subject; /* RFC 4514 DN */
    char *issuer;
    char *not_before; /* "2027-01-01 00:00:00 UTC" */
    char *not_after;
    char *sha256_fp; /* "AB:CD:..." uppercase hex with colons */
    char *pin;       /* "sha256//BASE64" for the config's pin key */
    char *problem;   /* why verification failed ("expired on ...",
                      * "issued by an unknown CA", ...); NULL when none known */
};
void conn_cert_info_free(struct conn_cert_info *ci);

/*
 * Request-style use (SMTP submission via libcurl's own SMTP, POP3 simple
 * requests): a hardened easy handle the caller sets the request options on.
 * The URL is set to scheme://host:port/ (SMTP: /ehlo_name); change the path
 * with conn_handle_set_path. Returned as void* (a CURL *) so callers need
 * not include curl.h unless they use it; owned by the caller, free with
 * conn_handle_free. The params (and the strings they point to) must stay
 * valid until conn_handle_free. Do not change: CURLOPT_PRIVATE,
 * HEADERFUNCTION/DATA, DEBUGFUNCTION/DATA, VERBOSE, XFERINFO*, any TLS,
 * protocol, auth or URL option (use conn_handle_set_path).
 */
void *conn_handle_new(const struct conn_params *p, struct tern_err *err);
void conn_handle_free(void **handle);
/* Set the URL path ("1" for POP3 message 1; no leading slash; no control
 * bytes, spaces, '?' or '#'). */
enum tern_rc conn_handle_set_path(void *handle, const char *path, struct tern_err *err);
/* Map a CURLcode from a perform on such a handle to tern_rc with a one-line
 * message naming host, port and the server's last reply when useful.
 * curlcode 0 with a user configured but no login done -> TERN_ENOTSUP.
 * Also fills params.cert_out (freeing what it held) when one was given. */
enum tern_rc conn_handle_fail(void *handle, int curlcode, struct tern_err *err);
/* Certificate facts after a perform (success or TLS failure), with the
 * reason verification fails (if it does) in ->problem. out is overwritten
 * without being freed. */
enum tern_rc conn_handle_cert_info(void *handle, struct conn_cert_info *out, struct tern_err *err);

#endif
