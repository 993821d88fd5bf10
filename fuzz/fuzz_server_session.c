/* fuzz_server_session.c -- a whole server session: authentication, Settings,
 * streams (SYN, PSH, FIN), heartbeats, UDP over TCP, the outbound path with a
 * real pool (none or lock), timers, back-pressure and the worker's drain,
 * driven by the input. The code under test is core/server_session.c,
 * server_stream.c, server_uot.c and outbound.c, unchanged; around it are the
 * real loop and a fake world (no network, no TLS, no resolver, a clock that
 * moves when the input says): fake_net.h, fake_tls.c, fake_dns.h, fake_env.h.
 * The client's bytes enter through sess_feed, the session's plaintext path.
 *
 * Input: [config] [m] [m schedule bytes] [the client's plaintext stream]
 *  config: bit 0 pool "lock" (else "none"); bit 1 tight limits (3 streams,
 *    300-byte stream buffer, 600 per session, 1000 per worker, one connection
 *    per target, one spare dial a second); bit 2 --log-targets off; bit 3
 *    --max-sessions 0 (authentication refused at the cap); bit 4 the pool
 *    keeps 2 spares per target (refills); bit 5 the client is IPv6. The pool
 *    tracks 16 targets (default 1024): its LRU eviction can bite, and the
 *    refill tick does not scan 1024 empty buckets (a tenth of the time).
 *  schedule: one op a byte, low nibble the op, high nibble its argument (the
 *    OP_ list below). Reads take the stream in the pieces the schedule says:
 *    the stream is split wherever the input puts its FEED ops. The first read
 *    is the first TLS record, which must hold the whole auth block.
 *  When the schedule is over the rest of the stream is one last read; then
 *    the session is closed as at shutdown.
 *
 * Properties beyond ASan/UBSan/LSan, after every op:
 *  - the stream table: every stream is live, in the bucket of its sid, once;
 *    s->nstreams counts them; what they hold toward their targets adds up to
 *    the session's and the worker's totals (budgets); the pool's Active gauge
 *    equals the streams it counted; the streams_open counter equals the table;
 *    blocked and pausing streams are live ones;
 *  - nauthed and the pre-auth budget follow the session's state;
 *  - what the server sends is well-formed frames of the commands a server
 *    sends: SYNACK only to a client that said v >= 2, the padding scheme and
 *    ServerSettings at most once, the scheme exactly the server's;
 *  - the fake network: only well-formed addresses reach connect/sendto, no TCP
 *    socket is made outside a dial.
 * At the end (session closed): no stream, nothing queued, no lookup left
 * waiting nor charged to the session, no refill, the pool back to its one
 * reference with nothing Active, every socket the code was given closed, and
 * no timer left armed (the clock jumps a day and the loop turns: a timer of a
 * freed object would fire on freed memory). */
#include "fuzz_util.h"
#include "fake_dns.h"
#include "fake_env.h"
#include "fake_net.h"
#include "log.h"
#include "outbound.h"
#include "server_session.h"
#include "server_users.h"
#include "server_stream.h"

#include <errno.h>
#include <unistd.h>

enum op {
    OP_FEED_S,          /* the client's next arg+1 bytes, one read */
    OP_FEED_M,          /* ... (arg+1)*64 bytes */
    OP_FEED_L,          /* ... (arg+1)*2048 bytes */
    OP_ITER,            /* the loop turns once (socket events, deferred frees) */
    OP_TIME,            /* TIME_MS[arg] pass, then the loop turns once */
    OP_DNS_OK,          /* pending lookup arg answers (bit 0: IPv6) */
    OP_DNS_FAIL,        /* pending lookup arg fails */
    OP_TGT_DATA,        /* target arg>>2 sends DATA_SIZE[arg&3] bytes */
    OP_TGT_CLOSE,       /* target arg closes */
    OP_TGT_READ,        /* every target reads what it was sent */
    OP_OUT_DRAIN,       /* the client reads what the server queued; EPOLLOUT */
    OP_EPOLLIN,         /* the session's socket is readable (nothing decrypted) */
    OP_DIAL,            /* the next dial: arg&3 enum fnet_dial, arg>>2 its errno */
    OP_UDP_REPLY,       /* the newest UDP socket gets a datagram (arg: source, size) */
    OP_CLIENT_CLOSE,    /* the client closes the connection */
    OP_DRAIN,           /* the worker drains (SIGTERM) */
};

static const uint32_t TIME_MS[16] = { 1, 10, 20, 50, 100, 200, 500, 1000,
                                      1999, 2000, 3000, 5000, 10000, 15000, 30000, 60000 };
