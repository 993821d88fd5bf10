#!/usr/bin/env python3
"""The contention regime (issue 12, item 3): does the pool type change the maximum
stream rate the server sustains?

    python3 experiments/saturation.py [smoke|quick|full] [--workers 1,2] [--oversub 4]
        [--slo-ms 10] [--max-err 0.001] [--blocks N] [--out DIR] [--build DIR]
    python3 experiments/saturation.py --analyze RUN_DIR   (re-summarise a finished run)

For every pool type (`anytls-server --list-pool-types`) x worker count (--workers,
default 1 and 2; plus --oversub, default 2 x cores, a run with more workers than
cores, named "oversub-w<N>" in every output: preemption, not parallel scaling), in
blocks (a block runs every (type, workers) unit once, in a seeded random order; every
unit of a block gets the same load seeds), one unit is: bench/target (16 loopback
targets, Zipf 1, 64-byte responses), anytls-server with that pool type, then

  (i)   open-loop ramp: bench/loadgen --anytls (Poisson arrivals, straight to the
        server over AnyTLS sessions reused as the reference client does; no
        anytls-client in the chain, so the 2 cores go to the server, the load
        generator and the targets) at rates on a log grid, rate(i) = X_cal *
        2^((i - 16)/16) (X_cal: the calibration below). Up in coarse steps of 4
        (x1.19) from i = 8 until a step fails, then bisect between the last pass
        and the first failure down to one grid step (x1.044). A step fails when the
        failure-inclusive p99 open latency (loadgen open_all: failed or timed-out
        streams count at the timeout) exceeds the SLO (--slo-ms, 10 ms) or errors
        exceed --max-err (0.1%) of the arrivals. The knee = the highest passing
        rate (knee_rate); knee_interp interpolates log p99 to the SLO between it
        and the first failing rate (when that one failed on latency).
  (ii)  closed loop: loadgen --closed-loop C (C concurrent streams, each starting
        the next when done): saturation throughput in streams/s.
  (iii) server CPU per stream over (ii) (/proc/PID/task/*/schedstat, as runner.py),
        and the share of it in pool code: `perf record -g` on the server during one
        more closed-loop step (not counted in (ii)); share of samples whose leaf
        symbol is defined in pools/*.c (self) and whose call chain holds one
        (inclusive: also the locks, liburcu and syscalls the pool calls). The
        server has no counters that time pool operations, hence perf. If perf is
        unavailable or not permitted that is said in units.csv (pool_share_note)
        and on stderr, and the columns stay empty.

Which resource saturated: every step records the server's CPU (cores), the load
generator's (loadgen_cpu_util, its start lag p99), the target's, and the whole
machine's busy cores (/proc/stat). `saturated` = server (its CPU reached 90% of
min(workers, cores)), machine (all cores >= 90% busy, shared by server, load
generator and targets: the server's rate is then a lower bound), loadgen (the
generator used >= 90% of a core or lagged > 5 ms), or none.

Calibration: before the blocks, per worker count, a 1 s closed loop on `lock`
gives X_cal (recorded in env.txt and every row): the grid is the same for every
type and block, so equal rates carry equal load seeds across types.

Analysis: per (workers, type) the mean knee / closed-loop throughput with bootstrap
CIs over blocks; per block the log ratio of each type to `lock`, and a paired
bootstrap 95% CI of the ratio (experiments/stats.py). The question is answered per
worker count: "the pool type changes the maximum rate" only where a paired CI
excludes 1.

Output: RUN_DIR = results/raw/<yyyymmdd>-<sha>[-dirty]-saturation-<profile>/
  steps.csv   one row per loadgen run (ramp / closed / perf)
  units.csv   one row per (block, workers, type): knee, closed-loop rate, CPU, shares
  env.txt     machine, commit, provenance, design seed, calibration, profile
  runs/       logs and perf data (not committed)
and results/saturation_summary.csv (+ a table on stdout), results/latest-saturation.
Provenance: refuses a dirty tree or stale binaries unless ALLOW_DIRTY=1
(experiments/provenance.py), and then every row says DIRTY.
Profiles: smoke 1 block (a seconds-scale check), quick 2 blocks, full 5 blocks
(<= 12 min on 2 cores; the duration is printed and written to env.txt).
"""
import argparse
import csv
import datetime as dt
import json
import math
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pooltypes  # noqa: E402
import provenance  # noqa: E402
import runner  # noqa: E402  (process management: Proc, stop_all, ports, CPU from /proc)
import stats  # noqa: E402
import sweep as sweepmod  # noqa: E402

ROOT = runner.ROOT
NCPU = os.cpu_count() or 1

PROFILES = {
    #          blocks, step (s), warmup (s), closed (s), perf (s)
    # budget: no unit starts after this many seconds (a cut block is still paired
    # on the blocks every type completed); full measured 9-10 min on 2 cores
    "smoke": dict(blocks=1, step=0.6, warmup=0.2, closed=0.8, perf=0.8, budget=300),
    "quick": dict(blocks=2, step=0.8, warmup=0.2, closed=1.0, perf=1.0, budget=420),
    "full": dict(blocks=5, step=0.8, warmup=0.2, closed=1.0, perf=1.0, budget=660),
}
GRID_STEPS = 16        # grid points per doubling of the rate
GRID_REF = 16          # index of X_cal
RAMP_START = 8         # first ramp rate: X_cal * 2^(-8/16) = 0.71 X_cal
RAMP_COARSE = 4        # x1.19 per coarse step
GRID_MAX = 40
GRID_LOW = 32          # lowest rate tried: X_cal / 2^(48/16) = X_cal / 8
TARGETS = 16
RESPONSE = 64
MIN_IDLE = 4           # spares per target per worker (sweep.py's equal-spares rule)
MAX_CONNS = 2000
SPARE_DIALS = 1000000  # refill connects per second per worker: uncapped (see README)
CLOSED_PER_WORKER = 32
# streams multiplexed over this many AnyTLS sessions per server worker: a cold
# open loop that opens a session per waiting stream spends its first second in
# TLS handshakes (hundreds of them) and never reaches the rate being measured
SESSIONS_PER_WORKER = 16
LG_TIMEOUT = 2.0
SAT_FRAC = 0.9
PERF_HZ = 4999

