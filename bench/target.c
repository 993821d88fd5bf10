/* target.c -- the benchmark target server.
 *
 * Listens on many loopback/namespace addresses at once and answers requests with
 * a fixed number of bytes. Every worker thread has its own epoll loop; each
 * listening socket is registered in all of them with EPOLLEXCLUSIVE, and a
 * connection stays on the worker that accepted it, so no state is shared on the
 * data path (only relaxed counters that the main thread sums for reports).
 * No SO_REUSEPORT: a second target on the same address fails with EADDRINUSE
 * instead of silently taking half the connections.
 *
 * Protocol (line mode, the default): a request is any bytes up to "\n". If the
 * line starts with decimal digits, that number is the response size for this
 * request (so a load generator can vary it per stream); otherwise the reply is
 * --response-size bytes. With --request-size N a request is instead every N
 * bytes received (no newline needed). Requests may be pipelined; replies are
 * queued in order. The reply is N bytes of 'x'.
 *
 * Counts are printed as one JSON line on stderr on SIGUSR1 and at exit.
 *
 * Usage:
 *   target [--listen ADDR:PORT]... [--addrs A.B.C.D-E.F.G.H --port P]
 *          [--threads N] [--response-size N] [--request-size N]
 *          [--close-after-response] [--idle-close-secs S] [--banner STR]
 *          [--duration S] [--backlog N] [--tfo QLEN] [--quiet]
 * --tfo QLEN: accept TCP Fast Open (TCP_FASTOPEN on every listener, QLEN
 * pending TFO requests each); needs net.ipv4.tcp_fastopen & 2 in the target's
 * network namespace (warned about otherwise). Connections whose SYN carried
 * data (TCP_INFO TCPI_OPT_SYN_DATA) are counted as "syn_data".
 * Addresses must be loopback (127/8, ::1) or the namespace test range
 * 198.18.0.0/15; anything else is refused.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BENCH_PROG "target"
#include "bench_util.h"

#define MAX_LISTEN 4096
#define RESP_CHUNK 65536
#define MAX_REQ_SIZE (1ull << 30)  /* a per-request size from the line is capped here */
#define OUT_HIGH_WATER (64ull << 20) /* stop reading while this much reply is owed */

typedef struct listen_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[160];
} listen_addr_t;

/* ---- options ---- */
static listen_addr_t g_addrs[MAX_LISTEN];
static int g_naddrs;
static int g_threads = 1;
static uint64_t g_resp_size = 64;
static uint64_t g_req_size;          /* 0: line mode */
static int g_close_after;
static int g_idle_secs;
static const char *g_banner;
static size_t g_banner_len;
static double g_duration;
static int g_backlog = 4096;
static int g_tfo_qlen;               /* 0: no TCP Fast Open */
static int g_quiet;

static volatile int g_stop;
static char g_fill[RESP_CHUNK];

/* ---- per-thread state ---- */
typedef struct conn conn_t;
struct conn {
    int fd;
    uint64_t out_rem;      /* reply bytes still owed */
    uint32_t banner_off;
    uint8_t line_state;    /* 0: at line start, 1: in leading digits, 2: rest of line */
    uint8_t rd_eof;        /* peer half-closed: finish replies, then close */
    uint8_t done_reading;  /* close-after-response: request seen, ignore the rest */
    uint8_t want_out;      /* EPOLLOUT registered */
    uint8_t has_num;       /* this line started with digits */
    uint64_t num;          /* leading number being parsed */
    uint64_t req_got;      /* bytes of the current fixed-size request */
    uint64_t last_ms;
    conn_t *prev, *next;   /* idle LRU (head = least recently active) */
};

typedef struct counters {
    uint64_t accepted, requests, bytes_out, bytes_in, closed_idle, closed, accept_err, syn_data;
} counters_t;