static const size_t DATA_SIZE[4] = { 1, 200, 16384, 70000 };
static const int DIAL_ERRNO[4] = { ECONNREFUSED, EMFILE, ENETUNREACH, EACCES };
static const char *const UDP_FROM[4] = { "8.8.8.8:53", "[2001:db8::53]:53", "[::ffff:8.8.4.4]:53",
                                         "192.0.2.1:443" };

/* sha256("password") */
static const uint8_t PASS_HASH[32] = {
    0x5e, 0x88, 0x48, 0x98, 0xda, 0x28, 0x04, 0x71, 0x51, 0xd0, 0xe5, 0x6f, 0x8d, 0xc6, 0x29, 0x27,
    0x73, 0x60, 0x3d, 0x0d, 0x6a, 0xab, 0xbd, 0xd6, 0x2a, 0x11, 0xef, 0x72, 0x1d, 0x15, 0x42, 0xd8,
};

/* The process: made once. */
static loop_t *L;
static SSL_CTX *CTX;
static adm_t *ADM;
static gate_seen_t *SEEN;
static padding_scheme_t *SCHEME;
static server_config_t UCFG;    /* what su_start reads: -p password, no --users-file */
static server_t USRV;           /* the users table (-p), loaded once: su_start */
static sworker_t UW;            /* ... and the worker's reference and counters: su_worker_init */
static uint8_t *BIG;            /* DATA_SIZE[3] bytes to send from targets */
static int TRACE;               /* FUZZ_TRACE=1: the state after each op, on stderr */
static ltimer_t stop_timer;     /* iter() */
static void stop_cb(loop_t *l, ltimer_t *t);

/* One input. */
static server_config_t cfg;
static server_t srv;
static worker_t wk;
static sworker_t W;
static ssess_t *S;              /* the session; NULL once it closed */
static int s_slot;              /* its socket (fake_net.h) */
static const dns_owner_t *s_owner;
static const uint8_t *in;       /* the client's stream */
static size_t in_len, in_pos;
static frame_dec_t out_dec;     /* the client decoding what the server sent */
static int out_padding, out_settings;

static void init_once(void)
{
    log_level = LOG_DEBUG;      /* every line formatted (fake_env.h), none printed */
    TRACE = getenv("FUZZ_TRACE") != NULL;
    L = loop_new();
    timer_init(&stop_timer, stop_cb, NULL);
    CTX = SSL_CTX_new(TLS_server_method());
    ADM = adm_new(64, 8);
    SEEN = gate_seen_new(256);
    SCHEME = padding_default();
    BIG = malloc(DATA_SIZE[3]);
    FUZZ_CHECK(L && CTX && ADM && SCHEME && BIG);
    /* The users table is the same for every input (no reload here): loading
     * it (a salt, 1024-entry tables) took a fifth of an execution. Each input
     * gets these pointers; its sessions' per-user gauges are back to 0 at the
     * end of each input (teardown checks). */
    char uerr[200];
    UCFG.password = "password";         /* sha256: PASS_HASH */
    USRV.cfg = &UCFG;
    FUZZ_CHECK(su_start(&USRV, uerr, sizeof uerr) == 0);
    UW.srv = &USRV;
    FUZZ_CHECK(su_worker_init(&UW) == 0);
    for (size_t i = 0; i < DATA_SIZE[3]; i++) BIG[i] = (uint8_t)(i * 7 + 1);
}

/* server_config_defaults (core/server.c, not linked here), then the input's. */
static void configure(uint8_t f)
{
    memset(&cfg, 0, sizeof cfg);
    cfg.password = "password";
    cfg.max_streams = 256;
    cfg.auth_timeout_ms = 10000;
    cfg.connect_timeout_ms = 10000;
    cfg.stall_timeout_ms = 15000;
    cfg.stream_buf = 256 * 1024;
    cfg.session_buf = 4u << 20;
    cfg.process_buf = 256u << 20;
    cfg.max_sessions = 10000;
    cfg.max_preauth = 2048;
    cfg.max_preauth_per_addr = 32;
    cfg.max_spare_dials = 200;
    cfg.log_targets = 1;
    pool_config_defaults(&cfg.pool);
    cfg.pool.now_ms = fenv_clock;
    cfg.pool.max_targets = 16;
    cfg.pool.min_idle = f & 16 ? 2 : 0;
    cfg.pool_type = f & 1 ? "lock" : "none";
    if (f & 2) {
        cfg.max_streams = 3;
        cfg.stream_buf = 300;
        cfg.session_buf = 600;
        cfg.process_buf = 1000;
        cfg.pool.max_conns = 1;
        cfg.max_spare_dials = 1;
    }
    if (f & 4) cfg.log_targets = 0;
    if (f & 8) cfg.max_sessions = 0;
}

