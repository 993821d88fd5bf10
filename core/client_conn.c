/* client_conn.c -- local proxy connections (see client_conn.h): their life
 * from accept to close, getting a stream on a session, and the relay of stream
 * bytes in both directions with back-pressure each way. */
#include "client_conn.h"
#include "client_http.h"
#include "client_inbound.h"
#include "client_session.h"
#include "client_udp.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void cc_free(void *p)
{
    cconn_t *cc = p;
    bq_free(&cc->in); bq_free(&cc->tl); bq_free(&cc->early);
    free(cc->http);
    free(cc);
}

void cc_end_stream(cconn_t *cc)
{
    csess_t *s = cc->sess;
    int opened = !cc->held;   /* a held stream has sent nothing: no FIN owed */
    cc->sess = NULL;
    cc->held = 0;
    if (s && s->cur == cc) {
        if (opened && !cc->remote_fin && s->state == CS_RUN) cs_ctl(s, CMD_FIN, cc->sid, NULL, 0);
        cs_stream_done(s);
    }
}

void cc_finish(cconn_t *cc, const char *why)
{
    cc_end_stream(cc);
    if (!cc->tl.len) { cc_close(cc, why); return; }
    if (why) log_debug("local connection closing once flushed: %s", why);
    /* As when the server ends the stream: cc_local_flush closes once tl is out. */
    cc->remote_fin = 1;
    loop_mod(cc->w->loop, &cc->lio, cc->lio.events & ~EPOLLIN);
}

void cc_close(cconn_t *cc, const char *why)
{
    if (cc->state == CC_DEAD) return;
    cworker_t *w = cc->w;
    cc->state = CC_DEAD;
    if (why) log_debug("local connection closed: %s", why);
    if (cc->lio.fd >= 0) { int fd = cc->lio.fd; loop_del(w->loop, &cc->lio); close(fd); }
    cu_close(cc);
    timer_cancel(w->loop, &cc->timer);
    cc_end_stream(cc);
    if (cc->prev) cc->prev->next = cc->next; else w->conns = cc->next;
    if (cc->next) cc->next->prev = cc->prev;
    loop_defer_free(w->loop, cc, cc_free);
    if (w->draining && !w->conns) loop_stop(w->loop);
}

int cc_local_send(cconn_t *cc, const uint8_t *p, size_t n)
{
    if (!cc->tl.len) {
        ssize_t k = send(cc->lio.fd, p, n, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
            k = 0;
        }
        p += k; n -= (size_t)k;
    }
    if (n) {
        if (bq_append(&cc->tl, p, n) < 0) return -1;
        loop_mod(cc->w->loop, &cc->lio, cc->lio.events | EPOLLOUT);
        csess_t *s = cc->sess;
        if (s && cc->tl.len > LOCAL_BUF_MAX && !s->c.read_paused) {
            s->c.read_paused = 1;
            tconn_update(cc->w->loop, &s->c);
        }
    }
    return 0;
}

int cc_stream_send(cconn_t *cc, const uint8_t *p, size_t n)
{
    csess_t *s = cc->sess;
    if (!s || s->state != CS_RUN || s->cur != cc || cc->held) {
        /* session still connecting, or SYN held: the bytes go with the first flight */
        if (bq_append(&cc->early, p, n) < 0) { cc_close(cc, "out of memory"); return -1; }
        return 0;
    }
    uint8_t *f = loop_scratch(cc->w->loop);
    while (n) {
        size_t k = n < 16384 - FRAME_HDR ? n : 16384 - FRAME_HDR;
        frame_put_hdr(f - FRAME_HDR, CMD_PSH, cc->sid, (uint16_t)k);
        memcpy(f, p, k);
        if (cs_write(s, f - FRAME_HDR, k + FRAME_HDR) < 0) return -1;
        p += k;
        n -= k;
    }
    return 0;
}

int cc_pause_if_busy(cconn_t *cc)
{
    csess_t *s = cc->sess;
    if (s && s->state == CS_RUN && s->cur == cc && s->c.out.len > SESS_OUT_HIGH) {
        cc->local_paused = 1;
        loop_mod(cc->w->loop, &cc->lio, cc->lio.events & ~EPOLLIN);
        s->c.notify_w = 1;
        tconn_update(cc->w->loop, &s->c);
        return 1;
    }
    return 0;
}

void cc_deliver(cconn_t *cc, const uint8_t *p, size_t n)
{
    if (cc->udp) { cu_from_stream(cc, p, n); return; }
    if (cc->http_fwd) { ch_from_origin(cc, p, n); return; }
    if (cc_local_send(cc, p, n) < 0) cc_close(cc, "local write failed");
}

#define ATTACH_RETRY_MS 50

/* Most protocols have the app speak first (HTTP, TLS): its first bytes come
 * one local round trip after its SOCKS reply. On an idle session the SYN and
 * the destination wait for them, up to OPEN_HOLD_MS, so the three leave in one
 * TLS record: one send here and one wake-up and read at the server fewer per
 * stream. A server-first protocol (SMTP, POP3) pays the hold once per
 * connection; plain HTTP and UDP are not held (their bytes are framed apart). */
#define OPEN_HOLD_MS 2

static void open_held(cconn_t *cc)
{
    cc->held = 0;
    timer_cancel(cc->w->loop, &cc->timer);
    cs_open_stream(cc->sess, cc);
}

/* Gives cc a session: the newest idle one, else a new one. Out of fds for a
 * new one, cc waits (the SOCKS side already sees the connection as open, and
 * other streams free fds as they end) and tries again every 50 ms, up to the
 * handshake timeout; only then does it fail. */
