/* test_pool_contract.c -- one contract suite, run against every pool
 * implementation with the same assertions.
 *
 * "none" (no pooling) is exempt only where an assertion is about holding
 * something -- spares, per-target counts (caps) or tracked targets; each such
 * place says so and checks none's baseline behaviour instead (see
 * pool_test_holds()). The clock is injected (no sleeps) and every spare the
 * pool closes goes through a close_fd hook that records it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pool.h"
#include "pool_test_util.h"

/* ---- the harness: one pool, a fake clock, a recording close hook ---- */

typedef struct harness {
    const char *impl;
    bool holds;                /* false for "none" */
    pool_handle_t h;
    pool_config_t cfg;
    bool open;
    uint64_t now;
    int nclosed;
    int closed[1024];          /* fds the pool closed, in order */
    int npeers;
    int peers[1024];           /* our ends of the spares' connections */
} harness_t;

static uint64_t fake_now(void *arg) { return ((harness_t *)arg)->now; }

static void record_close(int fd, void *arg)
{
    harness_t *x = arg;
    if (x->nclosed < (int)(sizeof x->closed / sizeof x->closed[0])) x->closed[x->nclosed] = fd;
    x->nclosed++;
    close(fd);
}

static int setup(void **state)
{
    harness_t *x = calloc(1, sizeof *x);
    if (!x) return -1;
    x->impl = *state;
    x->holds = pool_test_holds(x->impl);
    x->now = 1000000;
    pool_config_defaults(&x->cfg);
    x->cfg.now_ms = fake_now;
    x->cfg.now_arg = x;
    x->cfg.close_fd = record_close;
    x->cfg.close_arg = x;
    *state = x;
    return 0;
}

static void start(harness_t *x)
{
    assert_int_equal(pool_open(&x->h, x->impl, &x->cfg), 0);
    assert_string_equal(pool_type_name(&x->h), x->impl);
    x->open = true;
}

static void stop(harness_t *x)
{
    if (x->open) pool_close(&x->h);
    x->open = false;
}

static int teardown(void **state)
{
    harness_t *x = *state;
    stop(x);
    for (int i = 0; i < x->npeers; i++)
        if (x->peers[i] >= 0) close(x->peers[i]);
    free(x);
    return 0;
}

static int acq(harness_t *x, const char *key, int w, int *fd)
{
    *fd = -2;
    return pool_acquire(&x->h, key, w, fd);
}
static void done(harness_t *x, const char *key, int w) { pool_stream_done(&x->h, key, w); }
static void ready(harness_t *x, const char *key, int fd, int w) { pool_spare_ready(&x->h, key, fd, w); }
static void failed(harness_t *x, const char *key, int w) { pool_spare_failed(&x->h, key, w); }
static int tick(harness_t *x, int w, pool_dial_t *out, int max) { return pool_tick(&x->h, w, out, max); }

static pool_stats_t stats(harness_t *x)
{
    pool_stats_t s;
    memset(&s, 0xab, sizeof s); /* every field must be written */
    pool_stats(&x->h, &s);
    assert_int_equal(s.total, s.reused + s.created);
    return s;
}

/* Total count of dials asked for `key` in out[0..n). */
static int dials_for(const pool_dial_t *out, int n, const char *key)
{
    int c = 0;
    for (int i = 0; i < n; i++)
        if (strcmp(out[i].key, key) == 0) c += out[i].count;
    return c;
}

static bool was_closed(const harness_t *x, int fd)
{
    for (int i = 0; i < x->nclosed && i < (int)(sizeof x->closed / sizeof x->closed[0]); i++)
        if (x->closed[i] == fd) return true;
    return false;
}

enum spare_kind { SP_ALIVE, SP_PEER_CLOSED, SP_BANNER };

/* A connected socket for the pool (a socketpair end); we keep the peer. */
static int make_spare(harness_t *x, enum spare_kind kind)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    if (kind == SP_BANNER) assert_int_equal(write(sv[1], "220 hello\r\n", 11), 11);
    if (kind == SP_PEER_CLOSED) {
        close(sv[1]);
        sv[1] = -1;
    }
    x->peers[x->npeers++] = sv[1];
    return sv[0];
}

/* ---- caps and counters ---- */

static void test_miss_counts_new_and_active(void **state)
{
    harness_t *x = *state;
    x->cfg.min_idle = 0;
    start(x);
    int fd;
    assert_int_equal(acq(x, "a.example:443", 0, &fd), POOL_MISS);
    assert_int_equal(fd, -1);
    assert_int_equal(acq(x, "a.example:443", 0, &fd), POOL_MISS);
    pool_stats_t s = stats(x);
    assert_int_equal(s.created, 2);
    assert_int_equal(s.reused, 0);
    assert_int_equal(s.active, 2);
    done(x, "a.example:443", 0);
    s = stats(x);
    assert_int_equal(s.active, 1);
    assert_int_equal(s.total, 2);
    done(x, "a.example:443", 0);
    assert_int_equal(stats(x).active, 0);
}

static void test_caps_full_at_max_conns(void **state)
{
    harness_t *x = *state;
    x->cfg.max_conns = 3;
    x->cfg.min_idle = 0;
    start(x);
    int fd;
    for (int i = 0; i < 3; i++) assert_int_equal(acq(x, "k:1", 0, &fd), POOL_MISS);
    if (!x->holds) { /* exempt: none keeps no per-target count, it never answers FULL */
        assert_int_equal(acq(x, "k:1", 0, &fd), POOL_MISS);
        assert_int_equal(stats(x).rejected, 0);
        return;
    }
    assert_int_equal(acq(x, "k:1", 0, &fd), POOL_FULL);
    assert_int_equal(acq(x, "k:1", 0, &fd), POOL_FULL);
    assert_int_equal(acq(x, "other:1", 0, &fd), POOL_MISS); /* per target */
    done(x, "k:1", 0);
    assert_int_equal(acq(x, "k:1", 0, &fd), POOL_MISS);
    pool_stats_t s = stats(x);
    assert_int_equal(s.rejected, 2);
    assert_int_equal(s.created, 5); /* FULL counts nothing but `rejected` */
    assert_int_equal(s.total, 5);
    assert_int_equal(s.active, 4);
}

