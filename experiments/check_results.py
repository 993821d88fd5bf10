#!/usr/bin/env python3
"""Sanity checker for a sweep's output (used by scripts/smoke_bench.sh in CI).

usage: experiments/check_results.py RUN_DIR --sweep NAME [--summary-dir DIR] [--no-micro]

Checks that every expected file is there and every value is sane. No timing
thresholds: nothing here depends on how fast the machine is. Checked:
  files     RUN_DIR/results.csv (all runner columns), env.txt (versions, git describe),
            micro.csv (quick/full), SUMMARY/summary.csv with one row per cell,
            SUMMARY/figures/*.png|svg (non-empty) for each figure with data
  coverage  every cell x rep of the sweep file has an ok row
  values    counters are non-negative integers; Reused + New = Total; no reuse
            without spares (pool none, min idle 0); reuse rates in [0, 1]; the target
            served at least every ok stream and no more than the server's streams;
            latencies positive and ordered (p50 <= p90 <= p99 <= max); open latency at
            least one emulated RTT (a request/response needs a round trip); RSS and
            CPU positive; rtt_effective is 0 or the requested RTT (0 = loudly noted)
Exit status 0 if all checks pass, 1 otherwise (every failure is listed).
"""
import argparse
import csv
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runner  # noqa: E402
import sweep as sweepmod  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAIL = []
WARN = []


def fail(msg):
    FAIL.append(msg)


def num(r, k, where):
    v = r.get(k, "")
    try:
        return float(v)
    except ValueError:
        fail(f"{where}: {k}={v!r} is not a number")
        return None


