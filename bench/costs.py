#!/usr/bin/env python3
"""Where a short stream's CPU goes: anytls-client + anytls-server against
shadowsocks-libev (ss-local + ss-server, chacha20-ietf-poly1305, no TLS, no
multiplexing) as the floor, on one loopback chain each, in one run:

    loadgen -> SOCKS5 (client | ss-local) -> (TLS session | ss tunnel)
            -> (server | ss-server) -> bench/target

A short stream is HTTP/1.0-like: the request line "1024\\n", a 1 KiB reply,
and the target closes after it (bench/target --close-after-response).

Per process (client side, server side), over --streams streams at --conc
concurrent (closed loop), alternating ours / ss --reps times (ABAB):
  cpu_us            utime+stime from /proc/PID/stat, per stream (usr_us, sys_us)
  ctxsw             voluntary + nonvoluntary context switches summed over
                    /proc/PID/task/*/status, per stream
  syscalls          `strace -c -f -p PID` over a separate, shorter run
                    (--syscall-streams), per stream, with the top calls
  bulk_s_per_gb     one stream downloading --bulk-bytes: CPU seconds per GB
  floor_dial_*      in each rep, the bare dial: loadgen --direct to the same
                    target, its own CPU per stream against ss-server's; the
                    target-side work any server pays before its inbound side
A `perf record -g` profile of our two processes (--perf-streams): the folded
stacks, `perf report --stdio` top lists and flame graph SVGs
(bench/flamegraph.py) go to results/costs/<stamp>/.
Before each phase the TIME_WAIT table (/proc/net/sockstat "tw") is drained
below --tw-low (bench/timewait.py: loopback TIME_WAIT sockets destroyed with
`ss -K` when root, else waited for at most --tw-wait s); the value is recorded.

Writes results/costs/<stamp>.csv (metric, side, ours, ss, ratio, spread,
commit) and results/costs/latest.md, and prints the ratios.

--ab DIR_A DIR_B instead compares two builds of ours (no ss): --pairs
alternating A/B phases of short streams (and --ab-bulk: bulk downloads),
medians with min..max, and B/A. Everything runs on loopback, bounded in time.
"""
import argparse
import csv
import datetime
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "helpers"))
import harness as h  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
import timewait  # noqa: E402

PASSWORD = "bench-password"
SS_METHOD = "chacha20-ietf-poly1305"
HZ = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- /proc readers

def cpu_ticks(pid):
    f = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    return int(f[11]), int(f[12])   # utime, stime (fields 14, 15)


def ctx_switches(pid):
    n = 0
    for st in Path("/proc/%d/task" % pid).glob("*/status"):
        try:
            for line in st.read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    n += int(line.split()[1])
        except OSError:
            pass   # a thread ended meanwhile
    return n


class TwBudget:
    """Drains TIME_WAIT before a phase (bench/timewait.py), within a total budget."""

    def __init__(self, low, per_phase, total):
        self.low, self.per_phase, self.left = low, per_phase, total

    def drain(self):
        tw, spent = timewait.drain(self.low, min(self.per_phase, max(self.left, 0)))
        self.left -= spent
        return tw


# ---------------------------------------------------------------- processes

def loadgen(socks_port, target_port, extra, timeout):
    """socks_port None: straight to the target (--direct)."""
    via = ["--direct"] if socks_port is None else ["--socks", "127.0.0.1:%d" % socks_port]
    argv = [str(ROOT / "build/bench/loadgen"), "--target-range",
            "127.0.0.1-127.0.0.1:%d" % target_port] + via + [
            "--json", "--quiet", "--timeout", "20"] + extra
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("loadgen failed: %s %s" % (r.stdout[-500:], r.stderr[-500:]))
    return json.loads(r.stdout)


