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
  provenance  git_sha and provenance (clean|DIRTY) in every row, one commit per run
            directory, DIRTY only when the run was allowed (ALLOW_DIRTY)
  design    block = rep, one load seed per block shared by its cells, order positions
            a permutation inside each block
  new columns  failure-inclusive tail (open_all_p99 >= open_p99, open_all_n = open_n +
            failed_in_tail = ok + errors), spares held (0 for none), /metrics samples,
            min_idle_flag as sweep.py computes it, kernel memory per spare when spares
            were left; summary.csv has the samples behind p99, reps.csv one row per
            ok run, and the statistics' self-test passes
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


def opt(r, k, where):
    """A column that may be empty (not measured in this run): None, else as num()."""
    return None if r.get(k, "") == "" else num(r, k, where)


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
    # failure-inclusive tail and the counts behind it
    oa, o99 = num(r, "open_all_p99_us", where), num(r, "open_p99_us", where)
    n_ok, n_all, failed = num(r, "open_n", where), num(r, "open_all_n", where), num(r, "failed_in_tail", where)
    if None not in (oa, o99) and oa + 0.05 < o99:
        fail(f"{where}: failure-inclusive p99 {oa} < ok-only p99 {o99}")
    if None not in (n_ok, n_all, failed):
        if n_all != n_ok + failed:
            fail(f"{where}: open_all_n {n_all:g} != open_n {n_ok:g} + failed_in_tail {failed:g}")
        if failed != num(r, "errors", where) or n_ok != num(r, "streams_ok", where):
            fail(f"{where}: tail counts ({n_ok:g} ok, {failed:g} failed) differ from "
                 f"streams_ok/errors ({r['streams_ok']}/{r['errors']})")
        if failed > 0 and oa is not None and opt(r, "tail_value_us", where) is None:
            fail(f"{where}: failures in the tail but no tail_value_us")
    # spares and connections from /metrics
    ms = num(r, "metrics_samples", where)
    if ms is not None and ms < 1:
        fail(f"{where}: no /metrics sample inside the measured window")
    held = num(r, "spares_held_mean", where)
    if held is not None:
        if held < 0:
            fail(f"{where}: spares_held_mean {held} < 0")
        if r["pool_type"] == "none" and held != 0:
            fail(f"{where}: pool none held {held} spares")
        tc = num(r, "target_conns_mean", where)
        if tc is not None and tc + 1e-9 < held:
            fail(f"{where}: connections held {tc} < spares held {held}")
    for k in ("dials_per_stream", "wasted_dials_per_stream"):
        x = opt(r, k, where)
        if x is not None and x < 0:
            fail(f"{where}: {k}={x} < 0")
    try:
        want_flag = sweepmod.min_idle_flag({"pool_type": r["pool_type"], "min_idle": int(r["min_idle"]),
                                             "workers": int(r["workers"]), "spares": r["spares"]})
        if int(r["min_idle_flag"]) != want_flag:
            fail(f"{where}: min_idle_flag {r['min_idle_flag']} != {want_flag} (equal spares)")
    except (KeyError, ValueError):
        fail(f"{where}: spares/min_idle_flag missing or not numbers")
    unused = opt(r, "target_socks_unused_end", where)
    if unused and unused > 0 and opt(r, "kmem_per_spare_bytes", where) is None:
        fail(f"{where}: {unused:g} spares left but no kmem_per_spare_bytes")
    km = opt(r, "kmem_per_spare_bytes", where)
    if km is not None and not 500 < km < 1 << 20:
        fail(f"{where}: kmem_per_spare_bytes {km} implausible")
    # provenance and design
    if not re.fullmatch(r"[0-9a-f]{40}", r.get("git_sha", "")):
        fail(f"{where}: git_sha {r.get('git_sha')!r} is not a commit")
    if r.get("provenance") not in ("clean", "DIRTY"):
        fail(f"{where}: provenance {r.get('provenance')!r}")
    if r.get("block") != r.get("rep"):
        fail(f"{where}: block {r.get('block')} != rep {r.get('rep')}")
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
    # one commit per directory; DIRTY only when allowed; one load seed per block;
    # order positions a permutation inside each block
    shas = {r.get("git_sha") for r in ok.values()}
    if len(shas) > 1:
        fail(f"results.csv mixes commits {sorted(shas)}")
    if os.path.isfile(env):
        envtext = open(env).read()
        for k in ("git_sha:", "git_dirty:", "provenance:", "design_seed:", "build_version:"):
            if k not in envtext:
                fail(f"env.txt lacks {k}")
        if any(r.get("provenance") == "DIRTY" for r in ok.values()) and "allow_dirty: yes" not in envtext:
            fail("DIRTY rows but env.txt does not say allow_dirty: yes")
    blocks = {}
    for r in ok.values():
        blocks.setdefault(r["block"], []).append(r)
    for b, rs in blocks.items():
        seeds = {r["load_seed"] for r in rs}
        if len(seeds) != 1:
            fail(f"block {b}: load seeds {sorted(seeds)} (one per block expected)")
        pos = sorted(int(r["order_pos"]) for r in rs)
        if len(set(pos)) != len(pos) or (pos and pos[-1] > len([c for c in cells if c["reps"] >= int(b)])):
            fail(f"block {b}: order positions {pos} are not a permutation")
    if len({next(iter(rs))["load_seed"] for rs in blocks.values()}) != len(blocks):
        fail("two blocks share a load seed")

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
            for k in ("open_p50_ms_mean", "reuse_rate_mean", "server_rss_mb_mean", "open_all_p99_ms_mean",
                      "open_all_p99_samples_min", "spares_held_mean", "git_sha", "provenance",
                      "spares_target", "dials_per_stream_mean"):
                if s.get(k, "") == "":
                    fail(f"summary.csv: {s['cell_id']} has no {k}")
        rp = os.path.join(a.summary_dir, "reps.csv")
        if not os.path.isfile(rp):
            fail(f"{rp} missing")
        else:
            with open(rp, newline="") as f:
                nrep = sum(1 for _ in csv.DictReader(f))
            if nrep != len(ok):
                fail(f"reps.csv has {nrep} rows for {len(ok)} ok runs")
        if any(c["reps"] >= 2 for c in cells) and not os.path.isfile(os.path.join(a.summary_dir, "blocks.csv")):
            fail("blocks.csv missing although cells ran in 2+ blocks")
        import stats as st_
        for msg in st_.selftest():
            fail(f"stats self-test: {msg}")
        figdir = os.path.join(a.summary_dir, "figures")
        groups = {g for c in cells for g in c["group"].split(",") if g}
        want = []
        if "pooltype" in groups:
            want += [f"latency_rate_rtt{x:g}" for x in sorted({float(s['rtt_effective'] or 0) for s in S
                                                              if 'pooltype' in s['group'].split(',')})]
        want += [n for g, n in (("minidle", "reuse_minidle"), ("maxconns", "memory_maxconns"),
                                ("idle", "cleaned_idle"), ("idle", "idle_curve")) if g in groups]
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
