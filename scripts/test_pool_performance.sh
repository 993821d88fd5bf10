#!/usr/bin/env bash
# test_pool_performance.sh -- load at several rates (open loop, Poisson) against
# 16 local targets (Zipf), for each pool type: reuse rate and stream-open
# latency per type and rate.
#   POOL_TYPES="..." (default: every type, anytls-server --list-pool-types)
#   RATES="100 500 1000"  SECONDS_PER=5
source "$(dirname "$0")/lib_pool.sh"
RATES=${RATES:-100 500 1000}
SECONDS_PER=${SECONDS_PER:-5}
build
POOL_TYPES=${POOL_TYPES:-$(pool_types | tr '\n' ' ')}
TPORT=$(free_port)
start_target 127.0.1.1 127.0.1.16 "$TPORT"
printf "%-9s %6s %9s %7s %10s %10s %8s\n" pool rate achieved errors open_p50us open_p99us reuse%
for type in $POOL_TYPES; do
    for rate in $RATES; do
        start_server "$type" --stats-interval-secs 3600
        start_client
        out=$(loadgen --rate "$rate" --duration "$SECONDS_PER" --warmup 1 \
                --target-range "127.0.1.1-127.0.1.16:$TPORT" --zipf 1.0 --response-size 1024)
        stop_pid "$CLIENT_PID"; stop_pid "$SERVER_PID"
        read -r total active reused new cleaned <<<"$(last_stats "$SERVER_LOG")"
        reuse=$(( total > 0 ? 100 * reused / total : 0 ))
        printf "%-9s %6s %9s %7s %10s %10s %8s\n" "$type" "$rate" "$(json achieved_rate <<<"$out")" \
            "$(json errors <<<"$out")" "$(json open_us.p50 <<<"$out")" "$(json open_us.p99 <<<"$out")" "$reuse"
    done
done