typedef struct worker {
    int id;
    int ep;
    int reserve_fd;        /* spare fd to shed connections when out of fds */
    conn_t lru;            /* sentinel */
    counters_t c;          /* written only by the owner (relaxed stores) */
    pthread_t th;
} worker_t;

static worker_t *g_workers;

#define CNT_ADD(w, f, n) __atomic_store_n(&(w)->c.f, (w)->c.f + (n), __ATOMIC_RELAXED)

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- address parsing ---- */
static void add_addr4(uint32_t host_order, uint16_t port)
{
    if (g_naddrs >= MAX_LISTEN) bench_die("too many listen addresses (max %d)", MAX_LISTEN);
    listen_addr_t *la = &g_addrs[g_naddrs++];
    memset(la, 0, sizeof *la);
    struct sockaddr_in *sin = (struct sockaddr_in *)&la->ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr.s_addr = htonl(host_order);
    la->len = sizeof *sin;
    char b[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sin->sin_addr, b, sizeof b);
    snprintf(la->text, sizeof la->text, "%s:%u", b, port);
    if (!bench_addr_allowed(&la->ss)) bench_die("refusing %s: only 127/8, ::1 and 198.18.0.0/15", la->text);
}

static uint16_t parse_port(const char *s)
{
    char *e;
    long p = strtol(s, &e, 10);
    if (*e || p <= 0 || p > 65535) bench_die("bad port '%s'", s);
    return (uint16_t)p;
}

static void add_listen(const char *arg)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", arg);
    char *colon = strrchr(buf, ':');
    if (!colon) bench_die("--listen wants ADDR:PORT, got '%s'", arg);
    *colon = 0;
    uint16_t port = parse_port(colon + 1);
    char *host = buf;
    if (host[0] == '[') {
        host++;
        char *rb = strchr(host, ']');
        if (!rb) bench_die("bad address '%s'", arg);
        *rb = 0;
    }
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1) {
        add_addr4(ntohl(a4.s_addr), port);
    } else if (inet_pton(AF_INET6, host, &a6) == 1) {
        if (g_naddrs >= MAX_LISTEN) bench_die("too many listen addresses");
        listen_addr_t *la = &g_addrs[g_naddrs++];
        memset(la, 0, sizeof *la);
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&la->ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        s6->sin6_addr = a6;
        la->len = sizeof *s6;
        snprintf(la->text, sizeof la->text, "[%s]:%u", host, port);
        if (!bench_addr_allowed(&la->ss)) bench_die("refusing %s: only 127/8, ::1 and 198.18.0.0/15", la->text);
    } else {
        bench_die("bad address '%s'", host);
    }
}

/* "A-B" where A and B are IPv4 addresses (inclusive), or a single address. */
static void add_range(const char *arg, uint16_t port)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s", arg);
    char *dash = strchr(buf, '-');
    struct in_addr a, b;
    if (dash) *dash = 0;
    if (inet_pton(AF_INET, buf, &a) != 1) bench_die("bad range start '%s'", buf);
    if (dash) {
        if (inet_pton(AF_INET, dash + 1, &b) != 1) bench_die("bad range end '%s'", dash + 1);
    } else {
        b = a;
    }
    uint32_t lo = ntohl(a.s_addr), hi = ntohl(b.s_addr);
    if (hi < lo) bench_die("range end before start in '%s'", arg);
    if (hi - lo >= MAX_LISTEN) bench_die("range '%s' too large", arg);
    for (uint32_t x = lo; x <= hi; x++) add_addr4(x, port);
}

/* ---- connections ---- */
static void lru_unlink(conn_t *c)
{
    c->prev->next = c->next;
    c->next->prev = c->prev;
}

static void lru_push(worker_t *w, conn_t *c)
{
    c->prev = w->lru.prev;
    c->next = &w->lru;
    w->lru.prev->next = c;
    w->lru.prev = c;
}

