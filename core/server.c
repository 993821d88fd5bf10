/* server.c -- the server's run-time: workers (workers.c), signals, SIGHUP
 * reload, privileges, the counters' snapshot and the periodic pool lines.
 * What a connection becomes after accept is in server_session.c. */
#include "server.h"
#include "dns.h"
#include "fallback.h"
#include "log.h"
#include "outbound.h"
#include "server_session.h"
#include "server_types.h"
#include "server_users.h"
#include "tls.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void server_config_defaults(server_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->listen = "0.0.0.0:8443";
    c->max_streams = 256;
    c->auth_timeout_ms = 10000;
    c->connect_timeout_ms = 10000;
    c->stall_timeout_ms = 15000;
    c->stats_interval_s = 60;
    c->drain_timeout_ms = 5000;
    c->stream_buf = 256 * 1024;
    c->session_buf = 4u << 20;
    c->process_buf = 256u << 20;
    c->pool_type = pool_default_type();
    c->log_level = -1;
    c->max_sessions = 10000;
    c->max_preauth = 2048;
    c->log_targets = 1;
    c->max_spares = 4096;
    c->max_preauth_per_addr = 32;
    c->max_spare_dials = 200;
    c->max_fallback = 256;
    pool_config_defaults(&c->pool);
}

/* ---- workers (workers.h callbacks) ---- */

static void on_accept(worker_t *wk, int fd, const struct sockaddr_storage *peer)
{
    sess_accept(wk->ud, fd, peer);
}

static void on_drain(worker_t *wk)
{
    sworker_t *w = wk->ud;
    outbound_worker_stop(w);
    fb_close_all(w);   /* probers: nothing worth waiting for */
    sess_drain_all(w);
}

/* Also the worker's last act (workers_free calls it after the threads end,
 * before the loops are freed): the resolver goes last, once the sessions and
 * refills that asked it have cancelled their lookups, while its loop exists. */
static void on_force_close(worker_t *wk)
{
    sworker_t *w = wk->ud;
    sess_close_all(w, "shutdown");
    fb_close_all(w);
    outbound_worker_stop(w);
    dns_free(w->dns);
    w->dns = NULL;
    loop_stop(w->loop);
}

static const workers_ops_t server_workers_ops = { on_accept, on_drain, on_force_close };

/* ---- counters ---- */

static void print_stats(server_t *srv)
{
    pool_stats_t st;
    char line[8192];
    pool_stats(&srv->pool->h, &st);
    pool_format_stats(&st, line, sizeof line);
    log_info("%s", line);
    if (srv->cfg->log_targets) {
        pool_format_status(&srv->pool->h, line, sizeof line);
        log_info("%s", line);
    } else {
        log_info("[Pool Status] %llu targets, %llu idle (names not logged: --log-targets off)",
                 (unsigned long long)st.targets, (unsigned long long)st.idle);
    }
}

/* Sums the workers' counters (main thread, relaxed reads). */
static void snapshot(void *arg, server_snapshot_t *o)
{
    server_t *srv = arg;
    memset(o, 0, sizeof *o);
    o->pool_type = pool_type_name(&srv->pool->h);
    pool_stats(&srv->pool->h, &o->pool);
    uint64_t dial_us = 0;
    for (int i = 0; i < srv->nworkers; i++) {
        wstats_t *w = &srv->workers[i].st;
#define RD(f) atomic_load_explicit(&w->f, memory_order_relaxed)
#define SUM(f, ...) o->f += RD(f);
        SERVER_COUNTERS(SUM)
#undef SUM
        o->dial_count += RD(dial_count);
        dial_us += RD(dial_us_sum);
        for (int b = 0; b <= METRICS_DIAL_BUCKETS; b++) o->dial_buckets[b] += RD(dial_buckets[b]);
#undef RD
    }
    for (int b = 1; b <= METRICS_DIAL_BUCKETS; b++) o->dial_buckets[b] += o->dial_buckets[b - 1];
    o->dial_seconds_sum = dial_us / 1e6;
    su_snapshot(srv, o);
}

