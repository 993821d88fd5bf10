/* server_session.c -- a client's TLS connection: handshake, authentication,
 * frames, and the table of its streams (server_session.h).
 *
 * Memory: an idle session holds its SSL object (buffers released) and a small
 * stream table; target -> client data is framed in place in the loop's scratch
 * buffer and handed to OpenSSL without a copy (server_stream.c). */
#include "server_session.h"
#include "kv.h"
#include "log.h"
#include "server_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- frames to the client ---- */

int sess_send(ssess_t *s, const void *p, size_t n)
{
    if (s->state == SS_DEAD) return -1;
    if (tconn_write(sess_loop(s), &s->c, p, n) < 0) {
        sess_close(s, "write failed");
        return -1;
    }
    return 0;
}

int sess_ctl(ssess_t *s, uint8_t cmd, uint32_t sid, const void *data, size_t n)
{
    uint8_t buf[FRAME_HDR + 1024];
    if (n > sizeof buf - FRAME_HDR) n = sizeof buf - FRAME_HDR;
    frame_put_hdr(buf, cmd, sid, (uint16_t)n);
    if (n) memcpy(buf + FRAME_HDR, data, n);
    return sess_send(s, buf, FRAME_HDR + n);
}

/* ---- stream table (sid -> stream), chained, grows by doubling ---- */

static sstream_t **slot(ssess_t *s, uint32_t sid)
{
    sstream_t **p = &s->tab[(sid * 2654435761u) & (s->tcap - 1)];
    while (*p && (*p)->sid != sid) p = &(*p)->hnext;
    return p;
}

static sstream_t *find_stream(ssess_t *s, uint32_t sid)
{
    return s->tcap ? *slot(s, sid) : NULL;
}

static int insert_stream(ssess_t *s, sstream_t *st)
{
    if (s->nstreams + 1 > s->tcap) {
        uint32_t ncap = s->tcap ? s->tcap * 2 : 4;
        sstream_t **nt = calloc(ncap, sizeof *nt), **old = s->tab;
        if (!nt) return -1;
        uint32_t ocap = s->tcap;
        s->tab = nt; s->tcap = ncap;
        for (uint32_t i = 0; i < ocap; i++)
            for (sstream_t *e = old[i], *n; e; e = n) {
                n = e->hnext;
                sstream_t **p = slot(s, e->sid);
                e->hnext = NULL;
                *p = e;
            }
        free(old);
    }
    st->hnext = NULL;
    *slot(s, st->sid) = st;
    s->nstreams++;
    return 0;
}

void sess_forget_stream(ssess_t *s, sstream_t *st)
{
    sstream_t **p = slot(s, st->sid);
    if (*p == st) { *p = st->hnext; s->nstreams--; }
}

/* ---- frames from the client ---- */

static void on_settings(ssess_t *s, const uint8_t *d, size_t n)
{
    server_t *srv = s->w->srv;
    char md5[40], v[16];
    s->got_settings = 1;
    padding_scheme_t *sc = atomic_load_explicit(&srv->scheme, memory_order_acquire);
    if (kv_get((const char *)d, n, "padding-md5", md5, sizeof md5) < 0 || strcmp(md5, sc->md5) != 0)
        sess_ctl(s, CMD_UPDATE_PADDING, 0, sc->raw, sc->raw_len);
    if (kv_get((const char *)d, n, "v", v, sizeof v) >= 0 && atoi(v) >= 2)
        sess_ctl(s, CMD_SERVER_SETTINGS, 0, "v=2", 3);
}

static void on_syn(ssess_t *s, uint32_t sid)
{
    server_t *srv = s->w->srv;
    if (find_stream(s, sid)) return;
    if ((int)s->nstreams >= srv->cfg->max_streams) {
        /* the peer chooses how often this happens: one line per session, not per stream */
        if (!s->refused++)
            log_warn("session %s: stream %u refused, %d streams open (--max-streams-per-session); "
                     "further refusals on this session are counted, not logged",
                     s->peer, sid, srv->cfg->max_streams);
        sess_ctl(s, CMD_SYNACK, sid, "too many streams in this session", 32);
        sess_ctl(s, CMD_FIN, sid, NULL, 0);
        return;
    }
    sstream_t *st = stream_new(s, sid);
    if (!st || insert_stream(s, st) < 0) {
        stream_discard(st);
        sess_ctl(s, CMD_FIN, sid, NULL, 0);
    }
}