def start_ours(mgr, bindir, tag="ours", workers=0):
    sport, cport = h.free_port(), h.free_port()
    w = ["--workers", str(workers)] if workers > 0 else []
    server = mgr.start([str(bindir / "anytls-server"), "-l", "127.0.0.1:%d" % sport, "-p", PASSWORD,
                        "--log-level", "warn", "--max-outbound-connections", "100000"] + w,
                       tag + "-server", port=sport)
    client = mgr.start([str(bindir / "anytls-client"), "-l", "127.0.0.1:%d" % cport, "-s",
                        "127.0.0.1:%d" % sport, "-p", PASSWORD, "--log-level", "warn"] + w,
                       tag + "-client", port=cport)
    return {"name": tag, "client": client, "server": server, "socks_port": cport}


def start_ss(mgr, work):
    sport, cport = h.free_port(), h.free_port()
    cfg = work / "ss.json"
    # Its own config file; TCP_NODELAY as ours sets it on every socket.
    cfg.write_text(json.dumps({"server": "127.0.0.1", "server_port": sport, "local_address": "127.0.0.1",
                               "local_port": cport, "password": PASSWORD, "method": SS_METHOD,
                               "timeout": 60, "mode": "tcp_only", "no_delay": True}))
    server = mgr.start(["ss-server", "-c", str(cfg)], "ss-server", port=sport)
    client = mgr.start(["ss-local", "-c", str(cfg)], "ss-local", port=cport)
    return {"name": "ss", "client": client, "server": server, "socks_port": cport}


def snapshot(pair):
    out = {}
    for side in ("client", "server"):
        pid = pair[side].pid
        u, s = cpu_ticks(pid)
        out[side] = (u, s, ctx_switches(pid))
    return out


def delta(pair, before, n, scale=1e6):
    """Per-unit figures from two snapshots: scale/n per tick-second."""
    after = snapshot(pair)
    res = {}
    for side in ("client", "server"):
        (u0, s0, c0), (u1, s1, c1) = before[side], after[side]
        res[side] = {"usr": (u1 - u0) / HZ * scale / n, "sys": (s1 - s0) / HZ * scale / n,
                     "cpu": (u1 - u0 + s1 - s0) / HZ * scale / n, "ctxsw": (c1 - c0) / n}
    return res


def short_load(socks_port, tport, a, n):
    return loadgen(socks_port, tport, ["--closed-loop", str(a.conc), "--max-streams", str(n),
                                       "--duration", "120", "--response-size", "1024"], 180)


def short_phase(pair, tport, a, tw, n=None):
    n = n or a.streams
    twv = tw.drain()
    before = snapshot(pair)
    d = short_load(pair["socks_port"], tport, a, n)
    if d["errors"] or d["streams_ok"] != n:
        raise RuntimeError("%s short run: %d ok, errors %s" % (pair["name"], d["streams_ok"], d["errors_by_kind"]))
    r = delta(pair, before, n)
    r["rate"], r["tw"] = d["achieved_rate"], twv
    return r


def floor_phase(tport, a, tw):
    """The target-side floor: what the dialing process pays for the short
    stream itself (socket, connect, request, 1 KiB reply, the target's close,
    close) with nothing in between: loadgen --direct to the same target, its
    own CPU from getrusage(RUSAGE_CHILDREN) (it is the only child reaped in the
    window). Every server, ours and ss-server, does this much per stream on
    top of its inbound side; on loopback the receiver's TCP work runs in the
    sender's context, for the dialer as for the servers."""
    twv = tw.drain()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    d = short_load(None, tport, a, a.streams)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if d["errors"] or d["streams_ok"] != a.streams:
        raise RuntimeError("bare dial run: %d ok, errors %s" % (d["streams_ok"], d["errors_by_kind"]))
    usr = (r1.ru_utime - r0.ru_utime) * 1e6 / a.streams
    sys_ = (r1.ru_stime - r0.ru_stime) * 1e6 / a.streams
    ctx = (r1.ru_nvcsw + r1.ru_nivcsw - r0.ru_nvcsw - r0.ru_nivcsw) / a.streams
    return {"cpu": usr + sys_, "usr": usr, "sys": sys_, "ctxsw": ctx, "rate": d["achieved_rate"], "tw": twv}


