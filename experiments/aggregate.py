#!/usr/bin/env python3
"""Aggregate raw sweep results into results/summary.csv (+ micro_summary.csv).

usage: experiments/aggregate.py [RUN_DIR|SWEEP ...] [--out-dir results] [--quiet|--print]
                                [--no-claims] [--allow-mixed-builds]

RUN_DIR: results/raw/<date>-<sha>-<sweep> directories; a sweep name (smoke, quick,
full) means results/latest-<sweep> (default: results/latest-full if it has rows,
else latest-quick, else latest-smoke). Prints the per-cell table and the claims
table (claim | test | measured | verdict, experiments/claims.py) unless --quiet. Rows of every given
directory are pooled per cell id (a cell id names every parameter, so quick and
full cells never mix). Only status=ok rows count; failed ones are counted.

Provenance: every row's build is (git_sha, provenance) from results.csv (older
rows: from their directory's env.txt). Rows of different builds are never pooled
silently: aggregate refuses (exit 2) unless --allow-mixed-builds, which keeps one
summary row per cell AND build (cell_id@sha) and says so. Rows from a dirty tree
(ALLOW_DIRTY) are flagged in the output, in summary.csv (provenance=DIRTY) and in
summary_sources.txt.

Outputs besides summary.csv: reps.csv (one row per cell x block: the per-rep
metrics below with the block and its load seed; claims.py pairs cells by block
from it) and blocks.csv (block effects: per group of cells and metric, how far
each block sat from the cells' means, on the log scale).

Per cell and metric: mean, 95% CI half-width (Student t over reps, n-1 df) and
median over reps. Metrics (per rep first, then over reps):
  open_p50_ms open_p99_ms open_mean_ms total_p99_ms   stream-open latency (loadgen)
  achieved_rate error_rate                             streams/s; errors/(ok+errors)
  reuse_rate       Reused/(Reused+New) over the measured window ([Pool Stats] delta)
  reuse_rate_total the same over the whole run (exit line)
  server_cpu_ms_per_1k client_cpu_ms_per_1k          CPU ms per 1000 streams
  server_rss_mb    peak RSS (VmHWM) of the server
  outbound_per_stream  target connections opened per stream (1 = no waste)
  cleaned_per_1k   spares the pool closed (Cleaned) per 1000 streams
  stale_per_1k     connections the target closed idle (spares gone stale) per 1000
  wasted_per_1k    connections opened that never carried a request (minus the spares
                   still idle at exit), per 1000 streams
  lag_p99_ms       load generator start lag (health: > 1 ms = behind schedule)
  open_all_p50_ms open_all_p99_ms   the same percentiles over every measured arrival,
                   failed/timed-out/dropped ones at the timeout (no survivor bias)
  open_p99_samples open_all_p99_samples   streams behind each rep's p99 (summary: the
                   smallest over reps, and _total over reps)
  spares_held      warm spares held, mean over the window (/metrics idle gauge)
  target_conns     connections held open at the targets (active + idle + dialing)
  dials_per_stream wasted_dials_per_stream   target dials per stream; refill dials
                   that served no stream, per stream
  kmem_per_spare_kb  kernel memory per spare (slab objects + skmem, after the load)
A rep is "lagged" when the load generator's start lag p99 exceeded 5 ms (the
machine, not the proxy, may be the bottleneck); lagged reps are kept and counted.
"""
import argparse
import csv
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pooltypes  # noqa: E402
import provenance  # noqa: E402
import stats as st  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARAMS = ["pool_type", "max_conns", "idle_secs", "min_idle", "rate", "targets", "rtt_ms",
          "rtt_effective", "response_size", "duration", "warmup", "zipf", "tidle", "workers",
          "spares", "min_idle_flag", "spares_target", "tfo", "netns"]
METRICS = ["open_p50_ms", "open_p99_ms", "open_mean_ms", "total_p99_ms", "achieved_rate",
           "error_rate", "reuse_rate", "reuse_rate_total", "server_cpu_ms_per_1k",
           "client_cpu_ms_per_1k", "server_rss_mb", "outbound_per_stream", "cleaned_per_1k",
           "stale_per_1k", "wasted_per_1k", "pool_idle_end", "lag_p99_ms",
           "open_all_p50_ms", "open_all_p99_ms", "failed_in_tail", "spares_held",
           "target_conns", "dials_per_stream", "wasted_dials_per_stream", "kmem_per_spare_kb",
           "tfo_syn_data_share"]
