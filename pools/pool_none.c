/* pool_none.c -- "none": no pooling at all, the baseline.
 *
 * Every acquire is a MISS (counted New and Active), nothing is held, tick never
 * asks for a dial. It also keeps no per-target state, so it cannot enforce
 * max_conns: it never answers POOL_FULL. A spare handed to it anyway (nobody
 * asked for one) is closed at once and counted Cleaned. */
#include "pool.h"
#include "pool_impl.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

struct pool {
    pool_config_t cfg;
    /* Written by every worker: atomics, relaxed (they are statistics only,
     * nothing is ordered by them). */
    _Atomic uint64_t created, cleaned, dial_failed;
    _Atomic int64_t active;
};

static pool_t *none_create(const pool_config_t *cfg)
{
    if (!pool_cfg_ok(cfg)) return NULL;
    pool_t *p = calloc(1, sizeof *p);
    if (p) p->cfg = *cfg;
    return p;
}

static void none_destroy(pool_t *p) { free(p); }

static int none_acquire(pool_t *p, const char *key, int worker, int *fd_out)
{
    (void)key, (void)worker;
    *fd_out = -1;
    atomic_fetch_add_explicit(&p->created, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->active, 1, memory_order_relaxed);
    return POOL_MISS;
}

static void none_stream_done(pool_t *p, const char *key, int worker)
{
    (void)key, (void)worker;
    atomic_fetch_sub_explicit(&p->active, 1, memory_order_relaxed);
}

static void none_spare_ready(pool_t *p, const char *key, int fd, int worker)
{
    (void)key, (void)worker;
    if (p->cfg.close_fd) p->cfg.close_fd(fd, p->cfg.close_arg);
    else close(fd);
    atomic_fetch_add_explicit(&p->cleaned, 1, memory_order_relaxed);
}

static void none_spare_failed(pool_t *p, const char *key, int worker, int dialed)
{
    (void)key, (void)worker;
    if (dialed) atomic_fetch_add_explicit(&p->dial_failed, 1, memory_order_relaxed);
}

static int none_tick(pool_t *p, int worker, pool_dial_t *out, int max)
{
    (void)p, (void)worker, (void)out, (void)max;
    return 0;
}

static void none_stats(pool_t *p, pool_stats_t *s)
{
    *s = (pool_stats_t){0};
    int64_t a = atomic_load_explicit(&p->active, memory_order_relaxed);
    s->created = atomic_load_explicit(&p->created, memory_order_relaxed);
    s->cleaned = atomic_load_explicit(&p->cleaned, memory_order_relaxed);
    s->dial_failed = atomic_load_explicit(&p->dial_failed, memory_order_relaxed);
    s->active = a > 0 ? (uint64_t)a : 0;
    s->total = s->reused + s->created;
}

static void none_status(pool_t *p, void (*cb)(const char *, int, void *), void *arg)
{
    (void)p, (void)cb, (void)arg; /* holds no target */
}

const pool_ops_t pool_none_ops = {
    .name = "none",
    .create = none_create,
    .destroy = none_destroy,
    .acquire = none_acquire,
    .stream_done = none_stream_done,
    .spare_ready = none_spare_ready,
    .spare_failed = none_spare_failed,
    .tick = none_tick,
    .stats = none_stats,
    .status = none_status,
};