def bulk_phase(pair, tport, a, tw):
    twv = tw.drain()
    before = snapshot(pair)
    d = loadgen(pair["socks_port"], tport, ["--closed-loop", "1", "--max-streams", "1", "--duration", "120",
                                            "--response-size", str(a.bulk_bytes)], 180)
    if d["streams_ok"] != 1:
        raise RuntimeError("%s bulk run failed: %s" % (pair["name"], d["errors_by_kind"]))
    r = delta(pair, before, a.bulk_bytes / 1e9, scale=1.0)   # CPU seconds per GB
    r["gbps"] = a.bulk_bytes * 8 / (d["total_us"]["p50"] * 1000)
    r["tw"] = twv
    return r


STRACE_RE = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(\d+)?\s*(\w+)\s*$")


def parse_strace(text):
    calls = {}
    for line in text.splitlines():
        m = STRACE_RE.match(line)
        if m and m.group(3) not in ("total", "restart_syscall"):
            calls[m.group(3)] = int(m.group(1))
    return calls


def run_observed(pair, tport, a, tool, streams, settle, stop_wait):
    """`streams` short streams (closed loop) through a pair while tool(side, pid),
    an argv, watches each of its two processes; the tools are attached `settle`
    seconds before the load and stopped with SIGINT after it. Returns loadgen's
    result."""
    tools = [subprocess.Popen(tool(side, pair[side].pid), stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for side in ("client", "server")]
    time.sleep(settle)
    try:
        return short_load(pair["socks_port"], tport, a, streams)
    finally:
        for p in tools:
            p.send_signal(signal.SIGINT)
        for p in tools:
            try:
                p.wait(stop_wait)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


def syscall_phase(pair, tport, a, work, tw):
    """strace -c -f on both processes of a pair over a short run."""
    tw.drain()
    out = {side: work / ("strace-%s-%s.txt" % (pair["name"], side)) for side in ("client", "server")}
    n = a.syscall_streams
    d = run_observed(pair, tport, a, lambda side, pid: ["strace", "-c", "-f", "-p", str(pid), "-o", str(out[side])],
                     n, 1.0, 20)   # 1 s: attached to every thread
    if d["streams_ok"] != n:
        raise RuntimeError("%s strace run: %d of %d ok" % (pair["name"], d["streams_ok"], n))
    res = {}
    for side, outf in out.items():
        calls = parse_strace(outf.read_text() if outf.exists() else "")
        res[side] = {k: v / n for k, v in calls.items()}
    return res


# ---------------------------------------------------------------- perf profile

FRAME_RE = re.compile(r"^\s*[0-9a-f]+\s+(.+?)\s+\((.*)\)\s*$")


def fold_perf_script(text):
    """`perf script` output -> {folded stack: samples}."""
    stacks, cur, comm = {}, [], None

    def flush():
        if comm is not None:
            key = ";".join([comm] + list(reversed(cur)))
            stacks[key] = stacks.get(key, 0) + 1

    for line in text.splitlines():
        if not line.strip():
            flush()
            cur, comm = [], None
            continue
        if not line[0].isspace():
            flush()
            cur, comm = [], line.split()[0]
            continue
        m = FRAME_RE.match(line)
        if not m:
            continue
        sym, dso = m.group(1), m.group(2)
        sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
        if sym == "[unknown]":
            sym = "[%s]" % os.path.basename(dso) if dso and not dso.startswith("[") else "[unknown]"
        if "kernel" in dso:
            sym += "_[k]"
        cur.append(sym.replace(";", ":").replace(" ", "_"))
    flush()
    return stacks


def perf_phase(pair, tport, a, outdir, tw):
    tw.drain()
    recs = {side: outdir / ("perf-%s.data" % side) for side in ("client", "server")}
    run_observed(pair, tport, a, lambda side, pid: ["perf", "record", "-F", "4999", "-g", "-p", str(pid),
                                                    "-o", str(recs[side])],
                 a.perf_streams, 0.5, 30)
    made = []
    for side, data in recs.items():
        if not data.exists():
            continue
        name = "%s-%s" % (pair["name"], side)
        rep = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "-g", "none",
                              "--percent-limit", "0.4", "--sort", "dso,sym"],
                             capture_output=True, text=True, timeout=120)
        (outdir / ("%s-top.txt" % name)).write_text(rep.stdout)
        rep = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--children", "-g", "none",
                              "--percent-limit", "1", "--sort", "sym"],
                             capture_output=True, text=True, timeout=120)
        (outdir / ("%s-children.txt" % name)).write_text(rep.stdout)
        scr = subprocess.run(["perf", "script", "-i", str(data)], capture_output=True, text=True,
                             timeout=300, errors="replace")
        folded = fold_perf_script(scr.stdout)
        fpath = outdir / ("%s.folded" % name)
        with open(fpath, "w") as f:
            for k, v in sorted(folded.items()):
                f.write("%s %d\n" % (k, v))
        subprocess.run([sys.executable, str(ROOT / "bench/flamegraph.py"), str(fpath),
                        str(outdir / ("%s.svg" % name)), "--title", "%s, %d short streams" % (name, a.perf_streams)],
                       timeout=120)
        data.unlink()
        made.append(name)
    return made


