# fuzz/lib.sh -- shared by fuzz/run.sh and scripts/fuzz_regress.sh (sourced).

# The targets: one per fuzz/fuzz_X.c.
fuzz_targets() {
    local f
    for f in fuzz/fuzz_*.c; do
        f=${f#fuzz/fuzz_}
        echo "${f%.c}"
    done
}

# Longest input libFuzzer makes for a target: a little past what the parser
# accepts at most, so its limits are crossed too, and short enough to keep the
# rate high.
fuzz_max_len() {
    case $1 in
        inbound) echo 8300 ;;   # INB_HTTP_MAX_HEAD is 8192
        padding|http) echo 4096 ;;
        server_session|client_session) echo 4096 ;;  # the big volumes come from ops, not bytes
        frame|auth|uot) echo 2048 ;;
        uri|kv) echo 1024 ;;
        addr) echo 300 ;;       # an address is at most 259 bytes
        *) echo 4096 ;;
    esac
}

# Options common to every run of target $1.
fuzz_opts() {
    local t=$1
    echo "-max_len=$(fuzz_max_len "$t") -timeout=10 -rss_limit_mb=2048"
    [ -f "fuzz/dict/$t.dict" ] && echo "-dict=fuzz/dict/$t.dict"
    return 0
}
