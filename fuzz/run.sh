#!/usr/bin/env bash
# fuzz/run.sh -- the long fuzz run (make fuzz): each target in turn, one process
# at a time (no -jobs/-workers: one core), for FUZZ_SECONDS seconds and/or
# FUZZ_RUNS executions, whichever comes first. Appends one line per target to
# results/fuzz.csv:
#   target,executions,seconds,crashes,date,git_describe
# executions is libFuzzer's final stat::number_of_executed_units; crashes is the
# number of crash/leak/timeout/oom inputs the run saved (libFuzzer stops at the
# first one; they are in build-fuzz/artifacts/<target>/).
#
#   fuzz/run.sh [target...]      (default: all; build first with make fuzz-build)
# Env: FUZZ_BUILD (build-fuzz), FUZZ_SECONDS (600; 0 = no time limit),
#      FUZZ_RUNS (unset = no limit), FUZZ_CSV (results/fuzz.csv).
# New corpus entries go to build-fuzz/corpus/<target>/ (kept between runs,
# never committed); fuzz/corpus/<target>/ is read only.
set -uo pipefail
cd "$(dirname "$0")/.."
. fuzz/lib.sh

BUILD=${FUZZ_BUILD:-build-fuzz}
SECONDS_MAX=${FUZZ_SECONDS:-600}
RUNS=${FUZZ_RUNS:-}
CSV=${FUZZ_CSV:-results/fuzz.csv}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(fuzz_targets)

if [ "$SECONDS_MAX" = 0 ] && [ -z "$RUNS" ]; then
    echo "fuzz: set FUZZ_SECONDS > 0 or FUZZ_RUNS" >&2
    exit 2
fi
mkdir -p "$(dirname "$CSV")"
[ -s "$CSV" ] || echo "target,executions,seconds,crashes,date,git_describe" > "$CSV"
describe=$(git describe --always --dirty 2>/dev/null || echo unknown)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

total_crashes=0
for t in "${targets[@]}"; do
    bin=$BUILD/fuzz_$t
    [ -x "$bin" ] || { echo "fuzz: $bin missing (make fuzz-build)" >&2; exit 2; }
    work=$BUILD/corpus/$t
    art=$BUILD/artifacts/$t
    log=$BUILD/logs/$t.log
    mkdir -p "$work" "$art" "$(dirname "$log")"
    opts=($(fuzz_opts "$t") -print_final_stats=1 -artifact_prefix="$art/")
    [ "$SECONDS_MAX" != 0 ] && opts+=(-max_total_time="$SECONDS_MAX")
    [ -n "$RUNS" ] && opts+=(-runs="$RUNS")
    before=$(find "$art" -type f | wc -l)
    echo "fuzz: $t (${SECONDS_MAX}s${RUNS:+, $RUNS runs}), log $log"
    start=$(date +%s)
    "$bin" "${opts[@]}" "$work" "fuzz/corpus/$t" > "$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    if [ -z "$execs" ]; then  # no final stats (killed?): the last status line
        execs=$(grep -o '^#[0-9]*' "$log" | tail -n 1 | tr -d '#')
    fi
    crashes=$(( $(find "$art" -type f | wc -l) - before ))
    if [ "$rc" != 0 ] && [ "$crashes" = 0 ]; then
        crashes=1  # failed without saving an input: count it, see the log
    fi
    total_crashes=$((total_crashes + crashes))
    echo "$t,${execs:-0},$secs,$crashes,$(date -u +%Y-%m-%dT%H:%M:%SZ),$describe" >> "$CSV"
    printf 'fuzz: %-8s %12s executions in %5ss, %s crash(es)\n' "$t" "${execs:-0}" "$secs" "$crashes"
    [ "$crashes" = 0 ] || { grep -m 5 -E 'ERROR|fuzz property|runtime error' "$log"; ls -1 "$art"; }
done
[ "$total_crashes" = 0 ]
