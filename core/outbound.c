/* outbound.c -- acquire, resolve and dial for streams; spare refills
 * (outbound.h). */
#include "outbound.h"
#include "dns.h"
#include "log.h"
#include "refill_gate.h"
#include "server_stream.h"
#include "target_policy.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SYNACK_EARLY_MS 2000   /* ack a still-connecting stream before the client's 3 s watchdog */
#define FULL_RETRY_MS 20
#define FULL_WAIT_MS 2000
#define REFILL_TICK_MS 200
#define REFILL_SOON_MS 2
#define TFO_DATA_WAIT_MS 10    /* a TFO dial's SYN waits this long for the client's first bytes */

/* ---- pool references ---- */

static void pool_ref_get(pool_ref_t *p) { atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed); }

void outbound_pool_put(pool_ref_t *p)
{
    if (p && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1) {
        pool_close(&p->h);
        free(p);
    }
}

pool_ref_t *outbound_pool_new(const char *type, const pool_config_t *cfg, int refs)
{
    pool_ref_t *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    if (pool_open(&p->h, type, cfg) < 0) { free(p); return NULL; }
    atomic_init(&p->refs, refs);
    return p;
}

/* ---- streams: acquire -> hit / full-wait / miss -> resolve -> dial ---- */

static loop_t *LOOP(sstream_t *st) { return st->s->w->loop; }

/* After an acquire the pool may want spares replaced: run this worker's pool
 * tick in 2 ms (one timer, coalesced) rather than at the next 200 ms tick, so
 * a busy target's spares are refilled at the rate they are taken. */
static void refill_soon(sworker_t *w)
{
    uint64_t due = now_ms() + REFILL_SOON_MS;
    if (w->tick.idx < 0 || w->tick.when > due) timer_set(w->loop, &w->tick, REFILL_SOON_MS);
}

/* A connect in flight: the SYNACK-early ack, then the dial timeout. */
static void connect_timer(sstream_t *st)
{
    const server_config_t *cfg = st->s->w->srv->cfg;
    uint64_t age = now_ms() - st->started;
    uint64_t left = (uint64_t)cfg->connect_timeout_ms > age ? cfg->connect_timeout_ms - age : 0;
    timer_set(LOOP(st), &st->timer, age < SYNACK_EARLY_MS && SYNACK_EARLY_MS - age < left
                                    ? SYNACK_EARLY_MS - age : left);
}

/* TCP Fast Open (--tcp-fast-open), why it is done this way:
 * With TCP_FASTOPEN_CONNECT and a cookie cached for the target, connect()
 * "succeeds" at once and no packet leaves: the SYN goes with the first send(),
 * carrying those bytes, and saves the round trip of the handshake only if the
 * client's first bytes are there to ride in it. Until then the socket is no
 * connection at all at the target. Hence:
 *  - Spares never use TFO (refill_dial): a pre-dialed spare that nobody writes
 *    would hold nothing at the target, be "checked" alive by the pool and
 *    counted as a warm connection it is not.
 *  - A stream does not treat the deferred connect as done: it stays
 *    CONNECTING, sends its queued bytes (the SYN's payload) as soon as it has
 *    some, and is acked to the client (SYNACK), counted in the dial-latency
 *    histogram and relayed only when the target has answered, so a refused or
 *    unreachable target still fails the stream with its SYNACK error and the
 *    dial latency is the real handshake, measured from the SYN.
 *  - The client's first bytes usually come just after the stream's address
 *    (the app writes once its SOCKS reply is back): the SYN waits for them at
 *    most TFO_DATA_WAIT_MS, then leaves empty (a zero-length send starts the
 *    handshake), so a target that speaks first (SMTP, SSH banners) is reached
 *    at most that much later and never waits for bytes that will not come.
 * A target without TFO is reached as usual: the kernel retransmits the SYN's
 * bytes after a plain handshake, and without a cookie connect() is a normal
 * one that asks for a cookie (no deferral). */
