"""The seeds' quantitative claims, tested against results/summary.csv and
results/micro_summary.csv; and the rule that rederives a pool config for a
scenario from the measured cells (used by experiments/advise and paper/gen_tables.py).

Comparisons of two cells are PAIRED when results/reps.csv has both (the runner's
blocked design: every cell once per block, random order, one load seed per
block): the per-block differences (ratios: differences of logs) and a seeded
bootstrap 95% CI of their mean (stats.paired, 4,000 resamples, percentile). A CI
narrower than the latency histogram's resolution (1/128 of the value) is widened
to it. Only without reps.csv (older results) does a comparison fall back to the
summaries: each mean's standard error from its CI (se = h / t_{0.975,n-1}) and
Welch's t (unpaired), labelled as such. Ratios (speed-ups, memory) are ratios of
geometric means (never negative). Micro-benchmark rows are never paired (Google
Benchmark repetitions run back to back); rows run with more threads than cores
are reported apart and are not evidence about contention.
"""
import csv
import math
import os

import stats as st
from stats import fnum

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The rule's last tie-break: a judgement about the types the seeds named, not a
# list of them (iterate pooltypes.types() for that). A type not ranked here
# ranks after them.
SIMPLICITY = {"lock": 0, "lockfree": 1, "highperf": 2, "none": 3}
ERR_LIMIT = 0.001  # a config that fails more than 0.1% of streams is not a candidate


