/* client.c -- anytls-client's run-time: worker threads (one event loop and
 * listener each), accept and hand-off of local connections to the worker with
 * idle sessions, the periodic idle check, signals, and drain at shutdown.
 * Sessions are client_session.c, local connections client_conn.c. Everything
 * belongs to one worker thread; the padding scheme (client_scheme.c) and the
 * workers' published idle counts are the only shared state. */
#include "client.h"
#include "client_conn.h"
#include "client_inbound.h"
#include "client_scheme.h"
#include "client_session.h"
#include "client_types.h"
#include "log.h"
#include "tls.h"

#include <netdb.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLIENT_DRAIN_MS 10000   /* open streams get this long at SIGINT/SIGTERM */

static void adopt(cworker_t *w, int fd)
{
    cconn_t *cc = cc_new(w, fd);   /* closes fd if it cannot take it */
    /* The app speaks first and usually already has: its greeting is read
     * now, not one epoll round later. */
    if (cc) ci_handshake(cc);
}

typedef struct handoff { cworker_t *w; int fd; } handoff_t;

static void adopt_task(loop_t *l, void *arg)
{
    handoff_t *h = arg;
    if (h->w->draining) close(h->fd);
    else adopt(h->w, h->fd);
    free(h);
}

/* The worker that should serve a new connection: this one if it has an idle
 * session (or no other has), else the one with the most idle sessions. */
static cworker_t *pick_worker(cworker_t *w)
{
    if (w->nidle) return w;
    cworker_t *best = w;
    int most = 0;
    for (int i = 0; i < w->nall; i++) {
        int n = atomic_load_explicit(&w->all[i].nidle_pub, memory_order_relaxed);
        if (n > most) { most = n; best = &w->all[i]; }
    }
    return best;
}

/* workers.c hands over each accepted connection: keep it, or send it to the
 * worker that holds an idle session. */
static void on_accept(worker_t *wk, int fd, const struct sockaddr_storage *peer)
{
    cworker_t *w = wk->ud;
    cworker_t *to = pick_worker(w);
    handoff_t *ho = to != w ? malloc(sizeof *ho) : NULL;
    if (ho) {
        ho->w = to;
        ho->fd = fd;
        if (loop_post(to->loop, adopt_task, ho) == 0) return;
        free(ho);
    }
    adopt(w, fd);
}

/* Every check interval: idle sessions older than the idle timeout are closed,
 * but the newest min_idle are kept. */
static void check_cb(loop_t *l, ltimer_t *t)
{
    cworker_t *w = t->ud;
    int kept = 0;
    uint64_t now = loop_now(l);
    for (csess_t *s = w->idle_top, *n; s; s = n) {
        n = s->next;
        if (kept < w->cfg->min_idle || now - s->idle_since < (uint64_t)w->cfg->idle_timeout_ms) {
            kept++;
            continue;
        }
        cs_close(s, "idle timeout");
    }
    timer_set(l, t, (uint64_t)w->cfg->check_interval_ms);
}

/* Drain: idle sessions and connections still in their proxy handshake close
 * now; relaying ones finish (client_conn.c stops the loop after the last). */
static void on_drain(worker_t *wk)
{
    cworker_t *w = wk->ud;
    w->draining = 1;
    timer_cancel(w->loop, &w->check);
    while (w->idle_top) cs_close(w->idle_top, NULL);
    for (cconn_t *cc = w->conns, *n; cc; cc = n) {
        n = cc->next;
        if (cc->state != CC_RELAY) cc_close(cc, "shutting down");
    }
    if (!w->conns) loop_stop(w->loop);
}

static void on_force_close(worker_t *wk)
{
    cworker_t *w = wk->ud;
    w->draining = 1;
    timer_cancel(w->loop, &w->check);
    while (w->conns) {
        cconn_t *cc = w->conns;
        csess_t *s = cc->sess;
        cc_close(cc, "shutdown");
        if (s) cs_close(s, NULL);
    }
    while (w->idle_top) cs_close(w->idle_top, NULL);
    loop_stop(w->loop);
}