static int on_frame(void *arg, const frame_hdr_t *h, const uint8_t *d, size_t n, int first, int last)
{
    ssess_t *s = arg;
    sstream_t *st;
    switch (h->cmd) {
    case CMD_PSH:
        if ((st = find_stream(s, h->sid)) && n) stream_data(st, d, n);
        break;
    case CMD_SYN:
        if (!s->got_settings) {
            static const char msg[] = "client did not send its settings";
            sess_ctl(s, CMD_ALERT, 0, msg, sizeof msg - 1);
            log_warn("session %s: SYN before Settings, alert sent", s->peer);
            tconn_flush(sess_loop(s), &s->c);
            sess_close(s, NULL);
            return 1;
        }
        on_syn(s, h->sid);
        break;
    case CMD_FIN:
        if ((st = find_stream(s, h->sid))) stream_fin(st);
        break;
    case CMD_SETTINGS:
        on_settings(s, d, n);
        break;
    case CMD_HEART_REQ:
        sess_ctl(s, CMD_HEART_RESP, h->sid, NULL, 0);
        break;
    default:
        break; /* Waste, client-bound and unknown commands: skipped */
    }
    return s->state == SS_DEAD;
}

/* ---- the session ---- */

static void free_session(void *p)
{
    ssess_t *s = p;
    frame_dec_free(&s->dec);
    free(s->tab);
    free(s);
}

void sess_close(ssess_t *s, const char *why)
{
    if (s->state == SS_DEAD) return;
    sworker_t *w = s->w;
    if (why) log_debug("session %s closed: %s", s->peer, why);
    if (s->refused > 1)
        log_warn("session %s: %u streams refused in all (--max-streams-per-session)", s->peer, s->refused);
    int was_run = s->state == SS_RUN;
    s->state = SS_DEAD;
    for (uint32_t i = 0; i < s->tcap; i++)
        while (s->tab[i]) stream_close(s->tab[i], 0, NULL);
    dns_owner_release(w->dns, &s->dns);  /* its lookups still running stop counting against it */
    timer_cancel(w->loop, &s->timer);
    if (was_run) tconn_flush(w->loop, &s->c);
    tconn_close(w->loop, &s->c);
    if (s->prev) s->prev->next = s->next; else w->sessions = s->next;
    if (s->next) s->next->prev = s->prev;
    w->nsessions--;
    WSTAT_ADD(w, sessions_open, -1);
    loop_defer_free(w->loop, s, free_session);
    if (w->wk->draining && w->nsessions == 0) loop_stop(w->loop);
}

static void sess_read(ssess_t *s);

void sess_resume(ssess_t *s)
{
    if (s->state != SS_RUN || !s->c.read_paused) return;
    s->c.read_paused = 0;
    timer_cancel(sess_loop(s), &s->timer);
    tconn_update(sess_loop(s), &s->c);
    sess_read(s);  /* OpenSSL may hold decrypted bytes epoll cannot see */
}

static void sess_timer(loop_t *l, ltimer_t *t)
{
    ssess_t *s = t->ud;
    if (s->state != SS_RUN) {
        log_warn("session %s: authentication timeout", s->peer);
        WSTAT_ADD(s->w, auth_failures, 1);
        sess_close(s, NULL);
        return;
    }
    if (s->pauser) {
        log_warn("session %s: stream %u blocked the session for %d ms (slow target); stream reset",
                 s->peer, s->pauser->sid, s->w->srv->cfg->stall_timeout_ms);
        stream_close(s->pauser, 1, NULL);
    }
}

/* Consumes the auth block (core/auth.c); returns the offset where frames start,
 * n while the block is incomplete, or -1 on a wrong password. */
static int auth_consume(ssess_t *s, const uint8_t *p, int n)
{
    size_t used = 0;
    int r = auth_feed(&s->auth, s->w->srv->pass_hash, p, (size_t)n, &used);
    if (r == AUTH_MORE) return n;
    if (r == AUTH_BAD) {
        log_warn("session %s: authentication failed (wrong password), closing", s->peer);
        WSTAT_ADD(s->w, auth_failures, 1);
        return -1;
    }
    s->state = SS_RUN;
    timer_cancel(sess_loop(s), &s->timer);
    log_debug("session %s authenticated", s->peer);
    return (int)used;
}

