#!/usr/bin/env bash
# scripts/fuzz_regress.sh -- quick fuzz regression (make fuzz-regress): builds
# the libFuzzer targets (build-fuzz/), then runs each over its committed corpus
# fuzz/corpus/<target>/ (every seed and every saved crash input is executed)
# plus FUZZ_REGRESS_RUNS (2000) mutations with a fixed seed. Seconds in all.
# Exits non-zero if a target fails to build or any input crashes or breaks a
# property. Prints one closing line: "fuzz-regress: N targets, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
. fuzz/lib.sh

BUILD=${FUZZ_BUILD:-build-fuzz}
RUNS=${FUZZ_REGRESS_RUNS:-2000}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if ! out=$(make -s fuzz-build FUZZ_BUILD="$BUILD" 2>&1); then
    echo "$out"
    echo "fuzz-regress: build failed"
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0; failed=0
for t in $(fuzz_targets); do
    n=$((n + 1))
    mkdir -p "$tmp/$t" "$tmp/art-$t"
    # New units go to the scratch folder first in the list, never into fuzz/corpus.
    if "$BUILD/fuzz_$t" $(fuzz_opts "$t") -runs="$RUNS" -seed=1 \
            -artifact_prefix="$tmp/art-$t/" "$tmp/$t" "fuzz/corpus/$t" > "$tmp/$t.log" 2>&1; then
        printf 'fuzz-regress: %-8s ok (%s seeds)\n' "$t" "$(find "fuzz/corpus/$t" -type f | wc -l)"
    else
        failed=$((failed + 1))
        printf 'fuzz-regress: %-8s FAILED\n' "$t"
        grep -E -A 15 'ERROR|fuzz property|runtime error' "$tmp/$t.log" | head -n 40
        mkdir -p "$BUILD/regress-artifacts"
        cp -r "$tmp/art-$t/." "$BUILD/regress-artifacts/" 2>/dev/null
        echo "  log: $BUILD/regress-$t.log; input(s) in $BUILD/regress-artifacts/"
        cp "$tmp/$t.log" "$BUILD/regress-$t.log"
    fi
done
echo "fuzz-regress: $n targets, $failed failed"
[ "$failed" = 0 ]
