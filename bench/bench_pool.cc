// bench_pool.cc -- Google Benchmark around the pool's C API.
//
// Names: <variant>[_oversub]/<impl>/<keys>/<detail>/<config>/real_time/threads:T.
// Time (UseRealTime) = wall-clock time / items summed over all threads, i.e.
// aggregate ns per item (= 1e9 / items_per_second); "hit" = the fraction of
// acquires served by a spare (a stolen one included); "miss" the rest.
//
// Variants (every implementation in the registry x key sets {1 hot key, 16,
// 1024 uniform, 1024 Zipf s=1}, unless said):
//   cycle/    same_worker: acquire(key) -> stream_done -> spare_ready, all on the
//             thread's own worker, the spare handed straight back. Hit rate 1 by
//             construction: nothing is shared, highperf never steals. The upper
//             bound of what a pool can do, not the server's pattern.
//   shared/   refill<R>: the server's pattern. A worker acquires and ends streams;
//             refills come only from pool_tick, which each worker runs every R of
//             its acquires, dialing (spare_ready) what its tick asks for: for lock
//             and lockfree the target's owner worker (hash % workers), so a spare
//             is acquired on one worker after spare_ready on another; highperf
//             refills its own cache and steals from the others on a local miss.
//             Spares run out between ticks (hit < 1): misses dial (New), and the
//             tick's scan is part of the cost. R = 16 (refills keep up) and 256
//             (they lag: misses, steals).
//   handoff/  producer0: thread 0 only hands spares in (spare_ready, a refill
//             finishing on worker 0); threads 1..T-1 only acquire and end streams.
//             Every hit crosses threads: highperf's steal path on every acquire.
//             Items = the consumers' acquires. Needs T >= 2.
//   counters/ ops5: the statistics counters alone, no pool: per item the 5 counter
//             updates of a hit cycle (reused, active, idle at acquire; active at
//             stream_done; idle at spare_ready), as lock and lockfree do them
//             (impl shared_atomic: relaxed fetch_add on one shared struct) and as
//             highperf does (impl per_worker: load+store on the worker's own
//             cache line). Subtract from the pools' figures to see the structure.
//   cycle_syscall/  as cycle/ with the real recv(MSG_PEEK) per HIT (16 keys).
// Spares are equal across types: the shared pools keep kMinIdle x workers per
// target, highperf kMinIdle per worker (as experiments/sweep.py does end to end).
//
// Threads: --threads=LIST (default 1..hardware threads) for the contention
// figures; --oversub-threads=LIST runs more threads than cores, and those rows
// are named <variant>_oversub/...: a preempted lock holder, not parallel scaling
// (never read them as contention evidence). Thread i is worker i.
//
// The liveness check: a HIT costs one recv(MSG_PEEK) syscall in every
// implementation (none never HITs), which would dominate and hide the data
// structures. Every variant but cycle_syscall/ interposes recv() in this binary:
// MSG_PEEK answers EAGAIN (a live, quiet spare) without a syscall; everything
// else goes to libc. Keep the two scales apart when reading numbers.
//
// Run: build/bench/bench_pool [--threads=1,2] [--oversub-threads=4,8]
//      [--benchmark_min_time=0.2] [--benchmark_filter=...]
extern "C" {
#include "pool.h"
}

#include <benchmark/benchmark.h>

#include <dlfcn.h>
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

// ---- recv interposition (see the header comment) ----
std::atomic<bool> g_real_check{false};

using recv_fn = ssize_t (*)(int, void *, size_t, int);

recv_fn real_recv()
{
    static recv_fn fn = reinterpret_cast<recv_fn>(dlsym(RTLD_NEXT, "recv"));
    return fn;
}

}  // namespace

extern "C" ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    if ((flags & MSG_PEEK) && !g_real_check.load(std::memory_order_relaxed)) {
        errno = EAGAIN;
        return -1;
    }
    return real_recv()(fd, buf, n, flags);
}

