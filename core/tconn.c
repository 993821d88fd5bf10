#include "tconn.h"
#include "tls.h"
#include "log.h"

#include <errno.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- tconn's socket BIO: recv, and send that gathers the records of one large write ---- */

#define GATHER_CAP (4 * (16384 + 256))
static __thread uint8_t gbuf[GATHER_CAP];   /* this thread's batch in progress */
static __thread size_t glen;
static __thread tconn_t *gowner;            /* the connection gathering, or NULL */

/* Sends what is waiting in wq; 0 (maybe some still waits), -1 fatal. */
static int wq_send(tconn_t *c)
{
    while (c->wq.len) {
        ssize_t k = send(c->io.fd, bq_head(&c->wq), c->wq.len, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
            c->failed = 1;
            return -1;
        }
        bq_consume(&c->wq, (size_t)k);
    }
    return 0;
}

/* Sends the gathered batch; the socket's leftovers go to wq. */
static int gather_send(tconn_t *c)
{
    size_t n = glen, k = 0;
    glen = 0;
    while (k < n) {
        ssize_t r = send(c->io.fd, gbuf + k, n - k, MSG_NOSIGNAL);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
            c->failed = 1;
            return -1;
        }
        k += (size_t)r;
    }
    if (k < n && bq_append(&c->wq, gbuf + k, n - k) < 0) { c->failed = 1; return -1; }
    return 0;
}

/* As OpenSSL's socket BIO: these are worth a retry, anything else is fatal. */
static int tbio_retry(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK || e == EINTR || e == ENOTCONN || e == EINPROGRESS || e == EALREADY;
}

static int tbio_read(BIO *b, char *buf, int len)
{
    tconn_t *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t r = read(c->io.fd, buf, (size_t)len);   /* read(2): a little cheaper than recv(2) here */
    if (r > 0) return (int)r;
    if (r == 0) { c->rx_eof = 1; return 0; }
    if (tbio_retry(errno)) BIO_set_retry_read(b);
    return -1;
}

static int tbio_write(BIO *b, const char *buf, int len)
{
    tconn_t *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (c->wq.len && wq_send(c) < 0) return -1;
    if (c->wq.len) { BIO_set_retry_write(b); return -1; }   /* OpenSSL keeps the record */
    if (gowner == c) {
        if (glen + (size_t)len > GATHER_CAP) {
            if (gather_send(c) < 0) return -1;
            if (c->wq.len) { BIO_set_retry_write(b); return -1; }
        }
        if ((size_t)len <= GATHER_CAP) {
            memcpy(gbuf + glen, buf, (size_t)len);
            glen += (size_t)len;
            return len;
        }
    }
    ssize_t r = send(c->io.fd, buf, (size_t)len, MSG_NOSIGNAL);
    if (r >= 0) return (int)r;
    if (tbio_retry(errno)) BIO_set_retry_write(b);
    return -1;
}

static long tbio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    tconn_t *c = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH: case BIO_CTRL_DUP: return 1;
    case BIO_CTRL_EOF: return c && c->rx_eof;   /* how OpenSSL tells an unexpected EOF */
    case BIO_C_GET_FD:
        if (!c) return -1;
        if (ptr) *(int *)ptr = c->io.fd;
        return c->io.fd;
    default: return 0;
    }
}

static int tbio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static BIO_METHOD *tbio_method;
static int tbio_type;
static pthread_once_t tbio_once = PTHREAD_ONCE_INIT;

static void tbio_init(void)
{
    tbio_type = BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR;
    BIO_METHOD *m = BIO_meth_new(tbio_type,
                                 "anytls socket");
    if (!m || !BIO_meth_set_read(m, tbio_read) || !BIO_meth_set_write(m, tbio_write) ||
        !BIO_meth_set_ctrl(m, tbio_ctrl) || !BIO_meth_set_create(m, tbio_create)) {
        BIO_meth_free(m);
        return;
    }
    tbio_method = m;
}

