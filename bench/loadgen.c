/* loadgen.c -- open-loop (and closed-loop) stream load generator.
 *
 * Each stream: TCP connect (to the SOCKS5 proxy, or straight to the target with
 * --direct), SOCKS5 no-auth greeting + CONNECT to the target in IP form, one
 * request line "<response-size>\n" (bench/target answers a line that starts
 * with digits with that many bytes), read --response-size bytes, close.
 *
 * Open loop (--rate R): arrivals are Poisson; stream k is due at an absolute
 * intended time t_k = t_{k-1} + Exp(R). Every latency is measured from t_k, not
 * from when the stream actually started, so a slow proxy (or a lagging load
 * generator) shows up as latency and never as a lower offered rate (no
 * coordinated omission). If more than --concurrency-cap streams are in flight
 * when one is due, that arrival is dropped and counted (error kind "drop").
 *
 * Closed loop (--closed-loop N): N workers, each starts its next stream as soon
 * as the previous one ends; latency is measured from that start.
 *
 * Destinations: K targets (--targets FILE of "ip:port" lines, or --target-range
 * A-B:PORT), target i (1-based, in file order) drawn with probability
 * proportional to 1/i^s (--zipf s; 0 = uniform).
 *
 * Recorded per ok stream (bench/hist.h, ns, reported in us):
 *   connect = intended -> TCP connected        socks = intended -> CONNECT reply
 *   open    = intended -> first response byte  total = intended -> last byte
 *   lag     = intended -> actual socket() call (load generator health)
 * Errors by kind: connect, socks, timeout, short (EOF before all bytes), io, drop.
 *
 * One epoll thread per process. Capacity here (2 cores, idle, against
 * bench/target): ~50 us of CPU per stream, nearly all of it the kernel's
 * loopback TCP work for BOTH ends (softirq runs in the sender's context), so one
 * process saturates near 20k streams/s; --procs 2 sustained 25k/s open loop
 * (open p50 1.9 ms). The JSON's lag_us (intended -> actual start) and
 * loadgen_cpu_util say when the generator itself is the limit; a warning is
 * printed when start lag p99 exceeds 1 ms.
 *
 * Output: one CSV line on stdout (--csv-header prints the header first) or one
 * JSON object (--json); progress once a second on stderr.
 *
 * Build alone: cc -std=gnu11 -O2 -D_GNU_SOURCE -Icore bench/loadgen.c core/frame.c
 *              core/padding.c core/padwriter.c -o build/bench/loadgen -lssl -lcrypto -lm
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#define BENCH_PROG "loadgen"
#include "bench_util.h"
#include "frame.h"
#include "hist.h"
#include "padding.h"
#include "padwriter.h"

/* ------------------------------------------------------------------ options */

/* How a stream reaches its target. SOCKS5 and direct: one TCP connection per
 * stream, the handshake a byte-level state machine (proto_begin / proto_feed).
 * AnyTLS direct (--anytls): streams ride TLS sessions to the server, which are
 * reused as the reference client does (section "AnyTLS direct" below). */
enum proto { PROTO_SOCKS5 = 0, PROTO_DIRECT = 1, PROTO_ANYTLS = 2 };

typedef struct target {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[64];
} target_t;

static struct {
    double rate;             /* open loop arrivals/s */
    int closed;              /* closed-loop workers (0 = open loop) */
    double duration;         /* measured window, s */
    double warmup;           /* run but do not record, s (before the window) */
    uint64_t max_streams;    /* 0 = unbounded (counts arrivals, drops included) */
    int cap;                 /* max in-flight streams */
    double timeout;          /* per stream, s */
    double drain;            /* after the window, wait this long for stragglers */
    double zipf;
    uint64_t seed;
    enum proto proto;
    target_t proxy;
    target_t *targets;
    int ntargets;
    uint64_t resp_size;
    int req_size;            /* total request bytes incl. "\n" (min: digits + 1) */
    int socks_pipeline;      /* greeting + CONNECT + request in one write */
    int rst_close;           /* SO_LINGER 0: close with RST, no TIME_WAIT */
    int csv_header, json, quiet;
    int procs;               /* worker processes (each a share of the load) */
    const char *label;
} O = {
    .rate = 1000, .duration = 10, .cap = 10000, .timeout = 10, .drain = -1,
    .zipf = 1.0, .seed = 1, .resp_size = 64, .procs = 1,
};

/* ------------------------------------------------------------------ utils */

/* xoshiro256** seeded by splitmix64 */
static uint64_t rng_s[4];
static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static inline uint64_t rng_next(void)
{
    uint64_t r = rotl(rng_s[1] * 5, 7) * 9, t = rng_s[1] << 17;
    rng_s[2] ^= rng_s[0]; rng_s[3] ^= rng_s[1]; rng_s[1] ^= rng_s[2]; rng_s[0] ^= rng_s[3];
    rng_s[2] ^= t; rng_s[3] = rotl(rng_s[3], 45);
    return r;
}
static inline double rng_u01(void) { return (double)(rng_next() >> 11) * 0x1.0p-53; } /* [0,1) */

static int parse_hostport(const char *arg, target_t *t)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", arg);
    char *colon = strrchr(buf, ':');
    if (!colon) return -1;
    *colon = 0;
    char *e;
    long port = strtol(colon + 1, &e, 10);
    if (*e || port <= 0 || port > 65535) return -1;
    char *host = buf;
    if (*host == '[') {
        host++;
        char *rb = strchr(host, ']');
        if (!rb) return -1;
        *rb = 0;
    }
    memset(t, 0, sizeof *t);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&t->ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&t->ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        t->len = sizeof *s4;
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        t->len = sizeof *s6;
    } else {
        return -1;
    }
    snprintf(t->text, sizeof t->text, "%s", arg);
    if (!bench_addr_allowed(&t->ss))
        bench_die("refusing %s: only 127/8, ::1 and 198.18.0.0/15 are allowed", arg);
    return 0;
}

static void add_target(const target_t *t)
{
    static int capn;
    if (O.ntargets == capn) {
        capn = capn ? capn * 2 : 64;
        O.targets = realloc(O.targets, (size_t)capn * sizeof *O.targets);
        if (!O.targets) bench_die("out of memory");
    }
    O.targets[O.ntargets++] = *t;
}

/* "A-B:PORT" or "A:PORT" (IPv4, inclusive range) */
static void add_target_range(const char *arg)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", arg);
    char *colon = strrchr(buf, ':');
    if (!colon) bench_die("--target-range wants A-B:PORT, got '%s'", arg);
    *colon = 0;
    const char *port = colon + 1;
    char *dash = strchr(buf, '-');
    if (dash) *dash = 0;
    struct in_addr a, b;
    if (inet_pton(AF_INET, buf, &a) != 1) bench_die("bad address in '%s'", arg);
    b = a;
    if (dash && inet_pton(AF_INET, dash + 1, &b) != 1) bench_die("bad address in '%s'", arg);
    uint32_t lo = ntohl(a.s_addr), hi = ntohl(b.s_addr);
    if (hi < lo || hi - lo > 65535) bench_die("bad range '%s'", arg);
    for (uint32_t x = lo; x <= hi; x++) {
        char s[64];
        struct in_addr ia = {htonl(x)};
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &ia, ip, sizeof ip);
        snprintf(s, sizeof s, "%s:%s", ip, port);
        target_t t;
        if (parse_hostport(s, &t) < 0) bench_die("bad target '%s'", s);
        add_target(&t);
    }
}

static void load_targets(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) bench_die("%s: %s", path, strerror(errno));
    char line[256];
    int ln = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        char *end = p + strcspn(p, " \t\r\n#");
        if (end == p) continue;
        *end = 0;
        target_t t;
        if (parse_hostport(p, &t) < 0) bench_die("%s:%d: bad target '%s' (want ip:port)", path, ln, p);
        add_target(&t);
    }
    fclose(f);
}

/* ------------------------------------------------------------------ zipf */

static double *zipf_cdf;
static void zipf_init(void)
{
    zipf_cdf = malloc((size_t)O.ntargets * sizeof *zipf_cdf);
    if (!zipf_cdf) bench_die("out of memory");
    double s = 0;
    for (int i = 0; i < O.ntargets; i++) {
        s += 1.0 / pow((double)(i + 1), O.zipf);
        zipf_cdf[i] = s;
    }
    for (int i = 0; i < O.ntargets; i++) zipf_cdf[i] /= s;
    zipf_cdf[O.ntargets - 1] = 1.0;
}
static int zipf_draw(void)
{
    double u = rng_u01();
    int lo = 0, hi = O.ntargets - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (zipf_cdf[mid] > u) hi = mid; else lo = mid + 1;
    }
    return lo;
}

/* ------------------------------------------------------------------ streams */

enum st { ST_FREE = 0, ST_CONNECTING, ST_HANDSHAKE, ST_RESPONSE };
enum ek { E_CONNECT, E_SOCKS, E_TIMEOUT, E_SHORT, E_IO, E_DROP, E_NKINDS };
static const char *ek_name[E_NKINDS] = {"connect", "socks", "timeout", "short", "io", "drop"};

