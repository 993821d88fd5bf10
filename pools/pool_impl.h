/* pool_impl.h -- helpers shared by the pool implementations (not part of the
 * interface in pool.h): config validation, key hashing, the hash seed, the
 * clock, age tests, shared counters. */
#ifndef POOL_IMPL_H
#define POOL_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include "pool.h"

/* A key as the pool sees it: text, length and hash, computed once per call.
 * pool_key_parse() is false for a NULL or overlong key (such a stream is served
 * untracked). */
typedef struct pool_key {
    const char *s;
    size_t len;
    uint64_t hash;
} pool_key_t;

/* 8 bytes per step, murmur3-style mixing. Seeded per pool, so that clients
 * choosing target names cannot line them all up on one hash chain. */
static inline bool pool_key_parse(uint64_t seed, const char *s, pool_key_t *k)
{
    if (!s) return false;
    size_t len = strnlen(s, POOL_KEY_MAX + 1), i = 0;
    if (len > POOL_KEY_MAX) return false;
    uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ull), w;
    for (; i + 8 <= len; i += 8) {
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 29;
    }
    w = 0;
    memcpy(&w, s + i, len - i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 32;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 29;
    *k = (pool_key_t){s, len, h};
    return true;
}

/* A stored key (NUL-terminated, in a POOL_KEY_MAX + 1 buffer) equals k? */
static inline bool pool_key_eq(const char *stored, const pool_key_t *k) { return memcmp(stored, k->s, k->len + 1) == 0; }

static inline uint64_t pool_hash_seed(void)
{
    uint64_t s;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s)
        s = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&s;
    return s;
}

static inline uint64_t pool_cfg_now_ms(const pool_config_t *cfg)
{
    if (cfg->now_ms) return cfg->now_ms(cfg->now_arg);
    /* CLOCK_MONOTONIC at tick resolution: milliseconds are all the pool needs,
     * and the coarse read costs a fraction of the precise one. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The configuration every implementation accepts: create() answers NULL for
 * anything else, whether or not that implementation uses the field, so a
 * config that opens with one --pool-type opens with all of them. */
static inline bool pool_cfg_ok(const pool_config_t *cfg)
{
    return cfg && cfg->nworkers >= 1 && cfg->max_conns >= 1 && cfg->max_targets >= 1 &&
           cfg->min_idle >= 0 && cfg->max_idle_ms >= 0;
}

/* "older than age": now - ts > age, a clock going backwards is not old. */
static inline bool pool_older(uint64_t now, uint64_t ts, int age) { return now > ts && now - ts > (uint64_t)age; }

/* Counters shared by the lock and lockfree pools: written by every worker,
 * relaxed atomics (nothing is published through them; readers only want a
 * recent value of each). */
typedef struct pool_counters {
    _Atomic uint64_t reused, created, cleaned, stale, expired, rejected;
    _Atomic uint64_t dial_failed, spares_dialed;
    _Atomic int64_t active, idle, dialing, targets;
} pool_counters_t;

static inline void pool_add_u(_Atomic uint64_t *c, uint64_t n) { atomic_fetch_add_explicit(c, n, memory_order_relaxed); }
static inline void pool_add_i(_Atomic int64_t *c, int64_t n) { atomic_fetch_add_explicit(c, n, memory_order_relaxed); }
static inline uint64_t pool_get_u(_Atomic uint64_t *c) { return atomic_load_explicit(c, memory_order_relaxed); }
static inline uint64_t pool_get_gauge(_Atomic int64_t *c)
{
    int64_t v = atomic_load_explicit(c, memory_order_relaxed);
    return v > 0 ? (uint64_t)v : 0;
}

static inline void pool_counters_read(pool_counters_t *c, pool_stats_t *s)
{
    s->reused = pool_get_u(&c->reused);
    s->created = pool_get_u(&c->created);
    s->total = s->reused + s->created;
    s->cleaned = pool_get_u(&c->cleaned);
    s->stale = pool_get_u(&c->stale);
    s->expired = pool_get_u(&c->expired);
    s->rejected = pool_get_u(&c->rejected);
    s->dial_failed = pool_get_u(&c->dial_failed);
    s->spares_dialed = pool_get_u(&c->spares_dialed);
    s->active = pool_get_gauge(&c->active);
    s->idle = pool_get_gauge(&c->idle);
    s->dialing = pool_get_gauge(&c->dialing);
    s->targets = pool_get_gauge(&c->targets);
}

#endif
