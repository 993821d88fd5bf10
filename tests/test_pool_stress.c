/* test_pool_stress.c -- 8 threads hammer each pool implementation with a mix
 * of acquire / stream_done / spare_ready / spare_failed / tick / stats over a
 * few keys, then check the books. Meant to run under TSan and ASan too.
 *
 * No network: the "spares" are one end of socketpairs whose other end we keep
 * (a few have their peer closed, so they are stale). The pool's close_fd hook
 * does not close them: it hands them back to a free set, so a fixed set of
 * fds circulates. Every fd has an owner state changed only by CAS:
 *   FREE -> LENT   a thread gives it to the pool (spare_ready)
 *   LENT -> OUT    the pool handed it out (HIT); anything else is a double
 *                  hand-out or a hand-out of something it never had
 *   LENT -> FREE   the pool closed it (close hook)
 *   OUT  -> FREE   the stream ended (its owner "closes" it)
 * and a stale fd must never come out of a HIT.
 *
 * Operations per implementation: POOL_STRESS_OPS (default 1,000,000), split
 * over the threads; every loop iteration makes at least one pool call. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"
#include "pool_test_util.h"

enum { THREADS = 8, NKEYS = 6, NFD = 384, NDEAD = 16, MAX_STREAMS = 16, FD_LIMIT = 8192 };
enum { FREE = 0, LENT = 1, OUT = 2 };

typedef struct world {
    pool_handle_t h;
    int fds[NFD];              /* the pool-side ends; fds[0..NDEAD) are stale */
    int peers[NFD];
    _Atomic int state[FD_LIMIT];
    bool dead[FD_LIMIT];
    _Atomic uint64_t clock_ms; /* the injected clock, advanced by the threads */
    _Atomic uint64_t errors, closes, hits, dead_closed;
    long ops_per_thread;
    pthread_barrier_t start;
} world_t;

static const char *const keys[NKEYS] = {
    "hot.example:443", "warm.example:443", "cool.example:80",
    "rare1.example:443", "rare2.example:8080", "rare3.example:443",
};

static uint64_t world_now(void *arg)
{
    return atomic_load_explicit(&((world_t *)arg)->clock_ms, memory_order_relaxed);
}

static void error(world_t *w, const char *what, int fd)
{
    if (atomic_fetch_add(&w->errors, 1) < 5) fprintf(stderr, "stress: %s (fd %d)\n", what, fd);
}

/* The pool closes a spare: it must be one it was given. */
static void world_close(int fd, void *arg)
{
    world_t *w = arg;
    int expect = LENT;
    if (fd < 0 || fd >= FD_LIMIT || !atomic_compare_exchange_strong(&w->state[fd], &expect, FREE))
        error(w, "pool closed an fd it did not hold", fd);
    atomic_fetch_add_explicit(&w->closes, 1, memory_order_relaxed);
    if (fd >= 0 && fd < FD_LIMIT && w->dead[fd]) atomic_fetch_add_explicit(&w->dead_closed, 1, memory_order_relaxed);
}

static uint64_t rnd(uint64_t *s) /* xorshift64 */
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Mostly the hot keys; the rare ones are used seldom enough to expire. */
static int pick_key(uint64_t *s)
{
    unsigned r = (unsigned)(rnd(s) % 1000);
    return r < 500 ? 0 : r < 800 ? 1 : r < 990 ? 2 : r < 995 ? 3 : r < 998 ? 4 : 5;
}

static int grab_free_fd(world_t *w, uint64_t *s)
{
    int start = (int)(rnd(s) % NFD);
    for (int i = 0; i < NFD; i++) {
        int fd = w->fds[(start + i) % NFD], expect = FREE;
        if (atomic_compare_exchange_strong(&w->state[fd], &expect, LENT)) return fd;
    }
    return -1;
}

typedef struct stream {
    int key, fd;
} stream_t;

typedef struct worker {
    world_t *w;
    int id;
} worker_t;