int tconn_init(tconn_t *c, loop_t *l, int fd, SSL *ssl, io_cb_t cb, void *ud)
{
    memset(c, 0, sizeof *c);
    c->ssl = ssl;
    c->io.fd = fd;
    pthread_once(&tbio_once, tbio_init);
    BIO *b = tbio_method ? BIO_new(tbio_method) : NULL;
    if (b) {
        BIO_set_data(b, c);
        SSL_set_bio(ssl, b, b);   /* one BIO both ways: ~0.25 KB per connection less than two */
    } else if (!SSL_set_fd(ssl, fd)) {   /* out of memory: OpenSSL's own socket BIO, if it can */
        return -1;
    }
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
    bq_free(&c->wq);
}

void tconn_update(loop_t *l, tconn_t *c)
{
    uint32_t ev = 0;
    if (!c->read_paused || !c->hs_done) ev |= EPOLLIN;
    if (c->out.len || c->wq.len || c->read_wants_w || c->hs_wants_w || c->notify_w) ev |= EPOLLOUT;
    loop_mod(l, &c->io, ev);
}

static void describe(SSL *ssl, int r, int e, char *err, size_t cap)
{
    if (e == SSL_ERROR_ZERO_RETURN) snprintf(err, cap, "closed by peer");
    else if (e == SSL_ERROR_SYSCALL)
        snprintf(err, cap, "%s", (r == 0 || errno == 0) ? "connection closed" : strerror(errno));
    else tls_error(err, cap);
}

static void end_flush(loop_t *l, void *arg);

int tconn_move(loop_t *l, tconn_t *dst, tconn_t *src, io_cb_t cb, void *ud)
{
    ioh_t was = src->io;
    loop_del(l, &src->io);
    if (loop_add(l, &dst->io, was.fd, was.events, cb, ud) < 0) {
        loop_add(l, &src->io, was.fd, was.events, was.cb, was.ud);
        return -1;
    }
    ioh_t io = dst->io;
    *dst = *src;
    dst->io = io;
    /* an end-of-iteration flush registered for src finds it empty and does
     * nothing: dst registers its own */
    dst->flush_queued = 0;
    if (dst->out.len && dst->hs_done) loop_at_end(l, end_flush, dst, &dst->flush_queued);
    /* tconn's BIO points at its owner: point it at the new one */
    BIO *b = dst->ssl ? SSL_get_rbio(dst->ssl) : NULL;
    if (b && tbio_method && BIO_method_type(b) == tbio_type) BIO_set_data(b, dst);
    memset(&src->out, 0, sizeof src->out);
    memset(&src->wq, 0, sizeof src->wq);
    src->ssl = NULL;
    src->io.fd = -1;
    return 0;
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

/* Writes from p as far as OpenSSL takes it; returns bytes written or -1.
 * More than one record's worth is gathered into one send (not the padded
 * records: tconn_write_record's are single, and their shape is the point). */
static ssize_t write_some(tconn_t *c, const void *p, size_t n, int may_gather)
{
    size_t done = 0;
    int gather = may_gather && n > 16384 && !c->wq.len;
    if (gather) { gowner = c; glen = 0; }
    while (done < n) {
        ERR_clear_error();
        int r = SSL_write(c->ssl, (const uint8_t *)p + done, (int)(n - done));
        if (r > 0) { done += (size_t)r; continue; }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) break;
        c->failed = 1;
        break;
    }
    if (gather) {
        gowner = NULL;
        if (glen && !c->failed && gather_send(c) < 0) return -1;
        glen = 0;
    }
    return c->failed ? -1 : (ssize_t)done;
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

static int write_direct(loop_t *l, tconn_t *c, const void *p, size_t n, int may_gather)
{
    ssize_t w = write_some(c, p, n, may_gather);
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
    return write_direct(l, c, p, n, 1);
}

int tconn_write_record(loop_t *l, tconn_t *c, const void *p, size_t n)
{
    if (c->failed) return -1;
    if (c->out.len && tconn_flush(l, c) < 0) return -1;
    if (c->out.len || !c->hs_done) return bq_append(&c->out, p, n);
    return write_direct(l, c, p, n, 0);
}

int tconn_flush(loop_t *l, tconn_t *c)
{
    if (c->failed) return -1;
    if (c->wq.len && wq_send(c) < 0) return -1;
    if (c->out.len && c->hs_done && !c->wq.len) {
        ssize_t w = write_some(c, bq_head(&c->out), c->out.len, 1);
        if (w < 0) return -1;
        bq_consume(&c->out, (size_t)w);
    }
    tconn_update(l, c);
    return 0;
}
