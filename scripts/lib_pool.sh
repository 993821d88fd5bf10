# lib_pool.sh -- shared by the pool test scripts (source it). Starts a local
# target, anytls-server and anytls-client on loopback, drives load with
# bench/loadgen, reads the server's [Pool Stats] line. Every process started
# here is stopped by pid on exit; every run is bounded in time.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${ANYTLS_BIN:-$ROOT/build}
WORK=$(mktemp -d /tmp/anytls-pool.XXXXXX)
PIDS=()
PASSWORD=pool-test

cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() { # port [host]
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "port $1 did not open" >&2; return 1
}

build() { make -s -C "$ROOT" all >/dev/null; }

# The pool types, from the server's registry (after build): one per line.
pool_types() { "$BIN/anytls-server" --list-pool-types; }

# start_target FIRST_IP LAST_IP PORT [target flags...]: one listener per address
start_target() {
    local a=$1 b=$2 port=$3; shift 3
    "$BIN/bench/target" --addrs "$a-$b" --port "$port" --quiet --duration 900 "$@" \
        >"$WORK/target.log" 2>&1 &
    PIDS+=($!); TARGET_PID=$!
    wait_port "$port" "$a"
}

# start_server POOL_TYPE [server flags...]; sets SERVER_PORT SERVER_PID SERVER_LOG
start_server() {
    local type=$1; shift
    SERVER_PORT=$(free_port); SERVER_LOG="$WORK/server-$type.log"
    "$BIN/anytls-server" -l "127.0.0.1:$SERVER_PORT" -p "$PASSWORD" --pool-type "$type" "$@" \
        >"$SERVER_LOG" 2>&1 &
    PIDS+=($!); SERVER_PID=$!
    wait_port "$SERVER_PORT"
}

# start_client; sets SOCKS_PORT CLIENT_PID
start_client() {
    SOCKS_PORT=$(free_port)
    "$BIN/anytls-client" -l "127.0.0.1:$SOCKS_PORT" -s "127.0.0.1:$SERVER_PORT" -p "$PASSWORD" \
        --log-level warn >"$WORK/client.log" 2>&1 &
    PIDS+=($!); CLIENT_PID=$!
    wait_port "$SOCKS_PORT"
}

# stop_pid PID: SIGTERM and wait (bounded)
stop_pid() {
    kill -TERM "$1" 2>/dev/null || return 0
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
}

# loadgen ARGS...: prints loadgen's JSON
loadgen() { "$BIN/bench/loadgen" --socks "127.0.0.1:$SOCKS_PORT" --json --quiet "$@"; }

# last_stats LOG: "total active reused new cleaned" from the last [Pool Stats] line
last_stats() {
    grep -o '\[Pool Stats\] Total: [0-9]*, Active: [0-9]*, Reused: [0-9]*, New: [0-9]*, Cleaned: [0-9]*' "$1" |
        tail -1 | sed -E 's/[^0-9]+/ /g; s/^ //'
}

# json FIELD.PATH < json
json() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[k]
print(d)' "$1"; }
