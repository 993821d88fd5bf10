/* pool_highperf.c -- "highperf": one spare cache per worker, nothing shared on
 * the hot path.
 *
 * Each worker w owns caches[w] (cache-line aligned): its own table of targets
 * (keys interned as a 64-bit hash plus the key text, open addressing), spare fd
 * arrays and counters, all preallocated from the config (grown by doubling, up
 * to max_targets, only when a new target needs a slot: never on a HIT).
 *
 * Locking: caches[w].lock guards everything in cache w. Worker w takes it for
 * each of its own operations -- uncontended, so the line stays in w's core.
 * Another thread takes it only to steal a spare after a local miss, to finish
 * a stream_done reported on the wrong worker, or for stats/status. Locks are
 * never nested. Counters are atomics so that stats can sum them without locks,
 * but they are only ever written under their cache's lock, so a plain
 * load+store (no lock prefix) updates them.
 *
 * Contract notes, where per-worker caches differ from a shared pool:
 *  - min_idle is kept per worker that uses the target (each worker refills
 *    its own cache from its own tick), so a target used by k workers holds up
 *    to k * min_idle spares.
 *  - max_conns: a miss sums the target's counts over every cache (taking each
 *    lock in turn, stealing a spare on the way if one exists). Concurrent
 *    misses on different workers may each see the sum below the cap, so the
 *    cap can be overshot by at most nworkers - 1 at once. Refills are capped
 *    by the worker's own counts.
 *  - max_targets bounds each worker's table; `targets` in stats counts
 *    distinct keys (by hash) across workers.
 *  - Worker index w must be used by one thread at a time (it is the worker's
 *    identity); spare_ready/spare_failed come from the worker whose tick asked
 *    for the dial, stream_done normally from the worker that acquired (another
 *    one works, it just searches). */
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

typedef struct hp_slot {
    uint64_t hash;
    uint64_t last_used;
    int active, idle, dialing; /* this worker's share of the target */
    bool used;
    char key[POOL_KEY_MAX + 1];
} hp_slot_t;

/* Written only under the owning cache's lock; read by stats without it. */
typedef struct hp_counters {
    _Atomic int64_t reused, created, cleaned, stale, expired, rejected;
    _Atomic int64_t dial_failed, spares_dialed;
    _Atomic int64_t active, idle, dialing, targets;
} hp_counters_t;

typedef struct hp_cache {
    _Alignas(64) pthread_mutex_t lock;
    int nslots;                /* capacity of slots[] */
    int nfree;
    hp_slot_t *slots;
    int *free_ids;             /* stack of unused slot ids */
    int *fds;                  /* [nslots * cap]: slot i's spares, oldest first */
    uint64_t *since;           /* parallel to fds */
    uint32_t *index;           /* open addressing: slot id + 1, 0 = empty */
    uint32_t mask;
    hp_counters_t c;
} hp_cache_t;

struct pool {
    pool_config_t cfg;
    int cap;                   /* spares kept per target per worker: min_idle */
    int nw;
    uint64_t seed;             /* of the key hash */
    hp_cache_t *caches;        /* nw of them, each on its own cache lines */
};

/* Spares to close once the lock is released (flushed early if it fills). */
typedef struct hp_closer {
    int n;
    int fd[64];
} hp_closer_t;

/* ---- small helpers ---- */

static void bump(_Atomic int64_t *c, int64_t d) /* caller holds the cache lock */
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + d, memory_order_relaxed);
}

static int64_t get(_Atomic int64_t *c) { return atomic_load_explicit(c, memory_order_relaxed); }

static uint64_t now_ms(const pool_t *p) { return pool_cfg_now_ms(&p->cfg); }

static void close_fd(pool_t *p, int fd)
{
    if (p->cfg.close_fd) p->cfg.close_fd(fd, p->cfg.close_arg);
    else close(fd);
}

static void closer_flush(pool_t *p, hp_closer_t *k)
{
    for (int i = 0; i < k->n; i++) close_fd(p, k->fd[i]);
    k->n = 0;
}

