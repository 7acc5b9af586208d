/*
 * CONNECT_ONLY streams. libcurl does the connect phase (greeting, STARTTLS,
 * certificate checks, SASL) and then hands over a TLS byte stream through
 * curl_easy_send/recv. libcurl applies no timeouts to that stream, so every
 * wait here is bounded three times: by the per-wait timeout (server silent
 * too long), by the progress rule below (server dripping bytes), and by the
 * whole-operation deadline when the caller set one.
 *
 * The progress rule: within one read or send call (conn_read_line,
 * conn_read_exact, conn_send), every CONN_PROGRESS_MIN bytes moved must
 * cost at most one timeout of *waiting*; a call that is done sooner (a
 * short line, a small literal) needs nothing more. So a server dripping one
 * byte every two seconds under `timeout = 3` is abandoned three seconds of
 * waiting into the reply, while a steady transfer of any size passes as long
 * as it moves 1 KiB per timeout (at the default 60 s, 17 bytes/s): the
 * budget restarts at each KiB and each call, and only time spent in poll()
 * counts, so a slow disk on our side (an IMAP literal's sink) is never
 * blamed on the server.
 *
 * GnuTLS may hold decrypted bytes that poll() cannot see, so reads always
 * drain curl_easy_recv until CURLE_AGAIN before they wait on the socket.
 */
#include "private.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* With a cancel flag, waits are cut into slices this long. */
#define CONN_CANCEL_SLICE_MS 200
/* The progress rule (see above): bytes that must move per timeout waited. */
#define CONN_PROGRESS_MIN 1024 /* see lib.h timeout_s */

