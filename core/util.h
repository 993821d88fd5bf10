/* util.h -- small helpers shared by the binaries: clocks, sockets, byte queues. */
#ifndef UTIL_H
#define UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "addr.h"

uint64_t now_ms(void);  /* CLOCK_MONOTONIC */
uint64_t now_us(void);

int set_nonblock(int fd);
void set_nodelay(int fd);  /* TCP_NODELAY: frames are small and latency-bound */
/* Non-blocking TCP socket connected (in progress) to sa; -1 with errno. */
int tcp_connect_start(const struct sockaddr *sa, socklen_t len);
/* The same with TCP_FASTOPEN_CONNECT. *deferred: 1 when connect() returned at
 * once with no SYN sent (a Fast Open cookie is cached: the SYN leaves with the
 * first send(), carrying its bytes); 0 when the handshake is in progress as
 * usual (no cookie yet: the SYN asks for one); -1 when the option could not
 * be set (net.ipv4.tcp_fastopen lacks the client bit 1) and it is a plain dial. */
int tcp_connect_tfo(const struct sockaddr *sa, socklen_t len, int *deferred);
/* Listening socket on "host:port" with SO_REUSEADDR (+SO_REUSEPORT if reuseport). */
int tcp_listen(const char *hostport, int reuseport, char *err, size_t errcap);
/* Fills sa from an IP-typed addr; 0, or -1 if a is a domain. */
int addr_to_sockaddr(const addr_t *a, struct sockaddr_storage *ss, socklen_t *len);
void sockaddr_to_addr(const struct sockaddr *sa, addr_t *a);

/* A FIFO of bytes in one growable block: appended at the tail, consumed at the
 * head. Holds no memory while empty (bq_consume frees it), so idle streams cost
 * nothing. */
typedef struct bq {
    uint8_t *data;
    size_t off, len, cap;
} bq_t;

int bq_append(bq_t *q, const void *p, size_t n);  /* 0, or -1 on ENOMEM */
static inline const uint8_t *bq_head(const bq_t *q) { return q->data + q->off; }
void bq_consume(bq_t *q, size_t n);
void bq_free(bq_t *q);

/* A log line the peer can trigger at will, kept to one per interval: the first
 * event in an interval is logged (with the count of those held back since the
 * last line, in *held), the rest are only counted. One per worker: not atomic. */
typedef struct ratelog {
    uint64_t last_ms;          /* when a line was last allowed (0: never) */
    uint64_t held;             /* events counted, not logged, since then */
} ratelog_t;

static inline int ratelog_allow(ratelog_t *r, uint64_t now_ms, uint64_t interval_ms, uint64_t *held)
{
    if (r->last_ms && now_ms - r->last_ms < interval_ms) { r->held++; return 0; }
    *held = r->held;
    r->held = 0;
    r->last_ms = now_ms ? now_ms : 1;
    return 1;
}

/* Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit. */
long raise_nofile(void);

/* Parses a decimal int in [lo, hi]; 0 on success. */
int parse_int(const char *s, long lo, long hi, long *out);

#endif
