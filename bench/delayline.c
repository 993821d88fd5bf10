/* delayline.c -- RTT emulation without netem: a forwarder between two TUN devices.
 *
 * Opens (creates) two TUN devices (IFF_TUN | IFF_NO_PI), A and B. Every IP packet
 * read from A is written to B after --delay-us (and B to A likewise), so a TCP
 * handshake across the pair pays the full round trip: SYN (one way) + SYN-ACK
 * (the other way). experiments/netns.sh moves B into a network namespace and
 * routes a target prefix through the pair.
 *
 * The delay is constant per direction, so each direction is a FIFO: release time
 * = arrival + delay, packets leave in arrival order. One thread, ppoll with a
 * nanosecond timeout to the next release, timer slack set to 1 ns.
 *
 * --drop-dst ADDR (up to 8): IPv4 packets from A to ADDR are read and dropped,
 * never forwarded: a blackholed host, whose connects hang until they time out.
 *
 * Usage:
 *   delayline --dev-a NAME --dev-b NAME (--rtt-ms X | --delay-us US)
 *             [--delay-ba-us US] [--mtu N] [--max-queue N] [--drop-dst ADDR]...
 * Prints "delayline: ready ..." on stdout once both devices exist (the devices
 * vanish when this process exits: they are not persistent). SIGUSR1 prints
 * counters as a JSON line on stderr; SIGINT/SIGTERM exit (counters printed).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define BENCH_PROG "delayline"
#include "bench_util.h"

typedef struct pkt {
    uint64_t due;
    uint32_t len;
    uint32_t cap;
    uint8_t *buf;
} pkt_t;

/* One direction: packets read from `in` wait in a FIFO ring, then go to `out`. */
typedef struct dir {
    const char *name;
    int in, out;
    uint64_t delay;
    pkt_t *ring;
    uint32_t mask, head, tail;  /* head: next to send; tail: next free */
    uint64_t fwd, bytes, drop_full, drop_write, trunc, max_q, drop_dst;
    const uint32_t *blackhole;  /* IPv4 destinations (network order) dropped */
    int nblackhole;
} dir_t;

static int blackholed(const dir_t *d, const uint8_t *pkt, size_t n)
{
    if (!d->nblackhole || n < 20 || (pkt[0] >> 4) != 4) return 0;
    uint32_t dst;
    memcpy(&dst, pkt + 16, 4);
    for (int i = 0; i < d->nblackhole; i++)
        if (d->blackhole[i] == dst) return 1;
    return 0;
}

static volatile sig_atomic_t g_usr1, g_stop;
static void on_sig(int s) { if (s == SIGUSR1) g_usr1 = 1; else g_stop = 1; }

static int tun_open(const char *name)
{
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) bench_die("open /dev/net/tun: %s", strerror(errno));
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    if (strlen(name) >= IFNAMSIZ) bench_die("device name '%s' too long (max %d)", name, IFNAMSIZ - 1);
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) bench_die("TUNSETIFF %s: %s", name, strerror(errno));
    return fd;
}

static uint32_t g_bufsz;

/* Reads every packet waiting on d->in into the ring (up to a batch). */
static void drain_in(dir_t *d, uint64_t t)
{
    for (int n = 0; n < 1024; n++) {
        if (d->tail - d->head > d->mask) {
            /* ring full: read and drop so the device does not back up */
            uint8_t junk[65536];
            ssize_t k = read(d->in, junk, sizeof junk);
            if (k <= 0) return;
            d->drop_full++;
            continue;
        }
        pkt_t *p = &d->ring[d->tail & d->mask];
        if (!p->buf) {
            p->buf = malloc(g_bufsz);
            if (!p->buf) bench_die("out of memory");
            p->cap = g_bufsz;
        }
        ssize_t k = read(d->in, p->buf, p->cap);
        if (k < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) fprintf(stderr, "delayline: read %s: %s\n", d->name, strerror(errno));
            return;
        }
        if (k == 0) return;
        if (blackholed(d, p->buf, (size_t)k)) { d->drop_dst++; continue; }
        if ((uint32_t)k >= p->cap) d->trunc++;   /* MTU above --mtu: packet cut */
        p->len = (uint32_t)k;
        p->due = t + d->delay;
        d->tail++;
        uint64_t q = d->tail - d->head;
        if (q > d->max_q) d->max_q = q;
    }
}

/* Writes every packet whose time has come. Returns the next due time or 0. */
static uint64_t release(dir_t *d, uint64_t t)
{
    while (d->head != d->tail) {
        pkt_t *p = &d->ring[d->head & d->mask];
        if (p->due > t) return p->due;
        ssize_t k = write(d->out, p->buf, p->len);
        if (k < 0) {
            if (errno == EINTR) continue;
            d->drop_write++;     /* EAGAIN / EIO (device down): drop like a wire */
        } else {
            d->fwd++;
            d->bytes += p->len;
        }
        d->head++;
    }
    return 0;
}

static void stats(const dir_t *ab, const dir_t *ba, const char *ev)
{
    fprintf(stderr,
            "{\"event\":\"%s\",\"delay_ab_us\":%.1f,\"delay_ba_us\":%.1f,"
            "\"ab\":{\"pkts\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"queued\":%u,\"max_queue\":%" PRIu64
            ",\"drop_full\":%" PRIu64 ",\"drop_write\":%" PRIu64 ",\"truncated\":%" PRIu64
            ",\"drop_dst\":%" PRIu64 "},"
            "\"ba\":{\"pkts\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"queued\":%u,\"max_queue\":%" PRIu64
            ",\"drop_full\":%" PRIu64 ",\"drop_write\":%" PRIu64 ",\"truncated\":%" PRIu64 "}}\n",
            ev, (double)ab->delay / 1e3, (double)ba->delay / 1e3, ab->fwd, ab->bytes,
            ab->tail - ab->head, ab->max_q, ab->drop_full, ab->drop_write, ab->trunc, ab->drop_dst, ba->fwd,
            ba->bytes, ba->tail - ba->head, ba->max_q, ba->drop_full, ba->drop_write, ba->trunc);
    fflush(stderr);
}

