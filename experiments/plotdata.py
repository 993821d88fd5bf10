#!/usr/bin/env python3
"""Writes the gnuplot data for experiments/plots/*.gp from RESULTS/summary.csv and
RESULTS/micro_summary.csv into DATA_DIR.

usage: plotdata.py [DATA_DIR [RESULTS]]   (defaults: results/figures/data, results)

For each figure NAME: NAME.dat (one block per series, blocks separated by two blank
lines, plotted with `index`) and NAME.inc (gnuplot variables: N series, their names,
axis hints). A figure without data gets no files (figures.sh skips it, loudly).
Prints the names of the figures it prepared, one per line.
"""
import csv
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as MD  # noqa: E402
import pooltypes  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fnum(x, default=None):
    try:
        return float(x)
    except (TypeError, ValueError):
        return default


def load(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def in_group(r, g):
    return g in r["group"].split(",")


def rtt_of(r):
    return fnum(r["rtt_effective"], 0.0)


def write(dd, name, blocks, names, extra=None):
    """blocks: list of lists of rows (tuples); names: series titles."""
    blocks, names = zip(*[(b, n) for b, n in zip(blocks, names) if b]) if any(blocks) else ((), ())
    if not blocks:
        return False
    with open(os.path.join(dd, name + ".dat"), "w") as f:
        for i, (b, n) in enumerate(zip(blocks, names)):
            if i:
                f.write("\n\n")
            f.write(f"# {n}\n")
            for row in b:
                f.write(" ".join("NaN" if v is None or v == "" else f"{v}" for v in row) + "\n")
    with open(os.path.join(dd, name + ".inc"), "w") as f:
        f.write(f"N = {len(blocks)}\n")
        f.write('names = "' + " ".join(n.replace(" ", "_") for n in names) + '"\n')
        for k, v in (extra or {}).items():
            f.write(f"{k} = {v}\n")
    return True


def m(r, k, mul=1.0):
    v = fnum(r.get(k + "_mean"))
    return None if v is None else v * mul


def ci(r, k, mul=1.0):
    v = fnum(r.get(k + "_ci"))
    return 0.0 if v is None else v * mul


def gci(r, k):
    """(geometric mean, lower, upper) from the log-scale summary columns."""
    lm, lh = fnum(r.get(k + "_lmean")), fnum(r.get(k + "_lci"))
    if lm is None:
        return (None, None, None)
    lh = lh or 0.0
    return (round(math.exp(lm), 4), round(math.exp(lm - lh), 4), round(math.exp(lm + lh), 4))


def main():
    res = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "results")
    dd = sys.argv[1] if len(sys.argv) > 1 else os.path.join(res, "figures", "data")
    os.makedirs(dd, exist_ok=True)
    for fn in os.listdir(dd):
        if fn.endswith((".dat", ".inc")):
            os.remove(os.path.join(dd, fn))
    S = [r for r in load(os.path.join(res, "summary.csv")) if int(r["n_ok"] or 0) > 0]
    M = load(os.path.join(res, "micro_summary.csv"))
    made = []
    # the pool types in these results, in the registry's order (series order and colours)
    pools = pooltypes.ordered({r["pool_type"] for r in S} | {r["impl"] for r in M})

    # 1. reuse rate vs min idle, per pool type (the minidle group; its RTT and rate)
    rows = [r for r in S if in_group(r, "minidle")]
    blocks, names = [], []
    for p in [p for p in pools if p != "none"]:   # none holds no spare: no reuse to plot
        b = sorted((int(r["min_idle"]), m(r, "reuse_rate", 100), ci(r, "reuse_rate", 100),
                    m(r, "open_p50_ms"), ci(r, "open_p50_ms"))
                   for r in rows if r["pool_type"] == p)
        blocks.append(b)
        names.append(p)
    if rows:
        desc = f"{fnum(rows[0]['rate']):g} streams/s, {rtt_of(rows[0]):g} ms RTT, " \
               f"{rows[0]['targets']} targets (Zipf)"
        if write(dd, "reuse_minidle", blocks, names, {"desc": f'"{desc}"'}):
            made.append("reuse_minidle")

    # 2. open latency p50/p99 vs rate per pool type, one figure per RTT. Log y axis:
    # geometric mean over reps with its 95% CI on the log scale (never below zero)
    rows = [r for r in S if in_group(r, "pooltype")]
    for rtt in sorted({rtt_of(r) for r in rows}):
        blocks, names = [], []
        for p in pools:
            b = sorted((fnum(r["rate"]),) + gci(r, "open_p50_ms") + gci(r, "open_p99_ms")
                       + (m(r, "reuse_rate", 100),)
                       for r in rows if r["pool_type"] == p and rtt_of(r) == rtt)
            blocks.append(b)
            names.append(p)
        name = f"latency_rate_rtt{rtt:g}"
        rates = [fnum(r["rate"]) for r in rows if rtt_of(r) == rtt]
        if write(dd, name, blocks, names, {"rtt": f"{rtt:g}", "xmin": min(rates) / 1.4,
                                            "xmax": max(rates) * 1.4}):
            made.append(name)

    # 3. micro: ns per item vs threads, per implementation and key set: the same-worker
    # cycle (micro_<keys>) and the server's pattern (micro_shared_<keys>, refill16) at
    # thread counts up to the cores; oversubscribed rows in their own figure
    # (micro_oversub_<keys>), never mixed into the contention figures
    def over(r):
        return str(r.get("oversubscribed", "0")) not in ("0", "", "False")
    for prefix, variant, detail, ov in (("micro_", "cycle", None, False),
                                        ("micro_shared_", "shared", "refill16", False),
                                        ("micro_oversub_", "cycle", None, True)):
        sel = [r for r in M if r["variant"] == variant and over(r) == ov
               and (detail is None or r.get("detail") == detail)]
        for keys in sorted({r["keys"] for r in sel}):
            blocks, names = [], []
            for p in pools:
                b = sorted((int(r["threads"]), fnum(r["ns_per_cycle_mean"]),
                            fnum(r["ns_per_cycle_ci"], 0.0), fnum(r["hit_mean"]))
                           for r in sel if r["impl"] == p and r["keys"] == keys)
                blocks.append(b)
                names.append(p)
            label = keys + (f", {variant} {detail}" if detail else "") + (", OVERSUBSCRIBED" if ov else "")
            if write(dd, f"{prefix}{keys}", blocks, names, {"keys": f'"{label}"'}):
                made.append(f"{prefix}{keys}")

    # 4. memory vs max connections (the maxconns group)
    rows = [r for r in S if in_group(r, "maxconns")]
    b = sorted((int(r["max_conns"]), m(r, "server_rss_mb"), ci(r, "server_rss_mb"),
                m(r, "error_rate", 100), ci(r, "error_rate", 100), m(r, "open_p99_ms"),
                ci(r, "open_p99_ms")) for r in rows)
    if rows:
        desc = f"{rows[0]['pool_type']}, min idle {rows[0]['min_idle']}, " \
               f"{fnum(rows[0]['rate']):g} streams/s, {rtt_of(rows[0]):g} ms RTT, " \
               f"{rows[0]['targets']} targets"
        if write(dd, "memory_maxconns", [b], ["server_rss"], {"desc": f'"{desc}"'}):
            made.append("memory_maxconns")

    # 5. cleaned / stale / wasted connections vs pool idle time (the idle group)
    rows = [r for r in S if in_group(r, "idle")]
    b = sorted((int(r["idle_secs"]), m(r, "cleaned_per_1k"), ci(r, "cleaned_per_1k"),
                m(r, "stale_per_1k"), ci(r, "stale_per_1k"), m(r, "wasted_per_1k"),
                ci(r, "wasted_per_1k"), m(r, "reuse_rate", 100), ci(r, "reuse_rate", 100))
               for r in rows)
    if rows:
        desc = f"{rows[0]['pool_type']}, min idle {rows[0]['min_idle']}, " \
               f"{fnum(rows[0]['rate']):g} streams/s, {rtt_of(rows[0]):g} ms RTT, " \
               f"target closes idle connections after {rows[0]['tidle']} s"
        if write(dd, "cleaned_idle", [b], ["idle"], {"desc": f'"{desc}"',
                                                        "tidle": rows[0]["tidle"]}):
            made.append("cleaned_idle")
    # 6. the idle curve: reuse, stale spares, wasted dials, failures vs pool idle time
    # against the target's idle timeout, measured (mean, 95% CI) and the model's line
    rows = sorted((r for r in S if in_group(r, "idle") and fnum(r.get("tidle"), 0) > 0),
                  key=lambda r: int(r["idle_secs"]))
    if rows:
        b = []
        for r in rows:
            P = MD.predict_row(r)
            wd = m(r, "wasted_dials_per_stream", 1000)
            wdc = ci(r, "wasted_dials_per_stream", 1000)
            if wd is None:  # results without /metrics: connections opened, never used
                wd, wdc = m(r, "wasted_per_1k"), ci(r, "wasted_per_1k")
            b.append((int(r["idle_secs"]), m(r, "reuse_rate", 100), ci(r, "reuse_rate", 100),
                      round(100 * P["reuse"], 2), m(r, "stale_per_1k"), ci(r, "stale_per_1k"),
                      round(P["stale_per_1k"], 2), wd, wdc, round(1000 * P["wasted_dials_per_stream"], 2),
                      m(r, "error_rate", 1000), ci(r, "error_rate", 1000), round(1000 * P["failure_rate"], 3)))
        r0 = rows[0]
        lam = fnum(r0["rate"]) / max(1, int(r0["targets"]))
        desc = (f"{r0['pool_type']}, --min-idle-connections {MD.row_flag(r0)}, {r0['targets']} targets"
                f"{' uniform' if fnum(r0.get('zipf'), 1) == 0 else ''}, {fnum(r0['rate']):g} streams/s"
                f"{f' ({lam:g}/s per target)' if fnum(r0.get('zipf'), 1) == 0 else ''}, "
                f"{rtt_of(r0):g} ms RTT; dashed: model (experiments/model.py)")
        if write(dd, "idle_curve", [b], ["idle"], {"desc": f'"{desc}"', "tidle": r0["tidle"],
                                                     "nrows": len(b)}):
            made.append("idle_curve")
    # 7. the contention regime: knee and closed-loop rate per pool type and worker
    # count, and their paired ratios to lock (experiments/saturation.py)
    import saturation
    made += saturation.plot_data(res, dd, write)
    print("\n".join(made))
    return 0


if __name__ == "__main__":
    sys.exit(main())
