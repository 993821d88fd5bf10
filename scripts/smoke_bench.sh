#!/usr/bin/env bash
# scripts/smoke_bench.sh -- CI check of the research pipeline, end to end, in ~1 min:
#   experiments/run.sh smoke        (a few 1.5 s cells, 1 rep, incl. one RTT namespace)
#   experiments/aggregate.py        -> summary.csv
#   experiments/figures.sh          -> figures (png + svg)
#   experiments/advise --selftest   (the seeds' four scenarios get an answer)
#   experiments/check_results.py    (every expected file, every value sane; no timing
#                                    thresholds)
# into a scratch directory (results/tmp/smoke-*, removed on success; kept on failure
# for inspection), so the committed results/ are never touched. Exits non-zero on
# any failure. Needs the binaries built (make all).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
mkdir -p results/tmp
SCRATCH=$(mktemp -d "$ROOT/results/tmp/smoke-XXXXXX")
RUN=$SCRATCH/raw
T0=$(date +%s)
fail() { echo "smoke_bench: FAILED: $* (scratch kept: ${SCRATCH#$ROOT/})" >&2; exit 1; }

RESULTS_DIR=$RUN timeout -k 10 150 experiments/run.sh smoke || fail "experiments/run.sh smoke"
RESULTS_OUT=$SCRATCH experiments/figures.sh "$RUN" || fail "experiments/figures.sh"
python3 experiments/aggregate.py "$RUN" --out-dir "$SCRATCH" | tail -n +1 || fail "aggregate"
experiments/advise --results "$SCRATCH" --selftest > "$SCRATCH/advise.txt" ||
    { cat "$SCRATCH/advise.txt" >&2; fail "experiments/advise --selftest"; }
python3 experiments/check_results.py "$RUN" --sweep smoke --summary-dir "$SCRATCH" ||
    fail "experiments/check_results.py"
rm -rf "$SCRATCH"
echo "smoke_bench: ok in $(( $(date +%s) - T0 ))s" >&2
