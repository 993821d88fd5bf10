#!/usr/bin/env bash
# experiments/run.sh {smoke|quick|full} -- run one sweep of the research suite.
#
#   smoke   1 rep,  a few cells, seconds each (CI: <= 60 s); no micro-benchmark
#   quick   3 reps, the cells behind every claim, short runs (part of `make bench`, <= 6 min)
#   full    5 reps, one-at-a-time variations around the seeds' four configs (~1 h)
#
# Cells come from experiments/sweeps/<sweep>.txt (format: experiments/sweep.py).
# For every cell x rep: target(s) (inside an RTT namespace when rtt_ms > 0, via
# experiments/netns.sh; if that is unavailable this says so loudly and the cell
# runs at loopback RTT with rtt_effective=0), anytls-server with the cell's pool
# config, anytls-client, bench/loadgen open loop at the cell's rate. Then, for
# quick/full, the pool micro-benchmark (build/bench/bench_pool; missing = error).
#
# Output: results/raw/<yyyymmdd>-<sha>-<sweep>/
#   results.csv   one row per cell x rep (columns: experiments/runner.py COLUMNS)
#   env.txt       machine, kernel, compiler and library versions, git describe, RTT checks
#   micro.csv     Google Benchmark CSV (quick/full)
#   runs/<cell>-r<rep>/   the logs of each run (not committed)
# and results/latest-<sweep> -> that directory.
# Resumable: running the same sweep again (same day, same commit, or RESULTS_DIR=dir)
# skips every cell x rep that already has an ok row.
#
# Provenance: the run refuses a dirty work tree, binaries built from a dirty tree
# and stale binaries (experiments/provenance.py) unless ALLOW_DIRTY=1, which is then
# recorded in env.txt and in every results.csv row (provenance=DIRTY), and the
# output directory is named <date>-<sha>-dirty-<sweep>.
# Design: cells run in a seeded random order inside each block (= rep), every cell
# of a block with the same load seed (DESIGN_SEED to fix the seed; recorded).
#
# Environment: BUILD_DIR (default build), RESULTS_DIR (output dir), MAX_SECONDS
# (stop starting runs after this long; exit 4, resumable), ONLY (regex on cell ids),
# REPS (override reps), WORKERS (server/client worker threads for every cell),
# MICRO_THREADS (bench_pool thread counts, default 1..cores; e.g. 1,2),
# MICRO_OVERSUB (thread counts above the cores, run and labelled oversubscribed;
# default: 2x and 4x cores for full, none for quick), MICRO=skip (skip the
# micro-benchmark deliberately), ALLOW_DIRTY=1, DESIGN_SEED.
# Exit status: 0 all ok; 1 a run or the micro-benchmark failed; 2 usage; 3 refused
# (dirty or stale, see above); 4 time budget reached; 130 interrupted.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SWEEP=${1:-}
case "$SWEEP" in
    smoke|quick|full) ;;
    *) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
BUILD=${BUILD_DIR:-$ROOT/build}
SWEEP_FILE=$ROOT/experiments/sweeps/$SWEEP.txt
[ -f "$SWEEP_FILE" ] || { echo "run.sh: no sweep file $SWEEP_FILE" >&2; exit 2; }

missing=()
for b in anytls-server anytls-client bench/loadgen bench/target; do
    [ -x "$BUILD/$b" ] || missing+=("$BUILD/$b")
done
if awk '!/^[ \t]*#/ && NF >= 7 && $7 > 0 { found = 1 } END { exit !found }' "$SWEEP_FILE"; then
    [ -x "$BUILD/bench/delayline" ] || [ -f "$ROOT/bench/delayline.c" ] || missing+=("$BUILD/bench/delayline")
fi
MICRO=${MICRO:-run}
if [ "$SWEEP" != smoke ] && [ "$MICRO" != skip ] && [ ! -x "$BUILD/bench/bench_pool" ]; then
    missing+=("$BUILD/bench/bench_pool (the pool micro-benchmark; MICRO=skip to run without it)")
