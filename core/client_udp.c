/* client_udp.c -- SOCKS5 UDP ASSOCIATE relay (see client_udp.h). The relay
 * socket listens on the proxy's address, so anyone who can reach that address
 * could use it: it takes datagrams only from the client that asked for the
 * association (RFC 1928 §7), and sends replies only there. */
#include "client_udp.h"
#include "client_conn.h"
#include "client_session.h"
#include "inbound_parse.h"
#include "log.h"
#include "uot.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CU_DROP_LOG_MS 10000   /* foreign datagrams: one log line per association per 10 s */

struct cudp {
    ioh_t io;
    /* The only source taken: the control connection's peer IP, and the port
     * the ASSOCIATE request declared, else (0) the first datagram's. */
    struct sockaddr_storage client;
    socklen_t client_len;
    unsigned port_known : 1;
    uint64_t dropped;          /* datagrams from other sources */
    uint64_t drop_logged;      /* when that was last logged (ms; 0 never) */
};

static uint16_t *cu_port(struct sockaddr_storage *ss)
{
    return ss->ss_family == AF_INET ? &((struct sockaddr_in *)ss)->sin_port
                                    : &((struct sockaddr_in6 *)ss)->sin6_port;
}

static int cu_same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family) return 0;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr == ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr,
                  sizeof(struct in6_addr)) == 0;
}

static void cu_format(const struct sockaddr_storage *ss, int with_port, char *out, size_t cap)
{
    addr_t a;
    sockaddr_to_addr((const struct sockaddr *)ss, &a);
    if (!with_port) a.port = 0;
    addr_format(&a, out, cap);
}

/* 1 if a datagram from `from` belongs to the association (locking onto its
 * port if none was declared); else 0, counted and logged now and then. */
static int cu_accept_source(cconn_t *cc, struct sockaddr_storage *from)
{
    struct cudp *u = cc->ua;
    if (cu_same_ip(from, &u->client)) {
        if (!u->port_known) {
            *cu_port(&u->client) = *cu_port(from);
            u->port_known = 1;
            return 1;
        }
        if (*cu_port(from) == *cu_port(&u->client)) return 1;
    }
    u->dropped++;
    uint64_t now = loop_now(cc->w->loop);
    if (!u->drop_logged || now - u->drop_logged >= CU_DROP_LOG_MS) {
        char who[64], want[64];
        cu_format(from, 1, who, sizeof who);
        cu_format(&u->client, u->port_known, want, sizeof want);
        log_warn("SOCKS5 UDP: dropped a datagram from %s: the association belongs to %s%s "
                 "(%llu dropped so far)", who, want, u->port_known ? "" : " (any port)",
                 (unsigned long long)u->dropped);
        u->drop_logged = now;
    }
    return 0;
}

void cu_close(cconn_t *cc)
{
    struct cudp *u = cc->ua;
    if (!u) return;
    cc->ua = NULL;
    if (u->dropped) log_debug("SOCKS5 UDP association closed; %llu datagram(s) from other sources dropped",
                              (unsigned long long)u->dropped);
    int fd = u->io.fd;
    loop_del(cc->w->loop, &u->io);
    close(fd);
    /* cu_cb may be later in this epoll batch: free with the connection. */
    loop_defer_free(cc->w->loop, u, free);
}

void cu_from_stream(cconn_t *cc, const uint8_t *p, size_t n)
{
    if (!cc->ua || !cc->ua->port_known) return;   /* nothing asked yet: nobody to answer */
    if (bq_append(&cc->early, p, n) < 0) { cc_close(cc, "out of memory"); return; }
    while (cc->early.len) {
        addr_t src;
        const uint8_t *pl;
        size_t plen;
        int r = uot_parse_datagram(bq_head(&cc->early), cc->early.len, 0, &src, &pl, &plen);
        if (r == 0) return;
        if (r < 0) { cc_close(cc, "malformed UoT datagram from the server"); return; }
        uint8_t out[65536 + 300];
        size_t hl = socks5_udp_header(out, &src);
        if (hl + plen <= sizeof out) {
            memcpy(out + hl, pl, plen);
            sendto(cc->ua->io.fd, out, hl + plen, 0, (struct sockaddr *)&cc->ua->client, cc->ua->client_len);
        }
        bq_consume(&cc->early, (size_t)r);
    }
}