namespace {

struct Dist {
    const char *name;
    int keys;
    bool zipf;
};
const Dist kDists[] = {{"keys1", 1, false}, {"keys16", 16, false}, {"keys1024", 1024, false},
                       {"zipf1024", 1024, true}};
constexpr int kNDists = sizeof kDists / sizeof kDists[0];

enum Variant { V_CYCLE, V_SHARED, V_HANDOFF, V_COUNTERS };

struct Config {
    Variant v;
    int impl;      // pool_at(impl); for V_COUNTERS: 0 shared_atomic, 1 per_worker
    int dist;
    bool syscall;  // the real recv(MSG_PEEK)
    int refill;    // V_SHARED: pool_tick every `refill` acquires
};
std::vector<Config> g_configs;

constexpr int kMaxThreads = 256;
constexpr size_t kSeqLen = 1 << 16;  // key indices per thread, cycled
constexpr int kMinIdle = 8;          // spares per target per worker (see the header)
constexpr int kCounterOps = 5;

std::vector<std::string> g_keys;
std::vector<uint16_t> g_seq[kNDists][kMaxThreads];
pool_handle_t g_pool;
int g_spare_fd = -1, g_spare_peer = -1;

// ---- the counters alone ----
struct SharedCounters {  // pool_impl.h's pool_counters_t: 12 counters in a row
    std::atomic<uint64_t> c[12];
};
struct alignas(64) WorkerCounters {  // pool_highperf.c's hp_counters_t, one per worker
    std::atomic<int64_t> c[12];
};
SharedCounters g_shared_counters;
WorkerCounters g_worker_counters[kMaxThreads];

uint64_t splitmix(uint64_t &s)
{
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Per-thread key index sequences, built once per key set.
void build_sequences(int d)
{
    if (!g_seq[d][0].empty()) return;
    const Dist &dist = kDists[d];
    std::vector<double> cdf(dist.keys);
    double sum = 0;
    for (int k = 0; k < dist.keys; k++) {
        sum += dist.zipf ? 1.0 / (k + 1) : 1.0;
        cdf[k] = sum;
    }
    for (int t = 0; t < kMaxThreads; t++) {
        uint64_t s = 12345 + 977 * t + d;
        g_seq[d][t].resize(kSeqLen);
        for (size_t i = 0; i < kSeqLen; i++) {
            double u = (splitmix(s) >> 11) * (1.0 / 9007199254740992.0) * sum;
            size_t k = std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin();
            g_seq[d][t][i] = static_cast<uint16_t>(std::min<size_t>(k, dist.keys - 1));
        }
    }
}

// handoff/ pacing: acquires per consumer and spares handed in by the producer
// (thread 0), each on its own cache line; reset in setup, before the threads start
struct alignas(64) Taken {
    std::atomic<int64_t> n{0};
    std::atomic<int> done{0};
};
Taken g_taken[kMaxThreads];

int64_t taken_sum(int nt, int *done)
{
    int64_t t = 0;
    int d = 0;
    for (int k = 1; k < nt; k++) {
        t += g_taken[k].n.load(std::memory_order_acquire);
        d += g_taken[k].done.load(std::memory_order_relaxed);
    }
    if (done) *done = d;
    return t;
}

void noop_close(int, void *) {}

bool per_worker_spares(int impl) { return std::string(pool_at(impl)->name) == "highperf"; }

void setup(const benchmark::State &state)
{
    const Config &c = g_configs[state.range(0)];
    if (c.v == V_COUNTERS) {
        for (auto &x : g_shared_counters.c) x.store(0);
        for (auto &w : g_worker_counters)
            for (auto &x : w.c) x.store(0);
        return;
    }
    if (g_keys.empty())
        for (int k = 0; k < 1024; k++) {
            char b[64];
            snprintf(b, sizeof b, "host%04d.example.com:443", k);
            g_keys.push_back(b);
        }
    if (g_spare_fd < 0) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) abort();
        g_spare_fd = sv[0];
        g_spare_peer = sv[1];
    }
    build_sequences(c.dist);
    for (auto &t : g_taken) {
        t.n.store(0);
        t.done.store(0);
    }
    g_real_check.store(c.syscall);
    const int nw = state.threads();
    pool_config_t cfg;
    pool_config_defaults(&cfg);
    cfg.nworkers = nw;
    cfg.max_conns = 1 << 30;  // never FULL: measure the pool's work, not rejection
    // equal spares per target: highperf keeps min_idle per worker, the others per target
    cfg.min_idle = per_worker_spares(c.impl) ? kMinIdle : kMinIdle * nw;
    cfg.max_idle_ms = 1 << 30;
    cfg.max_targets = 1024;
    cfg.close_fd = noop_close;  // every spare is the same fd: never closed
    if (pool_open(&g_pool, pool_at(c.impl)->name, &cfg) != 0) abort();
    // Warm: every worker knows every key; the spares arrive as the variant gets them.
    static pool_dial_t dials[2048];
    for (int w = 0; w < nw; w++)
        for (int k = 0; k < kDists[c.dist].keys; k++) {
            int fd;
            const char *key = g_keys[k].c_str();
            if (pool_acquire(&g_pool, key, w, &fd) != POOL_FULL) pool_stream_done(&g_pool, key, w);
        }
    for (int w = 0; w < nw; w++) {
        if (c.v == V_SHARED) {  // what the ticks ask for
            int n = pool_tick(&g_pool, w, dials, 2048);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < dials[i].count; j++) pool_spare_ready(&g_pool, dials[i].key, g_spare_fd, w);
        } else {  // cycle, handoff: spares handed in directly
            for (int k = 0; k < kDists[c.dist].keys; k++)
                for (int i = 0; i < cfg.min_idle; i++) pool_spare_ready(&g_pool, g_keys[k].c_str(), g_spare_fd, w);
        }
    }
}

