/* lg_tcp.c -- SOCKS5 and direct streams over plain TCP (lg_tcp.h). */
#include "lg_tcp.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>

#include "loadgen.h"
#include "lg_stream.h"
#include "lg_target.h"

int lg_tcp_start(int32_t i)
{
    lg_stream_t *s = &lg_st.S[i];
    const lg_target_t *dst = lg_cfg.proto == PROTO_DIRECT ? &lg_cfg.targets[s->tgt] : &lg_cfg.proxy;
    int fd = socket(dst->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { lg_stream_fail(i, E_CONNECT); return -1; }
    s->fd = fd;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)&dst->ss, dst->len) < 0 && errno != EINPROGRESS) {
        lg_stream_fail(i, E_CONNECT);
        return -1;
    }
    struct epoll_event e = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP,
                            .data.u64 = ((uint64_t)s->gen << 32) | (uint32_t)i};
    if (epoll_ctl(lg_st.ep, EPOLL_CTL_ADD, fd, &e) < 0) { lg_stream_fail(i, E_IO); return -1; }
    return 0;
}

/* Called once the TCP connection is up: queue the first bytes. */
static void lg_tcp_begin(lg_stream_t *s)
{
    size_t k = 0;
    if (lg_cfg.proto == PROTO_DIRECT) {
        k = lg_stream_put_request(s->out);
        s->hs = HS_DONE;
        s->st = ST_RESPONSE;
    } else {
        s->out[k++] = 5; s->out[k++] = 1; s->out[k++] = 0;   /* no-auth only */
        if (lg_cfg.socks_pipeline) {
            k += lg_target_put_socks(s->out + k, &lg_cfg.targets[s->tgt]);
            k += lg_stream_put_request(s->out + k);
        }
        s->hs = HS_METHOD;
        s->in_need = 2;
        s->in_got = 0;
        s->st = ST_HANDSHAKE;
    }
    s->out_len = (uint16_t)k;
    s->out_off = 0;
}

/* Feeds handshake bytes. Returns bytes consumed (the rest is response data),
 * or -1 on a protocol error. Queues follow-up bytes in s->out. */
static ssize_t lg_tcp_feed(lg_stream_t *s, const uint8_t *p, size_t n, uint64_t t)
{
    size_t used = 0;
    while (s->st == ST_HANDSHAKE && used < n) {
        size_t take = s->in_need - s->in_got;
        if (take > n - used) take = n - used;
        memcpy(s->in + s->in_got, p + used, take);
        s->in_got = (uint16_t)(s->in_got + take);
        used += take;
        if (s->in_got < s->in_need) break;
        switch (s->hs) {
        case HS_METHOD:
            if (s->in[0] != 5 || s->in[1] != 0) return -1;
            if (!lg_cfg.socks_pipeline) {
                s->out_len = (uint16_t)lg_target_put_socks(s->out, &lg_cfg.targets[s->tgt]);
                s->out_off = 0;
            }
            s->hs = HS_REPLY_HEAD;
            s->in_need = 5;   /* VER REP RSV ATYP + first addr byte */
            s->in_got = 0;
            break;
        case HS_REPLY_HEAD: {
            if (s->in[0] != 5) return -1;
            if (s->in[1] != 0) { lg_st.n.socks_rep_bad++; return -1; }
            size_t rest;
            switch (s->in[3]) {
            case 1: rest = 4 - 1 + 2; break;
            case 4: rest = 16 - 1 + 2; break;
            case 3: rest = (size_t)s->in[4] + 2; break;
            default: return -1;
            }
            s->hs = HS_REPLY_ADDR;
            s->in_need = (uint16_t)(5 + rest);
            break;
        }
        case HS_REPLY_ADDR:
            s->hs = HS_DONE;
            s->st = ST_RESPONSE;
            s->t_socks = t;
            if (!lg_cfg.socks_pipeline) {
                s->out_len = (uint16_t)lg_stream_put_request(s->out);
                s->out_off = 0;
            }
            break;
        }
    }
    return (ssize_t)used;
}

void lg_tcp_event(uint64_t u, uint32_t ev, uint64_t t)
{
    int32_t i = (int32_t)(uint32_t)u;
    lg_stream_t *s = &lg_st.S[i];
    char *scratch = lg_st.scratch;
    if (s->st == ST_FREE || (s->gen & 0x7fffffffu) != ((uint32_t)(u >> 32) & 0x7fffffffu))
        return;
    if (s->st == ST_CONNECTING) {
        if (ev & EPOLLERR) { lg_stream_fail(i, E_CONNECT); return; }
        if (!(ev & EPOLLOUT)) {
            if (ev & EPOLLHUP) lg_stream_fail(i, E_CONNECT);
            return;
        }
        s->t_conn = t;
        lg_tcp_begin(s);
    }
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
        s->unread = 1;
    for (;;) {
        /* write whatever is queued */
        while (s->out_off < s->out_len) {
            ssize_t k = send(s->fd, s->out + s->out_off, s->out_len - s->out_off, MSG_NOSIGNAL);
            if (k < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN) break;
                lg_stream_fail(i, s->st == ST_HANDSHAKE ? E_SOCKS : E_IO);
                return;
            }
            s->out_off = (uint16_t)(s->out_off + k);
        }
        if (s->st == ST_RESPONSE && lg_cfg.resp_size == 0 && s->out_off >= s->out_len) {
            s->t_first = t;   /* nothing to wait for: done once the request is out */
            lg_stream_ok(i, t);
            return;
        }
        /* Edge-triggered: read until the socket is drained. A read shorter than
         * the buffer drained it; any later arrival raises a new edge, so there is
         * no read (and no wasted EAGAIN syscall) until the next event. */
        if (!s->unread)
            return;
        ssize_t k = recv(s->fd, scratch, sizeof lg_st.scratch, 0);
        if (k < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) { s->unread = 0; return; }
            lg_stream_fail(i, s->st == ST_HANDSHAKE ? E_SOCKS : E_IO);
            return;
        }
        if (k == 0) {
            lg_stream_fail(i, s->st == ST_HANDSHAKE ? E_SOCKS : E_SHORT);
            return;
        }
        if ((size_t)k < sizeof lg_st.scratch)
            s->unread = 0;
        size_t off = 0;
        if (s->st == ST_HANDSHAKE) {
            ssize_t used = lg_tcp_feed(s, (const uint8_t *)scratch, (size_t)k, t);
            if (used < 0) { lg_stream_fail(i, E_SOCKS); return; }
            off = (size_t)used;
        }
        if (s->st == ST_RESPONSE && off < (size_t)k) {
            if (!s->resp_got) s->t_first = t;
            s->resp_got += (size_t)k - off;
            if (s->resp_got >= lg_cfg.resp_size) {
                lg_stream_ok(i, t);
                return;
            }
        }
    }
}
