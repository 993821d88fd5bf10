#!/usr/bin/env python3
"""experiments/model.py -- a model of warm-spare reuse, checked against the measured cells.

usage: python3 experiments/model.py [validate] [--results DIR] [--out CSV] [--quiet]
       python3 experiments/model.py predict --rate R --targets K --rtt-ms MS --pool-type T
                                    --min-idle N [--idle-secs I] [--target-idle-timeout T] ...

What the pool does (core/outbound.c, pools/*.c), and so what the model assumes:
  * The pool keeps never-used connected sockets ("spares") per target; a stream takes
    one (a hit) or dials (a miss). A socket that carried a stream is closed when the
    stream ends: nothing is returned to the pool. So the spares are a stock that
    streams consume once and the pool replenishes.
  * Replenishment is an (S-1, S) base-stock policy: the pool wants S spares per target
    (lock/lockfree: --min-idle-connections; highperf: that many per worker, pooled
    here by its stealing, so S = flag x workers), capped by --max-outbound-connections.
    A taken spare is re-dialed after a lead time D = the wait for the worker tick that
    asks for it + one connect (the RTT) + the dial's own cost. After an acquire the
    acquiring worker's tick runs in REFILL_SOON_MS; lock and lockfree refill a target
    only from its owner worker's tick, so for the other workers' acquires D also holds
    the wait for the owner's next tick (its next acquire, or REFILL_TICK_MS).
  * A stream that finds no spare dials for itself and does NOT order a refill (the
    stock is not below S because of it): lost sales. Then the spares on order are
    the busy servers of an M/G/S/S loss system, and the chance that an arrival finds
    the stock empty is Erlang's B(S, a), a = lambda D, whatever D's distribution
    (the insensitivity of the loss system). fill = 1 - B(S, a). (The backorder
    formula P(Poisson(a) <= S-1) is the other textbook answer; it undercounts hits
    here because misses do not queue for spares: backorder_fill() is kept to show
    the difference.) tests/experiments/test_model.py checks fill against a seeded
    Monte Carlo simulation of the same queue.
  * Refill connects are capped per worker (--max-spare-dials, per second): a worker
    whose targets consume more spares per second than that gets only that many back.
    Shared pools refill a target on its owner worker (hash(key) % workers, a random
    seed): the model averages over the owner assignments; highperf refills each
    worker's own cache.
  * Idle time: the pool closes a spare idle --max-idle-time-secs (I) and forgets a
    target not used for I (closing its spares); a target that closes a connection
    idle T seconds (tidle) makes older spares stale (found closed at acquire,
    discarded, and the stream dials). Spares are a stack (newest on top): with
    lambda D small only the top one turns over, so an arrival hits when the gap
    since the previous arrival to its target is < min(I, T) (effective times: the
    pool's tick and the target's sweep add their granularity), else misses; then all
    S spares are closed (stale or forgotten) and re-dialed; below the top, the other
    S-1 spares are closed each time they reach age I (wasted dials).
  * The refill gate: a target is pre-dialed only once it was asked for twice, so its
    first two arrivals miss, and so do those while its first spares dial; the model
    counts those that fall in the measured window (which starts at the last [Pool
    Stats] line before the end of --warmup: window_warmup()).
  * Open latency: a hit skips one connect (RTT + dial); the p50 of a mixture of hits
    and misses is a hit's when reuse > 50%, so the predicted p50 saving is the full
    RTT + dial above 50% reuse and 0 below (the mean saving is reuse x (RTT + dial)).
  * Memory: kernel memory per spare is the measured kmem_per_spare_kb (median over the
    cells); user memory per spare is the slope of the server's peak RSS against the
    spares asked, within each pool type (fixed effects) over the cells that vary
    min idle. Both read from results/summary.csv.

Constants read from the code, so the model follows it: REFILL_TICK_MS and
REFILL_SOON_MS (core/outbound.c), the default --max-spare-dials (core/server.c), the
target's idle sweep period (bench/target.c). DIAL_MS is an assumption (stated).

`validate` writes results/model_validation.csv: every measured cell with a pool
(none holds no spares and is left out) with the model's prediction against the
measured reuse and its 95% CI, and prints the summary line (mean and max absolute
error, cells inside the CI).
"""
import argparse
import csv
import itertools
import math
import os
import random
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from stats import fnum  # noqa: E402