def load_csv(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def load(results_dir=None):
    rd = results_dir or os.path.join(ROOT, "results")
    S = [r for r in load_csv(os.path.join(rd, "summary.csv")) if int(r.get("n_ok") or 0) > 0]
    M = load_csv(os.path.join(rd, "micro_summary.csv"))
    return S, M


def load_reps(results_dir=None):
    """{cell_id: {metric: {block: value}}} from reps.csv ({} if absent)."""
    rd = results_dir or os.path.join(ROOT, "results")
    R = {}
    for r in load_csv(os.path.join(rd, "reps.csv")):
        b = r.get("block")
        cell = R.setdefault(r["cell_id"], {})
        for k, v in r.items():
            x = fnum(v)
            if x is not None and k not in ("block", "load_seed", "order_pos"):
                cell.setdefault(k, {})[b] = x
    return R


# histogram resolution of the latency percentiles (bench/hist.h: 1/128 of the value)
HIST_REL = 1.0 / 128
PCT_METRICS = ("open_p50_ms", "open_p99_ms", "open_all_p50_ms", "open_all_p99_ms", "total_p99_ms")


def paired_cmp(R, a, b, metric, log):
    """Paired comparison of cells a and b (summary rows) on metric, or None when
    reps.csv lacks either or they share < 2 blocks."""
    if not R:
        return None
    ra = R.get(a["cell_id"], {}).get(metric)
    rb = R.get(b["cell_id"], {}).get(metric)
    if not ra or not rb:
        return None
    floor = 0.0
    if metric in PCT_METRICS:
        floor = math.log1p(HIST_REL) if log else HIST_REL * max(
            fnum(a.get(metric + "_mean"), 0), fnum(b.get(metric + "_mean"), 0))
    res = st.paired(ra, rb, log=log, floor=floor)
    if res is None or res["n"] < 2:
        return None
    if res["n"] < 3:  # two blocks: the bootstrap has 3 distinct resamples, no interval
        res["ci"] = None
    return res


def cmp_diff(R, a, b, metric):
    """a - b: (d, ci, how) paired when possible, else unpaired Welch."""
    p = paired_cmp(R, a, b, metric, log=False)
    if p is not None:
        return p["est"], p["ci"], f"paired, {p['n']} blocks"
    d, ci = diff(est(a, metric), est(b, metric))
    return d, ci, "unpaired Welch"


def cmp_ratio(R, a, b, metric):
    """Ratio of geometric means a/b: (r, ci, how), paired when possible."""
    p = paired_cmp(R, a, b, metric, log=True)
    if p is not None:
        return p["est"], p["ci"], f"paired, {p['n']} blocks"
    la, lb = lest(a, metric), lest(b, metric)
    if la is None or lb is None:
        return None, None, "n/a"
    r, ci = gratio(la, lb)
    return r, ci, "unpaired Welch"


def cmp_speedup(R, new, base, metric):
    """Lower-is-better metric: base/new - 1 (0.3 = new is 30% better), with CI."""
    r, ci, how = cmp_ratio(R, base, new, metric)
    if r is None:
        return None, None, how
    return r - 1, (None if ci is None else (ci[0] - 1, ci[1] - 1)), how


def p99_metric(r):
    """The failure-inclusive p99 when measured (no survivor bias), else the old one."""
    return "open_all_p99_ms" if fnum(r.get("open_all_p99_ms_mean")) is not None else "open_p99_ms"


def groups(r):
    return r["group"].split(",")


def rtt(r):
    return fnum(r["rtt_effective"], 0.0)


def est(r, metric):
    """(mean, se, n) of a summary row's metric; se None when n < 2."""
    m = fnum(r.get(metric + "_mean"))
    h = fnum(r.get(metric + "_ci"))
    n = int(fnum(r.get("n_ok") if "n_ok" in r else r.get("n"), 0))
    if m is None:
        return None
    se = h / st.t975(n - 1) if (h is not None and n >= 2) else None
    return m, se, n


def lest(r, metric):
    """(mean of ln x, its se, n) for a metric summarised on the log scale."""
    m = fnum(r.get(metric + "_lmean"))
    h = fnum(r.get(metric + "_lci"))
    n = int(fnum(r.get("n_ok") if "n_ok" in r else r.get("n"), 0))
    if m is None:
        return None
    se = h / st.t975(n - 1) if (h is not None and n >= 2) else None
    return m, se, n


def micro_lest(r):
    return lest(r, "ns_per_cycle")


def _df(parts):
    """Welch-Satterthwaite df from [(se, n), ...]."""
    num = sum(se ** 2 for se, n in parts) ** 2
    den = sum(se ** 4 / (n - 1) for se, n in parts if n > 1)
    return num / den if den > 0 else float("inf")


def diff(a, b):
    """a - b with a 95% CI; a, b = (mean, se, n)."""
    d = a[0] - b[0]
    if a[1] is None or b[1] is None:
        return d, None
    se = math.hypot(a[1], b[1])
    if se == 0:
        return d, (d, d)
    h = st.t975(_df([(a[1], a[2]), (b[1], b[2])])) * se
    return d, (d - h, d + h)


def gratio(la, lb):
    """Ratio of geometric means a/b from log-scale estimates, with a 95% CI
    (exp of Welch's CI on the difference of mean logs)."""
    d, ci = diff(la, lb)
    return math.exp(d), (None if ci is None else (math.exp(ci[0]), math.exp(ci[1])))


def speedup(new, base):
    """For a lower-is-better metric given as log-scale estimates: how much better
    `new` is than `base`, as a fraction (0.3 = +30%), i.e. base/new - 1, with CI."""
    r, ci = gratio(base, new)
    return r - 1, (None if ci is None else (ci[0] - 1, ci[1] - 1))


def range_verdict(v, ci, lo, hi):
    """Claimed improvement in [lo, hi] (fractions) vs the measured one's 95% CI."""
    if ci is None:
        return "inconclusive (one rep)"
    if ci[1] < lo:  # the whole CI lies below the claimed range
        if ci[1] < 0:
            return "refuted (slower)"
        if ci[0] <= 0:
            return "refuted (no significant gain)"
        return "refuted (smaller gain)"
    if ci[0] > hi:
        return "exceeded (larger gain)"
    if ci[0] > 0:
        return "consistent"
    return "inconclusive"


def pct(x, d=0):
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:+.{d}f}%"


def pct_ci(v, ci, d=0):
    if ci is None:
        return f"{pct(v, d)} (n=1)"
    return f"{pct(v, d)} [{pct(ci[0], d)}, {pct(ci[1], d)}]"


def fmt(m, h, d=1, unit=""):
    if m is None:
        return "n/a"
    return f"{m:.{d}f}{unit}" + ("" if h is None else f" ± {h:.{d}f}")