def check_run_row(r, where):
    ints = ["arrivals", "streams_ok", "errors", "pool_total", "pool_reused", "pool_new",
            "pool_cleaned", "outbound_opened", "target_requests", "target_closed_idle", "warmup_ok"]
    v = {}
    for k in ints:
        x = num(r, k, where)
        if x is None:
            continue
        if x < 0 or x != int(x):
            fail(f"{where}: {k}={x} is not a non-negative integer")
        v[k] = x
    if len(v) < len(ints):
        return
    if v["streams_ok"] <= 0:
        fail(f"{where}: no stream completed")
    if v["pool_reused"] + v["pool_new"] != v["pool_total"]:
        fail(f"{where}: Reused {v['pool_reused']:g} + New {v['pool_new']:g} != Total {v['pool_total']:g}")
    if (r["pool_type"] == "none" or r["min_idle"] == "0") and v["pool_reused"] != 0:
        fail(f"{where}: {v['pool_reused']:g} reuses without spares (pool {r['pool_type']}, min idle {r['min_idle']})")
    if r["pool_type"] == "none" and v["outbound_opened"] != v["pool_total"]:
        fail(f"{where}: pool none opened {v['outbound_opened']:g} target connections for "
             f"{v['pool_total']:g} streams (no spares expected)")
    served = v["streams_ok"] + v["warmup_ok"]
    if v["target_requests"] < served:
        fail(f"{where}: target saw {v['target_requests']:g} requests < {served:g} ok streams")
    if v["target_requests"] > v["pool_total"]:
        fail(f"{where}: target saw {v['target_requests']:g} requests > {v['pool_total']:g} server streams")
    if v["outbound_opened"] < v["pool_new"]:
        fail(f"{where}: target accepted {v['outbound_opened']:g} < New {v['pool_new']:g}")
    for k in ("reuse_rate", "reuse_rate_window"):
        x = num(r, k, where)
        if x is not None and not 0 <= x <= 1:
            fail(f"{where}: {k}={x} outside [0, 1]")
    lat = [num(r, k, where) for k in ("open_p50_us", "open_p90_us", "open_p99_us", "open_max_us")]
    if None not in lat:
        if lat[0] <= 0:
            fail(f"{where}: open p50 {lat[0]} <= 0")
        if not lat[0] <= lat[1] <= lat[2] <= lat[3]:
            fail(f"{where}: open latency percentiles out of order {lat}")
        rtt_eff = num(r, "rtt_effective", where) or 0
        if rtt_eff > 0 and lat[0] < rtt_eff * 1000 * 0.95:
            fail(f"{where}: open p50 {lat[0] / 1000:.2f} ms < one emulated RTT ({rtt_eff:g} ms): "
                 "the RTT emulation is not in the path")
    for k in ("server_rss_peak_kb", "client_rss_peak_kb"):
        x = num(r, k, where)
        if x is not None and not 0 < x < 64 << 20:
            fail(f"{where}: {k}={x} implausible")
    for k in ("server_cpu_ms_per_1k", "client_cpu_ms_per_1k"):
        x = num(r, k, where)
        if x is not None and x <= 0:
            fail(f"{where}: {k}={x} not positive")
    rtt_req, rtt_eff = num(r, "rtt_ms", where), num(r, "rtt_effective", where)
    if rtt_req is not None and rtt_eff is not None:
        if rtt_eff not in (0, rtt_req):
            fail(f"{where}: rtt_effective {rtt_eff} is neither 0 nor the requested {rtt_req}")
        elif rtt_req > 0 and rtt_eff == 0:
            WARN.append(f"{where}: ran at loopback RTT (emulation unavailable), recorded as such")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--sweep", required=True)
    ap.add_argument("--sweep-file")
    ap.add_argument("--summary-dir", default=os.path.join(ROOT, "results"))
    ap.add_argument("--no-micro", action="store_true")
    ap.add_argument("--reps", type=int, default=0, help="reps the run used (REPS override)")
    ap.add_argument("--only", default="", help="regex the run used (ONLY override)")
    a = ap.parse_args()
    rd = a.run_dir
    sf = a.sweep_file or os.path.join(ROOT, "experiments", "sweeps", a.sweep + ".txt")
    cells = sweepmod.load(sf)
    if a.only:
        cells = [c for c in cells if re.search(a.only, c["cell_id"])]
    if a.reps:
        for c in cells:
            c["reps"] = a.reps

    # ---- files
    res = os.path.join(rd, "results.csv")
    rows = []
    if not os.path.isfile(res):
        fail(f"{res} missing")
    else:
        with open(res, newline="") as f:
            rdr = csv.DictReader(f)
            missing = [c for c in runner.COLUMNS if c not in (rdr.fieldnames or [])]
            if missing:
                fail(f"results.csv lacks columns {missing}")
            rows = list(rdr)
    env = os.path.join(rd, "env.txt")
    if not os.path.isfile(env):
        fail(f"{env} missing")
    else:
        text = open(env).read()
        for k in ("cpu_model:", "cores_online:", "kernel:", "gcc:", "openssl:", "jemalloc:",
                  "git_describe:", "date:"):
            if k not in text:
                fail(f"env.txt lacks {k}")
    if a.sweep != "smoke" and not a.no_micro:
        mc = os.path.join(rd, "micro.csv")
        if not os.path.isfile(mc) or os.path.getsize(mc) == 0:
            fail(f"{mc} missing or empty")
        elif "cycle/" not in open(mc).read():
            fail(f"{mc} has no cycle/ benchmark rows")

    # ---- coverage and values
    ok = {}
    for i, r in enumerate(rows):
        where = f"results.csv row {i + 2} ({r.get('cell_id')} rep {r.get('rep')})"
        if r.get("status") != "ok":
            WARN.append(f"{where}: status {r.get('status')}: {r.get('reason')}")
            continue
        ok[(r["cell_id"], int(r["rep"]))] = r
        check_run_row(r, where)
    for c in cells:
        for rep in range(1, c["reps"] + 1):
            if (c["cell_id"], rep) not in ok:
                fail(f"no ok row for {c['cell_id']} rep {rep}")

    # ---- summary and figures
    sp = os.path.join(a.summary_dir, "summary.csv")
    if not os.path.isfile(sp):
        fail(f"{sp} missing")
    else:
        with open(sp, newline="") as f:
            S = list(csv.DictReader(f))
        ids = {s["cell_id"] for s in S}
        for c in cells:
            if c["cell_id"] not in ids:
                fail(f"summary.csv lacks cell {c['cell_id']}")
        for s in S:
            for k in ("open_p50_ms_mean", "reuse_rate_mean", "server_rss_mb_mean"):
                if s.get(k, "") == "":
                    fail(f"summary.csv: {s['cell_id']} has no {k}")
        figdir = os.path.join(a.summary_dir, "figures")
        groups = {g for c in cells for g in c["group"].split(",") if g}
        want = []
        if "pooltype" in groups:
            want += [f"latency_rate_rtt{x:g}" for x in sorted({float(s['rtt_effective'] or 0) for s in S
                                                              if 'pooltype' in s['group'].split(',')})]
        want += [n for g, n in (("minidle", "reuse_minidle"), ("maxconns", "memory_maxconns"),
                                ("idle", "cleaned_idle")) if g in groups]
        if a.sweep != "smoke" and not a.no_micro:
            want.append("micro_keys16")
        for n in want:
            for ext in ("png", "svg"):
                p = os.path.join(figdir, f"{n}.{ext}")
                if not os.path.isfile(p) or os.path.getsize(p) < 500:
                    fail(f"figure {p} missing or empty")

    for w in WARN:
        print(f"check_results: warning: {w}", file=sys.stderr)
    for f_ in FAIL:
        print(f"check_results: FAIL: {f_}", file=sys.stderr)
    n = len(ok)
    print(f"check_results: {a.sweep}: {n} ok runs, {len(cells)} cells, {len(FAIL)} failures, "
          f"{len(WARN)} warnings", file=sys.stderr)
    return 1 if FAIL else 0


if __name__ == "__main__":
    sys.exit(main())
