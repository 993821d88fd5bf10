#!/usr/bin/env python3
"""Side-by-side: our anytls-client + anytls-server vs sing-box's AnyTLS outbound +
inbound, on one loopback chain, in one run:

    loadgen -> SOCKS5 (client) -> TLS session -> server -> bench/target

Both pairs run side by side for the whole comparison and are measured in
alternating order: for every rep and phase (bulk, seq, c32) A then B (--order
abab, the default) or, every other rep, B then A (--order abba). Before every
phase the TIME_WAIT table is drained (bench/timewait.py: loopback TIME_WAIT sockets
destroyed with `ss -K` as root, then /proc/net/sockstat's `tw` polled until it is
below --tw-threshold (or the count at start + 500, when other tenants keep more
than that), for at most --tw-max-wait s; each phase's starting tw is recorded (a
short-request run behind 27,000 TIME_WAIT sockets ran at a quarter of its rate).
CPU per stream: utime+stime of the pair's client and server (/proc/PID/stat)
over the phase, divided by the streams it completed.

Measured for each pair (each figure the median of --reps runs):
  bulk_gbps        one stream downloading --bulk-bytes from the target
  seq_rps          short requests (64 B response) one at a time, and their
  seq_open_p50/p99 stream-open latency (request -> first response byte), us
  c32_rps          short requests at 32 concurrent, and their
  c32_open_p50/p99
  seq_cpu_us_per_stream / c32_cpu_us_per_stream   client + server CPU per stream
  bulk_cpu_s_per_gb                 client + server CPU per GB of the bulk stream
  held_kb_client / held_kb_server   RSS per held connection (N open streams)
  idle_kb_client / idle_kb_server   RSS per idle session (N sessions after the
                                    streams closed, before the 30 s idle timeout)
The memory figures come from a pair started afresh (after a 10-stream warm-up):
measured after the throughput runs, the allocators would hand the held streams
memory those runs freed but kept, and the growth would understate the cost.
Writes results/compare/<stamp>.csv (one row per pair and metric), <stamp>-runs.csv
(every phase run: rep, position, pair, tw at start, rate, latency, CPU) and
<stamp>.env (commit, clean or not) and prints the ratios ours / sing-box.
Loopback only; every run bounded in time.
"""
import argparse
import csv
import datetime
import json
import os
import resource
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "helpers"))
import harness as h  # noqa: E402
import singbox as sb  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
import timewait  # noqa: E402

PASSWORD = "bench-password"


def rss_kb(pid):
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def loadgen(args, socks_port, target_port, extra, timeout):
    argv = [str(ROOT / "build/bench/loadgen"), "--target-range",
            "127.0.0.1-127.0.0.1:%d" % target_port, "--socks", "127.0.0.1:%d" % socks_port,
            "--json", "--quiet"] + extra
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("loadgen failed: %s %s" % (r.stdout[-500:], r.stderr[-500:]))
    return json.loads(r.stdout)


def socks_open(port, target_port):
    s = socket.create_connection((h.V4, port), timeout=10)
    s.sendall(b"\x05\x01\x00")
    if s.recv(2) != b"\x05\x00":
        raise RuntimeError("SOCKS5 greeting refused")
    s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton(h.V4) + struct.pack(">H", target_port))
    rep = b""
    while len(rep) < 10:
        d = s.recv(10 - len(rep))
        if not d:
            raise RuntimeError("SOCKS5 closed")
        rep += d
    if rep[1] != 0:
        raise RuntimeError("SOCKS5 reply %d" % rep[1])
    return s


def memory(pair, socks_port, target_port, n):
    """RSS per held stream and per idle session, for both processes of a
    freshly started pair (see the module docstring)."""
    client_pid, server_pid = pair["client"].pid, pair["server"].pid
    for _ in range(10):   # one-time set-up (TLS context, thread caches) is not per stream
        s = socks_open(socks_port, target_port)
        s.sendall(b"16\n")
        h.recv_exact(s, 16)
        s.close()
    time.sleep(1.0)
    base_c, base_s = rss_kb(client_pid), rss_kb(server_pid)
    socks = []
    try:
        for _ in range(n):
            s = socks_open(socks_port, target_port)
            s.sendall(b"16\n")          # target answers 16 bytes: the stream is real
            got = b""
            while len(got) < 16:
                d = s.recv(64)
                if not d:
                    raise RuntimeError("stream %d of %d closed early (got %r)" % (len(socks), n, got))
                got += d
            socks.append(s)
        time.sleep(1.0)
        held_c, held_s = rss_kb(client_pid), rss_kb(server_pid)
    finally:
        for s in socks:
            s.close()
    time.sleep(2.0)   # streams end; sessions go idle (both clients keep them 30 s)
    idle_c, idle_s = rss_kb(client_pid), rss_kb(server_pid)
    return {
        "held_kb_client": (held_c - base_c) / n, "held_kb_server": (held_s - base_s) / n,
        "idle_kb_client": (idle_c - base_c) / n, "idle_kb_server": (idle_s - base_s) / n,
    }


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    """utime + stime of a process, seconds (/proc/PID/stat)."""
    st = Path("/proc/%d/stat" % pid).read_text()
    f = st[st.rindex(")") + 2:].split()
    return (int(f[11]) + int(f[12])) / CLK_TCK


