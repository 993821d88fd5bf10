/* pool_lockfree.c -- "lockfree": liburcu's RCU lock-free hash table (cds_lfht)
 * maps keys to targets; each target's spares are a lock-free stack
 * (cds_lfs, newest on top); counters and per-target accounting are atomics.
 * No locks anywhere: memory is reclaimed through RCU (call_rcu).
 *
 * RCU flavour: urcu-memb (<urcu.h>, -lurcu). Readers are cheap (no memory
 * barrier on the read side: the writer uses membarrier(2)), and it needs no
 * periodic quiescent-state calls, which the pool could not make on its callers'
 * behalf (QSBR would). urcu-bp would register threads lazily by itself, at the
 * price of a slower read side.
 *
 * Thread registration: every thread that reads an RCU structure must be
 * registered with urcu. The pool does it itself: on a thread's first call
 * (thread-local flag) it calls rcu_register_thread() and sets a pthread key
 * whose destructor calls rcu_unregister_thread() when the thread exits. So
 * callers need not know about urcu, but must not register their threads with
 * urcu-memb themselves (liburcu forbids registering a thread twice); nothing
 * else in this project uses liburcu.
 *
 * We use liburcu's library entry points, not its inline (_LGPL_SOURCE) ones:
 * no LGPL code is inlined into ours, and ThreadSanitizer sees this file's
 * accesses only, not liburcu's (which is not instrumented).
 *
 * Memory safety:
 *  - Targets are unlinked with cds_lfht_del (under rcu_read_lock) and freed
 *    with call_rcu, after every reader that could still hold them is done.
 *  - Spares are popped with __cds_lfs_pop under rcu_read_lock, which liburcu
 *    makes ABA-safe provided a popped node is neither freed nor pushed again
 *    before a grace period: popped nodes are always freed through call_rcu and
 *    never re-pushed (tick's expiry pops all and pushes *fresh* copies of the
 *    survivors).
 *  - A spare pushed onto a target that is being removed is not lost: the
 *    remover sets t->dead and then pops everything; a pusher pushes and then
 *    reads t->dead, and drains if it is set. Both sides are sequentially
 *    consistent (seq_cst load/store plus the full barriers liburcu's push and
 *    pop_all issue), so at least one of them sees the other's write.
 *  - Per-target accounting: t->conns (active + idle + dialing) is the
 *    max_conns reservation, taken with a CAS loop before the count grows;
 *    t->idle is reserved (< min_idle) before a push and released after a pop.
 *    These CAS loops are on plain integers whose value is all that matters
 *    (no pointer is read through them), so ABA cannot hurt them. The only
 *    linked structures are liburcu's, used under their documented rules.
 *  - Dials counted on a target being removed are not lost either: tick adds
 *    to t->dialing and then reads t->dead; retire() sets t->dead and then
 *    exchanges t->dialing with 0 (seq_cst both), see start_dials().
 *  - Known transient: while a tick rebuilds a stack to drop expired spares, a
 *    concurrent acquire on that target may see it empty and MISS.
 *
 * Refill ownership: target hash(key) % nworkers is maintained (expired,
 * forgotten, refilled) by that worker's tick. */
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

#include <urcu.h>          /* urcu-memb flavour */
#include <urcu/lfstack.h>
#include <urcu/rculfhash.h>

/* ---- ThreadSanitizer annotations ----
 * TSan cannot see liburcu's synchronization (the library is not instrumented).
 * Publication of nodes is made visible with release/acquire atomics of our own
 * (target->ready, spare->since). What remains is RCU's grace period: a node
 * freed by a call_rcu callback was last read by threads that have all left
 * their read-side critical section. We tell TSan exactly that: each thread
 * "releases" a dummy address when it leaves a critical section (and before
 * call_rcu), and each reclaim callback "acquires" it before free(). No-ops in
 * normal builds. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LF_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define LF_TSAN 1
#endif
#ifdef LF_TSAN
#include <sanitizer/tsan_interface.h>
static char lf_tsan_gp; /* an address only; never read or written */
#define TSAN_RELEASE() __tsan_release(&lf_tsan_gp)
#define TSAN_ACQUIRE() __tsan_acquire(&lf_tsan_gp)
#else
#define TSAN_RELEASE() ((void)0)
#define TSAN_ACQUIRE() ((void)0)
#endif

