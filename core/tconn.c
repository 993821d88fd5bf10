#include "tconn.h"
#include "tls.h"
#include "log.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
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
    if (c->out.len || c->read_wants_w || c->hs_wants_w || c->notify_w) ev |= EPOLLOUT;
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
    /* Gather records until the buffer cannot take a full one, so a large frame
     * reaches its socket in one send. An error after some bytes is reported by
     * the next call (OpenSSL repeats it). */
    size_t got = 0;
    uint64_t iter = loop_iter(l) + 1;
    if (c->rd_blocked_iter == iter) return 0;
    while (got + 16384 <= cap || got == 0) {
        ERR_clear_error();
        int r = SSL_read(c->ssl, (uint8_t *)buf + got, (int)(cap - got));
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ) {
            c->rd_blocked_iter = iter;   /* no whole record left inside OpenSSL either */
            break;
        }
        if (e == SSL_ERROR_WANT_WRITE) {
            c->read_wants_w = 1;
            tconn_update(l, c);
            break;
        }
        if (got) break;
        describe(c->ssl, r, e, err, errcap);
        if (e != SSL_ERROR_ZERO_RETURN) c->failed = 1;
        return -1;
    }
    if (got && c->read_wants_w && !(SSL_want_write(c->ssl))) { c->read_wants_w = 0; tconn_update(l, c); }
    return (int)got;
}

void tconn_read_later(loop_t *l, tconn_t *c)
{
    if (c->ssl && c->hs_done && !c->failed && !c->read_paused && SSL_has_pending(c->ssl))
        loop_again(l, &c->io);
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

#define COALESCE_MAX 8192

static void end_flush(loop_t *l, void *arg)
{
    tconn_t *c = arg;
    if (!c->ssl) return;  /* closed meanwhile */
    if (tconn_flush(l, c) < 0) {
        /* let the owner's handler see the failure on its next event */
        loop_mod(l, &c->io, EPOLLIN | EPOLLOUT);
    }
}

static int write_direct(loop_t *l, tconn_t *c, const void *p, size_t n)
{
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

int tconn_write(loop_t *l, tconn_t *c, const void *p, size_t n)
{
    if (c->failed) return -1;
    if (c->out.len || !c->hs_done || n < COALESCE_MAX) {
        if (bq_append(&c->out, p, n) < 0) return -1;
        if (c->hs_done) loop_at_end(l, end_flush, c, &c->flush_queued);
        return 0;
    }
    return write_direct(l, c, p, n);
}

int tconn_write_record(loop_t *l, tconn_t *c, const void *p, size_t n)
{
    if (c->failed) return -1;
    if (c->out.len && tconn_flush(l, c) < 0) return -1;
    if (c->out.len || !c->hs_done) return bq_append(&c->out, p, n);
    return write_direct(l, c, p, n);
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