# the streams behind each rep's p99 (summarised as min and total, not mean/CI)
SAMPLE_COUNTS = {"open_p99_samples": "open_n", "open_all_p99_samples": "open_all_n"}
# metrics whose block effects are reported (blocks.csv)
BLOCK_METRICS = ["open_p50_ms", "open_all_p99_ms", "server_cpu_ms_per_1k"]
LAG_LIMIT_MS = 5.0
# metrics that are compared as ratios (claims): also summarised on the log scale, so a
# ratio of two cells gets a CI from Welch's t on the difference of mean logs
LOG_METRICS = ["open_p50_ms", "open_p99_ms", "open_mean_ms", "server_cpu_ms_per_1k",
               "client_cpu_ms_per_1k", "server_rss_mb", "open_all_p50_ms", "open_all_p99_ms"]


def f(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def wasted_per_1k(r, streams):
    """Target connections that never carried a stream and were not still spares at
    exit, per 1000 streams (recomputed from the counts, so older rows that did not
    subtract the spares left at exit are treated the same way)."""
    acc, req, idle = f(r["outbound_opened"]), f(r["target_requests"]), f(r.get("pool_idle_end"))
    if not streams or acc is None or req is None:
        return None
    return 1000 * max(0.0, acc - req - (idle or 0)) / streams


def per_rep(r):
    ok, err = f(r["streams_ok"]) or 0, f(r["errors"]) or 0
    streams = (f(r["pool_total"]) or 0)
    m = {
        "open_p50_ms": f(r["open_p50_us"]) / 1000 if f(r["open_p50_us"]) is not None else None,
        "open_p99_ms": f(r["open_p99_us"]) / 1000 if f(r["open_p99_us"]) is not None else None,
        "open_mean_ms": f(r["open_mean_us"]) / 1000 if f(r["open_mean_us"]) is not None else None,
        "total_p99_ms": f(r["total_p99_us"]) / 1000 if f(r["total_p99_us"]) is not None else None,
        "achieved_rate": f(r["achieved_rate"]),
        "error_rate": err / (ok + err) if ok + err else None,
        "reuse_rate": f(r["reuse_rate_window"]),
        "reuse_rate_total": f(r["reuse_rate"]),
        "server_cpu_ms_per_1k": f(r["server_cpu_ms_per_1k"]),
        "client_cpu_ms_per_1k": f(r["client_cpu_ms_per_1k"]),
        "server_rss_mb": f(r["server_rss_peak_kb"]) / 1024 if f(r["server_rss_peak_kb"]) else None,
        "outbound_per_stream": f(r["outbound_per_stream"]),
        "cleaned_per_1k": 1000 * f(r["pool_cleaned"]) / streams if streams and f(r["pool_cleaned"]) is not None else None,
        "stale_per_1k": 1000 * f(r["target_closed_idle"]) / streams if streams and f(r["target_closed_idle"]) is not None else None,
        "wasted_per_1k": wasted_per_1k(r, streams),
        "pool_idle_end": f(r["pool_idle_end"]),
        "lag_p99_ms": f(r["lag_p99_us"]) / 1000 if f(r["lag_p99_us"]) is not None else None,
        "open_all_p50_ms": ms(r.get("open_all_p50_us")),
        "open_all_p99_ms": ms(r.get("open_all_p99_us")),
        "failed_in_tail": f(r.get("failed_in_tail")),
        "spares_held": f(r.get("spares_held_mean")),
        "target_conns": f(r.get("target_conns_mean")),
        "dials_per_stream": f(r.get("dials_per_stream")),
        "wasted_dials_per_stream": f(r.get("wasted_dials_per_stream")),
        "kmem_per_spare_kb": (f(r.get("kmem_per_spare_bytes")) / 1024
                              if f(r.get("kmem_per_spare_bytes")) is not None else None),
        # tfo=1 cells: the target's connections whose SYN carried data, of all it accepted
        "tfo_syn_data_share": f(r.get("target_syn_data_share")) if str(r.get("tfo", "")) == "1" else None,
    }
    return m


def ms(x):
    v = f(x)
    return None if v is None else v / 1000


def default_dirs():
    for s in ("full", "quick", "smoke"):
        d = os.path.join(ROOT, "results", f"latest-{s}")
        p = os.path.join(d, "results.csv")
        if os.path.exists(p) and sum(1 for _ in open(p)) > 1:
            return [os.path.realpath(d)]
    return []


def read_rows(dirs):
    """Rows of every dir, each with _dir, _sha and _prov (clean|DIRTY|unknown): from
    the row's own columns, else (older runs) from the dir's env.txt, where a
    git_describe ending in -dirty means DIRTY."""
    rows = []
    for d in dirs:
        p = os.path.join(d, "results.csv")
        if not os.path.exists(p):
            print(f"aggregate: {p} missing", file=sys.stderr)
            continue
        env = provenance.read_env(d)
        env_sha = env.get("git_sha", "")
        env_prov = env.get("provenance") or (
            "DIRTY" if env.get("git_describe", "").endswith("-dirty") else
            "clean" if env.get("git_describe") else "unknown")
        with open(p, newline="") as fh:
            for r in csv.DictReader(fh):
                r["_dir"] = os.path.basename(os.path.realpath(d))
                r["_sha"] = r.get("git_sha") or env_sha or "unknown"
                r["_prov"] = r.get("provenance") or env_prov
                rows.append(r)
    return rows


def builds_of(rows):
    """{(sha, prov): {dirs}} over the ok rows."""
    b = {}
    for r in rows:
        if r.get("status") == "ok":
            b.setdefault((r["_sha"], r["_prov"]), set()).add(r["_dir"])
    return b


def summarize(rows, by_build=False):
    """Per cell (per cell and build with by_build): the summary rows, and the
    per-rep table [(key, row, metrics)] that reps.csv and blocks.csv come from."""
    cells = {}
    order = []
    for r in rows:
        cid = r["cell_id"] + (f"@{r['_sha'][:10]}{'' if r['_prov'] == 'clean' else '-' + r['_prov']}"
                              if by_build else "")
        r["_key"] = cid
        if cid not in cells:
            cells[cid] = {"rows": [], "failed": 0}
            order.append(cid)
        c = cells[cid]
        if r["status"] == "ok":
            c["rows"].append(r)
        else:
            c["failed"] += 1
    out, rep_rows = [], []
    for cid in order:
        c = cells[cid]
        ok = c["rows"]
        base = ok[0] if ok else next(r for r in rows if r["_key"] == cid)
        s = {"cell_id": cid, "sweep": base["sweep"], "group": base["group"],
             "source": ";".join(sorted({r["_dir"] for r in ok})) if ok else base["_dir"],
             "git_sha": ";".join(sorted({r["_sha"] for r in ok or [base]})),
             "provenance": "DIRTY" if any(r["_prov"] != "clean" for r in ok or [base]) else "clean",
             "n_blocks": len({r.get("block") or r.get("rep") for r in ok})}
        for p in PARAMS:
            s[p] = base.get(p, "")
        if s["spares"] == "":  # runs before equal spares: min_idle was the flag for every type
            s["spares"], s["min_idle_flag"] = "flag", base.get("min_idle", "")
        # the union of groups over the rows (a cell may be listed by several groups)
        groups = []
        for r in ok or [base]:
            groups += [g for g in r["group"].split(",") if g]
        s["group"] = ",".join(dict.fromkeys(groups))
        s["n_ok"] = len(ok)
        s["n_failed"] = c["failed"]
        reps = [per_rep(r) for r in ok]
        for r, m in zip(ok, reps):
            rep_rows.append((cid, r, m))
        s["n_lagged"] = sum(1 for m in reps if (m["lag_p99_ms"] or 0) > LAG_LIMIT_MS)
        for k, col in SAMPLE_COUNTS.items():
            ns = [int(f(r.get(col))) for r in ok if f(r.get(col)) is not None]
            s[k + "_min"] = min(ns) if ns else ""
            s[k + "_total"] = sum(ns) if ns else ""
        for k in METRICS:
            xs = [m[k] for m in reps if m[k] is not None]
            mu, h, n = st.mean_ci(xs)
            s[k + "_mean"] = "" if n == 0 else round(mu, 6)
            s[k + "_ci"] = "" if h is None else round(h, 6)
            s[k + "_median"] = "" if n == 0 else round(st.median(xs), 6)
        for k in LOG_METRICS:
            xs = [math.log(m[k]) for m in reps if m[k] is not None and m[k] > 0]
            mu, h, n = st.mean_ci(xs)
            s[k + "_lmean"] = "" if n == 0 else round(mu, 6)
            s[k + "_lci"] = "" if h is None else round(h, 6)
        out.append(s)
    return out, rep_rows


def reps_table(rep_rows):
    """reps.csv: one row per cell x block with the per-rep metrics."""
    out = []
    for key, r, m in rep_rows:
        row = {"cell_id": key, "block": r.get("block") or r.get("rep"),
               "load_seed": r.get("load_seed", ""), "order_pos": r.get("order_pos", ""),
               "git_sha": r["_sha"], "provenance": r["_prov"], "pool_type": r["pool_type"],
               "group": r["group"]}
        for k in METRICS:
            row[k] = "" if m[k] is None else round(m[k], 6)
        out.append(row)
    return out


def block_effects(summary, rep_rows):
    """Block effects on the log scale: for the cells of a group (and 'all'), each
    value minus its cell's mean log, averaged per block. exp(effect) - 1 is how
    much a block ran above (+) or below (-) the cells' typical value; compared
    with the within-cell spread left after removing it. Rows for blocks.csv."""
    groups = {"all": {s["cell_id"] for s in summary}}
    for s in summary:
        for g in s["group"].split(","):
            if g:
                groups.setdefault(g, set()).add(s["cell_id"])
    vals = {}
    seeds = {}
    for key, r, m in rep_rows:
        b = int(f(r.get("block") or r.get("rep")) or 0)
        seeds[b] = r.get("load_seed", "")
        for k in BLOCK_METRICS:
            if m[k] is not None and m[k] > 0:
                vals.setdefault((k, key), {})[b] = math.log(m[k])
    out = []
    for g, keys in sorted(groups.items()):
        for k in BLOCK_METRICS:
            resid = {}
            for key in keys:
                ys = vals.get((k, key), {})
                if len(ys) < 2:
                    continue
                mu = st.mean(list(ys.values()))
                for b, y in ys.items():
                    resid.setdefault(b, []).append((key, y - mu))
            if len(resid) < 2:
                continue
            eff = {b: st.mean([x for _, x in xs]) for b, xs in resid.items()}
            left = [x - eff[b] for b, xs in resid.items() for _, x in xs]
            sd_within = math.sqrt(sum(x * x for x in left) / max(1, len(left) - len(eff)))
            sd_block = math.sqrt(st.var(list(eff.values()))) if len(eff) > 1 else 0.0
            for b in sorted(eff):
                out.append({"group": g, "metric": k, "block": b, "load_seed": seeds.get(b, ""),
                            "n_cells": len(resid[b]), "effect_pct": round(100 * (math.exp(eff[b]) - 1), 3),
                            "block_sd_pct": round(100 * sd_block, 3),
                            "within_sd_pct": round(100 * sd_within, 3)})
    return out


# <variant>[_oversub]/<impl>/<keys>[/<detail>][/<config index>]/real_time/threads:T
# (older binaries: no detail)
MICRO_RE = re.compile(r"^([a-z]\w*?)(_oversub)?/([^/]+)/([^/]+)(?:/([a-z][^/]*))?(?:/\d+)?"
                      r"/real_time/threads:(\d+)$")


def summarize_micro(dirs):
    groups = {}
    srcs = []
    for d in dirs:
        p = os.path.join(d, "micro.csv")
        if not os.path.exists(p):
            continue
        srcs.append(os.path.basename(os.path.realpath(d)))
        with open(p, newline="") as fh:
            lines = fh.read().splitlines()
        # Google Benchmark CSV: context lines may precede the header
        start = next((i for i, l in enumerate(lines) if l.startswith("name,")), None)
        if start is None:
            continue
        for r in csv.DictReader(lines[start:]):
            m = MICRO_RE.match(r["name"])
            if not m or r.get("error_occurred") in ("true", "1"):
                continue  # aggregate rows (_mean, _stddev...) do not match
            key = (m.group(1), m.group(3), m.group(4), m.group(5) or "", int(m.group(6)),
                   1 if m.group(2) else 0)
            g = groups.setdefault(key, {"ns": [], "hit": [], "ips": []})
            scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}.get(r.get("time_unit", "ns"), 1)
            g["ns"].append(float(r["real_time"]) * scale)
            if f(r.get("hit")) is not None:
                g["hit"].append(float(r["hit"]))
            if f(r.get("items_per_second")) is not None:
                g["ips"].append(float(r["items_per_second"]))
    out = []
    for (variant, impl, dist, detail, thr, over), g in sorted(groups.items()):
        mu, h, n = st.mean_ci(g["ns"])
        lmu, lh, _ = st.mean_ci([math.log(x) for x in g["ns"] if x > 0])
        out.append({"variant": variant, "impl": impl, "keys": dist, "detail": detail,
                    "threads": thr, "oversubscribed": over,
                    "ns_per_cycle_mean": round(mu, 3), "ns_per_cycle_ci": "" if h is None else round(h, 3),
                    "ns_per_cycle_median": round(st.median(g["ns"]), 3), "n": n,
                    "ns_per_cycle_lmean": round(lmu, 6), "ns_per_cycle_lci": "" if lh is None else round(lh, 6),
                    "hit_mean": round(st.mean(g["hit"]), 4) if g["hit"] else "",
                    "mops_mean": round(st.mean(g["ips"]) / 1e6, 3) if g["ips"] else "",
                    "source": ";".join(srcs)})
    return out