STEP_COLUMNS = [
    "profile", "block", "order_pos", "wlabel", "workers", "oversub", "pool_type", "kind",
    "grid_idx", "rate", "load_seed", "closed_conc", "status", "reason",
    "arrivals", "streams_ok", "errors", "err_frac", "achieved_rate", "open_p50_us",
    "open_p99_us", "open_all_p99_us", "open_all_n", "failed_in_tail", "lag_p99_us",
    "loadgen_cpu_util", "server_cpu_s", "server_util", "server_cpu_us_per_stream",
    "target_util", "machine_busy_cores", "wall_s", "reuse_rate", "passed",
    "git_sha", "provenance", "design_seed", "x_cal",
]
UNIT_COLUMNS = [
    "profile", "block", "order_pos", "wlabel", "workers", "oversub", "pool_type", "status",
    "reason", "x_cal", "knee_rate", "knee_interp", "knee_reason", "first_fail_rate",
    "ramp_steps", "knee_p99_us", "closed_rate", "closed_p99_us", "server_cpu_us_per_stream",
    "server_util", "loadgen_util", "loadgen_lag_p99_us", "target_util", "machine_busy_cores",
    "saturated", "saturated_at_fail", "fail_server_util", "fail_machine_busy",
    "fail_loadgen_util", "fail_lag_p99_us", "reuse_rate_closed", "perf_samples", "pool_self_share",
    "pool_incl_share", "lock_leaf_share", "pool_us_per_stream", "pool_share_note", "git_sha", "provenance",
    "design_seed", "slo_ms", "max_err",
]

# ----------------------------------------------------------------- pure parts (tested)


def grid_rate(x_cal, idx):
    return x_cal * 2 ** ((idx - GRID_REF) / GRID_STEPS)


def ramp_next(results, start=RAMP_START, coarse=RAMP_COARSE, lo=-GRID_LOW, hi=GRID_MAX):
    """The next grid index to run, or None when the knee is pinned down.
    results: {grid index: passed (bool)} of the steps run so far. Up by `coarse`
    from `start` until a failure; if `start` fails, down by `coarse` until a pass
    (None below `lo`); then bisect between the highest pass below the lowest
    failure and that failure until they are adjacent."""
    if start not in results:
        return start
    fails = [i for i, ok in results.items() if not ok]
    if not fails:
        nxt = max(results) + coarse
        return nxt if nxt <= hi else None
    f = min(fails)
    passes = [i for i, ok in results.items() if ok and i < f]
    if not passes:
        nxt = f - coarse
        return nxt if nxt >= lo else None
    p = max(passes)
    if f - p <= 1:
        return None
    return (p + f) // 2


def knee(steps, slo_us, max_err):
    """steps: [{"rate", "p99_us" (failure-inclusive), "err_frac"}] of one ramp, any
    order. A step passes if p99 <= slo and err_frac <= max_err. Returns
    {"knee_rate": highest passing rate below the lowest failing one (None if the
    lowest step failed), "first_fail": that failing rate (None: no failure, the
    knee is a lower bound), "knee_interp": rate where log p99 crosses the SLO
    between the two (the knee itself if the failure was errors, or no failure),
    "reason": slo|errors|none|below_grid}."""
    s = sorted(steps, key=lambda r: r["rate"])
    ok = [r["p99_us"] <= slo_us and r["err_frac"] <= max_err for r in s]
    first_fail = next((i for i, o in enumerate(ok) if not o), None)
    if first_fail is None:
        k = s[-1] if s else None
        return {"knee_rate": k and k["rate"], "first_fail": None,
                "knee_interp": k and k["rate"], "reason": "none", "knee_p99_us": k and k["p99_us"]}
    f = s[first_fail]
    reason = "errors" if f["err_frac"] > max_err else "slo"
    if first_fail == 0:
        return {"knee_rate": None, "first_fail": f["rate"], "knee_interp": None,
                "reason": "below_grid", "knee_p99_us": None}
    p = s[first_fail - 1]
    interp = p["rate"]
    if reason == "slo" and p["p99_us"] > 0 and f["p99_us"] > p["p99_us"]:
        fr = (math.log(slo_us) - math.log(p["p99_us"])) / (math.log(f["p99_us"]) - math.log(p["p99_us"]))
        interp = p["rate"] + max(0.0, min(1.0, fr)) * (f["rate"] - p["rate"])
    return {"knee_rate": p["rate"], "first_fail": f["rate"], "knee_interp": interp,
            "reason": reason, "knee_p99_us": p["p99_us"]}


def classify(server_util, workers, machine_busy, ncpu, loadgen_util, lag_p99_us,
             frac=SAT_FRAC):
    """Which resource limited a saturated step (see the module doc)."""
    if server_util is not None and server_util >= frac * min(workers, ncpu):
        return "server"
    if machine_busy is not None and machine_busy >= frac * ncpu:
        return "machine"
    if (loadgen_util or 0) >= frac or (lag_p99_us or 0) > 5000:
        return "loadgen"
    return "none"


POOL_DSO = ("liburcu",)        # only pools/pool_lockfree.c links liburcu's functions in
LOCK_LEAF = ("pthread_mutex_", "pthread_rwlock_", "__pthread_mutex_", "__pthread_rwlock_",
             "___pthread_mutex_", "___pthread_rwlock_", "__lll_lock", "futex")


def pool_shares(script_text, pool_syms):
    """`perf script -F comm,tid,ip,sym,dso` output (call chains, leaf first) ->
    (samples, self share, inclusive share, lock-leaf share). self: the leaf frame
    is pool code (a symbol of pools/*.c, or liburcu, which only the lockfree pool
    calls); inclusive: any frame of the chain is. libc has no frame pointers, so a
    sample whose leaf is in libc (pthread_mutex_lock called by the lock pool) loses
    its callers: inclusive is a lower bound, and lock-leaf (leaf in a pthread
    mutex/rwlock or futex function, whoever called it) is reported beside it."""
    n = self_n = incl_n = lock_n = 0
    frames = []

    def flush():
        nonlocal n, self_n, incl_n, lock_n
        if not frames:
            return
        n += 1
        pool = [sym in pool_syms or any(d in dso for d in POOL_DSO) for sym, dso in frames]
        self_n += pool[0]
        incl_n += any(pool)
        lock_n += frames[0][0].startswith(LOCK_LEAF)

    for line in script_text.splitlines():
        if not line.strip():
            flush()
            frames = []
            continue
        if line[0] in " \t":
            parts = line.split()
            if len(parts) >= 2:
                sym = parts[1].split("+0x")[0]
                dso = parts[-1] if parts[-1].startswith("(") else ""
                frames.append((sym, dso))
        else:
            flush()
            frames = []
    flush()
    if not n:
        return 0, None, None, None
    return n, self_n / n, incl_n / n, lock_n / n