/* handshake sub-steps (bytes expected from the peer, in order) */
enum hs { HS_METHOD = 0, HS_REPLY_HEAD, HS_REPLY_ADDR, HS_DONE };

typedef struct stream {
    int fd;
    uint32_t gen;
    uint8_t st, hs, measured, unread; /* unread: data may be waiting (edge seen, not drained) */
    int tgt;
    int32_t prev, next;        /* in-flight list (by start time), or free list via next */
    int32_t sess;              /* AnyTLS mode: the session carrying it, or -1 */
    uint32_t sid;
    uint64_t t_int, t_start, t_conn, t_socks, t_first;
    uint64_t resp_got;
    uint16_t out_len, out_off; /* pending bytes to write */
    uint16_t in_need, in_got;  /* handshake bytes being gathered */
    uint8_t out[320];
    uint8_t in[272];
} stream_t;

static stream_t *S;
static int32_t free_head = -1, live_head = -1, live_tail = -1;
static int live;
static int ep;

/* results */
static hist_t *H_conn, *H_socks, *H_open, *H_total, *H_lag, *H_iv_open;
static uint64_t n_arrivals, n_ok, n_ok_meas, n_err[E_NKINDS], n_err_meas[E_NKINDS];
static uint64_t iv_ok, iv_err, socks_rep_bad;
static uint64_t t_begin, t_meas, t_end_arrivals, t_last_done;
static volatile sig_atomic_t g_interrupted;
static char g_scratch[1 << 16];

/* CPU time of this process (user + system), ns: shows whether the load
 * generator itself is near saturation (on loopback most of a stream's kernel
 * TCP work, both ends, runs in the sending process's context). */
static uint64_t cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}
static uint64_t cpu_begin;

static void live_unlink(int32_t i)
{
    stream_t *s = &S[i];
    if (s->prev >= 0) S[s->prev].next = s->next; else live_head = s->next;
    if (s->next >= 0) S[s->next].prev = s->prev; else live_tail = s->prev;
}

static void live_append(int32_t i)
{
    stream_t *s = &S[i];
    s->prev = live_tail;
    s->next = -1;
    if (live_tail >= 0) S[live_tail].next = i; else live_head = i;
    live_tail = i;
}

static void at_stream_detach(int32_t i);

static void stream_free(int32_t i)
{
    stream_t *s = &S[i];
    live_unlink(i);
    if (s->sess >= 0)
        at_stream_detach(i);
    if (s->fd >= 0) {
        if (O.rst_close) {
            struct linger lg = {1, 0};
            setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        close(s->fd);
    }
    s->fd = -1;
    s->st = ST_FREE;
    s->gen++;
    s->next = free_head;
    free_head = i;
    live--;
}

static void count_err(int kind, int measured)
{
    n_err[kind]++;
    if (measured) n_err_meas[kind]++;
    iv_err++;
}

static void stream_fail(int32_t i, int kind)
{
    count_err(kind, S[i].measured);
    t_last_done = bench_now_ns();
    stream_free(i);
}

static void stream_ok(int32_t i, uint64_t t)
{
    stream_t *s = &S[i];
    n_ok++;
    iv_ok++;
    if (s->measured) {
        n_ok_meas++;
        hist_record(H_conn, s->t_conn - s->t_int);
        if (s->t_socks) hist_record(H_socks, s->t_socks - s->t_int);
        hist_record(H_open, s->t_first - s->t_int);
        hist_record(H_total, t - s->t_int);
        hist_record(H_lag, s->t_start - s->t_int);
    }
    hist_record(H_iv_open, s->t_first - s->t_int);
    t_last_done = t;
    stream_free(i);
}

/* ---- transport (plain TCP; the AnyTLS mode would swap these for TLS) ---- */
static inline ssize_t xport_write(stream_t *s, const void *b, size_t n)
{
    return send(s->fd, b, n, MSG_NOSIGNAL);
}
static inline ssize_t xport_read(stream_t *s, void *b, size_t n)
{
    return recv(s->fd, b, n, 0);
}

static size_t put_request(uint8_t *p)
{
    int k = sprintf((char *)p, "%" PRIu64, O.resp_size);
    while (k < O.req_size - 1) p[k++] = ' ';
    p[k++] = '\n';
    return (size_t)k;
}

static size_t put_socks_connect(uint8_t *p, const target_t *t)
{
    size_t k = 0;
    p[k++] = 5; p[k++] = 1; p[k++] = 0;
    if (t->ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&t->ss;
        p[k++] = 1;
        memcpy(p + k, &a->sin_addr, 4); k += 4;
        memcpy(p + k, &a->sin_port, 2); k += 2;
    } else {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&t->ss;
        p[k++] = 4;
        memcpy(p + k, &a->sin6_addr, 16); k += 16;
        memcpy(p + k, &a->sin6_port, 2); k += 2;
    }
    return k;
}

/* Called once the TCP connection is up: queue the first bytes. */
static void proto_begin(stream_t *s)
{
    size_t k = 0;
    switch (O.proto) {
    case PROTO_DIRECT:
        k = put_request(s->out);
        s->hs = HS_DONE;
        s->st = ST_RESPONSE;
        break;
    case PROTO_SOCKS5:
        s->out[k++] = 5; s->out[k++] = 1; s->out[k++] = 0;   /* no-auth only */
        if (O.socks_pipeline) {
            k += put_socks_connect(s->out + k, &O.targets[s->tgt]);
            k += put_request(s->out + k);
        }
        s->hs = HS_METHOD;
        s->in_need = 2;
        s->in_got = 0;
        s->st = ST_HANDSHAKE;
        break;
    case PROTO_ANYTLS:
        break; /* streams go through at_stream_start, never here */
    }
    s->out_len = (uint16_t)k;
    s->out_off = 0;
}

/* Feeds handshake bytes. Returns bytes consumed (the rest is response data),
 * or -1 on a protocol error. Queues follow-up bytes in s->out. */
static ssize_t proto_feed(stream_t *s, const uint8_t *p, size_t n, uint64_t t)
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
            if (!O.socks_pipeline) {
                s->out_len = (uint16_t)put_socks_connect(s->out, &O.targets[s->tgt]);
                s->out_off = 0;
            }
            s->hs = HS_REPLY_HEAD;
            s->in_need = 5;   /* VER REP RSV ATYP + first addr byte */
            s->in_got = 0;
            break;
        case HS_REPLY_HEAD: {
            if (s->in[0] != 5) return -1;
            if (s->in[1] != 0) { socks_rep_bad++; return -1; }
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
            if (!O.socks_pipeline) {
                s->out_len = (uint16_t)put_request(s->out);
                s->out_off = 0;
            }
            break;
        }
    }
    return (ssize_t)used;
}

/* Makes all the progress possible on stream i after an event. */
static void stream_run(int32_t i, uint32_t ev, uint64_t t)
{
    stream_t *s = &S[i];
    if (s->st == ST_CONNECTING) {
        if (ev & EPOLLERR) { stream_fail(i, E_CONNECT); return; }
        if (!(ev & EPOLLOUT)) {
            if (ev & EPOLLHUP) stream_fail(i, E_CONNECT);
            return;
        }
        s->t_conn = t;
        proto_begin(s);
    }
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
        s->unread = 1;
    for (;;) {
        /* write whatever is queued */
        while (s->out_off < s->out_len) {
            ssize_t k = xport_write(s, s->out + s->out_off, s->out_len - s->out_off);
            if (k < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN) break;
                stream_fail(i, s->st == ST_HANDSHAKE ? E_SOCKS : E_IO);
                return;
            }
            s->out_off = (uint16_t)(s->out_off + k);
        }
        if (s->st == ST_RESPONSE && O.resp_size == 0 && s->out_off >= s->out_len) {
            s->t_first = t;   /* nothing to wait for: done once the request is out */
            stream_ok(i, t);
            return;
        }
        /* Edge-triggered: read until the socket is drained. A read shorter than
         * the buffer drained it; any later arrival raises a new edge, so there is
         * no read (and no wasted EAGAIN syscall) until the next event. */
        if (!s->unread)
            return;
        ssize_t k = xport_read(s, g_scratch, sizeof g_scratch);
        if (k < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) { s->unread = 0; return; }
            stream_fail(i, s->st == ST_HANDSHAKE ? E_SOCKS : E_IO);
            return;
        }
        if (k == 0) {
            stream_fail(i, s->st == ST_HANDSHAKE ? E_SOCKS : E_SHORT);
            return;
        }
        if ((size_t)k < sizeof g_scratch)
            s->unread = 0;
        size_t off = 0;
        if (s->st == ST_HANDSHAKE) {
            ssize_t u = proto_feed(s, (const uint8_t *)g_scratch, (size_t)k, t);
            if (u < 0) { stream_fail(i, E_SOCKS); return; }
            off = (size_t)u;
        }
        if (s->st == ST_RESPONSE && off < (size_t)k) {
            if (!s->resp_got) s->t_first = t;
            s->resp_got += (size_t)k - off;
            if (s->resp_got >= O.resp_size) {
                stream_ok(i, t);
                return;
            }
        }
    }
}