typedef struct lf_spare {
    struct cds_lfs_node node;
    _Atomic int fd;
    _Atomic uint64_t since;    /* stored last with release: publishes the node */
    struct lf_spare *tmp;      /* private list while tick rebuilds a stack */
    struct rcu_head rcu;
} lf_spare_t;

typedef struct lf_target {
    struct cds_lfht_node node;
    struct __cds_lfs_stack spares; /* newest on top */
    _Atomic int ready;         /* stored with release after init: publishes it */
    _Atomic int dead;          /* unlinked: pushers must drain */
    _Atomic int conns;         /* active + idle + dialing, capped at max_conns */
    _Atomic int active, idle, dialing;
    _Atomic uint64_t last_used;
    uint64_t hash;
    int owner;                 /* worker whose tick maintains it */
    struct rcu_head rcu;
    char key[POOL_KEY_MAX + 1];
} lf_target_t;

/* Statistics: pool_counters_t (pool_impl.h), relaxed atomics. */

struct pool {
    pool_config_t cfg;
    int cap;                   /* spares kept per target: min_idle */
    uint64_t seed;             /* of the key hash */
    struct cds_lfht *ht;
    pool_counters_t c;
};

/* ---- small helpers ---- */

static int ld(_Atomic int *c) { return atomic_load_explicit(c, memory_order_relaxed); }
static void add(_Atomic int *c, int n) { atomic_fetch_add_explicit(c, n, memory_order_relaxed); }

/* Take `want` (at most) units of a counter capped at max; returns how many. */
static int reserve_upto(_Atomic int *c, int max, int want)
{
    int v = ld(c), n;
    do {
        n = max - v < want ? max - v : want;
        if (n <= 0) return 0;
    } while (!atomic_compare_exchange_weak_explicit(c, &v, v + n, memory_order_relaxed,
                                                    memory_order_relaxed));
    return n;
}

static bool reserve(_Atomic int *c, int max) { return reserve_upto(c, max, 1) == 1; }

static bool dec_if_positive(_Atomic int *c)
{
    int v = ld(c);
    do {
        if (v <= 0) return false;
    } while (!atomic_compare_exchange_weak_explicit(c, &v, v - 1, memory_order_relaxed,
                                                    memory_order_relaxed));
    return true;
}

static uint64_t now_ms(const pool_t *p) { return pool_cfg_now_ms(&p->cfg); }

static void close_spare(pool_t *p, int fd)
{
    if (p->cfg.close_fd) p->cfg.close_fd(fd, p->cfg.close_arg);
    else close(fd);
    pool_add_u(&p->c.cleaned, 1);
}

/* ---- RCU: registration, critical sections, reclamation ---- */

static pthread_once_t lf_once = PTHREAD_ONCE_INIT;
static pthread_key_t lf_key;  /* its destructor unregisters an exiting thread */
static __thread bool lf_registered; /* per thread: no sharing */

static void lf_thread_exit(void *unused)
{
    (void)unused;
    rcu_unregister_thread();
}
static void lf_make_key(void) { pthread_key_create(&lf_key, lf_thread_exit); }

static void lf_register(void)
{
    if (lf_registered) return;
    pthread_once(&lf_once, lf_make_key);
    rcu_register_thread();
    pthread_setspecific(lf_key, (void *)1); /* non-NULL: destructor runs */
    lf_registered = true;
}

static void lf_enter(void)
{
    lf_register();
    rcu_read_lock();
}

static void lf_exit(void)
{
    TSAN_RELEASE();
    rcu_read_unlock();
}

static void free_spare_cb(struct rcu_head *h)
{
    TSAN_ACQUIRE();
    free(caa_container_of(h, lf_spare_t, rcu));
}

static void free_target_cb(struct rcu_head *h)
{
    TSAN_ACQUIRE();
    free(caa_container_of(h, lf_target_t, rcu));
}

static void defer_free(struct rcu_head *h, void (*fn)(struct rcu_head *))
{
    TSAN_RELEASE();
    call_rcu(h, fn);
}

