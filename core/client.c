/* client.c -- anytls-client: local proxy connections (cconn) relayed over AnyTLS
 * sessions (csess). A session carries one stream at a time; when the stream
 * ends and the session is healthy it goes back on its worker's idle stack and
 * the next stream takes the newest idle session. Everything belongs to one
 * worker thread; the padding scheme is the only shared state. */
#include "client.h"
#include "addr.h"
#include "frame.h"
#include "inbound_parse.h"
#include "kv.h"
#include "log.h"
#include "loop.h"
#include "padding.h"
#include "padwriter.h"
#include "tconn.h"
#include "tls.h"
#include "uot.h"
#include "util.h"

#include <errno.h>
#include <netdb.h>
#include <openssl/sha.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define LOCAL_BUF_MAX (256 * 1024)   /* toward the local app before the session pauses */
#define SESS_OUT_HIGH (512 * 1024)   /* toward the server before local reads pause */
#define SESS_OUT_LOW (128 * 1024)
#define SYNACK_WATCHDOG_MS 3000
#define HS_MAX 16384

typedef struct cworker cworker_t;
typedef struct csess csess_t;
typedef struct cconn cconn_t;

/* The scheme in force, replaced when a server sends cmd 6. Sessions hold a
 * reference; the pointer swap is guarded by scheme_mu, counts are atomic. */
typedef struct scheme_ref { padding_scheme_t *s; atomic_int refs; } scheme_ref_t;
static pthread_mutex_t scheme_mu = PTHREAD_MUTEX_INITIALIZER;
static scheme_ref_t *scheme_cur;

static scheme_ref_t *scheme_get(void)
{
    pthread_mutex_lock(&scheme_mu);
    scheme_ref_t *r = scheme_cur;
    atomic_fetch_add(&r->refs, 1);
    pthread_mutex_unlock(&scheme_mu);
    return r;
}

static void scheme_put(scheme_ref_t *r)
{
    if (r && atomic_fetch_sub(&r->refs, 1) == 1) { padding_free(r->s); free(r); }
}

static int scheme_set(padding_scheme_t *s)
{
    scheme_ref_t *r = malloc(sizeof *r);
    if (!r) { padding_free(s); return -1; }
    r->s = s;
    atomic_init(&r->refs, 1);
    pthread_mutex_lock(&scheme_mu);
    scheme_ref_t *old = scheme_cur;
    scheme_cur = r;
    pthread_mutex_unlock(&scheme_mu);
    scheme_put(old);
    return 0;
}

enum cs_state { CS_HANDSHAKE, CS_RUN, CS_DEAD };
enum cc_state { CC_HS, CC_WAIT_UDP, CC_RELAY, CC_DEAD };

struct csess {
    cworker_t *w;
    tconn_t c;
    enum cs_state state;
    frame_dec_t dec;
    scheme_ref_t *scheme;
    uint32_t pkt;
    unsigned padding_done : 1;
    unsigned idle : 1;
    int peer_version;
    uint32_t next_sid;
    cconn_t *cur;
    uint64_t idle_since;
    ltimer_t timer;            /* connect/handshake timeout, then SYNACK watchdog */
    csess_t *prev, *next;      /* idle stack (prev = newer) */
};

struct cconn {
    cworker_t *w;
    ioh_t lio;
    enum cc_state state;
    int proto;
    bq_t in;                   /* proxy handshake bytes */
    bq_t tl;                   /* toward the local app */
    bq_t early;                /* stream bytes known before the stream opened */
    addr_t dst;
    csess_t *sess;
    uint32_t sid;
    unsigned remote_fin : 1;
    unsigned local_paused : 1;
    unsigned udp : 1;
    ioh_t uio;                 /* UDP ASSOCIATE relay socket */
    struct sockaddr_storage app;
    socklen_t app_len;
    ltimer_t timer;            /* proxy handshake timeout, then the session wait */
    uint64_t attach_deadline;  /* out of fds for a session: retry until then (0: not waiting) */
    cconn_t *prev, *next;      /* worker's list of live conns */
};