/* Cache lock held: count the spare Cleaned now, close it later. */
static void closer_add(pool_t *p, hp_cache_t *c, hp_closer_t *k, int fd)
{
    if (k->n == (int)(sizeof k->fd / sizeof k->fd[0])) closer_flush(p, k);
    k->fd[k->n++] = fd;
    bump(&c->c.cleaned, 1);
}

static int worker_of(const pool_t *p, int worker)
{
    return worker >= 0 && worker < p->nw ? worker : (worker < 0 ? 0 : worker % p->nw);
}

/* ---- one cache's target table (cache lock held) ---- */

static int slot_find(const hp_cache_t *c, const pool_key_t *k)
{
    for (uint32_t i = (uint32_t)k->hash & c->mask;; i = (i + 1) & c->mask) {
        uint32_t e = c->index[i];
        if (!e) return -1;
        const hp_slot_t *s = &c->slots[e - 1];
        if (s->hash == k->hash && pool_key_eq(s->key, k)) return (int)e - 1;
    }
}

static void index_put(hp_cache_t *c, int id)
{
    uint32_t i = (uint32_t)c->slots[id].hash & c->mask;
    while (c->index[i]) i = (i + 1) & c->mask;
    c->index[i] = (uint32_t)id + 1;
}

/* Linear probing deletion with backward shift: no tombstones. */
static void index_del(hp_cache_t *c, int id)
{
    uint32_t i = (uint32_t)c->slots[id].hash & c->mask;
    while (c->index[i] != (uint32_t)id + 1) i = (i + 1) & c->mask;
    for (uint32_t j = i;;) {
        j = (j + 1) & c->mask;
        uint32_t e = c->index[j];
        if (!e) break;
        uint32_t home = (uint32_t)c->slots[e - 1].hash & c->mask;
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            c->index[i] = e;
            i = j;
        }
    }
    c->index[i] = 0;
}

/* Size every array of a cache for n slots (n > current). */
static bool cache_resize(pool_t *p, hp_cache_t *c, int n)
{
    size_t per = (size_t)p->cap;
    uint32_t isize = 16;
    while (isize < 2u * (uint32_t)n) isize <<= 1;
    hp_slot_t *slots = realloc(c->slots, (size_t)n * sizeof *slots);
    if (slots) c->slots = slots;
    int *ids = realloc(c->free_ids, (size_t)n * sizeof *ids);
    if (ids) c->free_ids = ids;
    int *fds = realloc(c->fds, (size_t)n * per * sizeof *fds + 1);
    if (fds) c->fds = fds;
    uint64_t *since = realloc(c->since, (size_t)n * per * sizeof *since + 1);
    if (since) c->since = since;
    uint32_t *index = calloc(isize, sizeof *index);
    if (!slots || !ids || !fds || !since || !index) {
        free(index);
        return false;
    }
    memset(c->slots + c->nslots, 0, (size_t)(n - c->nslots) * sizeof *slots);
    for (int id = n - 1; id >= c->nslots; id--) c->free_ids[c->nfree++] = id;
    free(c->index);
    c->index = index;
    c->mask = isize - 1;
    c->nslots = n;
    for (int id = 0; id < n; id++)
        if (c->slots[id].used) index_put(c, id);
    return true;
}

/* Drop a target from this cache: spares closed, dials in flight forgotten
 * (their results will find no slot and be closed). */
static void slot_forget(pool_t *p, hp_cache_t *c, int id, hp_closer_t *k, bool expired)
{
    hp_slot_t *s = &c->slots[id];
    for (int i = 0; i < s->idle; i++) closer_add(p, c, k, c->fds[(size_t)id * p->cap + i]);
    bump(&c->c.idle, -s->idle);
    if (expired) bump(&c->c.expired, s->idle);
    bump(&c->c.dialing, -s->dialing);
    bump(&c->c.targets, -1);
    index_del(c, id);
    s->used = false;
    c->free_ids[c->nfree++] = id;
}