static void touch(worker_t *w, conn_t *c, uint64_t t)
{
    c->last_ms = t;
    if (w->lru.prev != c) {
        lru_unlink(c);
        lru_push(w, c);
    }
}

static void conn_close(worker_t *w, conn_t *c)
{
    lru_unlink(c);
    close(c->fd);   /* removes it from the epoll set */
    CNT_ADD(w, closed, 1);
    free(c);
}

static void set_events(worker_t *w, conn_t *c, int out)
{
    if (c->want_out == out)
        return;
    uint32_t ev = out ? EPOLLOUT : 0;
    if (!c->rd_eof && !c->done_reading && (!out || c->out_rem < OUT_HIGH_WATER))
        ev |= EPOLLIN;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &e);
    c->want_out = (uint8_t)out;
}

static void request_done(worker_t *w, conn_t *c, uint64_t size)
{
    CNT_ADD(w, requests, 1);
    c->out_rem += size;
    if (g_close_after)
        c->done_reading = 1;
}

/* Parses n received bytes; returns after the first request if close-after-response. */
static void parse(worker_t *w, conn_t *c, const char *p, size_t n)
{
    if (g_req_size) {
        while (n && !c->done_reading) {
            uint64_t need = g_req_size - c->req_got;
            uint64_t take = n < need ? n : need;
            c->req_got += take;
            n -= take;
            if (c->req_got == g_req_size) {
                c->req_got = 0;
                request_done(w, c, g_resp_size);
            }
        }
        return;
    }
    for (size_t i = 0; i < n && !c->done_reading; i++) {
        char ch = p[i];
        if (ch == '\n') {
            request_done(w, c, c->has_num ? c->num : g_resp_size);
            c->line_state = 0;
            c->has_num = 0;
            c->num = 0;
            continue;
        }
        if (c->line_state == 0) {
            c->line_state = 2;
            if (ch >= '0' && ch <= '9') {
                c->line_state = 1;
                c->has_num = 1;
                c->num = (uint64_t)(ch - '0');
            }
        } else if (c->line_state == 1) {
            if (ch >= '0' && ch <= '9') {
                c->num = c->num * 10 + (uint64_t)(ch - '0');
                if (c->num > MAX_REQ_SIZE) c->num = MAX_REQ_SIZE;
            } else {
                c->line_state = 2;  /* keeps num: "1024 foo\n" asks for 1024 */
            }
        }
    }
}

/* Sends banner then owed reply bytes. Returns -1 if the connection was closed. */
static int flush_out(worker_t *w, conn_t *c)
{
    for (;;) {
        const char *src;
        size_t len;
        if (c->banner_off < g_banner_len) {
            src = g_banner + c->banner_off;
            len = g_banner_len - c->banner_off;
        } else if (c->out_rem) {
            src = g_fill;
            len = c->out_rem < RESP_CHUNK ? (size_t)c->out_rem : RESP_CHUNK;
        } else {
            break;
        }
        ssize_t k = send(c->fd, src, len, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                set_events(w, c, 1);
                return 0;
            }
            if (errno == EINTR) continue;
            conn_close(w, c);
            return -1;
        }
        CNT_ADD(w, bytes_out, (uint64_t)k);
        if (c->banner_off < g_banner_len)
            c->banner_off += (uint32_t)k;
        else
            c->out_rem -= (uint64_t)k;
    }
    /* everything owed is sent */
    if ((g_close_after && c->done_reading) || c->rd_eof) {
        conn_close(w, c);
        return -1;
    }
    set_events(w, c, 0);
    return 0;
}

