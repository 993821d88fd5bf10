/* tconn.h -- a non-blocking TLS connection on an event loop: handshake, reads,
 * and writes that never block. Bytes OpenSSL cannot take now wait in `out`
 * (one byte queue, empty and unallocated while idle) and go out on EPOLLOUT.
 * Shared by server and client sessions; the owner handles the events. */
#ifndef TCONN_H
#define TCONN_H

#include <openssl/ssl.h>
#include "loop.h"
#include "util.h"

typedef struct tconn {
    ioh_t io;
    SSL *ssl;
    bq_t out;
    bq_t wq;                    /* records OpenSSL wrote that the socket has not taken yet
                                 * (one gathered batch at most; empty and unallocated while idle) */
    unsigned hs_done : 1;       /* handshake finished */
    unsigned read_paused : 1;   /* owner stopped reading (back-pressure) */
    unsigned read_wants_w : 1;  /* SSL_read asked for writability */
    unsigned hs_wants_w : 1;    /* handshake asked for writability */
    unsigned failed : 1;        /* a fatal error happened */
    unsigned notify_w : 1;      /* owner waits for `out` to drain: keep EPOLLOUT */
    unsigned rx_eof : 1;        /* recv(2) returned 0 */
    unsigned char flush_queued; /* registered with loop_at_end */
    uint64_t rd_blocked_iter;   /* loop iteration (+ 1) in which OpenSSL last wanted socket bytes */
} tconn_t;

/* Takes ownership of fd and ssl. OpenSSL reads and writes through tconn's
 * own socket BIO (one per connection). The records of one large write (a
 * 64 KiB write is four) are gathered and leave in one send(2); what the
 * socket does not take waits in `wq`, and OpenSSL is told to retry until it
 * has gone. Small writes, and the padded records, go out one send each. */
int tconn_init(tconn_t *c, loop_t *l, int fd, SSL *ssl, io_cb_t cb, void *ud);
void tconn_close(loop_t *l, tconn_t *c);  /* close_notify if possible, free SSL, close fd */
/* Hands the connection (SSL, fd, bytes queued) from src to dst, a new owner
 * whose events go to cb(ud); src is left empty (tconn_close on it does
 * nothing). 0, or -1 (src untouched) if the fd cannot be registered again. */
int tconn_move(loop_t *l, tconn_t *dst, tconn_t *src, io_cb_t cb, void *ud);

/* 1 done, 0 in progress, -1 failed (reason in err). */
int tconn_handshake(loop_t *l, tconn_t *c, char *err, size_t errcap);
/* > 0 bytes read; 0 would block; -1 closed or failed (reason in err). Once
 * a read found the socket empty, later calls in the same loop iteration
 * return 0 without a read(2) (epoll is level-triggered: bytes that come
 * meanwhile are reported next iteration). */
int tconn_read(loop_t *l, tconn_t *c, void *buf, size_t cap, char *err, size_t errcap);
/* After a reader's last tconn_read of a wake-up: if it stopped with whole
 * records still inside OpenSSL (read ahead takes several at once; epoll
 * cannot see them), its handler runs again next loop iteration. */
void tconn_read_later(loop_t *l, tconn_t *c);
/* Queues or writes n bytes; 0, or -1 on a fatal error. Small writes are
 * gathered and go out together at the end of the loop iteration (one TLS
 * record for a SYNACK, a PSH and a FIN); large ones go out at once. */
int tconn_write(loop_t *l, tconn_t *c, const void *p, size_t n);
/* Same, but p becomes its own TLS record(s) now (after what was gathered): for
 * the padded packets, whose record sizes are the point. */
int tconn_write_record(loop_t *l, tconn_t *c, const void *p, size_t n);
/* Writes what is queued; 0 (maybe some still queued), -1 fatal. */
int tconn_flush(loop_t *l, tconn_t *c);
/* Re-registers epoll interest from the current state. */
void tconn_update(loop_t *l, tconn_t *c);
static inline size_t tconn_pending(const tconn_t *c) { return c->out.len; }

#endif