def _code_const(rel, pattern, default):
    """An integer constant read from the source (the model follows the code)."""
    try:
        with open(os.path.join(ROOT, rel)) as f:
            m = re.search(pattern, f.read())
        return int(m.group(1)) if m else default
    except OSError:
        return default


REFILL_TICK_MS = _code_const("core/outbound.c", r"#define\s+REFILL_TICK_MS\s+(\d+)", 200)
REFILL_SOON_MS = _code_const("core/outbound.c", r"#define\s+REFILL_SOON_MS\s+(\d+)", 2)
MAX_SPARE_DIALS = _code_const("core/server.c", r"max_spare_dials\s*=\s*(\d+)\s*;", 200)
TARGET_SWEEP_MS = _code_const("bench/target.c", r"last_sweep\s*>=\s*(\d+)", 100)
# Assumption: a connect's own cost beside the round trip (socket, SYN, epoll wakeup).
DIAL_MS = 0.1
# A cell's reuse is a ratio of counts printed to 0.1%: a 95% CI of zero width (every
# rep equal) is widened to this when asking whether a prediction is inside it.
REUSE_RESOLUTION = 0.005
SHARED_OWNER = ("lock", "lockfree")   # refilled by the target's owner worker
PER_WORKER = ("highperf",)            # min idle per worker, own refills
NO_SPARES = ("none",)


# ------------------------------------------------------------------ pieces

def shares(k, zipf=1.0):
    """Popularity of K targets as the load generator draws them: p_i ~ 1/i^s
    (bench/loadgen/lg_target.c; s = 0 is uniform)."""
    w = [1.0 / (i ** zipf) for i in range(1, k + 1)]
    t = sum(w)
    return [x / t for x in w]


def erlang_b(s, a):
    """Erlang's loss formula B(s, a) by the stable recursion."""
    if a <= 0:
        return 0.0
    b = 1.0
    for k in range(1, int(s) + 1):
        b = a * b / (k + a * b)
    return b


def fill_rate(s, a):
    """Lost-sales (S-1, S) stock: P(an arrival finds a spare) = 1 - B(S, a)."""
    return 0.0 if s <= 0 else 1.0 - erlang_b(s, a)


def backorder_fill(s, a):
    """The backorder version: P(Poisson(a) <= S-1) (misses would wait for spares)."""
    if s <= 0:
        return 0.0
    term = math.exp(-a)
    tot = term
    for k in range(1, int(s)):
        term *= a / k
        tot += term
    return min(1.0, tot)


def tick_wait_s(mu, tau=None):
    """E[min(X, U)]: X ~ Exp(mu) (the owner worker's next acquire, whose tick follows),
    U ~ Uniform(0, tau) (the rest of the periodic tick). = 1/mu - (1 - e^{-mu tau})/(mu^2 tau)."""
    tau = (REFILL_TICK_MS if tau is None else tau) / 1000.0
    if mu <= 1e-9:
        return tau / 2
    return 1.0 / mu - (1.0 - math.exp(-mu * tau)) / (mu * mu * tau)


def poisson_cdf(n, m):
    """P(Poisson(m) <= n)."""
    if n < 0:
        return 0.0
    term = math.exp(-m)
    tot = term
    for k in range(1, n + 1):
        term *= m / k
        tot += term
    return min(1.0, tot)


def gate_misses(lam, warmup, duration):
    """Expected arrivals among a target's first two (the refill gate's misses) that fall
    in the measured window [warmup, warmup + duration]."""
    if duration <= 0:
        return 0.0
    return sum(poisson_cdf(j - 1, lam * warmup) - poisson_cdf(j - 1, lam * (warmup + duration))
               for j in (1, 2))


def p_later(a, ga, b, gb):
    """P(a + Ua > b + Ub), Ua ~ U(0, ga), Ub ~ U(0, gb) (numerically, 200 x 200 grid)."""
    n = 200
    if ga <= 0 and gb <= 0:
        return 1.0 if a > b else 0.0
    cnt = 0
    for i in range(n):
        ua = ga * (i + 0.5) / n
        for j in range(n):
            cnt += (a + ua > b + gb * (j + 0.5) / n)
    return cnt / (n * n)


# ------------------------------------------------------------------ the model

