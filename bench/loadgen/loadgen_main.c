/* loadgen_main.c -- bench/loadgen: open-loop (and closed-loop) stream load
 * generator. This file: the flags, their checks, process setup, and the order
 * the modules run in.
 *
 * Each stream: TCP connect (to the SOCKS5 proxy, or straight to the target with
 * --direct), SOCKS5 no-auth greeting + CONNECT to the target in IP form, one
 * request line "<response-size>\n" (bench/target answers a line that starts
 * with digits with that many bytes), read --response-size bytes, close
 * (lg_tcp.c). With --anytls the streams ride AnyTLS sessions straight to the
 * server instead (lg_anytls.c). Arrivals: open or closed loop (lg_loop.c).
 *
 * Destinations: K targets (--targets FILE of "ip:port" lines, or --target-range
 * A-B:PORT), target i (1-based, in file order) drawn with probability
 * proportional to 1/i^s (--zipf s; 0 = uniform) (lg_target.c).
 *
 * Recorded per ok stream (bench/hist.h, ns, reported in us):
 *   connect = intended -> TCP connected        socks = intended -> CONNECT reply
 *   open    = intended -> first response byte  total = intended -> last byte
 *   lag     = intended -> actual socket() call (load generator health)
 * Errors by kind: connect, socks, timeout, short (EOF before all bytes), io, drop.
 * Failed streams are not dropped from the latency tail: open_all / total_all
 * (JSON open_all_us, total_all_us; CSV open_all_*, appended after label) hold
 * every measured arrival, each failed, timed-out or dropped one at the tail value
 * --timeout (it never opened within it), with "failed" = how many; open / total
 * remain the ok streams' alone. open_n / open_all_n: the samples behind each p99.
 *
 * One epoll thread per process. Capacity here (2 cores, idle, against
 * bench/target): ~50 us of CPU per stream, nearly all of it the kernel's
 * loopback TCP work for BOTH ends (softirq runs in the sender's context), so one
 * process saturates near 20k streams/s; --procs 2 sustained 25k/s open loop
 * (open p50 1.9 ms) (lg_shard.c). The JSON's lag_us (intended -> actual start)
 * and loadgen_cpu_util say when the generator itself is the limit; a warning is
 * printed when start lag p99 exceeds 1 ms.
 *
 * Output: one CSV line on stdout (--csv-header prints the header first) or one
 * JSON object (--json); progress once a second on stderr (lg_report.c).
 *
 * Build: make tools gives build/bench/loadgen, from the files in bench/loadgen/
 * and libanytls (for frame.c, padding.c and padwriter.c). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "loadgen.h"
#include "lg_anytls.h"
#include "lg_loop.h"
#include "lg_report.h"
#include "lg_rng.h"
#include "lg_shard.h"
#include "lg_stream.h"
#include "lg_target.h"

lg_config_t lg_cfg = {
    .rate = 1000, .duration = 10, .cap = 10000, .timeout = 10, .drain = -1,
    .zipf = 1.0, .seed = 1, .resp_size = 64, .procs = 1,
};
lg_state_t lg_st = {.shard = -1};

static void lg_main_usage(FILE *f)
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

/* What the flags say that is not a setting by itself. */
typedef struct lg_main_flags {
    const char *anytls_arg;
    int have_socks, have_rate;
} lg_main_flags_t;

/* Reads the flags into lg_cfg. Returns -1 to exit 0 (--help), 1 to exit 2
 * (usage error), 0 to run. */
static int lg_main_parse(int argc, char **argv, lg_main_flags_t *fl)
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
    lg_config_t *c = &lg_cfg;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case O_RATE: c->rate = atof(optarg); fl->have_rate = 1; break;
        case O_CLOSED: c->closed = atoi(optarg); break;
        case O_DUR: c->duration = atof(optarg); break;
        case O_MAXS: c->max_streams = strtoull(optarg, NULL, 10); break;
        case O_CAP: c->cap = atoi(optarg); break;
        case O_TGTS: lg_target_load(optarg); break;
        case O_TRANGE: lg_target_add_range(optarg); break;
        case O_ZIPF: c->zipf = atof(optarg); break;
        case O_SOCKS:
            if (lg_target_parse(optarg, &c->proxy) < 0) bench_die("bad --socks '%s'", optarg);
            fl->have_socks = 1;
            break;
        case O_DIRECT: c->proto = PROTO_DIRECT; break;
        case O_ANYTLS: c->proto = PROTO_ANYTLS; fl->anytls_arg = optarg; break;
        case O_PASS: c->at_pass = optarg; break;
        case O_ATNEW: c->at_new_session = 1; break;
        case O_PROCS: c->procs = atoi(optarg); break;
        case O_ATSESS:
            c->at_nmux = atoi(optarg);
            if (c->at_nmux < 1) bench_die("--anytls-sessions must be >= 1");
            break;
        case O_HOLD: c->at_hold_idle = atof(optarg); break;
        case O_RESP: c->resp_size = strtoull(optarg, NULL, 10); break;
        case O_REQ: c->req_size = atoi(optarg); break;
        case O_TIMEOUT: c->timeout = atof(optarg); break;
        case O_DRAIN: c->drain = atof(optarg); break;
        case O_WARM: c->warmup = atof(optarg); break;
        case O_PIPE: c->socks_pipeline = 1; break;
        case O_RST: c->rst_close = 1; break;
        case O_SEED: c->seed = strtoull(optarg, NULL, 10); break;
        case O_HDR: c->csv_header = 1; break;
        case O_JSON: c->json = 1; break;
        case O_QUIET: c->quiet = 1; break;
        case O_LABEL: c->label = optarg; break;
        case O_HELP: lg_main_usage(stdout); return -1;
        default: lg_main_usage(stderr); return 1;
        }
    }
    if (optind < argc) { lg_main_usage(stderr); return 1; }
    return 0;
}

