/*
 * Every libcurl handle tern uses is built here, from one option set, so a
 * forgotten option cannot make one code path weaker than the others (see
 * lib.h for the trust and login rules, /work/shared/notes/libcurl-7.88.md
 * for why each option is there).
 */
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SASL mechanisms allowed for passwords: PLAIN first (one round trip with
 * the initial response), LOGIN only when PLAIN is not offered. libcurl
 * tries mechanisms in its own fixed order, in which PLAIN precedes LOGIN. */
#define CONN_PASSWORD_MECHS "AUTH=PLAIN;AUTH=LOGIN"
#define CONN_XOAUTH2_MECHS "AUTH=XOAUTH2"
/* Large enough that a long capability or reply line is never cut
 * (notes 1.4: long lines are mangled with the 16 KB default). */
#define CONN_CURL_BUFFER 65536
#define CONN_PIN_MAX 1024

static const char *const scheme_name[3][2] = {
    [CONN_IMAP] = {"imap", "imaps"},
    [CONN_POP3] = {"pop3", "pop3s"},
    [CONN_SMTP] = {"smtp", "smtps"},
};

unsigned conn_default_port(enum conn_proto proto, enum conn_tls tls)
{
    bool implicit = tls == CONN_TLS_IMPLICIT;
    switch (proto) {
    case CONN_IMAP:
        return implicit ? 993 : 143;
    case CONN_POP3:
        return implicit ? 995 : 110;
    case CONN_SMTP:
        return implicit ? 465 : 587;
    }
    return 0;
}

const char *conn_proto_name(enum conn_proto proto)
{
    switch (proto) {
    case CONN_IMAP:
        return "imap";
    case CONN_POP3:
        return "pop3";
    case CONN_SMTP:
        return "smtp";
    }
    return "?";
}

enum tern_rc conn_global_init(struct tern_err *err)
{
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK)
        return tern_fail(err, TERN_EINTERNAL, "cannot initialise libcurl: %s",
                         curl_easy_strerror(rc));
    return TERN_OK;
}

void conn_global_cleanup(void)
{
    curl_global_cleanup();
}

/* ---- parameter checks ------------------------------------------------ */

static bool host_ok(const char *h)
{
    if (!h || !*h || strlen(h) > 253)
        return false;
    for (const unsigned char *p = (const unsigned char *)h; *p; p++) {
        /* Letters, digits, '.', '-', '_', ':' (IPv6) and UTF-8 (IDN): no
         * byte that could change the meaning of the URL. */
        if (*p >= 0x80 || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_' || *p == ':')
            continue;
        return false;
    }
    return true;
}

static bool ehlo_ok(const char *h)
{
    if (!*h || strlen(h) > 255)
        return false;
    for (const unsigned char *p = (const unsigned char *)h; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '.' || *p == '-' || *p == '_' || *p == ':' || *p == '[' || *p == ']')
            continue;
        return false;
    }
    return true;
}

static bool pin_ok(const char *pin)
{
    /* "sha256//" + 44 base64 characters, ';'-separated. */
    size_t n = strlen(pin);
    if (n == 0 || n > CONN_PIN_MAX)
        return false;
    const char *p = pin;
    for (;;) {
        if (strncmp(p, "sha256//", 8) != 0)
            return false;
        p += 8;
        size_t k = 0;
        while (p[k] && p[k] != ';') {
            char ch = p[k];
            if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= '0' && ch <= '9') || ch == '+' || ch == '/' || ch == '='))
                return false;
            k++;
        }
        if (k != 44)
            return false;
        p += k;
        if (!*p)
            return true;
        p++;
    }
}

