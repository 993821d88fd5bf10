#define OPENSSL_SUPPRESS_DEPRECATED 1   /* EVP_PKEY_set1_EC_KEY: see tls_client_done */
#include "tls.h"
#include "log.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <openssl/ec.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

const char *tls_error(char *buf, size_t cap)
{
    unsigned long e = ERR_get_error();
    if (!e) snprintf(buf, cap, "unknown TLS error");
    else ERR_error_string_n(e, buf, cap);
    ERR_clear_error();
    return buf;
}

static void common_setup(SSL_CTX *ctx)
{
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    /* One read(2) takes what the socket holds, several records at a time,
     * instead of a 5-byte header read and a body read per record. */
    SSL_CTX_set_read_ahead(ctx, 1);
    /* AES-128-GCM first, as Go's TLS (anytls-go, sing-box) orders it with AES
     * hardware: ~8% faster than AES-256-GCM here, and the same choice a Go peer
     * would make. ChaCha20 for peers without AES instructions. */
    SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384");
}

static int self_signed(SSL_CTX *ctx, char *err, size_t errcap)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (!pk || !x) goto fail;
    X509_set_version(x, 2);
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof serial) != 1) goto fail;
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600);
    X509_NAME *nm = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"anytls", -1, -1, 0);
    X509_set_issuer_name(x, nm);
    X509_set_pubkey(x, pk);
    if (!X509_sign(x, pk, EVP_sha256())) goto fail;
    if (SSL_CTX_use_certificate(ctx, x) != 1 || SSL_CTX_use_PrivateKey(ctx, pk) != 1) goto fail;
    unsigned char md[32];
    unsigned int mdlen = 0;
    X509_digest(x, EVP_sha256(), md, &mdlen);
    char hex[65];
    for (unsigned i = 0; i < mdlen && i < 32; i++) sprintf(hex + 2 * i, "%02x", md[i]);
    log_info("TLS: no --cert/--key given, generated a self-signed certificate (sha256 %s)", hex);
    X509_free(x);
    EVP_PKEY_free(pk);
    return 0;
fail:
    tls_error(err, errcap);
    X509_free(x);
    EVP_PKEY_free(pk);
    return -1;
}

SSL_CTX *tls_server_ctx(const char *cert, const char *key, char *err, size_t errcap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) { tls_error(err, errcap); return NULL; }
    common_setup(ctx);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    if (cert && key) {
        char e[256];
        if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
            snprintf(err, errcap, "cannot load certificate %s: %s", cert, tls_error(e, sizeof e));
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            snprintf(err, errcap, "cannot load key %s: %s", key, tls_error(e, sizeof e));
            goto fail;
        }
    } else if (self_signed(ctx, err, errcap) < 0) {
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

void tls_server_tickets(SSL_CTX *ctx, int n)
{
    SSL_CTX_set_num_tickets(ctx, (size_t)n);
}

/* The client resumes TLS with the newest ticket it got. Written by any worker
 * thread from OpenSSL's new-session callback, read when a connection starts:
 * guarded by its own mutex. */
static pthread_mutex_t sess_mu = PTHREAD_MUTEX_INITIALIZER;
static SSL_SESSION *last_session;

static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    pthread_mutex_lock(&sess_mu);
    if (last_session) SSL_SESSION_free(last_session);
    last_session = sess;
    pthread_mutex_unlock(&sess_mu);
    return 1; /* we keep the reference */
}

/* Without --ca the client does not verify (SSL_VERIFY_NONE ignores the
 * result), yet OpenSSL would still run X509_verify_cert on every handshake,
 * building a chain that fails and keeping it on the SSL (verified_chain).
 * This callback stands in for it: accepted, nothing built or kept. */
static int accept_unverified(X509_STORE_CTX *xs, void *arg)
{
    (void)xs; (void)arg;
    return 1;
}

SSL_CTX *tls_client_ctx(const char *ca, char *err, size_t errcap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) { tls_error(err, errcap); return NULL; }
    common_setup(ctx);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    if (ca) {
        char e[256];
        if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
            snprintf(err, errcap, "cannot load CA file %s: %s", ca, tls_error(e, sizeof e));
            SSL_CTX_free(ctx);
            return NULL;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        SSL_CTX_set_cert_verify_callback(ctx, accept_unverified, NULL);
    }
    return ctx;
}

static int is_ip_literal(const char *s)
{
    unsigned char b[16];
    return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

void tls_client_prepare(SSL_CTX *ctx, SSL *ssl, const char *sni, const char *verify_name)
{
    /* As the reference: SNI only for a name, never for an IP literal. */
    if (sni && *sni && !is_ip_literal(sni)) SSL_set_tlsext_host_name(ssl, sni);
    if (SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER) {
        const char *n = (sni && *sni) ? sni : verify_name;
        if (is_ip_literal(n)) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), n);
        else SSL_set1_host(ssl, n);
    }
    pthread_mutex_lock(&sess_mu);
    if (last_session && SSL_SESSION_is_resumable(last_session)) SSL_set_session(ssl, last_session);
    pthread_mutex_unlock(&sess_mu);
}

/* After a full handshake the client has no use for the server's public key:
 * it checked the CertificateVerify signature with it (and the chain, with
 * --ca), and nothing later reads it (TLS 1.3 key updates do not; TLS 1.2
 * renegotiation is off; resumption does not send a certificate). OpenSSL 3
 * decodes that key when it parses the certificate and keeps it, with a copy
 * of the curve's group, until SSL_free: ~1.8 KB of the client's ~18.3 KB per
 * held connection. No API frees a session's peer certificate, but
 * X509_set_pubkey swaps its key: the decoded one is freed and one stand-in
 * key (made once, shared, reference-counted) takes its place. Only after a
 * full handshake: the certificate was parsed for this connection alone. A
 * resumed session's certificate is shared with the ticket's session and with
 * other connections (on other workers): left alone. The stand-in is a legacy
 * EVP_PKEY so that X509_set_pubkey encodes it directly rather than through
 * OpenSSL 3's encoder lookup: client CPU per new session (with its stream)
 * measured unchanged, 830-950 us against 900-990 us before, 4 runs each. */
static pthread_once_t stand_in_once = PTHREAD_ONCE_INIT;
static EVP_PKEY *stand_in;

static void stand_in_make(void)
{
    EC_KEY *k = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
    EVP_PKEY *p = EVP_PKEY_new();
    if (k && p && EC_KEY_generate_key(k) == 1 && EVP_PKEY_set1_EC_KEY(p, k) == 1) {
        stand_in = p;
        p = NULL;
    }
    EC_KEY_free(k);
    EVP_PKEY_free(p);
    ERR_clear_error();
}

void tls_client_done(SSL *ssl)
{
    if (SSL_session_reused(ssl)) {   /* the certificate came with the resumed session: shared */
        log_debug("TLS session resumed");
        return;
    }
    X509 *peer = (X509 *)SSL_get0_peer_certificate(ssl);
    if (!peer) return;
    pthread_once(&stand_in_once, stand_in_make);
    if (stand_in && X509_set_pubkey(peer, stand_in) != 1) ERR_clear_error();
}