def write_csv(path, rows):
    if not rows:
        if os.path.exists(path):
            os.remove(path)  # never leave a stale one beside the new summary
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)


def cell_label(s):
    pool = s["pool_type"] + ("+tfo" if str(s.get("tfo", "")) == "1" else "")
    return (f"{pool:<8} {s['max_conns']:>4} {s['idle_secs']:>4} {s['min_idle']:>3} "
            f"{float(s['rate']):>6g} {s['targets']:>3} {float(s['rtt_effective'] or 0):>4g}")


def print_table(summary, micro, out=sys.stdout):
    def ci(s, k, d=2, mul=1.0):
        m, h = s[k + "_mean"], s[k + "_ci"]
        if m == "":
            return "-"
        return f"{m * mul:.{d}f}" + (f"±{h * mul:.{d}f}" if h != "" else "")
    hdr = (f"{'pool':<8} {'max':>4} {'idle':>4} {'min':>3} {'rate':>6} {'K':>3} {'rtt':>4} "
           f"{'n':>2} {'open p50 ms':>13} {'open p99 ms':>13} {'p99 all ms':>13} {'n p99':>6} "
           f"{'reuse %':>11} {'spares':>7} {'srv cpu ms/1k':>14} {'rss MB':>10} {'err %':>9} "
           f"{'out/str':>10}  group")
    print(hdr, file=out)
    print("-" * len(hdr), file=out)
    for s in summary:
        flag = ""
        if s["n_failed"]:
            flag += f" FAILED×{s['n_failed']}"
        if s["n_lagged"]:
            flag += f" lagged×{s['n_lagged']}"
        if str(s["rtt_ms"]) != str(s["rtt_effective"]) and float(s["rtt_ms"]) != float(s["rtt_effective"] or 0):
            flag += f" (rtt {s['rtt_ms']} requested, ran at loopback)"
        sp = s.get("spares_held_mean", "")
        print(f"{cell_label(s)} {s['n_ok']:>2} {ci(s, 'open_p50_ms'):>13} {ci(s, 'open_p99_ms'):>13} "
              f"{ci(s, 'open_all_p99_ms'):>13} {str(s.get('open_all_p99_samples_min', '')):>6} "
              f"{ci(s, 'reuse_rate', 0, 100):>11} {('-' if sp == '' else f'{sp:.0f}'):>7} "
              f"{ci(s, 'server_cpu_ms_per_1k', 0):>14} "
              f"{ci(s, 'server_rss_mb', 1):>10} {ci(s, 'error_rate', 1, 100):>9} "
              f"{ci(s, 'outbound_per_stream', 2):>10}  {s['group']}{flag}", file=out)
    if micro:
        print("\npool micro-benchmark (aggregate ns per item over all threads, mean ± 95% CI over "
              "repetitions, hit rate in brackets; recv interposed; threads <= cores; rows run with "
              "more threads than cores are in micro_summary.csv as oversubscribed=1):", file=out)
        impls = pooltypes.ordered({m["impl"] for m in micro if m["variant"] != "counters"})
        for variant, keys, detail in (("cycle", "keys16", None), ("shared", "keys16", "refill16"),
                                      ("shared", "keys16", "refill256"), ("shared", "keys1", "refill16"),
                                      ("handoff", "keys16", "producer0")):
            rows_v = [x for x in micro if x["variant"] == variant and x["keys"] == keys
                      and (detail is None or x["detail"] == detail) and not x["oversubscribed"]]
            if not rows_v:
                continue
            print(f"  {variant}/{keys}" + (f"/{detail}" if detail else ""), file=out)
            print(f"{'threads':>8} " + " ".join(f"{i:>22}" for i in impls), file=out)
            for t in sorted({x["threads"] for x in rows_v}):
                cells = []
                for i in impls:
                    m = next((x for x in rows_v if x["impl"] == i and x["threads"] == t), None)
                    cells.append("-" if not m else f"{m['ns_per_cycle_mean']:.1f}"
                                 + (f"±{m['ns_per_cycle_ci']:.1f}" if m["ns_per_cycle_ci"] != "" else "")
                                 + (f" [{m['hit_mean']:.2f}]" if m["hit_mean"] != "" else ""))
                print(f"{t:>8} " + " ".join(f"{c:>22}" for c in cells), file=out)
        cnt = [x for x in micro if x["variant"] == "counters" and not x["oversubscribed"]]
        if cnt:
            print("  counters alone (5 updates of a hit cycle, no pool), ns per cycle: "
                  + "; ".join(f"{x['impl']} {x['threads']} thr {x['ns_per_cycle_mean']:.1f}"
                              for x in sorted(cnt, key=lambda x: (x["impl"], x["threads"]))), file=out)


