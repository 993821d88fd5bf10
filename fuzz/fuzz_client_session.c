/* fuzz_client_session.c -- the client side of sessions: what anytls-client
 * does with the frames a server sends (PSH, FIN, SYNACK with and without
 * error text, Alert, UpdatePaddingScheme with any scheme text,
 * ServerSettings, HeartRequest, unknown commands), split anywhere, while local
 * applications come and go: SOCKS5 and HTTP CONNECT streams, plain-HTTP
 * forwarding (responses framed by client_http.c), SOCKS5 UDP associations
 * (UoT datagrams from the server), idle sessions reused, the SYNACK watchdog,
 * back-pressure both ways and the worker's drain. The code under test is
 * core/client_session.c, client_conn.c, client_inbound.c, client_http.c,
 * client_udp.c and client_scheme.c, unchanged; around it the real loop and a
 * fake world (fake_net.h, fake_tls.c, fake_env.h). The server's bytes enter
 * through cs_feed, the session's plaintext path.
 *
 * Input: [config] [m] [m schedule bytes] [what the server sends]
 *  config: the first local connection, as OP_NEW_CONN's argument.
 *  schedule: one op a byte, low nibble the op, high nibble its argument (the
 *    OP_ list below). The server's stream is cut into reads where the input
 *    puts its FEED ops, each read going to the selected session.
 *  When the schedule is over the rest is one last read; then everything is
 *    closed as at shutdown (client.c's force close).
 *
 * Properties beyond ASan/UBSan/LSan, after every op:
 *  - sessions and connections point at each other consistently (a session's
 *    stream is a live connection attached to it, and back); the idle stack
 *    holds exactly the idle sessions, none with a stream, and its count (and
 *    the count other workers read) is right;
 *  - what a session sends the server is what a server accepts: the auth block
 *    with the password's hash, then frames of the commands a client sends,
 *    Settings once before the first SYN, SYN ids increasing, PSH and FIN only
 *    on opened ids -- whatever padding scheme the server pushed;
 *  - a UDP relay sends replies only to its application's address;
 *  - the fake network's (fake_net.h).
 * At the end: every socket closed, every session and connection freed (LSan),
 * no timer left armed (the clock jumps a day and the loop turns). */
#include "fuzz_util.h"
#include "client_conn.h"
#include "client_scheme.h"
#include "client_session.h"
#include "fake_env.h"
#include "fake_net.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <unistd.h>

enum op {
    OP_FEED_S,          /* the server's next arg+1 bytes, one read of the selected session */
    OP_FEED_M,          /* ... (arg+1)*64 bytes */
    OP_FEED_L,          /* ... (arg+1)*2048 bytes */
    OP_ITER,            /* the loop turns once */
    OP_TIME,            /* TIME_MS[arg] pass, then the loop turns once */
    OP_APP_DATA,        /* application arg>>2 sends DATA_SIZE[arg&3] bytes */
    OP_APP_CLOSE,       /* application arg closes */
    OP_APP_READ,        /* every application reads what it was sent */
    OP_NEW_CONN,        /* a new local connection (arg: conn_kind) */
    OP_OUT_DRAIN,       /* the server reads what the selected session sent; EPOLLOUT */
    OP_PUSH,            /* the server sends the selected session's stream a PSH of PUSH_SIZE(arg) bytes, one read */
    OP_UDP_APP,         /* the application sends a datagram to the newest UDP relay (arg: udp_kind) */
    OP_SELECT,          /* select live session arg */
    OP_DIAL,            /* the next connection to the server: arg&3 enum fnet_dial, arg>>2 its errno */
    OP_SERVER_CLOSE,    /* the server closes the selected session's connection */
    OP_DRAIN,           /* the worker drains (SIGTERM) */
};

/* OP_NEW_CONN's argument: bits 0-1 the request, bit 2 data right behind it
 * (plain HTTP: a second request, to another origin), bit 3 the other
 * destination (SOCKS5: an IPv4 one; ASSOCIATE: port 0 declared). */
