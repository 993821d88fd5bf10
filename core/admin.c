/* admin.c -- the admin port (--metrics-listen): plain HTTP/1.x on a loopback
 * address, GET /metrics answered with the Prometheus text, everything else
 * 404; one request per connection, then close.
 *
 * There is at most ONE admin listener per process and its state is static:
 * admin_listen, admin_close and every callback run on the thread of the loop
 * given to admin_listen, and nothing else touches it.
 *
 * Bounds: ADMIN_MAX_CONNS connections at once (more are answered 503 and
 * closed), a request head of at most ADMIN_HEAD_MAX bytes (bigger: 400), and
 * ADMIN_TIMEOUT_MS for the whole exchange from accept to close. */
#include "metrics.h"
#include "addr.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ADMIN_MAX_CONNS 16
#define ADMIN_HEAD_MAX 4096
#define ADMIN_TIMEOUT_MS 5000
#define ADMIN_BODY_MAX (1024 * 1024)  /* room for USERS_MAX users' series (~500 bytes each) */
#define ADMIN_DRAIN_MAX (64 * 1024)  /* bytes read and dropped after the answer */
#define ADMIN_ACCEPT_PAUSE_MS 1000   /* listener pause when out of fds */

enum { ST_READ, ST_WRITE, ST_DRAIN };

typedef struct aconn {
    ioh_t io;
    ltimer_t timer;
    struct aconn *next, **pprev;
    int state;
    size_t hlen, drained;
    char *out;
    size_t olen, ooff;
    char head[ADMIN_HEAD_MAX];
} aconn_t;

static struct {
    int on;
    loop_t *l;
    ioh_t lio;
    ltimer_t pause;
    metrics_snap_fn snap;
    void *arg;
    aconn_t *conns;
    int nconns;
} A;

static char body[ADMIN_BODY_MAX]; /* loop thread only */

static void conn_close(loop_t *l, aconn_t *c)
{
    timer_cancel(l, &c->timer);
    int fd = c->io.fd;
    loop_del(l, &c->io);
    if (fd >= 0) close(fd);
    if ((*c->pprev = c->next)) c->next->pprev = c->pprev;
    A.nconns--;
    free(c->out);
    c->out = NULL;
    loop_defer_free(l, c, free);
}

static void on_timeout(loop_t *l, ltimer_t *t)
{
    conn_close(l, t->ud);
}

/* The request head ends at the first empty line. */
static int head_complete(const char *h, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (h[i] != '\n') continue;
        if (h[i + 1] == '\n') return 1;
        if (i + 2 < n && h[i + 1] == '\r' && h[i + 2] == '\n') return 1;
    }
    return 0;
}

/* "GET /metrics HTTP/1.1" (a query string is allowed) -> 1, anything else 0. */
static int wants_metrics(const char *h, size_t n)
{
    const char *eol = memchr(h, '\n', n);
    size_t ll = eol ? (size_t)(eol - h) : n;
    if (ll > 0 && h[ll - 1] == '\r') ll--;
    static const char get[] = "GET /metrics";
    size_t gl = sizeof get - 1;
    if (ll < gl || memcmp(h, get, gl) != 0) return 0;
    const char *rest = h + gl;
    size_t rl = ll - gl;
    if (rl && *rest == '?') {            /* skip the query */
        const char *sp = memchr(rest, ' ', rl);
        if (!sp) return 0;
        rl -= (size_t)(sp - rest);
        rest = sp;
    }
    return rl > 5 && memcmp(rest, " HTTP/", 6) == 0;
}

static int respond(aconn_t *c, int complete)
{
    const char *status = "404 Not Found", *ctype = "text/plain; charset=utf-8";
    const char *b = "not found\n";
    size_t bl = strlen(b);
    if (!complete) {
        status = "400 Bad Request";
        b = "request head too large\n";
        bl = strlen(b);
    } else if (wants_metrics(c->head, c->hlen)) {
        server_snapshot_t s;
        memset(&s, 0, sizeof s);
        A.snap(A.arg, &s);
        bl = metrics_render_prometheus(&s, body, sizeof body);
        b = body;
        status = "200 OK";
        ctype = "text/plain; version=0.0.4; charset=utf-8";
    }
    char hdr[256];
    int hl = snprintf(hdr, sizeof hdr,
                      "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                      status, ctype, bl);
    c->out = malloc((size_t)hl + bl);
    if (!c->out) return -1;
    memcpy(c->out, hdr, (size_t)hl);
    memcpy(c->out + hl, b, bl);
    c->olen = (size_t)hl + bl;
    c->ooff = 0;
    c->state = ST_WRITE;
    return 0;
}

static void on_conn(loop_t *l, ioh_t *h, uint32_t events)
{
    (void)events; /* errors and hang-ups show up as recv/send results */
    aconn_t *c = h->ud;
    if (c->state == ST_READ) {
        ssize_t n = recv(h->fd, c->head + c->hlen, sizeof c->head - c->hlen, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) { conn_close(l, c); return; }
        if (n < 0) return;
        c->hlen += (size_t)n;
        int done = head_complete(c->head, c->hlen);
        if (!done && c->hlen < sizeof c->head) return;
        if (respond(c, done) < 0) { conn_close(l, c); return; }
        /* fall through to write at once: the answer usually fits the socket buffer */
    }
    if (c->state == ST_WRITE) {
        while (c->ooff < c->olen) {
            ssize_t n = send(h->fd, c->out + c->ooff, c->olen - c->ooff, MSG_NOSIGNAL);
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) { loop_mod(l, &c->io, EPOLLOUT); return; }
            if (n <= 0) { conn_close(l, c); return; }
            c->ooff += (size_t)n;
        }
        free(c->out);
        c->out = NULL;
        /* Half-close and read until the peer closes: closing with unread bytes
         * would send a RST that can destroy the answer in flight. */
        shutdown(h->fd, SHUT_WR);
        c->state = ST_DRAIN;
        loop_mod(l, &c->io, EPOLLIN);
        return;
    }
    /* ST_DRAIN */
    char sink[4096];
    ssize_t n = recv(h->fd, sink, sizeof sink, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0 || (c->drained += (size_t)n) > ADMIN_DRAIN_MAX) conn_close(l, c);
}