def drain_tw(threshold, max_wait):
    """bench/timewait.py: (tw now, seconds spent)."""
    return timewait.drain(threshold, max_wait)


def phase(pair, target_port, a, name):
    """One run of one phase on one pair: {rate/latency metrics, cpu_us_per_stream}."""
    port = pair["socks_port"]
    pids = (pair["client"].pid, pair["server"].pid)
    c0 = sum(cpu_s(p) for p in pids)
    if name == "bulk":
        d = loadgen(a, port, target_port, ["--closed-loop", "1", "--max-streams", "1",
                                           "--duration", "60", "--timeout", "60",
                                           "--response-size", str(a.bulk_bytes)], 90)
        if d["streams_ok"] != 1:
            raise RuntimeError("bulk run failed: %s" % d["errors_by_kind"])
        cpu = sum(cpu_s(p) for p in pids) - c0
        return {"bulk_gbps": a.bulk_bytes * 8 / (d["total_us"]["p50"] * 1000),
                "bulk_cpu_s_per_gb": cpu / (a.bulk_bytes / 1e9), "streams": 1}
    conc = 1 if name == "seq" else 32
    d = loadgen(a, port, target_port, ["--closed-loop", str(conc), "--duration",
                                       str(a.seconds), "--response-size", "64"], a.seconds + 60)
    cpu = sum(cpu_s(p) for p in pids) - c0
    if d["errors"]:
        raise RuntimeError("%s run had errors: %s" % (name, d["errors_by_kind"]))
    n = d["streams_ok"] + d["warmup"]["ok"]
    return {name + "_rps": d["achieved_rate"], name + "_open_p50_us": d["open_us"]["p50"],
            name + "_open_p99_us": d["open_us"]["p99"],
            name + "_cpu_us_per_stream": cpu * 1e6 / n if n else float("nan"), "streams": n}


def measure_alternating(pairs, target_port, a, runs_out):
    """Every rep, every phase: the pairs in alternating order, the TIME_WAIT table
    drained before each. Returns {pair name: {metric: median over reps}}."""
    vals = {p["name"]: {} for p in pairs}
    base_tw = timewait.count()
    thr = a.tw_threshold
    if base_tw + 500 > thr:
        thr = base_tw + 500
        print("compare: %d TIME_WAIT sockets already (other tenants?): draining to below %d"
              % (base_tw, thr), file=sys.stderr)
    for rep in range(a.reps):
        order = list(pairs)
        if a.order == "abba" and rep % 2:
            order.reverse()
        for name in ("bulk", "seq", "c32"):
            for pos, pair in enumerate(order):
                tw, waited = drain_tw(thr, a.tw_max_wait)
                if tw >= thr:
                    print("compare: WARNING: %d TIME_WAIT sockets after %.0f s (threshold %d): "
                          "running %s %s anyway, recorded" % (tw, waited, thr, pair["name"], name),
                          file=sys.stderr)
                print("compare: rep %d %s %s (tw %d, waited %.0f s)" % (rep + 1, name, pair["name"], tw, waited),
                      file=sys.stderr, flush=True)
                r = phase(pair, target_port, a, name)
                for k, v in r.items():
                    if k != "streams":
                        vals[pair["name"]].setdefault(k, []).append(v)
                vals[pair["name"]].setdefault(name + "_tw_at_start", []).append(tw)
                runs_out.append(dict({"rep": rep + 1, "phase": name, "position": pos + 1,
                                      "pair": pair["name"], "tw_at_start": tw,
                                      "tw_wait_s": round(waited, 1)}, **r))
    return {p: {k: statistics.median(v) for k, v in m.items()} for p, m in vals.items()}


def start_ours(mgr, workers, bindir="build"):
    sport, cport = h.free_port(), h.free_port()
    w = ["--workers", str(workers)] if workers > 0 else []
    server = mgr.start([str(ROOT / bindir / "anytls-server"), "-l", "127.0.0.1:%d" % sport, "-p", PASSWORD,
                        "--log-level", os.environ.get("OURS_LOG", "warn"), "--max-outbound-connections", "100000"] + w, "ours-server", port=sport)
    client = mgr.start([str(ROOT / bindir / "anytls-client"), "-l", "127.0.0.1:%d" % cport, "-s",
                        "127.0.0.1:%d" % sport, "-p", PASSWORD, "--log-level", os.environ.get("OURS_LOG", "warn")] + w,
                       "ours-client", port=cport)
    return {"name": "anytls-c", "server": server, "client": client, "socks_port": cport}


