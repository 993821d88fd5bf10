#!/usr/bin/env bash
# make bench: the quick benchmark suite (<= 10 minutes on 2 cores).
#   1. experiments/run.sh quick: the end-to-end sweep behind every claim (3 reps)
#      plus the pool micro-benchmark (Google Benchmark, threads 1..16)
#   2. bench/compare_singbox.py: ours vs sing-box AnyTLS on one loopback chain
#   3. experiments/figures.sh: the charts (PNG + SVG) in results/figures/
#   4. bench/costs.py: CPU, syscalls and context switches per short stream and
#      CPU per GB, ours vs shadowsocks-libev, a perf profile (~1.5 min;
#      results/costs/latest.md)
#   5. a summary: claims with their measured values and verdicts, the comparison, the
#      costs, and what to run in production (experiments/advise --brief: the seeds'
#      four scenarios)
# Raw data lands in results/; nothing here is typed by hand.
# Parameters (environment): WORKERS (server/client worker threads, every cell and the
# side-by-side), MICRO_THREADS / MICRO_OVERSUB (bench_pool thread counts), ALLOW_DIRTY=1
# (run on an uncommitted tree; every output then says DIRTY). See experiments/run.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
start=$(date +%s)
python3 experiments/provenance.py show | grep -E '^(git_sha|git_dirty|build_version|provenance):' >&2
echo "== 1/4 quick sweep + micro-benchmark (experiments/run.sh quick)" >&2
experiments/run.sh quick
echo "== 2/4 anytls-c vs sing-box (bench/compare_singbox.py)" >&2
python3 bench/compare_singbox.py --reps 1 --seconds 3 --bulk-bytes $((1 << 30)) --sessions 1000 \
    --workers "${WORKERS:-0}" \
    > results/compare/summary.txt
echo "== 3/4 figures (experiments/figures.sh)" >&2
experiments/figures.sh quick >/dev/null
echo "== 4/4 cost per stream vs shadowsocks-libev (bench/costs.py)" >&2
mkdir -p results/costs
python3 bench/costs.py > results/costs/summary.txt
echo
echo "================ summary ($(( $(date +%s) - start )) s) ================"
python3 experiments/aggregate.py --print quick 2>/dev/null || python3 experiments/aggregate.py
echo
echo "anytls-c vs sing-box AnyTLS (same loopback chain, same run):"
cat results/compare/summary.txt
echo
cat results/costs/summary.txt
echo
experiments/advise --brief 2>/dev/null || echo "advise: no answer (experiments/advise --selftest says why)"
echo
echo "figures: results/figures/   raw data: results/raw/   paper: make paper"
