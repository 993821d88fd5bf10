#!/usr/bin/env bash
# experiments/netns.sh -- RTT emulation without netem (this kernel has none).
#
# A TUN pair joined by bench/delayline, which holds every packet for RTT/2 in each
# direction; one end is moved into a network namespace that owns the targets:
#
#   host (root ns)                                namespace anytls-rtt-<pid>
#   rtt<I>h<pid> 198.18.0.<4I+1>/30  <--delay-->  rtt<I>n<pid> 198.18.0.<4I+2>/30
#   route 198.19.<I+1>.0/24 -> rtt<I>h            local 198.19.<I+1>.0/24 on lo
#
# Every address of 198.19.<I+1>.0/24 is local inside the namespace (an AnyIP
# route), so `target --addrs 198.19.1.1-198.19.1.64 --port 9000` run there binds
# 64 targets, and a connect from the host to any of them pays the full RTT in the
# handshake (SYN one way, SYN-ACK back). The namespace has no default route: it
# reaches only the host end of the pair. I = $RTT_IDX (default 0, 0..63) lets
# several setups coexist.
#
# Commands:
#   up RTT_MS [MTU]   create ns + devices, start the delay line, print the env
#   exec CMD...       run CMD inside the namespace (foreground; exec)
#   spawn CMD...      start CMD inside the namespace in the background; prints its
#                     pid; output to $SPAWN_LOG (default $RTT_STATE.spawn.log);
#                     `down` stops it (by pid)
#   check [N]         measure TCP connect time host -> ns listener (N connects,
#                     default 50); prints p50/min/max; fails if p50 is off
#   status            print the env and the delay line counters
#   down              stop what `up`/`spawn` started (by pid), delete ns + devices
#   run RTT_MS CMD... up, run CMD on the host with the env exported, down on
#                     every exit path (signals included); exits with CMD's status
#   env               print the env of the current setup (sourceable)
# BLACKHOLE="A B ..." (env, at `up`): the delay line drops every packet to these
# addresses of the namespace prefix: connects to them hang (a blackholed host).
# Exit status 3: TUN or namespaces unavailable here (callers fall back to
# loopback RTT). State: $RTT_STATE (default /tmp/anytls-rtt-<I>.env).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DELAYLINE=${DELAYLINE:-$ROOT/build/bench/delayline}
IDX=${RTT_IDX:-0}
STATE=${RTT_STATE:-/tmp/anytls-rtt-$IDX.env}
PIDS_FILE=$STATE.pids

die() { echo "netns.sh: $*" >&2; exit 1; }
unavailable() {
    {
        echo "################################################################"
        echo "netns.sh: RTT EMULATION UNAVAILABLE: $*"
        echo "netns.sh: fall back to loopback (no added RTT)"
        echo "################################################################"
    } >&2
    exit 3
}

case "$IDX" in ''|*[!0-9]*) die "RTT_IDX must be 0..63";; esac
[ "$IDX" -le 63 ] || die "RTT_IDX must be 0..63"

HOST_ADDR=198.18.0.$((4 * IDX + 1))
NS_ADDR=198.18.0.$((4 * IDX + 2))
TARGET_NET=198.19.$((IDX + 1)).0/24
TARGET_RANGE=198.19.$((IDX + 1)).1-198.19.$((IDX + 1)).64
TARGET_FIRST=198.19.$((IDX + 1)).1

load_state() {
    [ -f "$STATE" ] || die "no setup (no $STATE); run: $0 up RTT_MS"
    # shellcheck disable=SC1090
    . "$STATE"
}

# start time of a process (clock ticks since boot; field 22 of /proc/PID/stat)
pid_start() {
    local st
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st##*) }
    set -- $st
    echo "${20}"
}

# kill_pid PID NAME-PATTERN [START]: TERM, wait up to 2 s, then KILL; only if
# the pid still runs something matching the pattern and, when START is given,
# started at that time (pids get reused).
kill_pid() {
    local pid=$1 pat=$2 start=${3:-} i
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 0
    if [ -n "$pat" ] && ! tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pat"; then
        return 0
    fi
    if [ -n "$start" ] && [ "$(pid_start "$pid")" != "$start" ]; then
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 20); do [ -d "/proc/$pid" ] || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