def cell_of(S, **kv):
    """The cell matching every given parameter (numbers compared as floats)."""
    out = []
    for r in S:
        ok = True
        for k, v in kv.items():
            if k == "group":
                ok = v in groups(r)
            elif k == "rtt":
                ok = rtt(r) == v
            elif isinstance(v, (int, float)):
                ok = fnum(r[k]) == float(v)
            else:
                ok = r[k] == v
            if not ok:
                break
        if ok:
            out.append(r)
    return out


def balanced(S, pool, rate, rtt_ms):
    """The pooltype cell of `pool` at the balanced config (200/300/5)."""
    c = [r for r in cell_of(S, group="pooltype", pool_type=pool, rate=rate, rtt=rtt_ms)
         if r["max_conns"] == "200" and r["idle_secs"] == "300" and r["min_idle"] == "5"]
    return c[0] if c else None


def spares_txt(r):
    """'equal spares: N per target (held: M)' for a cell."""
    t = r.get("spares_target", "")
    held = fnum(r.get("spares_held_mean"))
    if t in ("", None):
        return f"min idle flag {r.get('min_idle')}"
    return f"{t} spares/target asked" + ("" if held is None else
                                         f", {held:.0f} held over {r.get('targets')} targets")


def ci_of(r, metric):
    return fnum(r.get(metric + "_mean")), fnum(r.get(metric + "_ci"))


# ------------------------------------------------------------------ claims

