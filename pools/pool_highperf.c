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
 * a stream_done reported on the wrong worker, to count the target for the
 * cap (below), or for stats/status. Counters are atomics so that stats can sum
 * them without locks, but they are only ever written under their cache's
 * lock, so a plain load+store (no lock prefix) updates them.
 *
 * The cap, exact across workers: a target's connections are the sum over the
 * caches of active + idle + dialing + reserved, and that sum never exceeds
 * max_conns. Whatever *raises* it (a dial for a stream, a refill, a spare
 * nobody asked for) holds the key's grow lock (one of HP_GROW stripes, by
 * hash) while it counts the other caches, one cache lock at a time, and adds
 * to its own. Everything else only moves a connection within one cache (a
 * spare handed out, stolen or arriving; a stream ending into a credit) or
 * lowers the sum, under that cache's lock alone. With the raisers serialised
 * per key and nobody else raising, a sum read one cache at a time is never
 * below the true one, so adding to it cannot pass the cap. Lock order: grow
 * lock, then cache locks one at a time; a cache lock is never held while
 * taking another lock.
 *
 * Credits keep that off the hot path. A stream that ends leaves its room in
 * the cache that counted it (`reserved`: counted, no connection) rather than
 * giving it back: the same worker's next dial, unasked spare or refill uses it
 * under its own lock, with no grow lock and no other cache touched. Each tick
 * gives back the credits its refill did not use, and a worker that needs room
 * while another holds a credit takes it (under the grow lock). So a cycle of
 * take a spare / end the stream / get a spare back, or a steady refill, stays
 * within one cache, as before.
 *
 * Contract notes, where per-worker caches differ from a shared pool:
 *  - min_idle is kept per worker that uses the target (each worker refills
 *    its own cache from its own tick), so a target used by k workers holds up
 *    to k * min_idle spares -- within max_conns, which holds them all.
 *  - A spare stolen from another worker's cache is counted active there.
 *  - As in lock: a target forgotten with streams open or dials in flight
 *    (LRU eviction past max_targets; a forgotten target has no stream open
 *    but may have dials) loses those from its count until they end.
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
    int reserved;              /* credits: counted room without a connection */
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

/* Grow lock stripes: targets that share one only serialise their dials. */
#define HP_GROW 64

struct pool {
    pool_config_t cfg;
    int cap;                   /* spares kept per target per worker: min_idle */
    int nw;
    uint64_t seed;             /* of the key hash */
    hp_cache_t *caches;        /* nw of them, each on its own cache lines */
    pthread_mutex_t grow[HP_GROW]; /* a key's is held to raise its count */
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

/* What the target counts against max_conns in this cache. */
static int slot_total(const hp_slot_t *s) { return s->active + s->idle + s->dialing + s->reserved; }

static pthread_mutex_t *grow_lock(pool_t *p, const pool_key_t *k) { return &p->grow[(k->hash >> 40) % HP_GROW]; }

/* Cache lock held: the newest live spare of slot id, now counted active
 * (idle -> active: the target's total is unchanged); stale ones are closed on
 * the way. -1 if none. */
static int take_spare(pool_t *p, hp_cache_t *c, int id, hp_closer_t *k)
{
    hp_slot_t *s = &c->slots[id];
    while (s->idle > 0) {
        int fd = spares_of(p, c, id)[--s->idle];
        bump(&c->c.idle, -1);
        if (pool_spare_alive(fd)) {
            s->active++;
            bump(&c->c.active, 1);
            return fd;
        }
        closer_add(p, c, k, fd);
        bump(&c->c.stale, 1);
    }
    return -1;
}

/* Cache lock held: keep fd as a spare of slot id. */
static void put_spare(pool_t *p, hp_cache_t *c, int id, int fd, uint64_t now)
{
    size_t at = (size_t)id * p->cap + c->slots[id].idle++;
    c->fds[at] = fd;
    c->since[at] = now;
    bump(&c->c.idle, 1);
}

/* Grow lock held, no cache lock: the key's count in every cache but w's,
 * each read under its own lock. If take_credit, the first credit found is
 * taken out of its cache instead (*credit set; the sum is then incomplete,
 * and not needed: the credit is room already counted). */
static int others_count(pool_t *p, int w, const pool_key_t *key, bool take_credit, bool *credit)
{
    int sum = 0;
    *credit = false;
    for (int i = 1; i < p->nw && !*credit; i++) {
        hp_cache_t *v = &p->caches[(w + i) % p->nw];
        pthread_mutex_lock(&v->lock);
        int id = slot_find(v, key);
        if (id >= 0) {
            hp_slot_t *s = &v->slots[id];
            if (take_credit && s->reserved > 0) {
                s->reserved--;
                *credit = true;
            }
            sum += slot_total(s);
        }
        pthread_mutex_unlock(&v->lock);
    }
    return sum;
}

/* One more connection of key in worker w's cache, if the target has room:
 * a stream's (fd < 0: the caller dials; counted New and Active) or the spare
 * fd (kept only below min_idle). Room is a credit in any cache, else the
 * total over the caches below max_conns. False: no room (or no slot). */
static bool grow(pool_t *p, int w, const pool_key_t *key, int fd, uint64_t now)
{
    hp_cache_t *c = &p->caches[w];
    pthread_mutex_t *g = grow_lock(p, key);
    bool credit, ok = false;
    pthread_mutex_lock(g);
    int others = others_count(p, w, key, true, &credit);
    pthread_mutex_lock(&c->lock);
    int id = slot_find(c, key); /* only worker w removes its slots: still there */
    if (id >= 0) {
        hp_slot_t *s = &c->slots[id];
        if (!credit && s->reserved > 0) {
            s->reserved--;
            credit = true;
        }
        ok = (fd < 0 || s->idle < p->cap) && (credit || others + slot_total(s) < p->cfg.max_conns);
        if (ok && fd < 0) {
            s->active++;
            bump(&c->c.active, 1);
            bump(&c->c.created, 1);
        } else if (ok) {
            put_spare(p, c, id, fd, now);
        }
    }
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_unlock(g);
    return ok;
}

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
    for (int i = 0; i < HP_GROW; i++) pthread_mutex_init(&p->grow[i], NULL);
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
    for (int i = 0; i < HP_GROW; i++) pthread_mutex_destroy(&p->grow[i]);
    free(p->caches);
    free(p);
}