static void tfo_launch(sstream_t *st)
{
    sworker_t *w = st->s->w;
    st->tfo_deferred = 0;
    st->dial_us = now_us();   /* the handshake starts now, not at connect() */
    ssize_t n = send(st->tio.fd, st->tq.len ? bq_head(&st->tq) : (const uint8_t *)"", st->tq.len, MSG_NOSIGNAL);
    if (n > 0) {
        bq_consume(&st->tq, (size_t)n);
        stream_queue_sync(st);
        st->tfo_data = 1;
        WSTAT_ADD(w, tfo_syn_data, 1);
    } else if (n < 0 && errno != EINPROGRESS && errno != EAGAIN && errno != EWOULDBLOCK) {
        char m[400];
        snprintf(m, sizeof m, "dial tcp %s: %s", st->key, strerror(errno));
        stream_fail(st, m);
        return;
    }
    loop_mod(LOOP(st), &st->tio, EPOLLOUT);   /* writable again = established (or failed) */
    connect_timer(st);
}

void outbound_stream_data(sstream_t *st)
{
    if (st->tfo_deferred && st->tq.len) {
        timer_cancel(LOOP(st), &st->timer);
        tfo_launch(st);
    }
}

static void dial_addr(sstream_t *st, const struct sockaddr_storage *ss, socklen_t len)
{
    ssess_t *s = st->s;
    if (!tpol_allows(s->w->srv->tpol, (const struct sockaddr *)ss)) {
        char msg[400];
        WSTAT_ADD(s->w, targets_denied, 1);
        snprintf(msg, sizeof msg, "dial tcp %s: address not allowed (--deny-private-targets)", st->key);
        stream_fail(st, msg);
        return;
    }
    st->dial_us = now_us();
    int deferred = 0;
    int fd = s->w->srv->cfg->tcp_fast_open ? tcp_connect_tfo((const struct sockaddr *)ss, len, &deferred)
                                           : tcp_connect_start((const struct sockaddr *)ss, len);
    if (fd < 0) {
        char msg[400];
        snprintf(msg, sizeof msg, "dial tcp %s: %s", st->key, strerror(errno));
        if (errno == EMFILE || errno == ENFILE) log_warn("out of file descriptors dialing %s", st->key);
        stream_fail(st, msg);
        return;
    }
    if (deferred >= 0 && s->w->srv->cfg->tcp_fast_open) WSTAT_ADD(s->w, tfo_dials, 1);
    st->state = ST_CONNECTING;
    st->tfo_deferred = deferred == 1;
    /* A deferred TFO socket is writable at once, but nothing has happened at
     * the target: it is watched only once its SYN has left (tfo_launch). */
    if (loop_add(LOOP(st), &st->tio, fd, st->tfo_deferred ? 0 : EPOLLOUT, stream_target_cb, st) < 0) {
        close(fd);
        stream_fail(st, "cannot register target socket");
        return;
    }
    if (st->tfo_deferred) {
        WSTAT_ADD(s->w, tfo_cookie_dials, 1);
        if (st->tq.len) tfo_launch(st);
        else timer_set(LOOP(st), &st->timer, TFO_DATA_WAIT_MS);
        return;
    }
    connect_timer(st);
}

/* "lookup NAME: why", the name escaped: it is the client's, and the text
 * goes to the log and back to the client. */
static void lookup_fail(sstream_t *st, const char *why)
{
    char m[1400], esc[1100];
    snprintf(m, sizeof m, "lookup %s: %s",
             log_escape(st->dst.name, strlen(st->dst.name), esc, sizeof esc), why);
    stream_fail(st, m);
}

/* Why dns_resolve said no (errno); a full budget is counted. */
static const char *lookup_refused(sworker_t *w)
{
    int e = errno;
    if (e == EAGAIN || e == EBUSY) WSTAT_ADD(w, dns_refused, 1);
    if (e == EAGAIN) return "too many lookups running on this server; try again later";
    if (e == EBUSY) return "too many lookups running for this session; try again later";
    if (e == EINVAL) return "invalid name";
    return strerror(e);
}

