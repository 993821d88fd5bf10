/* tls.h -- OpenSSL contexts for both ends. Non-blocking use throughout; buffers
 * released while idle (SSL_MODE_RELEASE_BUFFERS) so an idle session costs a few KB. */
#ifndef TLS_H
#define TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

/* cert/key files, or both NULL for a fresh self-signed P-256 certificate
 * (logged with its SHA-256 fingerprint). NULL with a message in err on failure. */
SSL_CTX *tls_server_ctx(const char *cert, const char *key, char *err, size_t errcap);
/* TLS 1.3 session tickets sent after each handshake (resumption for clients that
 * reconnect). Each one costs the receiving client about 13 KB for the life of the
 * connection (OpenSSL keeps its handshake buffer after a post-handshake message),
 * and AnyTLS clients reuse sessions instead of reconnecting: the server default is 0. */
void tls_server_tickets(SSL_CTX *ctx, int n);
/* ca NULL: no verification (as the reference client). Otherwise the server
 * certificate must chain to ca and match sni (or the host when sni is empty).
 * Keeps the latest session ticket so new connections resume. */
SSL_CTX *tls_client_ctx(const char *ca, char *err, size_t errcap);
/* Attaches the resumable session (if any) and SNI / verification name to ssl. */
void tls_client_prepare(SSL_CTX *ctx, SSL *ssl, const char *sni, const char *verify_name);
/* Right after a client handshake succeeded: frees what the connection no
 * longer needs (the server's decoded public key; see tls.c). */
void tls_client_done(SSL *ssl);
/* The last OpenSSL error as text (for logs). */
const char *tls_error(char *buf, size_t cap);

#endif