struct cworker {
    int id;
    client_config_t *cfg;
    loop_t *loop;
    pthread_t th;
    ioh_t lio;
    csess_t *idle_top;         /* newest idle session */
    int nidle;
    /* nidle as other workers see it, to send them a new local connection when
     * this worker has no idle session (sessions are reused across workers).
     * Written by this worker only, read by the others: relaxed atomics. */
    atomic_int nidle_pub;
    cworker_t *all;
    int nall;
    cconn_t *conns;
    ltimer_t check;
    ltimer_t accept_pause;     /* listener resumes after running out of fds */
    uint64_t emfile_logged;    /* when "out of fds for a session" was last logged */
    SSL_CTX *ctx;
    struct sockaddr_storage *server;
    socklen_t server_len;
    const uint8_t *pass_hash;
    int draining;
};

static void cc_close(cconn_t *cc, const char *why);
static void cs_close(csess_t *s, const char *why);
static void cc_local_cb(loop_t *l, ioh_t *h, uint32_t ev);
static void cs_read(csess_t *s);

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
static int cs_write(csess_t *s, const uint8_t *p, size_t n)
{
    if (s->padding_done) return cs_write_raw(s, p, n);
    if (++s->pkt >= s->scheme->s->stop) s->padding_done = 1;
    int r = padw_write(s->scheme->s, s->pkt, p, n, cs_padw_out, s, NULL, NULL);
    if (r == PADW_ENOMEM) cs_close(s, "out of memory");
    return r < 0 ? -1 : 0;
}

static int cs_ctl(csess_t *s, uint8_t cmd, uint32_t sid, const void *d, size_t n)
{
    uint8_t buf[FRAME_HDR + 256];
    frame_put_hdr(buf, cmd, sid, (uint16_t)n);
    if (n) memcpy(buf + FRAME_HDR, d, n);
    return cs_write(s, buf, FRAME_HDR + n);
}

/* ---- sessions ---- */

static void free_sess(void *p)
{
    csess_t *s = p;
    frame_dec_free(&s->dec);
    scheme_put(s->scheme);
    free(s);
}

static void idle_remove(csess_t *s)
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

static void idle_push(csess_t *s)
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

static void cs_close(csess_t *s, const char *why)
{
    if (s->state == CS_DEAD) return;
    cworker_t *w = s->w;
    if (why) log_debug("session closed: %s", why);
    s->state = CS_DEAD;
    idle_remove(s);
    timer_cancel(w->loop, &s->timer);
    cconn_t *cc = s->cur;
    s->cur = NULL;
    if (cc) { cc->sess = NULL; cc_close(cc, why ? why : "session closed"); }
    tconn_close(w->loop, &s->c);
    loop_defer_free(w->loop, s, free_sess);
}

/* The stream on s is over: the session goes back to the idle stack. */
static void cs_stream_done(csess_t *s)
{
    s->cur = NULL;
    timer_cancel(s->w->loop, &s->timer);
    if (s->c.read_paused) { s->c.read_paused = 0; tconn_update(s->w->loop, &s->c); }
    if (s->state != CS_RUN) return;
    if (s->w->draining) { cs_close(s, NULL); return; }
    idle_push(s);
}

static void cs_timer(loop_t *l, ltimer_t *t)
{
    csess_t *s = t->ud;
    if (s->state != CS_RUN) log_warn("connecting to the server timed out");
    else log_warn("no SYNACK from the server within 3 s: closing the session");
    cs_close(s, NULL);
}

/* Bytes of stream sid toward the local app (or the UDP relay). */
static void cc_deliver(cconn_t *cc, const uint8_t *p, size_t n);

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

static void cs_read(csess_t *s)
{
    loop_t *l = s->w->loop;
    uint8_t *buf = loop_scratch(l);
    char err[160];
    for (int i = 0; i < 16 && s->state == CS_RUN && !s->c.read_paused; i++) {
        int n = tconn_read(l, &s->c, buf, LOOP_SCRATCH, err, sizeof err);
        if (n == 0) return;
        if (n < 0) { cs_close(s, err); return; }
        if (frame_dec_feed(&s->dec, buf, (size_t)n, cs_on_frame, s) < 0) { cs_close(s, "out of memory"); return; }
    }
}

/* Sends SYN + the destination (+ bytes already received from the app). The
 * first stream of a session also carries Settings: packet 1 of the scheme. */
