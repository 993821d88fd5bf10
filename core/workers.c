/* workers.c -- N event loops with SO_REUSEPORT listeners, the signal-handling
 * main thread, and the drain / timed join / forced close at exit (workers.h). */
#include "workers.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define ACCEPT_BATCH 64
#define ACCEPT_PAUSE_MS 200

static const int handled_signals[] = { SIGINT, SIGTERM, SIGPIPE, SIGHUP, SIGUSR1 };

static void signal_set(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < sizeof handled_signals / sizeof handled_signals[0]; i++)
        sigaddset(set, handled_signals[i]);
}

int workers_count(int n)
{
    if (n > 0) return n;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    return ncpu > 0 ? (int)ncpu : 1;
}

static void accept_resume(loop_t *l, ltimer_t *t)
{
    worker_t *w = t->ud;
    if (!w->draining) listener_resume(l, &w->lio);
}

static void accept_cb(loop_t *l, ioh_t *h, uint32_t ev)
{
    worker_t *w = h->ud;
    for (int i = 0; i < ACCEPT_BATCH && !w->draining; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(h->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            /* Level-triggered: the connection we could not take would be reported
             * again at once. Pause rather than spin. */
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                listener_pause(l, h, &w->accept_pause, ACCEPT_PAUSE_MS, "accept");
            return;
        }
        if (w->nodelay_inherited < 0) {   /* asked once: Linux copies it from the listener */
            int v = 0;
            socklen_t vl = sizeof v;
            w->nodelay_inherited = getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &vl) == 0 && v;
        }
        if (!w->nodelay_inherited) set_nodelay(fd);
        w->ops->accept(w, fd, &ss);
    }
}

int workers_init(workers_t *ws, int n, const char *listen, const workers_ops_t *ops,
                 char *err, size_t errcap)
{
    memset(ws, 0, sizeof *ws);
    /* Blocked before any thread exists, so every thread inherits the mask and
     * only the main thread's signalfd sees these. */
    sigset_t set;
    signal_set(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    ws->w = calloc((size_t)n, sizeof *ws->w);
    if (!ws->w) { snprintf(err, errcap, "out of memory"); return -1; }
    ws->n = n;
    for (int i = 0; i < n; i++) {
        worker_t *w = &ws->w[i];
        w->id = i;
        w->ops = ops;
        w->lio.fd = -1;
        w->loop = loop_new();
        if (!w->loop) { snprintf(err, errcap, "out of memory"); goto fail; }
        int lfd = tcp_listen(listen, 1, err, errcap);
        if (lfd < 0) goto fail;
        /* accepted sockets inherit it: no setsockopt per connection */
        set_nodelay(lfd);
        w->nodelay_inherited = -1;
        if (loop_add(w->loop, &w->lio, lfd, EPOLLIN, accept_cb, w) < 0) {
            close(lfd);
            snprintf(err, errcap, "cannot watch the listener: %s", strerror(errno));
            goto fail;
        }
        timer_init(&w->accept_pause, accept_resume, w);
    }
    return 0;
fail:
    for (int i = 0; i < n; i++) {
        worker_t *w = &ws->w[i];
        if (w->lio.fd >= 0) { int fd = w->lio.fd; loop_del(w->loop, &w->lio); close(fd); }
        if (w->loop) loop_free(w->loop);
    }
    free(ws->w);
    memset(ws, 0, sizeof *ws);
    return -1;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    loop_run(w->loop);
    return NULL;
}

static void force_task(loop_t *l, void *arg)
{
    worker_t *w = arg;
    w->ops->force_close(w);
    loop_stop(l);
}

int workers_start(workers_t *ws)
{
    for (int i = 0; i < ws->n; i++) {
        int e = pthread_create(&ws->w[i].th, NULL, worker_main, &ws->w[i]);
        if (e) {
            log_error("cannot start worker %d: %s", i, strerror(e));
            for (int k = 0; k < ws->started; k++) {
                loop_post(ws->w[k].loop, force_task, &ws->w[k]);
                pthread_join(ws->w[k].th, NULL);
            }
            ws->started = 0;
            return -1;
        }
        ws->started++;
    }
    return 0;
}

typedef struct sigctx {
    void (*on_signal)(int sig, void *arg);
    void *arg;
    int stopped_by;
} sigctx_t;

static void signal_cb(loop_t *l, ioh_t *h, uint32_t ev)
{
    sigctx_t *c = h->ud;
    struct signalfd_siginfo si;
    while (read(h->fd, &si, sizeof si) == sizeof si) {
        int sig = (int)si.ssi_signo;
        if (sig == SIGINT || sig == SIGTERM) {
            c->stopped_by = sig;
            loop_stop(l);
            return;
        }
        if (sig != SIGPIPE && c->on_signal) c->on_signal(sig, c->arg);
    }
}

int workers_main_loop(loop_t *main, void (*on_signal)(int sig, void *arg), void *arg)
{
    sigset_t set;
    signal_set(&set);
    sigctx_t c = { on_signal, arg, -1 };
    ioh_t sio;
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0 || loop_add(main, &sio, sfd, EPOLLIN, signal_cb, &c) < 0) {
        log_error("signalfd: %s", strerror(errno));
        if (sfd >= 0) close(sfd);
        return -1;
    }
    loop_run(main);
    loop_del(main, &sio);
    close(sfd);
    return c.stopped_by;
}

static void drain_task(loop_t *l, void *arg)
{
    worker_t *w = arg;
    w->draining = 1;
    if (w->lio.fd >= 0) {
        int fd = w->lio.fd;
        loop_del(l, &w->lio);
        close(fd);
    }
    timer_cancel(l, &w->accept_pause);
    w->ops->drain(w);
}

void workers_stop(workers_t *ws, int drain_ms)
{
    for (int i = 0; i < ws->started; i++) loop_post(ws->w[i].loop, drain_task, &ws->w[i]);
    uint64_t deadline = now_ms() + (uint64_t)(drain_ms > 0 ? drain_ms : 0);
    for (int i = 0; i < ws->started; i++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t now = now_ms(), left = deadline > now ? deadline - now : 0;
        ts.tv_sec += (time_t)(left / 1000);
        ts.tv_nsec += (long)(left % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
        if (pthread_timedjoin_np(ws->w[i].th, NULL, &ts) != 0) {
            loop_post(ws->w[i].loop, force_task, &ws->w[i]);
            pthread_join(ws->w[i].th, NULL);
        }
    }
    ws->started = 0;
}

void workers_free(workers_t *ws)
{
    if (ws->started) workers_stop(ws, 0);
    for (int i = 0; i < ws->n; i++) {
        worker_t *w = &ws->w[i];
        if (!w->loop) continue;
        w->ops->force_close(w);
        if (w->lio.fd >= 0) { int fd = w->lio.fd; loop_del(w->loop, &w->lio); close(fd); }
        loop_free(w->loop);
        w->loop = NULL;
    }
    free(ws->w);
    memset(ws, 0, sizeof *ws);
}