# Removes whatever exists of a setup; safe to call on a partial one.
teardown() { # ns dev_host delayline_pid
    local ns=$1 devh=$2 dlpid=$3 pid left
    if [ -f "$PIDS_FILE" ]; then
        local start
        while read -r pid start; do kill_pid "$pid" "" "$start"; done < "$PIDS_FILE"
        rm -f "$PIDS_FILE"
    fi
    kill_pid "$dlpid" delayline
    if [ -n "$ns" ] && ip netns list 2>/dev/null | grep -qw -- "$ns"; then
        left=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
        if [ -n "$left" ]; then
            echo "netns.sh: warning: processes still in $ns (not started by spawn, left alone): $left" >&2
        fi
        ip netns del "$ns" 2>/dev/null || echo "netns.sh: could not delete namespace $ns" >&2
    fi
    # non-persistent TUN devices vanish with the delay line; remove leftovers
    if [ -n "$devh" ] && ip link show dev "$devh" >/dev/null 2>&1; then
        ip link del dev "$devh" 2>/dev/null || true
    fi
}

print_env() {
    cat "$STATE"
}

cmd_up() {
    local rtt=${1:-} mtu=${2:-1500}
    [ -n "$rtt" ] || die "usage: $0 up RTT_MS [MTU]"
    case "$mtu" in ''|*[!0-9]*) die "bad MTU '$mtu'";; esac
    [ "$mtu" -ge 576 ] && [ "$mtu" -le 65535 ] || die "MTU must be 576..65535"
    awk -v r="$rtt" 'BEGIN { exit !(r + 0 == r && r >= 0 && r <= 60000) }' || die "bad RTT_MS '$rtt'"
    [ -f "$STATE" ] && die "a setup already exists ($STATE); run: $0 down (or use RTT_IDX=n)"

    [ "$(id -u)" = 0 ] || unavailable "not root"
    [ -c /dev/net/tun ] || unavailable "/dev/net/tun missing"
    command -v ip >/dev/null || unavailable "iproute2 (ip) missing"
    if [ ! -x "$DELAYLINE" ] || [ "$ROOT/bench/delayline.c" -nt "$DELAYLINE" ]; then
        mkdir -p "$(dirname "$DELAYLINE")"
        cc -std=gnu11 -O2 -g -Wall -Wextra -D_GNU_SOURCE "$ROOT/bench/delayline.c" -o "$DELAYLINE" ||
            die "cannot build $DELAYLINE"
    fi
    if ip route show "$TARGET_NET" 2>/dev/null | grep -q .; then
        die "a route for $TARGET_NET exists already (another setup? try RTT_IDX=n)"
    fi

    local ns=anytls-rtt-$$ devh=rtt${IDX}h$$ devn=rtt${IDX}n$$ log=$STATE.log dlpid=""
    # on any failure or signal before the setup is complete: undo it all
    trap 'teardown "$ns" "$devh" "$dlpid"; rm -f "$STATE" "$log"' EXIT
    trap 'exit 130' INT TERM HUP

    ip netns add "$ns" 2>/dev/null || unavailable "cannot create network namespace ($ns)"
    ip -n "$ns" link set lo up || die "lo up failed"

    local drops=() a
    for a in ${BLACKHOLE:-}; do drops+=(--drop-dst "$a"); done
    setsid "$DELAYLINE" --dev-a "$devh" --dev-b "$devn" --rtt-ms "$rtt" --mtu "$mtu" "${drops[@]}" \
        > "$log" 2>&1 < /dev/null &
    dlpid=$!
    local i
    for i in $(seq 50); do
        grep -q "ready" "$log" 2>/dev/null && break
        [ -d "/proc/$dlpid" ] || break
        sleep 0.1
    done
    if ! grep -q "ready" "$log" 2>/dev/null; then
        cat "$log" >&2
        unavailable "delay line did not start (TUN unusable?)"
    fi

    # no IPv6 on the pair: no router solicitations etc. through the delay line
    sysctl -qw "net.ipv6.conf.$devh.disable_ipv6=1" 2>/dev/null || true
    sysctl -qw "net.ipv6.conf.$devn.disable_ipv6=1" 2>/dev/null || true
    ip link set dev "$devn" netns "$ns" || unavailable "cannot move $devn into $ns"
    ip link set dev "$devh" mtu "$mtu" up || die "host dev up failed"
    ip addr add "$HOST_ADDR/30" dev "$devh" || die "host addr failed"
    ip -n "$ns" link set dev "$devn" mtu "$mtu" up || die "ns dev up failed"
    ip -n "$ns" addr add "$NS_ADDR/30" dev "$devn" || die "ns addr failed"
    ip route add "$TARGET_NET" dev "$devh" src "$HOST_ADDR" || die "host route failed"
    ip -n "$ns" route add local "$TARGET_NET" dev lo || die "ns local route failed"

    cat > "$STATE" <<EOF