static void on_conn(worker_t *w, conn_t *c, uint32_t ev, uint64_t t)
{
    touch(w, c, t);
    if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) && !c->rd_eof && !c->done_reading) {
        char buf[16384];
        for (int rounds = 0; rounds < 8; rounds++) {
            ssize_t k = recv(c->fd, buf, sizeof buf, 0);
            if (k > 0) {
                CNT_ADD(w, bytes_in, (uint64_t)k);
                parse(w, c, buf, (size_t)k);
                if (c->done_reading || c->out_rem >= OUT_HIGH_WATER) break;
                if ((size_t)k < sizeof buf) break;
                continue;
            }
            if (k == 0) {
                c->rd_eof = 1;
                if (!c->out_rem && c->banner_off >= g_banner_len) {
                    conn_close(w, c);
                    return;
                }
                break;
            }
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            conn_close(w, c);
            return;
        }
    } else if ((ev & (EPOLLERR | EPOLLHUP)) && !(ev & EPOLLOUT)) {
        conn_close(w, c);
        return;
    }
    flush_out(w, c);
}

static void accept_all(worker_t *w, int lfd, uint64_t t)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE) {
                /* out of fds: shed one pending connection so the listener does
                 * not spin, using the reserved descriptor */
                CNT_ADD(w, accept_err, 1);
                if (w->reserve_fd >= 0) {
                    close(w->reserve_fd);
                    int x = accept(lfd, NULL, NULL);
                    if (x >= 0) close(x);
                    w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                }
            }
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn_t *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->last_ms = t;
        lru_push(w, c);
        CNT_ADD(w, accepted, 1);
        if (g_tfo_qlen) {
            struct tcp_info ti;
            socklen_t tl = sizeof ti;
            if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0 && (ti.tcpi_options & TCPI_OPT_SYN_DATA))
                CNT_ADD(w, syn_data, 1);
        }
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &e) < 0) {
            conn_close(w, c);
            continue;
        }
        if (g_banner_len)
            flush_out(w, c);
    }
}

static void idle_sweep(worker_t *w, uint64_t t)
{
    uint64_t lim = (uint64_t)g_idle_secs * 1000;
    while (w->lru.next != &w->lru) {
        conn_t *c = w->lru.next;
        if (t - c->last_ms < lim)
            break;
        CNT_ADD(w, closed_idle, 1);
        conn_close(w, c);
    }
}

/* Listener fds are tagged by storing (fd | LTAG) in the epoll data. */
#define LTAG (1ull << 62)

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    struct epoll_event evs[256];
    uint64_t last_sweep = now_ms();
    while (!__atomic_load_n(&g_stop, __ATOMIC_RELAXED)) {
        int n = epoll_wait(w->ep, evs, 256, 200);
        uint64_t t = now_ms();
        for (int i = 0; i < n; i++) {
            uint64_t u = evs[i].data.u64;
            if (u & LTAG)
                accept_all(w, (int)(u & 0xffffffffu), t);
            else
                on_conn(w, (conn_t *)evs[i].data.ptr, evs[i].events, t);
        }
        if (g_idle_secs && t - last_sweep >= 100) {
            idle_sweep(w, t);
            last_sweep = t;
        }
    }
    /* close everything at exit */
    while (w->lru.next != &w->lru)
        conn_close(w, w->lru.next);
    return NULL;
}

static int open_listener(const listen_addr_t *la)
{
    int fd = socket(la->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) bench_die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (la->ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)&la->ss, la->len) < 0)
        bench_die("bind %s: %s", la->text, strerror(errno));
    if (g_tfo_qlen && setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN, &g_tfo_qlen, sizeof g_tfo_qlen) < 0)
        bench_die("TCP_FASTOPEN on %s: %s", la->text, strerror(errno));
    if (listen(fd, g_backlog) < 0) bench_die("listen %s: %s", la->text, strerror(errno));
    return fd;
}