# ---------------------------------------------------------------- reporting

def med(xs):
    return statistics.median(xs) if xs else float("nan")


def spread(xs, fmt="%.1f"):
    return (fmt + ".." + fmt) % (min(xs), max(xs)) if xs else ""


def commit():
    """git describe --dirty, where results/ (this run's own outputs) does not
    make the tree dirty."""
    r = subprocess.run(["git", "describe", "--always"], cwd=str(ROOT), capture_output=True, text=True)
    rev = r.stdout.strip() or "unknown"
    st = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"],
                        cwd=str(ROOT), capture_output=True, text=True)
    return rev + ("-dirty" if st.stdout.strip() else "")


def run_costs(a, mgr, work, tport):
    tw = TwBudget(a.tw_low, a.tw_wait, a.tw_total)
    ours = start_ours(mgr, Path(a.bin) if Path(a.bin).is_absolute() else ROOT / a.bin, workers=a.workers)
    ss = start_ss(mgr, work)
    pairs = [ours, ss]
    for p in pairs:   # sessions, thread caches, the server's pool warm
        loadgen(p["socks_port"], tport, ["--closed-loop", str(a.conc), "--max-streams", "300",
                                         "--duration", "60", "--response-size", "1024"], 90)
    short = {p["name"]: [] for p in pairs}
    for rep in range(a.reps):
        for p in (pairs if rep % 2 == 0 else pairs[::-1]):
            log("short streams: %s (rep %d/%d)" % (p["name"], rep + 1, a.reps))
            short[p["name"]].append(short_phase(p, tport, a, tw))
        log("short streams: bare dial, loadgen --direct (rep %d/%d)" % (rep + 1, a.reps))
        short.setdefault("floor", []).append(floor_phase(tport, a, tw))
    bulk = {p["name"]: [] for p in pairs}
    for rep in range(a.bulk_reps):
        for p in (pairs if rep % 2 == 0 else pairs[::-1]):
            log("bulk %d MiB: %s (rep %d/%d)" % (a.bulk_bytes >> 20, p["name"], rep + 1, a.bulk_reps))
            bulk[p["name"]].append(bulk_phase(p, tport, a, tw))
    sysc = {}
    if not a.no_strace:
        for p in pairs:
            log("syscalls (strace -c): %s" % p["name"])
            sysc[p["name"]] = syscall_phase(p, tport, a, work, tw)
    return pairs, short, bulk, sysc, tw