/* The least recently used target, preferring one with no stream open. */
static void evict_lru(pool_t *p, hp_cache_t *c, hp_closer_t *k)
{
    int best = -1;
    for (int id = 0; id < c->nslots; id++) {
        const hp_slot_t *s = &c->slots[id];
        if (!s->used) continue;
        if (best < 0) { best = id; continue; }
        const hp_slot_t *b = &c->slots[best];
        bool sb = s->active > 0, bb = b->active > 0;
        if (sb < bb || (sb == bb && s->last_used < b->last_used)) best = id;
    }
    if (best >= 0) slot_forget(p, c, best, k, false);
}

static int slot_get(pool_t *p, hp_cache_t *c, const pool_key_t *key, uint64_t now, hp_closer_t *k)
{
    int id = slot_find(c, key);
    if (id >= 0) return id;
    if (c->nfree == 0 && c->nslots < p->cfg.max_targets) {
        int n = c->nslots * 2 < p->cfg.max_targets ? c->nslots * 2 : p->cfg.max_targets;
        cache_resize(p, c, n);
    }
    if (c->nfree == 0) evict_lru(p, c, k);
    if (c->nfree == 0) return -1;
    id = c->free_ids[--c->nfree];
    hp_slot_t *s = &c->slots[id];
    *s = (hp_slot_t){.hash = key->hash, .last_used = now, .used = true};
    memcpy(s->key, key->s, key->len + 1);
    index_put(c, id);
    bump(&c->c.targets, 1);
    return id;
}

static int *spares_of(const pool_t *p, const hp_cache_t *c, int id) { return c->fds + (size_t)id * p->cap; }

/* ---- operations ---- */

static pool_t *hp_create(const pool_config_t *cfg)
{
    if (!pool_cfg_ok(cfg)) return NULL;
    pool_t *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->cfg = *cfg;
    p->cap = cfg->min_idle < cfg->max_conns ? cfg->min_idle : cfg->max_conns;
    p->nw = cfg->nworkers;
    p->seed = pool_hash_seed();
    p->caches = aligned_alloc(_Alignof(hp_cache_t), (size_t)p->nw * sizeof(hp_cache_t));
    if (!p->caches) {
        free(p);
        return NULL;
    }
    memset(p->caches, 0, (size_t)p->nw * sizeof(hp_cache_t));
    int initial = cfg->max_targets < 1024 ? cfg->max_targets : 1024;
    for (int w = 0; w < p->nw; w++) {
        hp_cache_t *c = &p->caches[w];
        pthread_mutex_init(&c->lock, NULL);
        if (!cache_resize(p, c, initial)) {
            for (int v = 0; v <= w; v++) {
                hp_cache_t *d = &p->caches[v];
                free(d->slots); free(d->free_ids); free(d->fds); free(d->since); free(d->index);
                pthread_mutex_destroy(&d->lock);
            }
            free(p->caches);
            free(p);
            return NULL;
        }
    }
    return p;
}

static void hp_destroy(pool_t *p)
{
    for (int w = 0; w < p->nw; w++) {
        hp_cache_t *c = &p->caches[w];
        for (int id = 0; id < c->nslots; id++)
            for (int i = 0; c->slots[id].used && i < c->slots[id].idle; i++)
                close_fd(p, spares_of(p, c, id)[i]);
        free(c->slots); free(c->free_ids); free(c->fds); free(c->since); free(c->index);
        pthread_mutex_destroy(&c->lock);
    }
    free(p->caches);
    free(p);
}

/* After a local miss: take a spare from another worker's cache, summing the
 * target's counts there on the way. Returns a live fd or -1; *others gets the
 * counts seen (complete only when no spare was found). */