def start_singbox(mgr, workdir):
    sport, cport = h.free_port(), h.free_port()
    cert, key = sb.make_cert(workdir / "cert")
    server = sb.start(mgr, sb.anytls_inbound_config(sport, PASSWORD, cert, key), "singbox-server", sport)
    client = sb.start(mgr, sb.anytls_outbound_config(cport, sport, PASSWORD), "singbox-client", cport)
    return {"name": "sing-box", "server": server, "client": client, "socks_port": cport}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5, help="per short-request run")
    ap.add_argument("--bulk-bytes", type=int, default=1 << 30)
    ap.add_argument("--sessions", type=int, default=1000, help="held streams / idle sessions")
    ap.add_argument("--workers", type=int, default=0, help="our worker threads (0: cores)")
    ap.add_argument("--out", default=str(ROOT / "results" / "compare"))
    ap.add_argument("--only-ours", action="store_true", help="measure ours only (no CSV)")
    ap.add_argument("--bin", default="build", help="directory of our binaries")
    ap.add_argument("--order", choices=("abab", "abba"), default="abab",
                    help="pair order per phase: A then B every rep, or reversed every other rep")
    ap.add_argument("--tw-threshold", type=int, default=2000,
                    help="drain TIME_WAIT sockets below this before every phase")
    ap.add_argument("--tw-max-wait", type=float, default=70.0,
                    help="wait at most this long for the drain (s); TIME_WAIT lasts 60 s")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    work = Path(tempfile.mkdtemp(prefix="anytls-compare-"))
    mgr = h.ProcManager(work)
    results = {}
    runs = []
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", ".", ":(exclude)results"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip())
    ver = subprocess.run([str(ROOT / a.bin / "anytls-server"), "--version"], capture_output=True,
                         text=True).stdout.strip()
    print("compare: commit %s (%s), our binaries: %s" % (sha[:10], "DIRTY tree" if dirty else "clean", ver),
          file=sys.stderr)
    try:
        tport = h.free_port()
        mgr.start([str(ROOT / "build/bench/target"), "--listen", "127.0.0.1:%d" % tport,
                   "--threads", "1", "--quiet", "--duration", "3600"], "target", port=tport)
        starters = [lambda: start_ours(mgr, a.workers, a.bin)]
        if not a.only_ours:
            starters.append(lambda: start_singbox(mgr, work))
        pairs = [st_() for st_ in starters]
        print("measuring %s in alternating order (%s) ..." % (" and ".join(p["name"] for p in pairs), a.order),
              file=sys.stderr, flush=True)
        results = measure_alternating(pairs, tport, a, runs)
        for pair in pairs:
            pair["client"].stop()
            pair["server"].stop()
        for starter in starters:
            drain_tw(max(a.tw_threshold, timewait.count() // 2), a.tw_max_wait)
            pair = starter()   # memory: a fresh pair
            results[pair["name"]].update(memory(pair, pair["socks_port"], tport, a.sessions))
            pair["client"].stop()
            pair["server"].stop()
    finally:
        problems = mgr.stop_all()
    if problems:
        print("\n".join(problems), file=sys.stderr)
    if a.only_ours:
        for k, v in results["anytls-c"].items():
            print("%-22s %12.2f" % (k, v))
        return
    runs_path = None

    stamp = datetime.datetime.utcnow().strftime("%Y%m%dT%H%M%SZ")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / ("%s.csv" % stamp)
    metrics = list(results["anytls-c"].keys())
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["metric", "anytls-c", "sing-box", "ratio", "better"])
        for m in metrics:
            ours, theirs = results["anytls-c"][m], results["sing-box"][m]
            lower_better = m.endswith(("_us", "_per_stream", "_per_gb")) or m.startswith(("held", "idle"))
            ratio = ours / theirs if theirs else float("nan")
            better = (ours < theirs) if lower_better else (ours > theirs)
            label = "n/a (conditions)" if "_tw_" in m else ("ours" if better else "sing-box")
            w.writerow([m, "%.2f" % ours, "%.2f" % theirs, "%.3f" % ratio, label])
    (out / "latest.csv").write_text(path.read_text())
    runs_path = out / ("%s-runs.csv" % stamp)
    keys = []
    for r in runs:
        keys += [k for k in r if k not in keys]
    with open(runs_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(runs)
    (out / ("%s.env" % stamp)).write_text(
        "git_sha: %s\ngit_dirty: %s\nbuild_version: %s\norder: %s\nreps: %d\ntw_threshold: %d\n"
        % (sha, "yes" if dirty else "no", ver, a.order, a.reps, a.tw_threshold))
    print("%-22s %12s %12s %8s" % ("metric", "anytls-c", "sing-box", "ratio"))
    for row in list(csv.reader(open(path)))[1:]:
        print("%-22s %12s %12s %8s  (%s)" % (tuple(row[:4]) + (row[4] if row[4].startswith("n/a") else row[4] + " better",)))
    print("raw: %s, every run: %s (commit %s%s; order %s, TIME_WAIT drained before every phase)"
          % (path, runs_path, sha[:10], ", DIRTY tree" if dirty else "", a.order))


if __name__ == "__main__":
    main()