/* Reads a padding scheme (NULL file: the default). NULL with a message on error. */
static padding_scheme_t *load_scheme(const char *file, char *err, size_t cap)
{
    if (!file) return padding_default();
    FILE *f = fopen(file, "rb");
    if (!f) { snprintf(err, cap, "cannot open padding scheme %s: %s", file, strerror(errno)); return NULL; }
    char buf[FRAME_MAX_DATA + 1];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (n > FRAME_MAX_DATA) {
        /* it is sent whole in one UpdatePaddingScheme frame */
        snprintf(err, cap, "padding scheme %s is larger than one frame (%d bytes)", file, FRAME_MAX_DATA);
        return NULL;
    }
    padding_scheme_t *sc = padding_parse(buf, n);
    if (!sc) snprintf(err, cap, "padding scheme %s is invalid (needs an integer stop=)", file);
    return sc;
}

/* ---- the main thread: signals, stats, reloads ---- */

typedef struct swap { sworker_t *w; pool_ref_t *pool; } swap_t;

static void swap_task(loop_t *l, void *arg)
{
    swap_t *sw = arg;
    pool_ref_t *old = sw->w->pool;
    sw->w->pool = sw->pool;  /* the reference counted for this worker */
    outbound_pool_put(old);
    free(sw);
}

/* SIGHUP: the users, pool parameters, log level and padding scheme from the
 * reloaded configuration. Streams keep the pool they started with; listeners, TLS and
 * sessions are untouched, so nothing is dropped. */
static void reload(server_t *srv)
{
    server_config_t *cfg = srv->cfg;
    server_config_t nc;
    char err[512];
    if (!cfg->reload || cfg->reload(cfg->reload_arg, &nc) < 0) {
        log_warn("SIGHUP: configuration not reloaded (%s)", cfg->reload ? "errors above" : "nothing to reload from");
        return;
    }
    log_level = nc.log_level >= 0 ? nc.log_level : log_level;
    su_reload(srv, nc.users_file, nc.password);
    padding_scheme_t *sc = load_scheme(nc.padding_file, err, sizeof err);
    if (!sc) log_warn("SIGHUP: %s; padding scheme kept", err);
    else if (srv->nretired < (int)(sizeof srv->retired / sizeof srv->retired[0])) {
        srv->retired[srv->nretired++] = atomic_exchange(&srv->scheme, sc);
    } else {
        padding_free(sc);
        log_warn("SIGHUP: too many padding scheme reloads; restart to change it again");
    }
    nc.pool.nworkers = srv->nworkers;
    pool_ref_t *np = outbound_pool_new(nc.pool_type, &nc.pool, srv->nworkers + 1);
    if (!np) { log_warn("SIGHUP: cannot create the %s pool; kept the old one", nc.pool_type); return; }
    for (int i = 0; i < srv->nworkers; i++) {
        /* filled in before it is posted: the worker may run it at once */
        swap_t *sw = malloc(sizeof *sw);
        if (sw) *sw = (swap_t){.w = &srv->workers[i], .pool = np};
        if (!sw || loop_post(srv->workers[i].loop, swap_task, sw) < 0) {
            free(sw);
            outbound_pool_put(np);  /* that worker keeps the old pool */
        }
    }
    pool_ref_t *old = srv->pool;
    srv->pool = np;
    outbound_pool_put(old);
    cfg->pool = nc.pool;
    cfg->pool_type = nc.pool_type;
    log_info("[Server] Reloaded: pool %s, max connections per target %d, max idle time %d seconds, "
             "min idle connections %d, log level %d (pool counters start again from 0)",
             pool_type_name(&np->h), nc.pool.max_conns, nc.pool.max_idle_ms / 1000, nc.pool.min_idle,
             (int)log_level);
}

static void on_signal(int sig, void *arg)
{
    server_t *srv = arg;
    if (sig == SIGHUP) {
        reload(srv);
    } else if (sig == SIGUSR1) {
        server_snapshot_t snap;
        char json[4096];
        snapshot(srv, &snap);
        metrics_render_json(&snap, json, sizeof json);
        log_info("[Stats] %s", json);
    }
}