static void test_caps_count_idle_and_dialing(void **state)
{
    harness_t *x = *state;
    x->cfg.max_conns = 3;
    x->cfg.min_idle = 2;
    start(x);
    pool_dial_t out[8];
    int fd;
    assert_int_equal(acq(x, "k:1", 0, &fd), POOL_MISS);
    int n = tick(x, 0, out, 8);
    if (!x->holds) { /* exempt: none holds nothing, asks for nothing */
        assert_int_equal(n, 0);
        return;
    }
    assert_int_equal(dials_for(out, n, "k:1"), 2); /* room: 3 - 1 active */
    assert_int_equal(acq(x, "k:1", 0, &fd), POOL_FULL); /* 1 active + 2 dialing */
    ready(x, "k:1", make_spare(x, SP_ALIVE), 0);
    ready(x, "k:1", make_spare(x, SP_ALIVE), 0);
    assert_int_equal(acq(x, "k:1", 0, &fd), POOL_HIT);
    assert_int_equal(acq(x, "k:1", 0, &fd), POOL_HIT);
    assert_int_equal(acq(x, "k:1", 0, &fd), POOL_FULL); /* 3 active */
    assert_int_equal(tick(x, 0, out, 8), 0);          /* no room to dial */
    done(x, "k:1", 0);
    n = tick(x, 0, out, 8);
    assert_int_equal(dials_for(out, n, "k:1"), 1); /* min_idle 2, but room 1 */
    pool_stats_t s = stats(x);
    assert_int_equal(s.rejected, 2);
    assert_int_equal(s.reused, 2);
    assert_int_equal(s.created, 1);
    assert_int_equal(s.dialing, 1);
    assert_int_equal(s.spares_dialed, 3);
}

/* ---- refill ---- */

static void test_refill_to_min_idle(void **state)
{
    harness_t *x = *state;
    x->cfg.min_idle = 3;
    start(x);
    pool_dial_t out[8];
    int fd;
    assert_int_equal(acq(x, "r.example:80", 0, &fd), POOL_MISS);
    done(x, "r.example:80", 0);
    int n = tick(x, 0, out, 8);
    if (!x->holds) { /* exempt: none asks for no dial, closes a spare at once */
        assert_int_equal(n, 0);
        int s = make_spare(x, SP_ALIVE);
        ready(x, "r.example:80", s, 0);
        assert_true(was_closed(x, s));
        assert_int_equal(acq(x, "r.example:80", 0, &fd), POOL_MISS);
        return;
    }
    assert_int_equal(n, 1);
    assert_string_equal(out[0].key, "r.example:80");
    assert_int_equal(out[0].count, 3);
    assert_int_equal(stats(x).dialing, 3);
    assert_int_equal(tick(x, 0, out, 8), 0); /* dialing counts: no second request */
    int sp[3];
    for (int i = 0; i < 3; i++) ready(x, "r.example:80", sp[i] = make_spare(x, SP_ALIVE), 0);
    pool_stats_t s = stats(x);
    assert_int_equal(s.idle, 3);
    assert_int_equal(s.dialing, 0);
    assert_int_equal(s.spares_dialed, 3);
    assert_int_equal(x->nclosed, 0);
    int extra = make_spare(x, SP_ALIVE); /* nobody asked: beyond min_idle */
    ready(x, "r.example:80", extra, 0);
    assert_true(was_closed(x, extra));
    int unknown = make_spare(x, SP_ALIVE); /* a target the pool does not know */
    ready(x, "nobody:1", unknown, 0);
    assert_true(was_closed(x, unknown));
    assert_int_equal(stats(x).cleaned, 2);

    assert_int_equal(acq(x, "r.example:80", 0, &fd), POOL_HIT);
    assert_true(fd == sp[0] || fd == sp[1] || fd == sp[2]);
    close(fd); /* the stream used it: its owner closes it */
    done(x, "r.example:80", 0);
    n = tick(x, 0, out, 8);
    assert_int_equal(dials_for(out, n, "r.example:80"), 1);
    failed(x, "r.example:80", 0);
    s = stats(x);
    assert_int_equal(s.dial_failed, 1);
    assert_int_equal(s.dialing, 0);
    assert_int_equal(s.reused, 1);
    assert_int_equal(s.created, 1);
    n = tick(x, 0, out, 8); /* the failed one is asked for again */
    assert_int_equal(dials_for(out, n, "r.example:80"), 1);
}

/* With several workers, exactly one worker's tick asks for a target's spares. */
static void test_refill_one_worker_per_target(void **state)
{
    harness_t *x = *state;
    x->cfg.nworkers = 3;
    x->cfg.min_idle = 2;
    start(x);
    pool_dial_t out[8];
    int fd, total = 0, owner = -1;
    assert_int_equal(acq(x, "multi:443", 1, &fd), POOL_MISS);
    done(x, "multi:443", 1);
    for (int w = 0; w < 3; w++) {
        int c = dials_for(out, tick(x, w, out, 8), "multi:443");
        if (c) {
            assert_int_equal(owner, -1);
            owner = w;
        }
        total += c;
    }
    if (!x->holds) { /* exempt: none asks for nothing */
        assert_int_equal(total, 0);
        return;
    }
    assert_int_equal(total, 2);
    ready(x, "multi:443", make_spare(x, SP_ALIVE), owner);
    ready(x, "multi:443", make_spare(x, SP_ALIVE), owner);
    /* Any worker gets them (highperf: its own cache, else by stealing). */
    assert_int_equal(acq(x, "multi:443", 1, &fd), POOL_HIT);
    assert_int_equal(acq(x, "multi:443", 2, &fd), POOL_HIT);
    assert_int_equal(acq(x, "multi:443", 0, &fd), POOL_MISS);
    assert_int_equal(stats(x).reused, 2);
}

/* A worker with no spare of its own takes another worker's spare before it
 * dials with room of its own: a spare saves the dial (highperf kept the room a
 * finished stream left and dialed, while worker 1 held a spare). */
static void test_spare_elsewhere_before_dialing(void **state)
{
    harness_t *x = *state;
    x->cfg.nworkers = 2;
    x->cfg.min_idle = 1;
    start(x);
    if (!x->holds) return; /* exempt: none holds no spare */
    pool_dial_t out[8];
    int fd;
    const char *k = "steal.example:80";
    assert_int_equal(acq(x, k, 1, &fd), POOL_MISS);
    done(x, k, 1);
    assert_int_equal(acq(x, k, 0, &fd), POOL_MISS);
    done(x, k, 0);  /* worker 0 keeps the room this stream freed (highperf) */
    int n = tick(x, 1, out, 8), who = 1;
    if (!dials_for(out, n, k)) { n = tick(x, 0, out, 8); who = 0; } /* lock, lockfree: the owner */
    assert_true(dials_for(out, n, k) >= 1);
    int sp = make_spare(x, SP_ALIVE);
    ready(x, k, sp, who);
    assert_int_equal(acq(x, k, 0, &fd), POOL_HIT);
    assert_int_equal(fd, sp);
}

