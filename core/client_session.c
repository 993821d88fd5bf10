/* client_session.c -- sessions toward the server (see client_session.h): TLS
 * connect and auth, the padded writer, frames from the server, the idle stack
 * and the SYNACK watchdog. Everything belongs to one worker thread. */
#include "client_session.h"
#include "client_conn.h"
#include "client_scheme.h"
#include "kv.h"
#include "log.h"
#include "padwriter.h"
#include "tls.h"
#include "uot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SYNACK_WATCHDOG_MS 3000

/* ---- writes to the server, padded as the scheme says ---- */

static int cs_write_raw(csess_t *s, const void *p, size_t n)
{
    if (tconn_write(s->w->loop, &s->c, p, n) < 0) { cs_close(s, "write failed"); return -1; }
    return 0;
}

static int cs_write_record(csess_t *s, const void *p, size_t n)
{
    if (tconn_write_record(s->w->loop, &s->c, p, n) < 0) { cs_close(s, "write failed"); return -1; }
    return 0;
}

/* padwriter's output: a padded record, or plain bytes once padding is over. */
static int cs_padw_out(void *arg, const uint8_t *p, size_t n, int record)
{
    return record ? cs_write_record(arg, p, n) : cs_write_raw(arg, p, n);
}

/* One logical write: counts as one packet for the padding scheme. */
int cs_write(csess_t *s, const uint8_t *p, size_t n)
{
    if (s->padding_done) return cs_write_raw(s, p, n);
    if (++s->pkt >= s->scheme->s->stop) s->padding_done = 1;
    int r = padw_write(s->scheme->s, s->pkt, p, n, cs_padw_out, s, NULL, NULL);
    if (r == PADW_ENOMEM) cs_close(s, "out of memory");
    return r < 0 ? -1 : 0;
}

int cs_ctl(csess_t *s, uint8_t cmd, uint32_t sid, const void *d, size_t n)
{
    uint8_t buf[FRAME_HDR + 256];
    frame_put_hdr(buf, cmd, sid, (uint16_t)n);
    if (n) memcpy(buf + FRAME_HDR, d, n);
    return cs_write(s, buf, FRAME_HDR + n);
}

/* ---- sessions ---- */

static void cs_free(void *p)
{
    csess_t *s = p;
    frame_dec_free(&s->dec);
    scheme_put(s->scheme);
    free(s);
}

static void cs_idle_remove(csess_t *s)
{
    if (!s->idle) return;
    cworker_t *w = s->w;
    if (s->prev) s->prev->next = s->next; else w->idle_top = s->next;
    if (s->next) s->next->prev = s->prev;
    s->prev = s->next = NULL;
    s->idle = 0;
    w->nidle--;
    atomic_store_explicit(&w->nidle_pub, w->nidle, memory_order_relaxed);
}

static void cs_idle_push(csess_t *s)
{
    cworker_t *w = s->w;
    s->idle = 1;
    s->idle_since = loop_now(w->loop);
    s->prev = NULL;
    s->next = w->idle_top;
    if (s->next) s->next->prev = s;
    w->idle_top = s;
    w->nidle++;
    atomic_store_explicit(&w->nidle_pub, w->nidle, memory_order_relaxed);
}

csess_t *cs_idle_pop(cworker_t *w)
{
    csess_t *s = w->idle_top;
    if (s) cs_idle_remove(s);
    return s;
}

void cs_close(csess_t *s, const char *why)
{
    if (s->state == CS_DEAD) return;
    cworker_t *w = s->w;
    if (why) log_debug("session closed: %s", why);
    s->state = CS_DEAD;
    cs_idle_remove(s);
    timer_cancel(w->loop, &s->timer);
    cconn_t *cc = s->cur;
    s->cur = NULL;
    if (cc) { cc->sess = NULL; cc_close(cc, why ? why : "session closed"); }
    tconn_close(w->loop, &s->c);
    loop_defer_free(w->loop, s, cs_free);
}

void cs_stream_done(csess_t *s)
{
    s->cur = NULL;
    timer_cancel(s->w->loop, &s->timer);
    if (s->c.read_paused) {
        s->c.read_paused = 0;
        tconn_update(s->w->loop, &s->c);
        tconn_read_later(s->w->loop, &s->c);   /* records OpenSSL read ahead */
    }
    if (s->state != CS_RUN) return;
    if (s->w->draining) { cs_close(s, NULL); return; }
    cs_idle_push(s);
}

static void cs_timer(loop_t *l, ltimer_t *t)
{
    csess_t *s = t->ud;
    if (s->state != CS_RUN) log_warn("connecting to the server timed out");
    else log_warn("no SYNACK from the server within 3 s: closing the session");
    cs_close(s, NULL);
}

