#!/usr/bin/env bash
# make reliability: the soak and the fault-injection scenarios, written up in
# results/reliability.md by scripts/reliability_report.py (each scenario, its
# figures, pass/fail, a log excerpt).
#
#   SOAK_SECS=600 SOAK_STREAMS=10000 SOAK_SESSIONS=100 CHAIN_STREAMS=9900
#   IDLE_SECS=70 IDLE_SESSIONS=1000 OUT=results/reliability.md
# make test runs a short variant (scripts/run_tests.sh; OUT under results/tmp).
#
# 1. Idle sessions: IDLE_SESSIONS AnyTLS sessions opened by bench/loadgen, one
#    stream each, then held idle: server RSS per idle session (sampled
#    SETTLE_SECS into the idle period).
# 2. Server soak (the issue's): SOAK_STREAMS streams in flight over
#    SOAK_SESSIONS multiplexed sessions (loadgen --anytls-sessions, closed
#    loop: each stream a request and a 1 KiB reply, replaced when done) for
#    SOAK_SECS, then idle.
# 3. Client chain soak: CHAIN_STREAMS streams in flight, each a fresh SOCKS5
#    connection through anytls-client (one stream per session, as the
#    reference client), for SOAK_SECS, then IDLE_SECS idle (> the client's
#    30 s idle timeout + 30 s check interval).
# Each soak passes with no stream errors, server RSS after the idle within 10%
# of its post-warm-up level (or below), and fds back to their start level but
# for what is kept on purpose (the client's -m 5 idle sessions per worker, the
# pool's min-idle 5 spares per worker). Then the fault scenarios run as pytest
# tests against the same binaries, their log excerpts kept.
# Loopback only; every process started here is stopped by pid.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ulimit -n "$(ulimit -Hn)"
FDMAX=$(ulimit -n)
SOAK_SECS=${SOAK_SECS:-600}
SOAK_SESSIONS=${SOAK_SESSIONS:-100}
# the server holds a session fd per session and a target fd per stream
SOAK_STREAMS=${SOAK_STREAMS:-$(( FDMAX - SOAK_SESSIONS - 200 < 10000 ? FDMAX - SOAK_SESSIONS - 200 : 10000 ))}
# through the client each stream costs 2 fds in the client (local + session)
# and 2 in the server (session + target)
CHAIN_STREAMS=${CHAIN_STREAMS:-$(( FDMAX / 2 - 100 < SOAK_STREAMS ? FDMAX / 2 - 100 : SOAK_STREAMS ))}
IDLE_SECS=${IDLE_SECS:-70}
SOAK_IDLE_SECS=${SOAK_IDLE_SECS:-$IDLE_SECS}   # after the server soak (no client idle timeout involved)
IDLE_SESSIONS=${IDLE_SESSIONS:-1000}
# freed memory goes back to the system after jemalloc's dirty decay (10 s):
# RSS is sampled this long after a burst, so it shows what is held, not what was
SETTLE_SECS=${SETTLE_SECS:-12}
OUT=${OUT:-results/reliability.md}
BIN=${ANYTLS_BIN:-build}
WORKERS=$(nproc)
WORK=$(mktemp -d /tmp/anytls-rel.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    sleep 0.5
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
make -s all >/dev/null || { echo "reliability: build failed" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
nfd() { ls "/proc/$1/fd" | wc -l; }
val() { echo "$1=$2" >>"$WORK/vals"; }
snap() {   # snap NAME: RSS and fd counts of server and client now
    val "$1.s_rss" "$(rss_kb "$SPID")"; val "$1.s_fd" "$(nfd "$SPID")"
    val "$1.c_rss" "$(rss_kb "$CPID")"; val "$1.c_fd" "$(nfd "$CPID")"
}

for k in SOAK_SECS SOAK_SESSIONS SOAK_STREAMS CHAIN_STREAMS IDLE_SECS SOAK_IDLE_SECS IDLE_SESSIONS SETTLE_SECS WORKERS FDMAX; do
    val "$k" "${!k}"
done
val git "$(git describe --always --dirty 2>/dev/null || echo unknown)"

TPORT=$(free_port); SPORT=$(free_port); CPORT=$(free_port)
"$BIN/bench/target" --listen "127.0.0.1:$TPORT" --threads 1 --quiet --response-size 1024 \
    --duration $((2 * (SOAK_SECS + IDLE_SECS) + 600)) >"$WORK/target.log" 2>&1 &
PIDS+=($!)
# Sessions: the server soak's own, and up to ~1.8 per stream in the client chain
# soak (measured at 300 and 50 streams: all start at once, each fresh SOCKS
# connection takes an idle session or opens one, and connections that come while
# others are still closing open more; the surplus then idles). A cap of 2 per
# stream was hit now and then and failed a stream; this soak is not about the cap.
MAX_SESSIONS=$(( SOAK_STREAMS * 2 > CHAIN_STREAMS * 3 ? SOAK_STREAMS * 2 : CHAIN_STREAMS * 3 ))
"$BIN/anytls-server" -l "127.0.0.1:$SPORT" -p soak --log-level warn \
    --max-outbound-connections $((SOAK_STREAMS * 2)) --max-sessions $MAX_SESSIONS >"$WORK/server.log" 2>&1 &
SPID=$!; PIDS+=($SPID)
"$BIN/anytls-client" -l "127.0.0.1:$CPORT" -s "127.0.0.1:$SPORT" -p soak \
    --log-level warn -m 5 >"$WORK/client.log" 2>&1 &
CPID=$!; PIDS+=($CPID)
wait_port "$TPORT" && wait_port "$SPORT" && wait_port "$CPORT" || { echo "reliability: processes did not start" >&2; exit 1; }
sleep 0.5
LG=("$BIN/bench/loadgen" --target-range "127.0.0.1:$TPORT" --json --quiet)
AT=(--anytls "127.0.0.1:$SPORT" --password soak)
WARM=$(( SOAK_SECS / 6 > 5 ? SOAK_SECS / 6 : 5 ))

echo "reliability: $IDLE_SESSIONS idle sessions" >&2
snap idle0
"${LG[@]}" "${AT[@]}" --anytls-sessions "$IDLE_SESSIONS" --closed-loop "$IDLE_SESSIONS" \
    --max-streams "$IDLE_SESSIONS" --duration 60 --response-size 64 --hold-idle $((SETTLE_SECS + 3)) \
    >"$WORK/idle.json" 2>"$WORK/idle.err" &
LPID=$!; PIDS+=($LPID)
for _ in $(seq 600); do grep -q "holding" "$WORK/idle.err" && break; sleep 0.1; done
sleep "$SETTLE_SECS"
snap idle1
val idle.held "$(sed -n 's/.*holding \([0-9]*\) idle sessions.*/\1/p' "$WORK/idle.err" | head -1)"
wait $LPID
sleep "$SETTLE_SECS"

echo "reliability: server soak, $SOAK_STREAMS streams over $SOAK_SESSIONS sessions for $SOAK_SECS s" >&2
snap a0
"${LG[@]}" "${AT[@]}" --anytls-sessions "$SOAK_SESSIONS" --closed-loop "$SOAK_STREAMS" \
    --duration "$SOAK_SECS" --response-size 1024 --timeout 30 --procs 2 \
    >"$WORK/a.json" 2>"$WORK/a.err" &
LPID=$!; PIDS+=($LPID)
sleep "$WARM"; snap aw
wait $LPID
snap ae
sleep "$SOAK_IDLE_SECS"; snap ai
val a.server_log_end "$(wc -l <"$WORK/server.log")"

echo "reliability: client chain soak, $CHAIN_STREAMS streams for $SOAK_SECS s" >&2
snap b0
"${LG[@]}" --socks "127.0.0.1:$CPORT" --closed-loop "$CHAIN_STREAMS" --duration "$SOAK_SECS" \
    --response-size 1024 --timeout 30 --procs 2 >"$WORK/b.json" 2>"$WORK/b.err" &
LPID=$!; PIDS+=($LPID)
sleep "$WARM"; snap bw
wait $LPID
snap be
sleep "$IDLE_SECS"; snap bi

echo "reliability: fault scenarios (pytest)" >&2
ANYTLS_BIN=$BIN ANYTLS_TEST_LOG_LEVEL=debug ANYTLS_EXCERPT_DIR="$WORK/excerpts" \
    python3 -m pytest -q -p no:cacheprovider -rA \
    tests/integration/test_faults.py tests/integration/test_fdlimit.py \
    "tests/integration/test_relay.py::test_backpressure_target_not_reading" \
    "tests/integration/test_relay.py::test_backpressure_socks_client_not_reading" >"$WORK/faults.txt" 2>&1

python3 scripts/reliability_report.py "$WORK" "$OUT"