/* ---- the cap across workers ---- */

/* max_conns holds for the target as a whole, whichever workers hold its
 * streams, spares and dials: one worker at the cap leaves no room for another
 * worker's refills or dials. */
static void test_cap_across_workers(void **state)
{
    harness_t *x = *state;
    x->cfg.nworkers = 2;
    x->cfg.max_conns = 4;
    x->cfg.min_idle = 2;
    start(x);
    pool_dial_t out[8];
    int fd;
    for (int i = 0; i < 4; i++) assert_int_equal(acq(x, "cap:1", 0, &fd), POOL_MISS);
    if (!x->holds) { /* exempt: none keeps no per-target count */
        assert_int_equal(acq(x, "cap:1", 1, &fd), POOL_MISS);
        return;
    }
    assert_int_equal(acq(x, "cap:1", 1, &fd), POOL_FULL);
    for (int w = 0; w < 2; w++) /* 4 streams open on worker 0: no room for a spare anywhere */
        assert_int_equal(dials_for(out, tick(x, w, out, 8), "cap:1"), 0);
    done(x, "cap:1", 0); /* one connection closed: room for one */
    int asked = 0;
    for (int w = 0; w < 2; w++) {
        int n = dials_for(out, tick(x, w, out, 8), "cap:1");
        for (int k = 0; k < n; k++) ready(x, "cap:1", make_spare(x, SP_ALIVE), w);
        asked += n;
    }
    assert_int_equal(asked, 1);
    /* Every further acquire, on either worker, is granted once in all. */
    int granted = 0;
    for (int i = 0; i < 4; i++) {
        int r = acq(x, "cap:1", i % 2, &fd);
        granted += r != POOL_FULL;
        if (r == POOL_HIT) close(fd);
    }
    assert_int_equal(granted, 1);
    for (int w = 0; w < 2; w++) assert_int_equal(dials_for(out, tick(x, w, out, 8), "cap:1"), 0);
    pool_stats_t s = stats(x);
    assert_int_equal(s.active, 4);
    assert_int_equal(s.idle + s.dialing, 0);
}

/* A burst across workers: BURST_THREADS threads, each a different worker,
 * acquire for one key at once (twice the cap between them), tick and answer
 * their dials (the spares come ready on each worker while the others acquire
 * and steal), end their streams, again, for BURST_ROUNDS rounds. `live` counts
 * the target's connections as the caller sees them: a MISS or a dial asked by
 * tick adds one after the pool granted it; a stream's end, a failed dial or a
 * spare the pool closes removes one before (or as) the pool forgets it. So
 * live never exceeds the pool's own count, and it must never exceed max_conns. */
enum { BURST_THREADS = 4, BURST_CAP = 20, BURST_STREAMS = 10, BURST_ROUNDS = 300, BURST_FDS = 65536 };

typedef struct burst {
    pool_handle_t h;
    pthread_barrier_t go;
    _Atomic int live, max_live, closed;
    _Atomic int peer[BURST_FDS]; /* the test's end of each spare, by the pool's fd */
} burst_t;

static void burst_live(burst_t *b, int d)
{
    int v = atomic_fetch_add(&b->live, d) + d, m = atomic_load(&b->max_live);
    while (v > m && !atomic_compare_exchange_weak(&b->max_live, &m, v)) {}
}

/* A used or discarded spare: both ends closed. */
static void burst_close_pair(burst_t *b, int fd)
{
    int peer = fd >= 0 && fd < BURST_FDS ? atomic_exchange(&b->peer[fd], -1) : -1;
    close(fd);
    if (peer >= 0) close(peer);
}

static void burst_pool_closes(int fd, void *arg) /* the close_fd hook */
{
    burst_t *b = arg;
    burst_live(b, -1);
    atomic_fetch_add(&b->closed, 1);
    burst_close_pair(b, fd);
}

typedef struct burst_worker {
    burst_t *b;
    int w;
} burst_worker_t;

static void burst_refill(burst_t *b, int w, unsigned *seed)
{
    pool_dial_t out[4];
    int n = pool_tick(&b->h, w, out, 4);
    for (int i = 0; i < n; i++) {
        burst_live(b, out[i].count);
        for (int k = 0; k < out[i].count; k++) {
            int sv[2];
            if (rand_r(seed) % 8 == 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 || sv[0] >= BURST_FDS) {
                burst_live(b, -1); /* the dial failed */
                pool_spare_failed(&b->h, out[i].key, w);
                continue;
            }
            atomic_store(&b->peer[sv[0]], sv[1]);
            pool_spare_ready(&b->h, out[i].key, sv[0], w);
        }
    }
}

static void *burst_main(void *arg)
{
    burst_worker_t *me = arg;
    burst_t *b = me->b;
    unsigned seed = (unsigned)me->w * 7919u + 1;
    int fds[2 * BURST_STREAMS], n = 0;
    for (int round = 0; round < BURST_ROUNDS; round++) {
        pthread_barrier_wait(&b->go);
        for (int i = 0; i < 2 * BURST_STREAMS; i++) {
            if (i == BURST_STREAMS) burst_refill(b, me->w, &seed);
            int fd = -1, r = pool_acquire(&b->h, "burst:443", me->w, &fd);
            if (r == POOL_MISS) burst_live(b, +1);
            if (r != POOL_FULL) fds[n++] = fd;
            if (i % 4 == 3) burst_refill(b, me->w, &seed);
        }
        while (n) { /* the streams end: the connection closes, then the pool hears of it */
            int fd = fds[--n];
            burst_live(b, -1);
            if (fd >= 0) burst_close_pair(b, fd);
            pool_stream_done(&b->h, "burst:443", me->w);
            if (n % 4 == 0) burst_refill(b, me->w, &seed);
        }
    }
    pthread_barrier_wait(&b->go);
    burst_refill(b, me->w, &seed); /* every dial asked for is answered */
    return NULL;
}