/* ---- targets ---- */

static lf_target_t *tgt(struct cds_lfht_node *n)
{
    lf_target_t *t = caa_container_of(n, lf_target_t, node);
    (void)atomic_load_explicit(&t->ready, memory_order_acquire); /* pairs with init */
    return t;
}

static int lf_match(struct cds_lfht_node *n, const void *arg)
{
    const lf_target_t *t = tgt(n);
    const pool_key_t *k = arg;
    return t->hash == k->hash && pool_key_eq(t->key, k);
}

/* In a read-side critical section. */
static lf_target_t *lf_find(pool_t *p, const pool_key_t *k)
{
    struct cds_lfht_iter it;
    cds_lfht_lookup(p->ht, (unsigned long)k->hash, lf_match, k, &it);
    struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
    return n ? tgt(n) : NULL;
}

static uint64_t spare_since(lf_spare_t *s)
{
    return atomic_load_explicit(&s->since, memory_order_acquire);
}

/* A node of a list popped with __cds_lfs_pop_all, taken (acquire) before its
 * link is read, so the node's initialisation is ordered before our reads. */
static lf_spare_t *spare_of(struct cds_lfs_node *n)
{
    lf_spare_t *s = caa_container_of(n, lf_spare_t, node);
    (void)spare_since(s);
    return s;
}

static lf_spare_t *new_spare(int fd, uint64_t since)
{
    lf_spare_t *s = malloc(sizeof *s);
    if (!s) return NULL;
    cds_lfs_node_init(&s->node);
    s->tmp = NULL;
    atomic_store_explicit(&s->fd, fd, memory_order_relaxed);
    atomic_store_explicit(&s->since, since, memory_order_release);
    return s;
}

/* Close a popped spare: the per-target and global accounting it held. */
static void discard_spare(pool_t *p, lf_target_t *t, lf_spare_t *s, bool expired)
{
    (void)spare_since(s);
    close_spare(p, atomic_load_explicit(&s->fd, memory_order_relaxed));
    add(&t->idle, -1);
    add(&t->conns, -1);
    pool_add_i(&p->c.idle, -1);
    if (expired) pool_add_u(&p->c.expired, 1);
    defer_free(&s->rcu, free_spare_cb);
}

static void drain(pool_t *p, lf_target_t *t, bool expired)
{
    struct cds_lfs_head *h = __cds_lfs_pop_all(&t->spares);
    for (struct cds_lfs_node *n = h ? &h->node : NULL, *next; n; n = next) {
        lf_spare_t *s = spare_of(n);
        next = n->next;
        discard_spare(p, t, s, expired);
    }
}

/* Push, then make sure the spare is not stranded on a removed target. */
static void push_spare(pool_t *p, lf_target_t *t, lf_spare_t *s)
{
    cds_lfs_push(&t->spares, &s->node);
    if (atomic_load_explicit(&t->dead, memory_order_seq_cst)) drain(p, t, false);
}

/* After a successful cds_lfht_del: close its spares, free it after a grace
 * period. In a read-side critical section. */
static void retire(pool_t *p, lf_target_t *t, bool expired)
{
    atomic_store_explicit(&t->dead, 1, memory_order_seq_cst);
    drain(p, t, expired);
    int d = atomic_exchange_explicit(&t->dialing, 0, memory_order_seq_cst); /* see start_dials */
    add(&t->conns, -d);
    pool_add_i(&p->c.dialing, -d); /* their results will find no target */
    pool_add_i(&p->c.targets, -1);
    defer_free(&t->rcu, free_target_cb);
}

/* Forget the least recently used target other than `self`, preferring one with
 * no stream open. In a read-side critical section. */
static void evict_lru(pool_t *p, lf_target_t *self)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        struct cds_lfht_iter it;
        struct cds_lfht_node *n;
        lf_target_t *best = NULL;
        bool best_busy = false;
        uint64_t best_used = 0;
        cds_lfht_for_each(p->ht, &it, n) {
            lf_target_t *t = tgt(n);
            if (t == self || atomic_load_explicit(&t->dead, memory_order_relaxed)) continue;
            bool busy = ld(&t->active) > 0;
            uint64_t used = atomic_load_explicit(&t->last_used, memory_order_relaxed);
            if (!best || busy < best_busy || (busy == best_busy && used < best_used)) {
                best = t;
                best_busy = busy;
                best_used = used;
            }
        }
        if (!best) return;
        if (cds_lfht_del(p->ht, &best->node) == 0) {
            retire(p, best, false);
            return;
        }
        /* Someone else removed it first: look again. */
    }
}

