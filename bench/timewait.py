"""bench/timewait.py -- the TIME_WAIT table before a measured phase.

Tens of thousands of loopback sockets in TIME_WAIT slow every later connect
(measured here: 27,000 cut a short-request run from ~2,200/s to ~500/s), so a
side-by-side phase must not inherit the previous phase's. drain() first asks
the kernel to destroy TIME_WAIT sockets (`ss -K`, SOCK_DESTROY: root and
CONFIG_INET_DIAG_DESTROY; by default only loopback ones, which only benchmarks
on this machine create; a TIME_WAIT socket carries no data), then waits for the rest within a
bound. It returns what was left, for the record.
"""
import subprocess
import time

LOOPBACK = "( src 127.0.0.0/8 or src [::1] )"


def count():
    """TIME_WAIT sockets in this network namespace (/proc/net/sockstat `tw`)."""
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                t = line.split()
                return int(t[t.index("tw") + 1])
    return 0


def destroy(loopback_only=True):
    """Destroys TIME_WAIT sockets (loopback ones only, unless told); False if
    the kernel refused."""
    try:
        r = subprocess.run(["ss", "-K", "-t", "state", "time-wait"] + ([LOOPBACK] if loopback_only else []),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def drain(threshold, max_wait, loopback_only=True):
    """Destroys, then waits until fewer than threshold remain, at most max_wait
    seconds. Returns (TIME_WAIT count now, seconds spent). loopback_only=False
    (experiments/runner.py, whose targets sit behind veth pairs) destroys every
    TIME_WAIT socket of this network namespace."""
    t0 = time.monotonic()
    if count() >= threshold:
        destroy(loopback_only)
    tw = count()
    while tw >= threshold and time.monotonic() - t0 < max_wait:
        time.sleep(0.5)
        tw = count()
    return tw, time.monotonic() - t0