def spares_per_target(pool_type, flag, workers, max_conns):
    """S: spares the pool keeps per target (all workers together)."""
    if pool_type in NO_SPARES:
        return 0
    s = int(flag) * (int(workers) if pool_type in PER_WORKER else 1)
    return max(0, min(s, int(max_conns)))


def predict(pool_type, rate, targets, rtt_ms, flag, workers=2, zipf=1.0, idle_secs=300,
            tidle=0, max_conns=200, warmup=0.0, duration=0.0, max_spare_dials=None,
            dial_ms=None, owner_samples=256, seed=1):
    """Predictions for one configuration and load. Returns a dict (see keys below).
    duration 0: steady state (no refill-gate transient)."""
    c_cap = MAX_SPARE_DIALS if max_spare_dials is None else max_spare_dials
    dial_ms = DIAL_MS if dial_ms is None else dial_ms
    W = max(1, int(workers))
    K = int(targets)
    p = shares(K, zipf)
    lam = [rate * x for x in p]
    rtt_s = rtt_ms / 1000.0
    conn_s = rtt_s + dial_ms / 1000.0
    S = spares_per_target(pool_type, flag, W, max_conns)
    # lead time D: tick wait + connect
    soon = REFILL_SOON_MS / 1000.0
    if pool_type in SHARED_OWNER and W > 1:
        wait = soon + (W - 1) / W * tick_wait_s(rate / W)
    else:
        wait = soon
    D = wait + conn_s
    # effective idle limits: the pool expires at its tick (every tick, or sooner),
    # the target's sweep closes up to TARGET_SWEEP_MS late; the spare's idle clock
    # at the target starts half an RTT after the pool's
    I = float(idle_secs)
    I_eff = I + tick_wait_s(rate / W)
    T = float(tidle or 0)
    T_eff = T + TARGET_SWEEP_MS / 2000.0 + rtt_s / 2 if T > 0 else math.inf
    L = min(I_eff, T_eff)
    if T > 0:
        # P(the target closes a spare before the pool does): the stale share of closes
        p_stale = p_later(I, tick_wait_s(rate / W) * 2, T + rtt_s / 2, TARGET_SWEEP_MS / 1000.0)
    else:
        p_stale = 0.0
    hold_s = rtt_s + 0.001  # a stream holds its target connection ~ one request/reply
    per = []
    for li in lam:
        # the cap on a target's connections leaves room for its open streams
        active = li * hold_s
        s_eff = max(0, min(S, int(max_conns - math.ceil(active)))) if S else 0
        a = li * D
        fill = fill_rate(s_eff, a)
        idle_hit = 1.0 - math.exp(-li * L) if math.isfinite(L) else 1.0
        e_min_gap_L = (1.0 - math.exp(-li * L)) / li if li > 0 and math.isfinite(L) else (1.0 / li if li > 0 else 0)
        # cold start: the gate's two misses, then the arrivals while the first spares dial
        cold = gate_misses(li, warmup, duration) + min(1.0, li * D) * (
            poisson_cdf(1, li * warmup) - poisson_cdf(1, li * (warmup + duration)))
        gate = cold / (li * duration) if duration > 0 and li > 0 else 0.0
        gate = min(1.0, gate)
        # wasted dials per arrival (see the module doc)
        if s_eff > 0 and li > 0:
            waste = (s_eff - 1) * e_min_gap_L / I_eff + s_eff * (math.exp(-li * L) if math.isfinite(L) else 0.0)
        else:
            waste = 0.0
        hit = (1.0 - gate) * fill * idle_hit
        per.append({"lam": li, "S": s_eff, "a": a, "fill": fill, "idle": idle_hit, "gate": gate,
                    "hit": hit, "waste": waste, "active": active})
    # the spare-dial cap: refill connects per worker per second
    cap_factor = [1.0] * K
    if S > 0 and c_cap > 0:
        demand = [x["lam"] * (x["hit"] + x["waste"]) for x in per]
        if pool_type in SHARED_OWNER and W > 1:
            rng = random.Random(seed)
            if W ** K <= 4096:
                assigns = list(itertools.product(range(W), repeat=K))
            else:
                assigns = [tuple(rng.randrange(W) for _ in range(K)) for _ in range(owner_samples)]
            acc = [0.0] * K
            for asg in assigns:
                load = [0.0] * W
                for i, w in enumerate(asg):
                    load[w] += demand[i]
                for i, w in enumerate(asg):
                    acc[i] += min(1.0, c_cap / load[w]) if load[w] > 0 else 1.0
            cap_factor = [x / len(assigns) for x in acc]
        else:
            tot = sum(demand) / W
            f = min(1.0, c_cap / tot) if tot > 0 else 1.0
            cap_factor = [f] * K
    for x, f in zip(per, cap_factor):
        x["cap"] = f
        x["hit"] *= f
        x["waste"] *= f
    reuse = sum(x["lam"] * x["hit"] for x in per) / rate if rate > 0 else 0.0
    waste = sum(x["lam"] * x["waste"] for x in per) / rate if rate > 0 else 0.0
    # spares held: stock minus what is on order, while the target is tracked, scaled
    # down where the dial cap starves it (approximate)
    held = 0.0
    conns = 0.0
    for x in per:
        tracked = x["idle"] if math.isfinite(L) else 1.0
        if x["S"] > 0:
            h = max(0.0, x["S"] - x["a"] * x["fill"]) * x["cap"] * (tracked if I_eff <= T_eff or T <= 0 else 1.0)
        else:
            h = 0.0
        held += h
        conns += h + x["lam"] * x["hit"] * D + x["lam"] * hold_s + x["lam"] * (1 - x["hit"]) * conn_s
    saving_full = (rtt_ms + dial_ms)
    top = per[0]
    # failures: a spare picked within about an RTT of the target's idle close (close in flight)
    fail = 0.0
    if T > 0 and I_eff > T_eff and S > 0:
        fail = sum(x["lam"] * x["lam"] * math.exp(-x["lam"] * T) * (rtt_s + 0.001) for x in per) / rate
    # spares closed by the target (stale): each wasted spare is closed by the target first
    # with p_stale; over a whole run (the measured stale count is the target's, for the
    # run), each gated target's first S-1 spares below the top go stale once even when
    # the run is shorter than I, which the steady-state rate (S-1)/I does not count
    stale = waste * p_stale
    if duration > 0 and S > 0 and I_eff > T_eff:
        run = warmup + duration
        extra = sum((x["S"] - 1) * max(0.0, 1.0 - run / I_eff) * (1.0 - poisson_cdf(1, x["lam"] * run))
                    for x in per if x["S"] > 1)
        stale += p_stale * extra / (rate * run)
    return {
        "reuse": reuse, "S": S, "D_ms": 1000 * D, "tick_wait_ms": 1000 * wait,
        "fill_top": top["fill"], "a_top": top["a"], "lam_top": top["lam"],
        "fill": sum(x["lam"] * x["fill"] for x in per) / rate if rate > 0 else 0.0,
        "idle_factor": sum(x["lam"] * x["idle"] for x in per) / rate if rate > 0 else 0.0,
        "gate_factor": sum(x["lam"] * (1 - x["gate"]) for x in per) / rate if rate > 0 else 0.0,
        "cap_factor": sum(x["lam"] * x["cap"] for x in per) / rate if rate > 0 else 0.0,
        "wasted_dials_per_stream": waste,
        "stale_per_1k": 1000.0 * stale,
        "failure_rate": fail,
        "spares_held": held, "target_conns": conns,
        "p50_saving_ms": saving_full if reuse > 0.5 else 0.0,
        "mean_saving_ms": reuse * saving_full,
        "refill_dials_per_worker": rate * (reuse + waste) / W,
        "max_spare_dials": c_cap,
    }