/* Refuses flag combinations that make no sense; fills in derived defaults. */
static void lg_main_check(const lg_main_flags_t *fl)
{
    lg_config_t *c = &lg_cfg;
    if (c->proto == PROTO_ANYTLS) lg_at_parse(fl->anytls_arg);
    if ((c->at_nmux || c->at_hold_idle) && c->proto != PROTO_ANYTLS)
        bench_die("--anytls-sessions and --hold-idle need --anytls");
    if (c->at_nmux && c->at_new_session) bench_die("--anytls-sessions and --anytls-new-session exclude each other");
    if (c->at_hold_idle < 0 || c->at_hold_idle > 3600) bench_die("--hold-idle must be in [0, 3600]");
    if (c->at_nmux && c->procs > c->at_nmux) bench_die("--anytls-sessions must be >= --procs");
    if (!c->ntargets) bench_die("no targets: use --target-range A-B:PORT or --targets FILE");
    if (c->proto == PROTO_SOCKS5 && !fl->have_socks) bench_die("need --socks HOST:PORT (or --direct)");
    if (c->closed < 0 || (c->closed && fl->have_rate)) bench_die("use either --rate or --closed-loop");
    if (!c->closed && !(c->rate > 0)) bench_die("--rate must be > 0");
    if (!(c->duration > 0) || c->duration > 86400) bench_die("--duration must be in (0, 86400]");
    if (c->timeout <= 0) bench_die("--timeout must be > 0");
    if (c->drain < 0) c->drain = c->timeout;
    if (c->resp_size > (1ull << 40)) bench_die("--response-size too large");
    if (c->req_size > 256) bench_die("--request-size at most 256");
    if (c->label && c->label[strcspn(c->label, "\",\\\n")])
        bench_die("--label must not contain quotes, commas, backslashes or newlines");

    /* file descriptors bound the in-flight streams */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
        long maxcap = (long)rl.rlim_cur - 32;
        if (c->cap > maxcap) {
            fprintf(stderr, "loadgen: --concurrency-cap lowered %d -> %ld (RLIMIT_NOFILE)\n",
                    c->cap, maxcap);
            c->cap = (int)maxcap;
        }
    }
    if (c->closed > c->cap) bench_die("--closed-loop %d exceeds the concurrency cap %d", c->closed, c->cap);
    if (c->cap < 1) bench_die("--concurrency-cap must be >= 1");

    if (c->procs < 1 || c->procs > 64) bench_die("--procs must be 1..64");
    if (c->procs > 1 && c->closed && c->closed < c->procs) bench_die("--closed-loop must be >= --procs");
}

static void lg_main_on_sigint(int sig) { (void)sig; lg_st.interrupted = 1; }

/* This process (a shard, or the only one): randomness, transport, signals,
 * streams, epoll, and the clock marks of the run. */
static void lg_main_setup(void)
{
    lg_state_t *g = &lg_st;
    lg_rng_seed(lg_cfg.seed);
    if (lg_cfg.proto == PROTO_ANYTLS) lg_at_init();
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = lg_main_on_sigint};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    lg_stream_init();
    g->ep = epoll_create1(EPOLL_CLOEXEC);
    if (g->ep < 0) bench_die("epoll_create1: %s", strerror(errno));

    if (g->t_begin_fixed) {
        uint64_t t0 = bench_now_ns();
        if (t0 < g->t_begin_fixed) {
            struct timespec d = {0, (long)(g->t_begin_fixed - t0)};
            nanosleep(&d, NULL);
        }
        g->t_begin = g->t_begin_fixed;
    } else {
        g->t_begin = bench_now_ns();
    }
    g->cpu_begin = lg_report_cpu_ns();
    g->t_meas = g->t_begin + (uint64_t)(lg_cfg.warmup * 1e9);
}

int main(int argc, char **argv)
{
    lg_main_flags_t fl = {0};
    int r = lg_main_parse(argc, argv, &fl);
    if (r) return r < 0 ? 0 : 2;
    lg_main_check(&fl);
    lg_report_init();
    lg_target_zipf_init();
    if (lg_cfg.procs > 1)
        lg_shard_fork();       /* the parent never returns */
    lg_main_setup();
    lg_loop_run();
    lg_at_hold_idle();
    if (lg_st.shard >= 0) {
        lg_shard_save();
        fflush(stderr);
        _exit(0);
    }
    lg_report_finish(lg_report_cpu_ns() - lg_st.cpu_begin);
    return 0;
}
