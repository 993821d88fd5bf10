/* server_uot.c -- UDP over TCP on the server (server_uot.h). */
#include "server_uot.h"
#include "log.h"
#include "server_session.h"
#include "server_stream.h"
#include "dns.h"
#include "uot.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The largest UoT frame a client may leave incomplete before it is called malformed. */
#define SUOT_REASSEMBLY_MAX 70000

/* The UoT socket is AF_INET6 dual-stack: an IPv4 destination becomes ::ffff:a.b.c.d. */
static void map_v4(struct sockaddr_storage *ss, socklen_t *len)
{
    if (ss->ss_family != AF_INET) return;
    struct sockaddr_in s4;
    memcpy(&s4, ss, sizeof s4);
    struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = s4.sin_port };
    memset((uint8_t *)&s6.sin6_addr + 10, 0xff, 2);
    memcpy((uint8_t *)&s6.sin6_addr + 12, &s4.sin_addr, 4);
    memcpy(ss, &s6, sizeof s6);
    *len = sizeof s6;
}

/* ---- datagrams waiting for their destination's name ---- */

#define SUOT_PENDING_MAX 16

typedef struct pend {
    addr_t dst;                /* a name */
    size_t len;
    uint8_t data[];
} pend_t;

struct suot_pending {
    pend_t *q[SUOT_PENDING_MAX];   /* FIFO: q[0] is the oldest */
    int n;
    unsigned warned : 1;       /* a drop on this stream has been logged */
};

static void drop(sstream_t *st, const addr_t *dst, const char *why)
{
    struct suot_pending *u = st->upend;
    WSTAT_ADD(st->s->w, uot_dropped, 1);
    if (u && u->warned) return;
    if (!u && st->state == ST_UDP && (u = st->upend = calloc(1, sizeof *u)) == NULL) return;
    if (u) u->warned = 1;
    char to[300] = "<target>";
    if (st->s->w->srv->cfg->log_targets) addr_format(dst, to, sizeof to);
    log_info("stream %u of %s: UDP datagram to %s dropped (%s); further drops on this stream are "
             "counted, not logged", st->sid, st->s->peer, to, why);
}

static void put_to(sstream_t *st, struct sockaddr_storage *ss, socklen_t len, const uint8_t *p, size_t n)
{
    if (!tpol_allows(st->s->w->srv->tpol, (const struct sockaddr *)ss)) {
        addr_t to;
        sockaddr_to_addr((const struct sockaddr *)ss, &to);
        WSTAT_ADD(st->s->w, targets_denied, 1);
        drop(st, &to, "address not allowed (--deny-private-targets)");
        return;
    }
    map_v4(ss, &len);
    if (sendto(st->tio.fd, p, n, MSG_NOSIGNAL, st->uot_connect ? NULL : (struct sockaddr *)ss,
               st->uot_connect ? 0 : len) < 0)
        log_debug("UoT sendto: %s", strerror(errno));
}

static void lookup_next(sstream_t *st);

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
    if (ss->ss_family == AF_INET) ((struct sockaddr_in *)ss)->sin_port = htons(port);
    else ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* The oldest waiting datagram's name is resolved (or not): every datagram
 * waiting for that name goes out (or is dropped), then the next name. */
static void name_done(loop_t *l, void *arg, int err, const char *msg,
                      const struct sockaddr_storage *ss, socklen_t len)
{
    sstream_t *st = arg;
    struct suot_pending *u = st->upend;
    st->dns = NULL;
    if (!u || !u->n) return;
    char name[256];
    snprintf(name, sizeof name, "%s", u->q[0]->dst.name);
    if (err && st->uot_connect && st->dst.type == ADDR_DOMAIN) {
        /* connect mode has one destination: without it the stream is useless */
        drop(st, &st->dst, msg);
        stream_close(st, 1, "UoT destination did not resolve");
        return;
    }
    if (!err && st->uot_connect && st->dst.type == ADDR_DOMAIN) {
        /* connect mode: the one destination is known now */
        struct sockaddr_storage c = *ss;
        socklen_t cl = len;
        set_port(&c, st->dst.port);
        if (!tpol_allows(st->s->w->srv->tpol, (const struct sockaddr *)&c)) {
            WSTAT_ADD(st->s->w, targets_denied, 1);
            stream_close(st, 1, "UoT destination not allowed (--deny-private-targets)");
            return;
        }
        map_v4(&c, &cl);
        if (connect(st->tio.fd, (struct sockaddr *)&c, cl) < 0) {
            char m[120];
            snprintf(m, sizeof m, "UDP connect: %s", strerror(errno));
            stream_close(st, 1, m);
            return;
        }
        sockaddr_to_addr((const struct sockaddr *)ss, &st->dst);
        st->dst.port = u->q[0]->dst.port;
    }
    int k = 0;
    for (int i = 0; i < u->n; i++) {
        pend_t *p = u->q[i];
        if (strcmp(p->dst.name, name) != 0) { u->q[k++] = p; continue; }
        if (err) {
            drop(st, &p->dst, msg);
        } else {
            struct sockaddr_storage to = *ss;
            set_port(&to, p->dst.port);
            put_to(st, &to, len, p->data, p->len);
        }
        free(p);
    }
    u->n = k;
    lookup_next(st);
}

/* Starts the lookup of the oldest waiting datagram's name (one at a time per
 * stream; the resolver's cache makes the next datagrams to a name cheap). */
