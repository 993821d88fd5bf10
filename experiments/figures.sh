#!/usr/bin/env bash
# experiments/figures.sh [RUN_DIR|SWEEP ...] -- aggregate and plot.
#   (SWEEP = smoke|quick|full means results/latest-SWEEP)
#   1. experiments/aggregate.py RUN_DIR... -> results/summary.csv, micro_summary.csv
#      (default run dirs: results/latest-full, else latest-quick, else latest-smoke;
#      SKIP_AGGREGATE=1 plots the existing summary as it is)
#   2. experiments/plotdata.py -> results/figures/data/*.dat, *.inc
#   3. gnuplot experiments/plots/<figure>.gp -> results/figures/<name>.png and .svg
# Figures: reuse_minidle, latency_rate_rtt<R> (one per RTT), micro_<keys>,
# memory_maxconns, cleaned_idle, idle_curve (with the model's line), saturation (from saturation_summary.csv). A figure without data is skipped with a warning;
# exit status 1 if gnuplot fails or no figure could be made.
# RESULTS_OUT=dir writes summary.csv, micro_summary.csv and figures/ there instead of
# results/ (the CI smoke check uses a scratch directory).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RES=${RESULTS_OUT:-$ROOT/results}
command -v gnuplot >/dev/null || { echo "figures.sh: gnuplot missing (scripts/deps.sh installs it)" >&2; exit 1; }
if [ "${SKIP_AGGREGATE:-0}" != 1 ]; then
    python3 experiments/aggregate.py --quiet --out-dir "$RES" "$@" || exit 1
fi
# the contention regime (experiments/saturation.py) and the many-core projection
# (experiments/usl.py), from results/latest-saturation (SATURATION_RUN=dir) and the
# micro-benchmark of the sweeps; each is skipped, with a note, when its data is missing
SAT_RUN=${SATURATION_RUN:-$ROOT/results/latest-saturation}
if [ "${SKIP_AGGREGATE:-0}" != 1 ] && [ -f "$SAT_RUN/units.csv" ]; then
    python3 experiments/saturation.py --analyze "$SAT_RUN" \
        --summary-out "$RES/saturation_summary.csv" >/dev/null || exit 1
else
    [ -f "$RES/saturation_summary.csv" ] ||
        echo "figures.sh: no saturation run (python3 experiments/saturation.py quick|full)" >&2
fi
if [ "${SKIP_AGGREGATE:-0}" != 1 ]; then
    python3 experiments/usl.py --results "$RES" --out "$RES/usl.csv" >/dev/null ||
        echo "figures.sh: usl.py made no projection (no micro-benchmark data)" >&2
fi
FIG=$RES/figures
DATA=$FIG/data
mkdir -p "$FIG"
rm -f "$FIG"/*.png "$FIG"/*.svg
names=$(python3 experiments/plotdata.py "$DATA" "$RES") || exit 1
rc=0; made=0
for n in $names; do
    case "$n" in
        latency_rate_*) gp=latency_rate ;;
        micro_*) gp=micro ;;
        *) gp=$n ;;
    esac
    for fmt in png svg; do
        if ! gnuplot -e "datadir='$DATA'; name='$n'; fmt='$fmt'; out='$FIG/$n.$fmt'" \
                "experiments/plots/$gp.gp" 2> "$DATA/$n.$fmt.err"; then
            echo "figures.sh: gnuplot failed for $n.$fmt:" >&2; cat "$DATA/$n.$fmt.err" >&2; rc=1
        else
            # gnuplot warnings are not fatal but worth seeing
            grep -v -e '^$' -e 'empty [xy2]* range' "$DATA/$n.$fmt.err" | sed "s/^/figures.sh: $n.$fmt: /" >&2
            rm -f "$DATA/$n.$fmt.err"
        fi
    done
    made=$((made + 1))
done
for want in reuse_minidle latency_rate_rtt0 memory_maxconns cleaned_idle idle_curve micro_keys16; do
    echo "$names" | grep -qx "$want" || echo "figures.sh: WARNING: no data for $want (figure skipped)" >&2
done
[ "$made" -gt 0 ] || { echo "figures.sh: no figure made" >&2; exit 1; }
echo "figures.sh: $made figures -> ${FIG#$ROOT/} (png + svg)" >&2
exit $rc