static lf_target_t *lf_get(pool_t *p, const pool_key_t *k, uint64_t now)
{
    lf_target_t *t = lf_find(p, k);
    if (t) return t;
    t = calloc(1, sizeof *t);
    if (!t) return NULL;
    cds_lfht_node_init(&t->node);
    __cds_lfs_init(&t->spares);
    t->hash = k->hash;
    t->owner = (int)(k->hash % (uint64_t)p->cfg.nworkers);
    memcpy(t->key, k->s, k->len + 1);
    atomic_store_explicit(&t->last_used, now, memory_order_relaxed);
    atomic_store_explicit(&t->ready, 1, memory_order_release);
    struct cds_lfht_node *n = cds_lfht_add_unique(p->ht, (unsigned long)k->hash, lf_match, k, &t->node);
    if (n != &t->node) { /* lost a race with another insert: never published */
        free(t);
        return tgt(n);
    }
    atomic_fetch_add_explicit(&p->c.targets, 1, memory_order_relaxed);
    if (atomic_load_explicit(&p->c.targets, memory_order_relaxed) > p->cfg.max_targets)
        evict_lru(p, t);
    return t;
}

/* ---- operations ---- */

static pool_t *lf_create(const pool_config_t *cfg)
{
    if (!pool_cfg_ok(cfg)) return NULL;
    pool_t *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->cfg = *cfg;
    p->cap = cfg->min_idle < cfg->max_conns ? cfg->min_idle : cfg->max_conns;
    p->seed = pool_hash_seed();
    unsigned long n = 16;
    while (n < (unsigned long)cfg->max_targets && n < (1ul << 16)) n <<= 1;
    /* Sized for max_targets up front: no resize worker needed. */
    p->ht = cds_lfht_new(n, n, 0, 0, NULL);
    if (!p->ht) {
        free(p);
        return NULL;
    }
    return p;
}

static void lf_destroy(pool_t *p)
{
    struct cds_lfht_iter it;
    struct cds_lfht_node *n;
    lf_enter();
    cds_lfht_for_each(p->ht, &it, n)
        if (cds_lfht_del(p->ht, n) == 0) retire(p, tgt(n), false);
    lf_exit();
    /* Every spare is closed by now. Nodes still waiting for their grace period
     * are freed later by liburcu's call_rcu thread; their callbacks never
     * touch the pool, so no rcu_barrier() is needed (and liburcu's barrier
     * hands memory between threads in ways ThreadSanitizer cannot see). */
    cds_lfht_destroy(p->ht, NULL);
    free(p);
}

static int lf_acquire(pool_t *p, const char *key, int worker, int *fd_out)
{
    (void)worker; /* any worker may use any target */
    *fd_out = -1;
    uint64_t now = now_ms(p);
    pool_key_t k;
    bool ok = pool_key_parse(p->seed, key, &k);
    lf_enter();
    lf_target_t *t = ok ? lf_get(p, &k, now) : NULL;
    if (!t) { /* untracked (bad key, out of memory): a plain dial */
        lf_exit();
        pool_add_u(&p->c.created, 1);
        pool_add_i(&p->c.active, 1);
        return POOL_MISS;
    }
    atomic_store_explicit(&t->last_used, now, memory_order_relaxed);
    int r;
    for (;;) {
        struct cds_lfs_node *n = __cds_lfs_pop(&t->spares);
        if (!n) break;
        lf_spare_t *s = caa_container_of(n, lf_spare_t, node);
        (void)spare_since(s);
        int fd = atomic_load_explicit(&s->fd, memory_order_relaxed);
        if (pool_spare_alive(fd)) {
            add(&t->idle, -1);
            add(&t->active, 1);
            pool_add_i(&p->c.idle, -1);
            pool_add_i(&p->c.active, 1);
            pool_add_u(&p->c.reused, 1);
            defer_free(&s->rcu, free_spare_cb);
            *fd_out = fd;
            r = POOL_HIT;
            goto out;
        }
        discard_spare(p, t, s, false);
        pool_add_u(&p->c.stale, 1);
    }
    if (!reserve(&t->conns, p->cfg.max_conns)) {
        pool_add_u(&p->c.rejected, 1);
        r = POOL_FULL;
    } else {
        add(&t->active, 1);
        pool_add_i(&p->c.active, 1);
        pool_add_u(&p->c.created, 1);
        r = POOL_MISS;
    }
out:
    lf_exit();
    return r;
}