fi
if ((${#missing[@]})); then
    echo "run.sh: ERROR: missing binaries (build them: make all build/bench/bench_pool):" >&2
    printf '  %s\n' "${missing[@]}" >&2
    exit 1
fi

python3 "$ROOT/experiments/provenance.py" check --build "$BUILD" || exit 3
SHA=$(git rev-parse --short HEAD 2>/dev/null || echo nogit)
case "$(python3 "$ROOT/experiments/provenance.py" show --build "$BUILD" | sed -n 's/^provenance: //p')" in
    clean) ;;
    *) SHA=$SHA-dirty ;;
esac
OUT=${RESULTS_DIR:-$ROOT/results/raw/$(date -u +%Y%m%d)-$SHA-$SWEEP}
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
case "$OUT" in  # results/latest-<sweep> only for runs kept under results/raw
    "$ROOT"/results/raw/*) ln -sfn "${OUT#"$ROOT"/results/}" "$ROOT/results/latest-$SWEEP" ;;
esac

# file descriptors: the load generator and the server hold one per stream
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

T0=$(date +%s)
args=("$SWEEP" --out "$OUT" --build "$BUILD")
[ -n "${MAX_SECONDS:-}" ] && args+=(--max-seconds "$MAX_SECONDS")
[ -n "${ONLY:-}" ] && args+=(--only "$ONLY")
[ -n "${REPS:-}" ] && args+=(--reps "$REPS")
[ -n "${WORKERS:-}" ] && args+=(--workers "$WORKERS")

# The runner cleans up after itself (its children by pid, the namespaces) on
# SIGINT/SIGTERM/SIGHUP; this script forwards those signals to it by pid.
CHILD=""
forward() { [ -n "$CHILD" ] && kill -"$1" "$CHILD" 2>/dev/null; }
trap 'forward TERM' TERM
trap 'forward INT' INT
trap 'forward HUP' HUP
python3 "$ROOT/experiments/runner.py" "${args[@]}" &
CHILD=$!
rc=0
while :; do
    wait "$CHILD"; rc=$?
    # wait returns >128 when a trapped signal arrived; the runner is still cleaning up
    [ -d "/proc/$CHILD" ] || break
done
CHILD=""
[ "$rc" = 130 ] && exit 130
[ "$rc" = 3 ] && exit 3

if [ "$SWEEP" != smoke ] && [ "$MICRO" != skip ]; then
    if [ -s "$OUT/micro.csv" ]; then
        echo "run.sh: micro.csv already present, micro-benchmark skipped (resume)" >&2
    else
        # quick: the two key sets the paper plots, shorter; full: everything
        ncpu=$(nproc)
        case "$SWEEP" in
            quick) mt=0.05; mr=3; mlimit=240; mos=${MICRO_OVERSUB-}
                   mf='^cycle(_syscall)?/.*/(keys16|zipf1024)/|^shared/.*/(keys1|keys16)/|^handoff/.*/keys16/|^counters/' ;;
            full) mt=0.2; mr=5; mlimit=1500; mos=${MICRO_OVERSUB-$((2 * ncpu)),$((4 * ncpu))}; mf='.' ;;
        esac
        mthr=${MICRO_THREADS:-$(seq -s, 1 "$ncpu")}
        echo "run.sh: pool micro-benchmark (threads $mthr, oversubscribed ${mos:-none}," \
             "min_time ${mt}s x $mr repetitions, filter $mf)" >&2
        timeout -k 5 "$mlimit" "$BUILD/bench/bench_pool" --threads="$mthr" --oversub-threads="$mos" \
            --benchmark_min_time="$mt" \
            --benchmark_repetitions="$mr" --benchmark_format=csv --benchmark_filter="$mf" \
            > "$OUT/micro.csv.tmp" 2> "$OUT/micro.log" &
        CHILD=$!
        trap 'forward TERM; exit 130' TERM INT HUP
        wait "$CHILD"; mrc=$?
        CHILD=""
        if [ "$mrc" = 0 ] && [ -s "$OUT/micro.csv.tmp" ]; then
            mv "$OUT/micro.csv.tmp" "$OUT/micro.csv"
        else
            echo "run.sh: ERROR: bench_pool failed (status $mrc); see $OUT/micro.log" >&2
            rm -f "$OUT/micro.csv.tmp"
            rc=1
        fi
    fi
fi
echo "run.sh: $SWEEP done in $(( $(date +%s) - T0 ))s -> $OUT (status $rc)" >&2
exit "$rc"
