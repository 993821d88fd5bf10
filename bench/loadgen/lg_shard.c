/* lg_shard.c -- --procs: fork, share out, merge (lg_shard.h). */
#include "lg_shard.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loadgen.h"
#include "lg_report.h"

/* Set by the parent's INT/TERM handler; the parent's loop forwards it. */
static volatile sig_atomic_t lg_shard_sig;
static void lg_shard_on_sig(int sig) { lg_shard_sig = sig; }

static uint64_t lg_shard_err_sum(void)
{
    uint64_t e = 0;
    for (int k = 0; k < E_NKINDS; k++) e += lg_st.n.err[k];
    return e;
}

void lg_shard_publish(void)
{
    lg_shard_t *x = &lg_st.shards[lg_st.shard];
    x->p_arr = lg_st.n.arrivals;
    x->p_ok = lg_st.n.ok;
    x->p_live = lg_st.live;
    x->p_err = lg_shard_err_sum();
}

void lg_shard_save(void)
{
    lg_shard_t *x = &lg_st.shards[lg_st.shard];
    x->n = lg_st.n;
    x->t_end_arrivals = lg_st.t_end_arrivals;
    x->t_last_done = lg_st.t_last_done;
    x->cpu = lg_report_cpu_ns() - lg_st.cpu_begin;
    for (int k = 0; k < H_NRUN; k++) x->h[k] = *lg_st.h[k];
    __atomic_store_n(&x->finished, 1, __ATOMIC_RELEASE);
}

/* In child i of np: its share of the load. */
static void lg_shard_share(int i, int np)
{
    lg_config_t *c = &lg_cfg;
    c->cap = c->cap / np > 0 ? c->cap / np : 1;
    if (c->closed) c->closed = c->closed / np + (i < c->closed % np);
    else c->rate /= np;
    if (c->at_nmux) c->at_nmux = c->at_nmux / np + (i < c->at_nmux % np);
    uint64_t maxs = c->max_streams;
    if (maxs) {
        c->max_streams = maxs / (uint64_t)np + ((uint64_t)i < maxs % (uint64_t)np);
        if (!c->max_streams) c->max_streams = 0, c->duration = 1e-9; /* nothing to do */
    }
    c->seed = c->seed * 1000003u + (uint64_t)i;
}

static void lg_shard_add(lg_counts_t *to, const lg_counts_t *from)
{
    to->arrivals += from->arrivals;
    to->ok += from->ok;
    to->ok_meas += from->ok_meas;
    for (int k = 0; k < E_NKINDS; k++) {
        to->err[k] += from->err[k];
        to->err_meas[k] += from->err_meas[k];
    }
    to->socks_rep_bad += from->socks_rep_bad;
    to->at_opened += from->at_opened;
    to->at_reused += from->at_reused;
    to->at_synack_err += from->at_synack_err;
    to->at_alerts += from->at_alerts;
}

/* Parent: waits for the children, forwarding INT/TERM (by pid), with merged
 * progress once a second. */
static void lg_shard_wait(pid_t *pids, int np)
{
    struct sigaction sa = {.sa_handler = lg_shard_on_sig};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int left = np, fwd = 0;
    uint64_t t_prog = lg_st.t_begin_fixed + 1000000000ull, pa = 0, po = 0, pe = 0;
    while (left > 0) {
        if (lg_shard_sig && !fwd) {
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
        if (!lg_cfg.quiet && t >= t_prog) {
            uint64_t a = 0, o = 0, e = 0;
            int lv = 0;
            for (int i = 0; i < np; i++) {
                const lg_shard_t *x = &lg_st.shards[i];
                a += x->p_arr; o += x->p_ok; e += x->p_err;
                lv += x->p_live;
            }
            lg_report_progress_procs(t, a - pa, o - po, e - pe, lv);
            pa = a; po = o; pe = e;
            t_prog += 1000000000ull;
        }
        usleep(20000);
    }
}

/* Parent: the children's results into lg_st, as if one process had run. */
static uint64_t lg_shard_merge(int np)
{
    lg_state_t *g = &lg_st;
    uint64_t cpu = 0;
    g->t_begin = g->t_begin_fixed;
    g->t_meas = g->t_begin + (uint64_t)(lg_cfg.warmup * 1e9);
    g->t_end_arrivals = 0;
    g->t_last_done = 0;
    for (int i = 0; i < np; i++) {
        const lg_shard_t *x = &g->shards[i];
        if (!x->finished) bench_die("worker %d left no result", i);
        lg_shard_add(&g->n, &x->n);
        if (x->t_end_arrivals > g->t_end_arrivals) g->t_end_arrivals = x->t_end_arrivals;
        if (x->t_last_done > g->t_last_done) g->t_last_done = x->t_last_done;
        cpu += x->cpu;
        for (int k = 0; k < H_NRUN; k++) hist_merge(g->h[k], &x->h[k]);
    }
    return cpu;
}

void lg_shard_fork(void)
{
    int np = lg_cfg.procs;
    lg_st.shards = mmap(NULL, (size_t)np * sizeof(lg_shard_t), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (lg_st.shards == MAP_FAILED) bench_die("mmap: %s", strerror(errno));
    lg_st.t_begin_fixed = bench_now_ns() + 50000000ull;   /* everyone starts together */
    pid_t *pids = calloc((size_t)np, sizeof *pids);
    if (!pids) bench_die("out of memory");
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; i < np; i++) {
        pid_t p = fork();
        if (p < 0) bench_die("fork: %s", strerror(errno));
        if (p == 0) {
            lg_st.shard = i;
            lg_shard_share(i, np);
            free(pids);
            return;
        }
        pids[i] = p;
    }
    lg_shard_wait(pids, np);
    free(pids);
    lg_report_finish(lg_shard_merge(np));
    exit(0);
}