def spares_needed(rate, targets, rtt_ms, pool_type="lockfree", workers=2, zipf=1.0, idle_secs=300,
                  tidle=0, max_spare_dials=None, tol=0.01, s_max=100000):
    """Smallest spares per target S (all workers) whose predicted reuse is within tol
    of what unlimited spares would give, with the spare-dial cap lifted (the cap is a
    separate knob: refill_dials_per_worker says what it must allow). Returns
    (S, reuse at S, reuse limit)."""
    kw = dict(workers=1 if pool_type in PER_WORKER else workers, zipf=zipf, idle_secs=idle_secs,
              tidle=tidle, max_conns=10 ** 9, max_spare_dials=10 ** 12)
    pt = "lockfree" if pool_type in PER_WORKER else pool_type
    if pool_type in PER_WORKER:
        kw["workers"] = workers
    lim = predict(pt, rate, targets, rtt_ms, s_max, **kw)["reuse"]
    lo, hi = 0, 1
    while predict(pt, rate, targets, rtt_ms, hi, **kw)["reuse"] < lim - tol and hi < s_max:
        lo, hi = hi, min(s_max, hi * 2)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if predict(pt, rate, targets, rtt_ms, mid, **kw)["reuse"] >= lim - tol:
            hi = mid
        else:
            lo = mid
    return hi, predict(pt, rate, targets, rtt_ms, hi, **kw)["reuse"], lim