enum tern_rc conn_check_params(const struct conn_params *p, struct tern_err *err)
{
    if ((unsigned)p->proto > CONN_SMTP || (unsigned)p->tls > CONN_TLS_IMPLICIT ||
        (unsigned)p->auth > CONN_AUTH_XOAUTH2)
        return tern_fail(err, TERN_EINTERNAL, "bad connection parameters");
    if (!host_ok(p->host))
        return tern_fail(err, TERN_ECONFIG, "invalid server host name");
    if (p->port > 65535)
        return tern_fail(err, TERN_ECONFIG, "invalid port %u", p->port);
    if (p->user) {
        if (!*p->user || tern_has_crlf(p->user, SIZE_MAX) || strlen(p->user) > 1024)
            return tern_fail(err, TERN_ECONFIG, "invalid user name");
        if (!p->secret || !*p->secret)
            return tern_fail(err, TERN_ECONFIG, "no %s for %s",
                             p->auth == CONN_AUTH_XOAUTH2 ? "OAuth2 token" : "password", p->user);
        if (tern_has_crlf(p->secret, SIZE_MAX) || strlen(p->secret) > 16384)
            return tern_fail(err, TERN_ECONFIG, "the %s for %s contains a line break",
                             p->auth == CONN_AUTH_XOAUTH2 ? "OAuth2 token" : "password", p->user);
    }
    if (p->ca_file && (!*p->ca_file || tern_has_crlf(p->ca_file, SIZE_MAX)))
        return tern_fail(err, TERN_ECONFIG, "invalid ca_file");
    if (p->pin && !pin_ok(p->pin))
        return tern_fail(err, TERN_ECONFIG,
                         "invalid pin: want sha256//BASE64 (44 characters), ';'-separated");
    if (p->proto == CONN_SMTP && p->ehlo_name && !ehlo_ok(p->ehlo_name))
        return tern_fail(err, TERN_ECONFIG, "invalid EHLO name");
    return TERN_OK;
}

/* ---- callbacks --------------------------------------------------------- */

const char *conn_ctx_last_line(const struct conn_ctx *ctx)
{
    if (ctx->nlast == 0)
        return NULL;
    return ctx->last[(ctx->nlast - 1) % CONN_LAST_LINES];
}

void conn_ctx_trace(struct conn_ctx *ctx, bool outgoing, const char *line, size_t n)
{
    char shown[CONN_TRACE_LINE_MAX];
    bool show = conn_redact_line(&ctx->red, outgoing, line, n, shown, sizeof shown);
    if (show && ctx->p.trace)
        ctx->p.trace(ctx->p.trace_arg, shown);
}

