/* pool_lock.c -- "lock": a hash map of targets behind a pthread_rwlock, a
 * pthread_mutex per target guarding its spare list.
 *
 * Locking: the map lock guards the bucket array, every chain and ntargets.
 * Lookups take it shared, inserts/evictions/forgets take it exclusive. Every
 * access to a target's mutable fields holds that target's mutex *and* the map
 * lock (shared or exclusive), so whoever holds the map lock exclusively may
 * read or free any target without taking its mutex. Lock order: map, then one
 * target mutex; never two target mutexes at once.
 *
 * Refill ownership: a target belongs to worker hash(key) % nworkers; only that
 * worker's tick expires its spares, forgets it, and asks for its refills.
 * Spares are handed out newest first (the freshest is the least likely to have
 * been closed by the target); expiry removes the oldest. */
#include "pool.h"
#include "pool_impl.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

typedef struct lk_spare {
    int fd;
    uint64_t since;            /* when it became a spare (ms) */
} lk_spare_t;

typedef struct lk_target {
    struct lk_target *next;    /* bucket chain: guarded by the map lock */
    uint64_t hash;
    int owner;                 /* worker whose tick maintains this target */
    pthread_mutex_t mu;        /* guards everything below */
    uint64_t last_used;        /* last acquire (ms) */
    int active, idle, dialing;
    char key[POOL_KEY_MAX + 1];
    lk_spare_t spares[];       /* cap entries; [0, idle) oldest first */
} lk_target_t;

/* Statistics: pool_counters_t (pool_impl.h), relaxed atomics. */

struct pool {
    pool_config_t cfg;
    int cap;                   /* spares kept per target: min_idle */
    uint64_t seed;             /* of the key hash */
    pthread_rwlock_t map;      /* guards buckets, the chains, ntargets */
    lk_target_t **buckets;
    size_t mask;
    int ntargets;
    pool_counters_t c;
};

/* ---- small helpers (keys, clock and counters: pool_impl.h) ---- */

static uint64_t now_ms(const pool_t *p) { return pool_cfg_now_ms(&p->cfg); }

static void close_spare(pool_t *p, int fd)
{
    if (p->cfg.close_fd) p->cfg.close_fd(fd, p->cfg.close_arg);
    else close(fd);
    pool_add_u(&p->c.cleaned, 1);
}

/* Dials wanted: up to min_idle spares, never past max_conns. */
static int refill_want(const pool_t *p, const lk_target_t *t)
{
    int want = p->cap - t->idle - t->dialing;
    int room = p->cfg.max_conns - (t->active + t->idle + t->dialing);
    if (want > room) want = room;
    return want > 0 ? want : 0;
}

/* ---- the map (caller holds the map lock) ---- */

static lk_target_t *find(pool_t *p, const pool_key_t *k)
{
    for (lk_target_t *t = p->buckets[k->hash & p->mask]; t; t = t->next)
        if (t->hash == k->hash && pool_key_eq(t->key, k)) return t;
    return NULL;
}

/* Close a target's spares and free it. Exclusive map lock held, t unlinked. */
static void drop_target(pool_t *p, lk_target_t *t, bool expired)
{
    for (int i = 0; i < t->idle; i++) close_spare(p, t->spares[i].fd);
    if (expired) pool_add_u(&p->c.expired, (uint64_t)t->idle);
    pool_add_i(&p->c.idle, -t->idle);
    pool_add_i(&p->c.dialing, -t->dialing); /* their results will find no target */
    pool_add_i(&p->c.targets, -1);
    p->ntargets--;
    pthread_mutex_destroy(&t->mu);
    free(t);
}

/* Forget the least recently used target, preferring one with no stream open
 * (forgetting an active target loses its max_conns accounting). Exclusive. */
static void evict_lru(pool_t *p)
{
    lk_target_t **best = NULL;
    for (size_t b = 0; b <= p->mask; b++)
        for (lk_target_t **pp = &p->buckets[b]; *pp; pp = &(*pp)->next) {
            lk_target_t *t = *pp;
            if (!best) { best = pp; continue; }
            lk_target_t *o = *best;
            bool tb = t->active > 0, ob = o->active > 0;
            if (tb < ob || (tb == ob && t->last_used < o->last_used)) best = pp;
        }
    if (!best) return;
    lk_target_t *victim = *best;
    *best = victim->next;
    drop_target(p, victim, false);
}

static lk_target_t *insert(pool_t *p, const pool_key_t *k, uint64_t now)
{
    if (p->ntargets >= p->cfg.max_targets) evict_lru(p);
    lk_target_t *t = calloc(1, sizeof *t + (size_t)p->cap * sizeof(lk_spare_t));
    if (!t) return NULL;
    if (pthread_mutex_init(&t->mu, NULL) != 0) { free(t); return NULL; }
    t->hash = k->hash;
    t->owner = (int)(k->hash % (uint64_t)p->cfg.nworkers);
    t->last_used = now;
    memcpy(t->key, k->s, k->len + 1);
    t->next = p->buckets[k->hash & p->mask];
    p->buckets[k->hash & p->mask] = t;
    p->ntargets++;
    pool_add_i(&p->c.targets, 1);
    return t;
}

