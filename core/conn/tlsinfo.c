/*
 * Certificate facts for error messages and trust-on-first-use, from the
 * PEM copies libcurl keeps in CURLINFO_CERTINFO. libcurl gathers them
 * before it verifies the chain, so they exist after a verification failure
 * too, which is exactly when the user needs them. libcurl's GnuTLS backend
 * says only "verification failed", so the reason is worked out here again
 * with the same trust anchors.
 */
#include "private.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A server could send a long chain; only this many are looked at. */
#define CONN_CHAIN_MAX 8

void conn_cert_info_free(struct conn_cert_info *ci)
{
    if (!ci)
        return;
    free(ci->subject);
    free(ci->issuer);
    free(ci->not_before);
    free(ci->not_after);
    free(ci->sha256_fp);
    free(ci->pin);
    free(ci->problem);
    memset(ci, 0, sizeof *ci);
}

static char *fmt_time(time_t t)
{
    struct tm tm;
    char buf[64];
    if (t == (time_t)-1 || !gmtime_r(&t, &tm))
        return NULL;
    if (strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        return NULL;
    return tern_strdup(buf);
}

static char *datum_str(gnutls_datum_t *d)
{
    char *s = tern_strndup((const char *)d->data, d->size);
    gnutls_free(d->data);
    d->data = NULL;
    return s;
}

static char *b64(const unsigned char *p, size_t n)
{
    size_t olen = 4 * ((n + 2) / 3);
    char *out = malloc(olen + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3, o += 4)
        tern_base64_quantum(p + i, n - i, out + o);
    out[o] = '\0';
    return out;
}

/* Up to three names the certificate is for, for "is for X, not Y". */
static void cert_names(gnutls_x509_crt_t crt, char *out, size_t outsz)
{
    size_t len = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < 3; i++) {
        char name[256];
        size_t nsz = sizeof name - 1;
        unsigned critical;
        int t = gnutls_x509_crt_get_subject_alt_name(crt, i, name, &nsz, &critical);
        if (t < 0)
            break;
        if (t == GNUTLS_SAN_IPADDRESS) {
            unsigned char raw[16];
            if (nsz != 4 && nsz != 16)
                continue;
            memcpy(raw, name, nsz);
            if (!inet_ntop(nsz == 4 ? AF_INET : AF_INET6, raw, name, sizeof name))
                continue;
        } else if (t == GNUTLS_SAN_DNSNAME) {
            name[nsz] = '\0';
        } else {
            continue;
        }
        int w = snprintf(out + len, outsz - len, "%s%s", len ? ", " : "", name);
        if (w < 0 || (size_t)w >= outsz - len)
            break;
        len += (size_t)w;
    }
    if (len == 0) {
        char cn[256];
        size_t cnsz = sizeof cn;
        if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &cnsz) == 0)
            tern_snprintf(out, outsz, "%s", cn);
        else
            tern_snprintf(out, outsz, "no name");
    }
}

static void add_problem(char *buf, size_t size, const char *what)
{
    size_t len = strlen(buf);
    snprintf(buf + len, size - len, "%s%s", len ? "; " : "", what);
}

/* Why the chain does not verify, or NULL when it does. */
static char *verify_problem(gnutls_x509_crt_t *chain, unsigned n, const char *ca_file,
                            const char *host, const struct conn_cert_info *ci)
{
    gnutls_x509_trust_list_t tl;
    if (gnutls_x509_trust_list_init(&tl, 0) < 0)
        return NULL;
    int added = ca_file ? gnutls_x509_trust_list_add_trust_file(tl, ca_file, NULL,
                                                                GNUTLS_X509_FMT_PEM, 0, 0)
                        : gnutls_x509_trust_list_add_system_trust(tl, 0, 0);
    char buf[512] = "";
    if (added < 0) {
        tern_snprintf(buf, sizeof buf, "cannot load the trust anchors%s%s", ca_file ? " from " : "",
                      ca_file ? ca_file : "");
        gnutls_x509_trust_list_deinit(tl, 0);
        return tern_strdup(buf);
    }
    gnutls_typed_vdata_st vdata = {
        .type = GNUTLS_DT_DNS_HOSTNAME, .data = (unsigned char *)host, .size = 0};
    unsigned status = 0;
    int rc = gnutls_x509_trust_list_verify_crt2(tl, chain, n, host ? &vdata : NULL, host ? 1 : 0, 0,
                                                &status, NULL);
    gnutls_x509_trust_list_deinit(tl, 1);
    if (rc < 0)
        return tern_strdup("the certificate could not be checked");
    if (status == 0)
        return NULL;
    if (status & GNUTLS_CERT_UNEXPECTED_OWNER) {
        char names[300], what[400];
        cert_names(chain[0], names, sizeof names);
        tern_snprintf(what, sizeof what, "wrong host: certificate is for %s, not %s", names,
                      host ? host : "?");
        add_problem(buf, sizeof buf, what);
    }
    if (status & GNUTLS_CERT_EXPIRED) {
        char what[128];
        tern_snprintf(what, sizeof what, "certificate expired on %s",
                      ci->not_after ? ci->not_after : "?");
        add_problem(buf, sizeof buf, what);
    }
    if (status & GNUTLS_CERT_NOT_ACTIVATED) {
        char what[128];
        tern_snprintf(what, sizeof what, "certificate not valid before %s",
                      ci->not_before ? ci->not_before : "?");
        add_problem(buf, sizeof buf, what);
    }
    if (status & GNUTLS_CERT_SIGNER_NOT_FOUND) {
        if (n == 1 && gnutls_x509_crt_check_issuer(chain[0], chain[0]))
            add_problem(buf, sizeof buf, "self-signed certificate");
        else
            add_problem(buf, sizeof buf, "issued by an unknown CA");
    }
    if (status & GNUTLS_CERT_REVOKED)
        add_problem(buf, sizeof buf, "certificate revoked");
    if (status & GNUTLS_CERT_INSECURE_ALGORITHM)
        add_problem(buf, sizeof buf, "insecure signature algorithm");
    if (buf[0] == '\0') {
        gnutls_datum_t out = {0};
        if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) == 0)
            return datum_str(&out);
        return tern_strdup("certificate not trusted");
    }
    return tern_strdup(buf);
}