static void dns_done(loop_t *l, void *arg, int err, const char *msg,
                     const struct sockaddr_storage *ss, socklen_t len)
{
    sstream_t *st = arg;
    st->dns = NULL;
    st->state = ST_CONNECTING;
    if (err) { lookup_fail(st, msg); return; }
    dial_addr(st, ss, len);
}

/* The pool said miss: the stream dials, resolving a name first. The session
 * owns the lookup: its budget caps how many names it can have resolving. */
static void dial(sstream_t *st)
{
    addr_t ip = st->dst;
    addr_ip_literal(&ip);
    if (ip.type == ADDR_DOMAIN) {
        ssess_t *s = st->s;
        st->state = ST_RESOLVING;
        st->dns = dns_resolve(s->w->dns, st->dst.name, st->dst.port, &s->dns, dns_done, st);
        if (!st->dns) {
            st->state = ST_CONNECTING;
            lookup_fail(st, lookup_refused(s->w));
            return;
        }
        timer_set(LOOP(st), &st->timer, SYNACK_EARLY_MS);
        return;
    }
    struct sockaddr_storage ss; socklen_t len;
    addr_to_sockaddr(&ip, &ss, &len);
    dial_addr(st, &ss, len);
}

/* One acquire: a spare, a slot to dial with, or a wait for a slot. */
static void acquire(sstream_t *st)
{
    int fd = -1;
    sworker_t *w = st->s->w;
    int r = pool_acquire(&st->pool->h, st->key, w->id, &fd);
    if (r == POOL_FULL) {
        st->state = ST_WAIT_POOL;
        timer_set(LOOP(st), &st->timer, FULL_RETRY_MS);
        return;
    }
    st->counted = 1;
    if (r == POOL_HIT) {
        gate_reached(w->gate, st->key);
        stream_relay_start(st, fd);
    } else {
        dial(st);
    }
}

void outbound_open(sstream_t *st)
{
    sworker_t *w = st->s->w;
    char key[POOL_KEY_MAX + 1];
    addr_format(&st->dst, key, sizeof key);
    if (!(st->key = strdup(key))) { stream_close(st, 1, "out of memory"); return; }
    st->pool = w->pool;
    pool_ref_get(st->pool);
    gate_requested(w->srv->seen, st->key);
    acquire(st);
    if (!w->wk->draining) refill_soon(w);
}

void outbound_stream_timer(sstream_t *st)
{
    loop_t *l = LOOP(st);
    ltimer_t *t = &st->timer;
    server_t *srv = st->s->w->srv;
    uint64_t age = now_ms() - st->started;
    if (st->state == ST_WAIT_POOL) {
        if (age >= FULL_WAIT_MS) stream_fail(st, "outbound connection pool is full for this target");
        else acquire(st);
        return;
    }
    if (st->state == ST_CONNECTING && st->tfo_deferred) {   /* no client bytes came: SYN without */
        tfo_launch(st);
        return;
    }
    if (st->state == ST_CONNECTING || st->state == ST_RESOLVING) {
        if (age >= (uint64_t)srv->cfg->connect_timeout_ms) {
            stream_fail(st, "dial timeout");
            return;
        }
        /* Still dialing near the client's 3 s SYNACK watchdog: ack now; a later
         * failure ends the stream with FIN instead of an error text. */
        stream_ack(st);
        timer_set(l, t, (uint64_t)srv->cfg->connect_timeout_ms - age);
    }
}