static void end_stream(world_t *w, int id, stream_t *st)
{
    if (st->fd >= 0) {
        int expect = OUT;
        if (!atomic_compare_exchange_strong(&w->state[st->fd], &expect, FREE))
            error(w, "stream fd not OUT at its end", st->fd);
    }
    pool_stream_done(&w->h, keys[st->key], id);
}

static void *worker_main(void *arg)
{
    worker_t *me = arg;
    world_t *w = me->w;
    pool_handle_t *p = &w->h;
    uint64_t seed = 0x9e3779b97f4a7c15ull * (uint64_t)(me->id + 1);
    stream_t open[MAX_STREAMS];
    int nopen = 0;
    pool_dial_t dials[16];
    char line[2048];
    pthread_barrier_wait(&w->start);
    for (long i = 0; i < w->ops_per_thread; i++) {
        if ((i & 15) == 0) atomic_fetch_add_explicit(&w->clock_ms, 1, memory_order_relaxed);
        unsigned r = (unsigned)(rnd(&seed) % 100);
        if (r < 40 || (r < 75 && !nopen)) { /* a stream starts */
            if (nopen == MAX_STREAMS) end_stream(w, me->id, &open[--nopen]);
            int k = pick_key(&seed), fd = -1;
            int res = pool_acquire(p, keys[k], me->id, &fd);
            if (res == POOL_HIT) {
                int expect = LENT;
                if (fd < 0 || fd >= FD_LIMIT || !atomic_compare_exchange_strong(&w->state[fd], &expect, OUT))
                    error(w, "HIT fd was not a spare held by the pool", fd);
                if (fd >= 0 && fd < FD_LIMIT && w->dead[fd]) error(w, "stale spare handed out", fd);
                atomic_fetch_add_explicit(&w->hits, 1, memory_order_relaxed);
                open[nopen++] = (stream_t){k, fd};
            } else if (res == POOL_MISS) {
                open[nopen++] = (stream_t){k, -1};
            }
        } else if (r < 75) { /* a stream ends */
            if (nopen) {
                int j = (int)(rnd(&seed) % (uint64_t)nopen);
                stream_t st = open[j];
                open[j] = open[--nopen];
                end_stream(w, me->id, &st);
            }
        } else if (r < 88) { /* an unsolicited spare (nobody asked) */
            int fd = grab_free_fd(w, &seed);
            if (fd >= 0) pool_spare_ready(p, keys[pick_key(&seed)], fd, me->id);
        } else if (r < 99) { /* maintenance: dial what tick asks for */
            int n = pool_tick(p, me->id, dials, 16);
            for (int d = 0; d < n; d++)
                for (int c = 0; c < dials[d].count; c++) {
                    int fd = rnd(&seed) % 8 ? grab_free_fd(w, &seed) : -1;
                    if (fd >= 0) pool_spare_ready(p, dials[d].key, fd, me->id);
                    else pool_spare_failed(p, dials[d].key, me->id);
                }
        } else { /* somebody prints the stats */
            pool_stats_t s;
            pool_stats(p, &s);
            if (s.total != s.reused + s.created) error(w, "Total != Reused + New", -1);
            if ((i & 7) == 0) pool_format_status(&w->h, line, sizeof line);
        }
    }
    while (nopen) end_stream(w, me->id, &open[--nopen]);
    return NULL;
}