static void test_cap_burst_across_workers(void **state)
{
    harness_t *x = *state;
    if (!x->holds) return; /* exempt: none keeps no per-target count, enforces no cap */
    burst_t *b = calloc(1, sizeof *b);
    assert_non_null(b);
    for (int i = 0; i < BURST_FDS; i++) atomic_init(&b->peer[i], -1);
    pool_config_t cfg = x->cfg; /* the injected clock stands still: nothing expires */
    cfg.nworkers = BURST_THREADS;
    cfg.max_conns = BURST_CAP;
    cfg.min_idle = 3;
    cfg.close_fd = burst_pool_closes;
    cfg.close_arg = b;
    assert_int_equal(pool_open(&b->h, x->impl, &cfg), 0);
    assert_int_equal(pthread_barrier_init(&b->go, NULL, BURST_THREADS), 0);
    pthread_t th[BURST_THREADS];
    burst_worker_t wk[BURST_THREADS];
    for (int i = 0; i < BURST_THREADS; i++) {
        wk[i] = (burst_worker_t){b, i};
        assert_int_equal(pthread_create(&th[i], NULL, burst_main, &wk[i]), 0);
    }
    for (int i = 0; i < BURST_THREADS; i++) pthread_join(th[i], NULL);
    pool_stats_t s;
    pool_stats(&b->h, &s);
    printf("   burst %s: most connections at once %d (cap %d), reused %llu new %llu rejected %llu, "
           "%d closed by the pool\n", x->impl, atomic_load(&b->max_live), BURST_CAP,
           (unsigned long long)s.reused, (unsigned long long)s.created, (unsigned long long)s.rejected,
           atomic_load(&b->closed));
    assert_true(atomic_load(&b->max_live) <= BURST_CAP);
    assert_true(s.rejected > 0); /* the cap was reached */
    assert_int_equal(s.active, 0);
    assert_int_equal(s.dialing, 0);
    assert_int_equal((int)s.idle, atomic_load(&b->live)); /* what is left is the spares */
    pool_close(&b->h);
    assert_int_equal(atomic_load(&b->live), 0);
    pthread_barrier_destroy(&b->go);
    free(b);
}

/* ---- idle expiry (injected clock) ---- */

static void test_idle_expiry(void **state)
{
    harness_t *x = *state;
    x->cfg.max_idle_ms = 1000;
    x->cfg.min_idle = 2;
    start(x);
    pool_dial_t out[8];
    int fd;
    uint64_t t0 = x->now;
    assert_int_equal(acq(x, "e:1", 0, &fd), POOL_MISS);
    done(x, "e:1", 0);
    int n = tick(x, 0, out, 8);
    if (!x->holds) { /* exempt: none holds no spare to expire */
        assert_int_equal(n, 0);
        assert_int_equal(stats(x).expired, 0);
        return;
    }
    assert_int_equal(dials_for(out, n, "e:1"), 2);
    int a = make_spare(x, SP_ALIVE), b = make_spare(x, SP_ALIVE);
    ready(x, "e:1", a, 0);
    ready(x, "e:1", b, 0);

    x->now = t0 + 500; /* used again: target stays wanted */
    assert_int_equal(acq(x, "e:1", 0, &fd), POOL_HIT);
    int left = fd == a ? b : a; /* the spare from t0 still in the pool */
    close(fd);
    done(x, "e:1", 0);
    x->now = t0 + 900;
    n = tick(x, 0, out, 8);
    assert_int_equal(dials_for(out, n, "e:1"), 1);
    int c = make_spare(x, SP_ALIVE);
    ready(x, "e:1", c, 0);

    x->now = t0 + 1000; /* exactly max_idle_ms: not yet "longer than" */
    assert_int_equal(tick(x, 0, out, 8), 0);
    assert_int_equal(x->nclosed, 0);

    x->now = t0 + 1001; /* `left` idle 1001 ms: closed, expired */
    n = tick(x, 0, out, 8);
    assert_int_equal(x->nclosed, 1);
    assert_true(was_closed(x, left));
    assert_int_equal(dials_for(out, n, "e:1"), 1); /* used at +500: refilled */
    failed(x, "e:1", 0);
    pool_stats_t s = stats(x);
    assert_int_equal(s.expired, 1);
    assert_int_equal(s.cleaned, 1);
    assert_int_equal(s.idle, 1);
    assert_int_equal(s.targets, 1);

    x->now = t0 + 1501; /* unused for 1001 ms: spares closed, target forgotten */
    assert_int_equal(tick(x, 0, out, 8), 0);
    assert_true(was_closed(x, c));
    s = stats(x);
    assert_int_equal(s.expired, 2);
    assert_int_equal(s.cleaned, 2);
    assert_int_equal(s.idle, 0);
    assert_int_equal(s.targets, 0);
    char line[256];
    pool_format_status(&x->h, line, sizeof line);
    assert_string_equal(line, "[Pool Status] {}");
    /* Known again at its next acquire. */
    assert_int_equal(acq(x, "e:1", 0, &fd), POOL_MISS);
    assert_int_equal(stats(x).targets, 1);
}

/* A target with a stream still open loses its spares but keeps its count. */
static void test_unused_target_with_open_stream(void **state)
{
    harness_t *x = *state;
    x->cfg.max_idle_ms = 1000;
    x->cfg.min_idle = 1;
    x->cfg.max_conns = 2;
    start(x);
    pool_dial_t out[8];
    int fd;
    uint64_t t0 = x->now;
    assert_int_equal(acq(x, "long:1", 0, &fd), POOL_MISS); /* stays open */
    int n = tick(x, 0, out, 8);
    if (!x->holds) { /* exempt: none tracks no target */
        assert_int_equal(n, 0);
        return;
    }
    assert_int_equal(dials_for(out, n, "long:1"), 1);
    int sp = make_spare(x, SP_ALIVE);
    ready(x, "long:1", sp, 0);
    x->now = t0 + 1001;
    assert_int_equal(tick(x, 0, out, 8), 0); /* unused: no refill */
    assert_true(was_closed(x, sp));
    assert_int_equal(stats(x).targets, 1);
    assert_int_equal(acq(x, "long:1", 0, &fd), POOL_MISS);
    assert_int_equal(acq(x, "long:1", 0, &fd), POOL_FULL); /* still counted */
    done(x, "long:1", 0);
    done(x, "long:1", 0);
    x->now = t0 + 2002;
    tick(x, 0, out, 8);
    assert_int_equal(stats(x).targets, 0);
}

/* ---- liveness check ---- */