static void usage(FILE *f)
{
    fputs("usage: delayline --dev-a NAME --dev-b NAME (--rtt-ms X | --delay-us US)\n"
          "                 [--delay-ba-us US] [--mtu N] [--max-queue N] [--drop-dst ADDR]...\n"
          "  forwards IP packets A<->B, each held for the one-way delay (RTT/2);\n"
          "  packets from A to a --drop-dst IPv4 address are dropped (a blackhole).\n", f);
}

int main(int argc, char **argv)
{
    enum { O_A = 1, O_B, O_RTT, O_DELAY, O_DELAY_BA, O_MTU, O_MAXQ, O_DROP, O_HELP };
    static const struct option opts[] = {
        {"dev-a", 1, 0, O_A}, {"dev-b", 1, 0, O_B}, {"rtt-ms", 1, 0, O_RTT},
        {"delay-us", 1, 0, O_DELAY}, {"delay-ba-us", 1, 0, O_DELAY_BA}, {"mtu", 1, 0, O_MTU},
        {"max-queue", 1, 0, O_MAXQ}, {"drop-dst", 1, 0, O_DROP}, {"help", 0, 0, O_HELP},
        {0, 0, 0, 0}};
    static uint32_t drops[8];
    int ndrops = 0;
    const char *a = NULL, *b = NULL;
    double delay_us = -1, delay_ba_us = -1;
    long mtu = 1500, maxq = 65536;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case O_A: a = optarg; break;
        case O_B: b = optarg; break;
        case O_RTT: delay_us = atof(optarg) * 1000.0 / 2.0; break;
        case O_DELAY: delay_us = atof(optarg); break;
        case O_DELAY_BA: delay_ba_us = atof(optarg); break;
        case O_MTU: mtu = atol(optarg); break;
        case O_MAXQ: maxq = atol(optarg); break;
        case O_DROP:
            if (ndrops == 8) bench_die("at most 8 --drop-dst");
            if (inet_pton(AF_INET, optarg, &drops[ndrops]) != 1) bench_die("--drop-dst: bad IPv4 address '%s'", optarg);
            ndrops++;
            break;
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!a || !b || delay_us < 0 || optind < argc) { usage(stderr); return 2; }
    if (delay_ba_us < 0) delay_ba_us = delay_us;
    if (delay_us > 60e6 || delay_ba_us > 60e6) bench_die("delay above 60 s");
    if (mtu < 576 || mtu > 65535) bench_die("--mtu must be 576..65535");
    if (maxq < 16 || maxq > (1 << 22)) bench_die("--max-queue must be 16..4194304");
    uint32_t ring = 16;
    while (ring < (uint32_t)maxq) ring <<= 1;
    g_bufsz = (uint32_t)mtu + 1;   /* one spare byte detects a cut (too-big) packet */

    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    struct sigaction sa = {.sa_handler = on_sig};
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* signals stay blocked except inside ppoll, so none is lost between the
     * flag checks and the wait */
    sigset_t blk;
    bench_block_signals(&blk);

    int fa = tun_open(a), fb = tun_open(b);
    dir_t ab = {.name = a, .in = fa, .out = fb, .delay = (uint64_t)(delay_us * 1000.0),
                .blackhole = drops, .nblackhole = ndrops};
    dir_t ba = {.name = b, .in = fb, .out = fa, .delay = (uint64_t)(delay_ba_us * 1000.0)};
    ab.ring = calloc(ring, sizeof(pkt_t));
    ba.ring = calloc(ring, sizeof(pkt_t));
    if (!ab.ring || !ba.ring) bench_die("out of memory");
    ab.mask = ba.mask = ring - 1;

    printf("delayline: ready pid=%d a=%s b=%s delay_ab_us=%.1f delay_ba_us=%.1f mtu=%ld\n",
           (int)getpid(), a, b, delay_us, delay_ba_us, mtu);
    fflush(stdout);

    sigset_t none;
    sigemptyset(&none);
    while (!g_stop) {
        uint64_t t = bench_now_ns();
        uint64_t n1 = release(&ab, t), n2 = release(&ba, t);
        uint64_t next = n1 && n2 ? (n1 < n2 ? n1 : n2) : (n1 ? n1 : n2);
        struct timespec to, *top = NULL;
        if (next) {
            uint64_t d = next > t ? next - t : 0;
            to.tv_sec = (time_t)(d / 1000000000ull);
            to.tv_nsec = (long)(d % 1000000000ull);
            top = &to;
        }
        struct pollfd pf[2] = {{fa, POLLIN, 0}, {fb, POLLIN, 0}};
        int n = ppoll(pf, 2, top, &none);
        if (n < 0 && errno != EINTR) bench_die("ppoll: %s", strerror(errno));
        if (g_usr1) { g_usr1 = 0; stats(&ab, &ba, "usr1"); }
        if (n <= 0) continue;
        t = bench_now_ns();
        if (pf[0].revents & POLLIN) drain_in(&ab, t);
        if (pf[1].revents & POLLIN) drain_in(&ba, t);
        if ((pf[0].revents | pf[1].revents) & (POLLERR | POLLNVAL))
            bench_die("device error (a=%#x b=%#x)", pf[0].revents, pf[1].revents);
    }
    stats(&ab, &ba, "exit");
    return 0;
}