void teardown(const benchmark::State &state)
{
    const Config &c = g_configs[state.range(0)];
    if (c.v == V_COUNTERS) return;
    pool_close(&g_pool);
    g_real_check.store(false);
}

// Every run sets the same counters (the CSV reporter needs one header for all).
void report(benchmark::State &state, int64_t items, int64_t hits, int64_t acquires, int64_t refills = 0)
{
    state.counters["refill_per_acq"] = benchmark::Counter(
        acquires ? double(refills) / acquires : 0, benchmark::Counter::kAvgThreads);
    state.counters["hit"] = benchmark::Counter(acquires ? double(hits) / acquires : 0, benchmark::Counter::kAvgThreads);
    state.counters["acq"] = benchmark::Counter(double(acquires));
    state.SetItemsProcessed(items);
}

// cycle/: acquire, end, hand the spare straight back, on one worker
void BM_cycle(benchmark::State &state)
{
    const Config &c = g_configs[state.range(0)];
    pool_handle_t h = g_pool;  // a local copy: the calls below need not reload the global
    const int w = state.thread_index();
    const uint16_t *seq = g_seq[c.dist][w].data();
    const std::string *keys = g_keys.data();
    size_t i = 0;
    int64_t hits = 0;
    for (auto _ : state) {
        const char *key = keys[seq[i++ & (kSeqLen - 1)]].c_str();
        int fd;
        int r = pool_acquire(&h, key, w, &fd);
        if (r != POOL_FULL) pool_stream_done(&h, key, w);
        pool_spare_ready(&h, key, r == POOL_HIT ? fd : g_spare_fd, w);
        hits += r == POOL_HIT;
    }
    report(state, state.iterations(), hits, state.iterations());
}