static const workers_ops_t client_workers_ops = { on_accept, on_drain, on_force_close };

static void on_signal(int sig, void *arg)
{
    workers_t *ws = arg;
    if (sig == SIGHUP) log_info("SIGHUP: the client has nothing to reload; restart it to change flags");
    if (sig == SIGUSR1) {
        int idle = 0;
        for (int k = 0; k < ws->n; k++) {
            cworker_t *w = ws->w[k].ud;
            idle += atomic_load_explicit(&w->nidle_pub, memory_order_relaxed);
        }
        log_info("[Stats] {\"workers\":%d,\"idle_sessions\":%d}", ws->n, idle);
    }
}

void client_config_defaults(client_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->listen = "127.0.0.1:1080";
    c->min_idle = 5;
    c->idle_timeout_ms = 30000;
    c->check_interval_ms = 30000;
    c->handshake_timeout_ms = 10000;
}

int client_run(client_config_t *cfg)
{
    char err[512];
    uint8_t pass_hash[32];
    SHA256((const unsigned char *)cfg->password, strlen(cfg->password), pass_hash);
    padding_scheme_t *def = padding_default();
    if (!def || scheme_set(def) < 0) { log_error("out of memory"); return 1; }

    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
    int g = getaddrinfo(cfg->server_host, cfg->server_port, &hints, &res);
    if (g) {
        log_error("cannot resolve server %s: %s", cfg->server_host, gai_strerror(g));
        scheme_clear();
        return 1;
    }
    struct sockaddr_storage server;
    memcpy(&server, res->ai_addr, res->ai_addrlen);
    socklen_t server_len = res->ai_addrlen;
    freeaddrinfo(res);

    SSL_CTX *ctx = tls_client_ctx(cfg->ca, err, sizeof err);
    if (!ctx) { log_error("%s", err); scheme_clear(); return 1; }

    raise_nofile();
    int nw = workers_count(cfg->workers), rc = 1;
    workers_t ws;
    cworker_t *cws = calloc((size_t)nw, sizeof *cws);
    loop_t *main_loop = cws ? loop_new() : NULL;
    if (!main_loop) { log_error("out of memory"); goto out_mem; }
    if (workers_init(&ws, nw, cfg->listen, &client_workers_ops, err, sizeof err) < 0) {
        log_error("%s", err);
        goto out_mem;
    }
    for (int i = 0; i < nw; i++) {
        cworker_t *w = &cws[i];
        w->id = i; w->cfg = cfg; w->ctx = ctx; w->server = &server; w->server_len = server_len;
        w->pass_hash = pass_hash;
        w->all = cws;
        w->nall = nw;
        w->wk = &ws.w[i];
        w->loop = w->wk->loop;
        w->wk->ud = w;
        timer_init(&w->check, check_cb, w);
        timer_set(w->loop, &w->check, (uint64_t)cfg->check_interval_ms);
    }
    if (workers_start(&ws) == 0) {
        log_info("anytls-client %s listening on %s (SOCKS5, SOCKS4a, HTTP), server %s:%s%s", ANYTLS_VERSION,
                 cfg->listen, cfg->server_host, cfg->server_port,
                 cfg->ca ? ", verifying its certificate" : ", certificate NOT verified (use --ca)");
        if (workers_main_loop(main_loop, on_signal, &ws) > 0) rc = 0;
        log_info("stopping: no new connections, draining");
        workers_stop(&ws, CLIENT_DRAIN_MS);
    }
    workers_free(&ws);
out_mem:
    if (main_loop) loop_free(main_loop);
    free(cws);
    SSL_CTX_free(ctx);
    scheme_clear();
    if (rc == 0) log_info("anytls-client stopped");
    return rc;
}