/* ---- the world around the session ---- */

static int stop_ran;

static void stop_cb(loop_t *l, ltimer_t *t)
{
    stop_ran = 1;
    loop_stop(l);
}

/* One turn of the loop: a timer due now makes epoll_wait return at once, and
 * stops the loop once the turn (socket events, due timers, deferred frees) is
 * over. (A task posted to the loop did the same with an allocation and two
 * more system calls a turn.) A loop_stop from the code outside the loop (a
 * drain) ends the first run before it turns: then it runs again. */
static void iter(void)
{
    stop_ran = 0;
    timer_set(L, &stop_timer, 0);
    loop_run(L);
    if (!stop_ran) loop_run(L);
    FUZZ_CHECK(stop_ran);
}

/* The session pointer lives until its socket is closed (sess_close closes
 * it; the memory goes at the end of that loop turn). */
static void track(void)
{
    if (S && fnet_at(s_slot)->fd < 0) S = NULL;
}

/* Live targets (dialed or UDP sockets whose harness end is open). */
static int targets(fnet_sock_t **out, int max)
{
    int n = 0;
    for (int i = 0; i < fnet_count() && n < max; i++) {
        fnet_sock_t *t = fnet_at(i);
        if ((t->kind == FNET_TCP || t->kind == FNET_UDP) && t->peer >= 0) out[n++] = t;
    }
    return n;
}

static void drain_peer(fnet_sock_t *t)
{
    uint8_t buf[4096];
    while (t->peer >= 0 && recv(t->peer, buf, sizeof buf, MSG_DONTWAIT) > 0) {}
}

static int out_frame(void *arg, const frame_hdr_t *h, const uint8_t *d, size_t n, int first, int last)
{
    switch (h->cmd) {
    case CMD_PSH: case CMD_FIN: case CMD_HEART_RESP: case CMD_ALERT:
        break;
    case CMD_SYNACK:
        FUZZ_CHECK(S->peer_version >= 2);
        break;
    case CMD_UPDATE_PADDING:
        FUZZ_CHECK(++out_padding == 1);
        FUZZ_CHECK(n == SCHEME->raw_len && memcmp(d, SCHEME->raw, n) == 0);
        break;
    case CMD_SERVER_SETTINGS:
        FUZZ_CHECK(++out_settings == 1);
        FUZZ_CHECK(n == 3 && memcmp(d, "v=2", 3) == 0);
        break;
    default:
        FUZZ_CHECK(!"a command the server never sends");
    }
    return 0;
}

/* The client reads what the server queued (fake_tls.c: all of c.out). */
static void out_drain(void)
{
    bq_t *q = &S->c.out;
    if (q->len) {
        FUZZ_CHECK(frame_dec_feed(&out_dec, bq_head(q), q->len, out_frame, NULL) == 0);
        bq_consume(q, q->len);
    }
    S->c.io.cb(L, &S->c.io, EPOLLOUT);
}

/* One read of up to `want` bytes of the client's stream, if the session
 * reads now: an exact-size copy, so ASan sees a read past it. */
static void feed(size_t want)
{
    if (!S || S->c.read_paused || in_pos == in_len) return;
    if (tconn_pending(&S->c) > SESS_OUT_HIGH) {
        S->c.io.cb(L, &S->c.io, EPOLLIN);  /* sess_read stops reading first */
        return;
    }
    size_t k = in_len - in_pos < want ? in_len - in_pos : want;
    uint8_t *buf = (uint8_t *)fuzz_dup(in + in_pos, k, 0);
    in_pos += k;
    sess_feed(S, buf, k);
    free(buf);
}

/* ---- properties ---- */

static uint64_t stat_of(_Atomic uint64_t *v) { return atomic_load_explicit(v, memory_order_relaxed); }

