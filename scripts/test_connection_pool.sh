#!/usr/bin/env bash
# test_connection_pool.sh -- the seed's basic test: a server with an outbound
# pool, a client, three local targets; repeated requests to each target; shows
# the server's [Pool Stats] / [Pool Status] lines and checks that connections
# were reused (Reused > 0) and that Total = Reused + New.
#   POOL_TYPE=any pooling type of anytls-server --list-pool-types (default
#   lockfree, the seed's)  REQUESTS=60
source "$(dirname "$0")/lib_pool.sh"
POOL_TYPE=${POOL_TYPE:-lockfree}
REQUESTS=${REQUESTS:-60}
build
TPORT=$(free_port)
start_target 127.0.0.1 127.0.0.3 "$TPORT"
start_server "$POOL_TYPE" --stats-interval-secs 1 --min-idle-connections 5
start_client
echo "server pool: $POOL_TYPE; targets 127.0.0.1-3:$TPORT; $REQUESTS requests, one at a time, 20 ms apart"
out=$(loadgen --rate 50 --max-streams "$REQUESTS" --duration 30 --target-range "127.0.0.1-127.0.0.3:$TPORT" \
        --zipf 0 --response-size 512)
ok=$(json streams_ok <<<"$out"); err=$(json errors <<<"$out")
echo "requests ok: $ok, errors: $err, open latency p50 $(json open_us.p50 <<<"$out") us"
sleep 1.5
stop_pid "$SERVER_PID"
echo "--- server log (pool lines):"
grep -E 'Outbound connection pool initialized|  - |\[Pool Stats\]|\[Pool Status\]' "$SERVER_LOG" | tail -8
read -r total active reused new cleaned <<<"$(last_stats "$SERVER_LOG")"
echo "---"
fail=0
[ "$ok" = "$REQUESTS" ] && [ "$err" = 0 ] || { echo "FAIL: $err of $REQUESTS requests failed"; fail=1; }
[ "${reused:-0}" -gt 0 ] || { echo "FAIL: no connection was reused (Reused = ${reused:-?})"; fail=1; }
[ "${total:-x}" = "$(( ${reused:-0} + ${new:-0} ))" ] || { echo "FAIL: Total != Reused + New"; fail=1; }
[ "$fail" = 0 ] && echo "PASS: Reused $reused of $total streams ($(( 100 * reused / total ))% reuse rate)"
exit $fail