def write_outputs(a, stamp, rev, short, bulk, sysc, profiles, tw):
    out = Path(a.out)
    rows = []   # metric, side, ours, ss, ratio, ours_spread, ss_spread

    def add(metric, side, o, s, os_="", ss_=""):
        ratio = o / s if s else float("nan")
        rows.append([metric, side, "%.2f" % o, "%.2f" % s, "%.3f" % ratio, os_, ss_])

    for side in ("client", "server"):
        for m in ("cpu", "usr", "sys", "ctxsw"):
            o = [r[side][m] for r in short["ours"]]
            s = [r[side][m] for r in short["ss"]]
            add("short_%s%s" % (m, "_us" if m != "ctxsw" else ""), side, med(o), med(s), spread(o), spread(s))
        if sysc:
            so, ss_ = sysc["ours"][side], sysc["ss"][side]
            add("syscalls", side, sum(so.values()), sum(ss_.values()))
        if side == "server" and short.get("floor"):
            for m in ("cpu", "sys"):
                o = [r[m] for r in short["floor"]]
                s = [r[side][m] for r in short["ss"]]
                add("floor_dial_%s_us" % m, side, med(o), med(s), spread(o), spread(s))
        o = [r[side]["cpu"] for r in bulk["ours"]]
        s = [r[side]["cpu"] for r in bulk["ss"]]
        add("bulk_s_per_gb", side, med(o), med(s), spread(o, "%.3f"), spread(s, "%.3f"))
    o = [r["rate"] for r in short["ours"]]
    s = [r["rate"] for r in short["ss"]]
    add("short_rate_per_s", "both", med(o), med(s), spread(o), spread(s))
    o = [r["gbps"] for r in bulk["ours"]]
    s = [r["gbps"] for r in bulk["ss"]]
    add("bulk_gbps", "both", med(o), med(s), spread(o), spread(s))

    path = out / ("%s.csv" % stamp)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["metric", "side", "anytls-c", "ss-libev", "ratio", "anytls-c_range", "ss-libev_range", "commit"])
        for r in rows:
            w.writerow(r + [rev])
    get = {(r[0], r[1]): r for r in rows}

    md = ["# Cost per short stream: anytls-c vs shadowsocks-libev (%s)" % SS_METHOD, "",
          "commit `%s`, %s; %d streams x %d reps per pair (ABAB) at %d concurrent, 1 KiB reply, "
          "target closes after it; bulk: %d MiB x %d. Medians, range over reps in brackets. "
          "TIME_WAIT at phase starts: %s." % (
              rev, stamp, a.streams, a.reps, a.conc, a.bulk_bytes >> 20, a.bulk_reps,
              ", ".join(str(r["tw"]) for name in ("ours", "ss") for r in short[name])), "",
          "| metric | side | anytls-c | ss-libev | ratio |", "|---|---|---|---|---|"]
    for r in rows:
        md.append("| %s | %s | %s%s | %s%s | %s |" % (r[0], r[1], r[2], " [%s]" % r[5] if r[5] else "",
                                                     r[3], " [%s]" % r[6] if r[6] else "", r[4]))
    if short.get("floor"):
        md += ["", "floor_dial rows: the bare dial (loadgen --direct to the same target, %d streams at %d "
               "concurrent, its own CPU from getrusage) in the anytls-c column against ss-server: the "
               "target-side work any server pays per stream before its inbound side (TLS session or ss "
               "tunnel) costs anything." % (a.streams, a.conc)]
    if sysc:
        md += ["", "## Syscalls per stream (strace -c -f, %d streams)" % a.syscall_streams, ""]
        for side in ("client", "server"):
            for name in ("ours", "ss"):
                calls = sysc[name][side]
                top = sorted(calls.items(), key=lambda kv: -kv[1])
                md.append("- %s %s: %.1f total: %s" % (
                    "anytls" if name == "ours" else "ss", side, sum(calls.values()),
                    ", ".join("%s %.2f" % kv for kv in top if kv[1] >= 0.05)))
    if profiles:
        md += ["", "## Profiles (perf record -g, %d streams)" % a.perf_streams, "",
               "In `%s/`: per process `*-top.txt` (perf report, self), `*-children.txt` (inclusive), "
               "`*.folded` (folded stacks) and `*.svg` (flame graph)." % stamp]
    md += ["", "## Ratios", ""]
    ratios = ratio_lines(get)
    md += ["    " + line for line in ratios]
    (out / ("%s.md" % stamp)).write_text("\n".join(md) + "\n")
    (out / "latest.md").write_text("\n".join(md) + "\n")
    (out / "latest.csv").write_text(path.read_text())
    return path, ratios


