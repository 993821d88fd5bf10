/* pool.h -- the outbound connection pool: one interface, several implementations.
 *
 * What the pool promises (every implementation, same contract suite):
 *
 *  - It holds only WARM SPARES: connected TCP sockets to a target that have never
 *    carried a byte of any stream. A socket that carried a stream is closed by its
 *    owner when the stream ends and is never given back (it holds application state:
 *    a TLS session, a half-read response). So there is no "release(fd)" here, only
 *    pool_stream_done().
 *  - Targets are keyed by the string "host:port" (<= POOL_KEY_MAX bytes). A key
 *    becomes known at its first acquire. While it was used within max_idle_ms the
 *    pool asks its caller (through pool_tick's dial list) to keep min_idle spares.
 *    A spare idle longer than max_idle_ms is closed (Cleaned); a target unused for
 *    that long loses its spares and is forgotten. At most max_targets keys are
 *    tracked (least recently used forgotten first), so a client cannot make the
 *    server pre-dial arbitrary hosts without bound.
 *  - Before handing out a spare the pool checks it with recv(MSG_PEEK|MSG_DONTWAIT):
 *    0 (target closed) or an error other than EAGAIN means stale: closed, Cleaned,
 *    next spare tried. Waiting bytes (a server-first banner) are fine.
 *  - max_conns caps active + idle + dialing per target. acquire beyond it answers
 *    POOL_FULL (the caller waits a bounded time and then fails the stream).
 *  - The pool never blocks on the network and never dials itself: the caller (a
 *    worker's event loop) dials, with non-blocking connects, and reports back.
 *
 * Threads: every function may be called from any worker thread concurrently,
 * except create/destroy. `worker` is the caller's worker index in [0, nworkers);
 * implementations may use it to keep per-thread data (highperf does).
 *
 * Counters (monotonic unless said): reused = acquires served by a spare;
 * created = acquires that had to dial (New); total = reused + created;
 * active = connections now carrying a stream (gauge); cleaned = spares closed
 * by the pool (idle expiry, stale on check, target forgotten, destroy).
 */
#ifndef POOL_H
#define POOL_H

#include <stdint.h>
#include <stddef.h>

#define POOL_KEY_MAX 300 /* "host:port": 255-byte name + ':' + 5 digits, with margin */

typedef struct pool pool_t;

typedef struct pool_config {
    int max_conns;          /* per target: active + idle + dialing (default 100) */
    int max_idle_ms;        /* spare and target idle expiry (default 300 s) */
    int min_idle;           /* spares kept per recently used target (default 5) */
    int max_targets;        /* targets tracked, LRU beyond (default 1024) */
    int nworkers;           /* worker threads that will call in (>= 1) */
    /* Clock in milliseconds; NULL = CLOCK_MONOTONIC. Tests inject their own. */
    uint64_t (*now_ms)(void *arg);
    void *now_arg;
    /* Close a spare the pool discards; NULL = close(2). Tests count with it. */
    void (*close_fd)(int fd, void *arg);
    void *close_arg;
} pool_config_t;

void pool_config_defaults(pool_config_t *c);

enum pool_result {
    POOL_HIT = 0,  /* *fd_out is a checked warm spare; counted Reused and Active */
    POOL_MISS = 1, /* caller dials now; counted New and Active */
    POOL_FULL = 2, /* target at max_conns; nothing counted but `rejected` */
};

typedef struct pool_stats {
    uint64_t total, active, reused, created, cleaned;
    uint64_t idle;          /* gauge: spares now held */
    uint64_t dialing;       /* gauge: refill connects in flight */
    uint64_t spares_dialed; /* refill connects started */
    uint64_t stale;         /* spares found closed at check (also in cleaned) */
    uint64_t expired;       /* spares closed for idle time (also in cleaned) */
    uint64_t rejected;      /* acquires answered POOL_FULL */
    uint64_t dial_failed;   /* refill connects that failed */
    uint64_t targets;       /* gauge: keys tracked */
} pool_stats_t;

/* A refill the pool wants: dial `count` spares to key, then report each result
 * with pool_spare_ready (success) or pool_spare_failed. */
