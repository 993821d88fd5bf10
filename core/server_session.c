/* server_session.c -- a client's TLS connection: handshake, authentication,
 * frames, and the table of its streams (server_session.h).
 *
 * Memory: an idle session holds its SSL object (buffers released) and a small
 * stream table; target -> client data is framed in place in the loop's scratch
 * buffer and handed to OpenSSL without a copy (server_stream.c). */
#include "server_session.h"
#include "fallback.h"
#include "kv.h"
#include "log.h"
#include "server_stream.h"
#include "server_users.h"

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
    /* Any length one frame holds (a padding scheme can be KBs); the two
     * writes leave in one TLS record (tconn coalesces until the loop's end). */
    uint8_t hdr[FRAME_HDR];
    if (n > FRAME_MAX_DATA) n = FRAME_MAX_DATA;
    frame_put_hdr(hdr, cmd, sid, (uint16_t)n);
    if (sess_send(s, hdr, sizeof hdr) < 0) return -1;
    return n ? sess_send(s, data, n) : 0;
}

void sess_synack(ssess_t *s, uint32_t sid, const char *err, size_t n)
{
    if (s->peer_version >= 2) sess_ctl(s, CMD_SYNACK, sid, err, n);
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
    /* Answered once: every answer is a frame the client chooses to make us
     * queue (the scheme is ~20x a Settings frame). Later ones are dropped. */
    if (s->got_settings) return;
    s->got_settings = 1;
    padding_scheme_t *sc = atomic_load_explicit(&srv->scheme, memory_order_acquire);
    if (kv_get((const char *)d, n, "padding-md5", md5, sizeof md5) < 0 || strcmp(md5, sc->md5) != 0)
        sess_ctl(s, CMD_UPDATE_PADDING, 0, sc->raw, sc->raw_len);
    if (kv_get((const char *)d, n, "v", v, sizeof v) >= 0) {
        int ver = atoi(v);
        s->peer_version = (uint8_t)(ver < 0 ? 0 : ver > 255 ? 255 : ver);
    }
    if (s->peer_version >= 2) sess_ctl(s, CMD_SERVER_SETTINGS, 0, "v=2", 3);
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
        sess_synack(s, sid, "too many streams in this session", 32);
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
    WSTAT_ADD(w, sessions_open, -1);  /* before the peer can see the close */
    if (was_run) w->nauthed--;
    su_session_end(s);
    adm_leave(w->srv->adm, &s->adm);
    for (uint32_t i = 0; i < s->tcap; i++)
        while (s->tab[i]) stream_close(s->tab[i], 0, NULL);
    dns_owner_release(w->dns, &s->dns);  /* its lookups still running stop counting against it */
    timer_cancel(w->loop, &s->timer);
    if (was_run) tconn_flush(w->loop, &s->c);
    tconn_close(w->loop, &s->c);
    if (s->prev) s->prev->next = s->next; else w->sessions = s->next;
    if (s->next) s->next->prev = s->prev;
    w->nsessions--;
    loop_defer_free(w->loop, s, free_session);
    if (w->wk->draining && w->nsessions == 0) loop_stop(w->loop);
}

static void sess_read(ssess_t *s);
static void sess_resume_reads(ssess_t *s);

/* Our output to the client is over SESS_OUT_HIGH: read nothing more from it
 * (each frame may queue an answer) until it has read what is queued. A client
 * that does not read within the stall timeout loses the session. */
static void pause_for_output(ssess_t *s)
{
    if (s->out_full) return;
    s->out_full = 1;
    s->c.read_paused = 1;
    s->c.notify_w = 1;
    tconn_update(sess_loop(s), &s->c);
    timer_set(sess_loop(s), &s->timer, (uint64_t)s->w->srv->cfg->stall_timeout_ms);
}

/* The output drained below SESS_OUT_LOW. */
static void output_drained(ssess_t *s)
{
    s->c.notify_w = 0;
    stream_unblock_all(s);
    if (s->out_full) {
        s->out_full = 0;
        if (s->pauser) {   /* still paused for a stream: its watchdog starts now */
            timer_set(sess_loop(s), &s->timer, (uint64_t)s->w->srv->cfg->stall_timeout_ms);
        } else {
            sess_resume_reads(s);
            return;
        }
    }
    tconn_update(sess_loop(s), &s->c);
}