/* ------------------------------------------------------------------ AnyTLS direct
 *
 * --anytls: speak AnyTLS to the server ourselves (no anytls-client in the path),
 * to measure the server and its outbound pool alone. Like the reference client:
 * a stream takes the newest idle session or opens a new one (TCP + TLS + the
 * auth block in one record); its first write carries [Settings +] SYN + PSH
 * (destination, SOCKS5 address form), padded by the scheme (core/padding.h);
 * the request goes in a second PSH without waiting for SYNACK; the response is
 * the PSH bodies for its sid; FIN ends the stream and the session goes back to
 * the idle stack. --anytls-new-session: one session per stream (closed after).
 * Timings: connect = TCP connected (a reused session: the stream's start);
 * socks = SYN sent on a ready session. Error kind "socks" here means TLS, Alert,
 * SYNACK with an error, or the session dying under the stream. A stream that
 * times out takes its session down with it (its state is unknown).
 *
 * --anytls-sessions N: N sessions carry all streams at once (multiplexed, as
 * the protocol allows and a hostile or busy client may do): a stream goes on
 * the session with the fewest streams, waiting there while it connects; a
 * session lost takes its streams with it and is reopened by the next stream.
 * A stream that times out sends FIN and leaves its session up. --hold-idle S:
 * afterwards, keep the sessions open and idle for S s (to measure them). */

enum ss_state { SS_FREE = 0, SS_TCP, SS_TLS, SS_RUN };

typedef struct srec { struct srec *next; uint32_t len; uint8_t data[]; } srec_t;

#define MUX_SLOTS 1024           /* streams per multiplexed session, at most - 1 */
#define E_AUTO (-1)              /* at_kill: "short" if the stream had data, else "socks" */

typedef struct sess {
    int fd;
    uint32_t gen;
    uint8_t state, idle, padding_done, settings_sent;
    SSL *ssl;
    frame_dec_t dec;
    uint32_t pkt, next_sid;
    int32_t cur;                 /* stream using it, or -1 */
    int32_t *slot;               /* --anytls-sessions: stream by sid & (MUX_SLOTS-1), or -1 */
    uint32_t nstreams;           /* --anytls-sessions: streams on it */
    int32_t inext, iprev;        /* idle stack (newest first) / free list */
    srec_t *oq, *oq_tail;        /* TLS records waiting for the socket */
    uint64_t t_tcp;
} sess_t;

#define SESS_TAG (1ull << 63)

static struct {
    target_t server;
    uint8_t pass_hash[32];
    int new_session;
    int nmux;                    /* --anytls-sessions (this process's share); 0: one stream each */
    double hold_idle;            /* --hold-idle seconds */
    SSL_CTX *ctx;
    SSL_SESSION *resume;         /* latest ticket: new sessions resume */
    padding_scheme_t *scheme;
    sess_t *ss;
    int32_t free_head, idle_head;
    uint64_t opened, reused, alerts, synack_err;
} AT = {.free_head = -1, .idle_head = -1};

static int at_new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    (void)ssl;
    if (AT.resume) SSL_SESSION_free(AT.resume);
    AT.resume = sess;
    return 1;   /* we keep the reference */
}