static void stress_one(const char *impl)
{
    world_t *w = calloc(1, sizeof *w);
    assert_non_null(w);
    const char *env = getenv("POOL_STRESS_OPS");
    long total = env ? atol(env) : 1000000;
    w->ops_per_thread = (total + THREADS - 1) / THREADS;
    for (int i = 0; i < NFD; i++) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        assert_true(sv[0] < FD_LIMIT);
        w->fds[i] = sv[0];
        w->peers[i] = sv[1];
        if (i < NDEAD) { /* stale: the target has closed it */
            close(sv[1]);
            w->peers[i] = -1;
            w->dead[sv[0]] = true;
        }
    }
    pool_config_t cfg;
    pool_config_defaults(&cfg);
    cfg.nworkers = THREADS;
    cfg.max_conns = 12;
    cfg.min_idle = 3;
    cfg.max_idle_ms = 40;
    cfg.max_targets = 5; /* fewer than the keys: LRU evictions all along */
    cfg.now_ms = world_now;
    cfg.now_arg = w;
    cfg.close_fd = world_close;
    cfg.close_arg = w;
    assert_int_equal(pool_open(&w->h, impl, &cfg), 0);

    pthread_t th[THREADS];
    worker_t wk[THREADS];
    assert_int_equal(pthread_barrier_init(&w->start, NULL, THREADS + 1), 0);
    for (int i = 0; i < THREADS; i++) {
        wk[i] = (worker_t){w, i};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &wk[i]), 0);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_barrier_wait(&w->start);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

    /* The books, all threads quiet. */
    pool_stats_t s;
    pool_stats(&w->h, &s);
    int lent = 0, out = 0;
    for (int i = 0; i < NFD; i++) {
        int st = atomic_load(&w->state[w->fds[i]]);
        lent += st == LENT;
        out += st == OUT;
    }
    printf("   %-9s %ld ops in %.2f s (%.0f ns/op wall): total %llu reused %llu new %llu "
           "cleaned %llu stale %llu expired %llu rejected %llu dial_failed %llu idle %llu targets %llu\n",
           impl, w->ops_per_thread * THREADS, secs, secs * 1e9 / (double)(w->ops_per_thread * THREADS),
           (unsigned long long)s.total, (unsigned long long)s.reused, (unsigned long long)s.created,
           (unsigned long long)s.cleaned, (unsigned long long)s.stale, (unsigned long long)s.expired,
           (unsigned long long)s.rejected, (unsigned long long)s.dial_failed,
           (unsigned long long)s.idle, (unsigned long long)s.targets);
    assert_int_equal(atomic_load(&w->errors), 0);
    assert_int_equal(out, 0);
    assert_int_equal(s.total, s.reused + s.created);
    assert_int_equal(s.reused, atomic_load(&w->hits));
    assert_int_equal(s.idle, (uint64_t)lent); /* the gauge matches what it holds */
    assert_int_equal(s.dialing, 0);           /* every dial was answered */
    assert_int_equal(s.active, 0);            /* every stream ended */
    assert_true(s.targets <= (uint64_t)(pool_test_holds(impl) ? NKEYS : 0));
    if (pool_test_holds(impl)) { /* every path was exercised */
        assert_true(s.reused > 0);
        assert_true(s.stale > 0);
        assert_true(s.expired > 0);
        assert_true(s.rejected > 0);
        assert_true(s.cleaned >= s.stale + s.expired);
    } else { /* none: holds nothing */
        assert_int_equal(s.reused, 0);
        assert_int_equal(lent, 0);
    }
    uint64_t closes_before = atomic_load(&w->closes);
    pool_close(&w->h); /* must close every spare it still holds */
    assert_int_equal(atomic_load(&w->closes) - closes_before, (uint64_t)lent);
    for (int i = 0; i < NFD; i++) assert_int_equal(atomic_load(&w->state[w->fds[i]]), FREE);
    assert_int_equal(atomic_load(&w->errors), 0);

    pthread_barrier_destroy(&w->start);
    for (int i = 0; i < NFD; i++) {
        close(w->fds[i]);
        if (w->peers[i] >= 0) close(w->peers[i]);
    }
    free(w);
}

static void test_stress(void **state) { stress_one(*state); }

int main(void)
{
    int n = pool_count(); /* every registered type */
    struct CMUnitTest *tests = calloc((size_t)n, sizeof *tests);
    if (!tests) return 1;
    for (int i = 0; i < n; i++)
        tests[i] = (struct CMUnitTest){pool_test_impl(i), test_stress, NULL, NULL, (void *)pool_test_impl(i)};
    int failed = _cmocka_run_group_tests("pool stress", tests, (size_t)n, NULL, NULL);
    free(tests);
    return failed ? 1 : 0;
}