static int cs_on_frame(void *arg, const frame_hdr_t *h, const uint8_t *d, size_t n, int first, int last)
{
    csess_t *s = arg;
    cconn_t *cc = s->cur && s->cur->sid == h->sid ? s->cur : NULL;
    char esc[600];
    switch (h->cmd) {
    case CMD_PSH:
        if (cc && n) cc_deliver(cc, d, n);
        break;
    case CMD_SYNACK:
        if (cc) timer_cancel(s->w->loop, &s->timer);
        if (n) {
            log_warn("stream to server failed: remote: %s", log_escape((const char *)d, n, esc, sizeof esc));
            if (cc) { cc->remote_fin = 1; cc_close(cc, NULL); }
        }
        break;
    case CMD_FIN:
        if (cc) {
            cc->remote_fin = 1;
            if (!cc->tl.len) cc_close(cc, NULL);
        }
        break;
    case CMD_ALERT:
        log_error("[Alert from server] %s", log_escape((const char *)d, n, esc, sizeof esc));
        cs_close(s, NULL);
        return 1;
    case CMD_UPDATE_PADDING: {
        padding_scheme_t *sc = padding_parse((const char *)d, n);
        if (!sc) { log_warn("padding scheme update from the server is invalid; kept the current one"); break; }
        log_debug("padding scheme updated (md5 %s)", sc->md5);
        if (scheme_set(sc) == 0) { scheme_put(s->scheme); s->scheme = scheme_get(); }
        break;
    }
    case CMD_SERVER_SETTINGS: {
        char v[16];
        if (kv_get((const char *)d, n, "v", v, sizeof v) >= 0) s->peer_version = atoi(v);
        break;
    }
    case CMD_HEART_REQ:
        cs_ctl(s, CMD_HEART_RESP, h->sid, NULL, 0);
        break;
    default:
        break;
    }
    return s->state == CS_DEAD;
}

int cs_feed(csess_t *s, const uint8_t *p, size_t n)
{
    if (s->state != CS_RUN) return -1;
    if (frame_dec_feed(&s->dec, p, n, cs_on_frame, s) < 0) { cs_close(s, "out of memory"); return -1; }
    return s->state == CS_RUN ? 0 : -1;
}

void cs_read(csess_t *s)
{
    loop_t *l = s->w->loop;
    uint8_t *buf = loop_scratch(l);
    char err[160];
    for (int i = 0; i < 16 && s->state == CS_RUN && !s->c.read_paused; i++) {
        int n = tconn_read(l, &s->c, buf, LOOP_SCRATCH, err, sizeof err);
        if (n == 0) return;
        if (n < 0) { cs_close(s, err); return; }
        if (cs_feed(s, buf, (size_t)n) < 0) return;
    }
    if (s->state == CS_RUN) tconn_read_later(l, &s->c);   /* budget spent */
}

/* Sends SYN + the destination (+ bytes already received from the app). The
 * first stream of a session also carries Settings: packet 1 of the scheme. */
void cs_open_stream(csess_t *s, cconn_t *cc)
{
    uint8_t buf[2048];
    size_t n = 0;
    s->cur = cc;
    cc->sess = s;
    cc->sid = ++s->next_sid;
    if (cc->sid == 1)
        n = padw_put_settings(buf, s->scheme->s);
    frame_put_hdr(buf + n, CMD_SYN, cc->sid, 0);
    n += FRAME_HDR;
    int al = cc->udp ? addr_encode(&(addr_t){ .type = ADDR_DOMAIN, .name_len = sizeof UOT_MAGIC_HOST - 1,
                                              .name = UOT_MAGIC_HOST, .port = 0 },
                                   ADDR_FORM_SOCKS, buf + n + FRAME_HDR, sizeof buf - n - FRAME_HDR)
                     : addr_encode(&cc->dst, ADDR_FORM_SOCKS, buf + n + FRAME_HDR, sizeof buf - n - FRAME_HDR);
    /* The app's first bytes, as many as fit, in the destination's PSH: the
     * server sees with the address that the app has spoken (it then holds its
     * SYNACK for the target's answer, server_stream.c). */
    size_t first = 0;
    if (!cc->udp && cc->early.len) {
        size_t room = sizeof buf - n - FRAME_HDR - (size_t)al;
        first = cc->early.len < room ? cc->early.len : room;
        memcpy(buf + n + FRAME_HDR + al, bq_head(&cc->early), first);
        bq_consume(&cc->early, first);
    }
    frame_put_hdr(buf + n, CMD_PSH, cc->sid, (uint16_t)(al + first));
    n += FRAME_HDR + (size_t)al + first;
    if (cc->sid >= 2 && s->peer_version >= 2) timer_set(s->w->loop, &s->timer, SYNACK_WATCHDOG_MS);
    if (cs_write(s, buf, n) < 0) return;
    /* early bytes: separate PSH frames, as many as needed */
    while (cc->early.len && s->state == CS_RUN) {
        size_t k = cc->early.len < 16384 ? cc->early.len : 16384;
        uint8_t *f = loop_scratch(s->w->loop);
        frame_put_hdr(f - FRAME_HDR, CMD_PSH, cc->sid, (uint16_t)k);
        memcpy(f, bq_head(&cc->early), k);
        bq_consume(&cc->early, k);
        if (cs_write(s, f - FRAME_HDR, k + FRAME_HDR) < 0) return;
    }
    if (cc->local_paused && !cc->udp) {
        cc->local_paused = 0;
        loop_mod(s->w->loop, &cc->lio, cc->lio.events | EPOLLIN);
    }
}