/* ---- operations ---- */

static pool_t *lk_create(const pool_config_t *cfg)
{
    if (!pool_cfg_ok(cfg)) return NULL;
    pool_t *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->cfg = *cfg;
    p->cap = cfg->min_idle < cfg->max_conns ? cfg->min_idle : cfg->max_conns;
    p->seed = pool_hash_seed();
    size_t n = 16;
    while (n < (size_t)cfg->max_targets) n <<= 1;
    p->buckets = calloc(n, sizeof *p->buckets);
    p->mask = n - 1;
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    /* Lookups are constant; without this, inserts could wait forever. */
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int rc = pthread_rwlock_init(&p->map, &a);
    pthread_rwlockattr_destroy(&a);
    if (!p->buckets || rc != 0) {
        free(p->buckets);
        free(p);
        return NULL;
    }
    return p;
}

static void lk_destroy(pool_t *p)
{
    for (size_t b = 0; b <= p->mask; b++) {
        lk_target_t *t = p->buckets[b];
        while (t) {
            lk_target_t *next = t->next;
            drop_target(p, t, false);
            t = next;
        }
    }
    pthread_rwlock_destroy(&p->map);
    free(p->buckets);
    free(p);
}

/* The key is untracked (too long, or out of memory): a plain dial. */
static int untracked_miss(pool_t *p, int *fd_out)
{
    *fd_out = -1;
    pool_add_u(&p->c.created, 1);
    pool_add_i(&p->c.active, 1);
    return POOL_MISS;
}

/* Target mutex held: the freshest live spare, else a dial if under the cap. */
static int take(pool_t *p, lk_target_t *t, uint64_t now, int *fd_out)
{
    t->last_used = now;
    while (t->idle > 0) {
        int fd = t->spares[--t->idle].fd;
        pool_add_i(&p->c.idle, -1);
        if (pool_spare_alive(fd)) {
            t->active++;
            pool_add_i(&p->c.active, 1);
            pool_add_u(&p->c.reused, 1);
            *fd_out = fd;
            return POOL_HIT;
        }
        close_spare(p, fd);
        pool_add_u(&p->c.stale, 1);
    }
    if (t->active + t->idle + t->dialing >= p->cfg.max_conns) {
        pool_add_u(&p->c.rejected, 1);
        return POOL_FULL;
    }
    t->active++;
    pool_add_i(&p->c.active, 1);
    pool_add_u(&p->c.created, 1);
    return POOL_MISS;
}

static int lk_acquire(pool_t *p, const char *key, int worker, int *fd_out)
{
    (void)worker; /* any worker may use any target */
    *fd_out = -1;
    pool_key_t k;
    if (!pool_key_parse(p->seed, key, &k)) return untracked_miss(p, fd_out);
    uint64_t now = now_ms(p);
    pthread_rwlock_rdlock(&p->map);
    lk_target_t *t = find(p, &k);
    if (!t) {
        pthread_rwlock_unlock(&p->map);
        pthread_rwlock_wrlock(&p->map);
        t = find(p, &k);
        if (!t) t = insert(p, &k, now);
        if (!t) {
            pthread_rwlock_unlock(&p->map);
            return untracked_miss(p, fd_out);
        }
    }
    pthread_mutex_lock(&t->mu);
    int r = take(p, t, now, fd_out);
    pthread_mutex_unlock(&t->mu);
    pthread_rwlock_unlock(&p->map);
    return r;
}

static void lk_stream_done(pool_t *p, const char *key, int worker)
{
    (void)worker;
    pool_add_i(&p->c.active, -1);
    pool_key_t k;
    if (!pool_key_parse(p->seed, key, &k)) return;
    pthread_rwlock_rdlock(&p->map);
    lk_target_t *t = find(p, &k);
    if (t) {
        pthread_mutex_lock(&t->mu);
        if (t->active > 0) t->active--;
        pthread_mutex_unlock(&t->mu);
    }
    pthread_rwlock_unlock(&p->map);
}

static void lk_spare_ready(pool_t *p, const char *key, int fd, int worker)
{
    (void)worker;
    lk_target_t *t = NULL;
    uint64_t now = now_ms(p);
    pool_key_t k;
    bool ok = pool_key_parse(p->seed, key, &k);
    pthread_rwlock_rdlock(&p->map);
    if (ok) t = find(p, &k);
    bool kept = false;
    if (t) {
        pthread_mutex_lock(&t->mu);
        bool asked = t->dialing > 0; /* a dial tick asked for: already counted */
        if (asked) {
            t->dialing--;
            pool_add_i(&p->c.dialing, -1);
        }
        if (t->idle < p->cap &&
            (asked || t->active + t->idle + t->dialing < p->cfg.max_conns)) {
            t->spares[t->idle++] = (lk_spare_t){fd, now};
            pool_add_i(&p->c.idle, 1);
            kept = true;
        }
        pthread_mutex_unlock(&t->mu);
    }
    pthread_rwlock_unlock(&p->map);
    if (!kept) close_spare(p, fd); /* unknown target or surplus */
}

