/*
 * CURLcode -> tern_rc plus the one line a user reads. The code decides what
 * the caller does next (retry, ask for a password, fix the config); the
 * text says what happened in the user's terms and, where there is one,
 * what to change.
 */
#include "private.h"

#include <stdio.h>
#include <string.h>

static const char *mode_hint(enum conn_tls tls)
{
    return tls == CONN_TLS_IMPLICIT
               ? "the port may expect STARTTLS (try tls = starttls, ports 143/110/587)"
               : "the port may expect implicit TLS (try tls = implicit, ports 993/995/465)";
}

/* " (server said: X)" or "" */
static void server_said(char *buf, size_t size, const char *line)
{
    if (line && *line)
        snprintf(buf, size, " (server said: %.200s)", line);
    else
        buf[0] = '\0';
}

enum tern_rc conn_map_failure(const struct conn_failure *f, struct tern_err *err)
{
    const char *host = f->host ? f->host : "?";
    char peer[300];
    snprintf(peer, sizeof peer, "%s%s%s:%u", strchr(host, ':') ? "[" : "", host,
             strchr(host, ':') ? "]" : "", f->port);
    const char *user = f->user ? f->user : "?";
    const char *cmsg = f->curl_msg && *f->curl_msg ? f->curl_msg : "unknown error";
    char said[256];
    server_said(said, sizeof said, f->last_line);

    if (f->smtp_no_auth)
        return tern_fail(err, TERN_ENOTSUP,
                         "%s offers no AUTH (login) after TLS; refusing to go on without "
                         "logging in",
                         peer);

    switch (f->code) {
    case CURLE_LOGIN_DENIED:
        if (!f->auth_sent)
            return tern_fail(err, TERN_ENOTSUP, "%s offers no login method tern uses (SASL %s)%s",
                             peer, f->auth == CONN_AUTH_XOAUTH2 ? "XOAUTH2" : "PLAIN or LOGIN",
                             said);
        if (f->auth == CONN_AUTH_XOAUTH2)
            return tern_fail(err, TERN_EAUTH, "the server refused the OAuth2 token for %s at %s%s",
                             user, peer, said);
        return tern_fail(err, TERN_EAUTH, "the server refused the password for %s at %s%s", user,
                         peer, said);
    case CURLE_USE_SSL_FAILED:
        if (strstr(cmsg, "denied"))
            return tern_fail(err, TERN_ENOTLS,
                             "%s refused STARTTLS%s; refusing to send credentials in clear", peer,
                             said);
        return tern_fail(err, TERN_ENOTLS,
                         "%s does not offer STARTTLS; refusing to send credentials in clear", peer);
    case CURLE_PEER_FAILED_VERIFICATION: {
        const char *why = f->cert_problem;
        if (!why)
            why = strstr(cmsg, "does not match") ? "wrong host: certificate name does not match"
                                                 : cmsg;
        if (f->cert_pin)
            return tern_fail(err, TERN_ETLS,
                             "%s: certificate not trusted: %s; SHA-256 fingerprint %s; if you "
                             "trust it, set ca_file or pin = %s",
                             peer, why, f->cert_fp ? f->cert_fp : "?", f->cert_pin);
        return tern_fail(err, TERN_ETLS,
                         "%s: certificate not trusted: %s; set ca_file or pin = sha256//...", peer,
                         why);
    }
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        return tern_fail(err, TERN_ETLS,
                         "%s: server key changed: pin mismatch (the server now presents %s); "
                         "refusing to connect",
                         peer, f->cert_pin ? f->cert_pin : "another key");
    case CURLE_SSL_CONNECT_ERROR:
        return tern_fail(err, TERN_ETLS, "%s: TLS handshake failed: %s; %s", peer, cmsg,
                         mode_hint(f->tls));
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        return tern_fail(err, TERN_ECONFIG, "%s: cannot use the certificate file: %s", peer, cmsg);
    case CURLE_COULDNT_CONNECT:
        return tern_fail(err, TERN_ECONN, "%s: connection refused or unreachable", peer);
    case CURLE_COULDNT_RESOLVE_HOST:
        return tern_fail(err, TERN_ECONN, "cannot resolve %s", host);
    case CURLE_OPERATION_TIMEDOUT:
        if (!f->last_line && f->tls == CONN_TLS_STARTTLS)
            return tern_fail(err, TERN_ETIMEOUT, "%s timed out waiting for the greeting (%s); %s",
                             peer, cmsg, mode_hint(f->tls));
        return tern_fail(err, TERN_ETIMEOUT, "%s timed out (%s)%s", peer, cmsg, said);
    case CURLE_WEIRD_SERVER_REPLY:
        return tern_fail(err, TERN_EPROTO, "%s sent an unexpected reply: %s%s", peer, cmsg, said);
    case CURLE_ABORTED_BY_CALLBACK:
        return tern_fail(err, TERN_ECANCELED, "%s: canceled", peer);
    case CURLE_OUT_OF_MEMORY:
        return tern_fail(err, TERN_ENOMEM, "out of memory");
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        if (f->code == CURLE_RECV_ERROR && f->tls == CONN_TLS_IMPLICIT && f->last_line == NULL &&
            strstr(cmsg, "TLS"))
            return tern_fail(err, TERN_ETLS, "%s: TLS handshake failed: %s; %s", peer, cmsg,
                             mode_hint(f->tls));
        return tern_fail(err, TERN_ECONN, "%s: connection lost: %s%s", peer, cmsg, said);
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_BAD_FUNCTION_ARGUMENT:
        return tern_fail(err, TERN_EINTERNAL, "%s: %s", peer, cmsg);
    default:
        return tern_fail(err, TERN_ECONN, "%s: %s%s", peer, cmsg, said);
    }
}