static void lookup_next(sstream_t *st)
{
    struct suot_pending *u = st->upend;
    ssess_t *s = st->s;
    while (u && u->n && !st->dns) {
        const addr_t *d = &u->q[0]->dst;
        st->dns = dns_resolve(s->w->dns, d->name, d->port, &s->dns, name_done, st);
        if (st->dns) return;
        /* refused (budget full) or invalid: this name's datagrams go */
        char why[64];
        snprintf(why, sizeof why, "lookup refused: %s", strerror(errno));
        char name[256];
        snprintf(name, sizeof name, "%s", d->name);
        int k = 0;
        for (int i = 0; i < u->n; i++) {
            if (strcmp(u->q[i]->dst.name, name) == 0) { drop(st, &u->q[i]->dst, why); free(u->q[i]); }
            else u->q[k++] = u->q[i];
        }
        u->n = k;
    }
}

static void wait_for_name(sstream_t *st, const addr_t *dst, const uint8_t *p, size_t n)
{
    struct suot_pending *u = st->upend;
    if (!u && !(u = st->upend = calloc(1, sizeof *u))) { drop(st, dst, "out of memory"); return; }
    if (u->n == SUOT_PENDING_MAX) { drop(st, dst, "too many datagrams waiting for names"); return; }
    pend_t *e = malloc(sizeof *e + n);
    if (!e) { drop(st, dst, "out of memory"); return; }
    e->dst = *dst;
    e->len = n;
    memcpy(e->data, p, n);
    u->q[u->n++] = e;
    lookup_next(st);
}

void suot_free(sstream_t *st)
{
    struct suot_pending *u = st->upend;
    if (!u) return;
    for (int i = 0; i < u->n; i++) free(u->q[i]);
    free(u);
    st->upend = NULL;
}

static void send_datagram(sstream_t *st, const addr_t *dst, const uint8_t *p, size_t n)
{
    addr_t ip = *dst;
    addr_ip_literal(&ip);
    if (ip.type == ADDR_DOMAIN) { wait_for_name(st, dst, p, n); return; }
    struct sockaddr_storage ss; socklen_t len;
    addr_to_sockaddr(&ip, &ss, &len);
    put_to(st, &ss, len, p, n);
}

void suot_feed(sstream_t *st)
{
    while (st->tq.len && st->state == ST_UDP) {
        addr_t dst;
        const uint8_t *pl;
        size_t plen;
        int r = uot_parse_datagram(bq_head(&st->tq), st->tq.len, st->uot_connect, &dst, &pl, &plen);
        if (r == 0) {
            if (st->tq.len > SUOT_REASSEMBLY_MAX) r = -1; else break;
        }
        if (r < 0) { stream_close(st, 1, "malformed UoT datagram"); return; }
        send_datagram(st, st->uot_connect ? &st->dst : &dst, pl, plen);
        bq_consume(&st->tq, (size_t)r);
    }
    /* what went out no longer counts against the budgets; the datagrams that
     * came with the request (suot_start) are sent here, with no stream_data
     * after to settle the count */
    stream_queue_sync(st);
}

void suot_start(sstream_t *st)
{
    loop_t *l = st->s->w->loop;
    int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int zero = 0;
    if (fd >= 0) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (fd < 0 || loop_add(l, &st->tio, fd, EPOLLIN, stream_target_cb, st) < 0) {
        if (fd >= 0) close(fd);
        stream_fail(st, "cannot open UDP socket");
        return;
    }
    if (st->uot_connect) {
        addr_t ip = st->dst;
        addr_ip_literal(&ip);
        if (ip.type == ADDR_DOMAIN) {
            /* connected once the name resolves (name_done); datagrams wait till then */
            st->state = ST_UDP;
            stream_ack(st);
            suot_feed(st);
            return;
        }
        st->dst = ip;
        struct sockaddr_storage ss; socklen_t len;
        addr_to_sockaddr(&ip, &ss, &len);
        if (!tpol_allows(st->s->w->srv->tpol, (const struct sockaddr *)&ss)) {
            WSTAT_ADD(st->s->w, targets_denied, 1);
            stream_fail(st, "UDP destination address not allowed (--deny-private-targets)");
            return;
        }
        map_v4(&ss, &len);
        if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
            char m[120];
            snprintf(m, sizeof m, "UDP connect: %s", strerror(errno));
            stream_fail(st, m);
            return;
        }
    }
    st->state = ST_UDP;
    stream_ack(st);
    suot_feed(st);
}

void suot_read(sstream_t *st)
{
    ssess_t *s = st->s;
    uint8_t *buf = loop_scratch(s->w->loop);
    for (int i = 0; i < 64; i++) {
        if (s->c.out.len > SESS_OUT_HIGH) { stream_block(st); return; }
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        /* leave room for frame header + datagram header in the headroom */
        ssize_t n = recvfrom(st->tio.fd, buf, 65535 - 40, 0, (struct sockaddr *)&ss, &sl);
        if (n < 0) return;
        addr_t src;
        sockaddr_to_addr((struct sockaddr *)&ss, &src);
        uint8_t h[64];
        int hl = uot_datagram_header(st->uot_connect, &src, (size_t)n, h, sizeof h);
        if (hl < 0) continue;
        uint8_t *p = buf - hl - FRAME_HDR;
        memcpy(p + FRAME_HDR, h, (size_t)hl);
        frame_put_hdr(p, CMD_PSH, st->sid, (uint16_t)(n + hl));
        if (sess_send(s, p, (size_t)n + hl + FRAME_HDR) < 0) return;
    }
}