static void sess_read(ssess_t *s)
{
    loop_t *l = sess_loop(s);
    uint8_t *buf = loop_scratch(l);
    char err[160];
    for (int budget = 0; budget < 16 && !s->c.read_paused && s->state != SS_DEAD; budget++) {
        int n = tconn_read(l, &s->c, buf, LOOP_SCRATCH, err, sizeof err);
        if (n == 0) return;
        if (n < 0) { sess_close(s, err); return; }
        int off = 0;
        if (s->state == SS_AUTH) {
            off = auth_consume(s, buf, n);
            if (off < 0) { sess_close(s, NULL); return; }
            if (s->state != SS_RUN) continue;
        }
        if (off < n && frame_dec_feed(&s->dec, buf + off, (size_t)(n - off), on_frame, s) < 0) {
            sess_close(s, "out of memory");
            return;
        }
    }
}

static void sess_cb(loop_t *l, ioh_t *h, uint32_t ev)
{
    ssess_t *s = h->ud;
    char err[160];
    if (s->state == SS_HANDSHAKE) {
        int r = tconn_handshake(l, &s->c, err, sizeof err);
        if (r < 0) { log_debug("TLS handshake with %s failed: %s", s->peer, err); sess_close(s, NULL); return; }
        if (r == 0) return;
        log_debug("session %s: TLS handshake done", s->peer);
        s->state = SS_AUTH;
        sess_read(s);
        return;
    }
    if (ev & EPOLLOUT) {
        if (tconn_flush(l, &s->c) < 0) { sess_close(s, "write failed"); return; }
        if (s->c.out.len < SESS_OUT_LOW) {
            s->c.notify_w = 0;
            stream_unblock_all(s);
            tconn_update(l, &s->c);
        }
        if (s->c.read_wants_w) sess_read(s);
    }
    if (s->state != SS_DEAD && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))) sess_read(s);
}

void sess_accept(sworker_t *w, int fd, const struct sockaddr_storage *peer)
{
    server_t *srv = w->srv;
    loop_t *l = w->loop;
    if (w->nsessions >= (srv->cfg->max_sessions + srv->nworkers - 1) / srv->nworkers) {
        if (loop_now(l) - w->last_cap_log > 10000) {
            log_warn("session cap reached (--max-sessions %d): refusing new connections",
                     srv->cfg->max_sessions);
            w->last_cap_log = loop_now(l);
        }
        close(fd);
        return;
    }
    ssess_t *s = calloc(1, sizeof *s);
    SSL *ssl = s ? SSL_new(srv->ctx) : NULL;
    if (!ssl) { free(s); close(fd); log_warn("accept: out of memory"); return; }
    addr_t a;
    sockaddr_to_addr((const struct sockaddr *)peer, &a);
    addr_format(&a, s->peer, sizeof s->peer);
    s->w = w;
    s->dns.label = s->peer;
    frame_dec_init(&s->dec);
    if (tconn_init(&s->c, l, fd, ssl, sess_cb, s) < 0) {
        SSL_free(ssl); close(fd); free(s); return;
    }
    SSL_set_accept_state(ssl);
    timer_init(&s->timer, sess_timer, s);
    timer_set(l, &s->timer, (uint64_t)srv->cfg->auth_timeout_ms);
    s->next = w->sessions;
    if (s->next) s->next->prev = s;
    w->sessions = s;
    WSTAT_ADD(w, sessions_open, 1);
    WSTAT_ADD(w, sessions_total, 1);
    log_debug("session %s accepted by worker %d", s->peer, w->id);
    w->nsessions++;
}

void sess_drain_all(sworker_t *w)
{
    for (ssess_t *s = w->sessions, *n; s; s = n) {
        n = s->next;
        if (s->nstreams == 0) sess_close(s, "draining");
    }
    if (w->nsessions == 0) loop_stop(w->loop);
}

void sess_close_all(sworker_t *w, const char *why)
{
    while (w->sessions) sess_close(w->sessions, why);
}