void cc_attach(cconn_t *cc)
{
    cworker_t *w = cc->w;
    cc->state = CC_RELAY;
    timer_cancel(w->loop, &cc->timer);
    csess_t *s = cs_idle_pop(w);
    if (s) {
        cc->attach_deadline = 0;
        if (!cc->early.len && !cc->udp && !cc->http) {
            s->cur = cc;   /* taken: no other connection gets it meanwhile */
            cc->sess = s;
            cc->held = 1;
            timer_set(w->loop, &cc->timer, OPEN_HOLD_MS);
            return;
        }
        cs_open_stream(s, cc);
        return;
    }
    s = cs_new(w);
    if (!s && (errno == EMFILE || errno == ENFILE)) {
        uint64_t now = now_ms();
        if (!cc->attach_deadline) cc->attach_deadline = now + (uint64_t)w->cfg->handshake_timeout_ms;
        if (now - w->emfile_logged >= 1000) {   /* one line a second, however many wait */
            w->emfile_logged = now;
            log_warn("out of file descriptors for a new session to the server; waiting for some "
                     "to free up (up to %d ms)", w->cfg->handshake_timeout_ms);
        }
        if (now < cc->attach_deadline) {
            timer_set(w->loop, &cc->timer, ATTACH_RETRY_MS);
            return;
        }
        log_warn("cannot connect to the server: %s", strerror(errno));
    }
    cc->attach_deadline = 0;
    if (!s) { cc_close(cc, "no session"); return; }
    s->cur = cc;   /* opened once the handshake is done */
    cc->sess = s;
}

static void cc_local_read(cconn_t *cc)
{
    csess_t *s = cc->sess;
    uint8_t *buf = loop_scratch(cc->w->loop);
    for (int i = 0; i < 4; i++) {
        if (cc_pause_if_busy(cc)) return;
        ssize_t n = recv(cc->lio.fd, buf, 16384 - FRAME_HDR, 0);
        if (n > 0 && cc->held) {   /* the app's first bytes: they go with the SYN */
            if (bq_append(&cc->early, buf, (size_t)n) < 0) { cc_close(cc, "out of memory"); return; }
            open_held(cc);
            return;
        }
        if (n > 0) {
            if (!s || s->state != CS_RUN || s->cur != cc) {
                /* session still connecting: keep the bytes for the first flight */
                if (bq_append(&cc->early, buf, (size_t)n) < 0) { cc_close(cc, "out of memory"); return; }
                if (cc->early.len > LOCAL_BUF_MAX) {
                    cc->local_paused = 1;
                    loop_mod(cc->w->loop, &cc->lio, cc->lio.events & ~EPOLLIN);
                }
                return;
            }
            frame_put_hdr(buf - FRAME_HDR, CMD_PSH, cc->sid, (uint16_t)n);
            if (cs_write(s, buf - FRAME_HDR, (size_t)n + FRAME_HDR) < 0) return;
            if (n < 16384 - FRAME_HDR) return;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        cc_close(cc, n == 0 ? "local closed" : strerror(errno));
        return;
    }
}

static void cc_local_flush(cconn_t *cc)
{
    while (cc->tl.len) {
        ssize_t k = send(cc->lio.fd, bq_head(&cc->tl), cc->tl.len, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            cc_close(cc, "local write failed");
            return;
        }
        bq_consume(&cc->tl, (size_t)k);
    }
    loop_mod(cc->w->loop, &cc->lio, cc->lio.events & ~EPOLLOUT);
    if (cc->remote_fin) { cc_close(cc, NULL); return; }
    csess_t *s = cc->sess;
    if (s && s->c.read_paused && s->state == CS_RUN) {
        s->c.read_paused = 0;
        tconn_update(cc->w->loop, &s->c);
        cs_read(s);
    }
}

static void cc_local_cb(loop_t *l, ioh_t *h, uint32_t ev)
{
    cconn_t *cc = h->ud;
    switch (cc->state) {
    case CC_HS: ci_handshake(cc); return;
    case CC_WAIT_UDP: {
        /* the TCP side of a UDP association: its close ends the association */
        char b[256];
        ssize_t n = recv(h->fd, b, sizeof b, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN)) cc_close(cc, "UDP association closed");
        return;
    }
    case CC_RELAY:
        if (ev & (EPOLLOUT | EPOLLERR)) cc_local_flush(cc);
        if (cc->state == CC_RELAY && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
            if (cc->udp) {
                char b[256];
                ssize_t n = recv(h->fd, b, sizeof b, 0);
                if (n == 0 || (n < 0 && errno != EAGAIN)) cc_close(cc, "UDP association closed");
            } else if (cc->http_fwd) {
                ch_local_read(cc);
            } else {
                cc_local_read(cc);
            }
        }
        return;
    case CC_DEAD: return;
    }
}

static void cc_timer(loop_t *l, ltimer_t *t)
{
    cconn_t *cc = t->ud;
    if (cc->held) { open_held(cc); return; }   /* the app has not spoken: SYN alone */
    if (cc->attach_deadline && cc->state == CC_RELAY && !cc->sess) cc_attach(cc);
    else cc_close(cc, "proxy handshake timeout");
}


cconn_t *cc_new(cworker_t *w, int fd)
{
    loop_t *l = w->loop;
    cconn_t *cc = calloc(1, sizeof *cc);
    if (!cc) { close(fd); return NULL; }
    cc->w = w;
    if (loop_add(l, &cc->lio, fd, EPOLLIN, cc_local_cb, cc) < 0) { close(fd); free(cc); return NULL; }
    timer_init(&cc->timer, cc_timer, cc);
    timer_set(l, &cc->timer, (uint64_t)w->cfg->handshake_timeout_ms);
    cc->next = w->conns;
    if (cc->next) cc->next->prev = cc;
    w->conns = cc;
    return cc;
}