def claims(S, M, ncores=None, R=None):
    """Rows: claim, test (what was compared, where), measured, verdict. R: the
    per-block values (load_reps); comparisons are paired when it has the cells."""
    ncores = ncores or os.cpu_count() or 2
    R = R or {}
    rows = []
    # ---- C1/C2: lockfree +30-50%, highperf +50-80% over lock
    for impl, lo, hi, claim in (("lockfree", 0.30, 0.50, "lockfree pool +30–50% over lock"),
                                ("highperf", 0.50, 0.80, "highperf pool +50–80% over lock")):
        # micro: ns per stream's pool work, 16 keys, at 1 thread and each count up to the
        # cores; the server-like variant (shared: refills by the owner worker's tick,
        # misses, steals) when measured, else the same-worker cycle
        variant = "shared" if any(r["variant"] == "shared" for r in M) else "cycle"
        vr = [r for r in M if r["variant"] == variant and r["keys"] == "keys16"
              and str(r.get("oversubscribed", "0")) in ("0", "", "False")]
        for thr in sorted({int(r["threads"]) for r in vr}):
            if thr > ncores:
                continue
            a = [r for r in vr if r["impl"] == impl and int(r["threads"]) == thr]
            b = [r for r in vr if r["impl"] == "lock" and int(r["threads"]) == thr]
            if a and b and a[0].get("detail", "") == b[0].get("detail", ""):
                v, ci = speedup(micro_lest(a[0]), micro_lest(b[0]))
                rows.append({"claim": claim, "test": f"micro ({variant}{'/' + a[0]['detail'] if a[0].get('detail') else ''}): "
                             f"ns per stream's pool work, 16 keys, {thr} thread{'s' if thr > 1 else ''} "
                             f"(hit {fnum(a[0].get('hit_mean'), float('nan')):.2f} vs {fnum(b[0].get('hit_mean'), float('nan')):.2f})",
                             "measured": pct_ci(v, ci), "verdict": range_verdict(v, ci, lo, hi)})
        # end to end: at the highest loopback rate and at 20 ms RTT
        pt = [r for r in S if "pooltype" in groups(r)]
        for rt in sorted({rtt(r) for r in pt}):
            rates = sorted({fnum(r["rate"]) for r in pt if rtt(r) == rt
                            and balanced(S, impl, fnum(r["rate"]), rt) and balanced(S, "lock", fnum(r["rate"]), rt)})
            if not rates:
                continue
            rate = rates[-1]
            a, b = balanced(S, impl, rate, rt), balanced(S, "lock", rate, rt)
            for metric, label in (("server_cpu_ms_per_1k", "server CPU per stream"),
                                  ("open_p50_ms", "open latency p50"),
                                  (p99_metric(a), "open latency p99 (failures at the timeout)"
                                   if p99_metric(a) == "open_all_p99_ms" else "open latency p99")):
                v, ci, how = cmp_speedup(R, a, b, metric)
                if v is None:
                    continue
                rows.append({"claim": claim, "test": f"end to end: {label}, {rate:g}/s, {rt:g} ms RTT, "
                                                     f"{spares_txt(a)} ({how})",
                             "measured": pct_ci(v, ci), "verdict": range_verdict(v, ci, lo, hi)})

    # ---- C3: reuse rate > 50% reachable (the seeds' target), at each seed config
    for g, name in (("seed-highconc", "high concurrency"), ("seed-lowlat", "low latency"),
                    ("seed-memlimited", "memory limited"), ("seed-balanced", "balanced")):
        for r in cell_of(S, group=g):
            m, h = ci_of(r, "reuse_rate")
            if m is None:
                continue
            lo_, hi_ = (m - h, m + h) if h is not None else (m, m)
            verdict = "reached" if lo_ > 0.5 else "not reached" if hi_ < 0.5 else "borderline"
            rows.append({"claim": "reuse rate > 50% is reachable",
                         "test": f"seed {name} config ({r['pool_type']} {r['max_conns']}/{r['idle_secs']}/{r['min_idle']}) "
                                 f"at {fnum(r['rate']):g}/s, {rtt(r):g} ms RTT",
                         "measured": fmt(100 * m, None if h is None else 100 * h, 0) + "%",
                         "verdict": verdict})
    # ---- C4: higher reuse -> faster proxy: pooled (balanced lockfree) vs none
    pt = [r for r in S if "pooltype" in groups(r)]
    for rt in sorted({rtt(r) for r in pt}):
        for rate in sorted({fnum(r["rate"]) for r in pt if rtt(r) == rt}):
            a, b = balanced(S, "lockfree", rate, rt), balanced(S, "none", rate, rt)
            if not a or not b:
                continue
            ru = fnum(a["reuse_rate_mean"])
            for metric, label in (("open_p50_ms", "p50"), (p99_metric(a), "p99")):
                d, ci, how = cmp_diff(R, a, b, metric)
                if ci is None:
                    verdict = "inconclusive (one rep)"
                elif ci[1] < 0:
                    verdict = "supported (faster)"
                elif ci[0] > 0:
                    verdict = "refuted (slower)"
                else:
                    verdict = "no significant difference"
                unit = "ms"
                rows.append({"claim": "reuse > 50% means a faster proxy",
                             "test": f"lockfree (reuse {100 * ru:.0f}%) vs none: open {label}, {rate:g}/s, {rt:g} ms RTT ({how})",
                             "measured": (f"{d:+.2f} {unit}" + ("" if ci is None else f" [{ci[0]:+.2f}, {ci[1]:+.2f}]")),
                             "verdict": verdict})
    # ---- C5: rate ranges (lock < 100/s, lockfree 100-500/s, highperf > 500/s)
    for rt in sorted({rtt(r) for r in pt}):
        for rate in sorted({fnum(r["rate"]) for r in pt if rtt(r) == rt}):
            cand = {p: balanced(S, p, rate, rt) for p in ("lock", "lockfree", "highperf")}
            cand = {p: c for p, c in cand.items() if c}
            if len(cand) < 2:
                continue
            claimed = "lock" if rate < 100 else "lockfree" if rate <= 500 else "highperf"
            for metric, label in (("open_p50_ms", "open p50"), ("server_cpu_ms_per_1k", "server CPU/stream")):
                ests = {p: est(c, metric) for p, c in cand.items()}
                best = min(ests, key=lambda p: ests[p][0])
                # is the best significantly better than every other type? (paired)
                cmps = {p: cmp_diff(R, cand[best], cand[p], metric) for p in ests if p != best}
                sig = all(c[1] is not None and c[1][1] < 0 for c in cmps.values())
                how = next(iter(cmps.values()))[2] if cmps else ""
                if claimed not in ests:
                    verdict = "untested"
                elif sig and best == claimed:
                    verdict = "supported"
                elif sig:
                    verdict = f"refuted ({best} better)"
                else:
                    # claimed type not significantly worse than the best?
                    dd, ci, _ = cmp_diff(R, cand[claimed], cand[best], metric)
                    verdict = ("refuted (" + best + " better)") if (ci and ci[0] > 0 and claimed != best) \
                        else "not supported (no significant difference)"
                meas = ", ".join(f"{p} {ests[p][0]:.{2 if metric == 'open_p50_ms' else 0}f}" for p in ests)
                rows.append({"claim": "best type by rate: lock <100/s, lockfree 100–500/s, highperf >500/s",
                             "test": f"{label} at {rate:g}/s, {rt:g} ms RTT (claimed best: {claimed}; {how})",
                             "measured": meas + (" ms" if metric == "open_p50_ms" else " ms/1k"),
                             "verdict": verdict})
    # ---- C6: idle time: "long idle time maximises reuse" vs a target's idle timeout
    idle = sorted(cell_of(S, group="idle"), key=lambda r: int(r["idle_secs"]))
    if len(idle) >= 2:
        short, long_ = idle[0], idle[-1]
        d, ci, how = cmp_diff(R, long_, short, "reuse_rate")
        verdict = ("inconclusive (one rep)" if ci is None else "supported" if ci[0] > 0
                   else "refuted" if ci[1] < 0 else "no significant difference")
        rows.append({"claim": "a long idle time maximises reuse (low-latency config)",
                     "test": f"reuse at idle {long_['idle_secs']} s vs {short['idle_secs']} s, target closes idle conns after {long_['tidle']} s",
                     "measured": (f"{100 * d:+.0f} pp" + ("" if ci is None else f" [{100 * ci[0]:+.0f}, {100 * ci[1]:+.0f}]")),
                     "verdict": verdict})
        for cell in (short, long_):
            m_, h_ = ci_of(cell, "error_rate")
            rows.append({"claim": "a long idle time maximises reuse (low-latency config)",
                         "test": f"streams failed at idle {cell['idle_secs']} s (failures here are likely spares "
                                 f"whose close by the target was still in flight at the liveness check)",
                         "measured": fmt(None if m_ is None else 100 * m_, None if h_ is None else 100 * h_, 2) + "%",
                         "verdict": "cost not mentioned by the seeds" if (m_ or 0) > 0 else "no failures"})
        ms, hs = ci_of(long_, "stale_per_1k")
        rows.append({"claim": "a long idle time maximises reuse (low-latency config)",
                     "test": f"spares gone stale (closed by target) per 1000 streams at idle {long_['idle_secs']} s",
                     "measured": fmt(ms, hs, 0), "verdict": "cost not mentioned by the seeds"})
    # ---- C7: memory: a small pool saves memory; lock low / lockfree medium / highperf high
    mc = sorted(cell_of(S, group="maxconns"), key=lambda r: int(r["max_conns"]))
    if len(mc) >= 2:
        small, big = mc[0], mc[-1]
        v, ci, how = cmp_ratio(R, small, big, "server_rss_mb")
        verdict = ("inconclusive (one rep)" if ci is None else "supported" if ci[1] < 1
                   else "refuted (more memory)" if ci[0] > 1 else "no significant difference")
        es = est(small, "error_rate")
        rows.append({"claim": "a small pool (max connections) uses less memory",
                     "test": f"server peak RSS, max {small['max_conns']} vs {big['max_conns']} per target, "
                             f"{fnum(small['rate']):g}/s, {rtt(small):g} ms RTT",
                     "measured": f"ratio {v:.2f}" + ("" if ci is None else f" [{ci[0]:.2f}, {ci[1]:.2f}]")
                                 + (f"; errors at max {small['max_conns']}: {100 * es[0]:.1f}%" if es else ""),
                     "verdict": verdict})
    for rt in sorted({rtt(r) for r in pt}):
        rates = sorted({fnum(r["rate"]) for r in pt if rtt(r) == rt})
        if not rates:
            continue
        rate = rates[-1]
        lk, hp = balanced(S, "lock", rate, rt), balanced(S, "highperf", rate, rt)
        if lk and hp:
            v, ci, how = cmp_ratio(R, hp, lk, "server_rss_mb")
            verdict = ("inconclusive (one rep)" if ci is None else "supported" if ci[0] > 1
                       else "refuted" if ci[1] < 1 else "no significant difference")
            rows.append({"claim": "memory: lock low, highperf high",
                         "test": f"server peak RSS highperf / lock, {rate:g}/s, {rt:g} ms RTT ({how}; "
                                 f"user-space RSS only: kernel memory per spare is kmem_per_spare_kb)",
                         "measured": f"{v:.2f}" + ("" if ci is None else f" [{ci[0]:.2f}, {ci[1]:.2f}]")
                                     + f" ({fnum(hp['server_rss_mb_mean']):.1f} vs {fnum(lk['server_rss_mb_mean']):.1f} MB)",
                         "verdict": verdict})
    return rows


