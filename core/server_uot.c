/* server_uot.c -- UDP over TCP on the server (server_uot.h). */
#include "server_uot.h"
#include "log.h"
#include "server_session.h"
#include "server_stream.h"
#include "uot.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
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

static void send_datagram(sstream_t *st, const addr_t *dst, const uint8_t *p, size_t n)
{
    addr_t ip = *dst;
    addr_ip_literal(&ip);
    struct sockaddr_storage ss; socklen_t len;
    if (ip.type == ADDR_DOMAIN) {
        /* Resolving per datagram would need queues; a non-connect UoT client
         * sends IPs in practice (sing-box resolves first). Drop and say so. */
        log_debug("UoT datagram to unresolved name dropped");
        return;
    }
    addr_to_sockaddr(&ip, &ss, &len);
    map_v4(&ss, &len);
    if (sendto(st->tio.fd, p, n, MSG_NOSIGNAL, st->uot_connect ? NULL : (struct sockaddr *)&ss,
               st->uot_connect ? 0 : len) < 0)
        log_debug("UoT sendto: %s", strerror(errno));
}

void suot_feed(sstream_t *st)
{
    while (st->tq.len && st->state == ST_UDP) {
        addr_t dst;
        const uint8_t *pl;
        size_t plen;
        int r = uot_parse_datagram(bq_head(&st->tq), st->tq.len, st->uot_connect, &dst, &pl, &plen);
        if (r == 0) {
            if (st->tq.len > SUOT_REASSEMBLY_MAX) r = -1; else return;
        }
        if (r < 0) { stream_close(st, 1, "malformed UoT datagram"); return; }
        send_datagram(st, st->uot_connect ? &st->dst : &dst, pl, plen);
        bq_consume(&st->tq, (size_t)r);
    }
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
        if (ip.type == ADDR_DOMAIN) { stream_fail(st, "UoT connect to a name is not supported"); return; }
        struct sockaddr_storage ss; socklen_t len;
        addr_to_sockaddr(&ip, &ss, &len);
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