static void on_resume(loop_t *l, ltimer_t *t)
{
    (void)t;
    if (A.on) loop_mod(l, &A.lio, EPOLLIN);
}

static void on_accept(loop_t *l, ioh_t *h, uint32_t events)
{
    (void)events;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* level-triggered: pause instead of spinning on the pending connection */
                log_warn("admin: accept: %s; pausing the admin port for %d ms", strerror(errno),
                         ADMIN_ACCEPT_PAUSE_MS);
                loop_mod(l, &A.lio, 0);
                timer_set(l, &A.pause, ADMIN_ACCEPT_PAUSE_MS);
            }
            return;
        }
        if (A.nconns >= ADMIN_MAX_CONNS) {
            static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                       "Connection: close\r\n\r\n";
            ssize_t w = send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)w;
            close(fd);
            continue;
        }
        aconn_t *c = calloc(1, sizeof *c);
        if (!c || loop_add(l, &c->io, fd, EPOLLIN, on_conn, c) < 0) {
            free(c);
            close(fd);
            continue;
        }
        c->state = ST_READ;
        timer_init(&c->timer, on_timeout, c);
        timer_set(l, &c->timer, ADMIN_TIMEOUT_MS);
        if ((c->next = A.conns)) A.conns->pprev = &c->next;
        A.conns = c;
        c->pprev = &A.conns;
        A.nconns++;
    }
}

/* 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
static int is_loopback(const addr_t *a)
{
    static const uint8_t v6lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (a->type == ADDR_IPV4) return a->ip[0] == 127;
    if (a->type == ADDR_IPV6)
        return memcmp(a->ip, v6lo, 16) == 0 || (memcmp(a->ip, mapped, 12) == 0 && a->ip[12] == 127);
    return 0;
}

int admin_listen(loop_t *l, const char *hostport, metrics_snap_fn snap, void *arg,
                 char *err, size_t errcap)
{
    if (A.on) {
        snprintf(err, errcap, "the admin port is already open (one per process)");
        return -1;
    }
    if (!snap) {
        snprintf(err, errcap, "admin_listen: no snapshot function");
        return -1;
    }
    addr_t a;
    char hp[300];
    const char *bind_to = hostport;
    if (!hostport || addr_from_string(hostport, &a) < 0) {
        snprintf(err, errcap, "bad admin address '%s' (want 127.0.0.1:PORT or [::1]:PORT)",
                 hostport ? hostport : "");
        return -1;
    }
    if (a.type == ADDR_DOMAIN && strcmp(a.name, "localhost") == 0) {
        snprintf(hp, sizeof hp, "127.0.0.1:%u", (unsigned)a.port);
        bind_to = hp;
    } else if (!is_loopback(&a)) {
        snprintf(err, errcap,
                 "refusing admin address '%s': the admin port is unauthenticated, so it "
                 "listens on loopback only (127.0.0.0/8 or [::1])", hostport);
        return -1;
    }
    int fd = tcp_listen(bind_to, 0, err, errcap);
    if (fd < 0) return -1;
    if (loop_add(l, &A.lio, fd, EPOLLIN, on_accept, NULL) < 0) {
        snprintf(err, errcap, "admin: epoll: %s", strerror(errno));
        close(fd);
        return -1;
    }
    A.on = 1;
    A.l = l;
    A.snap = snap;
    A.arg = arg;
    A.conns = NULL;
    A.nconns = 0;
    timer_init(&A.pause, on_resume, NULL);
    return 0;
}

void admin_close(loop_t *l)
{
    if (!A.on) return;
    timer_cancel(l, &A.pause);
    int fd = A.lio.fd;
    loop_del(l, &A.lio);
    if (fd >= 0) close(fd);
    while (A.conns) conn_close(l, A.conns);
    A.on = 0;
    A.l = NULL;
}