# ------------------------------------------------------------------ rederiving a config

def is_tfo(r):
    return str(r.get("tfo") or "0") == "1"


def tfo_rows(S, R=None):
    """Group tfo (issue 12, item 9): per RTT, pool none, none with TCP Fast Open and
    warm spares (a pooling type, no TFO): their open p50/p99, connections held at the
    targets, server RSS, share of target connections whose SYN carried data, and the
    paired differences TFO - none and TFO - spares (ms; negative = TFO faster)."""
    R = R or {}
    g = [r for r in S if "tfo" in groups(r)]
    out = []
    for rt in sorted({rtt(r) for r in g}):
        at = [r for r in g if rtt(r) == rt]
        none = next((r for r in at if r["pool_type"] == "none" and not is_tfo(r)), None)
        tfo = next((r for r in at if r["pool_type"] == "none" and is_tfo(r)), None)
        spares = next((r for r in at if r["pool_type"] != "none" and not is_tfo(r)), None)
        row = {"rtt": rt, "cells": {}}
        for name, c in (("none", none), ("none+tfo", tfo), ("spares", spares)):
            if c is None:
                continue
            p99 = p99_metric(c)
            row["cells"][name] = {
                "pool": c["pool_type"] + (f" min idle {c['min_idle']}" if c["pool_type"] != "none" else ""),
                "p50": est(c, "open_p50_ms"), "p99": est(c, p99),
                "target_conns": fnum(c.get("target_conns_mean")),
                "rss_mb": fnum(c.get("server_rss_mb_mean")),
                "syn_share": fnum(c.get("tfo_syn_data_share_mean")), "n": c.get("n_ok")}
        for other, c in (("none", none), ("spares", spares)):
            if tfo is None or c is None:
                continue
            for metric, label in (("open_p50_ms", "p50"), (p99_metric(tfo), "p99")):
                d, ci, how = cmp_diff(R, tfo, c, metric)
                row[f"tfo_minus_{other}_{label}"] = (d, ci, how)
        out.append(row)
    return out