void sess_resume(ssess_t *s)
{
    if (s->state != SS_RUN || !s->c.read_paused || s->out_full) return;
    sess_resume_reads(s);
}

static void sess_resume_reads(ssess_t *s)
{
    s->c.read_paused = 0;
    timer_cancel(sess_loop(s), &s->timer);
    tconn_update(sess_loop(s), &s->c);
    sess_read(s);  /* OpenSSL may hold decrypted bytes epoll cannot see */
}

#define PEER_LOG_INTERVAL_MS 10000

/* Anyone can make authentication fail as often as they like: counted always,
 * logged at most once per 10 s per worker with the count held back. */
static void auth_failed(ssess_t *s, const char *why, const char *what)
{
    uint64_t held;
    WSTAT_ADD(s->w, auth_failures, 1);
    if (!ratelog_allow(&s->w->auth_log, loop_now(sess_loop(s)), PEER_LOG_INTERVAL_MS, &held)) return;
    if (held)
        log_warn("session %s: authentication failed (%s), %s; %llu more failed since the last "
                 "such line", s->peer, why, what, (unsigned long long)held);
    else
        log_warn("session %s: authentication failed (%s), %s", s->peer, why, what);
}

/* The first bytes did not authenticate. With --fallback (and the TLS
 * handshake done) the connection and every byte read from it -- a: gathered
 * by earlier reads, b: this read's -- go to the fallback server, which
 * answers the prober from now on; otherwise it is closed. Either way the
 * session ends here. */
static void auth_reject(ssess_t *s, const char *why, const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int fallback = s->w->srv->cfg->fallback && s->state == SS_AUTH;
    auth_failed(s, why, fallback ? "relayed to the fallback" : "closing");
    if (fallback) fb_take(s->w, &s->c, s->peer, a, an, b, bn);
    sess_close(s, NULL);
}

static void sess_timer(loop_t *l, ltimer_t *t)
{
    ssess_t *s = t->ud;
    if (s->state != SS_RUN) {   /* with --fallback, a prefix waiting for the rest goes there now */
        auth_reject(s, "timeout", s->auth.block, s->auth.got, NULL, 0);
        return;
    }
    if (s->out_full) {
        log_warn("session %s: client read none of %zu queued bytes for %d ms; session closed",
                 s->peer, tconn_pending(&s->c), s->w->srv->cfg->stall_timeout_ms);
        sess_close(s, NULL);
        return;
    }
    if (s->pauser) {
        log_warn("session %s: stream %u blocked the session for %d ms (slow target); stream reset",
                 s->peer, s->pauser->sid, s->w->srv->cfg->stall_timeout_ms);
        stream_close(s->pauser, 1, NULL);
    }
}

/* Consumes the auth block (core/auth.c) from the first record the client
 * sent; returns the offset where frames start, or -1 if it does not
 * authenticate (the session is closed, or handed to the fallback). The whole
 * block must be in that first record, as the protocol asks and the reference
 * checks (it reads once): a shorter first record is closed at once, like a
 * wrong password, so a probe sees the same answer either way. With
 * --fallback, a shorter first record waits for the rest instead, as a web
 * server would, until the block is complete or the auth timeout hands it to
 * the fallback. The hash is judged once, when its 34th byte is in, by the
 * same constant-time lookup for any value (users.h): a near miss and a far
 * one take the same path to the same decision. */
static int auth_consume(ssess_t *s, const uint8_t *p, int n)
{
    sworker_t *w = s->w;
    server_t *srv = w->srv;
    size_t used = 0, had = s->auth.got;   /* block[0..had) came with earlier reads */
    int r = auth_feed_lookup(&s->auth, su_find, w->users->u, p, (size_t)n, &used);
    if (r == AUTH_MORE && s->auth.got < sizeof s->auth.block && srv->cfg->fallback) return n;
    if (r != AUTH_OK) {
        auth_reject(s, r == AUTH_BAD ? "wrong password" : "first record shorter than an auth block",
                    s->auth.block, had, p, (size_t)n);
        return -1;
    }
    adm_leave(srv->adm, &s->adm);
    if (w->nauthed >= (srv->cfg->max_sessions + srv->nworkers - 1) / srv->nworkers) {
        uint64_t held;
        if (ratelog_allow(&w->cap_log, loop_now(w->loop), PEER_LOG_INTERVAL_MS, &held))
            log_warn("session cap reached (--max-sessions %d): refusing new connections (%llu more "
                     "refused since the last such line)", srv->cfg->max_sessions, (unsigned long long)held);
        return -1;
    }
    if (su_session_start(s, s->auth.uid) < 0) return -1;
    w->nauthed++;
    s->state = SS_RUN;
    timer_cancel(sess_loop(s), &s->timer);
    log_debug("session %s authenticated", s->peer);
    return (int)used;
}

