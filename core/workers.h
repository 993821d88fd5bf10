/* workers.h -- the run-time both binaries share: N worker threads, each with its
 * own event loop and SO_REUSEPORT listener, and the main thread that waits for
 * signals.
 *
 * What it promises:
 *  - workers_init() binds every listener before any thread starts (so a bad
 *    address fails the process at once, and privileges can be dropped after
 *    it), and blocks SIGINT/SIGTERM/SIGPIPE/SIGHUP/SIGUSR1 in every thread: the
 *    main thread reads them from a signalfd (workers_main_loop).
 *  - A worker accepts with accept4 (non-blocking, close-on-exec, TCP_NODELAY)
 *    and hands each connection to ops->accept on its own thread. Out of file
 *    descriptors (EMFILE, ENFILE, ENOBUFS, ENOMEM) the listener pauses 200 ms
 *    instead of spinning on the connection it cannot take.
 *  - workers_stop() drains: each worker closes its listener and runs
 *    ops->drain; the worker's loop ends when the binary calls loop_stop (its
 *    last connection closed). A worker still running after drain_ms gets
 *    ops->force_close on its thread. workers_free() then force-closes what is
 *    left on the calling thread (the workers are joined by then) and frees the
 *    loops.
 * The binary's per-worker state hangs off worker_t.ud. */
#ifndef WORKERS_H
#define WORKERS_H

#include <pthread.h>
#include <sys/socket.h>
#include "loop.h"

typedef struct worker worker_t;

typedef struct workers_ops {
    /* A new connection, on w's thread. `peer` is the client's address. */
    void (*accept)(worker_t *w, int fd, const struct sockaddr_storage *peer);
    /* On w's thread: stop starting work, close what is idle; call
     * loop_stop(w->loop) once nothing is left (may be at once). */
    void (*drain)(worker_t *w);
    /* Close everything now and loop_stop(w->loop). On w's thread, or on the
     * main thread after w's thread has ended. */
    void (*force_close)(worker_t *w);
} workers_ops_t;

struct worker {
    int id;
    int draining;              /* set before ops->drain runs */
    loop_t *loop;
    void *ud;                  /* the binary's per-worker state */
    /* private to workers.c */
    const workers_ops_t *ops;
    ioh_t lio;
    ltimer_t accept_pause;
    pthread_t th;
    int nodelay_inherited;     /* accepted sockets come with the listener's TCP_NODELAY: 1 yes, 0 no, -1 not known yet */
};

typedef struct workers {
    int n;
    worker_t *w;
    int started;               /* threads running */
} workers_t;

/* The worker count a configuration asks for: n, or the number of cores if n <= 0. */
int workers_count(int n);

/* n loops and listeners on `listen`; 0, or -1 with a message in err (what was
 * made is freed). */
int workers_init(workers_t *ws, int n, const char *listen, const workers_ops_t *ops,
                 char *err, size_t errcap);
/* Starts the threads. 0, or -1 (those that started are stopped). */
int workers_start(workers_t *ws);
/* Main thread: runs `main` until SIGINT or SIGTERM; SIGHUP and SIGUSR1 are passed
 * to on_signal (which may be NULL). Returns the signal that stopped it, or -1 if
 * the signalfd could not be made. */
int workers_main_loop(loop_t *main, void (*on_signal)(int sig, void *arg), void *arg);
/* Drain, wait up to drain_ms, then force-close the stragglers; joins every thread. */
void workers_stop(workers_t *ws, int drain_ms);
/* After workers_stop (or instead of it if never started): force_close each
 * worker, close listeners, free loops. */
void workers_free(workers_t *ws);

#endif
