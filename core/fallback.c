/* fallback.c -- relaying a connection that did not authenticate to --fallback
 * (fallback.h). Two sockets per connection: the prober's TLS connection (c)
 * and plain TCP to the fallback (fio); bytes from the prober wait in fq until
 * the fallback takes them, bytes from the fallback in c's output queue. */
#include "fallback.h"
#include "log.h"
#include "proxy_proto.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FB_LOG_MS 10000

struct fbconn {
    sworker_t *w;
    tconn_t c;                 /* the prober's TLS connection */
    ioh_t fio;                 /* TCP to the fallback (fd -1 once closed) */
    bq_t fq;                   /* toward the fallback, not taken yet */
    ltimer_t timer;            /* the connect's deadline, then the idle check */
    uint64_t last;             /* when a byte last moved either way (ms) */
    unsigned connected : 1;
    unsigned c_eof : 1;        /* the prober said close_notify: FIN to the fallback once fq is out */
    unsigned f_eof : 1;        /* the fallback ended: close once the prober has our output */
    unsigned f_paused : 1;     /* fallback reads stopped: output to the prober over FB_BUF */
    unsigned dead : 1;
    char peer[96];
    fbconn_t *prev, *next;
};

int fb_resolve(const char *hostport, struct sockaddr_storage *ss, socklen_t *len, char *err, size_t cap)
{
    addr_t a;
    if (addr_from_string(hostport, &a) < 0 || a.port == 0) {
        snprintf(err, cap, "'%s' is not HOST:PORT", hostport);
        return -1;
    }
    if (a.type != ADDR_DOMAIN) return addr_to_sockaddr(&a, ss, len);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
    int r = getaddrinfo(a.name, NULL, &hints, &res);
    if (r != 0 || !res) {
        snprintf(err, cap, "cannot resolve '%s': %s", a.name, r ? gai_strerror(r) : "no address");
        if (res) freeaddrinfo(res);
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    if (ss->ss_family == AF_INET) ((struct sockaddr_in *)ss)->sin_port = htons(a.port);
    else ((struct sockaddr_in6 *)ss)->sin6_port = htons(a.port);
    return 0;
}

static void fb_close(fbconn_t *f, const char *why)
{
    if (f->dead) return;
    sworker_t *w = f->w;
    loop_t *l = w->loop;
    f->dead = 1;
    /* Counted before the prober's socket closes: whoever sees the close and
     * then reads the metrics must see this connection gone. */
    atomic_fetch_sub(&w->srv->fb_open, 1);
    WSTAT_ADD(w, fallback_open, -1);
    if (why) log_debug("fallback connection of %s closed: %s", f->peer, why);
    timer_cancel(l, &f->timer);
    if (f->fio.fd >= 0) {
        int fd = f->fio.fd;
        loop_del(l, &f->fio);
        close(fd);
    }
    tconn_close(l, &f->c);
    bq_free(&f->fq);
    if (f->prev) f->prev->next = f->next; else w->fallbacks = f->next;
    if (f->next) f->next->prev = f->prev;
    loop_defer_free(l, f, free);
}

/* The fallback could not be reached: anyone can make this happen as often as
 * they like while it is down, so the line is rate-limited. */
static void fb_fail(fbconn_t *f, const char *why)
{
    sworker_t *w = f->w;
    uint64_t held;
    WSTAT_ADD(w, fallback_failures, 1);
    if (ratelog_allow(&w->fallback_log, loop_now(w->loop), FB_LOG_MS, &held))
        log_warn("fallback %s unreachable (%s): connection from %s closed (%llu more since the last such line)",
                 w->srv->cfg->fallback, why, f->peer, (unsigned long long)held);
    fb_close(f, NULL);
}

/* ---- prober -> fallback ---- */

static void client_read(fbconn_t *f);

static int to_fallback(fbconn_t *f, const uint8_t *p, size_t n)
{
    if (f->connected && f->fq.len == 0) {
        ssize_t w = send(f->fio.fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
            w = 0;
        }
        p += w;
        n -= (size_t)w;
    }
    if (n) {
        if (bq_append(&f->fq, p, n) < 0) return -1;
        if (f->connected) loop_mod(f->w->loop, &f->fio, f->fio.events | EPOLLOUT);
    }
    return 0;
}

static void fallback_flush(fbconn_t *f)
{
    loop_t *l = f->w->loop;
    while (f->fq.len) {
        ssize_t w = send(f->fio.fd, bq_head(&f->fq), f->fq.len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            fb_close(f, "write to the fallback failed");
            return;
        }
        bq_consume(&f->fq, (size_t)w);
    }
    if (!f->fq.len) {
        loop_mod(l, &f->fio, f->fio.events & ~EPOLLOUT);
        if (f->c_eof) shutdown(f->fio.fd, SHUT_WR);
    }
    if (f->c.read_paused && !f->c_eof && f->fq.len <= FB_BUF / 2) {
        f->c.read_paused = 0;
        tconn_update(l, &f->c);
        client_read(f);   /* OpenSSL may hold decrypted bytes epoll cannot see */
    }
}

/* The prober's side ended: after close_notify, the fallback gets a FIN once it
 * has every byte (it may still answer); after an error there is no one to
 * answer. */
static void client_ended(fbconn_t *f, const char *err)
{
    if (f->c.failed) { fb_close(f, err); return; }
    f->c_eof = 1;
    f->c.read_paused = 1;
    tconn_update(f->w->loop, &f->c);
    if (f->fq.len == 0) shutdown(f->fio.fd, SHUT_WR);
}

static void client_read(fbconn_t *f)
{
    loop_t *l = f->w->loop;
    uint8_t *buf = loop_scratch(l);
    char err[160];
    for (int i = 0; i < 16 && !f->dead && !f->c.read_paused; i++) {
        if (f->fq.len > FB_BUF) {   /* the fallback is slow: stop reading the prober */
            f->c.read_paused = 1;
            tconn_update(l, &f->c);
            return;
        }
        int n = tconn_read(l, &f->c, buf, LOOP_SCRATCH, err, sizeof err);
        if (n == 0) return;
        if (n < 0) { client_ended(f, err); return; }
        f->last = loop_now(l);
        WSTAT_ADD(f->w, fallback_bytes_to_fallback, (uint64_t)n);
        if (to_fallback(f, buf, (size_t)n) < 0) { fb_close(f, "write to the fallback failed"); return; }
    }
}

/* ---- fallback -> prober ---- */

/* Our output to the prober: EPOLLOUT is kept (notify_w) while we wait for it
 * to drain, to resume the fallback's reads or to close after its EOF. */
static void client_drained(fbconn_t *f)
{
    loop_t *l = f->w->loop;
    if (f->f_eof) {
        if (f->c.out.len == 0) fb_close(f, "fallback closed");
        return;
    }
    if (f->f_paused && f->c.out.len < FB_BUF / 2) {
        f->f_paused = 0;
        f->c.notify_w = 0;
        loop_mod(l, &f->fio, f->fio.events | EPOLLIN);
        tconn_update(l, &f->c);
    }
}

/* hup: the fallback is gone (epoll reports it whether we read or not), so
 * what it sent is read to the end whatever is queued: its socket buffer
 * bounds it. */
static void fallback_read(fbconn_t *f, int hup)
{
    loop_t *l = f->w->loop;
    uint8_t *buf = loop_scratch(l);
    for (int i = 0; i < (hup ? 1024 : 4); i++) {
        if (!hup && tconn_pending(&f->c) > FB_BUF) {   /* the prober does not read: stop reading the fallback */
            f->f_paused = 1;
            loop_mod(l, &f->fio, f->fio.events & ~EPOLLIN);
            f->c.notify_w = 1;
            tconn_update(l, &f->c);
            return;
        }
        ssize_t n = recv(f->fio.fd, buf, LOOP_SCRATCH, 0);
        if (n > 0) {
            f->last = loop_now(l);
            WSTAT_ADD(f->w, fallback_bytes_to_client, (uint64_t)n);
            if (tconn_write(l, &f->c, buf, (size_t)n) < 0) { fb_close(f, "write to the client failed"); return; }
            if (n < LOOP_SCRATCH && !hup) return;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        /* the fallback ended (or failed): the prober gets what it said, then close_notify */
        int fd = f->fio.fd;
        loop_del(l, &f->fio);
        close(fd);
        bq_free(&f->fq);
        f->f_eof = 1;
        f->c.read_paused = 1;
        if (tconn_flush(l, &f->c) < 0) { fb_close(f, "write to the client failed"); return; }
        if (f->c.out.len == 0) { fb_close(f, "fallback closed"); return; }
        f->c.notify_w = 1;
        tconn_update(l, &f->c);
        return;
    }
}

/* ---- events ---- */

static void client_cb(loop_t *l, ioh_t *h, uint32_t ev)
{
    fbconn_t *f = h->ud;
    if (ev & EPOLLOUT) {
        if (tconn_flush(l, &f->c) < 0) { fb_close(f, "write to the client failed"); return; }
        client_drained(f);
        if (!f->dead && f->c.read_wants_w) client_read(f);
    }
    if (f->dead || !(ev & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
    if (!f->c.read_paused) client_read(f);
    /* not reading it (connecting, back-pressure, after its close_notify), yet it
     * is gone: nothing can reach it any more, and epoll would say so forever */
    else if (ev & (EPOLLHUP | EPOLLERR)) fb_close(f, "client gone");
}

static void connected(fbconn_t *f)
{
    loop_t *l = f->w->loop;
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(f->fio.fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) err = errno;
    if (err) { fb_fail(f, strerror(err)); return; }
    f->connected = 1;
    f->last = loop_now(l);
    timer_set(l, &f->timer, FB_IDLE_MS);
    loop_mod(l, &f->fio, EPOLLIN | (f->fq.len ? EPOLLOUT : 0));
    f->c.read_paused = 0;       /* fallback_flush reads the prober again */
    if (f->fq.len > FB_BUF / 2) f->c.read_paused = 1;
    tconn_update(l, &f->c);
    fallback_flush(f);
    if (!f->dead && !f->c.read_paused) client_read(f);
}

static void fallback_cb(loop_t *l, ioh_t *h, uint32_t ev)
{
    fbconn_t *f = h->ud;
    if (!f->connected) { connected(f); return; }
    if (ev & (EPOLLOUT | EPOLLERR)) fallback_flush(f);
    if (f->dead || f->fio.fd < 0) return;
    if (ev & (EPOLLHUP | EPOLLERR)) fallback_read(f, 1);
    else if (!f->f_paused && (ev & EPOLLIN)) fallback_read(f, 0);
}

static void fb_timer(loop_t *l, ltimer_t *t)
{
    fbconn_t *f = t->ud;
    if (!f->connected) { fb_fail(f, "connect timeout"); return; }
    uint64_t idle = loop_now(l) - f->last;
    if (idle >= FB_IDLE_MS) { fb_close(f, "idle"); return; }
    timer_set(l, t, FB_IDLE_MS - idle);
}

/* ---- hand-over ---- */

/* The PROXY header: the prober's address and the one it reached (ours). */
static int proxy_header(fbconn_t *f, int fd)
{
    struct sockaddr_storage src, dst;
    socklen_t sl = sizeof src, dl = sizeof dst;
    uint8_t hdr[PP_HEADER_MAX];
    if (getpeername(fd, (struct sockaddr *)&src, &sl) < 0) memset(&src, 0, sizeof src);
    if (getsockname(fd, (struct sockaddr *)&dst, &dl) < 0) memset(&dst, 0, sizeof dst);
    int n = pp_header(f->w->srv->cfg->fallback_proxy_protocol, (struct sockaddr *)&src,
                      (struct sockaddr *)&dst, hdr, sizeof hdr);
    return n < 0 ? -1 : bq_append(&f->fq, hdr, (size_t)n);
}

void fb_take(sworker_t *w, tconn_t *c, const char *peer, const uint8_t *a, size_t an, const uint8_t *b,
             size_t bn)
{
    server_t *srv = w->srv;
    loop_t *l = w->loop;
    if (w->wk->draining) { tconn_close(l, c); return; }
    if (atomic_fetch_add(&srv->fb_open, 1) >= srv->cfg->max_fallback) {
        uint64_t held;
        atomic_fetch_sub(&srv->fb_open, 1);
        WSTAT_ADD(w, fallback_refused, 1);
        if (ratelog_allow(&w->fallback_log, loop_now(l), FB_LOG_MS, &held))
            log_warn("fallback: %d connections open (--max-fallback-connections): connection from %s closed "
                     "(%llu more since the last such line)", srv->cfg->max_fallback, peer, (unsigned long long)held);
        tconn_close(l, c);
        return;
    }
    fbconn_t *f = calloc(1, sizeof *f);
    int fd = c->io.fd;
    if (f) f->w = w;
    if (!f || (srv->cfg->fallback_proxy_protocol && proxy_header(f, fd) < 0) ||
        bq_append(&f->fq, a, an) < 0 || bq_append(&f->fq, b, bn) < 0 ||
        tconn_move(l, &f->c, c, client_cb, f) < 0) {
        if (f) bq_free(&f->fq);
        free(f);
        atomic_fetch_sub(&srv->fb_open, 1);
        tconn_close(l, c);
        log_warn("fallback: out of memory; connection from %s closed", peer);
        return;
    }
    f->fio.fd = -1;
    snprintf(f->peer, sizeof f->peer, "%s", peer);
    timer_init(&f->timer, fb_timer, f);
    f->next = w->fallbacks;
    if (f->next) f->next->prev = f;
    w->fallbacks = f;
    WSTAT_ADD(w, fallback_open, 1);
    WSTAT_ADD(w, fallback_total, 1);
    WSTAT_ADD(w, fallback_bytes_to_fallback, (uint64_t)(an + bn));
    f->c.read_paused = 1;   /* until the fallback is connected */
    tconn_update(l, &f->c);
    int sfd = tcp_connect_start((const struct sockaddr *)&srv->fb_addr, srv->fb_alen);
    if (sfd < 0) { fb_fail(f, strerror(errno)); return; }
    if (loop_add(l, &f->fio, sfd, EPOLLOUT, fallback_cb, f) < 0) {
        close(sfd);
        fb_fail(f, "cannot register the socket");
        return;
    }
    timer_set(l, &f->timer, (uint64_t)srv->cfg->connect_timeout_ms);
    log_debug("session %s: relayed to the fallback (%zu bytes read so far)", peer, an + bn);
}

void fb_close_all(sworker_t *w)
{
    while (w->fallbacks) fb_close(w->fallbacks, "shutdown");
}