static int steal(pool_t *p, int w, const pool_key_t *key, int *others, int *stale)
{
    *others = 0;
    for (int i = 1; i < p->nw; i++) {
        hp_cache_t *v = &p->caches[(w + i) % p->nw];
        int fd = -1;
        pthread_mutex_lock(&v->lock);
        int id = slot_find(v, key);
        if (id >= 0) {
            hp_slot_t *s = &v->slots[id];
            if (s->idle > 0) {
                fd = spares_of(p, v, id)[--s->idle];
                bump(&v->c.idle, -1);
            }
            *others += s->active + s->idle + s->dialing;
        }
        pthread_mutex_unlock(&v->lock);
        if (fd < 0) continue;
        if (pool_spare_alive(fd)) return fd;
        close_fd(p, fd);
        ++*stale;
    }
    return -1;
}

static int hp_acquire(pool_t *p, const char *key, int worker, int *fd_out)
{
    int w = worker_of(p, worker);
    hp_cache_t *c = &p->caches[w];
    hp_closer_t cl = {0};
    *fd_out = -1;
    pool_key_t k;
    bool ok = pool_key_parse(p->seed, key, &k);
    uint64_t now = now_ms(p);
    int r = POOL_MISS;

    pthread_mutex_lock(&c->lock);
    int id = ok ? slot_get(p, c, &k, now, &cl) : -1;
    if (id < 0) goto untracked;
    hp_slot_t *s = &c->slots[id];
    s->last_used = now;
    while (s->idle > 0) { /* the hot path: a spare of our own */
        int fd = spares_of(p, c, id)[--s->idle];
        bump(&c->c.idle, -1);
        if (pool_spare_alive(fd)) {
            *fd_out = fd;
            r = POOL_HIT;
            goto counted;
        }
        closer_add(p, c, &cl, fd);
        bump(&c->c.stale, 1);
    }
    if (p->nw > 1) {
        pthread_mutex_unlock(&c->lock);
        int others, stale = 0;
        int fd = steal(p, w, &k, &others, &stale);
        pthread_mutex_lock(&c->lock);
        bump(&c->c.stale, stale);
        bump(&c->c.cleaned, stale);
        id = slot_find(c, &k); /* only worker w removes its slots: still there */
        if (id < 0) goto untracked;
        s = &c->slots[id];
        if (fd >= 0) {
            *fd_out = fd;
            r = POOL_HIT;
            goto counted;
        }
        if (s->active + s->idle + s->dialing + others >= p->cfg.max_conns) goto full;
    } else if (s->active + s->idle + s->dialing >= p->cfg.max_conns) {
        goto full;
    }
    r = POOL_MISS;
counted:
    s->active++;
    bump(&c->c.active, 1);
    bump(r == POOL_HIT ? &c->c.reused : &c->c.created, 1);
    pthread_mutex_unlock(&c->lock);
    closer_flush(p, &cl);
    return r;
full:
    bump(&c->c.rejected, 1);
    pthread_mutex_unlock(&c->lock);
    closer_flush(p, &cl);
    return POOL_FULL;
untracked: /* bad key or no slot: a plain dial */
    bump(&c->c.active, 1);
    bump(&c->c.created, 1);
    pthread_mutex_unlock(&c->lock);
    closer_flush(p, &cl);
    return POOL_MISS;
}

static void hp_stream_done(pool_t *p, const char *key, int worker)
{
    int w = worker_of(p, worker);
    hp_cache_t *c = &p->caches[w];
    pool_key_t k;
    bool ok = pool_key_parse(p->seed, key, &k);
    pthread_mutex_lock(&c->lock);
    bump(&c->c.active, -1); /* gauges are summed: any worker's will do */
    int id = ok ? slot_find(c, &k) : -1;
    bool found = id >= 0 && c->slots[id].active > 0;
    if (found) c->slots[id].active--;
    pthread_mutex_unlock(&c->lock);
    /* Reported on another worker than the acquire: find the target's count. */
    for (int i = 1; ok && !found && i < p->nw; i++) {
        hp_cache_t *v = &p->caches[(w + i) % p->nw];
        pthread_mutex_lock(&v->lock);
        id = slot_find(v, &k);
        found = id >= 0 && v->slots[id].active > 0;
        if (found) v->slots[id].active--;
        pthread_mutex_unlock(&v->lock);
    }
}