void conn_ctx_note(struct conn_ctx *ctx, const char *fmt, ...)
{
    if (!ctx->p.trace)
        return;
    char raw[CONN_TRACE_LINE_MAX], line[CONN_TRACE_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    line[0] = '*';
    line[1] = ' ';
    conn_safe_text(line + 2, sizeof line - 2, raw, strlen(raw));
    ctx->p.trace(ctx->p.trace_arg, line);
}

static bool verb_is(const char *s, size_t n, const char *w)
{
    size_t wl = strlen(w);
    return n >= wl && tern_strncasecmp(s, w, wl) == 0 && (n == wl || s[wl] == ' ');
}

/* Learn from a command libcurl sends: whether a login was attempted, and
 * where an SMTP EHLO reply starts. */
static void saw_command(struct conn_ctx *ctx, const char *s, size_t n)
{
    if (ctx->p.proto == CONN_IMAP) {
        const char *sp = memchr(s, ' ', n);
        if (!sp)
            return;
        n -= (size_t)(sp + 1 - s);
        s = sp + 1;
    }
    if (verb_is(s, n, "AUTHENTICATE") || verb_is(s, n, "AUTH") || verb_is(s, n, "LOGIN") ||
        verb_is(s, n, "USER") || verb_is(s, n, "PASS") || verb_is(s, n, "APOP"))
        ctx->auth_sent = true;
    if (verb_is(s, n, "STARTTLS") || verb_is(s, n, "STLS"))
        ctx->starttls_sent = true;
    if (ctx->p.proto == CONN_SMTP && (verb_is(s, n, "EHLO") || verb_is(s, n, "HELO"))) {
        ctx->smtp_in_ehlo = true;
        ctx->smtp_ehlo_auth = false;
    }
}

static int debug_cb(CURL *h, curl_infotype type, char *data, size_t size, void *arg)
{
    (void)h;
    struct conn_ctx *ctx = arg;
    if (type == CURLINFO_TEXT) {
        if (!ctx->p.trace)
            return 0;
        /* libcurl's certificate dump is a PEM block and long hex lines:
         * the summary lines after it say the same in a readable way. */
        const char *end = data + size;
        for (const char *q = data; q < end;) {
            const char *nl = memchr(q, '\n', (size_t)(end - q));
            size_t n = nl ? (size_t)(nl - q) : (size_t)(end - q);
            size_t k = n;
            while (k > 0 && q[k - 1] == '\r')
                k--;
            bool noise = (k >= 10 && memmem(q, k, "-----BEGIN", 10)) || k > 160;
            if (k > 0 && !noise)
                conn_ctx_note(ctx, "%.*s", (int)k, q);
            if (noise && k >= 10 && memmem(q, k, "-----BEGIN", 10))
                break; /* the rest of this chunk is the PEM */
            q += n + (nl ? 1 : 0);
        }
        return 0;
    }
    /* Message data (CURLINFO_DATA_*) and TLS records are never shown. */
    if (type != CURLINFO_HEADER_OUT && type != CURLINFO_HEADER_IN)
        return 0;
    bool out = type == CURLINFO_HEADER_OUT;
    size_t i = 0;
    while (i < size) {
        const char *nl = memchr(data + i, '\n', size - i);
        size_t len = nl ? (size_t)(nl - (data + i)) + 1 : size - i;
        if (out) {
            size_t cl = len;
            while (cl > 0 && (data[i + cl - 1] == '\n' || data[i + cl - 1] == '\r'))
                cl--;
            /* Only a real command line, not SASL responses after a prompt. */
            if (!ctx->red.secret_out && ctx->red.out_literal == 0)
                saw_command(ctx, data + i, cl);
        }
        conn_ctx_trace(ctx, out, data + i, len);
        i += len;
    }
    return 0;
}

static void remember_line(struct conn_ctx *ctx, const char *s, size_t n)
{
    conn_safe_text(ctx->last[ctx->nlast % CONN_LAST_LINES], CONN_LAST_LINE_MAX, s, n);
    ctx->nlast++;
}

static size_t header_cb(char *data, size_t size, size_t nitems, void *arg)
{
    struct conn_ctx *ctx = arg;
    size_t total = size * nitems;
    size_t n = total;
    while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r'))
        n--;
    remember_line(ctx, data, n);
    if (ctx->keep_transcript) {
        /* Past the ceiling the transcript just stops growing: it feeds
         * capability parsing, which needs the early lines. */
        if (ctx->transcript.len + n + 2 <= CONN_TRANSCRIPT_MAX) {
            if (tbuf_append(&ctx->transcript, data, n) != TERN_OK ||
                tbuf_append(&ctx->transcript, "\r\n", 2) != TERN_OK)
                return 0;
        }
    }
    if (ctx->p.on_line) {
        char line[CONN_LAST_LINE_MAX * 4];
        size_t k = n < sizeof line - 1 ? n : sizeof line - 1;
        memcpy(line, data, k);
        line[k] = '\0';
        ctx->p.on_line(ctx->p.line_arg, line, k);
    }
    if (ctx->p.proto == CONN_SMTP && ctx->smtp_in_ehlo && n >= 4 && memcmp(data, "250", 3) == 0) {
        if (n >= 8 && tern_strncasecmp(data + 4, "AUTH", 4) == 0 &&
            (n == 8 || data[8] == ' ' || data[8] == '='))
            ctx->smtp_ehlo_auth = true;
        if (data[3] == ' ') {
            ctx->smtp_in_ehlo = false;
            bool tls_up = ctx->p.tls == CONN_TLS_IMPLICIT || ctx->starttls_sent;
            /* libcurl would go on without logging in; stop here so the
             * caller never submits mail unauthenticated by accident. */
            if (tls_up && ctx->p.user && !ctx->smtp_ehlo_auth) {
                ctx->smtp_no_auth = true;
                return 0;
            }
        }
    }
    return total;
}

static int xferinfo_cb(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    struct conn_ctx *ctx = arg;
    return ctx->p.cancel && *ctx->p.cancel ? 1 : 0;
}

/* ---- building the handle ----------------------------------------------- */

static unsigned ms_from(unsigned ms, unsigned s, unsigned dflt_ms)
{
    if (ms)
        return ms;
    if (s)
        return s > UINT32_MAX / 1000 ? UINT32_MAX : s * 1000;
    return dflt_ms;
}

#define SET(opt, val)                                                                              \
    do {                                                                                           \
        CURLcode set_rc_ = curl_easy_setopt(h, opt, val);                                          \
        if (set_rc_ != CURLE_OK) {                                                                 \
            tern_fail(err, set_rc_ == CURLE_OUT_OF_MEMORY ? TERN_ENOMEM : TERN_EINTERNAL,          \
                      "libcurl refused option %s: %s", #opt, curl_easy_strerror(set_rc_));         \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

struct conn_ctx *conn_ctx_new(const struct conn_params *p, struct tern_err *err)
{
    if (conn_check_params(p, err) != TERN_OK)
        return NULL;
    struct conn_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        tern_fail(err, TERN_ENOMEM, "out of memory");
        return NULL;
    }
    ctx->p = *p;
    tbuf_init(&ctx->transcript, CONN_TRANSCRIPT_MAX + 1);
    conn_redact_init(&ctx->red, p->proto);
    ctx->port = p->port ? p->port : conn_default_port(p->proto, p->tls);
    ctx->timeout_ms = ms_from(p->timeout_ms, p->timeout_s, CONN_DEFAULT_TIMEOUT_S * 1000);
    ctx->deadline_ms = ms_from(p->deadline_ms, p->deadline_s, 0);
    ctx->host = tern_strdup(p->host);
    ctx->user = p->user ? tern_strdup(p->user) : NULL;
    ctx->ca_file = p->ca_file ? tern_strdup(p->ca_file) : NULL;
    bool v6 = strchr(p->host, ':') != NULL;
    const char *scheme = scheme_name[p->proto][p->tls == CONN_TLS_IMPLICIT];
    struct tbuf url;
    tbuf_init(&url, 1024);
    if (!ctx->host || (p->user && !ctx->user) || (p->ca_file && !ctx->ca_file) ||
        tbuf_printf(&url, "%s://%s%s%s:%u/", scheme, v6 ? "[" : "", p->host, v6 ? "]" : "",
                    ctx->port) != TERN_OK) {
        tbuf_free(&url);
        tern_fail(err, TERN_ENOMEM, "out of memory");
        conn_ctx_free(&ctx);
        return NULL;
    }
    ctx->scheme_host_port = tbuf_steal(&url);
    ctx->p.host = ctx->host;
    ctx->p.user = ctx->user;
    ctx->p.ca_file = ctx->ca_file;
    ctx->p.secret = NULL; /* libcurl keeps its own copy */
    ctx->p.pin = NULL;
    ctx->p.ehlo_name = NULL;
    ctx->p.cert_out = p->cert_out;
    tern_snprintf(ctx->peer, sizeof ctx->peer, "%s%s%s:%u", v6 ? "[" : "", p->host, v6 ? "]" : "",
                  ctx->port);

    CURL *h = curl_easy_init();
    if (!h) {
        tern_fail(err, TERN_ENOMEM, "cannot create a libcurl handle");
        conn_ctx_free(&ctx);
        return NULL;
    }
    ctx->h = h;
    SET(CURLOPT_PRIVATE, ctx);
    SET(CURLOPT_ERRORBUFFER, ctx->errbuf);
    char url_full[1400];
    if (!tern_snprintf(url_full, sizeof url_full, "%s%s", ctx->scheme_host_port,
                       p->proto == CONN_SMTP ? (p->ehlo_name ? p->ehlo_name : "localhost") : "")) {
        tern_fail(err, TERN_ECONFIG, "server address too long");
        goto fail;
    }
    SET(CURLOPT_URL, url_full);
    /* One protocol pair only: a URL can never switch this handle to
     * another protocol, and there are no redirects to follow. */
    char protos[32];
    tern_snprintf(protos, sizeof protos, "%s,%s", scheme_name[p->proto][0],
                  scheme_name[p->proto][1]);
    SET(CURLOPT_PROTOCOLS_STR, protos);
    SET(CURLOPT_REDIR_PROTOCOLS_STR, protos);
    SET(CURLOPT_FOLLOWLOCATION, 0L);

    /* TLS is never optional (CVE-2021-22946 class: TRY would send the
     * password in clear when STARTTLS is missing). */
    SET(CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (p->pin && !p->ca_file) {
        /* Pin alone is the trust decision (see lib.h). */
        SET(CURLOPT_SSL_VERIFYPEER, 0L);
        SET(CURLOPT_SSL_VERIFYHOST, 0L);
    } else {
        SET(CURLOPT_SSL_VERIFYPEER, 1L);
        SET(CURLOPT_SSL_VERIFYHOST, 2L);
    }
    if (p->ca_file) {
        SET(CURLOPT_CAINFO, p->ca_file);
        SET(CURLOPT_CAPATH, (char *)NULL); /* the file is the only anchor */
    }
    if (p->pin)
        SET(CURLOPT_PINNEDPUBLICKEY, p->pin);
    SET(CURLOPT_CERTINFO, 1L);

    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)ctx->timeout_ms);
    long tsec = (long)((ctx->timeout_ms + 999) / 1000);
    SET(CURLOPT_SERVER_RESPONSE_TIMEOUT, tsec);
    SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
    SET(CURLOPT_LOW_SPEED_TIME, tsec);
    if (ctx->deadline_ms)
        SET(CURLOPT_TIMEOUT_MS, (long)ctx->deadline_ms);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_TCP_KEEPIDLE, 60L);
    SET(CURLOPT_TCP_KEEPINTVL, 30L);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_BUFFERSIZE, (long)CONN_CURL_BUFFER);

    if (p->user) {
        SET(CURLOPT_USERNAME, p->user);
        /* One round trip for the login. IMAP forbids an initial response
         * unless the server announces SASL-IR (RFC 4959), and libcurl then
         * sends one by itself; POP3 and SMTP always allow it. */
        SET(CURLOPT_SASL_IR, p->proto == CONN_IMAP ? 0L : 1L);
        if (p->auth == CONN_AUTH_XOAUTH2) {
            SET(CURLOPT_LOGIN_OPTIONS, CONN_XOAUTH2_MECHS);
            SET(CURLOPT_XOAUTH2_BEARER, p->secret);
        } else {
            SET(CURLOPT_LOGIN_OPTIONS, CONN_PASSWORD_MECHS);
            SET(CURLOPT_PASSWORD, p->secret);
        }
    } else {
        /* No login: keep libcurl from trying EXTERNAL or anything else. */
        SET(CURLOPT_LOGIN_OPTIONS, CONN_PASSWORD_MECHS);
    }

    SET(CURLOPT_HEADERFUNCTION, header_cb);
    SET(CURLOPT_HEADERDATA, ctx);
    /* Always on: the debug callback also tells whether a login was sent
     * and where SMTP EHLO replies begin; it prints only with a trace. */
    SET(CURLOPT_DEBUGFUNCTION, debug_cb);
    SET(CURLOPT_DEBUGDATA, ctx);
    SET(CURLOPT_VERBOSE, 1L);
    if (p->cancel) {
        SET(CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
        SET(CURLOPT_XFERINFODATA, ctx);
        SET(CURLOPT_NOPROGRESS, 0L);
    }
    return ctx;
fail:
    conn_ctx_free(&ctx);
    return NULL;
}

void conn_ctx_free(struct conn_ctx **pctx)
{
    if (!pctx || !*pctx)
        return;
    struct conn_ctx *ctx = *pctx;
    if (ctx->h)
        curl_easy_cleanup(ctx->h);
    free(ctx->host);
    free(ctx->user);
    free(ctx->ca_file);
    free(ctx->scheme_host_port);
    tbuf_free(&ctx->transcript);
    free(ctx);
    *pctx = NULL;
}

enum tern_rc conn_ctx_fail(struct conn_ctx *ctx, CURLcode code, struct tern_err *err)
{
    struct conn_cert_info ci = {0};
    bool have_cert = false;
    bool tls_fail =
        code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_PINNEDPUBKEYNOTMATCH;
    if (tls_fail || ctx->p.cert_out)
        have_cert = conn_cert_from_handle(ctx->h, code == CURLE_PEER_FAILED_VERIFICATION,
                                          ctx->ca_file, ctx->host, &ci) == TERN_OK;
    struct conn_failure f = {
        .code = (int)code,
        .proto = ctx->p.proto,
        .tls = ctx->p.tls,
        .auth = ctx->p.auth,
        .host = ctx->host,
        .port = ctx->port,
        .user = ctx->user,
        .curl_msg = ctx->errbuf[0] ? ctx->errbuf : curl_easy_strerror(code),
        .last_line = conn_ctx_last_line(ctx),
        .cert_problem = have_cert ? ci.problem : NULL,
        .cert_fp = have_cert ? ci.sha256_fp : NULL,
        .cert_pin = have_cert ? ci.pin : NULL,
        .auth_sent = ctx->auth_sent,
        .smtp_no_auth = ctx->smtp_no_auth,
        .timeout_ms = ctx->timeout_ms,
        .deadline_ms = ctx->deadline_ms,
    };
    enum tern_rc rc = conn_map_failure(&f, err);
    if (have_cert && ctx->p.cert_out) {
        conn_cert_info_free(ctx->p.cert_out);
        *ctx->p.cert_out = ci;
    } else {
        conn_cert_info_free(&ci);
    }
    return rc;
}

/* ---- request-style handles --------------------------------------------- */

void *conn_handle_new(const struct conn_params *p, struct tern_err *err)
{
    struct conn_ctx *ctx = conn_ctx_new(p, err);
    return ctx ? ctx->h : NULL;
}

static struct conn_ctx *ctx_of(void *handle)
{
    char *priv = NULL;
    if (!handle || curl_easy_getinfo(handle, CURLINFO_PRIVATE, &priv) != CURLE_OK)
        return NULL;
    return (struct conn_ctx *)(void *)priv;
}

void conn_handle_free(void **handle)
{
    if (!handle || !*handle)
        return;
    struct conn_ctx *ctx = ctx_of(*handle);
    if (ctx)
        conn_ctx_free(&ctx);
    else
        curl_easy_cleanup(*handle);
    *handle = NULL;
}

enum tern_rc conn_handle_set_path(void *handle, const char *path, struct tern_err *err)
{
    struct conn_ctx *ctx = ctx_of(handle);
    if (!ctx)
        return tern_fail(err, TERN_EINTERNAL, "not a tern connection handle");
    for (const unsigned char *q = (const unsigned char *)path; *q; q++)
        if (*q <= 0x20 || *q == 0x7f || *q == '?' || *q == '#')
            return tern_fail(err, TERN_EINTERNAL, "invalid URL path");
    struct tbuf url;
    tbuf_init(&url, 4096);
    if (tbuf_printf(&url, "%s%s", ctx->scheme_host_port, path) != TERN_OK) {
        tbuf_free(&url);
        return tern_fail(err, TERN_EINTERNAL, "URL path too long");
    }
    CURLcode rc = curl_easy_setopt(ctx->h, CURLOPT_URL, url.data);
    tbuf_free(&url);
    if (rc != CURLE_OK)
        return tern_fail(err, TERN_ENOMEM, "cannot set URL: %s", curl_easy_strerror(rc));
    return TERN_OK;
}

enum tern_rc conn_handle_fail(void *handle, int curlcode, struct tern_err *err)
{
    struct conn_ctx *ctx = ctx_of(handle);
    if (!ctx)
        return tern_fail(err, TERN_EINTERNAL, "not a tern connection handle");
    if (curlcode == CURLE_OK) {
        if (ctx->p.cert_out) {
            conn_cert_info_free(ctx->p.cert_out);
            conn_cert_from_handle(ctx->h, false, NULL, NULL, ctx->p.cert_out);
        }
        if (ctx->user && !ctx->auth_sent)
            return tern_fail(err, TERN_ENOTSUP,
                             "%s offers no login method tern uses; refusing to go on "
                             "without logging in",
                             ctx->peer);
        return TERN_OK;
    }
    return conn_ctx_fail(ctx, (CURLcode)curlcode, err);
}

enum tern_rc conn_handle_cert_info(void *handle, struct conn_cert_info *out, struct tern_err *err)
{
    struct conn_ctx *ctx = ctx_of(handle);
    if (!ctx)
        return tern_fail(err, TERN_EINTERNAL, "not a tern connection handle");
    enum tern_rc rc = conn_cert_from_handle(ctx->h, true, ctx->ca_file, ctx->host, out);
    if (rc == TERN_ENOTFOUND)
        return tern_fail(err, rc, "%s presented no certificate", ctx->peer);
    if (rc != TERN_OK)
        return tern_fail(err, rc, "cannot read the certificate of %s", ctx->peer);
    return TERN_OK;
}