def print_claims(out_dir, out=sys.stdout):
    import claims as C
    S, M = C.load(out_dir)
    rows = C.claims(S, M, R=C.load_reps(out_dir))
    if not rows:
        return
    print("\nthe seeds' claims (95% CIs; speed-ups: ratio of geometric means, + = first type better):",
          file=out)
    w1 = max(len(r["claim"]) for r in rows)
    w2 = max(len(r["test"]) for r in rows)
    w3 = max(len(r["measured"]) for r in rows)
    prev = None
    for r in rows:
        c = r["claim"] if r["claim"] != prev else ""
        prev = r["claim"]
        print(f"  {c:<{w1}}  {r['test']:<{w2}}  {r['measured']:<{w3}}  {r['verdict']}", file=out)


def print_tfo(out_dir, out=sys.stdout):
    """Group tfo: none vs none + TCP Fast Open vs warm spares, per RTT (claims.tfo_rows)."""
    import claims as C
    S, _ = C.load(out_dir)
    rows = C.tfo_rows(S, R=C.load_reps(out_dir))
    if not rows:
        return
    def v(x, d=2):
        if x is None or x[0] is None:
            return "-"
        return f"{x[0]:.{d}f}" + (f"±{x[1]:.{d}f}" if x[1] is not None else "")
    print("\nTCP Fast Open (group tfo; mean ± 95% CI; conns: held at the targets; SYN data: share of "
          "target connections whose SYN carried data):", file=out)
    for r in rows:
        print(f"  {r['rtt']:g} ms RTT", file=out)
        for name, c in r["cells"].items():
            sh, tc, rss = c["syn_share"], c["target_conns"], c["rss_mb"]
            tc_s = "-" if tc is None else f"{tc:.1f}"
            rss_s = "-" if rss is None else f"{rss:.1f}"
            sh_s = "-" if sh is None else f"{100 * sh:.0f}%"
            print(f"    {name:<9} {c['pool']:<20} open p50 {v(c['p50']):>14} ms  p99 {v(c['p99'], 1):>12} ms  "
                  f"conns {tc_s:>6}  rss {rss_s:>5} MB  SYN data {sh_s:>4}  n {c['n']}", file=out)
        for k in ("tfo_minus_none_p50", "tfo_minus_none_p99", "tfo_minus_spares_p50", "tfo_minus_spares_p99"):
            if k in r:
                d, ci, how = r[k]
                if d is None:
                    continue
                print(f"    {k.replace('_', ' ').replace('tfo minus', 'TFO -'):<22} {d:+.2f} ms"
                      + ("" if ci is None else f" [{ci[0]:+.2f}, {ci[1]:+.2f}]") + f" ({how})", file=out)


