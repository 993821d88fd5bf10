/* lg_report.c -- progress, summary and the CSV/JSON result (lg_report.h). */
#include "lg_report.h"

#include <inttypes.h>
#include <sys/resource.h>

#include "loadgen.h"
#include "lg_stream.h"

static const char *lg_report_ek_name[E_NKINDS] = {"connect", "socks", "timeout", "short", "io", "drop"};

static const char *LG_REPORT_CSV_HEADER =
    "offered_rate,duration_s,streams_ok,errors,achieved_rate,open_p50_us,open_p90_us,"
    "open_p99_us,open_max_us,total_p50_us,total_p99_us,"
    "mode,targets,zipf,connect_p50_us,connect_p99_us,lag_p99_us,"
    "err_connect,err_socks,err_timeout,err_short,err_io,drops,label,"
    "open_all_p50_us,open_all_p99_us,open_all_p999_us,total_all_p99_us,open_n,open_all_n,"
    "failed_in_tail,tail_value_us";

void lg_report_init(void)
{
    for (int k = 0; k < H_N; k++) {
        lg_st.h[k] = malloc(sizeof(hist_t));
        if (!lg_st.h[k]) bench_die("out of memory");
        hist_init(lg_st.h[k]);
    }
}

/* On loopback most of a stream's kernel TCP work, both ends, runs in the
 * sending process's context: this shows whether the load generator itself is
 * near saturation. */
uint64_t lg_report_cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

static double lg_report_us(uint64_t ns) { return (double)ns / 1000.0; }
static double lg_report_pct(int h, double p) { return lg_report_us(hist_percentile(lg_st.h[h], p)); }

static uint64_t lg_report_err_meas(void)
{
    uint64_t e = 0;
    for (int k = 0; k < E_NKINDS; k++) e += lg_st.n.err_meas[k];
    return e;
}

static uint64_t lg_report_err_all(void)
{
    uint64_t e = 0;
    for (int k = 0; k < E_NKINDS; k++) e += lg_st.n.err[k];
    return e;
}

static void lg_report_json(const char *mode, double offered, double window, double span,
                           double achieved, uint64_t cpu, uint64_t t_fin)
{
    const lg_config_t *c = &lg_cfg;
    const lg_counts_t *n = &lg_st.n;
    printf("{\"mode\":\"%s\",\"label\":\"%s\",\"offered_rate\":%.1f,\"closed_loop\":%d,"
           "\"duration_s\":%.3f,\"drain_s\":%.3f,\"targets\":%d,\"zipf\":%.3f,"
           "\"response_size\":%" PRIu64 ",\"arrivals\":%" PRIu64 ",\"streams_ok\":%" PRIu64
           ",\"errors\":%" PRIu64 ",\"achieved_rate\":%.1f,\"errors_by_kind\":{",
           mode, c->label ? c->label : "", offered, c->closed, window, span - window,
           c->ntargets, c->zipf, c->resp_size, n->arrivals, n->ok_meas, lg_report_err_meas(), achieved);
    for (int k = 0; k < E_NKINDS; k++)
        printf("%s\"%s\":%" PRIu64, k ? "," : "", lg_report_ek_name[k], n->err_meas[k]);
    uint64_t wall = t_fin - lg_st.t_begin;
    printf("},\"procs\":%d,\"loadgen_cpu_util\":%.3f,\"loadgen_cpu_us_per_stream\":%.2f",
           c->procs, wall ? (double)cpu / (double)wall : 0.0,
           n->arrivals ? (double)cpu / 1000.0 / (double)n->arrivals : 0.0);
    if (c->proto == PROTO_ANYTLS)
        printf(",\"anytls\":{\"sessions_opened\":%" PRIu64 ",\"sessions_reused\":%" PRIu64
               ",\"synack_errors\":%" PRIu64 ",\"alerts\":%" PRIu64 ",\"mux_sessions\":%d}",
               n->at_opened, n->at_reused, n->at_synack_err, n->at_alerts, c->at_nmux);
    printf(",\"warmup\":{\"ok\":%" PRIu64 ",\"errors\":%" PRIu64 "}", n->ok - n->ok_meas,
           lg_report_err_all() - lg_report_err_meas());
    /* open_us, total_us: ok streams only (as before). open_all_us, total_all_us:
     * every measured arrival, failures at tail_us ("failed" of them). */
    static const char *names[H_NRUN] = {"connect", "socks", "open", "total", "lag", "open_all", "total_all"};
    for (int k = 0; k < H_NRUN; k++) {
        const hist_t *h = lg_st.h[k];
        printf(",\"%s_us\":{\"n\":%" PRIu64 ",\"min\":%.1f,\"mean\":%.1f,\"p50\":%.1f,"
               "\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f",
               names[k], h->count, h->count ? lg_report_us(h->min) : 0.0, hist_mean(h) / 1000.0,
               lg_report_pct(k, 50), lg_report_pct(k, 90), lg_report_pct(k, 99),
               lg_report_pct(k, 99.9), lg_report_us(h->max));
        if (k == H_OPEN_ALL || k == H_TOTAL_ALL)
            printf(",\"failed\":%" PRIu64 ",\"tail_us\":%.1f", lg_report_err_meas(),
                   lg_report_us(lg_stream_tail_ns()));
        printf("}");
    }
    printf("}\n");
}