enum conn_kind { CK_SOCKS5, CK_HTTP_CONNECT, CK_HTTP_GET, CK_UDP };
/* OP_UDP_APP's argument: bit 0 from a port not the application's, bit 1 a
 * large datagram, bit 2 to a name. */

static const uint32_t TIME_MS[16] = { 1, 10, 20, 50, 100, 200, 500, 1000,
                                      1999, 2999, 3000, 5000, 10000, 15000, 30000, 60000 };
static const size_t DATA_SIZE[4] = { 1, 200, 16000, 70000 };
static const int DIAL_ERRNO[4] = { ECONNREFUSED, EMFILE, ENETUNREACH, ENFILE };
/* Up to a frame's worth: enough pushes fill the application's side (LOCAL_BUF_MAX). */
#define PUSH_SIZE(arg) ((size_t)(arg) == 15 ? FRAME_MAX_DATA : ((size_t)(arg) + 1) * 4096)

#define APP_ADDR "127.0.0.1:6000"       /* where applications connect and send datagrams from */
#define MAX_SESS 32

/* sha256("password") */
static const uint8_t PASS_HASH[32] = {
    0x5e, 0x88, 0x48, 0x98, 0xda, 0x28, 0x04, 0x71, 0x51, 0xd0, 0xe5, 0x6f, 0x8d, 0xc6, 0x29, 0x27,
    0x73, 0x60, 0x3d, 0x0d, 0x6a, 0xab, 0xbd, 0xd6, 0x2a, 0x11, 0xef, 0x72, 0x1d, 0x15, 0x42, 0xd8,
};

/* A session, and what the server has read of it. */
typedef struct hsess {
    csess_t *s;                 /* valid while its socket is open */
    int slot;                   /* the socket (fake_net.h) */
    uint8_t auth[34];
    size_t auth_got;
    uint32_t pad_left;
    frame_dec_t dec;
    int settings;
    uint32_t last_syn;
} hsess_t;

/* The process: made once. */
static loop_t *L;
static SSL_CTX *CTX;
static uint8_t *BIG;
static client_config_t cfg;
static struct sockaddr_storage server_addr;
static socklen_t server_len;
static int TRACE;
static ltimer_t stop_timer;     /* iter() */
static void stop_cb(loop_t *l, ltimer_t *t);

/* One input. */
static worker_t wk;
static cworker_t W;
static hsess_t hs[MAX_SESS];
static int nhs, sel;
static uint16_t reply_port[FNET_MAX];
static int scheme_default;              /* the default scheme is in force */
#define DEFAULT_MD5 "75cff2ad89aadf5e257059ee571ebe11"   /* by socket: where a UDP relay sent its first reply */
static const uint8_t *in;
static size_t in_len, in_pos;

static void init_once(void)
{
    log_level = LOG_DEBUG;      /* every line formatted (fake_env.h), none printed */
    TRACE = getenv("FUZZ_TRACE") != NULL;
    L = loop_new();
    timer_init(&stop_timer, stop_cb, NULL);
    CTX = SSL_CTX_new(TLS_client_method());
    BIG = malloc(DATA_SIZE[3]);
    FUZZ_CHECK(L && CTX && BIG);
    for (size_t i = 0; i < DATA_SIZE[3]; i++) BIG[i] = (uint8_t)(i * 13 + 5);
    client_config_defaults(&cfg);
    cfg.server_host = "192.0.2.1";
    cfg.server_port = "8443";
    cfg.password = "password";
    cfg.sni = "example.com";
    server_len = fnet_addr(&server_addr, "192.0.2.1:8443");
}

/* client_config_defaults lives in core/client.c, which is not linked (it is
 * the run-time: threads, signals); the same values. */
void client_config_defaults(client_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->listen = "127.0.0.1:1080";
    c->min_idle = 5;
    c->idle_timeout_ms = 30000;
    c->check_interval_ms = 30000;
    c->handshake_timeout_ms = 10000;
}

