#!/usr/bin/env bash
# Builds sing-box (pinned) with `go install` into a cache outside the work tree and
# prints the binary's path. Fails loudly if it cannot: interop tests never skip.
set -euo pipefail
VERSION=${SINGBOX_VERSION:-v1.12.12}
CACHE=${ANYTLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/anytls-c}
BIN="$CACHE/sing-box-$VERSION/sing-box"
if [ ! -x "$BIN" ]; then
    command -v go >/dev/null || { echo "install-singbox: Go is required to build sing-box" >&2; exit 1; }
    mkdir -p "$CACHE/sing-box-$VERSION"
    echo "install-singbox: building sing-box $VERSION (once; cached in $CACHE)" >&2
    (cd "$CACHE" && GOBIN="$CACHE/sing-box-$VERSION" GOFLAGS=-mod=mod \
        go install "github.com/sagernet/sing-box/cmd/sing-box@$VERSION") >&2 || {
        echo "install-singbox: FAILED to build sing-box $VERSION" >&2; exit 1; }
fi
"$BIN" version >/dev/null
echo "$BIN"