def _not_worse(r, best, metric, R=None):
    """Is cell r statistically indistinguishable from (or better than) `best` on a
    lower-is-better metric? The 95% CI of r - best (paired by block when reps.csv
    has both, else Welch) includes 0 (or lies below). One rep: a tie too (one rep
    cannot tell them apart; the tie is then broken by cost, not by noise)."""
    if r is best:
        return True
    d, ci, _ = cmp_diff(R, r, best, metric)
    if ci is None:
        return True
    return ci[0] <= 0


def cost_key(r):
    """What a config costs, for breaking ties that the data cannot break: spares
    per target asked (connections held open at every target), then the per-target
    cap, then the simplest pool type. Never a measured mean: a difference that is
    not significant is noise, and ranking by it would pick at random."""
    sp = fnum(r.get("spares_target"))
    if sp is None:
        sp = fnum(r.get("min_idle"), 0) * (1 if r["pool_type"] != "highperf" else fnum(r.get("workers"), 1))
    return (sp, fnum(r.get("max_conns"), 1e9), SIMPLICITY.get(r["pool_type"], 9))


def choose(cands, R=None):
    """Best cell among candidates: the cells whose open p50 is not significantly
    worse than the lowest (paired 95% CI of the difference includes 0) are tied;
    among those, the same test on p99 (failure-inclusive when measured); then the
    cheapest config (cost_key: fewest spares, lowest cap, simplest type), never a
    mean that the test could not tell apart. Returns (best, tied, why)."""
    if not cands:
        return None, [], "no candidate"
    key50 = lambda r: fnum(r["open_p50_ms_mean"], 1e18)  # noqa: E731
    b50 = min(cands, key=key50)
    tied = [r for r in cands if _not_worse(r, b50, "open_p50_ms", R)]
    m99 = p99_metric(b50)
    key99 = lambda r: fnum(r.get(m99 + "_mean"), 1e18)  # noqa: E731
    b99 = min(tied, key=key99)
    tied2 = [r for r in tied if _not_worse(r, b99, m99, R)]
    best = min(tied2, key=cost_key)
    why = (f"lowest open p50 ({len(tied)} of {len(cands)} candidates not significantly worse)"
           + (f", then lowest {m99[:-3].replace('_', ' ')} ({len(tied2)} not significantly worse)"
              if len(tied) > 1 else "")
           + (", then the cheapest config (fewest spares, lowest cap, simplest type)"
              if len(tied2) > 1 else ""))
    return best, [r for r in tied2 if r is not best], why