int sess_feed(ssess_t *s, const uint8_t *p, size_t n)
{
    if (s->state != SS_AUTH && s->state != SS_RUN) return -1;
    int off = 0;
    if (s->state == SS_AUTH) {
        off = auth_consume(s, p, (int)n);
        if (off < 0) { sess_close(s, NULL); return -1; }
    }
    if ((size_t)off < n && frame_dec_feed(&s->dec, p + off, n - (size_t)off, on_frame, s) < 0) {
        sess_close(s, "out of memory");
        return -1;
    }
    return s->state == SS_DEAD ? -1 : 0;
}

static void sess_read(ssess_t *s)
{
    loop_t *l = sess_loop(s);
    uint8_t *buf = loop_scratch(l);
    char err[160];
    for (int budget = 0; budget < 16 && !s->c.read_paused && s->state != SS_DEAD; budget++) {
        if (tconn_pending(&s->c) > SESS_OUT_HIGH) { pause_for_output(s); return; }
        int n = tconn_read(l, &s->c, buf, LOOP_SCRATCH, err, sizeof err);
        if (n == 0) return;
        if (n < 0) { sess_close(s, err); return; }
        if (sess_feed(s, buf, (size_t)n) < 0) return;
    }
    if (s->state != SS_DEAD) tconn_read_later(l, &s->c);   /* budget spent */
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
        if (s->c.out.len < SESS_OUT_LOW) output_drained(s);
        if (s->state != SS_DEAD && s->c.read_wants_w) sess_read(s);
    }
    if (s->state != SS_DEAD && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))) sess_read(s);
}

void sess_accept(sworker_t *w, int fd, const struct sockaddr_storage *peer)
{
    server_t *srv = w->srv;
    loop_t *l = w->loop;
    adm_slot_t slot = {0};
    int ar = adm_enter(srv->adm, peer, &slot);
    if (ar != ADM_OK) {
        /* the peer chooses how often: counted always, logged at most every 10 s per worker */
        WSTAT_ADD(w, preauth_refused, 1);
        uint64_t held;
        if (ratelog_allow(&w->preauth_log, loop_now(l), PEER_LOG_INTERVAL_MS, &held)) {
            char who[64];
            addr_t pa;
            sockaddr_to_addr((const struct sockaddr *)peer, &pa);
            addr_format(&pa, who, sizeof who);
            log_warn(ar == ADM_FULL
                     ? "pre-auth budget full (--max-preauth %d): connection from %s refused (%llu more "
                       "since the last such line)"
                     : "pre-auth budget of one address full (--max-preauth-per-addr %d): connection from "
                       "%s refused (%llu more since the last such line)",
                     ar == ADM_FULL ? srv->cfg->max_preauth : srv->cfg->max_preauth_per_addr, who,
                     (unsigned long long)held);
        }
        close(fd);
        return;
    }
    ssess_t *s = calloc(1, sizeof *s);
    SSL *ssl = s ? SSL_new(srv->ctx) : NULL;
    if (!ssl) { free(s); close(fd); adm_leave(srv->adm, &slot); log_warn("accept: out of memory"); return; }
    s->adm = slot;
    addr_t a;
    sockaddr_to_addr((const struct sockaddr *)peer, &a);
    addr_format(&a, s->peer, sizeof s->peer);
    s->w = w;
    s->uid = -1;
    s->dns.label = s->peer;
    frame_dec_init(&s->dec);
    if (tconn_init(&s->c, l, fd, ssl, sess_cb, s) < 0) {
        SSL_free(ssl); close(fd); adm_leave(srv->adm, &s->adm); free(s); return;
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