static void check_state(void)
{
    uint32_t n = 0, counted = 0;
    size_t queued = 0;
    if (S) {
        FUZZ_CHECK(S->state == SS_AUTH || S->state == SS_RUN);
        for (uint32_t i = 0; i < S->tcap; i++) {
            for (sstream_t *st = S->tab[i]; st; st = st->hnext) {
                n++;
                FUZZ_CHECK(st->s == S && st->state != ST_DEAD);
                FUZZ_CHECK(((st->sid * 2654435761u) & (S->tcap - 1)) == i);
                for (sstream_t *o = st->hnext; o; o = o->hnext) FUZZ_CHECK(o->sid != st->sid);
                FUZZ_CHECK(st->tq_acct == st->tq.len);
                FUZZ_CHECK(!st->dns || st->state == ST_RESOLVING || st->state == ST_UDP);
                queued += st->tq_acct;
                counted += st->counted;
            }
        }
        FUZZ_CHECK(n == S->nstreams);
        FUZZ_CHECK(S->queued == queued);
        for (sstream_t *b = S->blocked; b; b = b->bnext) FUZZ_CHECK(b->blocked && b->s == S && b->state != ST_DEAD);
        FUZZ_CHECK(!S->pauser || (S->pauser->s == S && S->pauser->state != ST_DEAD));
        FUZZ_CHECK(W.nauthed == (S->state == SS_RUN));
        FUZZ_CHECK(adm_count(ADM) == (S->state != SS_RUN));
    } else {
        FUZZ_CHECK(W.nauthed == 0);
        FUZZ_CHECK(adm_count(ADM) == 0);
    }
    FUZZ_CHECK(W.nsessions == (S != NULL));
    FUZZ_CHECK(W.queued == queued);
    FUZZ_CHECK(stat_of(&W.st.streams_open) == n);
    FUZZ_CHECK(stat_of(&W.st.sessions_open) == (S != NULL));
    pool_stats_t ps;
    pool_stats(&W.pool->h, &ps);
    FUZZ_CHECK(ps.active == counted);
}

static void trace(uint8_t b)
{
    fprintf(stderr, "op %2d arg %2d: fed %zu/%zu, session %s, streams", b & 15, b >> 4, in_pos, in_len,
            !S ? "closed" : S->state == SS_AUTH ? "auth" : "run");
    for (uint32_t i = 0; S && i < S->tcap; i++)
        for (sstream_t *st = S->tab[i]; st; st = st->hnext)
            fprintf(stderr, " %u:%d%s", st->sid, st->state, st->acked ? "a" : "");
    fprintf(stderr, ", out %zu, sockets %d, lookups %d\n", S ? S->c.out.len : 0, fnet_count(),
            fdns_queries(W.dns));
}

/* ---- one input ---- */

static void setup(uint8_t f)
{
    fnet_reset();
    fenv_reset();
    configure(f);
    memset(&srv, 0, sizeof srv);
    memset(&W, 0, sizeof W);
    memset(&wk, 0, sizeof wk);
    srv.cfg = &cfg;
    srv.ctx = CTX;
    cfg.password = "password";          /* sha256: PASS_HASH */
    srv.users = USRV.users;             /* su_start's, made once (init_once) */
    srv.usnap = USRV.usnap;
    srv.seen = SEEN;
    srv.tpol = NULL;                    /* every destination allowed (fake network) */
    atomic_init(&srv.scheme, SCHEME);
    srv.adm = ADM;
    srv.nworkers = 1;
    srv.workers = &W;
    wk.loop = L;
    wk.ud = &W;
    W.srv = &srv;
    W.wk = &wk;
    W.loop = L;
    cfg.pool.nworkers = 1;
    W.users = UW.users;                 /* su_worker_init's, made once */
    W.ust = UW.ust;
    W.gate = gate_new(64);
    FUZZ_CHECK(W.gate != NULL);
    W.pool = outbound_pool_new(cfg.pool_type, &cfg.pool, 1);
    FUZZ_CHECK(W.pool != NULL);
    dns_config_t dc;
    dns_config_defaults(&dc);
    dc.max_queries = 4;         /* small: the budgets bite */
    dc.max_per_owner = 3;
    W.dns = dns_new(L, &dc, NULL, 0);
    W.refill_dns = (dns_owner_t){ .label = "spare refills", .max = 2 };
    outbound_worker_init(&W);
    frame_dec_init(&out_dec);
    out_padding = out_settings = 0;

    struct sockaddr_storage local, peer;
    fnet_addr(&local, "192.0.2.10:8443");
    fnet_addr(&peer, f & 32 ? "[2001:db8::7]:40000" : "198.51.100.7:40000");
    s_slot = fnet_conn(&local, &peer);
    FUZZ_CHECK(s_slot >= 0);
    sess_accept(&W, fnet_at(s_slot)->fd, &peer);
    S = W.sessions;
    FUZZ_CHECK(S != NULL);
    s_owner = &S->dns;
    S->c.io.cb(L, &S->c.io, EPOLLOUT);  /* the handshake completes (fake_tls.c) */
    FUZZ_CHECK(S->state == SS_AUTH);
}

