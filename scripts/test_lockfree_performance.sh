#!/usr/bin/env bash
# test_lockfree_performance.sh -- the pooling types (every type of
# anytls-server --list-pool-types but the no-pool baseline `none`) side by side
# at the same load: end to end (short requests at 32 concurrent, closed loop)
# and the pool operations alone (the Google Benchmark micro-benchmark, 8
# threads). Prints each type's figures and its change against `lock`, the
# seed's reference.
#   SECONDS_PER=5
source "$(dirname "$0")/lib_pool.sh"
SECONDS_PER=${SECONDS_PER:-5}
build
make -s -C "$ROOT" build/bench/bench_pool >/dev/null
TYPES=$(pool_types | grep -vx none)
TPORT=$(free_port)
start_target 127.0.1.1 127.0.1.8 "$TPORT"
declare -A RPS P99 NS
for type in $TYPES; do
    start_server "$type" --stats-interval-secs 3600
    start_client
    out=$(loadgen --closed-loop 32 --duration "$SECONDS_PER" --warmup 1 \
            --target-range "127.0.1.1-127.0.1.8:$TPORT" --zipf 1.0 --response-size 256)
    stop_pid "$CLIENT_PID"; stop_pid "$SERVER_PID"
    RPS[$type]=$(json achieved_rate <<<"$out"); P99[$type]=$(json open_us.p99 <<<"$out")
    NS[$type]=$("$BIN/bench/bench_pool" --benchmark_filter="^cycle/$type/keys16/.*threads:8\$" \
        --benchmark_min_time=0.2 --benchmark_format=csv 2>/dev/null | python3 -c '
import csv, sys
rows = [r for r in csv.reader(l for l in sys.stdin if "," in l)]
i = rows[0].index("items_per_second")   # summed over threads
print("%.1f" % (1e9 / float(rows[1][i])))')
done
printf "%-9s %12s %9s %12s %9s %16s %9s\n" pool "streams/s" "vs lock" "open_p99us" "vs lock" "pool op ns (8t)" "vs lock"
for type in $TYPES; do
    pct() { python3 -c "import sys; a,b=float(sys.argv[1] or 'nan'),float(sys.argv[2] or 'nan'); print('%+.1f%%' % (100*(a/b-1)))" "$1" "$2" 2>/dev/null || echo n/a; }
    printf "%-9s %12s %9s %12s %9s %16s %9s\n" "$type" "${RPS[$type]}" "$(pct "${RPS[$type]}" "${RPS[lock]}")" \
        "${P99[$type]}" "$(pct "${P99[$type]}" "${P99[lock]}")" "${NS[$type]:-n/a}" "$(pct "${NS[$type]}" "${NS[lock]}")"
done
