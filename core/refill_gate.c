/* refill_gate.c -- request counts (a process-wide table of atomics) and refill
 * backoff (per worker: an open-addressing table of key hashes, least recently
 * seen dropped when full) (refill_gate.h). */
#include "refill_gate.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 60000

typedef struct gentry {
    uint64_t hash;             /* 0: free */
    uint64_t seen_ms;          /* last result */
    uint64_t next_ok_ms;       /* no refill before this */
    uint32_t fails;            /* refill failures in a row */
} gentry_t;

/* ---- process-wide: requests per target ---- */

/* A slot: the key hash's top 48 bits as a tag, and a count that stops at 2. */
struct gate_seen {
    uint64_t seed;
    size_t mask;
    _Atomic uint64_t *slot;
};

static uint64_t seed_new(const void *salt)
{
    uint64_t s;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s)
        s = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)salt;
    return s;
}

gate_seen_t *gate_seen_new(int slots)
{
    gate_seen_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    size_t n = 1024;
    while (n < (size_t)slots) n *= 2;
    s->slot = calloc(n, sizeof *s->slot);
    if (!s->slot) { free(s); return NULL; }
    s->mask = n - 1;
    s->seed = seed_new(s);
    return s;
}

void gate_seen_free(gate_seen_t *s)
{
    if (!s) return;
    free(s->slot);
    free(s);
}

struct gate {
    uint64_t seed;
    size_t cap;                /* power of two, >= 2 * max */
    int max, n;
    gentry_t *tab;
};

gate_t *gate_new(int max_targets)
{
    gate_t *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->max = max_targets > 0 ? max_targets : 1;
    g->cap = 16;
    while (g->cap < 2 * (size_t)g->max) g->cap *= 2;
    g->tab = calloc(g->cap, sizeof *g->tab);
    if (!g->tab) { free(g); return NULL; }
    g->seed = seed_new(g);
    return g;
}

void gate_free(gate_t *g)
{
    if (!g) return;
    free(g->tab);
    free(g);
}

/* FNV-1a over the key, mixed with the seed; never 0 (0 marks a free slot). */
static uint64_t hash_seeded(uint64_t seed, const char *key)
{
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) h = (h ^ *p) * 0x100000001b3ull;
    h ^= h >> 29;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 32;
    return h ? h : 1;
}

static uint64_t key_hash(const gate_t *g, const char *key) { return hash_seeded(g->seed, key); }

#define SEEN_COUNT_MASK 3ull

void gate_requested(gate_seen_t *s, const char *key)
{
    uint64_t h = hash_seeded(s->seed, key);
    uint64_t tag = h & ~SEEN_COUNT_MASK;
    _Atomic uint64_t *slot = &s->slot[(h >> 7) & s->mask];
    uint64_t v = atomic_load_explicit(slot, memory_order_relaxed);
    for (;;) {
        if ((v & ~SEEN_COUNT_MASK) == tag && (v & SEEN_COUNT_MASK) >= 2) return;  /* read only */
        uint64_t nv = (v & ~SEEN_COUNT_MASK) == tag ? v + 1 : tag | 1;
        if (atomic_compare_exchange_weak_explicit(slot, &v, nv, memory_order_relaxed, memory_order_relaxed))
            return;
    }
}

static int seen_twice(const gate_seen_t *s, const char *key)
{
    uint64_t h = hash_seeded(s->seed, key);
    uint64_t v = atomic_load_explicit(&s->slot[(h >> 7) & s->mask], memory_order_relaxed);
    return (v & ~SEEN_COUNT_MASK) == (h & ~SEEN_COUNT_MASK) && (v & SEEN_COUNT_MASK) >= 2;
}

static gentry_t *probe(const gate_t *g, uint64_t h)
{
    for (size_t i = (size_t)h & (g->cap - 1);; i = (i + 1) & (g->cap - 1))
        if (!g->tab[i].hash || g->tab[i].hash == h) return &g->tab[i];
}

/* Backward-shift deletion keeps every probe chain whole. */
static void erase(gate_t *g, gentry_t *e)
{
    size_t i = (size_t)(e - g->tab);
    e->hash = 0;
    for (size_t j = (i + 1) & (g->cap - 1); g->tab[j].hash; j = (j + 1) & (g->cap - 1)) {
        size_t home = (size_t)g->tab[j].hash & (g->cap - 1);
        int between = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (between) continue;
        g->tab[i] = g->tab[j];
        g->tab[j].hash = 0;
        i = j;
    }
    g->n--;
}

static gentry_t *find(gate_t *g, const char *key)
{
    gentry_t *e = probe(g, key_hash(g, key));
    return e->hash ? e : NULL;
}

static gentry_t *find_or_add(gate_t *g, const char *key, uint64_t now)
{
    uint64_t h = key_hash(g, key);
    gentry_t *e = probe(g, h);
    if (e->hash) return e;
    if (g->n >= g->max) {
        /* full: drop the target seen least recently (a scan, only when full) */
        gentry_t *old = NULL;
        for (size_t i = 0; i < g->cap; i++)
            if (g->tab[i].hash && (!old || g->tab[i].seen_ms < old->seen_ms)) old = &g->tab[i];
        erase(g, old);
        e = probe(g, h);
    }
    memset(e, 0, sizeof *e);
    e->hash = h;
    e->seen_ms = now;
    g->n++;
    return e;
}

void gate_reached(gate_t *g, const char *key)
{
    gentry_t *e = find(g, key);
    if (e) erase(g, e);
}

int gate_allows(gate_t *g, const gate_seen_t *s, const char *key, uint64_t now_ms)
{
    if (!seen_twice(s, key)) return 0;
    gentry_t *e = find(g, key);
    return !e || (e->fails < GATE_FORGET_AFTER && now_ms >= e->next_ok_ms);
}

void gate_result(gate_t *g, const char *key, int ok, uint64_t now_ms)
{
    if (ok) { gate_reached(g, key); return; }
    gentry_t *e = find_or_add(g, key, now_ms);
    e->seen_ms = now_ms;
    if (e->fails < UINT32_MAX) e->fails++;
    uint64_t wait = BACKOFF_FIRST_MS;
    for (uint32_t i = 1; i < e->fails && wait < BACKOFF_MAX_MS; i++) wait *= 2;
    e->next_ok_ms = now_ms + (wait < BACKOFF_MAX_MS ? wait : BACKOFF_MAX_MS);
}