static void test_stale_spare_never_handed_out(void **state)
{
    harness_t *x = *state;
    x->cfg.min_idle = 4;
    start(x);
    pool_dial_t out[8];
    int fd;
    assert_int_equal(acq(x, "s:1", 0, &fd), POOL_MISS);
    done(x, "s:1", 0);
    tick(x, 0, out, 8);
    int dead1 = make_spare(x, SP_PEER_CLOSED), alive1 = make_spare(x, SP_ALIVE);
    int dead2 = make_spare(x, SP_PEER_CLOSED), alive2 = make_spare(x, SP_ALIVE);
    ready(x, "s:1", dead1, 0);
    ready(x, "s:1", alive1, 0);
    ready(x, "s:1", dead2, 0);
    ready(x, "s:1", alive2, 0);
    int hits = 0, r;
    while ((r = acq(x, "s:1", 0, &fd)) == POOL_HIT) {
        assert_true(fd == alive1 || fd == alive2);
        hits++;
    }
    assert_int_equal(r, POOL_MISS);
    if (!x->holds) { /* exempt: none closed all four at spare_ready */
        assert_int_equal(hits, 0);
        assert_int_equal(x->nclosed, 4);
        return;
    }
    assert_true(was_closed(x, dead1));
    assert_true(was_closed(x, dead2));
    assert_false(was_closed(x, alive1));
    assert_false(was_closed(x, alive2));
    assert_int_equal(x->nclosed, 2);
    pool_stats_t s = stats(x);
    assert_int_equal(hits, 2);
    assert_int_equal(s.stale, 2);
    assert_int_equal(s.cleaned, 2);
    assert_int_equal(s.reused, 2);
    assert_int_equal(s.idle, 0);
    /* Only stale spares left: MISS, and the stale one is gone. */
    int dead3 = make_spare(x, SP_PEER_CLOSED);
    tick(x, 0, out, 8);
    ready(x, "s:1", dead3, 0);
    assert_int_equal(acq(x, "s:1", 0, &fd), POOL_MISS);
    assert_true(was_closed(x, dead3));
}

static int tcp_listener(int *port)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_true(l >= 0);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(l, 128), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return l;
}

static int tcp_connect(int port)
{
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_true(c >= 0);
    assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof a), 0);
    return c;
}

