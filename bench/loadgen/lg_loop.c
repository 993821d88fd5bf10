/* lg_loop.c -- arrivals, the epoll loop, timeouts, drain (lg_loop.h). */
#include "lg_loop.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/epoll.h>

#include "loadgen.h"
#include "lg_anytls.h"
#include "lg_report.h"
#include "lg_rng.h"
#include "lg_shard.h"
#include "lg_stream.h"
#include "lg_tcp.h"

/* A stream intended at t_int, starting now (t), on its transport. */
static void lg_loop_start(uint64_t t_int, uint64_t t)
{
    int32_t i = lg_stream_new(t_int, t);
    if (i < 0) return;
    if (lg_cfg.proto == PROTO_ANYTLS) lg_at_stream_start(i, t);
    else lg_tcp_start(i);
}

static void lg_loop_dispatch(const struct epoll_event *evs, int n, uint64_t t)
{
    for (int k = 0; k < n; k++) {
        uint64_t u = evs[k].data.u64;
        if (k) t = bench_now_ns();   /* each event timed when handled, not per batch */
        if (u & LG_SESS_TAG) lg_at_event(u, evs[k].events, t);
        else lg_tcp_event(u, evs[k].events, t);
    }
}

void lg_loop_run(void)
{
    const lg_config_t *c = &lg_cfg;
    lg_state_t *g = &lg_st;
    uint64_t t_stop = g->t_meas + (uint64_t)(c->duration * 1e9);
    uint64_t t_next = g->t_begin;      /* next intended arrival (open loop) */
    uint64_t t_prog = g->t_begin + 1000000000ull;
    uint64_t timeout_ns = (uint64_t)(c->timeout * 1e9);
    double mean_gap_ns = c->closed ? 0 : 1e9 / c->rate;
    int arriving = 1;
    uint64_t t_drain_end = 0;
    struct epoll_event evs[512];

    for (;;) {
        uint64_t t = bench_now_ns();
        /* arrivals */
        if (arriving) {
            if (c->closed) {
                /* bounded per pass: a stream can end inside lg_loop_start
                 * (an error, or nothing to read), and events must still run */
                for (int b = 0; b < 256 && g->live < c->closed && t < t_stop && !g->interrupted &&
                                (!c->max_streams || g->n.arrivals < c->max_streams); b++) {
                    lg_loop_start(t, t);
                    t = bench_now_ns();
                }
            } else {
                int batch = 0;
                while (t_next <= t && batch < 256 && t_next < t_stop &&
                       (!c->max_streams || g->n.arrivals < c->max_streams)) {
                    lg_loop_start(t_next, t);
                    t_next += (uint64_t)(-log(1.0 - lg_rng_u01()) * mean_gap_ns);
                    batch++;
                    if ((batch & 15) == 0) t = bench_now_ns();
                }
            }
            t = bench_now_ns();
            if (t >= t_stop || g->interrupted || (c->max_streams && g->n.arrivals >= c->max_streams) ||
                (!c->closed && t_next >= t_stop)) {
                arriving = 0;
                g->t_end_arrivals = (!c->closed && t_next >= t_stop && t < t_stop) ? t_stop : t;
                if (g->t_end_arrivals < g->t_meas) g->t_end_arrivals = g->t_meas;
                t_drain_end = t + (uint64_t)(c->drain * 1e9);
            }
        }
        if (!arriving && (g->live == 0 || t >= t_drain_end || g->interrupted > 1))
            break;

        /* wait: until the next arrival, or at most 10 ms (timeouts, progress) */
        int64_t wait_ns = 10000000;
        if (arriving && !c->closed) {
            int64_t d = (int64_t)(t_next - t);
            if (t_next <= t) d = 0;
            if (d < wait_ns) wait_ns = d;
        }
        struct timespec to = {wait_ns / 1000000000, wait_ns % 1000000000};
        int n = epoll_pwait2(g->ep, evs, 512, &to, NULL);
        if (n < 0 && errno != EINTR) bench_die("epoll_pwait2: %s", strerror(errno));
        t = bench_now_ns();
        lg_loop_dispatch(evs, n, t);
        lg_stream_expire(t, timeout_ns);
        if (g->shard >= 0) lg_shard_publish();
        if (t >= t_prog) {
            if (!c->quiet && g->shard < 0) lg_report_progress(t);
            t_prog += 1000000000ull;
            if (t_prog < t) t_prog = t + 1000000000ull;
        }
    }
    /* whatever is still in flight at the end of the drain has timed out */
    lg_stream_expire(bench_now_ns(), 0);
}