/* Every session cc_attach makes, as it is made. */
csess_t *__real_cs_new(cworker_t *w);
csess_t *__wrap_cs_new(cworker_t *w)
{
    csess_t *s = __real_cs_new(w);
    if (s) {
        FUZZ_CHECK(nhs < MAX_SESS);  /* FNET_MAX bounds them first */
        fnet_sock_t *f = fnet_find(s->c.io.fd);
        FUZZ_CHECK(f != NULL && f->kind == FNET_TCP);
        hsess_t *h = &hs[nhs++];
        memset(h, 0, sizeof *h);
        h->s = s;
        h->slot = (int)(f - fnet_at(0));
        frame_dec_init(&h->dec);
    }
    return s;
}

/* ---- the world around the sessions ---- */

static int stop_ran;

static void stop_cb(loop_t *l, ltimer_t *t)
{
    stop_ran = 1;
    loop_stop(l);
}

/* One turn of the loop (see fuzz_server_session.c). */
static void iter(void)
{
    stop_ran = 0;
    timer_set(L, &stop_timer, 0);
    loop_run(L);
    if (!stop_ran) loop_run(L);
    FUZZ_CHECK(stop_ran);
}

static int live(const hsess_t *h) { return h->s && fnet_at(h->slot)->fd >= 0; }

/* Forget sessions whose socket closed (their memory goes at the loop's turn). */
static void track(void)
{
    for (int i = 0; i < nhs; i++)
        if (hs[i].s && !live(&hs[i])) hs[i].s = NULL;
}

static hsess_t *selected(void)
{
    int n = 0;
    for (int i = 0; i < nhs; i++) n += hs[i].s != NULL;
    if (!n) return NULL;
    int k = sel % n;
    for (int i = 0; i < nhs; i++)
        if (hs[i].s && k-- == 0) return &hs[i];
    return NULL;
}

static void drain_peer(fnet_sock_t *t)
{
    uint8_t buf[4096];
    while (t->peer >= 0 && recv(t->peer, buf, sizeof buf, MSG_DONTWAIT) > 0) {}
}

