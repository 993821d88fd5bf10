#!/usr/bin/env python3
"""Side-by-side: our anytls-client + anytls-server vs sing-box's AnyTLS outbound +
inbound, on one loopback chain, in one run:

    loadgen -> SOCKS5 (client) -> TLS session -> server -> bench/target

Measured for each pair (each figure the median of --reps runs):
  bulk_gbps        one stream downloading --bulk-bytes from the target
  seq_rps          short requests (64 B response) one at a time, and their
  seq_open_p50/p99 stream-open latency (request -> first response byte), us
  c32_rps          short requests at 32 concurrent, and their
  c32_open_p50/p99
  held_kb_client / held_kb_server   RSS per held connection (N open streams)
  idle_kb_client / idle_kb_server   RSS per idle session (N sessions after the
                                    streams closed, before the 30 s idle timeout)
The memory figures come from a pair started afresh (after a 10-stream warm-up):
measured after the throughput runs, the allocators would hand the held streams
memory those runs freed but kept, and the growth would understate the cost.
Writes results/compare/<stamp>.csv (one row per pair and metric) and prints the
ratios ours / sing-box. Loopback only; every run bounded in time.
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


def measure(pair, target_port, a):
    port = pair["socks_port"]
    out = {}
    runs = []
    for _ in range(a.reps):
        d = loadgen(a, port, target_port, ["--closed-loop", "1", "--max-streams", "1",
                                           "--duration", "60", "--timeout", "60",
                                           "--response-size", str(a.bulk_bytes)], 90)
        if d["streams_ok"] != 1:
            raise RuntimeError("bulk run failed: %s" % d["errors_by_kind"])
        runs.append(a.bulk_bytes * 8 / (d["total_us"]["p50"] * 1000))
    out["bulk_gbps"] = statistics.median(runs)
    for name, conc in (("seq", 1), ("c32", 32)):
        rows = [loadgen(a, port, target_port, ["--closed-loop", str(conc), "--duration",
                                               str(a.seconds), "--response-size", "64"],
                        a.seconds + 60) for _ in range(a.reps)]
        for d in rows:
            if d["errors"]:
                raise RuntimeError("%s run had errors: %s" % (name, d["errors_by_kind"]))
        out[name + "_rps"] = statistics.median(d["achieved_rate"] for d in rows)
        out[name + "_open_p50_us"] = statistics.median(d["open_us"]["p50"] for d in rows)
        out[name + "_open_p99_us"] = statistics.median(d["open_us"]["p99"] for d in rows)
    return out


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
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    work = Path(tempfile.mkdtemp(prefix="anytls-compare-"))
    mgr = h.ProcManager(work)
    results = {}
    try:
        tport = h.free_port()
        mgr.start([str(ROOT / "build/bench/target"), "--listen", "127.0.0.1:%d" % tport,
                   "--threads", "1", "--quiet", "--duration", "3600"], "target", port=tport)
        starters = [lambda: start_ours(mgr, a.workers, a.bin)]
        if not a.only_ours:
            starters.append(lambda: start_singbox(mgr, work))
        for starter in starters:
            pair = starter()
            print("measuring %s ..." % pair["name"], file=sys.stderr, flush=True)
            results[pair["name"]] = measure(pair, tport, a)
            pair["client"].stop()
            pair["server"].stop()
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
            lower_better = m.endswith("_us") or m.startswith(("held", "idle"))
            ratio = ours / theirs if theirs else float("nan")
            better = (ours < theirs) if lower_better else (ours > theirs)
            w.writerow([m, "%.2f" % ours, "%.2f" % theirs, "%.3f" % ratio, "ours" if better else "sing-box"])
    (out / "latest.csv").write_text(path.read_text())
    print("%-22s %12s %12s %8s" % ("metric", "anytls-c", "sing-box", "ratio"))
    for row in list(csv.reader(open(path)))[1:]:
        print("%-22s %12s %12s %8s  (%s better)" % tuple(row))
    print("raw: %s" % path)


if __name__ == "__main__":
    main()