static void stats_tick(loop_t *l, ltimer_t *t)
{
    server_t *srv = t->ud;
    print_stats(srv);
    timer_set(l, t, (uint64_t)srv->cfg->stats_interval_s * 1000);
}

/* After the listeners are bound and the key is read: become `user`. */
static int drop_privileges(const char *user, char *err, size_t cap)
{
    struct passwd *pw = getpwnam(user);
    if (!pw) { snprintf(err, cap, "no such user '%s'", user); return -1; }
    if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
        snprintf(err, cap, "cannot become %s: %s", user, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0 && pw->pw_uid != 0) { snprintf(err, cap, "privileges could be regained"); return -1; }
    log_info("running as user %s (uid %u)", user, (unsigned)pw->pw_uid);
    return 0;
}

/* Workers, their listeners and their state; 0, or -1 after logging why. */
static int start_workers(server_t *srv)
{
    server_config_t *cfg = srv->cfg;
    char err[512];
    srv->workers = calloc((size_t)srv->nworkers, sizeof *srv->workers);
    if (!srv->workers) { log_error("out of memory"); return -1; }
    for (int i = 0; i < srv->nworkers; i++)
        srv->workers[i].pool = srv->pool;  /* one of the pool's nworkers + 1 references each */
    if (workers_init(&srv->ws, srv->nworkers, cfg->listen, &server_workers_ops, err, sizeof err) < 0) {
        log_error("%s", err);
        return -1;
    }
    for (int i = 0; i < srv->nworkers; i++) {
        sworker_t *w = &srv->workers[i];
        w->id = i;
        w->srv = srv;
        w->wk = &srv->ws.w[i];
        w->loop = w->wk->loop;
        w->wk->ud = w;
        outbound_worker_init(w);
        if (su_worker_init(w) < 0) { log_error("out of memory"); return -1; }
    }
    /* a second pass: on failure every worker must already be set up for
     * free_workers (on_force_close) */
    dns_config_t dc;
    dns_config_defaults(&dc);
    dc.servers = cfg->dns_servers;
    for (int i = 0; i < srv->nworkers; i++) {
        sworker_t *w = &srv->workers[i];
        if (!(w->dns = dns_new(w->loop, &dc, err, sizeof err))) {
            log_error("resolver: %s", err);
            return -1;
        }
        w->refill_dns = (dns_owner_t){ .label = "spare refills", .max = dc.max_queries / 2 };
        if (!(w->gate = gate_new(cfg->pool.max_targets))) {
            log_error("out of memory");
            return -1;
        }
    }
    return 0;
}

static void free_workers(server_t *srv)
{
    workers_free(&srv->ws);
    for (int i = 0; srv->workers && i < srv->nworkers; i++) {
        outbound_pool_put(srv->workers[i].pool);
        gate_free(srv->workers[i].gate);
        su_worker_free(&srv->workers[i]);
    }
    free(srv->workers);
    srv->workers = NULL;
}

/* --tcp-fast-open: say whether the kernel will do it (the client bit of
 * net.ipv4.tcp_fastopen, in this network namespace). */
static void tfo_check(void)
{
    int v = -1;
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_fastopen", "r");
    if (f) { if (fscanf(f, "%d", &v) != 1) v = -1; fclose(f); }
    if (v >= 0 && !(v & 1))
        log_warn("--tcp-fast-open: net.ipv4.tcp_fastopen is %d, without the client bit (1): targets are "
                 "dialed without Fast Open (sysctl -w net.ipv4.tcp_fastopen=%d)", v, v | 1);
    else
        log_info("TCP Fast Open to targets: on (net.ipv4.tcp_fastopen=%d; spares are dialed without it)", v);
}

