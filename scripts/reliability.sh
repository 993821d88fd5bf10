#!/usr/bin/env bash
# make reliability: the soak and the fault-injection scenarios, written up in
# results/reliability.md (scenario, figures, pass/fail).
#   SOAK_SECS=600 SOAK_STREAMS=10000 IDLE_SECS=45 OUT=results/reliability.md
# CI runs a short variant (SOAK_SECS=20 SOAK_STREAMS=500, OUT under results/tmp).
#
# Soak: loadgen keeps SOAK_STREAMS streams in flight (closed loop, each stream a
# fresh SOCKS5 connection through anytls-client, a request and a 1 KiB reply)
# for SOAK_SECS, then everything idles IDLE_SECS. Pass: no stream errors; the
# server's RSS after the idle period within 10% of its post-warm-up level (or
# below it); fd counts back to their pre-load level, allowing what is kept on
# purpose: the client's -m 5 idle sessions per worker (one fd each, on both
# sides) and the server pool's warm spares (min idle 5 per worker). Loopback only; every process started here is stopped by pid.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SOAK_SECS=${SOAK_SECS:-600}
# 10,000 streams in flight need ~2 fds each in the server (session + target)
# and in the client (local + session): capped at what the hard fd limit allows.
ulimit -n "$(ulimit -Hn)"
FDMAX=$(ulimit -n)
SOAK_STREAMS=${SOAK_STREAMS:-$(( FDMAX / 2 - 100 < 10000 ? FDMAX / 2 - 100 : 10000 ))}
IDLE_SECS=${IDLE_SECS:-70}   # > the client's 30 s idle timeout + 30 s check interval
OUT=${OUT:-results/reliability.md}
BIN=${ANYTLS_BIN:-build}
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

TPORT=$(free_port); SPORT=$(free_port); CPORT=$(free_port)
"$BIN/bench/target" --listen "127.0.0.1:$TPORT" --threads 1 --quiet \
    --response-size 1024 --duration $((SOAK_SECS + IDLE_SECS + 120)) >"$WORK/target.log" 2>&1 &
PIDS+=($!)
"$BIN/anytls-server" -l "127.0.0.1:$SPORT" -p soak --log-level warn \
    --max-outbound-connections $((SOAK_STREAMS * 2)) --max-sessions $((SOAK_STREAMS * 2)) >"$WORK/server.log" 2>&1 &
SPID=$!; PIDS+=($SPID)
"$BIN/anytls-client" -l "127.0.0.1:$CPORT" -s "127.0.0.1:$SPORT" -p soak \
    --log-level warn -m 5 >"$WORK/client.log" 2>&1 &
CPID=$!; PIDS+=($CPID)
wait_port "$TPORT" && wait_port "$SPORT" && wait_port "$CPORT" || { echo "reliability: processes did not start" >&2; exit 1; }
sleep 0.5
S_RSS0=$(rss_kb $SPID); C_RSS0=$(rss_kb $CPID); S_FD0=$(nfd $SPID); C_FD0=$(nfd $CPID)
echo "reliability: soak $SOAK_STREAMS streams in flight for $SOAK_SECS s" >&2
WARM=$(( SOAK_SECS / 6 > 5 ? SOAK_SECS / 6 : 5 ))
"$BIN/bench/loadgen" --closed-loop "$SOAK_STREAMS" --duration "$SOAK_SECS" \
    --target-range "127.0.0.1-127.0.0.1:$TPORT" --socks "127.0.0.1:$CPORT" --response-size 1024 \
    --timeout 30 --procs 2 --json --quiet >"$WORK/soak.json" 2>"$WORK/loadgen.err" &
LPID=$!; PIDS+=($LPID)
sleep "$WARM"
S_RSSW=$(rss_kb $SPID); C_RSSW=$(rss_kb $CPID); S_FDW=$(nfd $SPID); C_FDW=$(nfd $CPID)
wait $LPID
S_RSSE=$(rss_kb $SPID); C_RSSE=$(rss_kb $CPID)
sleep "$IDLE_SECS"
S_RSSI=$(rss_kb $SPID); C_RSSI=$(rss_kb $CPID); S_FDI=$(nfd $SPID); C_FDI=$(nfd $CPID)

echo "reliability: fault scenarios (pytest)" >&2
ANYTLS_BIN=$BIN python3 -m pytest -q -p no:cacheprovider -rA \
    tests/integration/test_faults.py tests/integration/test_fdlimit.py \
    "tests/integration/test_relay.py::test_backpressure_target_not_reading" \
    "tests/integration/test_relay.py::test_backpressure_socks_client_not_reading" >"$WORK/faults.txt" 2>&1