/* Loopback TCP: a FIN, an RST, a banner, a quiet live peer. */
static void test_stale_tcp_fin_rst_and_banner(void **state)
{
    harness_t *x = *state;
    x->cfg.min_idle = 4;
    start(x);
    int port, l = tcp_listener(&port), fd;
    int c[4], s[4];
    for (int i = 0; i < 4; i++) {
        c[i] = tcp_connect(port);
        s[i] = accept(l, NULL, NULL);
        assert_true(s[i] >= 0);
    }
    close(s[0]); /* FIN: recv returns 0 */
    struct linger lg = {1, 0};
    setsockopt(s[1], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(s[1]); /* RST: recv fails with ECONNRESET */
    assert_int_equal(write(s[2], "SSH-2.0-x\r\n", 11), 11);
    for (int i = 0; i < 3; i++) {
        struct pollfd pf = {c[i], POLLIN, 0};
        assert_int_equal(poll(&pf, 1, 2000), 1); /* the FIN/RST/bytes arrived */
    }
    assert_int_equal(pool_spare_alive(c[0]), 0);
    assert_int_equal(pool_spare_alive(c[2]), 1);
    assert_int_equal(pool_spare_alive(c[3]), 1);

    pool_dial_t out[8];
    assert_int_equal(acq(x, "t:1", 0, &fd), POOL_MISS);
    done(x, "t:1", 0);
    tick(x, 0, out, 8);
    ready(x, "t:1", c[3], 0);
    ready(x, "t:1", c[2], 0);
    ready(x, "t:1", c[1], 0);
    ready(x, "t:1", c[0], 0);
    int hits = 0, r;
    bool got_banner = false;
    while ((r = acq(x, "t:1", 0, &fd)) == POOL_HIT) {
        assert_true(fd == c[2] || fd == c[3]);
        if (fd == c[2]) { /* the banner is still there for the stream to read */
            char b[32];
            assert_int_equal(recv(fd, b, sizeof b, MSG_DONTWAIT), 11);
            assert_memory_equal(b, "SSH-2.0-x\r\n", 11);
            got_banner = true;
        }
        hits++;
        done(x, "t:1", 0);
    }
    assert_int_equal(r, POOL_MISS);
    assert_true(was_closed(x, c[0]));
    assert_true(was_closed(x, c[1]));
    if (x->holds) {
        assert_int_equal(hits, 2);
        assert_true(got_banner);
        assert_int_equal(stats(x).stale, 2);
        close(c[2]);
        close(c[3]);
    } else { /* exempt: none closed all four at spare_ready */
        assert_int_equal(hits, 0);
    }
    close(s[2]);
    close(s[3]);
    close(l);
}

/* ---- a used socket is never pooled ----
 * A loopback target numbers the connections it accepts and answers each
 * request line with its connection's number; it counts a second request on
 * one connection as a violation. The test plays a worker: streams take a
 * spare or dial, send one request, read the number, close; ticks refill. If a
 * socket ever carried two streams, the target sees two requests on it and the
 * test sees a number twice. */

typedef struct target_srv {
    int lfd, port, wake[2];
    pthread_t th;
    _Atomic int accepted, requests, violations;
} target_srv_t;

static void *target_main(void *arg)
{
    target_srv_t *t = arg;
    struct pollfd pf[512];
    int num[512], reqs[512], n = 2;
    pf[0] = (struct pollfd){t->lfd, POLLIN, 0};
    pf[1] = (struct pollfd){t->wake[0], POLLIN, 0};
    for (;;) {
        if (poll(pf, (nfds_t)n, 5000) <= 0) continue;
        if (pf[1].revents) break;
        if (pf[0].revents & POLLIN) {
            int c = accept(t->lfd, NULL, NULL);
            if (c >= 0 && n < 512) {
                pf[n] = (struct pollfd){c, POLLIN, 0};
                num[n] = ++t->accepted;
                reqs[n++] = 0;
            } else if (c >= 0) {
                close(c);
            }
        }
        for (int i = 2; i < n; i++) {
            if (!pf[i].revents) continue;
            char b[256];
            ssize_t r = read(pf[i].fd, b, sizeof b);
            if (r <= 0) {
                close(pf[i].fd);
                n--;
                pf[i] = pf[n];
                num[i] = num[n];
                reqs[i] = reqs[n];
                i--;
                continue;
            }
            for (ssize_t k = 0; k < r; k++) {
                if (b[k] != '\n') continue;
                t->requests++;
                if (++reqs[i] > 1) t->violations++;
                char o[32];
                int len = snprintf(o, sizeof o, "%d\n", num[i]);
                if (write(pf[i].fd, o, (size_t)len) != len) t->violations++;
            }
            pf[i].revents = 0;
        }
    }
    for (int i = 2; i < n; i++) close(pf[i].fd);
    return NULL;
}

/* One stream on fd: request, the connection's number back. */
static int one_stream(int fd)
{
    assert_int_equal(write(fd, "GET\n", 4), 4);
    char b[32];
    size_t got = 0;
    while (got < sizeof b - 1) {
        struct pollfd pf = {fd, POLLIN, 0};
        assert_int_equal(poll(&pf, 1, 3000), 1);
        ssize_t r = read(fd, b + got, sizeof b - 1 - got);
        assert_true(r > 0);
        got += (size_t)r;
        if (memchr(b, '\n', got)) break;
    }
    b[got] = '\0';
    return atoi(b);
}

static void test_used_socket_never_pooled(void **state)
{
    harness_t *x = *state;
    x->cfg.min_idle = 4;
    x->cfg.nworkers = 2;
    start(x);
    target_srv_t *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->lfd = tcp_listener(&t->port);
    assert_int_equal(pipe(t->wake), 0);
    assert_int_equal(pthread_create(&t->th, NULL, target_main, t), 0);
    char key[64];
    snprintf(key, sizeof key, "127.0.0.1:%d", t->port);

    enum { STREAMS = 60 };
    bool seen[1024] = {0};
    int streams = 0, hits = 0;
    pool_dial_t out[8];
    for (int i = 0; i < STREAMS; i++) {
        int w = i % 2;
        if (i % 3 == 0) /* maintenance: both workers tick, dial what is asked */
            for (int tw = 0; tw < 2; tw++) {
                int n = tick(x, tw, out, 8);
                for (int k = 0; k < n; k++)
                    for (int j = 0; j < out[k].count; j++) ready(x, out[k].key, tcp_connect(t->port), tw);
            }
        int fd[2], nopen = 1 + (i % 4 == 0); /* sometimes two streams at once */
        for (int k = 0; k < nopen; k++) {
            int r = acq(x, key, w, &fd[k]);
            assert_int_not_equal(r, POOL_FULL);
            if (r == POOL_HIT) hits++;
            else fd[k] = tcp_connect(t->port);
        }
        for (int k = 0; k < nopen; k++) {
            int num = one_stream(fd[k]);
            assert_true(num > 0 && num < 1024);
            assert_false(seen[num]); /* each connection carried one stream */
            seen[num] = true;
            streams++;
            close(fd[k]); /* the owner closes it; the pool never sees it again */
            done(x, key, w);
        }
    }
    stop(x); /* closes the spares left */
    assert_int_equal(write(t->wake[1], "x", 1), 1);
    pthread_join(t->th, NULL);
    assert_int_equal(t->violations, 0);
    assert_int_equal(t->requests, streams);
    assert_true(t->accepted >= streams);
    if (x->holds) assert_true(hits > streams / 2);
    else assert_int_equal(hits, 0); /* none: every stream dialed */
    close(t->lfd);
    close(t->wake[0]);
    close(t->wake[1]);
    free(t);
}

/* ---- the log lines ---- */

static bool matches(const char *re, const char *s)
{
    regex_t r;
    assert_int_equal(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
    bool m = regexec(&r, s, 0, NULL, 0) == 0;
    regfree(&r);
    return m;
}

#define STATS_RE "^\\[Pool Stats\\] Total: [0-9]+, Active: [0-9]+, Reused: [0-9]+, New: [0-9]+, Cleaned: [0-9]+$"
#define JSTR "\"([^\"\\\\]|\\\\.)*\""
#define STATUS_RE "^\\[Pool Status\\] \\{(" JSTR ": [0-9]+(, " JSTR ": [0-9]+)*)?\\}$"

static void test_stats_and_status_lines(void **state)
{
    harness_t *x = *state;
    x->cfg.min_idle = 2;
    start(x);
    char line[1024];
    pool_format_status(&x->h, line, sizeof line);
    assert_string_equal(line, "[Pool Status] {}");

    pool_dial_t out[8];
    int fd;
    const char *weird = "we\"ird\\host:1";
    assert_int_equal(acq(x, "a.example:443", 0, &fd), POOL_MISS);
    assert_int_equal(acq(x, weird, 0, &fd), POOL_MISS);
    done(x, weird, 0);
    int n = tick(x, 0, out, 8);
    for (int i = 0; i < n; i++)
        for (int k = 0; strcmp(out[i].key, weird) == 0 && k < out[i].count; k++)
            ready(x, weird, make_spare(x, SP_ALIVE), 0);
    for (int i = 0; i < n; i++)
        for (int k = 0; strcmp(out[i].key, "a.example:443") == 0 && k < out[i].count; k++)
            failed(x, out[i].key, 0);
    if (x->holds) {
        assert_int_equal(acq(x, weird, 0, &fd), POOL_HIT);
        close(fd);
        done(x, weird, 0);
    }

    pool_stats_t s = stats(x);
    size_t len = pool_format_stats(&s, line, sizeof line);
    assert_int_equal(len, strlen(line));
    assert_true(matches(STATS_RE, line));
    unsigned long long tot, act, reu, nw, cln;
    int end = -1;
    assert_int_equal(sscanf(line, "[Pool Stats] Total: %llu, Active: %llu, Reused: %llu, New: %llu, Cleaned: %llu%n",
                            &tot, &act, &reu, &nw, &cln, &end), 5);
    assert_int_equal(end, (int)strlen(line));
    assert_int_equal(tot, reu + nw);
    assert_int_equal(act, 1);
    assert_int_equal(reu, x->holds ? 1 : 0);
    assert_int_equal(nw, 2);
    assert_int_equal(cln, 0);

    len = pool_format_status(&x->h, line, sizeof line);
    assert_int_equal(len, strlen(line));
    assert_true(matches(STATUS_RE, line));
    if (!x->holds) { /* exempt: none tracks no target */
        assert_string_equal(line, "[Pool Status] {}");
        return;
    }
    /* Two entries, in either order: the weird key escaped, one spare left. */
    assert_non_null(strstr(line, "\"a.example:443\": 0"));
    assert_non_null(strstr(line, "\"we\\\"ird\\\\host:1\": 1"));
}

static void test_format_exact_and_truncated(void **state)
{
    (void)state;
    pool_stats_t s = {.total = 15, .active = 3, .reused = 8, .created = 7, .cleaned = 2};
    char line[128];
    size_t n = pool_format_stats(&s, line, sizeof line);
    assert_string_equal(line, "[Pool Stats] Total: 15, Active: 3, Reused: 8, New: 7, Cleaned: 2");
    assert_int_equal(n, strlen(line));
    char small[20];
    n = pool_format_stats(&s, small, sizeof small);
    assert_int_equal(n, strlen(small));
    assert_int_equal(n, sizeof small - 1);
    assert_string_equal(small + n - 3, "...");
    assert_memory_equal(small, "[Pool Stats] Tot", 16);
    assert_int_equal(pool_format_stats(&s, small, 0), 0);
    n = pool_format_stats(&s, small, 2);
    assert_int_equal(n, 1);

    /* Status truncation, with a real pool holding many keys (the first
     * registered type that tracks targets). */
    pool_config_t cfg;
    pool_config_defaults(&cfg);
    cfg.min_idle = 0;
    pool_handle_t h;
    int t = 0;
    while (t < pool_count() && !pool_test_holds(pool_test_impl(t))) t++;
    assert_true(t < pool_count());
    assert_int_equal(pool_open(&h, pool_test_impl(t), &cfg), 0);
    for (int i = 0; i < 50; i++) {
        char key[32];
        int fd;
        snprintf(key, sizeof key, "host%02d.example:443", i);
        pool_acquire(&h, key, 0, &fd);
    }
    char st[200];
    n = pool_format_status(&h, st, sizeof st);
    assert_int_equal(n, strlen(st));
    assert_true(n < sizeof st);
    assert_string_equal(st + n - 3, "...");
    assert_memory_equal(st, "[Pool Status] {\"host", 20);
    pool_close(&h);
}

/* ---- LRU cap on targets ---- */

static void test_lru_cap_on_targets(void **state)
{
    harness_t *x = *state;
    x->cfg.max_targets = 3;
    x->cfg.min_idle = 1;
    start(x);
    pool_dial_t out[8];
    int fd, sp[5] = {0};
    const char *keys[] = {"k1:1", "k2:1", "k3:1", "k4:1"};
    for (int i = 0; i < 3; i++) { /* k1 at +1, k2 at +2, k3 at +3 */
        x->now++;
        assert_int_equal(acq(x, keys[i], 0, &fd), POOL_MISS);
        done(x, keys[i], 0);
    }
    int n = tick(x, 0, out, 8);
    if (!x->holds) { /* exempt: none tracks no target */
        assert_int_equal(n, 0);
        assert_int_equal(stats(x).targets, 0);
        return;
    }
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) ready(x, keys[i], sp[i] = make_spare(x, SP_ALIVE), 0);
    assert_int_equal(stats(x).targets, 3);
    x->now++; /* k1 used again: k2 is now the least recently used */
    assert_int_equal(acq(x, keys[0], 0, &fd), POOL_HIT);
    assert_int_equal(fd, sp[0]);
    close(fd);
    done(x, keys[0], 0);
    x->now++;
    assert_int_equal(acq(x, keys[3], 0, &fd), POOL_MISS); /* evicts k2 */
    done(x, keys[3], 0);
    assert_int_equal(x->nclosed, 1);
    assert_true(was_closed(x, sp[1])); /* k2's spare */
    pool_stats_t s = stats(x);
    assert_int_equal(s.targets, 3);
    assert_int_equal(s.cleaned, 1);
    assert_int_equal(s.idle, 1); /* k3's */
    char line[512];
    pool_format_status(&x->h, line, sizeof line);
    assert_non_null(strstr(line, "\"k1:1\""));
    assert_null(strstr(line, "\"k2:1\""));
    assert_non_null(strstr(line, "\"k3:1\": 1"));
    assert_non_null(strstr(line, "\"k4:1\""));
    /* k2 comes back as a new target (and evicts the LRU again: k3). */
    x->now++;
    assert_int_equal(acq(x, keys[1], 0, &fd), POOL_MISS);
    assert_true(was_closed(x, sp[2]));
    assert_int_equal(stats(x).targets, 3);
}

/* ---- destroy ---- */

static void test_destroy_closes_all_spares(void **state)
{
    harness_t *x = *state;
    x->cfg.min_idle = 3;
    x->cfg.nworkers = 2;
    start(x);
    pool_dial_t out[8];
    int fd, given = 0;
    const char *keys[] = {"d1:1", "d2:1", "d3:1"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(acq(x, keys[i], i % 2, &fd), POOL_MISS);
        done(x, keys[i], i % 2);
    }
    for (int w = 0; w < 2; w++) {
        int n = tick(x, w, out, 8);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < out[i].count; k++, given++) ready(x, out[i].key, make_spare(x, SP_ALIVE), w);
    }
    if (x->holds) {
        assert_int_equal(given, 9);
        assert_int_equal(x->nclosed, 0);
        assert_int_equal(stats(x).idle, 9);
    } else { /* exempt: none holds nothing (and asked for nothing) */
        for (; given < 3; given++) ready(x, keys[given], make_spare(x, SP_ALIVE), 0);
        assert_int_equal(x->nclosed, given);
    }
    stop(x);
    assert_int_equal(x->nclosed, given);
}

