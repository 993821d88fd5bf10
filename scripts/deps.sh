#!/usr/bin/env bash
# Installs what building, testing and benchmarking need, from Debian's packages
# (shadowsocks-libev, strace and linux-perf: bench/costs.py's floor and probes),
# and sing-box (the real AnyTLS peer for interop) from the Go module proxy.
# Idempotent: does nothing when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential pkg-config libssl-dev openssl libjemalloc-dev libcmocka-dev
      libbenchmark-dev liburcu-dev libinih-dev libc-ares-dev gnuplot-nox iproute2 python3 clang libclang-rt-dev curl
      shadowsocks-libev strace linux-perf)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "deps: installing ${missing[*]}" >&2
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

scripts/install-singbox.sh >/dev/null

python3 -m pytest --version >/dev/null 2>&1 || python3 -m pip install -q pytest