void outbound_connected(sstream_t *st)
{
    if (st->tfo_deferred) return;   /* no SYN sent yet: nothing can have happened */
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(st->tio.fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) {
        char m[400];
        snprintf(m, sizeof m, "dial tcp %s: %s", st->key, strerror(err));
        stream_fail(st, m);
        return;
    }
    if (st->dial_us) {
        sworker_t *w = st->s->w;
        uint64_t us = now_us() - st->dial_us;
        WSTAT_ADD(w, dial_count, 1);
        WSTAT_ADD(w, dial_us_sum, us);
        WSTAT_ADD(w, dial_buckets[metrics_dial_bucket(us / 1e6)], 1);
    }
    if (st->tfo_data) {
        struct tcp_info ti;
        socklen_t tl = sizeof ti;
        if (getsockopt(st->tio.fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0 && (ti.tcpi_options & TCPI_OPT_SYN_DATA))
            WSTAT_ADD(st->s->w, tfo_syn_data_acked, 1);
    }
    gate_reached(st->s->w->gate, st->key);
    stream_relay_start(st, st->tio.fd);
}

void outbound_stream_end(sstream_t *st)
{
    dns_cancel(st->dns);  /* its callback would find the stream gone */
    st->dns = NULL;
    if (st->counted) pool_stream_done(&st->pool->h, st->key, st->s->w->id);
    st->counted = 0;
    outbound_pool_put(st->pool);
    st->pool = NULL;
    timer_cancel(LOOP(st), &st->timer);
}

/* ---- refills: non-blocking connects for the spares the pool wants ---- */

struct refill {
    sworker_t *w;
    pool_ref_t *pool;
    ioh_t io;
    ltimer_t timer;
    dns_req_t *dns;            /* the lookup in flight, else NULL */
    char key[POOL_KEY_MAX + 1];
    refill_t *prev, *next;     /* worker's list, so shutdown can end them all */
};

enum { REFILL_FAILED, REFILL_OK, REFILL_DECLINED };

/* outcome: a spare for the pool, a connect that failed, or one not tried
 * (cancelled, or the target's address is not allowed). */
static void refill_end(loop_t *l, refill_t *r, int outcome)
{
    int fd = r->io.fd;
    sworker_t *w = r->w;
    timer_cancel(l, &r->timer);
    dns_cancel(r->dns);
    r->dns = NULL;
    if (fd >= 0) loop_del(l, &r->io);
    if (r->prev) r->prev->next = r->next; else w->refills = r->next;
    if (r->next) r->next->prev = r->prev;
    if (outcome == REFILL_OK) {
        pool_spare_ready(&r->pool->h, r->key, fd, w->id);
    } else {
        if (fd >= 0) close(fd);
        if (outcome == REFILL_DECLINED) pool_spare_declined(&r->pool->h, r->key, w->id);
        else pool_spare_failed(&r->pool->h, r->key, w->id);
    }
    if (outcome != REFILL_DECLINED) gate_result(w->gate, r->key, outcome == REFILL_OK, loop_now(l));
    outbound_pool_put(r->pool);
    loop_defer_free(l, r, free);
}

static void refill_cb(loop_t *l, ioh_t *h, uint32_t ev)
{
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    refill_end(l, h->ud, err == 0 ? REFILL_OK : REFILL_FAILED);
}

static void refill_timeout(loop_t *l, ltimer_t *t) { refill_end(l, t->ud, REFILL_FAILED); }

/* Never with TCP Fast Open: see tfo_launch. */
static void refill_dial(loop_t *l, refill_t *r, const struct sockaddr_storage *ss, socklen_t len)
{
    if (!tpol_allows(r->w->srv->tpol, (const struct sockaddr *)ss)) {
        WSTAT_ADD(r->w, targets_denied, 1);
        refill_end(l, r, REFILL_DECLINED);
        return;
    }
    int fd = tcp_connect_start((const struct sockaddr *)ss, len);
    if (fd < 0 || loop_add(l, &r->io, fd, EPOLLOUT, refill_cb, r) < 0) {
        if (fd >= 0) close(fd);
        r->io.fd = -1;
        refill_end(l, r, REFILL_FAILED);
        return;
    }
    timer_set(l, &r->timer, (uint64_t)r->w->srv->cfg->connect_timeout_ms);
}

static void refill_dns(loop_t *l, void *arg, int err, const char *msg,
                       const struct sockaddr_storage *ss, socklen_t len)
{
    refill_t *r = arg;
    r->dns = NULL;
    if (err) refill_end(l, r, REFILL_FAILED);
    else refill_dial(l, r, ss, len);
}

/* No amplification: at most max_spare_dials refill connects per second per
 * worker; 0 when this one is over. */
static int refill_allowed(sworker_t *w)
{
    uint64_t sec = loop_now(w->loop) / 1000;
    if (sec != w->dial_window) { w->dial_window = sec; w->dials_in_window = 0; }
    if (w->dials_in_window >= w->srv->cfg->max_spare_dials) return 0;
    w->dials_in_window++;
    return 1;
}

static void refill_start(sworker_t *w, pool_ref_t *pool, const char *key, const addr_t *a)
{
    loop_t *l = w->loop;
    refill_t *r = refill_allowed(w) ? calloc(1, sizeof *r) : NULL;
    if (!r) { pool_spare_declined(&pool->h, key, w->id); return; }
    r->w = w;
    r->pool = pool;
    pool_ref_get(pool);
    r->io.fd = -1;
    r->next = w->refills;
    if (r->next) r->next->prev = r;
    w->refills = r;
    timer_init(&r->timer, refill_timeout, r);
    snprintf(r->key, sizeof r->key, "%s", key);
    if (a->type == ADDR_DOMAIN) {
        /* no session's: the refills' own share of the worker's resolver */
        r->dns = dns_resolve(w->dns, a->name, a->port, &w->refill_dns, refill_dns, r);
        if (!r->dns) {
            lookup_refused(w);
            refill_end(l, r, REFILL_DECLINED);
        }
    } else {
        struct sockaddr_storage ss; socklen_t len;
        addr_to_sockaddr(a, &ss, &len);
        refill_dial(l, r, &ss, len);
    }
}

/* Every 200 ms (or 2 ms after an acquire): the refills the pool asks for,
 * each through the refill gate (asked for more than once, not backing off)
 * and under the pool-wide cap on spares (--max-spares); the rest are
 * declined, which the pool counts as never dialed. */
static void tick_cb(loop_t *l, ltimer_t *t)
{
    sworker_t *w = t->ud;
    pool_ref_t *pool = w->pool;
    int n = pool_tick(&pool->h, w->id, w->dials, (int)(sizeof w->dials / sizeof w->dials[0]));
    if (n > 0) {
        pool_stats_t ps;
        pool_stats(&pool->h, &ps);
        /* ps.dialing already counts what this tick asked for */
        uint64_t spares = ps.idle + ps.dialing, cap = (uint64_t)w->srv->cfg->max_spares;
        uint64_t now = loop_now(l);
        for (int i = 0; i < n; i++) {
            const char *key = w->dials[i].key;
            addr_t a;
            int ok = addr_from_string(key, &a) == 0 && gate_allows(w->gate, w->srv->seen, key, now);
            if (ok) addr_ip_literal(&a);
            for (int k = 0; k < w->dials[i].count; k++) {
                if (ok && spares <= cap) refill_start(w, pool, key, &a);
                else {
                    pool_spare_declined(&pool->h, key, w->id);
                    if (spares) spares--;
                }
            }
        }
    }
    timer_set(l, t, REFILL_TICK_MS);
}

void outbound_worker_init(sworker_t *w)
{
    timer_init(&w->tick, tick_cb, w);
    timer_set(w->loop, &w->tick, REFILL_TICK_MS);
}

void outbound_worker_stop(sworker_t *w)
{
    timer_cancel(w->loop, &w->tick);
    while (w->refills)   /* cancels their lookups and connects */
        refill_end(w->loop, w->refills, w->refills->io.fd >= 0 ? REFILL_FAILED : REFILL_DECLINED);
}