static void cu_cb(loop_t *l, ioh_t *h, uint32_t ev)
{
    cconn_t *cc = h->ud;
    uint8_t *buf = loop_scratch(l);
    for (int i = 0; i < 32 && cc->state != CC_DEAD && cc->ua; i++) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(h->fd, buf, 65535 - 300, 0, (struct sockaddr *)&from, &fl);
        if (n < 0) return;
        if (!cu_accept_source(cc, &from)) continue;
        addr_t dst;
        int hl = socks5_udp_parse(buf, (size_t)n, &dst);
        if (hl < 0) continue;
        uint8_t hdr[300];
        int uh = uot_datagram_header(0, &dst, (size_t)n - hl, hdr, sizeof hdr);
        if (uh < 0) continue;
        /* frame: PSH header + UoT header + payload, built in place before the payload */
        uint8_t *p = buf + hl - uh - FRAME_HDR;
        if (p < buf - LOOP_HEADROOM) continue;
        memmove(p + FRAME_HDR, hdr, (size_t)uh);
        size_t flen = (size_t)uh + (size_t)n - (size_t)hl;
        if (cc->state == CC_WAIT_UDP) {
            /* first datagram: open the UoT stream (non-connect mode) */
            cc->dst = dst;
            uint8_t req[300];
            int rl = uot_encode_request(0, &dst, req, sizeof req);
            if (rl < 0 || bq_append(&cc->early, req, (size_t)rl) < 0 ||
                bq_append(&cc->early, p + FRAME_HDR, flen) < 0) { cc_close(cc, "bad datagram"); return; }
            cc_attach(cc);
            continue;
        }
        csess_t *s = cc->sess;
        if (!s || s->state != CS_RUN || s->cur != cc) {
            if (cc->early.len < LOCAL_BUF_MAX) bq_append(&cc->early, p + FRAME_HDR, flen);
            continue;
        }
        frame_put_hdr(p, CMD_PSH, cc->sid, (uint16_t)flen);
        if (cs_write(s, p, flen + FRAME_HDR) < 0) return;
    }
}

/* SOCKS5 UDP ASSOCIATE: a UDP socket next to the local listener. */
int cu_assoc(cconn_t *cc)
{
    struct cudp *u = calloc(1, sizeof *u);
    if (!u) return -1;
    u->client_len = sizeof u->client;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getpeername(cc->lio.fd, (struct sockaddr *)&u->client, &u->client_len) < 0 ||
        getsockname(cc->lio.fd, (struct sockaddr *)&ss, &sl) < 0) {
        free(u);
        return -1;
    }
    /* DST.PORT of the request: where the client will send from (0: unknown
     * yet). Its DST.ADDR is not used: the client may not know its own address
     * as seen here; the control connection tells. */
    *cu_port(&u->client) = htons(cc->dst.port);
    u->port_known = cc->dst.port != 0;
    *cu_port(&ss) = 0;
    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) < 0 ||
        loop_add(cc->w->loop, &u->io, fd, EPOLLIN, cu_cb, cc) < 0) {
        if (fd >= 0) close(fd);
        free(u);
        return -1;
    }
    cc->ua = u;
    sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    addr_t bound;
    sockaddr_to_addr((struct sockaddr *)&ss, &bound);
    uint8_t rep[32];
    size_t rl = socks5_reply(rep, 0, &bound);
    send(cc->lio.fd, rep, rl, MSG_NOSIGNAL);
    cc->udp = 1;
    cc->state = CC_WAIT_UDP;
    timer_cancel(cc->w->loop, &cc->timer);
    return 0;
}