static void run_op(uint8_t b)
{
    int op = b & 15, arg = b >> 4;
    fnet_sock_t *t[FNET_MAX];
    int nt;
    switch (op) {
    case OP_FEED_S: feed((size_t)arg + 1); break;
    case OP_FEED_M: feed(((size_t)arg + 1) * 64); break;
    case OP_FEED_L: feed(((size_t)arg + 1) * 2048); break;
    case OP_ITER: iter(); break;
    case OP_TIME: fenv_advance(TIME_MS[arg]); iter(); break;
    case OP_DNS_OK: fdns_answer(W.dns, arg >> 1, 1, arg & 1); break;
    case OP_DNS_FAIL: fdns_answer(W.dns, arg, 0, 0); break;
    case OP_TGT_DATA:
        if ((nt = targets(t, FNET_MAX)) > 0) {
            fnet_sock_t *x = t[(arg >> 2) % nt];
            if (x->kind == FNET_TCP) send(x->peer, BIG, DATA_SIZE[arg & 3], MSG_DONTWAIT | MSG_NOSIGNAL);
        }
        break;
    case OP_TGT_CLOSE:
        if ((nt = targets(t, FNET_MAX)) > 0) fnet_close_peer(t[arg % nt]);
        break;
    case OP_TGT_READ:
        nt = targets(t, FNET_MAX);
        for (int i = 0; i < nt; i++) drain_peer(t[i]);
        break;
    case OP_OUT_DRAIN: if (S) out_drain(); break;
    case OP_EPOLLIN: if (S) S->c.io.cb(L, &S->c.io, EPOLLIN); break;
    case OP_DIAL:
        fnet_dial_mode = arg & 3;
        fnet_dial_errno = DIAL_ERRNO[arg >> 2];
        break;
    case OP_UDP_REPLY:
        for (int i = fnet_count() - 1; i >= 0; i--) {
            fnet_sock_t *x = fnet_at(i);
            if (x->kind != FNET_UDP || x->peer < 0) continue;
            x->from_len = fnet_addr(&x->from, UDP_FROM[arg & 3]);
            send(x->peer, BIG, arg & 4 ? 1400 : 5, MSG_DONTWAIT | MSG_NOSIGNAL);
            break;
        }
        break;
    case OP_CLIENT_CLOSE: if (S) fnet_close_peer(fnet_at(s_slot)); break;
    case OP_DRAIN:
        if (!wk.draining) {
            wk.draining = 1;    /* as server.c's on_drain */
            outbound_worker_stop(&W);
            sess_drain_all(&W);
        }
        break;
    }
    track();
    check_state();
    if (TRACE) trace(b);
}

static void teardown(void)
{
    sess_close_all(&W, "input over");   /* as server.c's on_force_close */
    track();
    FUZZ_CHECK(S == NULL);
    outbound_worker_stop(&W);
    iter();
    check_state();
    FUZZ_CHECK(W.sessions == NULL && W.refills == NULL);
    FUZZ_CHECK(fdns_requests(W.dns) == 0);
    FUZZ_CHECK(fdns_charges(W.dns, s_owner) == 0);
    dns_free(W.dns);
    FUZZ_CHECK(atomic_load(&W.pool->refs) == 1);
    outbound_pool_put(W.pool);   /* closes its spares */
    gate_free(W.gate);
    W.gate = NULL;
    /* the users table kept for the next input, as it was: its references, no
     * session counted for the user */
    FUZZ_CHECK(atomic_load(&USRV.users->refs) == 2);
    for (int i = 0; i < USERS_MAX; i++) {
        FUZZ_CHECK(atomic_load(&srv.user_sessions[i]) == 0);
        FUZZ_CHECK(atomic_load(&W.ust[i].sessions_open) == 0);
    }
    fnet_close_peers();
    FUZZ_CHECK(fnet_open_code_ends() == 0);
    fenv_advance(86400000);
    iter();
    frame_dec_free(&out_dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!L) init_once();
    if (size < 2) return 0;
    size_t m = data[1];
    if (size < 2 + m) m = size - 2;
    setup(data[0]);
    in = data + 2 + m;
    in_len = size - 2 - m;
    in_pos = 0;
    for (size_t i = 0; i < m; i++) run_op(data[2 + i]);
    feed(SIZE_MAX);
    iter();
    track();
    check_state();
    teardown();
    return 0;
}