/* Many targets: tables grow (highperf starts at 1024 slots per worker),
 * every key keeps its own spare. */
static void test_many_targets(void **state)
{
    harness_t *x = *state;
    enum { N = 2500 };
    x->cfg.max_targets = 3000;
    x->cfg.min_idle = 1;
    start(x);
    static pool_dial_t out[N];
    char key[64];
    int fd;
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "h%d.example:%d", i, 1000 + i % 7);
        assert_int_equal(acq(x, key, 0, &fd), POOL_MISS);
        done(x, key, 0);
    }
    int n = tick(x, 0, out, N);
    if (!x->holds) { /* exempt: none tracks no target */
        assert_int_equal(n, 0);
        return;
    }
    assert_int_equal(n, N);
    assert_int_equal(stats(x).targets, N);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    x->peers[x->npeers++] = sv[1];
    x->peers[x->npeers++] = sv[0];
    /* The same fd serves as every spare (the pool never looks at identity):
     * no fd limit to hit, and it must never be closed. */
    for (int i = 0; i < N; i++) ready(x, out[i].key, sv[0], 0);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "h%d.example:%d", i, 1000 + i % 7);
        assert_int_equal(acq(x, key, 0, &fd), POOL_HIT);
        assert_int_equal(fd, sv[0]);
        assert_int_equal(acq(x, key, 0, &fd), POOL_MISS); /* one spare each */
    }
    pool_stats_t s = stats(x);
    assert_int_equal(s.reused, N);
    assert_int_equal(s.idle, 0);
    assert_int_equal(x->nclosed, 0);
}