static void print_counts(const char *why)
{
    counters_t s = {0};
    for (int i = 0; i < g_threads; i++) {
        counters_t *c = &g_workers[i].c;
        s.accepted += __atomic_load_n(&c->accepted, __ATOMIC_RELAXED);
        s.requests += __atomic_load_n(&c->requests, __ATOMIC_RELAXED);
        s.bytes_out += __atomic_load_n(&c->bytes_out, __ATOMIC_RELAXED);
        s.bytes_in += __atomic_load_n(&c->bytes_in, __ATOMIC_RELAXED);
        s.closed_idle += __atomic_load_n(&c->closed_idle, __ATOMIC_RELAXED);
        s.closed += __atomic_load_n(&c->closed, __ATOMIC_RELAXED);
        s.accept_err += __atomic_load_n(&c->accept_err, __ATOMIC_RELAXED);
        s.syn_data += __atomic_load_n(&c->syn_data, __ATOMIC_RELAXED);
    }
    fprintf(stderr,
            "{\"event\":\"%s\",\"accepted\":%" PRIu64 ",\"requests\":%" PRIu64
            ",\"bytes\":%" PRIu64 ",\"bytes_in\":%" PRIu64 ",\"open\":%" PRIu64
            ",\"closed_idle\":%" PRIu64 ",\"accept_errors\":%" PRIu64 ",\"syn_data\":%" PRIu64 "}\n",
            why, s.accepted, s.requests, s.bytes_out, s.bytes_in, s.accepted - s.closed,
            s.closed_idle, s.accept_err, s.syn_data);
    fflush(stderr);
}

static void usage(FILE *f)
{
    fputs("usage: target [--listen ADDR:PORT]... [--addrs A-B --port P]\n"
          "              [--threads N] [--response-size N] [--request-size N]\n"
          "              [--close-after-response] [--idle-close-secs S] [--banner STR]\n"
          "              [--duration S] [--backlog N] [--tfo QLEN] [--quiet]\n"
          "  line mode: a request is bytes up to \\n; a line starting with digits asks\n"
          "  for that many reply bytes, else --response-size (default 64).\n"
          "  --tfo QLEN: accept TCP Fast Open (needs net.ipv4.tcp_fastopen & 2).\n"
          "  SIGUSR1 prints counts (JSON on stderr); SIGINT/SIGTERM/--duration exit.\n"
          "  addresses: 127/8, ::1, 198.18.0.0/15 only.\n",
          f);
}