static void at_init(const char *pass)
{
    unsigned int hl = 0;
    if (!EVP_Digest(pass, strlen(pass), AT.pass_hash, &hl, EVP_sha256(), NULL) || hl != 32)
        bench_die("sha256 failed");
    AT.ctx = SSL_CTX_new(TLS_client_method());
    if (!AT.ctx) bench_die("SSL_CTX_new failed");
    SSL_CTX_set_min_proto_version(AT.ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(AT.ctx, SSL_VERIFY_NONE, NULL);     /* as the reference client */
    SSL_CTX_set_mode(AT.ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(AT.ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(AT.ctx, at_new_session_cb);
    AT.scheme = padding_default();
    if (!AT.scheme) bench_die("padding_default failed");
    int nss = AT.nmux ? AT.nmux : O.cap;
    AT.ss = calloc((size_t)nss, sizeof *AT.ss);
    if (!AT.ss) bench_die("out of memory");
    for (int32_t i = nss - 1; i >= 0; i--) {
        AT.ss[i].fd = -1;
        AT.ss[i].cur = -1;
        if (AT.nmux) {
            AT.ss[i].slot = malloc(MUX_SLOTS * sizeof(int32_t));
            if (!AT.ss[i].slot) bench_die("out of memory");
            for (int j = 0; j < MUX_SLOTS; j++) AT.ss[i].slot[j] = -1;
        }
        AT.ss[i].inext = AT.free_head;
        AT.free_head = i;
    }
}

static void at_idle_remove(int32_t k)
{
    sess_t *x = &AT.ss[k];
    if (!x->idle) return;
    if (x->iprev >= 0) AT.ss[x->iprev].inext = x->inext; else AT.idle_head = x->inext;
    if (x->inext >= 0) AT.ss[x->inext].iprev = x->iprev;
    x->idle = 0;
}

static void at_idle_push(int32_t k)
{
    sess_t *x = &AT.ss[k];
    x->idle = 1;
    x->iprev = -1;
    x->inext = AT.idle_head;
    if (AT.idle_head >= 0) AT.ss[AT.idle_head].iprev = k;
    AT.idle_head = k;
}

/* Puts stream i on session k under a fresh sid (one whose slot is free). */
static void at_bind(int32_t k, int32_t i)
{
    sess_t *x = &AT.ss[k];
    stream_t *s = &S[i];
    s->sess = k;
    if (!AT.nmux) {
        x->cur = i;
        s->sid = ++x->next_sid;
        return;
    }
    do s->sid = ++x->next_sid; while (!s->sid || x->slot[s->sid & (MUX_SLOTS - 1)] >= 0);
    x->slot[s->sid & (MUX_SLOTS - 1)] = i;
    x->nstreams++;
}

/* Takes stream i off its session k; sends nothing. */
static void at_unbind(int32_t k, int32_t i)
{
    sess_t *x = &AT.ss[k];
    if (AT.nmux) {
        x->slot[S[i].sid & (MUX_SLOTS - 1)] = -1;
        x->nstreams--;
    } else {
        x->cur = -1;
    }
    S[i].sess = -1;
}

/* The live stream with this sid on session k, or -1. */
static int32_t at_stream_of(int32_t k, uint32_t sid)
{
    sess_t *x = &AT.ss[k];
    int32_t i = AT.nmux ? x->slot[sid & (MUX_SLOTS - 1)] : x->cur;
    return i >= 0 && S[i].st != ST_FREE && S[i].sess == k && S[i].sid == sid ? i : -1;
}

static int kind_for(int32_t i, int kind)
{
    return kind != E_AUTO ? kind : S[i].resp_got ? E_SHORT : E_SOCKS;
}

/* Frees the session; streams still on it fail with `kind` (or E_AUTO). */
static void at_kill(int32_t k, int kind)
{
    sess_t *x = &AT.ss[k];
    if (x->state == SS_FREE) return;
    at_idle_remove(k);
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
    while (x->oq) { srec_t *r = x->oq; x->oq = r->next; free(r); }
    x->oq_tail = NULL;
    x->gen++;
    x->inext = AT.free_head;
    AT.free_head = k;
    /* the session is already gone: stream_free must not come back here */
    if (AT.nmux) {
        for (int j = 0; j < MUX_SLOTS && x->nstreams; j++) {
            int32_t i = x->slot[j];
            if (i < 0) continue;
            at_unbind(k, i);
            stream_fail(i, kind_for(i, kind));
        }
    } else if (cur >= 0 && S[cur].st != ST_FREE && S[cur].sess == k) {
        S[cur].sess = -1;
        stream_fail(cur, kind_for(cur, kind));
    }
}

static int at_ctl(int32_t k, uint8_t cmd, uint32_t sid);
static int at_flush(int32_t k);

/* stream_free hook: a stream leaving while still on its session (error,
 * timeout) takes the session down, or with --anytls-sessions sends its FIN;
 * the ok path detaches first. */
static void at_stream_detach(int32_t i)
{
    int32_t k = S[i].sess;
    if (k < 0) return;
    if (AT.nmux) {
        uint32_t sid = S[i].sid;
        int sent = S[i].st == ST_RESPONSE;
        at_unbind(k, i);
        if (sent && AT.ss[k].state == SS_RUN && (at_ctl(k, CMD_FIN, sid) < 0 || at_flush(k) < 0))
            at_kill(k, E_IO);
        return;
    }
    S[i].sess = -1;
    if (AT.ss[k].cur == i) {
        AT.ss[k].cur = -1;
        at_kill(k, E_SOCKS);
    }
}

/* Writes one TLS record (or queues it behind earlier ones). -1: session dead. */
static int at_record(int32_t k, const uint8_t *p, size_t n)
{
    sess_t *x = &AT.ss[k];
    if (!x->oq) {
        ERR_clear_error();
        int r = SSL_write(x->ssl, p, (int)n);
        if (r > 0) return 0;
        int e = SSL_get_error(x->ssl, r);
        if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) return -1;
    }
    srec_t *q = malloc(sizeof *q + n);
    if (!q) return -1;
    q->next = NULL;
    q->len = (uint32_t)n;
    memcpy(q->data, p, n);
    if (x->oq_tail) x->oq_tail->next = q; else x->oq = q;
    x->oq_tail = q;
    return 0;
}

static int at_flush(int32_t k)
{
    sess_t *x = &AT.ss[k];
    while (x->oq) {
        ERR_clear_error();
        int r = SSL_write(x->ssl, x->oq->data, (int)x->oq->len);
        if (r <= 0) {
            int e = SSL_get_error(x->ssl, r);
            return (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) ? 0 : -1;
        }
        srec_t *q = x->oq;
        x->oq = q->next;
        if (!x->oq) x->oq_tail = NULL;
        free(q);
    }
    return 0;
}

/* padwriter's output: every piece goes out as its own TLS record. */
static int at_padw_out(void *arg, const uint8_t *p, size_t n, int record)
{
    (void)record;
    return at_record((int32_t)(intptr_t)arg, p, n);
}

/* One logical client write: padded into records while the packet count is
 * below the scheme's stop (core/padwriter.c, as anytls-client). */
static int at_write(int32_t k, const uint8_t *p, size_t n)
{
    sess_t *x = &AT.ss[k];
    if (x->padding_done) return at_record(k, p, n);
    if (++x->pkt >= AT.scheme->stop) x->padding_done = 1;
    return padw_write(AT.scheme, x->pkt, p, n, at_padw_out, (void *)(intptr_t)k, NULL, NULL) < 0 ? -1 : 0;
}

static int at_ctl(int32_t k, uint8_t cmd, uint32_t sid)
{
    uint8_t b[FRAME_HDR];
    frame_put_hdr(b, cmd, sid, 0);
    return at_write(k, b, FRAME_HDR);
}

static void at_stream_done(int32_t k, int32_t i, uint64_t t);

/* Sends bound stream i on ready session k: [Settings] SYN PSH(dst) in one
 * write, then the request in a second PSH. A zero-byte response is done at
 * once. -1: the session is dead. */
static int at_send_open(int32_t k, int32_t i)
{
    sess_t *x = &AT.ss[k];
    stream_t *s = &S[i];
    uint8_t b[512];
    size_t n = 0;
    if (!x->settings_sent) {
        x->settings_sent = 1;
        n = padw_put_settings(b, AT.scheme);
    }
    frame_put_hdr(b + n, CMD_SYN, s->sid, 0);
    n += FRAME_HDR;
    uint8_t a[32];
    size_t al = put_socks_connect(a, &O.targets[s->tgt]) - 3;   /* drop VER CMD RSV */
    frame_put_hdr(b + n, CMD_PSH, s->sid, (uint16_t)al);
    memcpy(b + n + FRAME_HDR, a + 3, al);
    n += FRAME_HDR + al;
    if (at_write(k, b, n) < 0) return -1;
    size_t rl = put_request(b + FRAME_HDR);
    frame_put_hdr(b, CMD_PSH, s->sid, (uint16_t)rl);
    if (at_write(k, b, FRAME_HDR + rl) < 0) return -1;
    s->t_socks = bench_now_ns();   /* the TLS work before this took time */
    s->st = ST_RESPONSE;
    if (!O.resp_size) { s->t_first = s->t_socks; at_stream_done(k, i, s->t_first); }
    return 0;
}

static void at_stream_done(int32_t k, int32_t i, uint64_t t)
{
    uint32_t sid = S[i].sid;
    at_unbind(k, i);
    stream_ok(i, t);
    if (AT.new_session) { at_kill(k, E_IO); return; }
    if (at_ctl(k, CMD_FIN, sid) < 0) { at_kill(k, E_IO); return; }
    if (!AT.nmux) at_idle_push(k);
}

/* Frame callback: returns non-zero when the session must go. */
static int at_on_frame(void *arg, const frame_hdr_t *h, const uint8_t *data, size_t n,
                       int first, int last)
{
    (void)first;
    int32_t k = (int32_t)(intptr_t)arg;
    int32_t i = at_stream_of(k, h->sid);
    switch (h->cmd) {
    case CMD_PSH:
        if (i >= 0 && n) {
            stream_t *s = &S[i];
            uint64_t t = bench_now_ns();
            if (!s->resp_got) s->t_first = t;
            s->resp_got += n;
            if (s->resp_got >= O.resp_size && last) at_stream_done(k, i, t);
        }
        return 0;
    case CMD_SYNACK:
        if (i >= 0 && h->len) {
            AT.synack_err++;
            at_unbind(k, i);
            stream_fail(i, E_SOCKS);
            if (AT.new_session) return 1;
            if (!AT.nmux) at_idle_push(k);
        }
        return 0;
    case CMD_FIN:
        if (i >= 0) {
            at_unbind(k, i);
            stream_fail(i, E_SHORT);
            if (AT.new_session) return 1;
            if (!AT.nmux) at_idle_push(k);
        }
        return 0;
    case CMD_HEART_REQ: {
        uint8_t b[FRAME_HDR];
        frame_put_hdr(b, CMD_HEART_RESP, h->sid, 0);
        return at_write(k, b, FRAME_HDR) < 0;
    }
    case CMD_ALERT:
        AT.alerts++;
        if (AT.alerts <= 3)
            fprintf(stderr, "loadgen: server Alert: %.*s\n", (int)n, (const char *)data);
        return 1;
    case CMD_UPDATE_PADDING: {
        padding_scheme_t *ns = padding_parse((const char *)data, n);
        if (ns) { padding_free(AT.scheme); AT.scheme = ns; }
        return 0;
    }
    default:
        return 0;   /* ServerSettings, HeartResponse, unknown: nothing to do */
    }
}

static void at_event(int32_t k, uint32_t ev, uint64_t t)
{
    sess_t *x = &AT.ss[k];
    if (x->state == SS_TCP) {
        if (ev & EPOLLERR) { at_kill(k, E_CONNECT); return; }
        if (!(ev & EPOLLOUT)) { if (ev & EPOLLHUP) at_kill(k, E_CONNECT); return; }
        x->t_tcp = t;
        if (x->cur >= 0) S[x->cur].t_conn = t;
        x->ssl = SSL_new(AT.ctx);
        if (!x->ssl || !SSL_set_fd(x->ssl, x->fd)) { at_kill(k, E_SOCKS); return; }
        if (AT.resume) SSL_set_session(x->ssl, AT.resume);
        SSL_set_connect_state(x->ssl);
        x->state = SS_TLS;
    }
    if (x->state == SS_TLS) {
        ERR_clear_error();
        int r = SSL_do_handshake(x->ssl);
        if (r != 1) {
            int e = SSL_get_error(x->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
            at_kill(k, E_SOCKS);
            return;
        }
        x->state = SS_RUN;
        frame_dec_init(&x->dec);
        /* the auth block, alone in one record */
        uint8_t auth[34 + 1024];
        int pad = padding_auth_len(AT.scheme, NULL, NULL);
        if (pad < 0) pad = 0;
        if (pad > 1024) pad = 1024;
        memcpy(auth, AT.pass_hash, 32);
        auth[32] = (uint8_t)(pad >> 8);
        auth[33] = (uint8_t)pad;
        memset(auth + 34, 0, (size_t)pad);
        if (at_record(k, auth, 34 + (size_t)pad) < 0) { at_kill(k, E_SOCKS); return; }
        if (AT.nmux) {
            /* the streams that waited for it, in sid order (slot order but for wrap) */
            for (int j = 0; j < MUX_SLOTS && x->nstreams; j++) {
                int32_t i = x->slot[j];
                if (i < 0 || S[i].st != ST_CONNECTING) continue;
                S[i].t_conn = x->t_tcp > S[i].t_start ? x->t_tcp : S[i].t_start;
                if (at_send_open(k, i) < 0) { at_kill(k, E_SOCKS); return; }
                if (x->state == SS_FREE) return;
            }
        } else if (x->cur >= 0) {
            if (at_send_open(k, x->cur) < 0) { at_kill(k, E_SOCKS); return; }
            if (x->state == SS_FREE) return;
        } else {
            at_idle_push(k);
        }
    }
    if (at_flush(k) < 0) { at_kill(k, E_IO); return; }
    for (;;) {
        ERR_clear_error();
        int r = SSL_read(x->ssl, g_scratch, sizeof g_scratch);
        if (r <= 0) {
            int e = SSL_get_error(x->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
            at_kill(k, E_AUTO);
            return;
        }
        int stop = frame_dec_feed(&x->dec, (const uint8_t *)g_scratch, (size_t)r, at_on_frame,
                                  (void *)(intptr_t)k);
        if (x->state == SS_FREE) return;
        if (stop) { at_kill(k, E_SOCKS); return; }
    }
    if (at_flush(k) < 0) at_kill(k, E_IO);
}

/* Opens session k (free): a non-blocking connect, TLS follows in at_event.
 * -1: failed at once (the session is freed again). */
static int at_sess_open(int32_t k)
{
    sess_t *x = &AT.ss[k];
    uint32_t gen = x->gen;
    int32_t *slot = x->slot;
    memset(x, 0, sizeof *x);
    x->gen = gen;
    x->slot = slot;
    x->cur = -1;
    x->iprev = x->inext = -1;
    x->state = SS_TCP;
    AT.opened++;
    const target_t *dst = &AT.server;
    x->fd = socket(dst->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (x->fd < 0) { at_kill(k, E_CONNECT); return -1; }
    int one = 1;
    setsockopt(x->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event e = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP,
                            .data.u64 = SESS_TAG | ((uint64_t)x->gen << 32) | (uint32_t)k};
    if ((connect(x->fd, (const struct sockaddr *)&dst->ss, dst->len) < 0 && errno != EINPROGRESS) ||
        epoll_ctl(ep, EPOLL_CTL_ADD, x->fd, &e) < 0) {
        at_kill(k, E_CONNECT);
        return -1;
    }
    return 0;
}

/* Sends stream i, just bound to session k, if k is ready (else it waits for
 * the handshake in at_event). */
static void at_go(int32_t k, int32_t i, uint64_t t)
{
    if (AT.ss[k].state != SS_RUN) return;
    S[i].t_conn = t;
    if (at_send_open(k, i) < 0) { at_kill(k, E_IO); return; }
    if (AT.ss[k].state != SS_FREE && at_flush(k) < 0) at_kill(k, E_IO);
}

/* --anytls-sessions: the session with the fewest streams (an unopened one
 * first), or -1 when every session is full. */
static int32_t at_mux_pick(void)
{
    int32_t best = -1;
    for (int32_t k = 0; k < AT.nmux; k++) {
        const sess_t *x = &AT.ss[k];
        if (x->state == SS_FREE) return k;
        if (x->nstreams < MUX_SLOTS - 1 && (best < 0 || x->nstreams < AT.ss[best].nstreams)) best = k;
    }
    return best;
}

/* Puts stream i on a session: the newest idle one, else a new connection
 * (with --anytls-sessions: the least loaded of the N). */
static int at_stream_start(int32_t i, uint64_t t)
{
    if (AT.nmux) {
        int32_t k = at_mux_pick();
        if (k < 0) { stream_fail(i, E_DROP); return -1; }
        if (AT.ss[k].state == SS_FREE) {
            if (at_sess_open(k) < 0) { stream_fail(i, E_CONNECT); return -1; }
        } else {
            AT.reused++;
        }
        at_bind(k, i);
        at_go(k, i, t);
        return 0;
    }
    while (!AT.new_session && AT.idle_head >= 0) {
        int32_t k = AT.idle_head;
        at_idle_remove(k);
        AT.reused++;
        at_bind(k, i);
        S[i].t_conn = t;
        if (at_send_open(k, i) == 0) {
            if (AT.ss[k].state != SS_FREE && at_flush(k) < 0) at_kill(k, E_IO);
            return 0;
        }
        /* a dead idle session: drop it (not the stream) and try the next */
        at_unbind(k, i);
        at_kill(k, E_IO);
    }
    int32_t k = AT.free_head;
    if (k < 0) { stream_fail(i, E_DROP); return -1; }
    AT.free_head = AT.ss[k].inext;
    if (at_sess_open(k) < 0) { stream_fail(i, E_CONNECT); return -1; }
    at_bind(k, i);
    return 0;
}

/* --hold-idle: the sessions stay open, with no streams, for S seconds
 * (heartbeats answered; a session the server closes is not reopened). */
static void at_hold_idle(void)
{
    if (O.proto != PROTO_ANYTLS || !(AT.hold_idle > 0)) return;
    int n = 0, nss = AT.nmux ? AT.nmux : O.cap;
    for (int k = 0; k < nss; k++) n += AT.ss[k].state == SS_RUN;
    fprintf(stderr, "loadgen: holding %d idle sessions for %.0f s\n", n, AT.hold_idle);
    uint64_t end = bench_now_ns() + (uint64_t)(AT.hold_idle * 1e9);
    struct epoll_event evs[64];
    while (!g_interrupted) {
        uint64_t t = bench_now_ns();
        if (t >= end) break;
        uint64_t d = end - t < 100000000ull ? end - t : 100000000ull;
        struct timespec to = {0, (long)d};
        int m = epoll_pwait2(ep, evs, 64, &to, NULL);
        for (int j = 0; j < m; j++) {
            uint64_t u = evs[j].data.u64;
            uint32_t idx = (uint32_t)u, gen = (uint32_t)(u >> 32) & 0x7fffffffu;
            if ((u & SESS_TAG) && AT.ss[idx].state != SS_FREE && (AT.ss[idx].gen & 0x7fffffffu) == gen)
                at_event((int32_t)idx, evs[j].events, bench_now_ns());
        }
    }
}

/* "anytls://PASSWORD@HOST:PORT" or "HOST:PORT" (with --password). */
static void at_parse(const char *arg, const char *pass_opt, const char **pass_out)
{
    static char pw[256];
    const char *hp = arg;
    *pass_out = pass_opt;
    if (!strncmp(arg, "anytls://", 9)) {
        const char *at = strrchr(arg + 9, '@');
        if (!at) bench_die("--anytls URI needs PASSWORD@HOST:PORT");
        size_t pl = (size_t)(at - (arg + 9));
        if (pl >= sizeof pw) bench_die("password too long");
        memcpy(pw, arg + 9, pl);
        pw[pl] = 0;
        *pass_out = pw;
        hp = at + 1;
    }
    char hbuf[128];
    snprintf(hbuf, sizeof hbuf, "%s", hp);
    hbuf[strcspn(hbuf, "/?#")] = 0;
    if (parse_hostport(hbuf, &AT.server) < 0) bench_die("bad --anytls server '%s'", hp);
    if (!*pass_out) bench_die("--anytls needs a password (URI or --password)");
}

/* Starts a stream intended at t_int. Returns 0, or -1 if it failed at once. */
static int stream_start(uint64_t t_int, uint64_t t)
{
    n_arrivals++;
    int measured = t_int >= t_meas;
    if (live >= O.cap || free_head < 0) {
        count_err(E_DROP, measured);
        return -1;
    }
    int32_t i = free_head;
    stream_t *s = &S[i];
    free_head = s->next;
    uint32_t gen = s->gen;
    memset(s, 0, offsetof(stream_t, out));
    s->gen = gen;
    s->fd = -1;
    s->measured = (uint8_t)measured;
    s->t_int = t_int;
    s->t_start = t;
    s->tgt = zipf_draw();
    s->st = ST_CONNECTING;
    s->sess = -1;
    live++;
    live_append(i);
    if (O.proto == PROTO_ANYTLS)
        return at_stream_start(i, t);
    const target_t *dst = O.proto == PROTO_DIRECT ? &O.targets[s->tgt] : &O.proxy;
    int fd = socket(dst->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { stream_fail(i, E_CONNECT); return -1; }
    s->fd = fd;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)&dst->ss, dst->len) < 0 && errno != EINPROGRESS) {
        stream_fail(i, E_CONNECT);
        return -1;
    }
    struct epoll_event e = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP,
                            .data.u64 = ((uint64_t)s->gen << 32) | (uint32_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0) { stream_fail(i, E_IO); return -1; }
    return 0;
}

static void expire(uint64_t t)
{
    uint64_t lim = (uint64_t)(O.timeout * 1e9);
    while (live_head >= 0 && t - S[live_head].t_start >= lim)
        stream_fail(live_head, E_TIMEOUT);
}

/* ------------------------------------------------------------------ output */

static double us(uint64_t ns) { return (double)ns / 1000.0; }
static double pct_us(const hist_t *h, double p) { return us(hist_percentile(h, p)); }

static uint64_t err_total(void)
{
    uint64_t e = 0;
    for (int k = 0; k < E_NKINDS; k++) e += n_err_meas[k];
    return e;
}

static const char *CSV_HEADER =
    "offered_rate,duration_s,streams_ok,errors,achieved_rate,open_p50_us,open_p90_us,"
    "open_p99_us,open_max_us,total_p50_us,total_p99_us,"
    "mode,targets,zipf,connect_p50_us,connect_p99_us,lag_p99_us,"
    "err_connect,err_socks,err_timeout,err_short,err_io,drops,label";

static void report(uint64_t cpu)
{
    double window = (double)(t_end_arrivals - t_meas) / 1e9;
    uint64_t t_fin = t_last_done > t_end_arrivals ? t_last_done : t_end_arrivals;
    double span = (double)(t_fin - t_meas) / 1e9;
    double achieved = span > 0 ? (double)n_ok_meas / span : 0;
    char mode[32];
    const char *pname = O.proto == PROTO_DIRECT ? "direct" : O.proto == PROTO_ANYTLS ? "anytls" : "socks";
    if (O.closed) snprintf(mode, sizeof mode, "%s-closed%d", pname, O.closed);
    else snprintf(mode, sizeof mode, "%s-open", pname);
    double offered = O.closed ? 0 : O.rate;
    if (O.json) {
        printf("{\"mode\":\"%s\",\"label\":\"%s\",\"offered_rate\":%.1f,\"closed_loop\":%d,"
               "\"duration_s\":%.3f,\"drain_s\":%.3f,\"targets\":%d,\"zipf\":%.3f,"
               "\"response_size\":%" PRIu64 ",\"arrivals\":%" PRIu64 ",\"streams_ok\":%" PRIu64
               ",\"errors\":%" PRIu64 ",\"achieved_rate\":%.1f,\"errors_by_kind\":{",
               mode, O.label ? O.label : "", offered, O.closed, window, span - window,
               O.ntargets, O.zipf, O.resp_size, n_arrivals, n_ok_meas, err_total(), achieved);
        for (int k = 0; k < E_NKINDS; k++)
            printf("%s\"%s\":%" PRIu64, k ? "," : "", ek_name[k], n_err_meas[k]);
        uint64_t wall = t_fin - t_begin;
        printf("},\"procs\":%d,\"loadgen_cpu_util\":%.3f,\"loadgen_cpu_us_per_stream\":%.2f",
               O.procs, wall ? (double)cpu / (double)wall : 0.0,
               n_arrivals ? (double)cpu / 1000.0 / (double)n_arrivals : 0.0);
        if (O.proto == PROTO_ANYTLS)
            printf(",\"anytls\":{\"sessions_opened\":%" PRIu64 ",\"sessions_reused\":%" PRIu64
                   ",\"synack_errors\":%" PRIu64 ",\"alerts\":%" PRIu64 ",\"mux_sessions\":%d}",
                   AT.opened, AT.reused, AT.synack_err, AT.alerts, AT.nmux);
        printf(",\"warmup\":{\"ok\":%" PRIu64 ",\"errors\":%" PRIu64 "}", n_ok - n_ok_meas,
               (n_err[0] + n_err[1] + n_err[2] + n_err[3] + n_err[4] + n_err[5]) - err_total());
        struct { const char *n; const hist_t *h; } hs[] = {
            {"connect", H_conn}, {"socks", H_socks}, {"open", H_open},
            {"total", H_total}, {"lag", H_lag}};
        for (size_t k = 0; k < sizeof hs / sizeof hs[0]; k++) {
            const hist_t *h = hs[k].h;
            printf(",\"%s_us\":{\"n\":%" PRIu64 ",\"min\":%.1f,\"mean\":%.1f,\"p50\":%.1f,"
                   "\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f}",
                   hs[k].n, h->count, h->count ? us(h->min) : 0.0, hist_mean(h) / 1000.0,
                   pct_us(h, 50), pct_us(h, 90), pct_us(h, 99), pct_us(h, 99.9), us(h->max));
        }
        printf("}\n");
    } else {
        if (O.csv_header) puts(CSV_HEADER);
        printf("%.1f,%.3f,%" PRIu64 ",%" PRIu64 ",%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,"
               "%s,%d,%.3f,%.1f,%.1f,%.1f,",
               offered, window, n_ok_meas, err_total(), achieved, pct_us(H_open, 50),
               pct_us(H_open, 90), pct_us(H_open, 99), us(H_open->max), pct_us(H_total, 50),
               pct_us(H_total, 99), mode, O.ntargets, O.zipf, pct_us(H_conn, 50),
               pct_us(H_conn, 99), pct_us(H_lag, 99));
        for (int k = 0; k < E_NKINDS; k++) printf("%" PRIu64 ",", n_err_meas[k]);
        printf("%s\n", O.label ? O.label : "");
    }
    fflush(stdout);
}

static void progress(uint64_t t)
{
    static uint64_t last_arr, last_t, last_cpu;
    if (!last_t) { last_t = t_begin; last_cpu = cpu_begin; }
    uint64_t c = cpu_ns();
    double el = (double)(t - t_begin) / 1e9;
    fprintf(stderr,
            "[%6.1fs] started/s %" PRIu64 " ok/s %" PRIu64 " err/s %" PRIu64 " inflight %d"
            " open p50 %.0fus p99 %.0fus cpu %.0f%%\n",
            el, n_arrivals - last_arr, iv_ok, iv_err, live, pct_us(H_iv_open, 50),
            pct_us(H_iv_open, 99), 100.0 * (double)(c - last_cpu) / (double)(t - last_t));
    last_arr = n_arrivals;
    last_t = t;
    last_cpu = c;
    iv_ok = iv_err = 0;
    hist_init(H_iv_open);
}

/* ------------------------------------------------------------------ --procs
 * Each child runs the whole single-threaded loop on its share of the load
 * (rate/N: independent Poisson streams add up to a Poisson stream of rate R)
 * from a common start time, then leaves its counters and histograms in shared
 * memory; the parent prints merged progress and the merged result. */

typedef struct shard {
    uint64_t n_arrivals, n_ok, n_ok_meas, n_err[E_NKINDS], n_err_meas[E_NKINDS];
    uint64_t socks_rep_bad, t_end_arrivals, t_last_done, cpu;
    uint64_t at_opened, at_reused, at_synack, at_alerts;
    volatile uint64_t p_arr, p_ok, p_err;   /* live, for progress */
    volatile int p_live;
    int finished;
    hist_t h[5];                            /* conn socks open total lag */
} shard_t;

static shard_t *g_shards;
static int g_shard = -1;       /* this child's index, -1 in a single process */
static uint64_t g_t_begin_fixed;

static hist_t **shard_hists(void)
{
    static hist_t *hs[5];
    hs[0] = H_conn; hs[1] = H_socks; hs[2] = H_open; hs[3] = H_total; hs[4] = H_lag;
    return hs;
}

static void shard_save(void)
{
    shard_t *x = &g_shards[g_shard];
    x->n_arrivals = n_arrivals; x->n_ok = n_ok; x->n_ok_meas = n_ok_meas;
    memcpy(x->n_err, n_err, sizeof n_err);
    memcpy(x->n_err_meas, n_err_meas, sizeof n_err_meas);
    x->socks_rep_bad = socks_rep_bad;
    x->t_end_arrivals = t_end_arrivals;
    x->t_last_done = t_last_done;
    x->cpu = cpu_ns() - cpu_begin;
    x->at_opened = AT.opened; x->at_reused = AT.reused;
    x->at_synack = AT.synack_err; x->at_alerts = AT.alerts;
    hist_t **hs = shard_hists();
    for (int k = 0; k < 5; k++) x->h[k] = *hs[k];
    __atomic_store_n(&x->finished, 1, __ATOMIC_RELEASE);
}

static volatile sig_atomic_t g_parent_sig;
static void on_parent_sig(int sig) { g_parent_sig = sig; }

/* Forks O.procs children; returns in each child (after setting its share) and,
 * in the parent, waits for them, merges and reports, then exits. */
static void fork_shards(void)
{
    int np = O.procs;
    g_shards = mmap(NULL, (size_t)np * sizeof(shard_t), PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (g_shards == MAP_FAILED) bench_die("mmap: %s", strerror(errno));
    g_t_begin_fixed = bench_now_ns() + 50000000ull;   /* everyone starts together */
    pid_t *pids = calloc((size_t)np, sizeof *pids);
    if (!pids) bench_die("out of memory");
    int cap = O.cap, closed = O.closed, nmux = AT.nmux;
    uint64_t maxs = O.max_streams;
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; i < np; i++) {
        pid_t p = fork();
        if (p < 0) bench_die("fork: %s", strerror(errno));
        if (p == 0) {
            g_shard = i;
            O.cap = cap / np > 0 ? cap / np : 1;
            if (closed) O.closed = closed / np + (i < closed % np);
            else O.rate /= np;
            if (nmux) AT.nmux = nmux / np + (i < nmux % np);
            if (maxs) {
                O.max_streams = maxs / (uint64_t)np + ((uint64_t)i < maxs % (uint64_t)np);
                if (!O.max_streams) O.max_streams = 0, O.duration = 1e-9; /* nothing to do */
            }
            O.seed = O.seed * 1000003u + (uint64_t)i;
            free(pids);
            return;
        }
        pids[i] = p;
    }
    /* parent: forward INT/TERM to the children (by pid), print progress, wait */
    struct sigaction sa = {.sa_handler = on_parent_sig};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int left = np, fwd = 0;
    uint64_t t_prog = g_t_begin_fixed + 1000000000ull, pa = 0, po = 0, pe = 0;
    while (left > 0) {
        if (g_parent_sig && !fwd) {
            for (int i = 0; i < np; i++) if (pids[i] > 0) kill(pids[i], SIGINT);
            fwd = 1;
        }
        int st;
        pid_t p = waitpid(-1, &st, WNOHANG);
        if (p > 0) {
            for (int i = 0; i < np; i++) if (pids[i] == p) pids[i] = 0;
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                bench_die("a worker process failed (status %#x)", st);
            left--;
            continue;
        }
        uint64_t t = bench_now_ns();
        if (!O.quiet && t >= t_prog) {
            uint64_t a = 0, o = 0, e = 0;
            int lv = 0;
            for (int i = 0; i < np; i++) {
                a += g_shards[i].p_arr; o += g_shards[i].p_ok; e += g_shards[i].p_err;
                lv += g_shards[i].p_live;
            }
            fprintf(stderr, "[%6.1fs] started/s %" PRIu64 " ok/s %" PRIu64 " err/s %" PRIu64
                            " inflight %d (%d procs)\n",
                    (double)(t - g_t_begin_fixed) / 1e9, a - pa, o - po, e - pe, lv, np);
            pa = a; po = o; pe = e;
            t_prog += 1000000000ull;
        }
        usleep(20000);
    }
    /* merge */
    hist_t **hs = shard_hists();
    uint64_t cpu = 0;
    t_begin = g_t_begin_fixed;
    t_meas = t_begin + (uint64_t)(O.warmup * 1e9);
    t_end_arrivals = 0;
    t_last_done = 0;
    for (int i = 0; i < np; i++) {
        shard_t *x = &g_shards[i];
        if (!x->finished) bench_die("worker %d left no result", i);
        n_arrivals += x->n_arrivals; n_ok += x->n_ok; n_ok_meas += x->n_ok_meas;
        for (int k = 0; k < E_NKINDS; k++) { n_err[k] += x->n_err[k]; n_err_meas[k] += x->n_err_meas[k]; }
        socks_rep_bad += x->socks_rep_bad;
        if (x->t_end_arrivals > t_end_arrivals) t_end_arrivals = x->t_end_arrivals;
        if (x->t_last_done > t_last_done) t_last_done = x->t_last_done;
        cpu += x->cpu;
        AT.opened += x->at_opened; AT.reused += x->at_reused;
        AT.synack_err += x->at_synack; AT.alerts += x->at_alerts;
        for (int k = 0; k < 5; k++) hist_merge(hs[k], &x->h[k]);
    }
    if (!O.quiet) {
        fprintf(stderr, "loadgen: %d procs: arrivals %" PRIu64 " ok %" PRIu64 " (measured %" PRIu64 ")",
                np, n_arrivals, n_ok, n_ok_meas);
        for (int k = 0; k < E_NKINDS; k++)
            if (n_err[k]) fprintf(stderr, " %s %" PRIu64, ek_name[k], n_err[k]);
        fputc('\n', stderr);
    }
    uint64_t lag99 = hist_percentile(H_lag, 99);
    if (!O.closed && lag99 > 1000000)
        fprintf(stderr, "loadgen: WARNING: behind schedule (start lag p99 %.1f ms, cpu %.0f%% of one "
                        "core summed over %d procs): the load generator or its CPU share is a "
                        "bottleneck\n", (double)lag99 / 1e6,
                100.0 * (double)cpu / (double)(bench_now_ns() - t_begin), np);
    report(cpu);
    exit(0);
}

/* ------------------------------------------------------------------ main */

static void on_sigint(int sig) { (void)sig; g_interrupted = 1; }

static void usage(FILE *f)
{
    fputs(
"usage: loadgen (--rate R | --closed-loop N) [--duration S] [--max-streams N]\n"
"               (--target-range A-B:PORT | --targets FILE)... [--zipf S]\n"
"               (--socks HOST:PORT | --direct) [--response-size N] [--request-size N]\n"
"               [--concurrency-cap N] [--timeout S] [--drain S] [--warmup S]\n"
"               [--socks-pipeline] [--rst-close] [--seed N] [--label STR]\n"
"               [--csv-header | --json] [--quiet] [--procs N]\n"
"               [--anytls anytls://PASS@HOST:PORT | --anytls HOST:PORT --password P]\n"
"               [--anytls-new-session | --anytls-sessions N] [--hold-idle S]\n"
"  open loop: Poisson arrivals at R/s, latency from the intended start time.\n"
"  --procs N: N processes share rate, cap, workers and max-streams; results merged.\n"
"  --anytls: speak AnyTLS to the server directly (no client), sessions reused\n"
"  newest-first like the reference client; --anytls-new-session: one per stream;\n"
"  --anytls-sessions N: all streams multiplexed over N sessions (least loaded first);\n"
"  --hold-idle S: then keep the sessions open, idle, for S s before exiting.\n", f);
}

int main(int argc, char **argv)
{
    enum { O_RATE = 1, O_CLOSED, O_DUR, O_MAXS, O_CAP, O_TGTS, O_TRANGE, O_ZIPF, O_SOCKS,
           O_DIRECT, O_ANYTLS, O_RESP, O_REQ, O_TIMEOUT, O_DRAIN, O_WARM, O_PIPE, O_RST,
           O_SEED, O_HDR, O_JSON, O_QUIET, O_LABEL, O_PASS, O_ATNEW, O_PROCS, O_ATSESS, O_HOLD, O_HELP };
    static const struct option opts[] = {
        {"rate", 1, 0, O_RATE}, {"closed-loop", 1, 0, O_CLOSED}, {"duration", 1, 0, O_DUR},
        {"max-streams", 1, 0, O_MAXS}, {"concurrency-cap", 1, 0, O_CAP},
        {"targets", 1, 0, O_TGTS}, {"target-range", 1, 0, O_TRANGE}, {"zipf", 1, 0, O_ZIPF},
        {"socks", 1, 0, O_SOCKS}, {"direct", 0, 0, O_DIRECT}, {"anytls", 1, 0, O_ANYTLS},
        {"response-size", 1, 0, O_RESP}, {"request-size", 1, 0, O_REQ},
        {"timeout", 1, 0, O_TIMEOUT}, {"drain", 1, 0, O_DRAIN}, {"warmup", 1, 0, O_WARM},
        {"socks-pipeline", 0, 0, O_PIPE}, {"rst-close", 0, 0, O_RST}, {"seed", 1, 0, O_SEED},
        {"csv-header", 0, 0, O_HDR}, {"json", 0, 0, O_JSON}, {"quiet", 0, 0, O_QUIET},
        {"label", 1, 0, O_LABEL}, {"password", 1, 0, O_PASS},
        {"anytls-new-session", 0, 0, O_ATNEW}, {"procs", 1, 0, O_PROCS},
        {"anytls-sessions", 1, 0, O_ATSESS}, {"hold-idle", 1, 0, O_HOLD},
        {"help", 0, 0, O_HELP}, {0, 0, 0, 0}};
    const char *anytls_arg = NULL, *pass_opt = NULL;
    int have_socks = 0, have_rate = 0;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case O_RATE: O.rate = atof(optarg); have_rate = 1; break;
        case O_CLOSED: O.closed = atoi(optarg); break;
        case O_DUR: O.duration = atof(optarg); break;
        case O_MAXS: O.max_streams = strtoull(optarg, NULL, 10); break;
        case O_CAP: O.cap = atoi(optarg); break;
        case O_TGTS: load_targets(optarg); break;
        case O_TRANGE: add_target_range(optarg); break;
        case O_ZIPF: O.zipf = atof(optarg); break;
        case O_SOCKS:
            if (parse_hostport(optarg, &O.proxy) < 0) bench_die("bad --socks '%s'", optarg);
            have_socks = 1;
            break;
        case O_DIRECT: O.proto = PROTO_DIRECT; break;
        case O_ANYTLS: O.proto = PROTO_ANYTLS; anytls_arg = optarg; break;
        case O_PASS: pass_opt = optarg; break;
        case O_ATNEW: AT.new_session = 1; break;
        case O_PROCS: O.procs = atoi(optarg); break;
        case O_ATSESS: AT.nmux = atoi(optarg); if (AT.nmux < 1) bench_die("--anytls-sessions must be >= 1"); break;
        case O_HOLD: AT.hold_idle = atof(optarg); break;
        case O_RESP: O.resp_size = strtoull(optarg, NULL, 10); break;
        case O_REQ: O.req_size = atoi(optarg); break;
        case O_TIMEOUT: O.timeout = atof(optarg); break;
        case O_DRAIN: O.drain = atof(optarg); break;
        case O_WARM: O.warmup = atof(optarg); break;
        case O_PIPE: O.socks_pipeline = 1; break;
        case O_RST: O.rst_close = 1; break;
        case O_SEED: O.seed = strtoull(optarg, NULL, 10); break;
        case O_HDR: O.csv_header = 1; break;
        case O_JSON: O.json = 1; break;
        case O_QUIET: O.quiet = 1; break;
        case O_LABEL: O.label = optarg; break;
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) { usage(stderr); return 2; }
    const char *anytls_pass = NULL;
    if (O.proto == PROTO_ANYTLS) at_parse(anytls_arg, pass_opt, &anytls_pass);
    if ((AT.nmux || AT.hold_idle) && O.proto != PROTO_ANYTLS)
        bench_die("--anytls-sessions and --hold-idle need --anytls");
    if (AT.nmux && AT.new_session) bench_die("--anytls-sessions and --anytls-new-session exclude each other");
    if (AT.hold_idle < 0 || AT.hold_idle > 3600) bench_die("--hold-idle must be in [0, 3600]");
    if (AT.nmux && O.procs > AT.nmux) bench_die("--anytls-sessions must be >= --procs");
    if (!O.ntargets) bench_die("no targets: use --target-range A-B:PORT or --targets FILE");
    if (O.proto == PROTO_SOCKS5 && !have_socks) bench_die("need --socks HOST:PORT (or --direct)");
    if (O.closed < 0 || (O.closed && have_rate)) bench_die("use either --rate or --closed-loop");
    if (!O.closed && !(O.rate > 0)) bench_die("--rate must be > 0");
    if (!(O.duration > 0) || O.duration > 86400) bench_die("--duration must be in (0, 86400]");
    if (O.timeout <= 0) bench_die("--timeout must be > 0");
    if (O.drain < 0) O.drain = O.timeout;
    if (O.resp_size > (1ull << 40)) bench_die("--response-size too large");
    if (O.req_size > 256) bench_die("--request-size at most 256");
    if (O.label && O.label[strcspn(O.label, "\",\\\n")])
        bench_die("--label must not contain quotes, commas, backslashes or newlines");

    /* file descriptors bound the in-flight streams */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
        long maxcap = (long)rl.rlim_cur - 32;
        if (O.cap > maxcap) {
            fprintf(stderr, "loadgen: --concurrency-cap lowered %d -> %ld (RLIMIT_NOFILE)\n",
                    O.cap, maxcap);
            O.cap = (int)maxcap;
        }
    }
    if (O.closed > O.cap) bench_die("--closed-loop %d exceeds the concurrency cap %d", O.closed, O.cap);
    if (O.cap < 1) bench_die("--concurrency-cap must be >= 1");

    if (O.procs < 1 || O.procs > 64) bench_die("--procs must be 1..64");
    if (O.procs > 1 && O.closed && O.closed < O.procs) bench_die("--closed-loop must be >= --procs");
    hist_t **hs[] = {&H_conn, &H_socks, &H_open, &H_total, &H_lag, &H_iv_open};
    for (size_t k = 0; k < 6; k++) {
        *hs[k] = malloc(sizeof(hist_t));
        if (!*hs[k]) bench_die("out of memory");
        hist_init(*hs[k]);
    }
    zipf_init();
    if (O.procs > 1)
        fork_shards();       /* the parent never returns */
    uint64_t seed = O.seed;
    for (int k = 0; k < 4; k++) rng_s[k] = splitmix(&seed);
    if (O.proto == PROTO_ANYTLS) at_init(anytls_pass);
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_sigint};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    S = calloc((size_t)O.cap, sizeof *S);
    if (!S) bench_die("out of memory");
    for (int32_t i = O.cap - 1; i >= 0; i--) { S[i].fd = -1; S[i].next = free_head; free_head = i; }
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) bench_die("epoll_create1: %s", strerror(errno));

    if (g_t_begin_fixed) {
        uint64_t t0 = bench_now_ns();
        if (t0 < g_t_begin_fixed) {
            struct timespec d = {0, (long)(g_t_begin_fixed - t0)};
            nanosleep(&d, NULL);
        }
        t_begin = g_t_begin_fixed;
    } else {
        t_begin = bench_now_ns();
    }
    cpu_begin = cpu_ns();
    t_meas = t_begin + (uint64_t)(O.warmup * 1e9);
    uint64_t t_stop = t_meas + (uint64_t)(O.duration * 1e9);
    uint64_t t_next = t_begin;      /* next intended arrival (open loop) */
    uint64_t t_prog = t_begin + 1000000000ull;
    double mean_gap_ns = O.closed ? 0 : 1e9 / O.rate;
    int arriving = 1;
    uint64_t t_drain_end = 0;
    struct epoll_event evs[512];

    for (;;) {
        uint64_t t = bench_now_ns();
        /* arrivals */
        if (arriving) {
            if (O.closed) {
                /* bounded per pass: a stream can end inside stream_start
                 * (an error, or nothing to read), and events must still run */
                for (int b = 0; b < 256 && live < O.closed && t < t_stop && !g_interrupted &&
                                (!O.max_streams || n_arrivals < O.max_streams); b++) {
                    stream_start(t, t);
                    t = bench_now_ns();
                }
            } else {
                int batch = 0;
                while (t_next <= t && batch < 256 && t_next < t_stop &&
                       (!O.max_streams || n_arrivals < O.max_streams)) {
                    stream_start(t_next, t);
                    t_next += (uint64_t)(-log(1.0 - rng_u01()) * mean_gap_ns);
                    batch++;
                    if ((batch & 15) == 0) t = bench_now_ns();
                }
            }
            t = bench_now_ns();
            if (t >= t_stop || g_interrupted || (O.max_streams && n_arrivals >= O.max_streams) ||
                (!O.closed && t_next >= t_stop)) {
                arriving = 0;
                t_end_arrivals = (!O.closed && t_next >= t_stop && t < t_stop) ? t_stop : t;
                if (t_end_arrivals < t_meas) t_end_arrivals = t_meas;
                t_drain_end = t + (uint64_t)(O.drain * 1e9);
            }
        }
        if (!arriving && (live == 0 || t >= t_drain_end || g_interrupted > 1))
            break;

        /* wait: until the next arrival, or at most 10 ms (timeouts, progress) */
        int64_t wait_ns = 10000000;
        if (arriving && !O.closed) {
            int64_t d = (int64_t)(t_next - t);
            if (t_next <= t) d = 0;
            if (d < wait_ns) wait_ns = d;
        }
        struct timespec to = {wait_ns / 1000000000, wait_ns % 1000000000};
        int n = epoll_pwait2(ep, evs, 512, &to, NULL);
        if (n < 0 && errno != EINTR) bench_die("epoll_pwait2: %s", strerror(errno));
        t = bench_now_ns();
        for (int k = 0; k < n; k++) {
            uint64_t u = evs[k].data.u64;
            uint32_t idx = (uint32_t)u;
            uint32_t gen = (uint32_t)(u >> 32) & 0x7fffffffu;
            if (k) t = bench_now_ns();   /* each event timed when handled, not per batch */
            if (u & SESS_TAG) {
                if (AT.ss[idx].state != SS_FREE && (AT.ss[idx].gen & 0x7fffffffu) == gen)
                    at_event((int32_t)idx, evs[k].events, t);
                continue;
            }
            if (S[idx].st == ST_FREE || (S[idx].gen & 0x7fffffffu) != gen) continue;
            stream_run((int32_t)idx, evs[k].events, t);
        }
        expire(t);
        if (g_shard >= 0) {
            shard_t *x = &g_shards[g_shard];
            x->p_arr = n_arrivals; x->p_ok = n_ok; x->p_live = live;
            x->p_err = n_err[0] + n_err[1] + n_err[2] + n_err[3] + n_err[4] + n_err[5];
        }
        if (t >= t_prog) {
            if (!O.quiet && g_shard < 0) progress(t);
            t_prog += 1000000000ull;
            if (t_prog < t) t_prog = t + 1000000000ull;
        }
    }
    /* whatever is still in flight at the end of the drain has timed out */
    while (live_head >= 0) stream_fail(live_head, E_TIMEOUT);
    at_hold_idle();
    if (g_shard >= 0) {
        shard_save();
        fflush(stderr);
        _exit(0);
    }
    if (!O.quiet) {
        fprintf(stderr, "loadgen: arrivals %" PRIu64 " ok %" PRIu64 " (measured %" PRIu64 ")",
                n_arrivals, n_ok, n_ok_meas);
        for (int k = 0; k < E_NKINDS; k++)
            if (n_err[k]) fprintf(stderr, " %s %" PRIu64, ek_name[k], n_err[k]);
        if (socks_rep_bad) fprintf(stderr, " (socks REP!=0: %" PRIu64 ")", socks_rep_bad);
        fputc('\n', stderr);
    }
    /* Self-check: streams started late means the load generator (or the CPU it
     * shares with the system under test) was the bottleneck at this rate. */
    uint64_t lag99 = hist_percentile(H_lag, 99);
    if (!O.closed && lag99 > 1000000)
        fprintf(stderr, "loadgen: WARNING: behind schedule (start lag p99 %.1f ms, cpu %.0f%%): "
                        "at this rate the load generator or its CPU share is a bottleneck\n",
                (double)lag99 / 1e6, 100.0 * (double)(cpu_ns() - cpu_begin) /
                                         (double)(bench_now_ns() - t_begin));
    report(cpu_ns() - cpu_begin);
    return 0;
}
