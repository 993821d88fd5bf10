// bench_pool.cc -- Google Benchmark around the pool's C API.
//
// One iteration is one stream's worth of pool work on a warm pool:
//   acquire(key) -> HIT (or MISS) ; stream_done(key) ; spare_ready(key, fd)
// i.e. "get + put": a spare taken, the stream ended, a refill handed back.
// Reported (UseRealTime): Time = wall-clock time / iterations summed over all
// threads, i.e. aggregate ns per cycle (= 1e9 / items_per_second); hit = the
// fraction of acquires served by a spare.
//
// Matrix: every implementation in the registry (pool_count(), pool_at(i)) x key
// sets {1, 16, 1024 uniform, 1024 Zipf s=1} x threads {1, 2, 4, 8, 16}. Thread i
// is worker i (nworkers = threads).
//
// The liveness check: a HIT costs one recv(MSG_PEEK) syscall in every
// implementation (none never HITs), which would dominate and hide the data
// structures. The "cycle/" runs therefore interpose recv() in this binary:
// MSG_PEEK answers EAGAIN (a live, quiet spare) without a syscall; everything
// else goes to libc. The "cycle_syscall/" runs use the real syscall, to show
// the full per-acquire cost. Keep the two scales apart when reading numbers.
//
// Run: build/bench/bench_pool [--benchmark_min_time=0.2] [--benchmark_filter=...]
// On a machine with fewer cores than threads, the 8 and 16 thread rows measure
// oversubscription (a preempted lock holder), not parallel scaling.
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
#include <string>
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

struct Config {
    int impl, dist;
    bool syscall;
};
std::vector<Config> g_configs;

constexpr int kMaxThreads = 16;
constexpr size_t kSeqLen = 1 << 16;  // key indices per thread, cycled
constexpr int kMinIdle = 8;

std::vector<std::string> g_keys;
std::vector<uint16_t> g_seq[sizeof kDists / sizeof kDists[0]][kMaxThreads];
pool_handle_t g_pool;
int g_spare_fd = -1, g_spare_peer = -1;

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

void noop_close(int, void *) {}

void setup(const benchmark::State &state)
{
    const Config &c = g_configs[state.range(0)];
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
    g_real_check.store(c.syscall);
    pool_config_t cfg;
    pool_config_defaults(&cfg);
    cfg.nworkers = state.threads();
    cfg.max_conns = 1 << 30;  // never FULL: measure get+put, not rejection
    cfg.min_idle = kMinIdle;
    cfg.max_idle_ms = 1 << 30;
    cfg.max_targets = 1024;
    cfg.close_fd = noop_close;  // every spare is the same fd: never closed
    if (pool_open(&g_pool, pool_at(c.impl)->name, &cfg) != 0) abort();
    // Warm: every worker knows every key and holds its spares.
    for (int w = 0; w < state.threads(); w++)
        for (int k = 0; k < kDists[c.dist].keys; k++) {
            int fd;
            const char *key = g_keys[k].c_str();
            if (pool_acquire(&g_pool, key, w, &fd) != POOL_FULL) pool_stream_done(&g_pool, key, w);
            for (int i = 0; i < kMinIdle; i++) pool_spare_ready(&g_pool, key, g_spare_fd, w);
        }
}

void teardown(const benchmark::State &)
{
    pool_close(&g_pool);
    g_real_check.store(false);
}

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
    const double iters = static_cast<double>(state.iterations());
    state.counters["hit"] = benchmark::Counter(iters ? hits / iters : 0, benchmark::Counter::kAvgThreads);
    state.SetItemsProcessed(state.iterations());
}

void register_all()
{
    for (int i = 0; i < pool_count(); i++)
        for (int d = 0; d < 4; d++) {
            g_configs.push_back({i, d, false});
            std::string name = std::string("cycle/") + pool_at(i)->name + "/" + kDists[d].name;
            benchmark::RegisterBenchmark(name.c_str(), BM_cycle)
                ->Arg(static_cast<int64_t>(g_configs.size() - 1))
                ->Setup(setup)
                ->Teardown(teardown)
                ->UseRealTime()
                ->Threads(1)->Threads(2)->Threads(4)->Threads(8)->Threads(16);
        }
    for (int i = 0; i < pool_count(); i++) {  // with the real recv(MSG_PEEK) per HIT
        g_configs.push_back({i, 1, true});
        std::string name = std::string("cycle_syscall/") + pool_at(i)->name + "/keys16";
        benchmark::RegisterBenchmark(name.c_str(), BM_cycle)
            ->Arg(static_cast<int64_t>(g_configs.size() - 1))
            ->Setup(setup)
            ->Teardown(teardown)
            ->UseRealTime()
            ->Threads(1)->Threads(8);
    }
}

}  // namespace

int main(int argc, char **argv)
{
    register_all();
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