def ratio_lines(get):
    c, s = get[("short_cpu_us", "client")], get[("short_cpu_us", "server")]
    bc, bs = get[("bulk_s_per_gb", "client")], get[("bulk_s_per_gb", "server")]
    floor = get.get(("floor_dial_cpu_us", "server"))
    extra = []
    if floor:
        room = 0.6 * float(s[3]) - float(floor[2])
        extra = ["server floor (bare dial) / ss-server: %s us / %s us = %s  (0.6 leaves %.0f us for the "
                 "session side)" % (floor[2], floor[3], floor[4], room)]
    return [
        "client CPU/stream / ss-local:   %s us / %s us = %s  (goal <= 0.6)" % (c[2], c[3], c[4]),
        "server CPU/stream / ss-server:  %s us / %s us = %s  (goal <= 0.6)" % (s[2], s[3], s[4]),
        "bulk CPU per GB, client:        %s s (ss-local %s s)  (goal <= 0.8)" % (bc[2], bc[3]),
        "bulk CPU per GB, server:        %s s (ss-server %s s)  (goal <= 0.8)" % (bs[2], bs[3]),
    ] + extra


def run_ab(a, mgr, work, tport):
    tw = TwBudget(a.tw_low, a.tw_wait, a.tw_total)
    dirs = [Path(d) if Path(d).is_absolute() else ROOT / d for d in a.ab]
    pairs = [start_ours(mgr, dirs[0], "A", a.workers_ab[0]), start_ours(mgr, dirs[1], "B", a.workers_ab[1])]
    for p in pairs:
        loadgen(p["socks_port"], tport, ["--closed-loop", str(a.conc), "--max-streams", "300",
                                         "--duration", "60", "--response-size", "1024"], 90)
    res = {p["name"]: {"short": [], "bulk": []} for p in pairs}
    for i in range(a.pairs):
        for p in (pairs if i % 2 == 0 else pairs[::-1]):
            if not a.ab_bulk_only:
                res[p["name"]]["short"].append(short_phase(p, tport, a, tw))
            if a.ab_bulk or a.ab_bulk_only:
                res[p["name"]]["bulk"].append(bulk_phase(p, tport, a, tw))
        log("pair %d/%d done" % (i + 1, a.pairs))
    print("A = %s   B = %s   workers %s   (%d pairs, ABAB; %d streams at %d concurrent per phase)" % (
        a.ab[0], a.ab[1], a.workers_ab, a.pairs, a.streams, a.conc))
    print("%-22s %-7s %20s %20s %7s  %s" % ("metric", "side", "A median [range]", "B median [range]", "B/A",
                                           "B/A per pair: median [range]"))
    for kind, metrics in (("short", ("cpu", "usr", "sys", "ctxsw")), ("bulk", ("cpu",))):
        if not res["A"][kind]:
            continue
        for side in ("client", "server"):
            for m in metrics:
                xa = [r[side][m] for r in res["A"][kind]]
                xb = [r[side][m] for r in res["B"][kind]]
                unit = {"short": "_us", "bulk": "_s/GB"}[kind] if m != "ctxsw" else ""
                fmt = "%.3f" if kind == "bulk" else "%.1f"
                sp = (lambda xs: (fmt + ".." + fmt) % (min(xs), max(xs)))
                pr = [b / x for x, b in zip(xa, xb) if x]   # phases adjacent in time share conditions
                print("%-22s %-7s %8s [%s] %8s [%s] %7.3f  %.3f [%.3f..%.3f] B lower in %d/%d" % (
                    "%s_%s%s" % (kind, m, unit), side, fmt % med(xa), sp(xa), fmt % med(xb), sp(xb),
                    med(xb) / med(xa) if med(xa) else float("nan"),
                    med(pr), min(pr or [0]), max(pr or [0]), sum(1 for r in pr if r < 1), len(pr)))
    if res["A"]["short"]:
        print("rates/s A: %s  B: %s" % ([round(r["rate"]) for r in res["A"]["short"]],
                                       [round(r["rate"]) for r in res["B"]["short"]]))
    if a.syscalls:
        for p in pairs:
            sc = syscall_phase(p, tport, a, work, tw)
            for side in ("client", "server"):
                top = sorted(sc[side].items(), key=lambda kv: -kv[1])
                print("syscalls %s %s: %.1f: %s" % (p["name"], side, sum(sc[side].values()),
                                                   ", ".join("%s %.2f" % kv for kv in top if kv[1] >= 0.05)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", type=int, default=4000, help="short streams per phase")
    ap.add_argument("--conc", type=int, default=8, help="concurrent streams (closed loop)")
    ap.add_argument("--reps", type=int, default=3, help="short-stream phases per pair, alternating")
    ap.add_argument("--bulk-bytes", type=int, default=1 << 30)
    ap.add_argument("--bulk-reps", type=int, default=2)
    ap.add_argument("--syscall-streams", type=int, default=500)
    ap.add_argument("--perf-streams", type=int, default=3000)
    ap.add_argument("--no-strace", action="store_true")
    ap.add_argument("--no-perf", action="store_true")
    ap.add_argument("--tw-low", type=int, default=500, help="TIME_WAIT count a phase waits for")
    ap.add_argument("--tw-wait", type=float, default=10, help="at most this long per phase, s")
    ap.add_argument("--tw-total", type=float, default=30, help="at most this long in all, s")
    ap.add_argument("--bin", default="build", help="directory of our binaries")
    ap.add_argument("--workers", type=int, default=0, help="our worker threads (0: cores)")
    ap.add_argument("--workers-ab", type=int, nargs=2, default=[0, 0], metavar=("WA", "WB"),
                    help="--ab: worker threads of A and B (0: cores)")
    ap.add_argument("--out", default=str(ROOT / "results" / "costs"))
    ap.add_argument("--ab", nargs=2, metavar=("DIR_A", "DIR_B"), help="compare two builds of ours")
    ap.add_argument("--pairs", type=int, default=3, help="--ab: A/B pairs")
    ap.add_argument("--ab-bulk", action="store_true", help="--ab: bulk downloads too")
    ap.add_argument("--ab-bulk-only", action="store_true", help="--ab: bulk downloads only")
    ap.add_argument("--syscalls", action="store_true", help="--ab: strace counts of each build")
    a = ap.parse_args()
    import shutil
    if not a.no_strace and not shutil.which("strace"):
        log("strace not found (Debian: strace): no syscall counts")
        a.no_strace = True
    if not a.no_perf and not shutil.which("perf"):
        log("perf not found (Debian: linux-perf): no profile")
        a.no_perf = True
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    t0 = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="anytls-costs-"))
    mgr = h.ProcManager(work)
    stamp = datetime.datetime.utcnow().strftime("%Y%m%dT%H%M%SZ")
    rev = commit()
    try:
        tport = h.free_port()
        mgr.start([str(ROOT / "build/bench/target"), "--listen", "127.0.0.1:%d" % tport, "--threads", "1",
                   "--quiet", "--duration", "3600", "--close-after-response"], "target", port=tport)
        if a.ab:
            run_ab(a, mgr, work, tport)
            return
        pairs, short, bulk, sysc, tw = run_costs(a, mgr, work, tport)
        outdir = Path(a.out) / stamp
        outdir.mkdir(parents=True, exist_ok=True)
        profiles = []
        if not a.no_perf:
            log("perf record -g: anytls-client, anytls-server")
            try:
                profiles = perf_phase(pairs[0], tport, a, outdir, tw)
            except (OSError, subprocess.SubprocessError, RuntimeError) as e:
                log("perf profile failed: %s" % e)
    finally:
        problems = mgr.stop_all()
        if problems:
            print("\n".join(problems), file=sys.stderr)
    path, ratios = write_outputs(a, stamp, rev, short, bulk, sysc, profiles, tw)
    print("cost per short stream, anytls-c %s vs shadowsocks-libev %s (%d s; %s, %s)" % (
        rev, SS_METHOD, time.monotonic() - t0, path.relative_to(ROOT) if path.is_relative_to(ROOT) else path,
        Path(a.out) / "latest.md"))
    for line in ratios:
        print("  " + line)


if __name__ == "__main__":
    main()
