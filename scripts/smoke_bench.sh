#!/usr/bin/env bash
# scripts/smoke_bench.sh -- CI check of the research pipeline, end to end, in ~1 min:
#   experiments/run.sh smoke        (a few 1.5 s cells, 1 rep, incl. one RTT namespace)
#   experiments/aggregate.py        -> summary.csv
#   experiments/saturation.py smoke (1 block, 1 worker: knee, closed loop, perf share)
#   experiments/figures.sh          -> figures (png + svg), the saturation figure included
#   experiments/advise --selftest   (the seeds' four scenarios get an answer)
#   experiments/check_results.py    (every expected file, every value sane, the new
#                                    columns: provenance, blocks and load seeds, the
#                                    failure-inclusive tail, spares held, dials, kernel
#                                    memory per spare; the statistics' self-test; no
#                                    timing thresholds)
#   aggregate.py on two builds      must refuse to pool them (exit 2)
# A dirty work tree (uncommitted changes while developing) runs with ALLOW_DIRTY=1,
# said loudly, and the rows must then say DIRTY; CI's clean clone runs clean.
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

if ! python3 experiments/provenance.py check >/dev/null 2>&1; then
    echo "smoke_bench: the tree or build is not clean: running with ALLOW_DIRTY=1 (scratch output only)" >&2
    export ALLOW_DIRTY=1
fi
RESULTS_DIR=$RUN timeout -k 10 150 experiments/run.sh smoke || fail "experiments/run.sh smoke"
# the contention regime at smoke size (1 block, 1 worker, every pool type; ~30 s)
timeout -k 10 150 python3 experiments/saturation.py smoke --workers 1 --oversub '' \
    --out "$SCRATCH/sat" --summary-out "$SCRATCH/saturation_summary.csv" > "$SCRATCH/sat.txt" ||
    fail "experiments/saturation.py smoke"
SATURATION_RUN=$SCRATCH/sat RESULTS_OUT=$SCRATCH experiments/figures.sh "$RUN" || fail "experiments/figures.sh"
[ -s "$SCRATCH/figures/saturation.png" ] || fail "no saturation figure"
python3 experiments/aggregate.py "$RUN" --out-dir "$SCRATCH" | tail -n +1 || fail "aggregate"
experiments/advise --results "$SCRATCH" --selftest > "$SCRATCH/advise.txt" ||
    { cat "$SCRATCH/advise.txt" >&2; fail "experiments/advise --selftest"; }
python3 experiments/check_results.py "$RUN" --sweep smoke --summary-dir "$SCRATCH" ||
    fail "experiments/check_results.py"
# two builds' rows must not be pooled silently
mkdir -p "$SCRATCH/other"
cp "$RUN/env.txt" "$SCRATCH/other/"
python3 - "$RUN/results.csv" "$SCRATCH/other/results.csv" <<'PY' || fail "making the second build's rows"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
with open(sys.argv[2], "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
    w.writeheader()
    for r in rows:
        w.writerow(dict(r, git_sha="0" * 40))
PY
python3 experiments/aggregate.py "$RUN" "$SCRATCH/other" --out-dir "$SCRATCH/mixed" --quiet 2>/dev/null
[ $? = 2 ] || fail "aggregate.py pooled two builds without --allow-mixed-builds"
python3 experiments/aggregate.py "$RUN" "$SCRATCH/other" --out-dir "$SCRATCH/mixed" --quiet \
    --allow-mixed-builds 2>/dev/null || fail "aggregate.py --allow-mixed-builds"
grep -q '@0000000000' "$SCRATCH/mixed/summary.csv" || fail "mixed builds not summarised per build"
rm -rf "$SCRATCH"
echo "smoke_bench: ok in $(( $(date +%s) - T0 ))s" >&2
