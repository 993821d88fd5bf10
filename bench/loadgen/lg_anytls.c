/* lg_anytls.c -- the AnyTLS client side of bench/loadgen: sessions, their
 * idle stack, streams on them, padded writes (lg_anytls.h). */
#include "lg_anytls.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "loadgen.h"
#include "lg_stream.h"
#include "lg_target.h"
#include "padwriter.h"

#define MUX_SLOTS 1024           /* streams per multiplexed session, at most - 1 */
#define E_AUTO (-1)              /* lg_at_kill: "short" if the stream had data, else "socks" */

static int lg_at_ctl(int32_t k, uint8_t cmd, uint32_t sid);
static int lg_at_flush(int32_t k);

static int lg_at_new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    (void)ssl;
    if (lg_st.at.resume) SSL_SESSION_free(lg_st.at.resume);
    lg_st.at.resume = sess;
    return 1;   /* we keep the reference */
}

void lg_at_init(void)
{
    lg_anytls_t *at = &lg_st.at;
    const char *pass = lg_cfg.at_pass;
    unsigned int hl = 0;
    if (!EVP_Digest(pass, strlen(pass), at->pass_hash, &hl, EVP_sha256(), NULL) || hl != 32)
        bench_die("sha256 failed");
    at->ctx = SSL_CTX_new(TLS_client_method());
    if (!at->ctx) bench_die("SSL_CTX_new failed");
    SSL_CTX_set_min_proto_version(at->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(at->ctx, SSL_VERIFY_NONE, NULL);     /* as the reference client */
    SSL_CTX_set_mode(at->ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(at->ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(at->ctx, lg_at_new_session_cb);
    at->scheme = padding_default();
    if (!at->scheme) bench_die("padding_default failed");
    at->free_head = at->idle_head = -1;
    at->nss = lg_cfg.at_nmux ? lg_cfg.at_nmux : lg_cfg.cap;
    at->ss = calloc((size_t)at->nss, sizeof *at->ss);
    if (!at->ss) bench_die("out of memory");
    for (int32_t i = at->nss - 1; i >= 0; i--) {
        at->ss[i].fd = -1;
        at->ss[i].cur = -1;
        if (lg_cfg.at_nmux) {
            at->ss[i].slot = malloc(MUX_SLOTS * sizeof(int32_t));
            if (!at->ss[i].slot) bench_die("out of memory");
            for (int j = 0; j < MUX_SLOTS; j++) at->ss[i].slot[j] = -1;
        }
        at->ss[i].inext = at->free_head;
        at->free_head = i;
    }
}

static void lg_at_idle_remove(int32_t k)
{
    lg_anytls_t *at = &lg_st.at;
    lg_sess_t *x = &at->ss[k];
    if (!x->idle) return;
    if (x->iprev >= 0) at->ss[x->iprev].inext = x->inext; else at->idle_head = x->inext;
    if (x->inext >= 0) at->ss[x->inext].iprev = x->iprev;
    x->idle = 0;
}

static void lg_at_idle_push(int32_t k)
{
    lg_anytls_t *at = &lg_st.at;
    lg_sess_t *x = &at->ss[k];
    x->idle = 1;
    x->iprev = -1;
    x->inext = at->idle_head;
    if (at->idle_head >= 0) at->ss[at->idle_head].iprev = k;
    at->idle_head = k;
}

/* Puts stream i on session k under a fresh sid (one whose slot is free). */
static void lg_at_bind(int32_t k, int32_t i)
{
    lg_sess_t *x = &lg_st.at.ss[k];
    lg_stream_t *s = &lg_st.S[i];
    s->sess = k;
    if (!lg_cfg.at_nmux) {
        x->cur = i;
        s->sid = ++x->next_sid;
        return;
    }
    do s->sid = ++x->next_sid; while (!s->sid || x->slot[s->sid & (MUX_SLOTS - 1)] >= 0);
    x->slot[s->sid & (MUX_SLOTS - 1)] = i;
    x->nstreams++;
}

/* Takes stream i off its session k; sends nothing. */
static void lg_at_unbind(int32_t k, int32_t i)
{
    lg_sess_t *x = &lg_st.at.ss[k];
    if (lg_cfg.at_nmux) {
        x->slot[lg_st.S[i].sid & (MUX_SLOTS - 1)] = -1;
        x->nstreams--;
    } else {
        x->cur = -1;
    }
    lg_st.S[i].sess = -1;
}

/* The live stream with this sid on session k, or -1. */
static int32_t lg_at_stream_of(int32_t k, uint32_t sid)
{
    lg_sess_t *x = &lg_st.at.ss[k];
    int32_t i = lg_cfg.at_nmux ? x->slot[sid & (MUX_SLOTS - 1)] : x->cur;
    if (i < 0) return -1;
    const lg_stream_t *s = &lg_st.S[i];
    return s->st != ST_FREE && s->sess == k && s->sid == sid ? i : -1;
}

static int lg_at_kind(int32_t i, int kind)
{
    return kind != E_AUTO ? kind : lg_st.S[i].resp_got ? E_SHORT : E_SOCKS;
}

/* Frees the session; streams still on it fail with `kind` (or E_AUTO). */
static void lg_at_kill(int32_t k, int kind)
{
    lg_anytls_t *at = &lg_st.at;
    lg_sess_t *x = &at->ss[k];
    if (x->state == SS_FREE) return;
    lg_at_idle_remove(k);
    int32_t cur = x->cur;
    x->cur = -1;
    x->state = SS_FREE;
    if (x->ssl) {
        SSL_free(x->ssl);   /* no close_notify: the socket goes now */
        x->ssl = NULL;
    }
    if (x->fd >= 0) close(x->fd);
    x->fd = -1;
    frame_dec_free(&x->dec);
    while (x->oq) { lg_srec_t *r = x->oq; x->oq = r->next; free(r); }
    x->oq_tail = NULL;
    x->gen++;
    x->inext = at->free_head;
    at->free_head = k;
    /* the session is already gone: lg_stream_fail must not come back here */
    if (lg_cfg.at_nmux) {
        for (int j = 0; j < MUX_SLOTS && x->nstreams; j++) {
            int32_t i = x->slot[j];
            if (i < 0) continue;
            lg_at_unbind(k, i);
            lg_stream_fail(i, lg_at_kind(i, kind));
        }
    } else if (cur >= 0 && lg_st.S[cur].st != ST_FREE && lg_st.S[cur].sess == k) {
        lg_st.S[cur].sess = -1;
        lg_stream_fail(cur, lg_at_kind(cur, kind));
    }
}

/* The ok path detaches first, so this only sees streams that failed. */
void lg_at_stream_detach(int32_t i)
{
    lg_stream_t *s = &lg_st.S[i];
    int32_t k = s->sess;
    if (k < 0) return;
    if (lg_cfg.at_nmux) {
        uint32_t sid = s->sid;
        int sent = s->st == ST_RESPONSE;
        lg_at_unbind(k, i);
        if (sent && lg_st.at.ss[k].state == SS_RUN && (lg_at_ctl(k, CMD_FIN, sid) < 0 || lg_at_flush(k) < 0))
            lg_at_kill(k, E_IO);
        return;
    }
    s->sess = -1;
    if (lg_st.at.ss[k].cur == i) {
        lg_st.at.ss[k].cur = -1;
        lg_at_kill(k, E_SOCKS);
    }
}

/* Writes one TLS record (or queues it behind earlier ones). -1: session dead. */
static int lg_at_record(int32_t k, const uint8_t *p, size_t n)
{
    lg_sess_t *x = &lg_st.at.ss[k];
    if (!x->oq) {
        ERR_clear_error();
        int r = SSL_write(x->ssl, p, (int)n);
        if (r > 0) return 0;
        int e = SSL_get_error(x->ssl, r);
        if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) return -1;
    }
    lg_srec_t *q = malloc(sizeof *q + n);
    if (!q) return -1;
    q->next = NULL;
    q->len = (uint32_t)n;
    memcpy(q->data, p, n);
    if (x->oq_tail) x->oq_tail->next = q; else x->oq = q;
    x->oq_tail = q;
    return 0;
}

static int lg_at_flush(int32_t k)
{
    lg_sess_t *x = &lg_st.at.ss[k];
    while (x->oq) {
        ERR_clear_error();
        int r = SSL_write(x->ssl, x->oq->data, (int)x->oq->len);
        if (r <= 0) {
            int e = SSL_get_error(x->ssl, r);
            return (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) ? 0 : -1;
        }
        lg_srec_t *q = x->oq;
        x->oq = q->next;
        if (!x->oq) x->oq_tail = NULL;
        free(q);
    }
    return 0;
}

/* padwriter's output: every piece goes out as its own TLS record. */
static int lg_at_padw_out(void *arg, const uint8_t *p, size_t n, int record)
{
    (void)record;
    return lg_at_record((int32_t)(intptr_t)arg, p, n);
}

/* One logical client write: padded into records while the packet count is
 * below the scheme's stop (core/padwriter.c, as anytls-client). */
static int lg_at_write(int32_t k, const uint8_t *p, size_t n)
{
    lg_sess_t *x = &lg_st.at.ss[k];
    const padding_scheme_t *sc = lg_st.at.scheme;
    if (x->padding_done) return lg_at_record(k, p, n);
    if (++x->pkt >= sc->stop) x->padding_done = 1;
    return padw_write(sc, x->pkt, p, n, lg_at_padw_out, (void *)(intptr_t)k, NULL, NULL) < 0 ? -1 : 0;
}

static int lg_at_ctl(int32_t k, uint8_t cmd, uint32_t sid)
{
    uint8_t b[FRAME_HDR];
    frame_put_hdr(b, cmd, sid, 0);
    return lg_at_write(k, b, FRAME_HDR);
}

/* Stream i is over, ok: FIN, and its session back to the idle stack (or
 * closed, --anytls-new-session). */
static void lg_at_stream_done(int32_t k, int32_t i, uint64_t t)
{
    uint32_t sid = lg_st.S[i].sid;
    lg_at_unbind(k, i);
    lg_stream_ok(i, t);
    if (lg_cfg.at_new_session) { lg_at_kill(k, E_IO); return; }
    if (lg_at_ctl(k, CMD_FIN, sid) < 0) { lg_at_kill(k, E_IO); return; }
    if (!lg_cfg.at_nmux) lg_at_idle_push(k);
}

/* Sends bound stream i on ready session k: [Settings] SYN PSH(dst) in one
 * write, then the request in a second PSH. A zero-byte response is done at
 * once. -1: the session is dead. */
static int lg_at_send_open(int32_t k, int32_t i)
{
    lg_sess_t *x = &lg_st.at.ss[k];
    lg_stream_t *s = &lg_st.S[i];
    uint8_t b[512];
    size_t n = 0;
    if (!x->settings_sent) {
        x->settings_sent = 1;
        n = padw_put_settings(b, lg_st.at.scheme);
    }
    frame_put_hdr(b + n, CMD_SYN, s->sid, 0);
    n += FRAME_HDR;
    uint8_t a[32];
    size_t al = lg_target_put_socks(a, &lg_cfg.targets[s->tgt]) - 3;   /* drop VER CMD RSV */
    frame_put_hdr(b + n, CMD_PSH, s->sid, (uint16_t)al);
    memcpy(b + n + FRAME_HDR, a + 3, al);
    n += FRAME_HDR + al;
    if (lg_at_write(k, b, n) < 0) return -1;
    size_t rl = lg_stream_put_request(b + FRAME_HDR);
    frame_put_hdr(b, CMD_PSH, s->sid, (uint16_t)rl);
    if (lg_at_write(k, b, FRAME_HDR + rl) < 0) return -1;
    s->t_socks = bench_now_ns();   /* the TLS work before this took time */
    s->st = ST_RESPONSE;
    if (!lg_cfg.resp_size) { s->t_first = s->t_socks; lg_at_stream_done(k, i, s->t_first); }
    return 0;
}

/* A stream ended by the server (SYNACK error, FIN): the session stays. Returns
 * non-zero when the session must go (one session per stream). */
static int lg_at_stream_lost(int32_t k, int32_t i, int kind)
{
    lg_at_unbind(k, i);
    lg_stream_fail(i, kind);
    if (lg_cfg.at_new_session) return 1;
    if (!lg_cfg.at_nmux) lg_at_idle_push(k);
    return 0;
}

/* Frame callback: returns non-zero when the session must go. */
static int lg_at_on_frame(void *arg, const frame_hdr_t *h, const uint8_t *data, size_t n,
                          int first, int last)
{
    (void)first;
    int32_t k = (int32_t)(intptr_t)arg;
    int32_t i = lg_at_stream_of(k, h->sid);
    switch (h->cmd) {
    case CMD_PSH:
        if (i >= 0 && n) {
            lg_stream_t *s = &lg_st.S[i];
            uint64_t t = bench_now_ns();
            if (!s->resp_got) s->t_first = t;
            s->resp_got += n;
            if (s->resp_got >= lg_cfg.resp_size && last) lg_at_stream_done(k, i, t);
        }
        return 0;
    case CMD_SYNACK:
        if (i >= 0 && h->len) {
            lg_st.n.at_synack_err++;
            return lg_at_stream_lost(k, i, E_SOCKS);
        }
        return 0;
    case CMD_FIN:
        return i >= 0 ? lg_at_stream_lost(k, i, E_SHORT) : 0;
    case CMD_HEART_REQ: {
        uint8_t b[FRAME_HDR];
        frame_put_hdr(b, CMD_HEART_RESP, h->sid, 0);
        return lg_at_write(k, b, FRAME_HDR) < 0;
    }
    case CMD_ALERT:
        lg_st.n.at_alerts++;
        if (lg_st.n.at_alerts <= 3)
            fprintf(stderr, "loadgen: server Alert: %.*s\n", (int)n, (const char *)data);
        return 1;
    case CMD_UPDATE_PADDING: {
        padding_scheme_t *ns = padding_parse((const char *)data, n);
        if (ns) { padding_free(lg_st.at.scheme); lg_st.at.scheme = ns; }
        return 0;
    }
    default:
        return 0;   /* ServerSettings, HeartResponse, unknown: nothing to do */
    }
}

/* TLS is up on session k: the auth block, alone in one record, then the
 * streams that waited for it. */
static void lg_at_ready(int32_t k)
{
    lg_sess_t *x = &lg_st.at.ss[k];
    x->state = SS_RUN;
    frame_dec_init(&x->dec);
    uint8_t auth[34 + 1024];
    int pad = padding_auth_len(lg_st.at.scheme, NULL, NULL);
    if (pad < 0) pad = 0;
    if (pad > 1024) pad = 1024;
    memcpy(auth, lg_st.at.pass_hash, 32);
    auth[32] = (uint8_t)(pad >> 8);
    auth[33] = (uint8_t)pad;
    memset(auth + 34, 0, (size_t)pad);
    if (lg_at_record(k, auth, 34 + (size_t)pad) < 0) { lg_at_kill(k, E_SOCKS); return; }
    if (lg_cfg.at_nmux) {
        /* the streams that waited for it, in sid order (slot order but for wrap) */
        for (int j = 0; j < MUX_SLOTS && x->nstreams; j++) {
            int32_t i = x->slot[j];
            if (i < 0 || lg_st.S[i].st != ST_CONNECTING) continue;
            lg_stream_t *s = &lg_st.S[i];
            s->t_conn = x->t_tcp > s->t_start ? x->t_tcp : s->t_start;
            if (lg_at_send_open(k, i) < 0) { lg_at_kill(k, E_SOCKS); return; }
            if (x->state == SS_FREE) return;
        }
    } else if (x->cur >= 0) {
        if (lg_at_send_open(k, x->cur) < 0) { lg_at_kill(k, E_SOCKS); return; }
    } else {
        lg_at_idle_push(k);
    }
}

/* All the progress possible on session k after epoll events ev at t. */
static void lg_at_run(int32_t k, uint32_t ev, uint64_t t)
{
    lg_sess_t *x = &lg_st.at.ss[k];
    if (x->state == SS_TCP) {
        if (ev & EPOLLERR) { lg_at_kill(k, E_CONNECT); return; }
        if (!(ev & EPOLLOUT)) { if (ev & EPOLLHUP) lg_at_kill(k, E_CONNECT); return; }
        x->t_tcp = t;
        if (x->cur >= 0) lg_st.S[x->cur].t_conn = t;
        x->ssl = SSL_new(lg_st.at.ctx);
        if (!x->ssl || !SSL_set_fd(x->ssl, x->fd)) { lg_at_kill(k, E_SOCKS); return; }
        if (lg_st.at.resume) SSL_set_session(x->ssl, lg_st.at.resume);
        SSL_set_connect_state(x->ssl);
        x->state = SS_TLS;
    }
    if (x->state == SS_TLS) {
        ERR_clear_error();
        int r = SSL_do_handshake(x->ssl);
        if (r != 1) {
            int e = SSL_get_error(x->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
            lg_at_kill(k, E_SOCKS);
            return;
        }
        lg_at_ready(k);
        if (x->state == SS_FREE) return;
    }
    if (lg_at_flush(k) < 0) { lg_at_kill(k, E_IO); return; }
    for (;;) {
        ERR_clear_error();
        int r = SSL_read(x->ssl, lg_st.scratch, sizeof lg_st.scratch);
        if (r <= 0) {
            int e = SSL_get_error(x->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
            lg_at_kill(k, E_AUTO);
            return;
        }
        int stop = frame_dec_feed(&x->dec, (const uint8_t *)lg_st.scratch, (size_t)r, lg_at_on_frame,
                                  (void *)(intptr_t)k);
        if (x->state == SS_FREE) return;
        if (stop) { lg_at_kill(k, E_SOCKS); return; }
    }
    if (lg_at_flush(k) < 0) lg_at_kill(k, E_IO);
}

void lg_at_event(uint64_t u, uint32_t ev, uint64_t t)
{
    uint32_t k = (uint32_t)u, gen = (uint32_t)(u >> 32) & 0x7fffffffu;
    const lg_sess_t *x = &lg_st.at.ss[k];
    if (x->state != SS_FREE && (x->gen & 0x7fffffffu) == gen)
        lg_at_run((int32_t)k, ev, t);
}

/* Opens session k (free): a non-blocking connect, TLS follows in lg_at_run.
 * -1: failed at once (the session is freed again). */
static int lg_at_open(int32_t k)
{
    lg_sess_t *x = &lg_st.at.ss[k];
    uint32_t gen = x->gen;
    int32_t *slot = x->slot;
    memset(x, 0, sizeof *x);
    x->gen = gen;
    x->slot = slot;
    x->cur = -1;
    x->iprev = x->inext = -1;
    x->state = SS_TCP;
    lg_st.n.at_opened++;
    const lg_target_t *dst = &lg_cfg.at_server;
    x->fd = socket(dst->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (x->fd < 0) { lg_at_kill(k, E_CONNECT); return -1; }
    int one = 1;
    setsockopt(x->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event e = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP,
                            .data.u64 = LG_SESS_TAG | ((uint64_t)x->gen << 32) | (uint32_t)k};
    if ((connect(x->fd, (const struct sockaddr *)&dst->ss, dst->len) < 0 && errno != EINPROGRESS) ||
        epoll_ctl(lg_st.ep, EPOLL_CTL_ADD, x->fd, &e) < 0) {
        lg_at_kill(k, E_CONNECT);
        return -1;
    }
    return 0;
}

/* Sends stream i, just bound to session k, if k is ready (else it waits for
 * the handshake in lg_at_run). */
static void lg_at_go(int32_t k, int32_t i, uint64_t t)
{
    if (lg_st.at.ss[k].state != SS_RUN) return;
    lg_st.S[i].t_conn = t;
    if (lg_at_send_open(k, i) < 0) { lg_at_kill(k, E_IO); return; }
    if (lg_st.at.ss[k].state != SS_FREE && lg_at_flush(k) < 0) lg_at_kill(k, E_IO);
}

/* --anytls-sessions: the session with the fewest streams (an unopened one
 * first), or -1 when every session is full. */
static int32_t lg_at_mux_pick(void)
{
    const lg_sess_t *ss = lg_st.at.ss;
    int32_t best = -1;
    for (int32_t k = 0; k < lg_cfg.at_nmux; k++) {
        const lg_sess_t *x = &ss[k];
        if (x->state == SS_FREE) return k;
        if (x->nstreams < MUX_SLOTS - 1 && (best < 0 || x->nstreams < ss[best].nstreams)) best = k;
    }
    return best;
}

/* The newest idle session, else a new connection (with --anytls-sessions: the
 * least loaded of the N). */
int lg_at_stream_start(int32_t i, uint64_t t)
{
    lg_anytls_t *at = &lg_st.at;
    if (lg_cfg.at_nmux) {
        int32_t k = lg_at_mux_pick();
        if (k < 0) { lg_stream_fail(i, E_DROP); return -1; }
        if (at->ss[k].state == SS_FREE) {
            if (lg_at_open(k) < 0) { lg_stream_fail(i, E_CONNECT); return -1; }
        } else {
            lg_st.n.at_reused++;
        }
        lg_at_bind(k, i);
        lg_at_go(k, i, t);
        return 0;
    }
    while (!lg_cfg.at_new_session && at->idle_head >= 0) {
        int32_t k = at->idle_head;
        lg_at_idle_remove(k);
        lg_st.n.at_reused++;
        lg_at_bind(k, i);
        lg_st.S[i].t_conn = t;
        if (lg_at_send_open(k, i) == 0) {
            if (at->ss[k].state != SS_FREE && lg_at_flush(k) < 0) lg_at_kill(k, E_IO);
            return 0;
        }
        /* a dead idle session: drop it (not the stream) and try the next */
        lg_at_unbind(k, i);
        lg_at_kill(k, E_IO);
    }
    int32_t k = at->free_head;
    if (k < 0) { lg_stream_fail(i, E_DROP); return -1; }
    at->free_head = at->ss[k].inext;
    if (lg_at_open(k) < 0) { lg_stream_fail(i, E_CONNECT); return -1; }
    lg_at_bind(k, i);
    return 0;
}

void lg_at_hold_idle(void)
{
    if (lg_cfg.proto != PROTO_ANYTLS || !(lg_cfg.at_hold_idle > 0)) return;
    int n = 0;
    for (int k = 0; k < lg_st.at.nss; k++) n += lg_st.at.ss[k].state == SS_RUN;
    fprintf(stderr, "loadgen: holding %d idle sessions for %.0f s\n", n, lg_cfg.at_hold_idle);
    uint64_t end = bench_now_ns() + (uint64_t)(lg_cfg.at_hold_idle * 1e9);
    struct epoll_event evs[64];
    while (!lg_st.interrupted) {
        uint64_t t = bench_now_ns();
        if (t >= end) break;
        uint64_t d = end - t < 100000000ull ? end - t : 100000000ull;
        struct timespec to = {0, (long)d};
        int m = epoll_pwait2(lg_st.ep, evs, 64, &to, NULL);
        for (int j = 0; j < m; j++)
            if (evs[j].data.u64 & LG_SESS_TAG)
                lg_at_event(evs[j].data.u64, evs[j].events, bench_now_ns());
    }
}

void lg_at_parse(const char *arg)
{
    const char *hp = arg;
    if (!strncmp(arg, "anytls://", 9)) {
        const char *at = strrchr(arg + 9, '@');
        if (!at) bench_die("--anytls URI needs PASSWORD@HOST:PORT");
        size_t pl = (size_t)(at - (arg + 9));
        if (pl >= 256) bench_die("password too long");
        char *pw = strndup(arg + 9, pl);
        if (!pw) bench_die("out of memory");
        lg_cfg.at_pass = pw;   /* kept for the life of the process */
        hp = at + 1;
    }
    char hbuf[128];
    snprintf(hbuf, sizeof hbuf, "%s", hp);
    hbuf[strcspn(hbuf, "/?#")] = 0;
    if (lg_target_parse(hbuf, &lg_cfg.at_server) < 0) bench_die("bad --anytls server '%s'", hp);
    if (!lg_cfg.at_pass) bench_die("--anytls needs a password (URI or --password)");
}