def pool_symbols(build):
    """Text symbols defined in pools/*.c (the objects make builds)."""
    syms = set()
    d = os.path.join(build, "pools")
    for fn in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if fn.endswith(".o"):
            r = subprocess.run(["nm", "--defined-only", os.path.join(d, fn)],
                               capture_output=True, text=True)
            for line in r.stdout.splitlines():
                p = line.split()
                if len(p) == 3 and p[1] in "tT":
                    syms.add(p[2])
    return syms


def wlabel(workers, ncpu=NCPU):
    return f"oversub-w{workers}" if workers > ncpu else f"w{workers}"

# ----------------------------------------------------------------- measuring


def machine_jiffies():
    with open("/proc/stat") as f:
        p = f.readline().split()[1:]
    v = [int(x) for x in p]
    # nice time counts as idle: what runs niced (a fuzzer at nice 19 / SCHED_IDLE
    # beside a long run) yields the CPU to the measured processes at nice 0, so it
    # does not make the machine "saturated"
    idle = v[3] + (v[4] if len(v) > 4 else 0) + v[1]
    return sum(v[:8]), idle


class Unit:
    """One (block, workers, type): target + server, up for all its steps."""

    def __init__(self, args, ptype, workers, rundir):
        self.args, self.ptype, self.workers, self.rundir = args, ptype, workers, rundir
        os.makedirs(rundir, exist_ok=True)
        B = args.build
        self.tport = runner.free_port("127.77.0.1")
        self.trange = f"127.77.0.1-127.77.0.{TARGETS}"
        self.target = runner.Proc("target", [f"{B}/bench/target", "--addrs", self.trange,
                                             "--port", str(self.tport), "--threads", "1",
                                             "--response-size", str(RESPONSE)],
                                  os.path.join(rundir, "target.log"))
        runner.wait_for(lambda: "ready" in self.target.text(), 5, "target", self.target)
        self.sport, self.mport = runner.free_port(), runner.free_port()
        cell = {"pool_type": ptype, "min_idle": MIN_IDLE, "workers": workers, "spares": "worker"}
        self.server = runner.Proc("server", [
            f"{B}/anytls-server", "-l", f"127.0.0.1:{self.sport}", "-p", runner.PASSWORD,
            "--pool-type", ptype, "--max-outbound-connections", str(MAX_CONNS),
            "--max-idle-time-secs", "60", "--min-idle-connections",
            str(sweepmod.min_idle_flag(cell)), "--max-spare-dials", str(SPARE_DIALS),
            "--stats-interval-secs", "60", "--drain-timeout-secs", "1",
            "--metrics-listen", f"127.0.0.1:{self.mport}", "--workers", str(workers),
            "--log-level", "warn"], os.path.join(rundir, "server.log"))
        runner.wait_for(runner.tcp_ready("127.0.0.1", self.sport), 10, "server", self.server)

    def step(self, kind, name, rate=None, closed=None, duration=1.0, warmup=0.2, seed=1,
             perf_out=None):
        """One loadgen run; returns a dict of the step's measurements."""
        B = self.args.build
        argv = [f"{B}/bench/loadgen", "--duration", f"{duration:g}", "--warmup", f"{warmup:g}",
                "--target-range", f"{self.trange}:{self.tport}", "--zipf", "1",
                "--anytls", f"127.0.0.1:{self.sport}", "--password", runner.PASSWORD,
                "--response-size", str(RESPONSE), "--timeout", f"{LG_TIMEOUT:g}",
                "--drain", f"{LG_TIMEOUT:g}", "--seed", str(seed), "--json", "--quiet",
                "--anytls-sessions", str(SESSIONS_PER_WORKER * self.workers),
                "--label", name]
        argv += ["--closed-loop", str(closed)] if closed else ["--rate", f"{rate:.1f}"]
        m0 = runner.scrape_metrics(self.mport) or {}
        s0, t0 = runner.proc_cpu(self.server.pid), runner.proc_cpu(self.target.pid)
        j0 = machine_jiffies()
        w0 = time.monotonic()
        perf = None
        if perf_out:
            # attached to the server's threads until SIGINT after the load
            perf = runner.Proc("perf", ["perf", "record", "-F", str(PERF_HZ), "-g", "-q",
                                        "-o", perf_out, "-p", str(self.server.pid)],
                               os.path.join(self.rundir, f"{name}.perf.log"))
            time.sleep(0.3)  # perf attaches to every thread before the load starts
        rc, lgtext = runner.run_loadgen(argv, os.path.join(self.rundir, f"{name}.log"),
                                        warmup + duration + 2 * LG_TIMEOUT + 15)
        wall = time.monotonic() - w0
        j1 = machine_jiffies()
        s1, t1 = runner.proc_cpu(self.server.pid), runner.proc_cpu(self.target.pid)
        m1 = runner.scrape_metrics(self.mport) or {}
        if perf is not None:
            prc = perf.stop(signal.SIGINT, timeout=10)
            if prc not in (0, None) and not os.path.exists(perf_out):
                perf_out = None
        js = [l for l in lgtext.splitlines() if l.startswith("{")]
        if rc != 0 or not js:
            raise RuntimeError(f"loadgen rc {rc}: " + lgtext[-300:].replace("\n", " | "))
        if not self.server.alive():
            raise RuntimeError("server died: " + self.server.text()[-300:].replace("\n", " | "))
        L = json.loads(js[-1])
        oa = L.get("open_all_us") or {}
        scpu = (s1[1] - s0[1]) if s0[1] is not None and s1[1] is not None else None
        tcpu = (t1[1] - t0[1]) if t0[1] is not None and t1[1] is not None else None
        tot, idle = j1[0] - j0[0], j1[1] - j0[1]
        streams = L["streams_ok"] + L["warmup"]["ok"]
        d = lambda k: m1.get(k, 0.0) - m0.get(k, 0.0)  # noqa: E731
        reu, new = d("anytls_pool_connections_total/reused"), d("anytls_pool_connections_total/new")
        arr = max(1, L["arrivals"])
        return {
            "kind": kind, "rate": round(rate, 1) if rate else "", "closed_conc": closed or "",
            "arrivals": L["arrivals"], "streams_ok": L["streams_ok"], "errors": L["errors"],
            "err_frac": round(L["errors"] / arr, 6), "achieved_rate": L["achieved_rate"],
            "open_p50_us": L["open_us"]["p50"], "open_p99_us": L["open_us"]["p99"],
            "open_all_p99_us": oa.get("p99", L["open_us"]["p99"]), "open_all_n": oa.get("n", ""),
            "failed_in_tail": oa.get("failed", ""), "lag_p99_us": L["lag_us"]["p99"],
            "loadgen_cpu_util": L["loadgen_cpu_util"],
            "server_cpu_s": round(scpu, 4) if scpu is not None else "",
            "server_util": round(scpu / wall, 3) if scpu is not None else "",
            "server_cpu_us_per_stream": round(scpu * 1e6 / streams, 2) if scpu and streams else "",
            "target_util": round(tcpu / wall, 3) if tcpu is not None else "",
            "machine_busy_cores": round(NCPU * (tot - idle) / tot, 3) if tot > 0 else "",
            "wall_s": round(wall, 3),
            "reuse_rate": round(reu / (reu + new), 4) if reu + new > 0 else "",
            "_perf": perf_out,
        }

    def stop(self):
        for pr in (self.server, self.target):
            if pr.pid in runner.LIVE:
                pr.stop(signal.SIGTERM, timeout=5)