# What makes two cells the same config but for the pool type: the workload and
# the resources (cap, idle time, spares per target, workers).
SIZING = ("rate", "targets", "response_size", "zipf", "tidle", "tfo", "netns", "workers",
          "max_conns", "idle_secs", "spares_target")


def _sizing(r):
    return tuple(str(fnum(r.get(k), r.get(k))) for k in SIZING) + (rtt(r),)


def pool_type_for(S, best, R=None):
    """The pool type to run with `best`'s sizing, and why. A cell's type is not
    evidence by itself: the cell may win on its spares. Types are compared only
    where cells differ in the type alone: best and its twins (same workload, same
    cap, idle time, spares per target and workers), chosen by the rule of
    choose(); a type the data cannot tell apart loses to the simpler one. With no
    twin, the same rule over the equal-spares pool-type cells (group pooltype) at
    the nearest RTT and rate; with none of those either, the simplest type.
    Returns (type, why)."""
    if best["pool_type"] == "none":
        return "none", "no pool"
    twins = [r for r in S if r["pool_type"] != "none" and fnum(r.get("open_p50_ms_mean")) is not None
             and _sizing(r) == _sizing(best)]
    if len(twins) > 1:
        b, _, why = choose(twins, R)
        types = "/".join(sorted({r["pool_type"] for r in twins}, key=lambda t: SIMPLICITY.get(t, 9)))
        return b["pool_type"], f"{types} measured with this sizing: {why}"
    pt = [r for r in S if "pooltype" in groups(r) and r["pool_type"] != "none"
          and fnum(r.get("open_p50_ms_mean")) is not None
          and str(r.get("tfo") or "0") == "0" and str(r.get("netns") or "0") == "0"]
    if pt:
        rt = min({rtt(r) for r in pt}, key=lambda x: (abs(x - rtt(best)), x))
        pt = [r for r in pt if rtt(r) == rt]
        rr = min({fnum(r["rate"]) for r in pt}, key=lambda x: (abs(x - fnum(best["rate"])), x))
        pt = [r for r in pt if fnum(r["rate"]) == rr]
        b, _, why = choose(pt, R)
        return b["pool_type"], (f"no cell compares types with this sizing; the equal-spares pool-type cells "
                                f"at {rr:g}/s, {rt:g} ms RTT ({len(pt)} types): {why}")
    t = min(SIMPLICITY, key=SIMPLICITY.get)
    return t, "no cell compares pool types: the simplest type"