static void lg_report_csv(const char *mode, double offered, double window, double achieved)
{
    const lg_config_t *c = &lg_cfg;
    if (c->csv_header) puts(LG_REPORT_CSV_HEADER);
    printf("%.1f,%.3f,%" PRIu64 ",%" PRIu64 ",%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,"
           "%s,%d,%.3f,%.1f,%.1f,%.1f,",
           offered, window, lg_st.n.ok_meas, lg_report_err_meas(), achieved,
           lg_report_pct(H_OPEN, 50), lg_report_pct(H_OPEN, 90), lg_report_pct(H_OPEN, 99),
           lg_report_us(lg_st.h[H_OPEN]->max), lg_report_pct(H_TOTAL, 50),
           lg_report_pct(H_TOTAL, 99), mode, c->ntargets, c->zipf, lg_report_pct(H_CONN, 50),
           lg_report_pct(H_CONN, 99), lg_report_pct(H_LAG, 99));
    for (int k = 0; k < E_NKINDS; k++) printf("%" PRIu64 ",", lg_st.n.err_meas[k]);
    printf("%s,", c->label ? c->label : "");
    /* appended columns: failure-inclusive percentiles and the counts behind them */
    printf("%.1f,%.1f,%.1f,%.1f,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.1f\n",
           lg_report_pct(H_OPEN_ALL, 50), lg_report_pct(H_OPEN_ALL, 99), lg_report_pct(H_OPEN_ALL, 99.9),
           lg_report_pct(H_TOTAL_ALL, 99), lg_st.h[H_OPEN]->count, lg_st.h[H_OPEN_ALL]->count,
           lg_report_err_meas(), lg_report_us(lg_stream_tail_ns()));
}

/* The result on stdout. */
static void lg_report_result(uint64_t cpu)
{
    const lg_config_t *c = &lg_cfg;
    const lg_state_t *g = &lg_st;
    double window = (double)(g->t_end_arrivals - g->t_meas) / 1e9;
    uint64_t t_fin = g->t_last_done > g->t_end_arrivals ? g->t_last_done : g->t_end_arrivals;
    double span = (double)(t_fin - g->t_meas) / 1e9;
    double achieved = span > 0 ? (double)g->n.ok_meas / span : 0;
    char mode[32];
    const char *pname = c->proto == PROTO_DIRECT ? "direct" : c->proto == PROTO_ANYTLS ? "anytls" : "socks";
    if (c->closed) snprintf(mode, sizeof mode, "%s-closed%d", pname, c->closed);
    else snprintf(mode, sizeof mode, "%s-open", pname);
    double offered = c->closed ? 0 : c->rate;
    if (c->json) lg_report_json(mode, offered, window, span, achieved, cpu, t_fin);
    else lg_report_csv(mode, offered, window, achieved);
    fflush(stdout);
}