def perf_available():
    try:
        r = subprocess.run(["perf", "record", "-q", "-o", "/dev/null", "--", "true"],
                           capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as e:
        return f"perf not runnable ({e})"
    if r.returncode != 0:
        return "perf not permitted: " + (r.stderr.strip().splitlines() or ["?"])[-1][:160]
    return None


def analyze_perf(path, syms):
    """(samples, self, inclusive, lock-leaf share, note) of one perf.data."""
    try:
        r = subprocess.run(["perf", "script", "-i", path, "--no-inline", "-F",
                            "comm,tid,ip,sym,dso"], capture_output=True, text=True, timeout=180)
    except (OSError, subprocess.SubprocessError) as e:
        return 0, None, None, None, f"perf script failed: {e}"
    if r.returncode != 0:
        return 0, None, None, None, "perf script failed: " + r.stderr.strip()[-160:]
    n, s, i, lk = pool_shares(r.stdout, syms)
    return n, s, i, lk, ("" if n else "no samples")

# ----------------------------------------------------------------- the run


def unit_row(args, steps, closed, perfres, base):
    ramp = [s for s in steps if s["kind"] == "ramp" and s["status"] == "ok"]
    k = knee([{"rate": s["rate"], "p99_us": s["open_all_p99_us"], "err_frac": s["err_frac"]}
              for s in ramp], args.slo_ms * 1000, args.max_err)
    row = dict(base)
    row.update({"knee_rate": k["knee_rate"] or "", "knee_interp": round(k["knee_interp"], 1)
                if k["knee_interp"] else "", "knee_reason": k["reason"],
                "first_fail_rate": k["first_fail"] or "", "ramp_steps": len(ramp),
                "knee_p99_us": k["knee_p99_us"] or ""})
    ff = [s for s in ramp if s["rate"] == k["first_fail"]]
    if ff:
        f = ff[0]
        row.update({"fail_server_util": f["server_util"], "fail_machine_busy": f["machine_busy_cores"],
                    "fail_loadgen_util": f["loadgen_cpu_util"], "fail_lag_p99_us": f["lag_p99_us"]})
        row["saturated_at_fail"] = classify(f["server_util"] or None, base["workers"],
                                            f["machine_busy_cores"] or None, NCPU,
                                            f["loadgen_cpu_util"], f["lag_p99_us"])
    if closed:
        c = closed
        row.update({"closed_rate": c["achieved_rate"], "closed_p99_us": c["open_all_p99_us"],
                    "server_cpu_us_per_stream": c["server_cpu_us_per_stream"],
                    "server_util": c["server_util"], "loadgen_util": c["loadgen_cpu_util"],
                    "loadgen_lag_p99_us": c["lag_p99_us"], "target_util": c["target_util"],
                    "machine_busy_cores": c["machine_busy_cores"],
                    "reuse_rate_closed": c["reuse_rate"],
                    "saturated": classify(c["server_util"] or None, base["workers"],
                                          c["machine_busy_cores"] or None, NCPU,
                                          c["loadgen_cpu_util"], 0)})
    n, s, i, lk, note = perfres
    row.update({"perf_samples": n, "pool_self_share": "" if s is None else round(s, 5),
                "pool_incl_share": "" if i is None else round(i, 5),
                "lock_leaf_share": "" if lk is None else round(lk, 5), "pool_share_note": note})
    cps = row.get("server_cpu_us_per_stream")
    if i is not None and cps not in (None, ""):
        row["pool_us_per_stream"] = round(i * float(cps), 3)
    return row


def run(args):
    types = list(pooltypes.types(args.build))
    prof = PROFILES[args.profile]
    blocks = args.blocks or prof["blocks"]
    wcounts = [int(x) for x in args.workers.split(",") if x]
    oversub = [int(x) for x in args.oversub.split(",") if x] if args.oversub else []
    wall = [(w, False) for w in wcounts] + [(w, True) for w in oversub]
    prov, problems = provenance.check(args.build)
    for p_ in problems:
        print(f"saturation: provenance: {p_}", file=sys.stderr)
    if problems and not provenance.allow_dirty():
        print("saturation: REFUSED: commit and rebuild (or ALLOW_DIRTY=1, recorded as DIRTY)",
              file=sys.stderr)
        return 3
    sha = prov["git_sha"][:7] + ("" if prov["provenance"] == "clean" else "-dirty")
    out = args.out or os.path.join(ROOT, "results", "raw",
                                   f"{dt.datetime.utcnow():%Y%m%d}-{sha}-saturation-{args.profile}")
    if os.path.exists(os.path.join(out, "units.csv")):
        print(f"saturation: {out} already holds a run; use another --out", file=sys.stderr)
        return 2
    os.makedirs(out, exist_ok=True)
    out = os.path.realpath(out)
    if out.startswith(os.path.join(ROOT, "results", "raw") + os.sep):
        link = os.path.join(ROOT, "results", "latest-saturation")
        if os.path.islink(link) or not os.path.exists(link):
            if os.path.islink(link):
                os.remove(link)
            os.symlink(os.path.relpath(out, os.path.join(ROOT, "results")), link)
    seed = args.design_seed if args.design_seed is not None else (
        int(os.environ["DESIGN_SEED"]) if os.environ.get("DESIGN_SEED")
        else int.from_bytes(os.urandom(4), "big"))
    perf_note = None if args.no_perf else perf_available()
    if args.no_perf:
        perf_note = "perf disabled (--no-perf)"
    if perf_note:
        print(f"saturation: POOL SHARE UNAVAILABLE: {perf_note}; CPU per stream only",
              file=sys.stderr)
    syms = pool_symbols(args.build)
    if not syms and not perf_note:
        perf_note = f"no pool symbols found in {args.build}/pools/*.o"
    T0 = time.monotonic()
    signal.signal(signal.SIGTERM, runner.on_signal)
    signal.signal(signal.SIGINT, runner.on_signal)
    signal.signal(signal.SIGHUP, runner.on_signal)
    rc = 0
    step_rows, unit_rows, perf_jobs = [], [], []
    common = {"profile": args.profile, "git_sha": prov["git_sha"],
              "provenance": prov["provenance"], "design_seed": seed}
    x_cal = {}
    try:
        # ---- calibration: X_cal per worker count (closed loop on lock, or the first type)
        cal_type = "lock" if "lock" in types else types[0]
        for w, ov in wall:
            u = Unit(args, cal_type, w, os.path.join(out, "runs", f"calibrate-{wlabel(w)}"))
            try:
                s = u.step("cal", f"cal-{wlabel(w)}", closed=CLOSED_PER_WORKER * w,
                           duration=prof["closed"], warmup=prof["warmup"], seed=1)
            finally:
                u.stop()
            x_cal[w] = round(s["achieved_rate"], 1)
            print(f"saturation: calibration {wlabel(w)} ({cal_type}, closed loop "
                  f"{CLOSED_PER_WORKER * w}): {x_cal[w]:.0f} streams/s, server "
                  f"{s['server_util']} cores, machine {s['machine_busy_cores']} busy",
                  file=sys.stderr)
        units = [(w, ov, t) for w, ov in wall for t in types]
        todo = []
        for b in range(1, blocks + 1):
            order = list(units)
            random.Random(f"{seed}-order-{b}").shuffle(order)
            todo += [(b, pos, w, ov, t) for pos, (w, ov, t) in enumerate(order, 1)]
        for n_done, (b, pos, w, ov, t) in enumerate(todo):
            limit = args.max_seconds or prof["budget"]
            if limit and time.monotonic() - T0 > limit:
                print(f"saturation: time budget {limit:g}s reached; {len(todo) - n_done} units "
                      "not run (their blocks are unpaired for the types they miss)", file=sys.stderr)
                rc = 4
                break
            base = dict(common, block=b, order_pos=pos, wlabel=wlabel(w), workers=w,
                        oversub=int(ov), pool_type=t, x_cal=x_cal[w])
            name = f"b{b}-{wlabel(w)}-{t}"
            rundir = os.path.join(out, "runs", name)
            tu = time.monotonic()
            steps, closed, perf_path = [], None, None
            try:
                u = Unit(args, t, w, rundir)
                try:
                    res = {}
                    while True:
                        i = ramp_next(res)
                        if i is None:
                            break
                        rate = grid_rate(x_cal[w], i)
                        ls = random.Random(f"{seed}-load-{b}-{i}").randrange(1, 2 ** 31)
                        s = u.step("ramp", f"ramp-i{i}", rate=rate, duration=prof["step"],
                                   warmup=prof["warmup"], seed=ls)
                        s.update(base, grid_idx=i, load_seed=ls, status="ok", reason="")
                        s["passed"] = int(s["open_all_p99_us"] <= args.slo_ms * 1000
                                          and s["err_frac"] <= args.max_err)
                        res[i] = bool(s["passed"])
                        steps.append(s)
                        time.sleep(0.15)  # let an overloaded step's backlog drain
                    ls = random.Random(f"{seed}-load-{b}-closed").randrange(1, 2 ** 31)
                    closed = u.step("closed", "closed", closed=CLOSED_PER_WORKER * w,
                                    duration=prof["closed"], warmup=prof["warmup"], seed=ls)
                    closed.update(base, grid_idx="", load_seed=ls, status="ok", reason="")
                    steps.append(closed)
                    if not perf_note:
                        perf_path = os.path.join(rundir, "perf.data")
                        ps = u.step("perf", "perf", closed=CLOSED_PER_WORKER * w,
                                    duration=prof["perf"], warmup=prof["warmup"], seed=ls,
                                    perf_out=perf_path)
                        ps.update(base, grid_idx="", load_seed=ls, status="ok", reason="")
                        perf_path = ps["_perf"]
                        steps.append(ps)
                finally:
                    u.stop()
                base["status"], base["reason"] = "ok", ""
            except Exception as e:  # noqa: BLE001 (a broken unit is a failed row)
                base["status"], base["reason"] = "failed", str(e)[:300].replace(",", ";")
                rc = 1
            step_rows += steps
            unit_rows.append((base, steps, closed, perf_path))
            k = knee([{"rate": s["rate"], "p99_us": s["open_all_p99_us"], "err_frac": s["err_frac"]}
                      for s in steps if s["kind"] == "ramp"], args.slo_ms * 1000, args.max_err)
            el = time.monotonic() - T0
            eta = el / (n_done + 1) * (len(todo) - n_done - 1)
            msg = (f"knee {k['knee_rate'] or 0:.0f}/s ({k['reason']}, {len(steps) - 2} ramp steps) "
                   f"closed {closed['achieved_rate']:.0f}/s server {closed['server_util']} cores "
                   f"{closed['server_cpu_us_per_stream']} us/stream machine "
                   f"{closed['machine_busy_cores']} loadgen {closed['loadgen_cpu_util']}"
                   if closed else f"FAILED: {base['reason']}")
            print(f"[saturation {n_done + 1}/{len(todo)} {el:.0f}s eta {runner.fmt_eta(eta)}] "
                  f"block {b} {wlabel(w)} {t}: {msg} ({time.monotonic() - tu:.1f}s)",
                  file=sys.stderr)
    except runner.Interrupted as e:
        print(f"saturation: interrupted ({e})", file=sys.stderr)
        rc = 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        runner.stop_all()
    t_meas = time.monotonic() - T0
    # ---- perf analysis after the load (perf script costs CPU)
    rows = []
    for base, steps, closed, perf_path in unit_rows:
        if perf_note:
            pr = (0, None, None, None, perf_note)
        elif perf_path and os.path.exists(perf_path):
            pr = analyze_perf(perf_path, syms)
        else:
            pr = (0, None, None, None, "perf recorded nothing")
        rows.append(unit_row(args, steps, closed, pr, dict(base, slo_ms=args.slo_ms,
                                                            max_err=args.max_err)))
    with open(os.path.join(out, "steps.csv"), "w", newline="") as f:
        w_ = csv.DictWriter(f, fieldnames=STEP_COLUMNS, extrasaction="ignore")
        w_.writeheader()
        for s in step_rows:
            w_.writerow(dict(common, **s))
    with open(os.path.join(out, "units.csv"), "w", newline="") as f:
        w_ = csv.DictWriter(f, fieldnames=UNIT_COLUMNS, extrasaction="ignore")
        w_.writeheader()
        w_.writerows(rows)
    total = time.monotonic() - T0
    env = [f"date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}",
           f"profile: {args.profile} ({blocks} blocks; step {prof['step']}s + warmup "
           f"{prof['warmup']}s, closed {prof['closed']}s, perf {prof['perf']}s)",
           f"git_sha: {prov['git_sha']}", f"git_dirty: {prov['git_dirty']}",
           f"git_dirty_files: {prov['git_dirty_files'] or '-'}",
           f"build_version: {prov['build_version']}", f"build_stale: {prov['build_stale']}",
           f"allow_dirty: {prov['allow_dirty']}", f"provenance: {prov['provenance']}",
           f"design_seed: {seed}", f"cores_online: {NCPU}",
           f"cpu_model: {_cpu_model()}",
           f"pool_types: {' '.join(types)}",
           "workers: " + " ".join(wlabel(w) for w, _ in wall),
           "calibration: " + " ".join(f"{wlabel(w)}={x:g}/s" for w, x in x_cal.items()),
           f"slo: open_all p99 <= {args.slo_ms:g} ms and errors <= {args.max_err * 100:g}% of arrivals",
           f"load: loadgen --anytls (no anytls-client), {TARGETS} loopback targets Zipf 1, "
           f"{RESPONSE}-byte responses, closed loop {CLOSED_PER_WORKER}/worker; server "
           f"--min-idle-connections {MIN_IDLE}/worker (equal spares), --max-spare-dials "
           f"{SPARE_DIALS}, --max-outbound-connections {MAX_CONNS}; rtt 0",
           f"grid: rate(i) = X_cal * 2^((i-{GRID_REF})/{GRID_STEPS}); ramp from i={RAMP_START} "
           f"by {RAMP_COARSE}, then bisection to 1 grid step",
           f"perf: {perf_note or f'perf record -F {PERF_HZ} -g -p SERVER during one extra closed-loop step'}",
           f"pool_symbols: {len(syms)} text symbols in {args.build}/pools/*.o",
           f"duration_s: {total:.0f} (load {t_meas:.0f}, perf analysis {total - t_meas:.0f})"]
    with open(os.path.join(out, "env.txt"), "w") as f:
        f.write("\n".join(env) + "\n")
    print(f"saturation: {args.profile}: {len(rows)} units in {total:.0f}s "
          f"({total / 60:.1f} min) -> {os.path.relpath(out, ROOT)}", file=sys.stderr)
    summarize(out, args.summary_out)
    return rc


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"

# ----------------------------------------------------------------- analysis


def _f(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def summarize(run_dir, summary_out=None):
    """units.csv -> SUMMARY (default results/saturation_summary.csv) + table."""
    with open(os.path.join(run_dir, "units.csv"), newline="") as f:
        U = [r for r in csv.DictReader(f) if r["status"] == "ok"]
    env = {}
    with open(os.path.join(run_dir, "env.txt")) as f:
        for line in f:
            if ":" in line:
                k, v = line.split(":", 1)
                env[k.strip()] = v.strip()
    if not U:
        print("saturation: no ok units to summarise", file=sys.stderr)
        return None
    types = pooltypes.ordered({r["pool_type"] for r in U})
    wls = sorted({(int(r["workers"]), r["wlabel"]) for r in U})
    metrics = [("knee_interp", "knee"), ("closed_rate", "closed"),
               ("server_cpu_us_per_stream", "cpu_us"), ("pool_incl_share", "pool_incl"),
               ("pool_self_share", "pool_self"), ("lock_leaf_share", "lock_leaf")]
    out = []
    for w, wl in wls:
        by = {t: {int(r["block"]): r for r in U if r["pool_type"] == t and r["wlabel"] == wl}
              for t in types}
        for t in types:
            rs = by[t]
            row = {"wlabel": wl, "workers": w, "oversub": int(w > int(env.get("cores_online", NCPU))),
                   "pool_type": t, "blocks": len(rs)}
            for k, short in metrics:
                xs = [_f(r.get(k)) for r in rs.values() if _f(r.get(k)) is not None]
                est, ci = stats.bootstrap_ci(xs) if xs else (None, None)
                row[f"{short}_mean"] = "" if est is None or (isinstance(est, float) and math.isnan(est)) else round(est, 4)
                row[f"{short}_lo"] = "" if ci is None else round(ci[0], 4)
                row[f"{short}_hi"] = "" if ci is None else round(ci[1], 4)
            sat = [r["saturated"] for r in rs.values() if r["saturated"]]
            row["saturated"] = max(set(sat), key=sat.count) if sat else ""
            row["saturated_counts"] = ";".join(f"{s}={sat.count(s)}" for s in sorted(set(sat)))
            sf = [r["saturated_at_fail"] for r in rs.values() if r.get("saturated_at_fail")]
            row["saturated_at_knee"] = max(set(sf), key=sf.count) if sf else ""
            for k in ("server_util", "loadgen_util", "machine_busy_cores", "target_util",
                      "reuse_rate_closed", "fail_server_util", "fail_machine_busy",
                      "fail_loadgen_util", "fail_lag_p99_us"):
                xs = [_f(r.get(k)) for r in rs.values() if _f(r.get(k)) is not None]
                row[f"{k}_mean"] = round(stats.mean(xs), 3) if xs else ""
            notes = {r["pool_share_note"] for r in rs.values() if r["pool_share_note"]}
            row["pool_share_note"] = "; ".join(sorted(notes))
            # paired vs lock: per-block ratios, bootstrap CI
            for k, short in (("knee_interp", "knee"), ("closed_rate", "closed")):
                if t == "lock" or "lock" not in by:
                    row[f"{short}_ratio_vs_lock"] = ""
                    row[f"{short}_ratio_lo"] = row[f"{short}_ratio_hi"] = ""
                    row[f"{short}_verdict"] = "reference" if t == "lock" else ""
                    continue
                a = {b: _f(r[k]) for b, r in rs.items() if _f(r[k])}
                c = {b: _f(r[k]) for b, r in by["lock"].items() if _f(r[k])}
                p = stats.paired(a, c, log=True)
                if p is None:
                    row[f"{short}_ratio_vs_lock"] = row[f"{short}_ratio_lo"] = row[f"{short}_ratio_hi"] = ""
                    row[f"{short}_verdict"] = "no common block"
                    continue
                row[f"{short}_ratio_vs_lock"] = round(p["est"], 4)
                row[f"{short}_ratio_lo"] = "" if p["ci"] is None else round(p["ci"][0], 4)
                row[f"{short}_ratio_hi"] = "" if p["ci"] is None else round(p["ci"][1], 4)
                if p["ci"] is None or p["n"] < 3:
                    row[f"{short}_verdict"] = f"inconclusive (n={p['n']} blocks)"
                elif p["ci"][0] > 1:
                    row[f"{short}_verdict"] = "higher than lock"
                elif p["ci"][1] < 1:
                    row[f"{short}_verdict"] = "lower than lock"
                else:
                    row[f"{short}_verdict"] = "no detectable difference"
                row[f"{short}_blocks_paired"] = p["n"]
            row.update({"slo_ms": env.get("slo", ""), "profile": env.get("profile", "").split()[0],
                        "duration_s": env.get("duration_s", "").split()[0],
                        "git_sha": env.get("git_sha", ""), "provenance": env.get("provenance", ""),
                        "source": os.path.basename(os.path.realpath(run_dir))})
            out.append(row)
    path = summary_out or os.path.join(ROOT, "results", "saturation_summary.csv")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    cols = []
    for r in out:
        cols += [k for k in r if k not in cols]
    with open(path, "w", newline="") as f:
        w_ = csv.DictWriter(f, fieldnames=cols, restval="")
        w_.writeheader()
        w_.writerows(out)
    print_table(out, env)
    print(f"saturation: summary -> {os.path.relpath(os.path.abspath(path), ROOT)}", file=sys.stderr)
    return out


def print_table(out, env, f=sys.stdout):
    def ci(r, k, d=0):
        m, lo, hi = r[f"{k}_mean"], r[f"{k}_lo"], r[f"{k}_hi"]
        if m == "":
            return "n/a"
        return f"{m:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]" if lo != "" else f"{m:.{d}f} (n=1)"

    def rat(r, k):
        if r.get(f"{k}_verdict") == "reference":
            return "1 (reference)"
        if r[f"{k}_ratio_vs_lock"] == "":
            return r.get(f"{k}_verdict", "") or "n/a"
        lo, hi = r[f"{k}_ratio_lo"], r[f"{k}_ratio_hi"]
        s = f"{r[f'{k}_ratio_vs_lock']:.3f}"
        return s + (f" [{lo:.3f}, {hi:.3f}]" if lo != "" else "") + f" {r[f'{k}_verdict']}"

    print(f"\nsaturation ({env.get('profile', '?')}; commit {env.get('git_sha', '?')[:10]} "
          f"{env.get('provenance', '')}; SLO: {env.get('slo', '?')}; {env.get('duration_s', '?')}):",
          file=f)
    print("  knee = max sustainable open-loop rate (interpolated to the SLO); closed = closed-loop "
          "saturation throughput; [95% bootstrap CI over blocks]; ratio vs lock: paired by block;\n"
          "  pool/locks = perf samples of the server in pool code (inclusive) / with a pthread "
          "lock or futex leaf (any caller); srv/mach/lg = server cores, machine busy cores, "
          "loadgen cores in the closed loop; saturated = closed loop / first failing ramp step "
          "(server, machine, loadgen: see the module doc)", file=f)
    hdr = (f"  {'workers':<11} {'type':<9} {'n':>2} {'knee /s':>22} {'closed /s':>22} "
           f"{'cpu us/stream':>20} {'pool/locks':>13} {'srv/mach/lg':>15} {'saturated':>16}  "
           f"knee ratio vs lock | closed ratio vs lock")
    print(hdr, file=f)
    for r in out:
        share = (f"{r['pool_incl_mean'] * 100:.2f}%" if r["pool_incl_mean"] != "" else "n/a") + "/" + \
            (f"{r['lock_leaf_mean'] * 100:.2f}%" if r["lock_leaf_mean"] != "" else "n/a")
        utl = "/".join("-" if r[k] == "" else f"{r[k]:.2f}" for k in
                       ("server_util_mean", "machine_busy_cores_mean", "loadgen_util_mean"))
        print(f"  {r['wlabel']:<11} {r['pool_type']:<9} {r['blocks']:>2} {ci(r, 'knee'):>22} "
              f"{ci(r, 'closed'):>22} {ci(r, 'cpu_us', 1):>20} {share:>13} {utl:>15} "
              f"{r['saturated'] + '/' + (r['saturated_at_knee'] or '-'):>16}  {rat(r, 'knee')} | "
              f"{rat(r, 'closed')}", file=f)
    for wl in dict.fromkeys(r["wlabel"] for r in out):
        rs = [r for r in out if r["wlabel"] == wl and r["pool_type"] != "lock"]
        diff = [r["pool_type"] for r in rs for k in ("knee", "closed")
                if r[f"{k}_verdict"] in ("higher than lock", "lower than lock")]
        inc = any("inconclusive" in r[f"{k}_verdict"] for r in rs for k in ("knee", "closed"))
        sat = {r["saturated"] for r in out if r["wlabel"] == wl} | \
            {r["saturated_at_knee"] for r in out if r["wlabel"] == wl}
        verdict = ("inconclusive: too few blocks for a paired CI" if inc and not diff else
                   f"YES for {', '.join(sorted(set(diff)))} (a paired CI excludes 1)" if diff else
                   "no: every paired CI vs lock includes 1")
        npair = [r.get(f"{k}_blocks_paired") for r in rs for k in ("knee", "closed")
                 if r.get(f"{k}_blocks_paired")]
        caveats = []
        if npair and min(npair) < 5:
            caveats.append(f"{min(npair)} paired blocks: the bootstrap CI under-covers, indicative only")
        if "machine" in sat:
            caveats.append("the machine saturated (server, load generator and target share the "
                           "cores): the rate is the chain's on this machine, not the server's alone")
        if wl.startswith("oversub"):
            caveats.append("OVERSUBSCRIBED: more workers than cores")
        print(f"  {wl}: does the pool type change the maximum rate? {verdict}; "
              f"saturated: {', '.join(sorted(s for s in sat if s)) or '?'}"
              + "".join(f"\n      ({c})" for c in caveats), file=f)


def plot_data(res, dd, write):
    """For experiments/plotdata.py: the figure `saturation` from
    RES/saturation_summary.csv (write = plotdata.write). Returns the names made."""
    p = os.path.join(res, "saturation_summary.csv")
    if not os.path.exists(p):
        return []
    with open(p, newline="") as f:
        S = list(csv.DictReader(f))
    if not S:
        return []
    wls = [w for _, w in sorted({(int(r["workers"]), r["wlabel"]) for r in S})]
    types = pooltypes.ordered({r["pool_type"] for r in S})
    blocks = []
    for t in types:
        b = []
        for x, wl in enumerate(wls, 1):
            r = next((r for r in S if r["pool_type"] == t and r["wlabel"] == wl), None)
            if r is None:
                continue
            ref = t == "lock"

            def v3(m, lo, hi):  # (mean, lo, hi); no CI (one block): a bare point
                if ref and m.endswith("ratio_vs_lock"):
                    return (1.0, 1.0, 1.0)
                mv = _f(r.get(m))
                lv, hv = _f(r.get(lo)), _f(r.get(hi))
                if mv is None:
                    return (None, None, None)
                return (mv, mv if lv is None else lv, mv if hv is None else hv)
            b.append((x,) + v3("knee_mean", "knee_lo", "knee_hi")
                     + v3("closed_mean", "closed_lo", "closed_hi")
                     + v3("knee_ratio_vs_lock", "knee_ratio_lo", "knee_ratio_hi")
                     + v3("closed_ratio_vs_lock", "closed_ratio_lo", "closed_ratio_hi"))
        blocks.append(b)
    r0 = S[0]
    desc = (f"{r0.get('profile', '')} profile, {r0.get('blocks', '?')} blocks, commit "
            f"{r0.get('git_sha', '')[:7]} {r0.get('provenance', '')}; SLO {r0.get('slo_ms', '')}")
    xt = ", ".join(f'"{w}{" (OVERSUBSCRIBED)" if w.startswith("oversub") else ""}" {i}'
                   for i, w in enumerate(wls, 1))
    desc = desc.replace("_", "-").replace('"', "'")  # enhanced text: _ is a subscript
    ok = write(dd, "saturation", blocks, types, {"desc": f'"{desc}"', "nx": len(wls),
                                                "xt": f"'set xtics ({xt})'"})
    return ["saturation"] if ok else []


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("profile", nargs="?", default="quick", choices=sorted(PROFILES))
    ap.add_argument("--workers", default="1,2",
                    help="worker counts (<= cores: the contention runs), comma-separated")
    ap.add_argument("--oversub", default=str(2 * NCPU),
                    help="oversubscribed worker counts (> cores), labelled oversub-w<N>; '' for none")
    ap.add_argument("--slo-ms", type=float, default=10.0, help="p99 open latency SLO (open_all)")
    ap.add_argument("--max-err", type=float, default=0.001, help="error fraction allowed per step")
    ap.add_argument("--blocks", type=int, default=0, help="override the profile's blocks")
    ap.add_argument("--out", help="run directory (default results/raw/<date>-<sha>-saturation-<profile>)")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--summary-out", help="summary CSV (default results/saturation_summary.csv)")
    ap.add_argument("--max-seconds", type=float, default=0,
                    help="start no unit after this long (default: the profile's budget)")
    ap.add_argument("--design-seed", type=int)
    ap.add_argument("--no-perf", action="store_true", help="skip perf (no pool share)")
    ap.add_argument("--analyze", metavar="RUN_DIR", help="only summarise a finished run")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    if args.analyze:
        return 0 if summarize(args.analyze, args.summary_out) else 1
    for b in ("anytls-server", "bench/loadgen", "bench/target"):
        if not os.access(os.path.join(args.build, b), os.X_OK):
            print(f"saturation: missing {args.build}/{b} (make all)", file=sys.stderr)
            return 1
    os.environ.setdefault("ANYTLS_BIN", args.build)
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