# ------------------------------------------------------------------ from the data

def row_flag(r):
    """--min-idle-connections the cell's server was given: min_idle_flag when the summary
    has it; else the sweep's rule for its spares= mode; rows older than the equal-spares
    design (no spares column) gave every type min_idle unchanged."""
    f = fnum(r.get("min_idle_flag"))
    if f is not None:
        return int(f)
    mode = r.get("spares") or "flag"
    mi = int(fnum(r.get("min_idle"), 0))
    if mode == "flag" or r["pool_type"] in PER_WORKER:
        return mi
    return mi * int(fnum(r.get("workers"), 1))


STATS_INTERVAL_S = 1.0  # the runner's --stats-interval-secs


def window_warmup(warmup):
    """Where the measured reuse starts counting: the runner takes the last [Pool Stats]
    line (one a second) before the window as its baseline, on average half a second into
    the warm-up; with a warm-up shorter than a second there is none, and the count starts
    at the server's start (experiments/runner.py)."""
    return 0.0 if warmup < STATS_INTERVAL_S else warmup - STATS_INTERVAL_S / 2


def predict_row(r, **kw):
    w = fnum(r.get("warmup"), 0.0)
    d = fnum(r.get("duration"), 0.0)
    return predict(r["pool_type"], fnum(r["rate"]), int(fnum(r["targets"])),
                   fnum(r.get("rtt_effective"), fnum(r.get("rtt_ms"), 0.0)), row_flag(r),
                   workers=int(fnum(r.get("workers"), 2)), zipf=fnum(r.get("zipf"), 1.0),
                   idle_secs=fnum(r.get("idle_secs"), 300), tidle=fnum(r.get("tidle"), 0),
                   max_conns=int(fnum(r.get("max_conns"), 200)), warmup=window_warmup(w),
                   duration=d + w - window_warmup(w), **kw)