/* A local application connects and sends its request. */
static void new_conn(int arg)
{
    struct sockaddr_storage local, remote;
    fnet_addr(&local, "127.0.0.1:1080");
    fnet_addr(&remote, APP_ADDR);
    int slot = fnet_conn(&local, &remote);
    if (slot < 0) return;   /* out of descriptors: accept4 would have failed */
    fnet_sock_t *f = fnet_at(slot);
    if (!cc_new(&W, f->fd)) return;
    char req[512];
    int n = 0;
    int other = arg & 8;
    switch (arg & 3) {
    case CK_SOCKS5:
        memcpy(req, "\x05\x01\x00\x05\x01\x00", 6);
        n = 6;
        if (other) {
            memcpy(req + n, "\x01\x5d\xb8\xd8\x22\x00\x50", 7);
            n += 7;
        } else {
            memcpy(req + n, "\x03\x0b" "example.com\x01\xbb", 15);
            n += 15;
        }
        break;
    case CK_HTTP_CONNECT:
        n = snprintf(req, sizeof req, "CONNECT %s HTTP/1.1\r\n\r\n", other ? "[2001:db8::1]:443" : "example.com:443");
        break;
    case CK_HTTP_GET:
        n = snprintf(req, sizeof req, "GET http://example.com/a HTTP/1.1\r\nHost: example.com\r\n\r\n%s",
                     arg & 4 ? (other ? "GET http://example.com/b HTTP/1.1\r\n\r\n"
                                      : "POST http://other.example:8080/c HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
                             : "");
        break;
    case CK_UDP:
        memcpy(req, "\x05\x01\x00\x05\x03\x00\x01\x7f\x00\x00\x01", 11);
        n = 11;
        req[n++] = other ? 0 : 0x17;    /* 6000, or 0: unknown yet */
        req[n++] = other ? 0 : 0x70;
        break;
    }
    if ((arg & 3) != CK_HTTP_GET && (arg & 4)) {
        memcpy(req + n, "early bytes", 11);
        n += 11;
    }
    send(f->peer, req, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* The application sends a SOCKS5 UDP datagram to the newest relay. */
static void udp_app(int arg)
{
    for (int i = fnet_count() - 1; i >= 0; i--) {
        fnet_sock_t *r = fnet_at(i);
        if (r->kind != FNET_UDP || r->peer < 0) continue;
        r->from_len = fnet_addr(&r->from, arg & 1 ? "127.0.0.1:6001" : APP_ADDR);
        static uint8_t d[60000 + 32];
        size_t n = 0;
        memcpy(d, "\x00\x00\x00", 3);
        n = 3;
        if (arg & 4) {
            memcpy(d + n, "\x03\x0b" "dns.example\x00\x35", 15);
            n += 15;
        } else {
            memcpy(d + n, "\x01\x08\x08\x08\x08\x00\x35", 7);
            n += 7;
        }
        size_t pl = arg & 2 ? 60000 : 5;
        memcpy(d + n, BIG, pl);
        send(r->peer, d, n + pl, MSG_DONTWAIT | MSG_NOSIGNAL);
        return;
    }
}

/* ---- what the client sends the server ---- */

static int sent_frame(void *arg, const frame_hdr_t *h, const uint8_t *d, size_t n, int first, int last)
{
    hsess_t *x = arg;
    switch (h->cmd) {
    case CMD_SETTINGS:
        FUZZ_CHECK(x->settings++ == 0 && x->last_syn == 0);
        break;
    case CMD_SYN:
        FUZZ_CHECK(x->settings && h->sid > x->last_syn);
        x->last_syn = h->sid;
        break;
    case CMD_PSH: case CMD_FIN:
        FUZZ_CHECK(h->sid && h->sid <= x->last_syn);
        break;
    case CMD_HEART_RESP:
        break;
    default:
        FUZZ_CHECK(!"a command the client never sends");
    }
    return 0;
}

/* The server reads what session x queued: the auth block, then frames. */
static void out_drain(hsess_t *x)
{
    bq_t *q = &x->s->c.out;
    size_t n = q->len;
    const uint8_t *p = n ? bq_head(q) : NULL;
    while (n && (x->auth_got < 34 || x->pad_left)) {
        if (x->auth_got < 34) {
            x->auth[x->auth_got++] = *p++;
            n--;
            if (x->auth_got == 34) {
                FUZZ_CHECK(memcmp(x->auth, PASS_HASH, 32) == 0);
                x->pad_left = (uint32_t)x->auth[32] << 8 | x->auth[33];
            }
            continue;
        }
        size_t k = n < x->pad_left ? n : x->pad_left;
        p += k;
        n -= k;
        x->pad_left -= (uint32_t)k;
    }
    if (n) FUZZ_CHECK(frame_dec_feed(&x->dec, p, n, sent_frame, x) == 0);
    if (q->len) bq_consume(q, q->len);
    drain_peer(fnet_at(x->slot));   /* a slow connect's filling (fake_net.h) */
    x->s->c.io.cb(L, &x->s->c.io, EPOLLOUT);
}

/* One read of up to `want` bytes of the server's stream by the selected
 * session, if it reads now: an exact-size copy, so ASan sees a read past it. */
static void feed(size_t want)
{
    hsess_t *x = selected();
    if (!x || x->s->state != CS_RUN || x->s->c.read_paused || in_pos == in_len) return;
    size_t k = in_len - in_pos < want ? in_len - in_pos : want;
    uint8_t *buf = (uint8_t *)fuzz_dup(in + in_pos, k, 0);
    in_pos += k;
    cs_feed(x->s, buf, k);
    free(buf);
}

/* The server sends stream data the input need not carry: one PSH on x's
 * stream (sid 1 if it has none), read at once if x reads now. */
static void push(hsess_t *x, size_t n)
{
    if (x->s->state != CS_RUN || x->s->c.read_paused) return;
    uint8_t *f = malloc(FRAME_HDR + n);
    FUZZ_CHECK(f != NULL);
    frame_put_hdr(f, CMD_PSH, x->s->cur ? x->s->cur->sid : 1, (uint16_t)n);
    memcpy(f + FRAME_HDR, BIG, n);
    cs_feed(x->s, f, FRAME_HDR + n);
    free(f);
}

/* ---- properties ---- */

static hsess_t *tracked(const csess_t *s)
{
    for (int i = 0; i < nhs; i++)
        if (hs[i].s == s) return &hs[i];
    return NULL;
}

static void check_state(void)
{
    int idle = 0;
    for (csess_t *s = W.idle_top, *prev = NULL; s; prev = s, s = s->next) {
        FUZZ_CHECK(tracked(s) != NULL);
        FUZZ_CHECK(s->idle && s->state == CS_RUN && !s->cur && s->prev == prev);
        idle++;
    }
    FUZZ_CHECK(W.nidle == idle);
    FUZZ_CHECK(atomic_load(&W.nidle_pub) == idle);
    for (int i = 0; i < nhs; i++) {
        csess_t *s = hs[i].s;
        if (!s) continue;
        FUZZ_CHECK(s->state == CS_HANDSHAKE || s->state == CS_RUN);
        FUZZ_CHECK(s->scheme && s->scheme->s);
        if (s->idle) idle--;
        if (s->cur) FUZZ_CHECK(s->cur->sess == s && s->cur->state == CC_RELAY && !s->idle);
    }
    FUZZ_CHECK(idle == 0);
    for (cconn_t *cc = W.conns; cc; cc = cc->next) {
        FUZZ_CHECK(cc->state != CC_DEAD && cc->w == &W);
        FUZZ_CHECK(!cc->next || cc->next->prev == cc);
        if (cc->sess) {
            FUZZ_CHECK(tracked(cc->sess) != NULL);
            FUZZ_CHECK(cc->sess->cur == cc);
        }
    }
    /* a relay answers its application only: its IP, and always one port
     * (the one ASSOCIATE declared, else the first datagram's) */
    for (int i = 0; i < fnet_count(); i++) {
        fnet_sock_t *r = fnet_at(i);
        if (r->kind != FNET_UDP || !r->last_to_len) continue;
        const struct sockaddr_in *to = (const struct sockaddr_in *)&r->last_to;
        FUZZ_CHECK(r->last_to_len == sizeof *to && to->sin_family == AF_INET);
        FUZZ_CHECK(to->sin_addr.s_addr == htonl(INADDR_LOOPBACK));
        if (!reply_port[i]) reply_port[i] = to->sin_port;
        FUZZ_CHECK(to->sin_port == reply_port[i]);
    }
}

static void trace(uint8_t b)
{
    fprintf(stderr, "op %2d arg %2d: fed %zu/%zu, sessions", b & 15, b >> 4, in_pos, in_len);
    for (int i = 0; i < nhs; i++)
        if (hs[i].s)
            fprintf(stderr, " %d:%s%s%s", i, hs[i].s->state == CS_RUN ? "run" : "hs", hs[i].s->idle ? ",idle" : "",
                    hs[i].s->cur ? ",stream" : "");
    int nc = 0;
    for (cconn_t *cc = W.conns; cc; cc = cc->next) nc++;
    fprintf(stderr, ", conns %d, sockets %d\n", nc, fnet_count());
}

/* ---- one input ---- */

static void setup(void)
{
    fnet_reset();
    fenv_reset();
    /* The default scheme in force: kept from the last input unless a server
     * replaced it (teardown then dropped it); parsing it costs more than the
     * rest of a short input. */
    if (!scheme_default) {
        padding_scheme_t *def = padding_default();
        FUZZ_CHECK(def && scheme_set(def) == 0);
        scheme_default = 1;
    }
    memset(&wk, 0, sizeof wk);
    memset(&W, 0, sizeof W);
    wk.loop = L;
    wk.ud = &W;
    W.cfg = &cfg;
    W.wk = &wk;
    W.loop = L;
    W.ctx = CTX;
    W.server = &server_addr;
    W.server_len = server_len;
    W.pass_hash = PASS_HASH;
    W.all = &W;
    W.nall = 1;
    nhs = sel = 0;
    memset(reply_port, 0, sizeof reply_port);
}

/* client.c's on_drain (static there). */
static void drain(void)
{
    W.draining = 1;
    while (W.idle_top) cs_close(W.idle_top, NULL);
    for (cconn_t *cc = W.conns, *n; cc; cc = n) {
        n = cc->next;
        if (cc->state != CC_RELAY) cc_close(cc, "shutting down");
    }
    if (!W.conns) loop_stop(L);
}

static void run_op(uint8_t b)
{
    int op = b & 15, arg = b >> 4;
    hsess_t *x = selected();
    switch (op) {
    case OP_FEED_S: feed((size_t)arg + 1); break;
    case OP_FEED_M: feed(((size_t)arg + 1) * 64); break;
    case OP_FEED_L: feed(((size_t)arg + 1) * 2048); break;
    case OP_ITER: iter(); break;
    case OP_TIME: fenv_advance(TIME_MS[arg]); iter(); break;
    case OP_APP_DATA:
    case OP_APP_CLOSE: {
        fnet_sock_t *apps[FNET_MAX];
        int na = 0;
        for (int i = 0; i < fnet_count(); i++)
            if (fnet_at(i)->kind == FNET_CONN && fnet_at(i)->peer >= 0) apps[na++] = fnet_at(i);
        if (!na) break;
        if (op == OP_APP_CLOSE) fnet_close_peer(apps[arg % na]);
        else send(apps[(arg >> 2) % na]->peer, BIG, DATA_SIZE[arg & 3], MSG_DONTWAIT | MSG_NOSIGNAL);
        break;
    }
    case OP_APP_READ:
        for (int i = 0; i < fnet_count(); i++)
            if (fnet_at(i)->kind != FNET_TCP) drain_peer(fnet_at(i));
        break;
    case OP_NEW_CONN: if (!W.draining) new_conn(arg); break;
    case OP_OUT_DRAIN: if (x) out_drain(x); break;
    case OP_PUSH: if (x) push(x, PUSH_SIZE(arg)); break;
    case OP_UDP_APP: udp_app(arg); break;
    case OP_SELECT: sel = arg; break;
    case OP_DIAL:
        fnet_dial_mode = arg & 3;
        fnet_dial_errno = DIAL_ERRNO[arg >> 2];
        break;
    case OP_SERVER_CLOSE: if (x) fnet_close_peer(fnet_at(x->slot)); break;
    case OP_DRAIN: if (!W.draining) drain(); break;
    }
    track();
    check_state();
    if (TRACE) trace(b);
}

static void teardown(void)
{
    /* client.c's on_force_close, then the sessions nobody holds (still in
     * their handshake after their connection left) */
    W.draining = 1;
    while (W.conns) {
        cconn_t *cc = W.conns;
        csess_t *s = cc->sess;
        cc_close(cc, "shutdown");
        if (s) cs_close(s, NULL);
    }
    while (W.idle_top) cs_close(W.idle_top, NULL);
    for (int i = 0; i < nhs; i++)
        if (hs[i].s) cs_close(hs[i].s, NULL);
    track();
    iter();
    for (int i = 0; i < nhs; i++) {
        FUZZ_CHECK(hs[i].s == NULL);
        frame_dec_free(&hs[i].dec);
    }
    /* every session gave its scheme back: one reference left, the client's */
    scheme_ref_t *cur = scheme_get();
    FUZZ_CHECK(atomic_load(&cur->refs) == 2);
    int same = strcmp(cur->s->md5, DEFAULT_MD5) == 0;
    scheme_put(cur);
    if (!same) {
        scheme_clear();
        scheme_default = 0;
    }
    fnet_close_peers();
    FUZZ_CHECK(fnet_open_code_ends() == 0);
    fenv_advance(86400000);
    iter();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!L) init_once();
    if (size < 2) return 0;
    size_t m = data[1];
    if (size < 2 + m) m = size - 2;
    setup();
    in = data + 2 + m;
    in_len = size - 2 - m;
    in_pos = 0;
    new_conn(data[0]);
    iter();     /* the proxy handshake: a session is dialed */
    iter();     /* its TLS handshake (fake_tls.c), the auth block, the stream opens */
    track();
    check_state();
    for (size_t i = 0; i < m; i++) run_op(data[2 + i]);
    feed(SIZE_MAX);
    iter();
    track();
    check_state();
    teardown();
    return 0;
}