/* ---- odd input ---- */

static void test_overlong_key_is_untracked(void **state)
{
    harness_t *x = *state;
    start(x);
    char key[POOL_KEY_MAX + 50];
    memset(key, 'a', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    int fd;
    assert_int_equal(acq(x, key, 0, &fd), POOL_MISS);
    done(x, key, 0);
    int sp = make_spare(x, SP_ALIVE);
    ready(x, key, sp, 0);
    assert_true(was_closed(x, sp));
    pool_stats_t s = stats(x);
    assert_int_equal(s.targets, 0);
    assert_int_equal(s.active, 0);
    assert_int_equal(s.created, 1);
}

/* ---- not per implementation ---- */

static void test_registry_and_defaults(void **state)
{
    (void)state;
    /* pool_names() is the registry's names, in order, ", "-separated; every
     * one is found by name and opens. */
    char joined[512] = "";
    assert_true(pool_count() >= 2); /* the baseline and at least one pool */
    for (int i = 0; i < pool_count(); i++) {
        const pool_ops_t *o = pool_at(i);
        assert_non_null(o);
        assert_ptr_equal(pool_find(o->name), o);
        for (int j = 0; j < i; j++) assert_string_not_equal(pool_at(j)->name, o->name);
        snprintf(joined + strlen(joined), sizeof joined - strlen(joined), "%s%s", i ? ", " : "", o->name);
    }
    assert_string_equal(pool_names(), joined);
    assert_null(pool_at(-1));
    assert_null(pool_at(pool_count()));
    assert_null(pool_find("nope"));
    assert_null(pool_find(NULL));
    pool_config_t c;
    pool_config_defaults(&c);
    assert_int_equal(c.max_conns, 100);
    assert_int_equal(c.max_idle_ms, 300000);
    assert_int_equal(c.min_idle, 5);
    assert_int_equal(c.max_targets, 1024);
    assert_int_equal(c.nworkers, 1);
    assert_null(c.now_ms);
    assert_null(c.close_fd);
    pool_handle_t h;
    assert_int_equal(pool_open(&h, "nope", &c), -1);
    for (int i = 0; i < pool_count(); i++) {
        assert_int_equal(pool_open(&h, pool_test_impl(i), &c), 0);
        assert_string_equal(pool_type_name(&h), pool_test_impl(i));
        pool_close(&h);
    }
}

/* Every type refuses the same configurations (pool_cfg_ok), whether or not it
 * uses the field: a config that opens with one --pool-type opens with all. */
static void test_config_validation(void **state)
{
    (void)state;
    pool_config_t bad[6];
    for (int k = 0; k < 6; k++) pool_config_defaults(&bad[k]);
    bad[0].nworkers = 0;
    bad[1].max_conns = 0;
    bad[2].max_targets = 0;
    bad[3].min_idle = -1;
    bad[4].max_idle_ms = -1;
    bad[5].nworkers = -3;
    pool_handle_t h;
    for (int i = 0; i < pool_count(); i++) {
        for (int k = 0; k < 6; k++) {
            assert_int_equal(pool_open(&h, pool_test_impl(i), &bad[k]), -1);
            assert_null(h.ops);
        }
        assert_int_equal(pool_open(&h, pool_test_impl(i), NULL), -1);
        pool_config_t edge; /* the smallest valid values */
        pool_config_defaults(&edge);
        edge.max_conns = 1;
        edge.max_targets = 1;
        edge.min_idle = 0;
        edge.max_idle_ms = 0;
        assert_int_equal(pool_open(&h, pool_test_impl(i), &edge), 0);
        pool_close(&h);
    }
}

static void test_spare_alive(void **state)
{
    (void)state;
    int sv[2], p[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(pool_spare_alive(sv[0]), 1);
    assert_int_equal(write(sv[1], "x", 1), 1);
    assert_int_equal(pool_spare_alive(sv[0]), 1); /* bytes waiting are fine */
    assert_int_equal(pool_spare_alive(sv[0]), 1); /* and were not consumed */
    close(sv[1]);
    assert_int_equal(pool_spare_alive(sv[0]), 1); /* the byte is still there */
    char b;
    assert_int_equal(read(sv[0], &b, 1), 1);
    assert_int_equal(pool_spare_alive(sv[0]), 0); /* now only EOF */
    close(sv[0]);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(pool_spare_alive(p[0]), 0); /* not a socket: ENOTSOCK */
    close(p[0]);
    close(p[1]);
    assert_int_equal(pool_spare_alive(-1), 0);
}

#define CASE(f) cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, (void *)impl)

int main(void)
{
    int failed_groups = 0;
    const struct CMUnitTest common[] = {
        cmocka_unit_test(test_registry_and_defaults),
        cmocka_unit_test(test_config_validation),
        cmocka_unit_test(test_spare_alive),
        cmocka_unit_test(test_format_exact_and_truncated),
    };
    failed_groups += cmocka_run_group_tests_name("pool common", common, NULL, NULL);
    for (int i = 0; i < pool_count(); i++) {
        const char *impl = pool_test_impl(i);
        const struct CMUnitTest tests[] = {
            CASE(test_miss_counts_new_and_active),
            CASE(test_caps_full_at_max_conns),
            CASE(test_caps_count_idle_and_dialing),
            CASE(test_refill_to_min_idle),
            CASE(test_refill_one_worker_per_target),
            CASE(test_spare_elsewhere_before_dialing),
            CASE(test_cap_across_workers),
            CASE(test_cap_burst_across_workers),
            CASE(test_idle_expiry),
            CASE(test_unused_target_with_open_stream),
            CASE(test_stale_spare_never_handed_out),
            CASE(test_stale_tcp_fin_rst_and_banner),
            CASE(test_used_socket_never_pooled),
            CASE(test_stats_and_status_lines),
            CASE(test_lru_cap_on_targets),
            CASE(test_destroy_closes_all_spares),
            CASE(test_many_targets),
            CASE(test_overlong_key_is_untracked),
        };
        printf("== pool implementation: %s\n", impl);
        fflush(stdout);
        failed_groups += cmocka_run_group_tests_name(impl, tests, NULL, NULL);
    }
    return failed_groups ? 1 : 0;
}