static void lf_stream_done(pool_t *p, const char *key, int worker)
{
    (void)worker;
    pool_add_i(&p->c.active, -1);
    pool_key_t k;
    if (!pool_key_parse(p->seed, key, &k)) return;
    lf_enter();
    lf_target_t *t = lf_find(p, &k);
    if (t && dec_if_positive(&t->active)) add(&t->conns, -1);
    lf_exit();
}

static void lf_spare_ready(pool_t *p, const char *key, int fd, int worker)
{
    (void)worker;
    uint64_t now = now_ms(p);
    pool_key_t k;
    bool ok = pool_key_parse(p->seed, key, &k);
    lf_enter();
    lf_target_t *t = ok ? lf_find(p, &k) : NULL;
    if (!t) goto reject;
    if (dec_if_positive(&t->dialing)) {
        pool_add_i(&p->c.dialing, -1); /* asked for by tick: already in conns */
    } else if (!reserve(&t->conns, p->cfg.max_conns)) {
        goto reject;
    }
    if (!reserve(&t->idle, p->cap)) goto surplus;
    lf_spare_t *s = new_spare(fd, now);
    if (!s) {
        add(&t->idle, -1);
        goto surplus;
    }
    pool_add_i(&p->c.idle, 1);
    push_spare(p, t, s);
    lf_exit();
    return;
surplus:
    add(&t->conns, -1);
reject:
    lf_exit();
    close_spare(p, fd);
}

static void lf_spare_failed(pool_t *p, const char *key, int worker, int dialed)
{
    (void)worker;
    if (dialed) pool_add_u(&p->c.dial_failed, 1);
    else pool_add_u(&p->c.spares_dialed, (uint64_t)-1);
    pool_key_t k;
    if (!pool_key_parse(p->seed, key, &k)) return;
    lf_enter();
    lf_target_t *t = lf_find(p, &k);
    if (t && dec_if_positive(&t->dialing)) {
        add(&t->conns, -1);
        pool_add_i(&p->c.dialing, -1);
    }
    lf_exit();
}

/* Close spares idle too long (all of them if `all`). A stack cannot drop its
 * bottom in place, so when something expired: pop everything, close what
 * expired, push fresh copies of the rest (oldest first, so the newest ends on
 * top again). Acquires racing with this see fewer spares for a moment. */
static void expire_spares(pool_t *p, lf_target_t *t, uint64_t now, bool all)
{
    /* Peek first (nodes stay valid inside our read-side critical section):
     * usually nothing has expired and the stack is left alone. */
    struct cds_lfs_head *top = __atomic_load_n(&t->spares.head, __ATOMIC_ACQUIRE);
    bool any = all && top;
    struct cds_lfs_node *n = top && !all ? &top->node : NULL;
    while (n && !any) {
        any = pool_older(now, spare_since(spare_of(n)), p->cfg.max_idle_ms);
        n = __atomic_load_n(&n->next, __ATOMIC_RELAXED);
    }
    if (!any) return;

    struct cds_lfs_head *h = __cds_lfs_pop_all(&t->spares);
    lf_spare_t *keep = NULL; /* built oldest first */
    for (struct cds_lfs_node *m = h ? &h->node : NULL, *next; m; m = next) { /* newest first */
        lf_spare_t *s = spare_of(m);
        uint64_t since = spare_since(s);
        next = m->next;
        lf_spare_t *c = all || pool_older(now, since, p->cfg.max_idle_ms)
                        ? NULL : new_spare(atomic_load_explicit(&s->fd, memory_order_relaxed), since);
        if (!c) {
            discard_spare(p, t, s, true);
            continue;
        }
        c->tmp = keep;
        keep = c;
        defer_free(&s->rcu, free_spare_cb);
    }
    while (keep) {
        lf_spare_t *c = keep;
        keep = c->tmp;
        push_spare(p, t, c);
    }
}