// shared/: the server's pattern (refills only from the ticks)
void BM_shared(benchmark::State &state)
{
    const Config &c = g_configs[state.range(0)];
    pool_handle_t h = g_pool;
    const int w = state.thread_index();
    const uint16_t *seq = g_seq[c.dist][w].data();
    const std::string *keys = g_keys.data();
    std::vector<pool_dial_t> dials(1024);
    size_t i = 0;
    int64_t hits = 0, refills = 0, until_tick = c.refill;
    for (auto _ : state) {
        const char *key = keys[seq[i++ & (kSeqLen - 1)]].c_str();
        int fd;
        int r = pool_acquire(&h, key, w, &fd);
        if (r != POOL_FULL) pool_stream_done(&h, key, w);  // a HIT's fd or a MISS's dial: closed
        hits += r == POOL_HIT;
        if (--until_tick == 0) {
            until_tick = c.refill;
            int n = pool_tick(&h, w, dials.data(), static_cast<int>(dials.size()));
            for (int k = 0; k < n; k++)
                for (int j = 0; j < dials[k].count; j++, refills++)
                    pool_spare_ready(&h, dials[k].key, g_spare_fd, w);
        }
    }
    report(state, state.iterations(), hits, state.iterations(), refills);
}

// handoff/: thread 0 hands spares in, the others take them, as a pipeline: each
// producer iteration hands in T-1 spares, at most kMinIdle ahead of the acquires;
// a consumer acquires only once a spare has been handed in that no acquire has
// counted yet (both sides spin on counters kept on their own cache lines). So
// every acquire should find a spare, most often in another worker's hands: what
// is measured is the cross-thread hand-off (highperf: the steal path), not the
// scheduler of a time-sliced machine. A miss (another consumer was faster) is
// counted as such.
void BM_handoff(benchmark::State &state)
{
    const Config &c = g_configs[state.range(0)];
    pool_handle_t h = g_pool;
    const int w = state.thread_index();
    const uint16_t *seq = g_seq[c.dist][w].data();
    const std::string *keys = g_keys.data();
    size_t i = 0;
    int64_t hits = 0;
    if (state.threads() < 2) {
        state.SkipWithError("handoff needs >= 2 threads");
        for (auto _ : state) {
        }
        report(state, 0, 0, 0);
        return;
    }
    const int nt = state.threads();
    int64_t handed = 0, taken = 0;
    for (auto _ : state) {
        if (w == 0) {
            for (int j = 1; j < nt; j++) {
                int done = 0;
                while (handed >= taken_sum(nt, &done) + kMinIdle && done < nt - 1) __builtin_ia32_pause();
                pool_spare_ready(&h, keys[seq[i++ & (kSeqLen - 1)]].c_str(), g_spare_fd, 0);
                handed++;
                g_taken[0].n.store(handed, std::memory_order_release);
            }
        } else {
            // wait for a spare that no acquire has counted yet (or the producer's end)
            while (g_taken[0].n.load(std::memory_order_acquire) <= taken_sum(nt, nullptr) &&
                   !g_taken[0].done.load(std::memory_order_relaxed))
                __builtin_ia32_pause();
            const char *key = keys[seq[i++ & (kSeqLen - 1)]].c_str();
            int fd;
            int r = pool_acquire(&h, key, w, &fd);
            if (r != POOL_FULL) pool_stream_done(&h, key, w);
            hits += r == POOL_HIT;
            g_taken[w].n.store(++taken, std::memory_order_relaxed);
        }
    }
    g_taken[w].done.store(1, std::memory_order_relaxed);
    int64_t acq = w == 0 ? 0 : state.iterations();
    report(state, acq, hits, acq);
}