int server_run(server_config_t *cfg)
{
    server_t srv = { .cfg = cfg };
    char err[512];
    int rc = 1;
    long nofile = raise_nofile();
    log_debug("file descriptor limit: %ld", nofile);
    srv.nworkers = workers_count(cfg->workers);
    if (cfg->fallback && fb_resolve(cfg->fallback, &srv.fb_addr, &srv.fb_alen, err, sizeof err) < 0) {
        log_error("--fallback: %s", err);
        return 1;
    }
    if (su_start(&srv, err, sizeof err) < 0) { log_error("users: %s", err); return 1; }
    padding_scheme_t *sc = load_scheme(cfg->padding_file, err, sizeof err);
    if (!sc) { log_error("%s", err); su_stop(&srv); return 1; }
    atomic_init(&srv.scheme, sc);
    loop_t *main_loop = loop_new();
    ltimer_t stats;
    timer_init(&stats, stats_tick, &srv);
    srv.ctx = main_loop ? tls_server_ctx(cfg->cert, cfg->key, err, sizeof err) : NULL;
    if (!srv.ctx) { log_error("%s", main_loop ? err : "out of memory"); goto out_scheme; }
    tls_server_tickets(srv.ctx, cfg->tls_tickets);
    cfg->pool.nworkers = srv.nworkers;
    srv.pool = outbound_pool_new(cfg->pool_type, &cfg->pool, srv.nworkers + 1);
    if (!srv.pool) { log_error("cannot create the %s pool", cfg->pool_type); goto out_ctx; }
    log_block(LOG_INFO, "[Server] Outbound connection pool initialized:\n"
             "  - Max connections per target: %d\n"
             "  - Max idle time: %d seconds\n  - Min idle connections: %d",
             cfg->pool.max_conns, cfg->pool.max_idle_ms / 1000, cfg->pool.min_idle);

    srv.adm = adm_new(cfg->max_preauth, cfg->max_preauth_per_addr);
    if (!srv.adm) { log_error("out of memory"); goto out_workers; }
    srv.tpol = tpol_new(cfg->deny_private_targets, cfg->allow_targets, err, sizeof err);
    if (!srv.tpol) { log_error("--allow-target: %s", err); goto out_workers; }
    srv.seen = gate_seen_new(4 * cfg->pool.max_targets);
    if (!srv.seen) { log_error("out of memory"); goto out_workers; }
    if (start_workers(&srv) < 0) goto out_workers;  /* frees what it made */
    if (cfg->metrics_listen &&
        admin_listen(main_loop, cfg->metrics_listen, snapshot, &srv, err, sizeof err) < 0) {
        log_error("--metrics-listen: %s", err);
        goto out_workers;
    }
    if (cfg->user && drop_privileges(cfg->user, err, sizeof err) < 0) {
        log_error("--user: %s", err);
        goto out_workers;
    }
    timer_set(main_loop, &stats, (uint64_t)cfg->stats_interval_s * 1000);
    if (workers_start(&srv.ws) < 0) goto out_workers;
    if (cfg->tcp_fast_open) tfo_check();
    log_info("anytls-server %s listening on %s (%d workers, pool %s%s%s)", ANYTLS_VERSION, cfg->listen,
             srv.nworkers, pool_type_name(&srv.pool->h), cfg->metrics_listen ? ", metrics on " : "",
             cfg->metrics_listen ? cfg->metrics_listen : "");

    int sig = workers_main_loop(main_loop, on_signal, &srv);  /* until SIGINT/SIGTERM */
    if (sig > 0)
        log_info("signal %d: no new connections, draining (up to %d ms)", sig, cfg->drain_timeout_ms);
    workers_stop(&srv.ws, cfg->drain_timeout_ms);
    print_stats(&srv);
    rc = sig > 0 ? 0 : 1;
out_workers:
    workers_stop(&srv.ws, 0);
    if (cfg->metrics_listen) admin_close(main_loop);
    free_workers(&srv);
    adm_free(srv.adm);
    tpol_free(srv.tpol);
    gate_seen_free(srv.seen);
    outbound_pool_put(srv.pool);
out_ctx:
    SSL_CTX_free(srv.ctx);
out_scheme:
    padding_free(atomic_load(&srv.scheme));
    for (int i = 0; i < srv.nretired; i++) padding_free(srv.retired[i]);
    su_stop(&srv);
    if (main_loop) { timer_cancel(main_loop, &stats); loop_free(main_loop); }
    if (rc == 0) log_info("anytls-server stopped");
    return rc;
}