static enum tern_rc leaf_facts(gnutls_x509_crt_t crt, struct conn_cert_info *ci)
{
    gnutls_datum_t d = {0};
    if (gnutls_x509_crt_get_dn3(crt, &d, 0) == 0)
        ci->subject = datum_str(&d);
    if (gnutls_x509_crt_get_issuer_dn3(crt, &d, 0) == 0)
        ci->issuer = datum_str(&d);
    ci->not_before = fmt_time(gnutls_x509_crt_get_activation_time(crt));
    ci->not_after = fmt_time(gnutls_x509_crt_get_expiration_time(crt));

    unsigned char dig[64];
    size_t dsz = sizeof dig;
    if (gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, dig, &dsz) == 0 && dsz <= 32) {
        char hex[32 * 3 + 1];
        size_t o = 0;
        for (size_t i = 0; i < dsz; i++)
            o += (size_t)snprintf(hex + o, sizeof hex - o, "%s%02X", i ? ":" : "", dig[i]);
        ci->sha256_fp = tern_strdup(hex);
    }
    dsz = sizeof dig;
    /* The SHA-256 of the SubjectPublicKeyInfo: what CURLOPT_PINNEDPUBLICKEY
     * compares against. */
    if (gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, dig, &dsz) == 0) {
        char *enc = b64(dig, dsz);
        if (enc) {
            size_t plen = strlen(enc) + 9;
            ci->pin = malloc(plen);
            if (ci->pin)
                snprintf(ci->pin, plen, "sha256//%s", enc);
            free(enc);
        }
    }
    return ci->sha256_fp ? TERN_OK : TERN_ENOMEM;
}

enum tern_rc conn_cert_from_pems(const char *const *pems, size_t npems, bool verify,
                                 const char *ca_file, const char *host, struct conn_cert_info *ci)
{
    memset(ci, 0, sizeof *ci);
    gnutls_x509_crt_t chain[CONN_CHAIN_MAX];
    unsigned n = 0;
    for (size_t i = 0; i < npems && n < CONN_CHAIN_MAX; i++) {
        gnutls_datum_t d = {.data = (unsigned char *)pems[i], .size = (unsigned)strlen(pems[i])};
        if (gnutls_x509_crt_init(&chain[n]) < 0)
            break;
        if (gnutls_x509_crt_import(chain[n], &d, GNUTLS_X509_FMT_PEM) < 0) {
            gnutls_x509_crt_deinit(chain[n]);
            if (n == 0)
                return TERN_ENOTFOUND; /* no usable leaf */
            break;
        }
        n++;
    }
    if (n == 0)
        return TERN_ENOTFOUND;
    enum tern_rc rc = leaf_facts(chain[0], ci);
    if (rc == TERN_OK && verify)
        ci->problem = verify_problem(chain, n, ca_file, host, ci);
    for (unsigned i = 0; i < n; i++)
        gnutls_x509_crt_deinit(chain[i]);
    return rc;
}

enum tern_rc conn_cert_from_handle(CURL *h, bool verify, const char *ca_file, const char *host,
                                   struct conn_cert_info *ci)
{
    struct curl_certinfo *info = NULL;
    memset(ci, 0, sizeof *ci);
    if (curl_easy_getinfo(h, CURLINFO_CERTINFO, &info) != CURLE_OK || !info ||
        info->num_of_certs <= 0)
        return TERN_ENOTFOUND;
    const char *pems[CONN_CHAIN_MAX];
    size_t n = 0;
    for (int i = 0; i < info->num_of_certs && n < CONN_CHAIN_MAX; i++) {
        const char *pem = NULL;
        for (struct curl_slist *s = info->certinfo[i]; s; s = s->next)
            if (strncmp(s->data, "Cert:", 5) == 0)
                pem = s->data + 5;
        if (!pem)
            break;
        pems[n++] = pem;
    }
    return conn_cert_from_pems(pems, n, verify, ca_file, host, ci);
}