// counters/: the statistics counters of one hit cycle, without the structure
void BM_counters(benchmark::State &state)
{
    const Config &c = g_configs[state.range(0)];
    const int w = state.thread_index();
    if (c.impl == 0) {
        std::atomic<uint64_t> *x = g_shared_counters.c;
        for (auto _ : state)
            for (int k = 0; k < kCounterOps; k++) x[k % 3].fetch_add(1, std::memory_order_relaxed);
    } else {
        std::atomic<int64_t> *x = g_worker_counters[w].c;
        for (auto _ : state)
            for (int k = 0; k < kCounterOps; k++)
                x[k % 3].store(x[k % 3].load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    report(state, state.iterations(), 0, 0);
}

std::vector<int> g_threads, g_oversub;

std::vector<int> parse_list(const char *s)
{
    std::vector<int> v;
    while (s && *s) {
        char *end;
        long x = strtol(s, &end, 10);
        if (end == s || x < 1 || x > kMaxThreads) {
            fprintf(stderr, "bench_pool: bad thread list '%s' (1..%d, comma-separated)\n", s, kMaxThreads);
            exit(2);
        }
        v.push_back(static_cast<int>(x));
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') {
            fprintf(stderr, "bench_pool: bad thread list\n");
            exit(2);
        }
    }
    return v;
}

void reg(const std::string &variant, const std::string &impl, const std::string &keys,
         const std::string &detail, void (*fn)(benchmark::State &), Config cfg, int min_threads = 1)
{
    g_configs.push_back(cfg);
    const int64_t idx = static_cast<int64_t>(g_configs.size() - 1);
    for (int over = 0; over < 2; over++) {
        const std::vector<int> &ts = over ? g_oversub : g_threads;
        std::vector<int> use;
        for (int t : ts)
            if (t >= min_threads) use.push_back(t);
        if (use.empty()) continue;
        std::string name = variant + (over ? "_oversub/" : "/") + impl + "/" + keys + "/" + detail;
        auto *b = benchmark::RegisterBenchmark(name.c_str(), fn)->Arg(idx)->Setup(setup)->Teardown(teardown)->UseRealTime();
        for (int t : use) b->Threads(t);
    }
}

void register_all()
{
    for (int i = 0; i < pool_count(); i++)
        for (int d = 0; d < kNDists; d++) {
            const std::string impl = pool_at(i)->name, keys = kDists[d].name;
            reg("cycle", impl, keys, "same_worker", BM_cycle, {V_CYCLE, i, d, false, 0});
            for (int r : {16, 256}) reg("shared", impl, keys, "refill" + std::to_string(r), BM_shared, {V_SHARED, i, d, false, r});
            reg("handoff", impl, keys, "producer0", BM_handoff, {V_HANDOFF, i, d, false, 0}, 2);
        }
    for (int i = 0; i < pool_count(); i++)  // with the real recv(MSG_PEEK) per HIT
        reg("cycle_syscall", pool_at(i)->name, "keys16", "same_worker", BM_cycle, {V_CYCLE, i, 1, true, 0});
    reg("counters", "shared_atomic", "ops5", "no_pool", BM_counters, {V_COUNTERS, 0, 0, false, 0});
    reg("counters", "per_worker", "ops5", "no_pool", BM_counters, {V_COUNTERS, 1, 0, false, 0});
}

}  // namespace

int main(int argc, char **argv)
{
    // our flags first (Google Benchmark rejects flags it does not know)
    const char *threads = nullptr, *oversub = nullptr;
    int n = 1;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--threads=", 10) == 0) threads = argv[i] + 10;
        else if (strncmp(argv[i], "--oversub-threads=", 18) == 0) oversub = argv[i] + 18;
        else argv[n++] = argv[i];
    }
    argc = n;
    int ncpu = static_cast<int>(std::thread::hardware_concurrency());
    if (ncpu < 1) ncpu = 1;
    if (threads && *threads) g_threads = parse_list(threads);
    else
        for (int t = 1; t <= ncpu; t++) g_threads.push_back(t);
    if (oversub && *oversub) g_oversub = parse_list(oversub);
    for (int t : g_threads)
        if (t > ncpu)
            fprintf(stderr, "bench_pool: WARNING: --threads %d exceeds the %d hardware threads: put it in "
                            "--oversub-threads so its rows are labelled oversubscribed\n", t, ncpu);
    register_all();
    benchmark::AddCustomContext("hardware_threads", std::to_string(ncpu));
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    if (g_spare_fd >= 0) {
        close(g_spare_fd);
        close(g_spare_peer);
    }
    return 0;
}