static void lk_spare_failed(pool_t *p, const char *key, int worker, int dialed)
{
    (void)worker;
    if (dialed) pool_add_u(&p->c.dial_failed, 1);
    else pool_add_u(&p->c.spares_dialed, (uint64_t)-1);
    pool_key_t k;
    if (!pool_key_parse(p->seed, key, &k)) return;
    pthread_rwlock_rdlock(&p->map);
    lk_target_t *t = find(p, &k);
    if (t) {
        pthread_mutex_lock(&t->mu);
        if (t->dialing > 0) {
            t->dialing--;
            pool_add_i(&p->c.dialing, -1);
        }
        pthread_mutex_unlock(&t->mu);
    }
    pthread_rwlock_unlock(&p->map);
}

/* Target mutex held: close spares idle too long (the oldest are first). */
static void expire_spares(pool_t *p, lk_target_t *t, uint64_t now, bool all)
{
    int k = 0;
    while (k < t->idle && (all || pool_older(now, t->spares[k].since, p->cfg.max_idle_ms))) {
        close_spare(p, t->spares[k].fd);
        k++;
    }
    if (!k) return;
    memmove(t->spares, t->spares + k, (size_t)(t->idle - k) * sizeof t->spares[0]);
    t->idle -= k;
    pool_add_i(&p->c.idle, -k);
    pool_add_u(&p->c.expired, (uint64_t)k);
}

static bool forgettable(const pool_t *p, const lk_target_t *t, uint64_t now)
{
    return t->active == 0 && pool_older(now, t->last_used, p->cfg.max_idle_ms);
}

static int lk_tick(pool_t *p, int worker, pool_dial_t *out, int max)
{
    uint64_t now = now_ms(p);
    int n = 0;
    bool forget = false;
    pthread_rwlock_rdlock(&p->map);
    for (size_t b = 0; b <= p->mask; b++)
        for (lk_target_t *t = p->buckets[b]; t; t = t->next) {
            if (t->owner != worker) continue;
            pthread_mutex_lock(&t->mu);
            bool unused = pool_older(now, t->last_used, p->cfg.max_idle_ms);
            expire_spares(p, t, now, unused);
            if (unused) {
                forget |= t->active == 0;
            } else if (n < max) {
                int want = refill_want(p, t);
                if (want > 0) {
                    strcpy(out[n].key, t->key);
                    out[n++].count = want;
                    t->dialing += want;
                    pool_add_i(&p->c.dialing, want);
                    pool_add_u(&p->c.spares_dialed, (uint64_t)want);
                }
            }
            pthread_mutex_unlock(&t->mu);
        }
    pthread_rwlock_unlock(&p->map);
    if (!forget) return n;
    /* Second pass, exclusive: unlink what is still forgettable. */
    pthread_rwlock_wrlock(&p->map);
    for (size_t b = 0; b <= p->mask; b++)
        for (lk_target_t **pp = &p->buckets[b]; *pp;) {
            lk_target_t *t = *pp;
            if (t->owner == worker && forgettable(p, t, now)) {
                *pp = t->next;
                drop_target(p, t, true);
            } else {
                pp = &t->next;
            }
        }
    pthread_rwlock_unlock(&p->map);
    return n;
}

static void lk_stats(pool_t *p, pool_stats_t *s) { pool_counters_read(&p->c, s); }

typedef struct lk_entry {
    char key[POOL_KEY_MAX + 1];
    int idle;
} lk_entry_t;

/* Snapshot under the locks, callbacks after: cb may take as long as it likes. */
static void lk_status(pool_t *p, void (*cb)(const char *, int, void *), void *arg)
{
    pthread_rwlock_rdlock(&p->map);
    int n = 0;
    lk_entry_t *e = malloc(((size_t)p->ntargets + 1) * sizeof *e);
    for (size_t b = 0; e && b <= p->mask; b++)
        for (lk_target_t *t = p->buckets[b]; t; t = t->next) {
            pthread_mutex_lock(&t->mu);
            strcpy(e[n].key, t->key);
            e[n++].idle = t->idle;
            pthread_mutex_unlock(&t->mu);
        }
    pthread_rwlock_unlock(&p->map);
    for (int i = 0; i < n; i++) cb(e[i].key, e[i].idle, arg);
    free(e);
}

const pool_ops_t pool_lock_ops = {
    .name = "lock",
    .create = lk_create,
    .destroy = lk_destroy,
    .acquire = lk_acquire,
    .stream_done = lk_stream_done,
    .spare_ready = lk_spare_ready,
    .spare_failed = lk_spare_failed,
    .tick = lk_tick,
    .stats = lk_stats,
    .status = lk_status,
};
