/* client_udp.c -- SOCKS5 UDP ASSOCIATE relay (see client_udp.h). */
#include "client_udp.h"
#include "client_conn.h"
#include "client_session.h"
#include "inbound_parse.h"
#include "uot.h"

#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

void cu_from_stream(cconn_t *cc, const uint8_t *p, size_t n)
{
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
            sendto(cc->uio.fd, out, hl + plen, 0, (struct sockaddr *)&cc->app, cc->app_len);
        }
        bq_consume(&cc->early, (size_t)r);
    }
}

static void cu_cb(loop_t *l, ioh_t *h, uint32_t ev)
{
    cconn_t *cc = h->ud;
    uint8_t *buf = loop_scratch(l);
    for (int i = 0; i < 32 && cc->state != CC_DEAD; i++) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(h->fd, buf, 65535 - 300, 0, (struct sockaddr *)&from, &fl);
        if (n < 0) return;
        addr_t dst;
        int hl = socks5_udp_parse(buf, (size_t)n, &dst);
        if (hl < 0) continue;
        memcpy(&cc->app, &from, fl);
        cc->app_len = fl;
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
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(cc->lio.fd, (struct sockaddr *)&ss, &sl);
    if (ss.ss_family == AF_INET) ((struct sockaddr_in *)&ss)->sin_port = 0;
    else ((struct sockaddr_in6 *)&ss)->sin6_port = 0;
    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) < 0 ||
        loop_add(cc->w->loop, &cc->uio, fd, EPOLLIN, cu_cb, cc) < 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
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