RTT_NS=$ns
RTT_MS=$rtt
RTT_MTU=$mtu
RTT_DEV_HOST=$devh
RTT_DEV_NS=$devn
RTT_HOST_ADDR=$HOST_ADDR
RTT_NS_ADDR=$NS_ADDR
RTT_TARGET_NET=$TARGET_NET
RTT_TARGET_RANGE=$TARGET_RANGE
RTT_DELAYLINE_PID=$dlpid
RTT_DELAYLINE_LOG=$log
EOF
    : > "$PIDS_FILE"
    trap - EXIT INT TERM HUP
    print_env
}

cmd_down() {
    if [ ! -f "$STATE" ]; then
        echo "netns.sh: nothing to take down ($STATE missing)" >&2
        return 0
    fi
    load_state
    teardown "$RTT_NS" "$RTT_DEV_HOST" "$RTT_DELAYLINE_PID"
    rm -f "$STATE" "$RTT_DELAYLINE_LOG" "$STATE.spawn.log"
    echo "netns.sh: down ($RTT_NS)"
}

cmd_exec() {
    load_state
    [ $# -gt 0 ] || die "usage: $0 exec CMD..."
    exec ip netns exec "$RTT_NS" "$@"
}

cmd_spawn() {
    load_state
    [ $# -gt 0 ] || die "usage: $0 spawn CMD..."
    # `ip netns exec` execs CMD in place, so $! is CMD's own pid. CMD's output
    # goes to a log (not our stdout: `pid=$(netns.sh spawn ...)` must not wait
    # for CMD to exit).
    local log=${SPAWN_LOG:-$STATE.spawn.log}
    ip netns exec "$RTT_NS" "$@" < /dev/null >> "$log" 2>&1 &
    local pid=$!
    echo "$pid $(pid_start "$pid")" >> "$PIDS_FILE"
    echo "$pid"
}

cmd_status() {
    load_state
    print_env
    if [ -d "/proc/$RTT_DELAYLINE_PID" ]; then
        kill -USR1 "$RTT_DELAYLINE_PID"
        sleep 0.2
        tail -n 1 "$RTT_DELAYLINE_LOG"
    else
        echo "netns.sh: delay line (pid $RTT_DELAYLINE_PID) is NOT running" >&2
        return 1
    fi
}

# check [N]: connect N times from the host to a listener inside the namespace.
cmd_check() {
    local n=${1:-50} port=${CHECK_PORT:-9999} rc
    load_state
    command -v python3 >/dev/null || die "check needs python3"
    ip netns exec "$RTT_NS" python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1024)
print("ready", flush=True)
while True:
    c, _ = s.accept(); c.close()
' "$TARGET_FIRST" "$port" > "$STATE.check" 2>&1 < /dev/null &
    CHECK_LPID=$!   # global: the EXIT trap runs after this function returns
    trap 'kill_pid "$CHECK_LPID" python3; rm -f "$STATE.check"' EXIT
    trap 'exit 130' INT TERM HUP
    local i
    for i in $(seq 50); do grep -q ready "$STATE.check" && break; sleep 0.1; done
    grep -q ready "$STATE.check" || { cat "$STATE.check" >&2; die "listener in $RTT_NS did not start"; }
    python3 - "$TARGET_FIRST" "$port" "$n" "$RTT_MS" <<'EOF'
import socket, sys, time
host, port, n, rtt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
ts = []
for _ in range(n):
    s = socket.socket()
    s.settimeout(max(5.0, rtt / 100))
    t0 = time.perf_counter()
    s.connect((host, port))
    ts.append((time.perf_counter() - t0) * 1000)
    s.close()
ts.sort()
p50 = ts[len(ts) // 2]
print(f"check: rtt_setting_ms={rtt:g} connects={n} connect_ms p50={p50:.2f} "
      f"min={ts[0]:.2f} p90={ts[int(len(ts) * 0.9)]:.2f} max={ts[-1]:.2f} -> {host}:{port}")
ok = rtt * 0.98 - 0.05 <= p50 <= rtt * 1.10 + 2.0
if not ok:
    print("check: FAIL: connect p50 does not match the RTT setting", file=sys.stderr)
sys.exit(0 if ok else 1)
EOF
    rc=$?
    # cross-check with the bench tools when built: a target in the namespace,
    # loadgen --direct from the host (connect = 1 RTT, first byte = 2 RTT)
    local lg=$ROOT/build/bench/loadgen tg=$ROOT/build/bench/target
    if [ $rc = 0 ] && [ -x "$lg" ] && [ -x "$tg" ]; then
        ip netns exec "$RTT_NS" "$tg" --listen "$TARGET_FIRST:$((port + 1))" --quiet \
            --close-after-response --duration 60 < /dev/null > /dev/null 2>&1 &
        CHECK_TPID=$!
        trap 'kill_pid "$CHECK_LPID" python3; kill_pid "$CHECK_TPID" target; rm -f "$STATE.check"' EXIT
        sleep 0.3
        timeout 60 "$lg" --direct --target-range "$TARGET_FIRST:$((port + 1))" --closed-loop 1 \
            --max-streams "$n" --duration 50 --json --quiet 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
c, o = d["connect_us"], d["open_us"]
print("check: loadgen --direct streams=%d errors=%d connect_ms p50=%.2f p99=%.2f  first_byte_ms p50=%.2f (2 RTT)"
      % (d["streams_ok"], d["errors"], c["p50"] / 1e3, c["p99"] / 1e3, o["p50"] / 1e3))
' || echo "check: loadgen cross-check failed" >&2
    fi
    return $rc
}

cmd_run() {
    local rtt=${1:-}; shift || true
    [ -n "$rtt" ] && [ $# -gt 0 ] || die "usage: $0 run RTT_MS CMD..."
    ( cmd_up "$rtt" ) > /dev/null || exit $?
    RUN_CHILD=""
    trap 'cmd_down >/dev/null' EXIT
    # CMD runs in the background so a signal interrupts `wait` at once (bash
    # defers traps while a foreground child runs); the trap stops CMD by pid.
    trap '[ -n "$RUN_CHILD" ] && kill_pid "$RUN_CHILD" ""; exit 130' INT TERM HUP
    load_state
    export RTT_NS RTT_MS RTT_DEV_HOST RTT_DEV_NS RTT_HOST_ADDR RTT_NS_ADDR RTT_TARGET_NET \
        RTT_TARGET_RANGE RTT_DELAYLINE_PID RTT_STATE=$STATE RTT_IDX=$IDX
    "$@" <&0 &
    RUN_CHILD=$!
    wait "$RUN_CHILD"
    local rc=$?
    RUN_CHILD=""
    return $rc
}

sub=${1:-}
shift || true
case "$sub" in
    up) cmd_up "$@" ;;
    down) cmd_down ;;
    exec) cmd_exec "$@" ;;
    spawn) cmd_spawn "$@" ;;
    check) cmd_check "$@" ;;
    status) cmd_status ;;
    env) load_state; print_env ;;
    run) cmd_run "$@" ;;
    *) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