def memory_per_spare(S):
    """(kernel KiB per spare or None, user KiB per spare, its 95% CI half-width or None, n cells).
    Kernel: median kmem_per_spare_kb over the cells that measured it. User: the slope of
    peak RSS on spares asked (spares per target x targets), within pool type."""
    km = sorted(v for v in (fnum(r.get("kmem_per_spare_kb_mean")) for r in S) if v is not None)
    kern = km[len(km) // 2] if km else None
    pts = {}
    for r in S:
        if r["pool_type"] in NO_SPARES or fnum(r.get("tidle"), 0) > 0:
            continue
        rss = fnum(r.get("server_rss_mb_mean"))
        if rss is None:
            continue
        x = spares_per_target(r["pool_type"], row_flag(r), int(fnum(r.get("workers"), 2)),
                              int(fnum(r.get("max_conns"), 200))) * int(fnum(r["targets"]))
        key = (r["pool_type"], r["rate"], r.get("rtt_effective"), r["targets"], r.get("max_conns"))
        pts.setdefault(key, []).append((x, rss * 1024.0))
    sxx = sxy = 0.0
    resid = []
    groups = [g for g in pts.values() if len({x for x, _ in g}) > 1]
    for g in groups:
        mx = sum(x for x, _ in g) / len(g)
        my = sum(y for _, y in g) / len(g)
        sxx += sum((x - mx) ** 2 for x, _ in g)
        sxy += sum((x - mx) * (y - my) for x, y in g)
    if sxx <= 0:
        return kern, None, None, 0
    b = sxy / sxx
    n = 0
    for g in groups:
        mx = sum(x for x, _ in g) / len(g)
        my = sum(y for _, y in g) / len(g)
        for x, y in g:
            resid.append(y - my - b * (x - mx))
            n += 1
    dof = n - len(groups) - 1
    if dof < 1:
        return kern, b, None, n
    import stats as st
    s2 = sum(e * e for e in resid) / dof
    return kern, b, st.t975(dof) * math.sqrt(s2 / sxx), n


def measured_saving(S, r):
    """p50(none) - p50(r) at the same rate, RTT, targets and workload, or None."""
    for z in S:
        if (z["pool_type"] in NO_SPARES and z["rate"] == r["rate"] and z["targets"] == r["targets"]
                and z.get("rtt_effective") == r.get("rtt_effective") and z.get("tidle") == r.get("tidle")
                and z.get("zipf") == r.get("zipf") and z.get("workers") == r.get("workers")
                and z.get("duration") == r.get("duration")):
            a, b = fnum(z.get("open_p50_ms_mean")), fnum(r.get("open_p50_ms_mean"))
            if a is not None and b is not None:
                return a - b
    return None


VAL_COLUMNS = ["cell_id", "group", "pool_type", "rate", "targets", "zipf", "rtt_ms", "workers",
               "min_idle_flag", "spares_per_target", "max_conns", "idle_secs", "tidle",
               "reuse_measured", "reuse_ci", "reuse_predicted", "abs_error", "inside_ci",
               "fill", "idle_factor", "gate_factor", "cap_factor", "refill_delay_ms",
               "stale_per_1k_measured", "stale_per_1k_predicted",
               "wasted_dials_per_stream_measured", "wasted_dials_per_stream_predicted",
               "error_rate_measured", "failure_rate_predicted",
               "p50_saving_ms_measured", "p50_saving_ms_predicted", "provenance"]


def validate(S, **kw):
    """Rows of the predicted-vs-measured table, and the summary dict."""
    rows = []
    for r in S:
        if r["pool_type"] in NO_SPARES:
            continue
        m, h = fnum(r.get("reuse_rate_mean")), fnum(r.get("reuse_rate_ci"))
        if m is None or fnum(r.get("rate")) is None:
            continue
        P = predict_row(r, **kw)
        err = abs(P["reuse"] - m)
        inside = err <= max(h or 0.0, REUSE_RESOLUTION)
        wd = fnum(r.get("wasted_dials_per_stream_mean"))
        if wd is None and fnum(r.get("wasted_per_1k_mean")) is not None:
            wd = fnum(r.get("wasted_per_1k_mean")) / 1000.0
        ms = measured_saving(S, r)
        rows.append({
            "cell_id": r["cell_id"], "group": r.get("group", ""), "pool_type": r["pool_type"],
            "rate": f"{fnum(r['rate']):g}", "targets": r["targets"], "zipf": f"{fnum(r.get('zipf'), 1.0):g}",
            "rtt_ms": f"{fnum(r.get('rtt_effective'), fnum(r.get('rtt_ms'), 0.0)):g}",
            "workers": r.get("workers", ""), "min_idle_flag": row_flag(r), "spares_per_target": P["S"],
            "max_conns": r.get("max_conns", ""), "idle_secs": r.get("idle_secs", ""), "tidle": r.get("tidle", ""),
            "reuse_measured": round(m, 4), "reuse_ci": "" if h is None else round(h, 4),
            "reuse_predicted": round(P["reuse"], 4), "abs_error": round(err, 4), "inside_ci": int(inside),
            "fill": round(P["fill"], 4), "idle_factor": round(P["idle_factor"], 4),
            "gate_factor": round(P["gate_factor"], 4), "cap_factor": round(P["cap_factor"], 4),
            "refill_delay_ms": round(P["D_ms"], 2),
            "stale_per_1k_measured": r.get("stale_per_1k_mean", ""),
            "stale_per_1k_predicted": round(P["stale_per_1k"], 1),
            "wasted_dials_per_stream_measured": "" if wd is None else round(wd, 4),
            "wasted_dials_per_stream_predicted": round(P["wasted_dials_per_stream"], 4),
            "error_rate_measured": r.get("error_rate_mean", ""),
            "failure_rate_predicted": round(P["failure_rate"], 5),
            "p50_saving_ms_measured": "" if ms is None else round(ms, 2),
            "p50_saving_ms_predicted": round(P["p50_saving_ms"], 2),
            "provenance": r.get("provenance", ""),
        })
    return rows, summarize(rows)


def summarize(rows):
    if not rows:
        return {"n": 0}
    errs = [r["abs_error"] for r in rows]
    worst = max(rows, key=lambda r: r["abs_error"])
    sv = [abs(r["p50_saving_ms_measured"] - r["p50_saving_ms_predicted"]) for r in rows
          if r["p50_saving_ms_measured"] != ""]
    return {"n": len(rows), "mae": sum(errs) / len(errs), "max": worst["abs_error"],
            "max_cell": worst["cell_id"], "inside": sum(r["inside_ci"] for r in rows),
            "median": sorted(errs)[len(errs) // 2],
            "n_saving": len(sv), "saving_mae": sum(sv) / len(sv) if sv else None}


def summary_line(s):
    if not s.get("n"):
        return "model vs measured: no cells with a pool and a measured reuse rate"
    return (f"model vs measured reuse over {s['n']} cells: mean absolute error {100 * s['mae']:.1f} pp, "
            f"median {100 * s['median']:.1f} pp, max {100 * s['max']:.1f} pp ({s['max_cell']}); "
            f"{s['inside']}/{s['n']} predictions inside the measured 95% CI"
            + ("" if not s.get("n_saving") else
               f"; p50 saving vs the no-pool cell: mean absolute error {s['saving_mae']:.2f} ms "
               f"over {s['n_saving']} cells"))


def write_validation(rows, path):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=VAL_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow(r)


def load_summary(results_dir=None):
    rd = results_dir or os.path.join(ROOT, "results")
    p = os.path.join(rd, "summary.csv")
    if not os.path.exists(p):
        return []
    with open(p, newline="") as f:
        return [r for r in csv.DictReader(f) if int(fnum(r.get("n_ok"), 0)) > 0]


def main(argv=None):
    ap = argparse.ArgumentParser(description="model of warm-spare reuse; validation against results/")
    ap.add_argument("cmd", nargs="?", default="validate", choices=("validate", "predict"))
    ap.add_argument("--results", default=None)
    ap.add_argument("--out", default=None, help="validation CSV (default: RESULTS/model_validation.csv)")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--rate", type=float)
    ap.add_argument("--targets", type=int, default=8)
    ap.add_argument("--zipf", type=float, default=1.0)
    ap.add_argument("--rtt-ms", type=float, default=20.0)
    ap.add_argument("--pool-type", default="lockfree")
    ap.add_argument("--min-idle", type=int, default=5, help="--min-idle-connections as given to the server")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--idle-secs", type=float, default=300)
    ap.add_argument("--target-idle-timeout", type=float, default=0)
    ap.add_argument("--max-conns", type=int, default=200)
    ap.add_argument("--max-spare-dials", type=int, default=None,
                    help="refill connects per second per worker (default: the server's, read from "
                         "core/server.c; 0 = no cap, as builds before the cap had)")
    a = ap.parse_args(argv)
    if a.max_spare_dials == 0:
        a.max_spare_dials = 10 ** 12
    if a.cmd == "predict":
        if not a.rate:
            ap.error("predict needs --rate")
        P = predict(a.pool_type, a.rate, a.targets, a.rtt_ms, a.min_idle, workers=a.workers, zipf=a.zipf,
                    idle_secs=a.idle_secs, tidle=a.target_idle_timeout, max_conns=a.max_conns,
                    max_spare_dials=a.max_spare_dials)
        for k, v in P.items():
            print(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}")
        return 0
    S = load_summary(a.results)
    if not S:
        print("model: no results/summary.csv with data", file=sys.stderr)
        return 1
    rows, s = validate(S, max_spare_dials=a.max_spare_dials)
    out = a.out or os.path.join(a.results or os.path.join(ROOT, "results"), "model_validation.csv")
    write_validation(rows, out)
    if not a.quiet:
        print(f"{'cell':<58} {'measured':>14} {'model':>6} {'|err|':>6}")
        for r in rows:
            ci = f"±{100 * r['reuse_ci']:.1f}" if r["reuse_ci"] != "" else ""
            print(f"{r['cell_id'][:58]:<58} {100 * r['reuse_measured']:>7.1f}{ci:>7} "
                  f"{100 * r['reuse_predicted']:>6.1f} {100 * r['abs_error']:>6.1f}{'' if r['inside_ci'] else ' *'}")
        print("(* outside the measured 95% CI)")
    print(summary_line(s))
    print(f"model: {len(rows)} rows -> {os.path.relpath(out, ROOT) if out.startswith(ROOT) else out}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