static void hp_spare_ready(pool_t *p, const char *key, int fd, int worker)
{
    hp_cache_t *c = &p->caches[worker_of(p, worker)];
    uint64_t now = now_ms(p);
    pool_key_t k;
    bool ok = pool_key_parse(p->seed, key, &k), kept = false;
    pthread_mutex_lock(&c->lock);
    int id = ok ? slot_find(c, &k) : -1;
    if (id >= 0) {
        hp_slot_t *s = &c->slots[id];
        bool asked = s->dialing > 0;
        if (asked) {
            s->dialing--;
            bump(&c->c.dialing, -1);
        }
        if (s->idle < p->cap && (asked || s->active + s->idle + s->dialing < p->cfg.max_conns)) {
            size_t at = (size_t)id * p->cap + s->idle++;
            c->fds[at] = fd;
            c->since[at] = now;
            bump(&c->c.idle, 1);
            kept = true;
        }
    }
    if (!kept) bump(&c->c.cleaned, 1);
    pthread_mutex_unlock(&c->lock);
    if (!kept) close_fd(p, fd);
}

static void hp_spare_failed(pool_t *p, const char *key, int worker)
{
    hp_cache_t *c = &p->caches[worker_of(p, worker)];
    pool_key_t k;
    bool ok = pool_key_parse(p->seed, key, &k);
    pthread_mutex_lock(&c->lock);
    bump(&c->c.dial_failed, 1);
    int id = ok ? slot_find(c, &k) : -1;
    if (id >= 0 && c->slots[id].dialing > 0) {
        c->slots[id].dialing--;
        bump(&c->c.dialing, -1);
    }
    pthread_mutex_unlock(&c->lock);
}

/* Cache lock held: close the spares idle too long (all, if `all`). */
static void expire_spares(pool_t *p, hp_cache_t *c, int id, uint64_t now, bool all, hp_closer_t *k)
{
    hp_slot_t *s = &c->slots[id];
    size_t base = (size_t)id * p->cap;
    int n = 0;
    while (n < s->idle && (all || pool_older(now, c->since[base + n], p->cfg.max_idle_ms))) {
        closer_add(p, c, k, c->fds[base + n]);
        n++;
    }
    if (!n) return;
    memmove(c->fds + base, c->fds + base + n, (size_t)(s->idle - n) * sizeof *c->fds);
    memmove(c->since + base, c->since + base + n, (size_t)(s->idle - n) * sizeof *c->since);
    s->idle -= n;
    bump(&c->c.idle, -n);
    bump(&c->c.expired, n);
}