void lg_report_progress(uint64_t t)
{
    static uint64_t last_arr, last_t, last_cpu;
    lg_state_t *g = &lg_st;
    if (!last_t) { last_t = g->t_begin; last_cpu = g->cpu_begin; }
    uint64_t c = lg_report_cpu_ns();
    double el = (double)(t - g->t_begin) / 1e9;
    fprintf(stderr,
            "[%6.1fs] started/s %" PRIu64 " ok/s %" PRIu64 " err/s %" PRIu64 " inflight %d"
            " open p50 %.0fus p99 %.0fus cpu %.0f%%\n",
            el, g->n.arrivals - last_arr, g->iv_ok, g->iv_err, g->live, lg_report_pct(H_IV_OPEN, 50),
            lg_report_pct(H_IV_OPEN, 99), 100.0 * (double)(c - last_cpu) / (double)(t - last_t));
    last_arr = g->n.arrivals;
    last_t = t;
    last_cpu = c;
    g->iv_ok = g->iv_err = 0;
    hist_init(g->h[H_IV_OPEN]);
}

void lg_report_progress_procs(uint64_t t, uint64_t started, uint64_t ok, uint64_t err,
                              int inflight)
{
    fprintf(stderr, "[%6.1fs] started/s %" PRIu64 " ok/s %" PRIu64 " err/s %" PRIu64
                    " inflight %d (%d procs)\n",
            (double)(t - lg_st.t_begin_fixed) / 1e9, started, ok, err, inflight, lg_cfg.procs);
}

void lg_report_finish(uint64_t cpu)
{
    const lg_config_t *c = &lg_cfg;
    const lg_counts_t *n = &lg_st.n;
    int procs = c->procs > 1;
    if (!c->quiet) {
        if (procs)
            fprintf(stderr, "loadgen: %d procs: arrivals %" PRIu64 " ok %" PRIu64 " (measured %" PRIu64 ")",
                    c->procs, n->arrivals, n->ok, n->ok_meas);
        else
            fprintf(stderr, "loadgen: arrivals %" PRIu64 " ok %" PRIu64 " (measured %" PRIu64 ")",
                    n->arrivals, n->ok, n->ok_meas);
        for (int k = 0; k < E_NKINDS; k++)
            if (n->err[k]) fprintf(stderr, " %s %" PRIu64, lg_report_ek_name[k], n->err[k]);
        if (!procs && n->socks_rep_bad) fprintf(stderr, " (socks REP!=0: %" PRIu64 ")", n->socks_rep_bad);
        fputc('\n', stderr);
    }
    /* Self-check: streams started late means the load generator (or the CPU it
     * shares with the system under test) was the bottleneck at this rate. */
    uint64_t lag99 = hist_percentile(lg_st.h[H_LAG], 99);
    double util = 100.0 * (double)cpu / (double)(bench_now_ns() - lg_st.t_begin);
    if (!c->closed && lag99 > 1000000) {
        if (procs)
            fprintf(stderr, "loadgen: WARNING: behind schedule (start lag p99 %.1f ms, cpu %.0f%% of one "
                            "core summed over %d procs): the load generator or its CPU share is a "
                            "bottleneck\n", (double)lag99 / 1e6, util, c->procs);
        else
            fprintf(stderr, "loadgen: WARNING: behind schedule (start lag p99 %.1f ms, cpu %.0f%%): "
                            "at this rate the load generator or its CPU share is a bottleneck\n",
                    (double)lag99 / 1e6, util);
    }
    lg_report_result(cpu);
}