/* After a local miss: a live spare from another worker's cache, counted
 * active in that cache (its idle -> its active: no count rises, so no grow
 * lock). -1 if no cache has one. */
static int steal(pool_t *p, int w, const pool_key_t *key, hp_closer_t *k)
{
    for (int i = 1; i < p->nw; i++) {
        hp_cache_t *v = &p->caches[(w + i) % p->nw];
        pthread_mutex_lock(&v->lock);
        int id = slot_find(v, key);
        int fd = id >= 0 ? take_spare(p, v, id, k) : -1;
        pthread_mutex_unlock(&v->lock);
        if (fd >= 0) return fd;
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
    int r = -1; /* not decided yet */

    pthread_mutex_lock(&c->lock);
    int id = ok ? slot_get(p, c, &k, now, &cl) : -1;
    if (id < 0) { /* bad key or no slot: a plain dial, untracked */
        bump(&c->c.active, 1);
        bump(&c->c.created, 1);
        pthread_mutex_unlock(&c->lock);
        closer_flush(p, &cl);
        return POOL_MISS;
    }
    hp_slot_t *s = &c->slots[id];
    s->last_used = now;
    int fd = take_spare(p, c, id, &cl); /* the hot path: a spare of our own */
    if (fd >= 0) {
        bump(&c->c.reused, 1);
        r = POOL_HIT;
    }
    pthread_mutex_unlock(&c->lock);
    /* No spare here: another worker's spare saves a dial, so it is tried before
     * this worker's own credit (room to dial), which stays for later. */
    if (r < 0 && p->nw > 1 && (fd = steal(p, w, &k, &cl)) >= 0) {
        pthread_mutex_lock(&c->lock);
        bump(&c->c.reused, 1);
        pthread_mutex_unlock(&c->lock);
        r = POOL_HIT;
    }
    if (r < 0) {
        pthread_mutex_lock(&c->lock);
        int again = slot_find(c, &k);  /* the slot may have moved while unlocked */
        if (again >= 0 && c->slots[again].reserved > 0) { /* a credit of our own: room without asking */
            c->slots[again].reserved--;
            c->slots[again].active++;
            bump(&c->c.active, 1);
            bump(&c->c.created, 1);
            r = POOL_MISS;
        }
        pthread_mutex_unlock(&c->lock);
    }
    closer_flush(p, &cl);
    if (r == POOL_HIT) *fd_out = fd;
    if (r >= 0) return r;
    if (grow(p, w, &k, -1, now)) return POOL_MISS; /* a new connection, if the target has room */
    pthread_mutex_lock(&c->lock);
    bump(&c->c.rejected, 1);
    pthread_mutex_unlock(&c->lock);
    return POOL_FULL;
}

/* Cache lock held: a stream of slot id ended; its room stays as a credit. */
static bool end_stream(hp_cache_t *c, int id)
{
    if (id < 0 || c->slots[id].active <= 0) return false;
    c->slots[id].active--;
    c->slots[id].reserved++;
    return true;
}

static void hp_stream_done(pool_t *p, const char *key, int worker)
{
    int w = worker_of(p, worker);
    hp_cache_t *c = &p->caches[w];
    pool_key_t k;
    bool ok = pool_key_parse(p->seed, key, &k);
    pthread_mutex_lock(&c->lock);
    bump(&c->c.active, -1); /* gauges are summed: any worker's will do */
    bool found = ok && end_stream(c, slot_find(c, &k));
    pthread_mutex_unlock(&c->lock);
    /* Counted in another cache (a stolen spare, or reported on another worker
     * than the acquire): find a count there. */
    for (int i = 1; ok && !found && i < p->nw; i++) {
        hp_cache_t *v = &p->caches[(w + i) % p->nw];
        pthread_mutex_lock(&v->lock);
        found = end_stream(v, slot_find(v, &k));
        pthread_mutex_unlock(&v->lock);
    }
}

static void hp_spare_ready(pool_t *p, const char *key, int fd, int worker)
{
    int w = worker_of(p, worker);
    hp_cache_t *c = &p->caches[w];
    uint64_t now = now_ms(p);
    pool_key_t k;
    bool ok = pool_key_parse(p->seed, key, &k), kept = false, unasked = false;
    pthread_mutex_lock(&c->lock);
    int id = ok ? slot_find(c, &k) : -1;
    if (id >= 0) {
        hp_slot_t *s = &c->slots[id];
        bool asked = s->dialing > 0; /* counted when tick asked for it */
        if (asked) {
            s->dialing--;
            bump(&c->c.dialing, -1);
        }
        if (s->idle < p->cap && (asked || s->reserved > 0)) {
            if (!asked) s->reserved--;
            put_spare(p, c, id, fd, now);
            kept = true;
        } else {
            unasked = !asked && s->idle < p->cap; /* wanted, if the target has room */
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (unasked) kept = grow(p, w, &k, fd, now);
    if (kept) return;
    pthread_mutex_lock(&c->lock);
    bump(&c->c.cleaned, 1);
    pthread_mutex_unlock(&c->lock);
    close_fd(p, fd);
}

static void hp_spare_failed(pool_t *p, const char *key, int worker, int dialed)
{
    hp_cache_t *c = &p->caches[worker_of(p, worker)];
    pool_key_t k;
    bool ok = pool_key_parse(p->seed, key, &k);
    pthread_mutex_lock(&c->lock);
    if (dialed) bump(&c->c.dial_failed, 1);
    else bump(&c->c.spares_dialed, -1);
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

/* Cache lock held: ask for n more dials for slot id into out entry e. */
static void ask_dials(hp_cache_t *c, int id, pool_dial_t *e, int n)
{
    c->slots[id].dialing += n;
    e->count += n;
    bump(&c->c.dialing, n);
    bump(&c->c.spares_dialed, n);
}

/* Maintenance of this worker's own cache only. First pass, own lock: expiry,
 * forgetting, and refills paid for by this cache's credits (the rest of the
 * credits go back to the target). Second pass, for refills that want more:
 * room counted over the caches under the key's grow lock. */
static int hp_tick(pool_t *p, int worker, pool_dial_t *out, int max)
{
    int w = worker_of(p, worker);
    hp_cache_t *c = &p->caches[w];
    hp_closer_t k = {0};
    uint64_t now = now_ms(p);
    int nout = 0, more = 0;
    pthread_mutex_lock(&c->lock);
    for (int id = 0; id < c->nslots; id++) {
        hp_slot_t *s = &c->slots[id];
        if (!s->used) continue;
        bool unused = pool_older(now, s->last_used, p->cfg.max_idle_ms);
        expire_spares(p, c, id, now, unused, &k);
        int credits = s->reserved;
        s->reserved = 0;
        if (unused) {
            if (s->active == 0) slot_forget(p, c, id, &k, true);
            continue;
        }
        int want = p->cap - s->idle - s->dialing;
        if (want <= 0 || nout >= max) continue;
        strcpy(out[nout].key, s->key);
        out[nout].count = 0;
        ask_dials(c, id, &out[nout], want < credits ? want : credits);
        more += want > credits;
        nout++;
    }
    pthread_mutex_unlock(&c->lock);
    closer_flush(p, &k);
    for (int i = 0; more && i < nout; i++) {
        pool_key_t key;
        if (!pool_key_parse(p->seed, out[i].key, &key)) continue;
        pthread_mutex_lock(&c->lock);
        int id = slot_find(c, &key); /* only this worker removes its slots */
        bool wants = id >= 0 && c->slots[id].idle + c->slots[id].dialing < p->cap;
        pthread_mutex_unlock(&c->lock);
        if (!wants) continue;
        pthread_mutex_t *g = grow_lock(p, &key);
        bool unused_credit;
        pthread_mutex_lock(g);
        int others = others_count(p, w, &key, false, &unused_credit);
        pthread_mutex_lock(&c->lock);
        hp_slot_t *s = &c->slots[id];
        int want = p->cap - s->idle - s->dialing;
        int room = p->cfg.max_conns - (others + slot_total(s));
        if (want > room) want = room;
        if (want > 0) ask_dials(c, id, &out[i], want);
        pthread_mutex_unlock(&c->lock);
        pthread_mutex_unlock(g);
    }
    int n = 0; /* drop the entries that got no dial */
    for (int i = 0; i < nout; i++)
        if (out[i].count > 0) out[n++] = out[i];
    return n;
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
