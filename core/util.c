#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

void set_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int connect_start(const struct sockaddr *sa, socklen_t len, int tfo, int *deferred)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (tfo && setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof one) < 0) {
        if (deferred) *deferred = -1;   /* not applied (sysctl without the client bit) */
        tfo = 0;
    }
    int r = connect(fd, sa, len);
    if (r < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    /* With TCP_FASTOPEN_CONNECT and a cookie cached, connect() returns 0 at
     * once and no SYN has left yet: it goes with the first send(). */
    if (tfo && deferred) *deferred = r == 0;
    return fd;
}

int tcp_connect_start(const struct sockaddr *sa, socklen_t len)
{
    return connect_start(sa, len, 0, NULL);
}

int tcp_connect_tfo(const struct sockaddr *sa, socklen_t len, int *deferred)
{
    *deferred = 0;
    return connect_start(sa, len, 1, deferred);
}

int tcp_listen(const char *hostport, int reuseport, char *err, size_t errcap)
{
    addr_t a;
    struct sockaddr_storage ss;
    socklen_t sl;
    if (addr_from_string(hostport, &a) < 0 || addr_to_sockaddr(&a, &ss, &sl) < 0) {
        snprintf(err, errcap, "bad listen address '%s' (want IP:PORT)", hostport);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { snprintf(err, errcap, "socket: %s", strerror(errno)); return -1; }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 4096) < 0) {
        snprintf(err, errcap, "cannot listen on %s: %s", hostport, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int addr_to_sockaddr(const addr_t *a, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    if (a->type == ADDR_IPV4) {
        struct sockaddr_in *s = (struct sockaddr_in *)ss;
        s->sin_family = AF_INET;
        s->sin_port = htons(a->port);
        memcpy(&s->sin_addr, a->ip, 4);
        *len = sizeof *s;
        return 0;
    }
    if (a->type == ADDR_IPV6) {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
        s->sin6_family = AF_INET6;
        s->sin6_port = htons(a->port);
        memcpy(&s->sin6_addr, a->ip, 16);
        *len = sizeof *s;
        return 0;
    }
    return -1;
}

void sockaddr_to_addr(const struct sockaddr *sa, addr_t *a)
{
    memset(a, 0, sizeof *a);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
        a->type = ADDR_IPV4;
        memcpy(a->ip, &s->sin_addr, 4);
        a->port = ntohs(s->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) {
            a->type = ADDR_IPV4;
            memcpy(a->ip, (const uint8_t *)&s->sin6_addr + 12, 4);
        } else {
            a->type = ADDR_IPV6;
            memcpy(a->ip, &s->sin6_addr, 16);
        }
        a->port = ntohs(s->sin6_port);
    }
}

int bq_append(bq_t *q, const void *p, size_t n)
{
    if (n == 0) return 0;
    if (q->off + q->len + n > q->cap) {
        if (q->off && q->len + n <= q->cap) {
            memmove(q->data, q->data + q->off, q->len);
            q->off = 0;
        } else {
            size_t want = q->len + n, cap = q->cap ? q->cap : 4096;
            while (cap < want) cap *= 2;
            uint8_t *d = malloc(cap);
            if (!d) return -1;
            if (q->len) memcpy(d, q->data + q->off, q->len);
            free(q->data);
            q->data = d; q->off = 0; q->cap = cap;
        }
    }
    memcpy(q->data + q->off + q->len, p, n);
    q->len += n;
    return 0;
}

void bq_consume(bq_t *q, size_t n)
{
    if (n >= q->len) { bq_free(q); return; }
    q->off += n;
    q->len -= n;
}

void bq_free(bq_t *q)
{
    free(q->data);
    q->data = NULL;
    q->off = q->len = q->cap = 0;
}

long raise_nofile(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) < 0) return -1;
    if (r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
        getrlimit(RLIMIT_NOFILE, &r);
    }
    return (long)r.rlim_cur;
}

int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}