typedef struct pool_dial {
    char key[POOL_KEY_MAX + 1];
    int count;
} pool_dial_t;

typedef struct pool_ops {
    const char *name;
    pool_t *(*create)(const pool_config_t *cfg);
    void (*destroy)(pool_t *p); /* closes every spare it holds */
    int (*acquire)(pool_t *p, const char *key, int worker, int *fd_out);
    void (*stream_done)(pool_t *p, const char *key, int worker);
    void (*spare_ready)(pool_t *p, const char *key, int fd, int worker);
    /* A refill the pool asked for did not produce a spare: dialed = 1, its
     * connect failed (counted in dial_failed); dialed = 0, the caller declined
     * to dial it (its rate cap or refill gate): not counted as dialed at all. */
    void (*spare_failed)(pool_t *p, const char *key, int worker, int dialed);
    /* Expire spares and targets, then fill out[] with refills wanted for targets
     * this worker is responsible for; returns the number of entries (<= max). */
    int (*tick)(pool_t *p, int worker, pool_dial_t *out, int max);
    void (*stats)(pool_t *p, pool_stats_t *out);
    /* Calls cb once per tracked target with its idle spare count. */
    void (*status)(pool_t *p, void (*cb)(const char *key, int idle, void *arg), void *arg);
} pool_ops_t;

/* The generic handle: an implementation plus its state. */
typedef struct pool_handle {
    const pool_ops_t *ops;
    pool_t *impl;
} pool_handle_t;

/* The registry of implementations (pools/pool.c holds the only list; see
 * pools/README.md). pool_at(i) for i in [0, pool_count()) walks it in order;
 * NULL outside. pool_names() is the same list for messages, comma-separated. */
int pool_count(void);
const pool_ops_t *pool_at(int i);
const pool_ops_t *pool_find(const char *name);
const char *pool_names(void);
const char *pool_default_type(void); /* what --pool-type is when not given */

int pool_open(pool_handle_t *h, const char *type, const pool_config_t *cfg);
void pool_close(pool_handle_t *h);

/* Calls through an open handle: the operations above, h first. */
static inline int pool_acquire(pool_handle_t *h, const char *key, int worker, int *fd)
{
    return h->ops->acquire(h->impl, key, worker, fd);
}
static inline void pool_stream_done(pool_handle_t *h, const char *key, int worker)
{
    h->ops->stream_done(h->impl, key, worker);
}
static inline void pool_spare_ready(pool_handle_t *h, const char *key, int fd, int worker)
{
    h->ops->spare_ready(h->impl, key, fd, worker);
}
static inline void pool_spare_declined(pool_handle_t *h, const char *key, int worker)
{
    h->ops->spare_failed(h->impl, key, worker, 0);
}
static inline void pool_spare_failed(pool_handle_t *h, const char *key, int worker)
{
    h->ops->spare_failed(h->impl, key, worker, 1);
}
static inline int pool_tick(pool_handle_t *h, int worker, pool_dial_t *out, int max)
{
    return h->ops->tick(h->impl, worker, out, max);
}
static inline void pool_stats(pool_handle_t *h, pool_stats_t *out) { h->ops->stats(h->impl, out); }
static inline void pool_status(pool_handle_t *h, void (*cb)(const char *key, int idle, void *arg), void *arg)
{
    h->ops->status(h->impl, cb, arg);
}
static inline const char *pool_type_name(const pool_handle_t *h) { return h->ops->name; }

/* The seed's log lines, exactly:
 *   [Pool Stats] Total: N, Active: N, Reused: N, New: N, Cleaned: N
 *   [Pool Status] {"host:port": N, ...}
 * Written into buf (NUL-terminated, truncated with "..." if it does not fit);
 * return the length. */
size_t pool_format_stats(const pool_stats_t *s, char *buf, size_t cap);
size_t pool_format_status(pool_handle_t *h, char *buf, size_t cap);

/* Shared by implementations: the spare liveness check described above.
 * Returns 1 if fd may be handed out, 0 if stale. */
int pool_spare_alive(int fd);

#endif