def print_blocks(blocks, out=sys.stdout):
    if not blocks:
        return
    print("\nblock effects (log scale; + = the block ran slower/costlier than its cells' mean; "
          "blocks.csv has every group):", file=out)
    seen = {}
    for b in blocks:
        if b["group"] == "all":
            seen.setdefault(b["metric"], []).append(b)
    for k, bs in seen.items():
        print(f"  {k:<22} " + " ".join(f"b{b['block']} {b['effect_pct']:+.1f}%" for b in bs)
              + f"   (SD between blocks {bs[0]['block_sd_pct']:.1f}%, within cells "
              f"{bs[0]['within_sd_pct']:.1f}%)", file=out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dirs", nargs="*")
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "results"))
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--print", action="store_true", help="print the tables (the default)")
    ap.add_argument("--no-claims", action="store_true", help="do not print the claims table")
    ap.add_argument("--allow-mixed-builds", action="store_true",
                    help="summarise rows of several commits/builds, one summary row per cell "
                         "and build (default: refuse)")
    a = ap.parse_args()
    dirs = []
    for d in a.dirs:
        if d in ("smoke", "quick", "full") and not os.path.isdir(d):
            d = os.path.join(ROOT, "results", f"latest-{d}")
        dirs.append(os.path.realpath(d))
    dirs = dirs or default_dirs()
    if not dirs:
        print("aggregate: no results (run experiments/run.sh first)", file=sys.stderr)
        return 1
    rows = read_rows(dirs)
    if not rows:
        print("aggregate: no rows in " + ", ".join(dirs), file=sys.stderr)
        return 1
    builds = builds_of(rows)
    mixed = len(builds) > 1
    desc = "; ".join(f"commit {sha[:10]} ({prov}): {', '.join(sorted(ds))}"
                     for (sha, prov), ds in sorted(builds.items()))
    if mixed and not a.allow_mixed_builds:
        print("aggregate: REFUSED: these rows come from more than one build, which would be "
              f"pooled silently: {desc}. Aggregate one build, or pass --allow-mixed-builds "
              "(one summary row per cell and build)", file=sys.stderr)
        return 2
    dirty = any(prov != "clean" for _, prov in builds)
    print(f"aggregate: data of {desc or 'no ok rows'}"
          + (" -- MIXED BUILDS, summarised per cell and build (cell_id@sha)" if mixed else "")
          + (" -- WARNING: NOT FROM A CLEAN COMMITTED TREE (provenance DIRTY/unknown)" if dirty else ""),
          file=sys.stderr)
    summary, rep_rows = summarize(rows, by_build=mixed)
    micro = summarize_micro(dirs)
    write_csv(os.path.join(a.out_dir, "summary.csv"), summary)
    write_csv(os.path.join(a.out_dir, "reps.csv"), reps_table(rep_rows))
    blocks = block_effects(summary, rep_rows)
    write_csv(os.path.join(a.out_dir, "blocks.csv"), blocks)
    with open(os.path.join(a.out_dir, "summary_provenance.txt"), "w") as fh:
        for (sha, prov), ds in sorted(builds.items()):
            fh.write(f"{sha} {prov} {' '.join(sorted(ds))}\n")
    if micro:
        write_csv(os.path.join(a.out_dir, "micro_summary.csv"), micro)
    elif os.path.exists(os.path.join(a.out_dir, "micro_summary.csv")):
        os.remove(os.path.join(a.out_dir, "micro_summary.csv"))  # never keep a stale one
    with open(os.path.join(a.out_dir, "summary_sources.txt"), "w") as fh:
        for d in dirs:
            fh.write(os.path.relpath(d, ROOT) + "\n")
    if not a.quiet:
        print(f"summary of {', '.join(os.path.relpath(d, ROOT) for d in dirs)} "
              f"({len(summary)} cells; mean ± 95% CI over reps; rtt = effective RTT ms)")
        print(f"data: {desc}" + (" [MIXED BUILDS: per cell and build]" if mixed else "")
              + (" [NOT FROM A CLEAN COMMITTED TREE]" if dirty else ""))
        print_table(summary, micro)
        print_blocks(blocks)
        if not a.no_claims:
            print_claims(a.out_dir)
            print_tfo(a.out_dir)
        print(f"\nwrote {os.path.relpath(os.path.join(a.out_dir, 'summary.csv'), ROOT)}"
              + (f", {os.path.relpath(os.path.join(a.out_dir, 'micro_summary.csv'), ROOT)}" if micro else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