/* Batched maintenance of this worker's own cache only. */
static int hp_tick(pool_t *p, int worker, pool_dial_t *out, int max)
{
    hp_cache_t *c = &p->caches[worker_of(p, worker)];
    hp_closer_t k = {0};
    uint64_t now = now_ms(p);
    int nout = 0;
    pthread_mutex_lock(&c->lock);
    for (int id = 0; id < c->nslots; id++) {
        hp_slot_t *s = &c->slots[id];
        if (!s->used) continue;
        bool unused = pool_older(now, s->last_used, p->cfg.max_idle_ms);
        expire_spares(p, c, id, now, unused, &k);
        if (unused) {
            if (s->active == 0) slot_forget(p, c, id, &k, true);
            continue;
        }
        if (nout >= max) continue;
        int want = p->cap - s->idle - s->dialing;
        int room = p->cfg.max_conns - (s->active + s->idle + s->dialing);
        if (want > room) want = room;
        if (want <= 0) continue;
        strcpy(out[nout].key, s->key);
        out[nout++].count = want;
        s->dialing += want;
        bump(&c->c.dialing, want);
        bump(&c->c.spares_dialed, want);
    }
    pthread_mutex_unlock(&c->lock);
    closer_flush(p, &k);
    return nout;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Distinct keys over every cache (by hash). */
static uint64_t count_targets(pool_t *p)
{
    size_t n = 0, cap = 0;
    for (int w = 0; w < p->nw; w++) cap += (size_t)get(&p->caches[w].c.targets) + 16;
    uint64_t *hs = malloc(cap * sizeof *hs);
    if (!hs) return 0;
    for (int w = 0; w < p->nw; w++) {
        hp_cache_t *c = &p->caches[w];
        pthread_mutex_lock(&c->lock);
        for (int id = 0; id < c->nslots && n < cap; id++)
            if (c->slots[id].used) hs[n++] = c->slots[id].hash;
        pthread_mutex_unlock(&c->lock);
    }
    qsort(hs, n, sizeof *hs, cmp_u64);
    uint64_t d = 0;
    for (size_t i = 0; i < n; i++) d += i == 0 || hs[i] != hs[i - 1];
    free(hs);
    return d;
}

static uint64_t clamp(int64_t v) { return v > 0 ? (uint64_t)v : 0; }

static void hp_stats(pool_t *p, pool_stats_t *s)
{
    int64_t v[12] = {0};
    for (int w = 0; w < p->nw; w++) {
        hp_counters_t *c = &p->caches[w].c;
        _Atomic int64_t *f[12] = {&c->reused, &c->created, &c->cleaned, &c->stale, &c->expired,
                                  &c->rejected, &c->dial_failed, &c->spares_dialed, &c->active,
                                  &c->idle, &c->dialing, &c->targets};
        for (int i = 0; i < 12; i++) v[i] += get(f[i]);
    }
    s->reused = clamp(v[0]);
    s->created = clamp(v[1]);
    s->total = s->reused + s->created;
    s->cleaned = clamp(v[2]);
    s->stale = clamp(v[3]);
    s->expired = clamp(v[4]);
    s->rejected = clamp(v[5]);
    s->dial_failed = clamp(v[6]);
    s->spares_dialed = clamp(v[7]);
    s->active = clamp(v[8]);
    s->idle = clamp(v[9]);
    s->dialing = clamp(v[10]);
    s->targets = p->nw == 1 ? clamp(v[11]) : count_targets(p);
}

typedef struct hp_entry {
    char key[POOL_KEY_MAX + 1];
    int idle;
} hp_entry_t;

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const hp_entry_t *)a)->key, ((const hp_entry_t *)b)->key);
}

/* One callback per distinct key, idle summed over the workers' caches. */
static void hp_status(pool_t *p, void (*cb)(const char *, int, void *), void *arg)
{
    size_t n = 0, cap = 0;
    for (int w = 0; w < p->nw; w++) cap += (size_t)get(&p->caches[w].c.targets) + 16;
    hp_entry_t *e = malloc(cap * sizeof *e);
    if (!e) return;
    for (int w = 0; w < p->nw; w++) {
        hp_cache_t *c = &p->caches[w];
        pthread_mutex_lock(&c->lock);
        for (int id = 0; id < c->nslots && n < cap; id++) {
            if (!c->slots[id].used) continue;
            strcpy(e[n].key, c->slots[id].key);
            e[n++].idle = c->slots[id].idle;
        }
        pthread_mutex_unlock(&c->lock);
    }
    qsort(e, n, sizeof *e, cmp_entry);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        int idle = 0;
        for (; j < n && strcmp(e[j].key, e[i].key) == 0; j++) idle += e[j].idle;
        cb(e[i].key, idle, arg);
        i = j;
    }
    free(e);
}

const pool_ops_t pool_highperf_ops = {
    .name = "highperf",
    .create = hp_create,
    .destroy = hp_destroy,
    .acquire = hp_acquire,
    .stream_done = hp_stream_done,
    .spare_ready = hp_spare_ready,
    .spare_failed = hp_spare_failed,
    .tick = hp_tick,
    .stats = hp_stats,
    .status = hp_status,
};
