#include "tconn.h"
#include "tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int tconn_init(tconn_t *c, loop_t *l, int fd, SSL *ssl, io_cb_t cb, void *ud)
{
    memset(c, 0, sizeof *c);
    c->ssl = ssl;
    SSL_set_fd(ssl, fd);
    return loop_add(l, &c->io, fd, EPOLLIN, cb, ud);
}

void tconn_close(loop_t *l, tconn_t *c)
{
    int fd = c->io.fd;
    loop_del(l, &c->io);
    if (c->ssl) {
        if (c->hs_done && !c->failed) {
            SSL_set_quiet_shutdown(c->ssl, 0);
            SSL_shutdown(c->ssl); /* best effort close_notify; never waits */
        }
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    ERR_clear_error();
    if (fd >= 0) close(fd);
    bq_free(&c->out);
}

void tconn_update(loop_t *l, tconn_t *c)
{
    uint32_t ev = 0;
    if (!c->read_paused || !c->hs_done) ev |= EPOLLIN;
    if (c->out.len || c->read_wants_w || c->hs_wants_w) ev |= EPOLLOUT;
    loop_mod(l, &c->io, ev);
}

static void describe(SSL *ssl, int r, int e, char *err, size_t cap)
{
    if (e == SSL_ERROR_ZERO_RETURN) snprintf(err, cap, "closed by peer");
    else if (e == SSL_ERROR_SYSCALL)
        snprintf(err, cap, "%s", (r == 0 || errno == 0) ? "connection closed" : strerror(errno));
    else tls_error(err, cap);
}

int tconn_handshake(loop_t *l, tconn_t *c, char *err, size_t errcap)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    c->hs_wants_w = 0;
    if (r == 1) {
        c->hs_done = 1;
        tconn_update(l, c);
        return 1;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        c->hs_wants_w = e == SSL_ERROR_WANT_WRITE;
        tconn_update(l, c);
        return 0;
    }
    describe(c->ssl, r, e, err, errcap);
    c->failed = 1;
    return -1;
}

int tconn_read(loop_t *l, tconn_t *c, void *buf, size_t cap, char *err, size_t errcap)
{
    ERR_clear_error();
    int r = SSL_read(c->ssl, buf, (int)cap);
    if (r > 0) {
        if (c->read_wants_w) { c->read_wants_w = 0; tconn_update(l, c); }
        return r;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) return 0;
    if (e == SSL_ERROR_WANT_WRITE) {
        c->read_wants_w = 1;
        tconn_update(l, c);
        return 0;
    }
    describe(c->ssl, r, e, err, errcap);
    if (e != SSL_ERROR_ZERO_RETURN) c->failed = 1;
    return -1;
}

/* Writes from p as far as OpenSSL takes it; returns bytes written or -1. */
static ssize_t write_some(tconn_t *c, const void *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ERR_clear_error();
        int r = SSL_write(c->ssl, (const uint8_t *)p + done, (int)(n - done));
        if (r > 0) { done += (size_t)r; continue; }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) break;
        c->failed = 1;
        return -1;
    }
    return (ssize_t)done;
}

int tconn_write(loop_t *l, tconn_t *c, const void *p, size_t n)
{
    if (c->failed) return -1;
    if (c->out.len || !c->hs_done) {
        if (bq_append(&c->out, p, n) < 0) return -1;
        return 0;
    }
    ssize_t w = write_some(c, p, n);
    if (w < 0) return -1;
    if ((size_t)w < n) {
        /* OpenSSL keeps the record it could not send and expects the same bytes
         * again: they are exactly the head of `out` (ACCEPT_MOVING_WRITE_BUFFER). */
        if (bq_append(&c->out, (const uint8_t *)p + w, n - w) < 0) return -1;
        tconn_update(l, c);
    }
    return 0;
}

int tconn_flush(loop_t *l, tconn_t *c)
{
    if (c->failed) return -1;
    if (c->out.len && c->hs_done) {
        ssize_t w = write_some(c, bq_head(&c->out), c->out.len);
        if (w < 0) return -1;
        bq_consume(&c->out, (size_t)w);
    }
    tconn_update(l, c);
    return 0;
}