static void cs_open_stream(csess_t *s, cconn_t *cc)
{
    uint8_t buf[1024];
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
    frame_put_hdr(buf + n, CMD_PSH, cc->sid, (uint16_t)al);
    n += FRAME_HDR + (size_t)al;
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
        timer_cancel(l, &s->timer);
        {
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

/* A new session (connect started), or NULL with errno set: EMFILE/ENFILE
 * (out of fds, the caller may retry; not logged here) or another failure
 * (logged). */
static csess_t *cs_new(cworker_t *w)
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

/* ---- local connections ---- */

static void free_cc(void *p)
{
    cconn_t *cc = p;
    bq_free(&cc->in); bq_free(&cc->tl); bq_free(&cc->early);
    free(cc);
}

static void cc_close(cconn_t *cc, const char *why)
{
    if (cc->state == CC_DEAD) return;
    cworker_t *w = cc->w;
    cc->state = CC_DEAD;
    if (why) log_debug("local connection closed: %s", why);
    if (cc->lio.fd >= 0) { int fd = cc->lio.fd; loop_del(w->loop, &cc->lio); close(fd); }
    if (cc->uio.fd >= 0) { int fd = cc->uio.fd; loop_del(w->loop, &cc->uio); close(fd); }
    timer_cancel(w->loop, &cc->timer);
    csess_t *s = cc->sess;
    cc->sess = NULL;
    if (s && s->cur == cc) {
        if (!cc->remote_fin && s->state == CS_RUN) cs_ctl(s, CMD_FIN, cc->sid, NULL, 0);
        cs_stream_done(s);
    }
    if (cc->prev) cc->prev->next = cc->next; else w->conns = cc->next;
    if (cc->next) cc->next->prev = cc->prev;
    loop_defer_free(w->loop, cc, free_cc);
    if (w->draining && !w->conns) loop_stop(w->loop);
}

static int cc_local_send(cconn_t *cc, const uint8_t *p, size_t n)
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

static void cc_udp_from_stream(cconn_t *cc, const uint8_t *p, size_t n)
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

static void cc_deliver(cconn_t *cc, const uint8_t *p, size_t n)
{
    if (cc->udp) { cc_udp_from_stream(cc, p, n); return; }
    if (cc_local_send(cc, p, n) < 0) cc_close(cc, "local write failed");
}

/* Puts the connection on a session: the newest idle one, or a new one. */
#define ATTACH_RETRY_MS 50

/* Gives cc a session: the newest idle one, else a new one. Out of fds for a
 * new one, cc waits (the SOCKS side already sees the connection as open, and
 * other streams free fds as they end) and tries again every 50 ms, up to the
 * handshake timeout; only then does it fail. */
static void cc_attach(cconn_t *cc)
{
    cworker_t *w = cc->w;
    cc->state = CC_RELAY;
    timer_cancel(w->loop, &cc->timer);
    csess_t *s = w->idle_top;
    if (s) {
        cc->attach_deadline = 0;
        idle_remove(s);
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
        if (s && s->state == CS_RUN && s->cur == cc && s->c.out.len > SESS_OUT_HIGH) {
            cc->local_paused = 1;
            loop_mod(cc->w->loop, &cc->lio, cc->lio.events & ~EPOLLIN);
            s->c.notify_w = 1;
            tconn_update(cc->w->loop, &s->c);
            return;
        }
        ssize_t n = recv(cc->lio.fd, buf, 16384 - FRAME_HDR, 0);
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

static void cc_udp_cb(loop_t *l, ioh_t *h, uint32_t ev)
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
static int cc_udp_assoc(cconn_t *cc)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(cc->lio.fd, (struct sockaddr *)&ss, &sl);
    if (ss.ss_family == AF_INET) ((struct sockaddr_in *)&ss)->sin_port = 0;
    else ((struct sockaddr_in6 *)&ss)->sin6_port = 0;
    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) < 0 ||
        loop_add(cc->w->loop, &cc->uio, fd, EPOLLIN, cc_udp_cb, cc) < 0) {
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

/* Proxy handshake on the local connection; returns when it needs more bytes. */
static void cc_handshake(cconn_t *cc)
{
    uint8_t *buf = loop_scratch(cc->w->loop);
    ssize_t n = recv(cc->lio.fd, buf, HS_MAX, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN)) { cc_close(cc, "closed during proxy handshake"); return; }
    if (n < 0) return;
    if (bq_append(&cc->in, buf, (size_t)n) < 0 || cc->in.len > HS_MAX) { cc_close(cc, "handshake too long"); return; }
    for (;;) {
        const uint8_t *b = bq_head(&cc->in);
        size_t len = cc->in.len, used = 0;
        uint8_t rep[64];
        if (!cc->proto) {
            cc->proto = inb_detect(b[0]);
            if (cc->proto == INB_UNKNOWN) { cc_close(cc, "unknown proxy protocol"); return; }
        }
        int r;
        if (cc->proto == INB_SOCKS5 + 100) { /* after greeting */
            int cmd;
            r = socks5_parse_request(b, len, &used, &cmd, &cc->dst);
            if (r == INB_NEED_MORE) return;
            if (r == INB_ERROR || (cmd != SOCKS5_CONNECT && cmd != SOCKS5_UDP_ASSOCIATE)) {
                size_t rl = socks5_reply(rep, r == INB_ERROR ? 1 : 7, NULL);
                send(cc->lio.fd, rep, rl, MSG_NOSIGNAL);
                cc_close(cc, "bad SOCKS5 request");
                return;
            }
            bq_consume(&cc->in, used);
            if (cmd == SOCKS5_UDP_ASSOCIATE) {
                if (cc_udp_assoc(cc) < 0) {
                    size_t rl = socks5_reply(rep, 1, NULL);
                    send(cc->lio.fd, rep, rl, MSG_NOSIGNAL);
                    cc_close(cc, "UDP ASSOCIATE failed");
                }
                return;
            }
            size_t rl = socks5_reply(rep, 0, NULL);
            send(cc->lio.fd, rep, rl, MSG_NOSIGNAL);
        } else if (cc->proto == INB_SOCKS5) {
            int noauth;
            r = socks5_parse_greeting(b, len, &used, &noauth);
            if (r == INB_NEED_MORE) return;
            if (r == INB_ERROR || !noauth) {
                send(cc->lio.fd, "\x05\xff", 2, MSG_NOSIGNAL);
                cc_close(cc, "SOCKS5 greeting without no-auth method");
                return;
            }
            send(cc->lio.fd, "\x05\x00", 2, MSG_NOSIGNAL);
            bq_consume(&cc->in, used);
            cc->proto = INB_SOCKS5 + 100;
            if (!cc->in.len) return;
            continue;
        } else if (cc->proto == INB_SOCKS4) {
            r = socks4_parse_request(b, len, &used, &cc->dst);
            if (r == INB_NEED_MORE) return;
            size_t rl = socks4_reply(rep, r == INB_DONE);
            send(cc->lio.fd, rep, rl, MSG_NOSIGNAL);
            if (r == INB_ERROR) { cc_close(cc, "bad SOCKS4 request"); return; }
            bq_consume(&cc->in, used);
        } else {
            int is_connect;
            uint8_t *out = malloc(INB_HTTP_MAX_HEAD);
            size_t olen = 0;
            if (!out) { cc_close(cc, "out of memory"); return; }
            r = http_parse_request(b, len, &used, &is_connect, &cc->dst, out, &olen);
            if (r == INB_NEED_MORE) { free(out); return; }
            if (r == INB_ERROR) {
                static const char bad[] = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
                send(cc->lio.fd, bad, sizeof bad - 1, MSG_NOSIGNAL);
                free(out);
                cc_close(cc, "bad HTTP proxy request");
                return;
            }
            if (is_connect) {
                static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
                send(cc->lio.fd, ok, sizeof ok - 1, MSG_NOSIGNAL);
            } else if (bq_append(&cc->early, out, olen) < 0) {
                free(out);
                cc_close(cc, "out of memory");
                return;
            }
            free(out);
            bq_consume(&cc->in, used);
        }
        /* destination known; leftover bytes are stream data */
        if (cc->in.len && bq_append(&cc->early, bq_head(&cc->in), cc->in.len) < 0) {
            cc_close(cc, "out of memory");
            return;
        }
        bq_free(&cc->in);
        cc_attach(cc);
        return;
    }
}

static void cc_local_cb(loop_t *l, ioh_t *h, uint32_t ev)
{
    cconn_t *cc = h->ud;
    switch (cc->state) {
    case CC_HS: cc_handshake(cc); return;
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
    if (cc->attach_deadline && cc->state == CC_RELAY && !cc->sess) cc_attach(cc);
    else cc_close(cc, "proxy handshake timeout");
}

static void adopt(cworker_t *w, int fd)
{
    loop_t *l = w->loop;
    cconn_t *cc = calloc(1, sizeof *cc);
    if (!cc) { close(fd); return; }
    cc->w = w;
    cc->uio.fd = -1;
    if (loop_add(l, &cc->lio, fd, EPOLLIN, cc_local_cb, cc) < 0) { close(fd); free(cc); return; }
    timer_init(&cc->timer, cc_timer, cc);
    timer_set(l, &cc->timer, (uint64_t)w->cfg->handshake_timeout_ms);
    cc->next = w->conns;
    if (cc->next) cc->next->prev = cc;
    w->conns = cc;
}

typedef struct handoff { cworker_t *w; int fd; } handoff_t;

static void adopt_task(loop_t *l, void *arg)
{
    handoff_t *h = arg;
    if (h->w->draining) close(h->fd);
    else adopt(h->w, h->fd);
    free(h);
}

/* The worker that should serve a new connection: this one if it has an idle
 * session (or no other has), else the one with the most idle sessions. */
static cworker_t *pick_worker(cworker_t *w)
{
    if (w->nidle) return w;
    cworker_t *best = w;
    int most = 0;
    for (int i = 0; i < w->nall; i++) {
        int n = atomic_load_explicit(&w->all[i].nidle_pub, memory_order_relaxed);
        if (n > most) { most = n; best = &w->all[i]; }
    }
    return best;
}

static void accept_resume(loop_t *l, ltimer_t *t)
{
    cworker_t *w = t->ud;
    if (!w->draining) listener_resume(l, &w->lio);
}

static void accept_cb(loop_t *l, ioh_t *h, uint32_t ev)
{
    cworker_t *w = h->ud;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                listener_pause(l, h, &w->accept_pause, 200, "accept");
            return;
        }
        set_nodelay(fd);
        cworker_t *to = pick_worker(w);
        handoff_t *ho = to != w ? malloc(sizeof *ho) : NULL;
        if (ho) {
            ho->w = to;
            ho->fd = fd;
            if (loop_post(to->loop, adopt_task, ho) == 0) continue;
            free(ho);
        }
        adopt(w, fd);
    }
}

/* Every check interval: idle sessions older than the idle timeout are closed,
 * but the newest min_idle are kept. */
static void check_cb(loop_t *l, ltimer_t *t)
{
    cworker_t *w = t->ud;
    int kept = 0;
    uint64_t now = loop_now(l);
    for (csess_t *s = w->idle_top, *n; s; s = n) {
        n = s->next;
        if (kept < w->cfg->min_idle || now - s->idle_since < (uint64_t)w->cfg->idle_timeout_ms) {
            kept++;
            continue;
        }
        cs_close(s, "idle timeout");
    }
    timer_set(l, t, (uint64_t)w->cfg->check_interval_ms);
}

static void *worker_main(void *arg)
{
    cworker_t *w = arg;
    loop_run(w->loop);
    return NULL;
}

static void drain_task(loop_t *l, void *arg)
{
    cworker_t *w = arg;
    w->draining = 1;
    if (w->lio.fd >= 0) { int fd = w->lio.fd; loop_del(l, &w->lio); close(fd); }
    timer_cancel(l, &w->check);
    timer_cancel(l, &w->accept_pause);
    while (w->idle_top) cs_close(w->idle_top, NULL);
    for (cconn_t *cc = w->conns, *n; cc; cc = n) {
        n = cc->next;
        if (cc->state != CC_RELAY) cc_close(cc, "shutting down");
    }
    if (!w->conns) loop_stop(l);
}

static void force_task(loop_t *l, void *arg)
{
    cworker_t *w = arg;
    while (w->conns) {
        cconn_t *cc = w->conns;
        csess_t *s = cc->sess;
        cc_close(cc, "shutdown");
        if (s) cs_close(s, NULL);
    }
    while (w->idle_top) cs_close(w->idle_top, NULL);
    loop_stop(l);
}

void client_config_defaults(client_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->listen = "127.0.0.1:1080";
    c->min_idle = 5;
    c->idle_timeout_ms = 30000;
    c->check_interval_ms = 30000;
    c->handshake_timeout_ms = 10000;
}

int client_run(client_config_t *cfg)
{
    char err[512];
    uint8_t pass_hash[32];
    SHA256((const unsigned char *)cfg->password, strlen(cfg->password), pass_hash);
    padding_scheme_t *def = padding_default();
    if (!def || scheme_set(def) < 0) { log_error("out of memory"); return 1; }

    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
    int g = getaddrinfo(cfg->server_host, cfg->server_port, &hints, &res);
    if (g) {
        log_error("cannot resolve server %s: %s", cfg->server_host, gai_strerror(g));
        scheme_put(scheme_cur);
        return 1;
    }
    struct sockaddr_storage server;
    memcpy(&server, res->ai_addr, res->ai_addrlen);
    socklen_t server_len = res->ai_addrlen;
    freeaddrinfo(res);

    SSL_CTX *ctx = tls_client_ctx(cfg->ca, err, sizeof err);
    if (!ctx) { log_error("%s", err); scheme_put(scheme_cur); return 1; }

    raise_nofile();
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int nw = cfg->workers > 0 ? cfg->workers : (ncpu > 0 ? (int)ncpu : 1);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT); sigaddset(&set, SIGTERM); sigaddset(&set, SIGPIPE);
    sigaddset(&set, SIGHUP); sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    cworker_t *ws = calloc((size_t)nw, sizeof *ws);
    int rc = 1, i, started = 0;
    for (i = 0; i < nw; i++) {
        cworker_t *w = &ws[i];
        w->id = i; w->cfg = cfg; w->ctx = ctx; w->server = &server; w->server_len = server_len;
        w->pass_hash = pass_hash;
        w->all = ws;
        w->nall = nw;
        w->loop = loop_new();
        int lfd = w->loop ? tcp_listen(cfg->listen, 1, err, sizeof err) : -1;
        if (lfd < 0) { log_error("%s", w->loop ? err : "out of memory"); goto out; }
        loop_add(w->loop, &w->lio, lfd, EPOLLIN, accept_cb, w);
        timer_init(&w->accept_pause, accept_resume, w);
        timer_init(&w->check, check_cb, w);
        timer_set(w->loop, &w->check, (uint64_t)cfg->check_interval_ms);
    }
    for (i = 0; i < nw; i++, started++) pthread_create(&ws[i].th, NULL, worker_main, &ws[i]);
    log_info("anytls-client %s listening on %s (SOCKS5, SOCKS4a, HTTP), server %s:%s%s", ANYTLS_VERSION,
             cfg->listen, cfg->server_host, cfg->server_port,
             cfg->ca ? ", verifying its certificate" : ", certificate NOT verified (use --ca)");

    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    for (;;) {
        struct signalfd_siginfo si;
        if (read(sfd, &si, sizeof si) != sizeof si) continue;
        if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM) break;
        if (si.ssi_signo == SIGHUP) log_info("SIGHUP: the client has nothing to reload; restart it to change flags");
        if (si.ssi_signo == SIGUSR1) {
            int idle = 0;
            for (int k = 0; k < nw; k++) idle += atomic_load_explicit(&ws[k].nidle_pub, memory_order_relaxed);
            log_info("[Stats] {\"workers\":%d,\"idle_sessions\":%d}", nw, idle);
        }
    }
    close(sfd);
    log_info("stopping: no new connections, draining");
    for (i = 0; i < nw; i++) loop_post(ws[i].loop, drain_task, &ws[i]);
    for (i = 0; i < nw; i++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 10;
        if (pthread_timedjoin_np(ws[i].th, NULL, &ts) != 0) {
            loop_post(ws[i].loop, force_task, &ws[i]);
            pthread_join(ws[i].th, NULL);
        }
    }
    started = 0;
    rc = 0;
out:
    for (i = 0; i < started; i++) {
        loop_post(ws[i].loop, force_task, &ws[i]);
        pthread_join(ws[i].th, NULL);
    }
    for (i = 0; i < nw; i++) {
        cworker_t *w = &ws[i];
        if (!w->loop) continue;
        force_task(w->loop, w);
        if (w->lio.fd > 0) close(w->lio.fd);
        loop_free(w->loop);
    }
    free(ws);
    SSL_CTX_free(ctx);
    scheme_put(scheme_cur);
    scheme_cur = NULL;
    if (rc == 0) log_info("anytls-client stopped");
    return rc;
}
