/* client.c -- anytls-client's run-time: worker threads (one event loop and
 * listener each), accept and hand-off of local connections to the worker with
 * idle sessions, the periodic idle check, signals, and drain at shutdown.
 * Sessions are client_session.c, local connections client_conn.c. Everything
 * belongs to one worker thread; the padding scheme (client_scheme.c) and the
 * workers' published idle counts are the only shared state. */
#include "client.h"
#include "client_conn.h"
#include "client_scheme.h"
#include "client_session.h"
#include "client_types.h"
#include "log.h"
#include "tls.h"

#include <errno.h>
#include <netdb.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

static void adopt(cworker_t *w, int fd)
{
    cc_new(w, fd);   /* closes fd if it cannot take it */
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

static void accept_resume(loop_t *l, ltimer_t *t)
{
    cworker_t *w = t->ud;
    if (!w->draining) listener_resume(l, &w->lio);
}

static void accept_cb(loop_t *l, ioh_t *h, uint32_t ev)
{
    cworker_t *w = h->ud;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                listener_pause(l, h, &w->accept_pause, 200, "accept");
            return;
        }
        set_nodelay(fd);
        cworker_t *to = pick_worker(w);
        handoff_t *ho = to != w ? malloc(sizeof *ho) : NULL;
        if (ho) {
            ho->w = to;
            ho->fd = fd;
            if (loop_post(to->loop, adopt_task, ho) == 0) continue;
            free(ho);
        }
        adopt(w, fd);
    }
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

static void *worker_main(void *arg)
{
    cworker_t *w = arg;
    loop_run(w->loop);
    return NULL;
}

static void drain_task(loop_t *l, void *arg)
{
    cworker_t *w = arg;
    w->draining = 1;
    if (w->lio.fd >= 0) { int fd = w->lio.fd; loop_del(l, &w->lio); close(fd); }
    timer_cancel(l, &w->check);
    timer_cancel(l, &w->accept_pause);
    while (w->idle_top) cs_close(w->idle_top, NULL);
    for (cconn_t *cc = w->conns, *n; cc; cc = n) {
        n = cc->next;
        if (cc->state != CC_RELAY) cc_close(cc, "shutting down");
    }
    if (!w->conns) loop_stop(l);
}

static void force_task(loop_t *l, void *arg)
{
    cworker_t *w = arg;
    while (w->conns) {
        cconn_t *cc = w->conns;
        csess_t *s = cc->sess;
        cc_close(cc, "shutdown");
        if (s) cs_close(s, NULL);
    }
    while (w->idle_top) cs_close(w->idle_top, NULL);
    loop_stop(l);
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
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int nw = cfg->workers > 0 ? cfg->workers : (ncpu > 0 ? (int)ncpu : 1);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT); sigaddset(&set, SIGTERM); sigaddset(&set, SIGPIPE);
    sigaddset(&set, SIGHUP); sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    cworker_t *ws = calloc((size_t)nw, sizeof *ws);
    int rc = 1, i, started = 0;
    for (i = 0; i < nw; i++) {
        cworker_t *w = &ws[i];
        w->id = i; w->cfg = cfg; w->ctx = ctx; w->server = &server; w->server_len = server_len;
        w->pass_hash = pass_hash;
        w->all = ws;
        w->nall = nw;
        w->loop = loop_new();
        int lfd = w->loop ? tcp_listen(cfg->listen, 1, err, sizeof err) : -1;
        if (lfd < 0) { log_error("%s", w->loop ? err : "out of memory"); goto out; }
        loop_add(w->loop, &w->lio, lfd, EPOLLIN, accept_cb, w);
        timer_init(&w->accept_pause, accept_resume, w);
        timer_init(&w->check, check_cb, w);
        timer_set(w->loop, &w->check, (uint64_t)cfg->check_interval_ms);
    }
    for (i = 0; i < nw; i++, started++) pthread_create(&ws[i].th, NULL, worker_main, &ws[i]);
    log_info("anytls-client %s listening on %s (SOCKS5, SOCKS4a, HTTP), server %s:%s%s", ANYTLS_VERSION,
             cfg->listen, cfg->server_host, cfg->server_port,
             cfg->ca ? ", verifying its certificate" : ", certificate NOT verified (use --ca)");

    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    for (;;) {
        struct signalfd_siginfo si;
        if (read(sfd, &si, sizeof si) != sizeof si) continue;
        if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM) break;
        if (si.ssi_signo == SIGHUP) log_info("SIGHUP: the client has nothing to reload; restart it to change flags");
        if (si.ssi_signo == SIGUSR1) {
            int idle = 0;
            for (int k = 0; k < nw; k++) idle += atomic_load_explicit(&ws[k].nidle_pub, memory_order_relaxed);
            log_info("[Stats] {\"workers\":%d,\"idle_sessions\":%d}", nw, idle);
        }
    }
    close(sfd);
    log_info("stopping: no new connections, draining");
    for (i = 0; i < nw; i++) loop_post(ws[i].loop, drain_task, &ws[i]);
    for (i = 0; i < nw; i++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 10;
        if (pthread_timedjoin_np(ws[i].th, NULL, &ts) != 0) {
            loop_post(ws[i].loop, force_task, &ws[i]);
            pthread_join(ws[i].th, NULL);
        }
    }
    started = 0;
    rc = 0;
out:
    for (i = 0; i < started; i++) {
        loop_post(ws[i].loop, force_task, &ws[i]);
        pthread_join(ws[i].th, NULL);
    }
    for (i = 0; i < nw; i++) {
        cworker_t *w = &ws[i];
        if (!w->loop) continue;
        force_task(w->loop, w);
        if (w->lio.fd > 0) close(w->lio.fd);
        loop_free(w->loop);
    }
    free(ws);
    SSL_CTX_free(ctx);
    scheme_clear();
    if (rc == 0) log_info("anytls-client stopped");
    return rc;
}