FAULTS_RC=$?

python3 - "$WORK" "$OUT" <<PY
import json, re, sys, datetime, subprocess
work, out = sys.argv[1], sys.argv[2]
d = json.load(open(work + "/soak.json"))
ok, err = d["streams_ok"], d["errors"]
v = dict(S_RSS0=$S_RSS0, C_RSS0=$C_RSS0, S_FD0=$S_FD0, C_FD0=$C_FD0, S_RSSW=$S_RSSW, C_RSSW=$C_RSSW,
         S_FDW=$S_FDW, C_FDW=$C_FDW, S_RSSE=$S_RSSE, C_RSSE=$C_RSSE, S_RSSI=$S_RSSI, C_RSSI=$C_RSSI,
         S_FDI=$S_FDI, C_FDI=$C_FDI)
streams = $SOAK_STREAMS
rss_ok = v["S_RSSI"] <= v["S_RSSW"] * 1.10
import os
# the client keeps -m 5 idle sessions per worker; the server pool keeps min
# idle 5 spares per worker that used the target (workers = cores by default)
kept_sessions, spares = 5 * (os.cpu_count() or 1), 5 * (os.cpu_count() or 1)
fd_ok = v["S_FDI"] <= v["S_FD0"] + kept_sessions + spares + 2 and v["C_FDI"] <= v["C_FD0"] + kept_sessions + 2
soak_ok = err == 0 and ok > 0 and rss_ok and fd_ok
per_stream_s = (v["S_RSSW"] - v["S_RSS0"]) / streams
per_stream_c = (v["C_RSSW"] - v["C_RSS0"]) / streams
rows = []
for line in open(work + "/faults.txt"):
    m = re.match(r"^(PASSED|FAILED|ERROR) (\S+)", line)
    if m:
        rows.append((m.group(2).split("::")[-1], m.group(1)))
faults_ok = bool(rows) and all(r[1] == "PASSED" for r in rows)
desc = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
L = []
L.append("# Reliability (generated by scripts/reliability.sh; do not edit)\n")
L.append("%s, git %s, soak %d s with %d streams in flight.\n" % (datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"), desc, $SOAK_SECS, streams))
L.append("## Soak: %s\n" % ("PASS" if soak_ok else "FAIL"))
L.append("| figure | value |\n|---|---|")
L.append("| streams completed / errors | %d / %d (%s) |" % (ok, err, ", ".join("%s %d" % kv for kv in d["errors_by_kind"].items() if kv[1])))
L.append("| achieved rate | %.0f streams/s |" % d["achieved_rate"])
L.append("| stream open p50 / p99 | %.1f / %.1f ms |" % (d["open_us"]["p50"] / 1000, d["open_us"]["p99"] / 1000))
L.append("| server RSS: start / warm / end of load / after %d s idle | %d / %d / %d / %d KB |" % ($IDLE_SECS, v["S_RSS0"], v["S_RSSW"], v["S_RSSE"], v["S_RSSI"]))
L.append("| client RSS: start / warm / end of load / after idle | %d / %d / %d / %d KB |" % (v["C_RSS0"], v["C_RSSW"], v["C_RSSE"], v["C_RSSI"]))
L.append("| RSS per stream in flight (warm - start) / %d: server, client | %.1f KB, %.1f KB |" % (streams, per_stream_s, per_stream_c))
L.append("| server fds: start / warm / after idle | %d / %d / %d |" % (v["S_FD0"], v["S_FDW"], v["S_FDI"]))
L.append("| client fds: start / warm / after idle | %d / %d / %d |" % (v["C_FD0"], v["C_FDW"], v["C_FDI"]))
L.append("| server RSS after idle within 10%% of warm level | %s |" % ("yes" if rss_ok else "NO"))
L.append("| fds back to their start level (allowing %d kept idle sessions, %d warm spares, +2) | %s |" % (kept_sessions, spares, "yes" if fd_ok else "NO"))
L.append("")
L.append("## Fault scenarios: %s\n" % ("PASS" if faults_ok else "FAIL"))
L.append("Each is a test in tests/integration (docstrings say what it checks); log excerpts are in the test output.\n")
L.append("| scenario | result |\n|---|---|")
for name, res in rows:
    L.append("| %s | %s |" % (name, res))
open(out, "w").write("\n".join(L) + "\n")
print("\n".join(L))
sys.exit(0 if soak_ok and faults_ok else 1)
PY