/* Count n dials (already reserved in conns) as in flight on t. If t was
 * removed meanwhile, retire() may have taken t->dialing before our add: then
 * take it back ourselves (retire stores dead before its exchange, we add
 * before reading dead, all seq_cst: one of us sees the other) and ask for
 * nothing. */
static bool start_dials(pool_t *p, lf_target_t *t, int n)
{
    atomic_fetch_add_explicit(&t->dialing, n, memory_order_seq_cst);
    pool_add_i(&p->c.dialing, n);
    if (!atomic_load_explicit(&t->dead, memory_order_seq_cst)) return true;
    int d = atomic_exchange_explicit(&t->dialing, 0, memory_order_seq_cst);
    add(&t->conns, -d);
    pool_add_i(&p->c.dialing, -d);
    return false;
}

static int lf_tick(pool_t *p, int worker, pool_dial_t *out, int max)
{
    uint64_t now = now_ms(p);
    int nout = 0;
    struct cds_lfht_iter it;
    struct cds_lfht_node *n;
    lf_enter();
    cds_lfht_for_each(p->ht, &it, n) {
        lf_target_t *t = tgt(n);
        if (t->owner != worker || atomic_load_explicit(&t->dead, memory_order_relaxed)) continue;
        bool unused = pool_older(now, atomic_load_explicit(&t->last_used, memory_order_relaxed),
                            p->cfg.max_idle_ms);
        if (unused && ld(&t->active) == 0) {
            if (cds_lfht_del(p->ht, n) == 0) retire(p, t, true);
            continue;
        }
        expire_spares(p, t, now, unused);
        if (unused || nout >= max) continue;
        int want = p->cap - ld(&t->idle) - ld(&t->dialing);
        int got = want > 0 ? reserve_upto(&t->conns, p->cfg.max_conns, want) : 0;
        if (got > 0 && start_dials(p, t, got)) {
            pool_add_u(&p->c.spares_dialed, (uint64_t)got);
            strcpy(out[nout].key, t->key);
            out[nout++].count = got;
        }
    }
    lf_exit();
    return nout;
}

static void lf_stats(pool_t *p, pool_stats_t *s) { pool_counters_read(&p->c, s); }

typedef struct lf_entry {
    char key[POOL_KEY_MAX + 1];
    int idle;
} lf_entry_t;

/* Snapshot inside the critical section, callbacks after it. */
static void lf_status(pool_t *p, void (*cb)(const char *, int, void *), void *arg)
{
    struct cds_lfht_iter it;
    struct cds_lfht_node *n;
    lf_entry_t *e = NULL;
    size_t len = 0, cap = 0;
    lf_enter();
    cds_lfht_for_each(p->ht, &it, n) {
        lf_target_t *t = tgt(n);
        if (atomic_load_explicit(&t->dead, memory_order_relaxed)) continue;
        if (len == cap) {
            size_t nc = cap ? cap * 2 : 64;
            lf_entry_t *ne = realloc(e, nc * sizeof *e);
            if (!ne) break;
            e = ne;
            cap = nc;
        }
        strcpy(e[len].key, t->key);
        int idle = ld(&t->idle);
        e[len++].idle = idle > 0 ? idle : 0;
    }
    lf_exit();
    for (size_t i = 0; i < len; i++) cb(e[i].key, e[i].idle, arg);
    free(e);
}

const pool_ops_t pool_lockfree_ops = {
    .name = "lockfree",
    .create = lf_create,
    .destroy = lf_destroy,
    .acquire = lf_acquire,
    .stream_done = lf_stream_done,
    .spare_ready = lf_spare_ready,
    .spare_failed = lf_spare_failed,
    .tick = lf_tick,
    .stats = lf_stats,
    .status = lf_status,
};