static void cs_cb(loop_t *l, ioh_t *h, uint32_t ev)
{
    csess_t *s = h->ud;
    char err[200];
    if (s->state == CS_HANDSHAKE) {
        int r = tconn_handshake(l, &s->c, err, sizeof err);
        if (r < 0) { log_warn("TLS connection to the server failed: %s", err); cs_close(s, NULL); return; }
        if (r == 0) return;
        s->state = CS_RUN;
        tls_client_done(s->c.ssl);
        timer_cancel(l, &s->timer);
        if (log_level <= LOG_DEBUG) {   /* a getsockname(2) per session only when it is logged */
            struct sockaddr_storage ss; socklen_t sl = sizeof ss; addr_t a; char hp[64];
            getsockname(s->c.io.fd, (struct sockaddr *)&ss, &sl);
            sockaddr_to_addr((struct sockaddr *)&ss, &a);
            addr_format(&a, hp, sizeof hp);
            log_debug("session %s: TLS handshake done (worker %d)", hp, s->w->id);
        }
        /* Auth block, alone in one TLS record. */
        uint8_t auth[34 + 65535];
        int pad = padding_auth_len(s->scheme->s, NULL, NULL);
        if (pad < 0) pad = 0;
        if (pad > 65535) pad = 65535;
        memcpy(auth, s->w->pass_hash, 32);
        auth[32] = (uint8_t)(pad >> 8);
        auth[33] = (uint8_t)pad;
        memset(auth + 34, 0, (size_t)pad);
        if (cs_write_record(s, auth, 34 + (size_t)pad) < 0) return;
        if (s->cur) {
            cconn_t *cc = s->cur;
            s->cur = NULL;
            cs_open_stream(s, cc);
        } else {
            cs_stream_done(s);
        }
        if (s->state == CS_RUN) cs_read(s);
        return;
    }
    if (s->state != CS_RUN) return;
    if (ev & EPOLLOUT) {
        if (tconn_flush(l, &s->c) < 0) { cs_close(s, "write failed"); return; }
        cconn_t *cc = s->cur;
        if (s->c.out.len < SESS_OUT_LOW) {
            s->c.notify_w = 0;
            tconn_update(l, &s->c);
            if (cc && cc->local_paused) {
                cc->local_paused = 0;
                loop_mod(l, &cc->lio, cc->lio.events | EPOLLIN);
            }
        }
        if (s->c.read_wants_w) cs_read(s);
    }
    if (s->state == CS_RUN && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))) cs_read(s);
}

csess_t *cs_new(cworker_t *w)
{
    csess_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    int fd = tcp_connect_start((struct sockaddr *)w->server, w->server_len);
    SSL *ssl = fd >= 0 ? SSL_new(w->ctx) : NULL;
    if (!ssl) {
        int e = fd < 0 ? errno : ENOMEM;
        if (e != EMFILE && e != ENFILE)
            log_warn("cannot connect to the server: %s", fd < 0 ? strerror(e) : "TLS setup failed");
        if (fd >= 0) close(fd);
        free(s);
        errno = e;
        return NULL;
    }
    s->w = w;
    s->scheme = scheme_get();
    frame_dec_init(&s->dec);
    tls_client_prepare(w->ctx, ssl, w->cfg->sni, w->cfg->server_host);
    SSL_set_connect_state(ssl);
    if (tconn_init(&s->c, w->loop, fd, ssl, cs_cb, s) < 0) {
        SSL_free(ssl); close(fd); scheme_put(s->scheme); free(s);
        return NULL;
    }
    timer_init(&s->timer, cs_timer, s);
    timer_set(w->loop, &s->timer, (uint64_t)w->cfg->handshake_timeout_ms);
    /* The handshake starts on the first EPOLLOUT (connected) and is driven only
     * by cs_cb. Starting it here could finish it here (when the server answers
     * before OpenSSL's first read), and then no event would ever come to run
     * the code that follows a finished handshake. */
    s->c.hs_wants_w = 1;
    tconn_update(w->loop, &s->c);
    return s;
}