def candidates(S, rate, rtt_ms, memory_mb=None, targets=None):
    """Cells measured nearest the scenario: the nearest RTT, then the smallest measured
    rate >= the asked rate (else the largest); the same target count when measured.
    Infeasible cells (errors > 0.1%, RSS over memory_mb) are dropped. Returns
    (cands, chosen_rtt, chosen_rate, notes)."""
    notes = []
    pool = [r for r in S if fnum(r.get("open_p50_ms_mean")) is not None]
    if not pool:
        return [], None, None, ["no measured cells"]
    rtts = sorted({rtt(r) for r in pool})
    rt = min(rtts, key=lambda x: (abs(x - rtt_ms), x))
    if rt != rtt_ms:
        notes.append(f"no cells at {rtt_ms:g} ms RTT; using the nearest measured RTT, {rt:g} ms")
    pool = [r for r in pool if rtt(r) == rt]
    if targets is not None:
        ks = sorted({int(r["targets"]) for r in pool})
        k = min(ks, key=lambda x: (abs(x - targets), x))
        if k != targets:
            notes.append(f"no cells with {targets} targets; using {k}")
        pool = [r for r in pool if int(r["targets"]) == k]
    # only plain-workload cells (no target idle timeout, default reply size), and no
    # TCP Fast Open or namespace-at-0-ms cells (group tfo): the config advised is a pool's
    pool = [r for r in pool if str(r["tidle"]) in ("0", "0.0")
            and str(r.get("tfo") or "0") == "0" and str(r.get("netns") or "0") == "0"]
    rates = sorted({fnum(r["rate"]) for r in pool})
    above = [x for x in rates if x >= rate]
    rr = above[0] if above else rates[-1]
    if not above:
        notes.append(f"nothing measured at >= {rate:g}/s; using the highest measured rate, {rr:g}/s "
                     "(extrapolation: the recommendation may not hold)")
    elif rr != rate:
        notes.append(f"using cells measured at {rr:g}/s (the nearest rate >= {rate:g}/s)")
    pool = [r for r in pool if fnum(r["rate"]) == rr]
    feas = []
    for r in pool:
        er = fnum(r.get("error_rate_mean"), 0.0)
        if er > ERR_LIMIT:
            notes.append(f"excluded {r['cell_id']}: {100 * er:.1f}% of streams failed")
            continue
        rss = fnum(r.get("server_rss_mb_mean"))
        if memory_mb is not None and rss is not None and rss > memory_mb:
            notes.append(f"excluded {r['cell_id']}: server RSS {rss:.1f} MB > {memory_mb:g} MB")
            continue
        feas.append(r)
    return feas, rt, rr, notes


SCENARIOS = [
    # name, seed config (pool, max, idle, min idle), scenario rate for the test
    ("high concurrency", "seed-highconc", ("highperf", 500, 300, 20), "> 500/s", 600),
    ("low latency", "seed-lowlat", ("lockfree", 100, 600, 10), "< 200/s", 150),
    ("memory limited", "seed-memlimited", ("lock", 50, 120, 3), "< 100/s", 50),
    ("balanced", "seed-balanced", ("lockfree", 200, 300, 5), "100–500/s", 300),
]


def production_table(S, rtt_ms=20.0, R=None):
    """For each seed scenario: the seed's config as measured, and the config
    rederived from every cell measured at that scenario's rate."""
    out = []
    for name, g, seedcfg, rng, rate in SCENARIOS:
        seed_cells = cell_of(S, group=g)
        seed = min(seed_cells, key=lambda r: abs(fnum(r["rate"]) - rate)) if seed_cells else None
        srate = fnum(seed["rate"]) if seed else rate
        cands, rt, rr, notes = candidates(S, srate, rtt(seed) if seed else rtt_ms)
        best, tied, why = choose(cands, R)
        if best and best["pool_type"] != "none":
            pt, pwhy = pool_type_for(S, best, R)
            if pt != best["pool_type"]:
                notes = list(notes) + [f"the winning cell ran {best['pool_type']}; run its sizing as {pt}: {pwhy}"]
        out.append({"scenario": name, "range": rng, "seed_cfg": seedcfg, "seed": seed,
                    "rate": rr, "rtt": rt, "best": best, "tied": tied, "why": why,
                    "n_cands": len(cands), "notes": notes})
    return out