struct conn {
    struct conn_ctx *ctx;
    curl_socket_t fd;
    unsigned timeout_ms;  /* per wait */
    uint64_t deadline_at; /* monotonic ms; 0: none */
    /* progress rule: since the start of the current call or the last
     * CONN_PROGRESS_MIN bytes, ms spent waiting and bytes moved */
    uint64_t prog_waited_ms;
    size_t prog_bytes;
    char rbuf[CONN_RBUF_SIZE];
    size_t rpos, rlen; /* unread bytes are rbuf[rpos..rlen) */
    bool eof;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

enum tern_rc conn_open(const struct conn_params *p, struct conn **out, struct tern_err *err)
{
    struct tern_err local = {0};
    if (!err)
        err = &local; /* the code is needed below even when the caller has no err */
    *out = NULL;
    uint64_t start = now_ms();
    if (p->cert_out)
        memset(p->cert_out, 0, sizeof *p->cert_out);
    struct conn_ctx *ctx = conn_ctx_new(p, err);
    if (!ctx)
        return err->rc;
    ctx->keep_transcript = true;
    CURLcode crc = curl_easy_setopt(ctx->h, CURLOPT_CONNECT_ONLY, 1L);
    if (crc == CURLE_OK)
        crc = curl_easy_perform(ctx->h);
    if (crc != CURLE_OK) {
        enum tern_rc rc = conn_ctx_fail(ctx, crc, err);
        conn_ctx_free(&ctx);
        return rc;
    }
    if (ctx->user && !ctx->auth_sent) {
        /* libcurl skips the login when it finds no mechanism it may use
         * in some paths; never hand out an unauthenticated stream. */
        enum tern_rc rc =
            tern_fail(err, TERN_ENOTSUP,
                      "%s offers no login method tern uses (SASL PLAIN or LOGIN)", ctx->peer);
        conn_ctx_free(&ctx);
        return rc;
    }
    curl_socket_t fd = CURL_SOCKET_BAD;
    crc = curl_easy_getinfo(ctx->h, CURLINFO_ACTIVESOCKET, &fd);
    if (crc != CURLE_OK || fd == CURL_SOCKET_BAD) {
        enum tern_rc rc = tern_fail(err, TERN_EINTERNAL, "%s: libcurl gave no socket", ctx->peer);
        conn_ctx_free(&ctx);
        return rc;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        conn_ctx_free(&ctx);
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    }
    c->ctx = ctx;
    c->fd = fd;
    c->timeout_ms = ctx->timeout_ms;
    c->deadline_at = ctx->deadline_ms ? start + ctx->deadline_ms : 0;
    if (p->cert_out) {
        /* Verified (or pinned) already: no problem to report. */
        if (conn_cert_from_handle(ctx->h, false, NULL, NULL, p->cert_out) != TERN_OK)
            memset(p->cert_out, 0, sizeof *p->cert_out);
    }
    conn_ctx_note(ctx, "connected to %s, logged in: %s", ctx->peer, ctx->auth_sent ? "yes" : "no");
    /* From here on tern speaks the protocol and traces it itself; libcurl's
     * verbose notes about send/recv are noise. */
    curl_easy_setopt(ctx->h, CURLOPT_VERBOSE, 0L);
    *out = c;
    return TERN_OK;
}

void conn_close(struct conn **pc)
{
    if (!pc || !*pc)
        return;
    struct conn *c = *pc;
    conn_ctx_free(&c->ctx);
    free(c);
    *pc = NULL;
}

const char *conn_connect_transcript(const struct conn *c)
{
    return c->ctx->transcript.data ? c->ctx->transcript.data : "";
}

const char *conn_peer(const struct conn *c)
{
    return c->ctx->peer;
}

void conn_set_deadline(struct conn *c, unsigned deadline_s)
{
    conn_set_deadline_ms(c, deadline_s > UINT32_MAX / 1000 ? UINT32_MAX : deadline_s * 1000);
}

void conn_set_deadline_ms(struct conn *c, unsigned deadline_ms)
{
    c->deadline_at = deadline_ms ? now_ms() + deadline_ms : 0;
}

void conn_set_timeout_ms(struct conn *c, unsigned timeout_ms)
{
    c->timeout_ms = timeout_ms ? timeout_ms : c->ctx->timeout_ms;
}

void conn_trace_line(struct conn *c, bool outgoing, const char *line, size_t n)
{
    if (c->ctx->p.trace)
        conn_ctx_trace(c->ctx, outgoing, line, n);
}

static enum tern_rc deadline_fail(struct conn *c, struct tern_err *err)
{
    return tern_fail(err, TERN_ETIMEOUT, "%s timed out: the operation took longer than %.1f s",
                     c->ctx->peer, c->ctx->deadline_ms ? c->ctx->deadline_ms / 1000.0 : 0.0);
}

/* A new read or send call: a fresh progress budget. */
static void progress_reset(struct conn *c)
{
    c->prog_waited_ms = 0;
    c->prog_bytes = 0;
}

/* n bytes moved; each CONN_PROGRESS_MIN of them earns a fresh budget. */
static void progress_add(struct conn *c, size_t n)
{
    c->prog_bytes += n;
    if (c->prog_bytes >= CONN_PROGRESS_MIN)
        progress_reset(c);
}

/* Wait until the socket is ready for `events`, bounded by the per-wait
 * timeout, what is left of the progress budget, the deadline and the
 * cancel flag. */
static enum tern_rc wait_io(struct conn *c, short events, struct tern_err *err)
{
    uint64_t start = now_ms();
    uint64_t wait_end = start + c->timeout_ms;
    uint64_t slow_end =
        start + (c->prog_waited_ms < c->timeout_ms ? c->timeout_ms - c->prog_waited_ms : 0);
    enum tern_rc rc = TERN_OK;
    for (;;) {
        uint64_t now = now_ms();
        if (c->deadline_at && now >= c->deadline_at) {
            rc = deadline_fail(c, err);
            break;
        }
        if (now >= wait_end) {
            rc = tern_fail(err, TERN_ETIMEOUT, "%s timed out: no %s for %.1f s", c->ctx->peer,
                           events == POLLIN ? "reply" : "progress sending",
                           c->timeout_ms / 1000.0);
            break;
        }
        if (now >= slow_end) {
            rc = tern_fail(err, TERN_ETIMEOUT,
                           "%s timed out: the server %s too slowly (%zu bytes in %.1f s; "
                           "tern needs %d bytes or the whole reply per %.1f s)",
                           c->ctx->peer, events == POLLIN ? "sends" : "takes our data",
                           c->prog_bytes, (c->prog_waited_ms + (now - start)) / 1000.0,
                           CONN_PROGRESS_MIN, c->timeout_ms / 1000.0);
            break;
        }
        if (c->ctx->p.cancel && *c->ctx->p.cancel) {
            rc = tern_fail(err, TERN_ECANCELED, "%s: canceled", c->ctx->peer);
            break;
        }
        uint64_t end = slow_end; /* never after wait_end */
        if (c->deadline_at && c->deadline_at < end)
            end = c->deadline_at;
        uint64_t slice = end - now;
        if (c->ctx->p.cancel && slice > CONN_CANCEL_SLICE_MS)
            slice = CONN_CANCEL_SLICE_MS;
        struct pollfd pfd = {.fd = c->fd, .events = events};
        int r = poll(&pfd, 1, (int)slice);
        if (r > 0)
            break; /* ready, or error/hangup for recv/send to report */
        if (r < 0 && errno != EINTR) {
            rc = tern_fail(err, TERN_ECONN, "%s: poll failed: %s", c->ctx->peer, strerror(errno));
            break;
        }
    }
    c->prog_waited_ms += now_ms() - start;
    return rc;
}

enum tern_rc conn_send(struct conn *c, const void *buf, size_t n, struct tern_err *err)
{
    const char *p = buf;
    progress_reset(c);
    while (n > 0) {
        if (c->deadline_at && now_ms() >= c->deadline_at)
            return deadline_fail(c, err);
        size_t sent = 0;
        CURLcode rc = curl_easy_send(c->ctx->h, p, n, &sent);
        if (rc == CURLE_AGAIN) {
            enum tern_rc w = wait_io(c, POLLOUT, err);
            if (w != TERN_OK)
                return w;
            continue;
        }
        if (rc != CURLE_OK)
            return tern_fail(err, TERN_ECONN, "%s: connection lost while sending: %s", c->ctx->peer,
                             curl_easy_strerror(rc));
        progress_add(c, sent);
        p += sent;
        n -= sent;
    }
    return TERN_OK;
}

enum tern_rc conn_send_traced(struct conn *c, const char *line, size_t n, struct tern_err *err)
{
    conn_trace_line(c, true, line, n);
    return conn_send(c, line, n, err);
}

/* Get more bytes into rbuf, or find the end of the stream (c->eof, nothing
 * added; still TERN_OK so callers can say what they were reading). Drains
 * what libcurl/GnuTLS hold before waiting on the socket. */
static enum tern_rc fill(struct conn *c, struct tern_err *err)
{
    if (c->rpos == c->rlen)
        c->rpos = c->rlen = 0;
    if (c->rpos > 0 && c->rlen == sizeof c->rbuf) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
    for (;;) {
        if (c->eof)
            return TERN_OK;
        if (c->deadline_at && now_ms() >= c->deadline_at)
            return deadline_fail(c, err);
        size_t got = 0;
        CURLcode rc = curl_easy_recv(c->ctx->h, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen, &got);
        if (rc == CURLE_OK) {
            if (got == 0) {
                c->eof = true;
                return TERN_OK;
            }
            c->rlen += got;
            progress_add(c, got);
            return TERN_OK;
        }
        if (rc != CURLE_AGAIN)
            return tern_fail(err, TERN_ECONN, "%s: connection lost: %s", c->ctx->peer,
                             curl_easy_strerror(rc));
        enum tern_rc w = wait_io(c, POLLIN, err);
        if (w != TERN_OK)
            return w;
    }
}

/* conn_read_line, or with partial: a line longer than max is handed out
 * max bytes at a time (*partial true) instead of being refused. */
static enum tern_rc read_line(struct conn *c, struct tbuf *line, size_t max, bool *partial,
                              struct tern_err *err)
{
    if (max == 0)
        max = CONN_LINE_MAX;
    tbuf_reset(line);
    progress_reset(c);
    if (partial)
        *partial = false;
    for (;;) {
        if (c->rpos < c->rlen) {
            const char *start = c->rbuf + c->rpos;
            size_t avail = c->rlen - c->rpos;
            const char *nl = memchr(start, '\n', avail);
            size_t take = nl ? (size_t)(nl - start) + 1 : avail;
            bool cut = line->len + take > max;
            if (cut && !partial)
                return tern_fail(err, TERN_EPROTO, "%s sent a line longer than %zu bytes",
                                 c->ctx->peer, line->max && line->max < max ? line->max : max);
            if (cut)
                take = max - line->len;
            if (tbuf_append(line, start, take) != TERN_OK)
                return tern_fail(err, TERN_ENOMEM, "out of memory");
            c->rpos += take;
            if (cut) {
                *partial = true;
                return TERN_OK;
            }
            if (nl)
                return TERN_OK;
        }
        if (c->eof)
            return tern_fail(err, TERN_ECONN, "%s closed the connection%s", c->ctx->peer,
                             line->len ? " in the middle of a line" : "");
        enum tern_rc rc = fill(c, err);
        if (rc != TERN_OK)
            return rc;
    }
}

enum tern_rc conn_read_line(struct conn *c, struct tbuf *line, size_t max, struct tern_err *err)
{
    return read_line(c, line, max, NULL, err);
}

enum tern_rc conn_read_line_part(struct conn *c, struct tbuf *line, size_t max, bool *partial,
                                 struct tern_err *err)
{
    return read_line(c, line, max, partial, err);
}

enum tern_rc conn_read_exact(struct conn *c, uint64_t n, conn_sink_fn *sink, void *arg,
                             struct tern_err *err)
{
    progress_reset(c);
    while (n > 0) {
        if (c->rpos == c->rlen) {
            if (c->eof)
                return tern_fail(err, TERN_ECONN,
                                 "%s closed the connection with %llu bytes still to come",
                                 c->ctx->peer, (unsigned long long)n);
            enum tern_rc rc = fill(c, err);
            if (rc != TERN_OK)
                return rc;
            continue;
        }
        size_t avail = c->rlen - c->rpos;
        size_t take = (uint64_t)avail < n ? avail : (size_t)n;
        if (sink) {
            enum tern_rc rc = sink(arg, c->rbuf + c->rpos, take);
            if (rc != TERN_OK)
                return rc;
        }
        c->rpos += take;
        n -= take;
    }
    return TERN_OK;
}
