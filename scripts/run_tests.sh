#!/usr/bin/env bash
# Runs every test suite that `make test` built and prints one closing line:
#   "N passed, N failed"  (suites, each of which reports its own cases)
# Suites:
#   build/tests/test_*          unit and contract tests (cmocka), optimized build
#   build-asan/tests/test_*     the same under ASan+UBSan
#   build-tsan/tests/test_pool* the pool tests under TSan (pools are the shared state)
#   tests/integration/          loopback end-to-end tests (pytest), ASan binaries, then
#                               again with the TSan binaries (workers, resolver threads,
#                               the main thread's reloads and stats: every data race)
#   tests/experiments/          experiments/saturation.py and usl.py on synthetic data (pytest)
#   tests/interop/              against a real sing-box (pytest); never skipped
#   tests/experiments/          the research scripts (pytest): model vs a Monte Carlo
#                               simulation, advise on a synthetic summary (seconds)
#   scripts/fuzz_regress.sh     every fuzz target over its corpus (+2000 fixed-seed runs)
#   scripts/test_connection_pool.sh  the seed's pool script, as a user runs it
#   scripts/smoke_bench.sh      the research pipeline end to end, seconds per cell
#   scripts/reliability.sh      short soaks (15 s, 300 streams) + the fault scenarios
set -uo pipefail
cd "$(dirname "$0")/.."
passed=0; failed=0; failures=()
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

run() { # name, command...
    local name=$1; shift
    echo "=== $name"
    if timeout 900 "$@"; then passed=$((passed+1)); else failed=$((failed+1)); failures+=("$name"); fi
}

for t in build/tests/test_*; do [ -x "$t" ] && run "$t" "$t"; done
for t in build-asan/tests/test_*; do [ -x "$t" ] && run "$t" "$t"; done
for t in build-tsan/tests/test_pool*; do [ -x "$t" ] && run "$t" "$t"; done

PYTEST="python3 -m pytest -q -p no:cacheprovider"
if [ -d tests/integration ]; then
    run integration env ANYTLS_BIN=build-asan $PYTEST tests/integration
    run integration-tsan env ANYTLS_BIN=build-tsan $PYTEST tests/integration
    run integration-pools env ANYTLS_BIN=build $PYTEST tests/integration -k pool
fi
[ -d tests/interop ] && run interop env ANYTLS_BIN=build-asan $PYTEST tests/interop
# the research scripts (model, sweeps, knee, ramp, paired summary, USL fit)
run experiments-py $PYTEST tests/experiments
run fuzz-regress scripts/fuzz_regress.sh
run seed-pool-script scripts/test_connection_pool.sh
run smoke-pipeline scripts/smoke_bench.sh
mkdir -p results/tmp
run reliability-short env SOAK_SECS=15 SOAK_STREAMS=300 SOAK_SESSIONS=10 CHAIN_STREAMS=300 \
    IDLE_SECS=65 SOAK_IDLE_SECS=3 IDLE_SESSIONS=200 OUT=results/tmp/reliability-short.md scripts/reliability.sh

echo
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "suites: $passed passed, $failed failed"
[ "$failed" = 0 ]