int main(int argc, char **argv)
{
    enum { O_LISTEN = 1, O_ADDRS, O_PORT, O_THREADS, O_RESP, O_REQ, O_CLOSE, O_IDLE,
           O_BANNER, O_DUR, O_BACKLOG, O_QUIET, O_HELP, O_TFO };
    static const struct option opts[] = {
        {"listen", 1, 0, O_LISTEN}, {"addrs", 1, 0, O_ADDRS}, {"port", 1, 0, O_PORT},
        {"threads", 1, 0, O_THREADS}, {"response-size", 1, 0, O_RESP},
        {"request-size", 1, 0, O_REQ}, {"close-after-response", 0, 0, O_CLOSE},
        {"idle-close-secs", 1, 0, O_IDLE}, {"banner", 1, 0, O_BANNER},
        {"duration", 1, 0, O_DUR}, {"backlog", 1, 0, O_BACKLOG}, {"quiet", 0, 0, O_QUIET},
        {"tfo", 1, 0, O_TFO}, {"help", 0, 0, O_HELP}, {0, 0, 0, 0}};
    const char *ranges[64];
    int nranges = 0;
    int port = -1;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case O_LISTEN: add_listen(optarg); break;
        case O_ADDRS:
            if (nranges >= 64) bench_die("too many --addrs");
            ranges[nranges++] = optarg;
            break;
        case O_PORT: port = parse_port(optarg); break;
        case O_THREADS: g_threads = atoi(optarg); break;
        case O_RESP: g_resp_size = strtoull(optarg, NULL, 10); break;
        case O_REQ: g_req_size = strtoull(optarg, NULL, 10); break;
        case O_CLOSE: g_close_after = 1; break;
        case O_IDLE: g_idle_secs = atoi(optarg); break;
        case O_BANNER: g_banner = optarg; g_banner_len = strlen(optarg); break;
        case O_DUR: g_duration = atof(optarg); break;
        case O_BACKLOG: g_backlog = atoi(optarg); break;
        case O_QUIET: g_quiet = 1; break;
        case O_TFO:
            g_tfo_qlen = atoi(optarg);
            if (g_tfo_qlen < 1) bench_die("--tfo wants a queue length >= 1");
            break;
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) { usage(stderr); return 2; }
    if (nranges && port < 0) bench_die("--addrs needs --port");
    for (int i = 0; i < nranges; i++) add_range(ranges[i], (uint16_t)port);
    if (!g_naddrs) { usage(stderr); return 2; }
    if (g_threads < 1 || g_threads > 64) bench_die("--threads must be 1..64");
    if (g_banner_len > UINT32_MAX) bench_die("banner too long");
    memset(g_fill, 'x', sizeof g_fill);
    if (g_tfo_qlen) {
        int v = -1;
        FILE *f = fopen("/proc/sys/net/ipv4/tcp_fastopen", "r");
        if (f) { if (fscanf(f, "%d", &v) != 1) v = -1; fclose(f); }
        if (v >= 0 && !(v & 2))
            fprintf(stderr, "target: warning: --tfo: net.ipv4.tcp_fastopen is %d, without the server bit (2): "
                            "SYNs with data get a plain handshake\n", v);
    }

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    /* signals: handled synchronously by the main thread only */
    sigset_t set;
    bench_block_signals(&set);
    signal(SIGPIPE, SIG_IGN);

    g_workers = calloc((size_t)g_threads, sizeof *g_workers);
    if (!g_workers) bench_die("out of memory");
    for (int i = 0; i < g_threads; i++) {
        worker_t *w = &g_workers[i];
        w->id = i;
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        if (w->ep < 0) bench_die("epoll_create1: %s", strerror(errno));
        w->lru.next = w->lru.prev = &w->lru;
        w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    for (int k = 0; k < g_naddrs; k++) {
        int fd = open_listener(&g_addrs[k]);
        for (int i = 0; i < g_threads; i++) {
            struct epoll_event e = {.events = EPOLLIN | (g_threads > 1 ? EPOLLEXCLUSIVE : 0),
                                    .data.u64 = LTAG | (uint64_t)fd};
            if (epoll_ctl(g_workers[i].ep, EPOLL_CTL_ADD, fd, &e) < 0)
                bench_die("epoll_ctl: %s", strerror(errno));
        }
    }
    for (int i = 0; i < g_threads; i++)
        if (pthread_create(&g_workers[i].th, NULL, worker_main, &g_workers[i]) != 0)
            bench_die("pthread_create failed");
    if (!g_quiet)
        fprintf(stderr, "target: ready pid=%d listeners=%d (%s%s) threads=%d response=%" PRIu64
                        " close_after=%d idle_close=%ds tfo=%d\n",
                (int)getpid(), g_naddrs, g_addrs[0].text, g_naddrs > 1 ? ",..." : "", g_threads,
                g_resp_size, g_close_after, g_idle_secs, g_tfo_qlen);

    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct timespec to = {0, 200 * 1000 * 1000};
        siginfo_t si;
        int sig = sigtimedwait(&set, &si, &to);
        if (sig == SIGUSR1) {
            print_counts("usr1");
            continue;
        }
        if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
            if (!g_quiet)
                fprintf(stderr, "target: signal %d (%s), exiting\n", sig, strsignal(sig));
            break;
        }
        if (g_duration > 0) {
            struct timespec t1;
            clock_gettime(CLOCK_MONOTONIC, &t1);
            double el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
            if (el >= g_duration)
                break;
        }
    }
    __atomic_store_n(&g_stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < g_threads; i++)
        pthread_join(g_workers[i].th, NULL);
    print_counts("exit");
    return 0;
}
