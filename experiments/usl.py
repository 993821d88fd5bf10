#!/usr/bin/env python3
"""Many-core projection (issue 12, item 6): the Universal Scalability Law fitted
per pool type to the pool micro-benchmark, combined with the server's measured CPU
per stream, predicts at what core count (and stream rate) a type's pool cost
reaches 1% and 10% of a stream's CPU.

    python3 experiments/usl.py [RUN_DIR ...] [--cores N] [--micro FILE]
        [--variant shared --detail refill16 --keys keys16] [--stream-cpu-us X]
        [--out results/usl.csv] [--max-n 4096]

Model. USL: X(N) = lambda N / (1 + sigma (N-1) + kappa N (N-1)), X = items/s of
all N threads. bench_pool reports aggregate ns per item t(N) = 1e9 / X(N), so the
CPU one item costs with N busy threads is c(N) = N t(N) = c1 (1 + sigma (N-1) +
kappa N (N-1)), c1 = 1e9 / lambda: linear in (c1, c1 sigma, c1 kappa). The fit is
least squares on c(N) over the repetitions, sigma, kappa >= 0, using ONLY thread
counts <= --cores (default: cores_online of the run's env.txt, else this machine's)
and never the *_oversub rows (preemption, not contention).

Under-determination, said plainly: with thread counts {1, 2} (a 2-core machine)
there are two points for three parameters; the data fix c1 and sigma + 2 kappa
only. usl.csv then carries two rows per series: model=kappa0 (all of it read as
serialisation, sigma = c(2)/c(1) - 1: linear growth) and model=sigma0 (all of it
as coherency, kappa = (c(2)/c(1) - 1)/2: quadratic growth). They agree at N = 2
and bracket nothing beyond it for certain; the truth can be anywhere between or
outside (e.g. a cache line that only bounces across sockets). With >= 3 thread
counts <= cores, model=usl fits both. Rerun on a bigger machine (bench_pool
--threads=1,2,4,...,cores) to pin kappa down; see experiments/README.md.

CIs: a seeded bootstrap over the benchmark repetitions (resampled within each
thread count; 2,000 resamples), percentile 95%. Without raw repetitions (only
micro_summary.csv) there is no interval.

Projection. Per stream the server does one pool cycle (acquire, stream_done,
spare_ready: the micro-benchmark's item). Pool cost per stream at N cores, p(N) =
c1 g(N) with g(N) = 1 + sigma (N-1) + kappa N (N-1), where g comes from the fit and
c1 (--c1) is by default the pool's CPU per stream MEASURED in the server at one
worker (saturation run: perf's inclusive pool share x CPU per stream; it includes
the liveness recv() and cold caches that bench_pool leaves out), else bench_pool's
1-thread cost; scaling all of c1 by g(N) also scales the syscall, which does not
contend (pessimistic again). The rest of a stream's CPU is
s - c1, with s the server's measured CPU per stream at one worker
(results/saturation_summary.csv w1 cpu_us_mean of that type, else
results/summary.csv server_cpu_ms_per_1k of its cells, else --stream-cpu-us). The
pool's share at N cores: f(N) = p(N) / (s - c1 + p(N)); the stream rate N cores
give when they do nothing else: N / (s - c1 + p(N)). Two readings:
  bound   the micro-benchmark's contention as is: every thread in the pool all the
          time. A pessimistic bound: in the server a worker spends f of its time
          there, so it collides far less often.
  duty    contention scaled by that duty: p = c1 (1 + f (g(N) - 1)) with f = p/s,
          solved in closed form (an assumption, not a measurement).
For each: n_1pct / n_10pct = the smallest N with f(N) >= 1% / 10% (blank: not
below --max-n), rate_1pct / rate_10pct the stream rate there, with bootstrap CIs.
The measured pool share (perf, saturation run) at every non-oversubscribed worker
count it ran is printed beside the prediction at that N as the check.
"""
import argparse
import csv
import math
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pooltypes  # noqa: E402
import provenance  # noqa: E402
import stats  # noqa: E402
from aggregate import MICRO_RE  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOOT_B = 2000
THRESHOLDS = (0.01, 0.10)

# ----------------------------------------------------------------- fitting (tested)


def _solve(A, b):
    """Gaussian elimination with partial pivoting; None if singular."""
    n = len(b)
    M = [list(A[i]) + [b[i]] for i in range(n)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(M[r][c]))
        if abs(M[p][c]) < 1e-300:
            return None
        M[c], M[p] = M[p], M[c]
        for r in range(n):
            if r != c:
                fct = M[r][c] / M[c][c]
                for k in range(c, n + 1):
                    M[r][k] -= fct * M[c][k]
    return [M[i][n] / M[i][i] for i in range(n)]


def _lsq(points, cols):
    """Least squares of c over the chosen regressors: cols subset of (0: 1,
    1: N-1, 2: N(N-1)). Relative weights (1/c^2): every thread count counts alike.
    Returns the 3 coefficients (absent ones 0) or None."""
    reg = lambda N: (1.0, N - 1.0, N * (N - 1.0))  # noqa: E731
    k = len(cols)
    A = [[0.0] * k for _ in range(k)]
    b = [0.0] * k
    for N, c in points:
        w = 1.0 / (c * c)
        x = [reg(N)[j] for j in cols]
        for i in range(k):
            b[i] += w * x[i] * c
            for j in range(k):
                A[i][j] += w * x[i] * x[j]
    sol = _solve(A, b)
    if sol is None:
        return None
    out = [0.0, 0.0, 0.0]
    for j, v in zip(cols, sol):
        out[j] = v
    return out


def fit(points, model="auto"):
    """points: [(N, c)] with c the CPU per item (any unit) at N threads, several per
    N allowed. model: usl (sigma, kappa >= 0), kappa0, sigma0, or auto (usl with >= 3
    distinct N, else kappa0). Returns {"model", "c1", "sigma", "kappa", "lambda"
    (1/c1: items per unit time per thread)} or None (< 2 distinct N, or c1 <= 0)."""
    ns = {N for N, _ in points}
    if len(ns) < 2 or any(c <= 0 for _, c in points):
        return None
    if model == "auto":
        model = "usl" if len(ns) >= 3 else "kappa0"
    if model == "usl":
        cand = [_lsq(points, (0, 1, 2))]
        if cand[0] is None or cand[0][1] < 0 or cand[0][2] < 0:
            # the constrained optimum lies on a face: fit both and keep the better
            cand = [c for c in (_lsq(points, (0, 1)), _lsq(points, (0, 2))) if c]
            cand = [[c[0], max(0.0, c[1]), max(0.0, c[2])] for c in cand]

        def sse(co):
            return sum(((co[0] * (1 + co[1] / co[0] * (N - 1) + co[2] / co[0] * N * (N - 1))) - c) ** 2
                       / (c * c) for N, c in points) if co[0] > 0 else float("inf")
        co = min(cand, key=sse) if cand else None
    elif model == "kappa0":
        co = _lsq(points, (0, 1))
    elif model == "sigma0":
        co = _lsq(points, (0, 2))
    else:
        raise ValueError(model)
    if co is None or co[0] <= 0:
        return None
    if model != "usl" and (co[1] < 0 or co[2] < 0):
        # faster per item with more threads (noise, turbo, warm caches): no
        # contention measured; the USL's parameters are >= 0
        co = [c1_ for c1_ in (_lsq(points, (0,)),) if c1_][0] if _lsq(points, (0,)) else co
        co = [co[0], 0.0, 0.0]
    c1 = co[0]
    return {"model": model, "c1": c1, "sigma": co[1] / c1, "kappa": co[2] / c1, "lambda": 1.0 / c1}


def usl_x(N, lam, sigma, kappa):
    """USL throughput."""
    return lam * N / (1 + sigma * (N - 1) + kappa * N * (N - 1))


def g(N, sigma, kappa):
    return 1 + sigma * (N - 1) + kappa * N * (N - 1)


def pool_cost(N, c1, sigma, kappa, s, reading="bound"):
    """Pool CPU per stream at N cores (same unit as c1 and s), or inf."""
    gn = g(N, sigma, kappa)
    if reading == "bound":
        return c1 * gn
    # duty: p = c1 (1 + (p/s)(g-1))  =>  p = c1 / (1 - c1 (g-1)/s)
    den = 1 - c1 * (gn - 1) / s
    return c1 / den if den > 0 else float("inf")


def share(N, c1, sigma, kappa, s, reading="bound"):
    p = pool_cost(N, c1, sigma, kappa, s, reading)
    if math.isinf(p):
        return 1.0
    return p / (s - c1 + p)


def crossing(th, c1, sigma, kappa, s, reading="bound", max_n=4096):
    """Smallest N in 1..max_n with share >= th, and the stream rate N cores give
    there (streams per unit of time of s: per ns when s is in ns). (None, None)
    if never."""
    if share(max_n, c1, sigma, kappa, s, reading) < th:
        return None, None
    lo, hi = 1, max_n
    if share(1, c1, sigma, kappa, s, reading) >= th:
        hi = 1
    while lo < hi:  # share is non-decreasing in N
        mid = (lo + hi) // 2
        if share(mid, c1, sigma, kappa, s, reading) >= th:
            hi = mid
        else:
            lo = mid + 1
    p = pool_cost(hi, c1, sigma, kappa, s, reading)
    return hi, (hi / (s - c1 + p) if not math.isinf(p) else 0.0)

# ----------------------------------------------------------------- data


def read_micro(path):
    """Google Benchmark CSV -> {(variant, impl, keys, detail): {threads: [ns, ...]}}
    (repetitions; oversubscribed and aggregate rows skipped)."""
    out = {}
    with open(path, newline="") as fh:
        lines = fh.read().splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith("name,")), None)
    if start is None:
        return out
    for r in csv.DictReader(lines[start:]):
        m = MICRO_RE.match(r["name"])
        if not m or m.group(2) or r.get("error_occurred") in ("true", "1"):
            continue
        scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}.get(r.get("time_unit", "ns"), 1)
        key = (m.group(1), m.group(3), m.group(4), m.group(5) or "")
        out.setdefault(key, {}).setdefault(int(m.group(6)), []).append(float(r["real_time"]) * scale)
    return out


def read_micro_summary(path):
    out = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if str(r.get("oversubscribed", "0")) not in ("0", ""):
                continue
            key = (r["variant"], r["impl"], r["keys"], r.get("detail", ""))
            out.setdefault(key, {})[int(r["threads"])] = [float(r["ns_per_cycle_mean"])]
    return out


def stream_cpu(results):
    """{pool_type: (us per stream at one worker, source)} from the saturation
    summary (w1), else summary.csv (server_cpu_ms_per_1k = us per stream, mean over
    the cells of that type with workers=1, else all)."""
    out = {}
    p = os.path.join(results, "saturation_summary.csv")
    share_meas = {}
    if os.path.exists(p):
        with open(p, newline="") as f:
            for r in csv.DictReader(f):
                if r["wlabel"] == "w1" and r.get("cpu_us_mean"):
                    out[r["pool_type"]] = (float(r["cpu_us_mean"]), "saturation_summary w1 (closed loop)")
                if r.get("pool_incl_mean") and not r["wlabel"].startswith("oversub"):
                    share_meas[(r["pool_type"], int(r["workers"]))] = float(r["pool_incl_mean"])
                    if r["wlabel"] == "w1" and r.get("cpu_us_mean"):
                        # the pool's measured CPU per stream at one worker, ns
                        share_meas[(r["pool_type"], "c1_ns")] = (float(r["pool_incl_mean"])
                                                                 * float(r["cpu_us_mean"]) * 1000)
    p = os.path.join(results, "summary.csv")
    if os.path.exists(p):
        acc = {}
        with open(p, newline="") as f:
            for r in csv.DictReader(f):
                try:
                    v = float(r["server_cpu_ms_per_1k_mean"])
                except (KeyError, ValueError):
                    continue
                acc.setdefault(r["pool_type"], {}).setdefault(r.get("workers") == "1", []).append(v)
        for t, d in acc.items():
            if t not in out:
                xs = d.get(True) or d.get(False)
                out[t] = (sum(xs) / len(xs), "summary.csv server_cpu_ms_per_1k"
                          + (" (workers=1 cells)" if d.get(True) else " (all cells; no workers=1 cell)"))
    return out, share_meas


def default_dirs():
    out = []
    for s in ("latest-full", "latest-quick"):
        d = os.path.join(ROOT, "results", s)
        if os.path.exists(os.path.join(d, "micro.csv")):
            out.append(d)
    return out

# ----------------------------------------------------------------- main


def boot_fits(series, model, B=BOOT_B, seed=stats.BOOT_SEED):
    rng = random.Random(seed)
    out = []
    for _ in range(B):
        pts = []
        for N, xs in series.items():
            pts += [(N, N * xs[rng.randrange(len(xs))]) for _ in xs]
        f_ = fit(pts, model)
        if f_:
            out.append(f_)
    return out


def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return None
    return xs[min(len(xs) - 1, max(0, int(round(q * (len(xs) - 1)))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="*", help="run dirs with micro.csv (default latest-full, latest-quick)")
    ap.add_argument("--micro", help="a micro.csv (Google Benchmark CSV) or micro_summary.csv")
    ap.add_argument("--cores", type=int, default=0,
                    help="fit only thread counts <= this (default: cores_online of the run, else nproc)")
    ap.add_argument("--variant", default="shared")
    ap.add_argument("--detail", default="refill16")
    ap.add_argument("--keys", default="keys16")
    ap.add_argument("--all-series", action="store_true", help="fit every variant/keys, project the chosen one")
    ap.add_argument("--stream-cpu-us", type=float, default=0,
                    help="server CPU per stream (us) for every type (default: from results/)")
    ap.add_argument("--results", default=os.path.join(ROOT, "results"))
    ap.add_argument("--out", default=os.path.join(ROOT, "results", "usl.csv"))
    ap.add_argument("--max-n", type=int, default=4096)
    ap.add_argument("--c1", choices=("perf", "micro"), default="perf",
                    help="the pool's CPU per stream at one core: perf = measured in the server "
                         "(saturation run, w1: pool share x CPU per stream), micro = bench_pool's "
                         "1-thread cycle (no liveness syscall, warm caches); perf falls back to micro")
    a = ap.parse_args()

    data, cores, src = {}, a.cores, []
    if a.micro:
        data = (read_micro_summary(a.micro) if a.micro.endswith("_summary.csv") else read_micro(a.micro))
        src.append(a.micro)
        if not cores:
            cores = int(provenance.read_env(os.path.dirname(os.path.abspath(a.micro))).get("cores_online") or 0)
    else:
        for d in a.dirs or default_dirs():
            env = provenance.read_env(d)
            for k, v in read_micro(os.path.join(d, "micro.csv")).items():
                data.setdefault(k, {})
                for N, xs in v.items():
                    data[k].setdefault(N, []).extend(xs)
            src.append(os.path.basename(os.path.realpath(d)))
            if not cores and env.get("cores_online"):
                cores = int(env["cores_online"])
        if not data and os.path.exists(os.path.join(a.results, "micro_summary.csv")):
            data = read_micro_summary(os.path.join(a.results, "micro_summary.csv"))
            src.append("micro_summary.csv (means only: no bootstrap CI)")
    if not data:
        print("usl: no micro-benchmark data (run experiments/run.sh quick|full, or --micro FILE)",
              file=sys.stderr)
        return 1
    cores = cores or os.cpu_count() or 1
    want = (a.variant, a.keys, a.detail)
    if not any((k[0], k[2], k[3]) == want for k in data):
        # older bench_pool runs have no shared/ variant and name cycle/ without a detail
        alt = next(((v, kk, d) for v, kk, d in (("cycle", "keys16", "same_worker"),
                                                  ("cycle", "keys16", ""))
                    if any((k[0], k[2], k[3]) == (v, kk, d) for k in data)), None)
        if alt is None:
            print(f"usl: no {a.variant}/{a.keys}/{a.detail} (nor cycle/keys16) series in "
                  f"{', '.join(src)}", file=sys.stderr)
            return 1
        print(f"usl: no {a.variant}/{a.keys}/{a.detail} series in {', '.join(src)}; "
              f"projecting {'/'.join(x for x in alt if x)} instead (the same-worker cycle: "
              "nothing shared, hit rate 1)", file=sys.stderr)
        want = alt
    scpu, share_meas = stream_cpu(a.results)
    # the check: predicted share at every worker count the saturation run measured
    check_ns = sorted({1, 2} | {k[1] for k in share_meas if isinstance(k[1], int)})
    rows = []
    keys = sorted(data) if a.all_series else sorted(k for k in data if (k[0], k[2], k[3]) == want)
    impls = pooltypes.ordered({k[1] for k in keys})
    keys.sort(key=lambda k: (k[0], k[2], k[3], impls.index(k[1]) if k[1] in impls else 99))
    for key in keys:
        variant, impl, kk, detail = key
        series = {N: xs for N, xs in data[key].items() if N <= cores}
        ns = sorted(series)
        if len(ns) < 2:
            continue
        models = ["usl"] if len(ns) >= 3 else ["kappa0", "sigma0"]
        project = (variant, kk, detail) == want and impl in scpu or a.stream_cpu_us
        for model in models:
            pts = [(N, N * x) for N in ns for x in series[N]]
            f0 = fit(pts, model)
            if not f0:
                continue
            reps = min(len(v) for v in series.values())
            boots = boot_fits(series, model) if reps >= 2 else []
            row = {"variant": variant, "impl": impl, "keys": kk, "detail": detail, "model": model,
                   "threads_fitted": "+".join(map(str, ns)), "cores": cores, "reps": reps,
                   "c1_ns": round(f0["c1"], 3), "lambda_per_s": round(1e9 * f0["lambda"], 1),
                   "sigma": round(f0["sigma"], 5), "kappa": round(f0["kappa"], 6)}
            for p_ in ("sigma", "kappa"):
                vs = [b[p_] for b in boots]
                row[f"{p_}_lo"] = "" if not vs else round(pct(vs, 0.025), 5)
                row[f"{p_}_hi"] = "" if not vs else round(pct(vs, 0.975), 5)
            row["determined"] = ("sigma and kappa (>= 3 thread counts <= cores)" if model == "usl" else
                                 f"UNDER-DETERMINED ({len(ns)} thread counts, 3 parameters): "
                                 + ("kappa fixed at 0" if model == "kappa0" else "sigma fixed at 0"))
            if project:
                s_us, s_src = (a.stream_cpu_us, "--stream-cpu-us") if a.stream_cpu_us else scpu[impl]
                s_ns = s_us * 1000
                c1p = share_meas.get((impl, "c1_ns")) if a.c1 == "perf" else None
                c1_src = "perf (saturation w1)" if c1p else "micro (1 thread)"
                c1p = c1p if c1p and c1p > 0 else f0["c1"]
                row.update({"stream_cpu_us": round(s_us, 3), "stream_cpu_source": s_src,
                            "c1_proj_ns": round(c1p, 2), "c1_source": c1_src})
                for N in check_ns:
                    row[f"pred_share_n{N}"] = round(share(N, c1p, f0["sigma"], f0["kappa"], s_ns), 6)
                    m = share_meas.get((impl, N))
                    row[f"perf_share_w{N}"] = "" if m is None else m
                for reading in ("bound", "duty"):
                    for th in THRESHOLDS:
                        tag = f"{reading}_{int(th * 100)}pct"
                        n, r = crossing(th, c1p, f0["sigma"], f0["kappa"], s_ns, reading, a.max_n)
                        row[f"n_{tag}"] = "" if n is None else n
                        row[f"rate_{tag}"] = "" if r is None else round(r * 1e9, 0)
                        bn = [crossing(th, c1p, b["sigma"], b["kappa"], s_ns, reading, a.max_n)[0]
                              for b in boots[:400]]
                        bn = [x if x is not None else a.max_n + 1 for x in bn]
                        row[f"n_{tag}_lo"] = "" if not bn else pct(bn, 0.025)
                        row[f"n_{tag}_hi"] = "" if not bn else (
                            pct(bn, 0.975) if pct(bn, 0.975) <= a.max_n else f">{a.max_n}")
            rows.append(row)
    if not rows:
        print(f"usl: no series with >= 2 thread counts <= {cores} cores", file=sys.stderr)
        return 1
    cols = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols + ["source"])
        w.writeheader()
        for r in rows:
            w.writerow(dict(r, source=";".join(src)))
    print(f"USL fit per pool type (micro-benchmark {'/'.join(want)}; source {', '.join(src)}; "
          f"thread counts <= {cores} cores; c(N) = CPU ns per pool cycle at N threads; "
          f"95% bootstrap CIs over repetitions)")
    if max(len([N for N in data[k] if N <= cores]) for k in keys) < 3:
        print(f"  NOTE: only thread counts {{1..{cores}}}: 3 parameters from {cores} points is "
              "UNDER-DETERMINED. kappa0 reads all contention as serialisation (sigma), sigma0 as "
              "coherency (kappa); both fit N <= 2 exactly and differ beyond it. Rerun on a machine "
              "with more cores (experiments/README.md, 'Many-core projection').")
    print(f"  {'series':<28} {'impl':<13} {'model':<7} {'c1 ns':>8} {'sigma [95% CI]':>26} "
          f"{'kappa [95% CI]':>28}")
    for r in rows:
        sig = f"{r['sigma']:.4f} [{r['sigma_lo']}, {r['sigma_hi']}]" if r["sigma_lo"] != "" else f"{r['sigma']:.4f}"
        kap = f"{r['kappa']:.5f} [{r['kappa_lo']}, {r['kappa_hi']}]" if r["kappa_lo"] != "" else f"{r['kappa']:.5f}"
        print(f"  {r['variant'] + '/' + r['keys'] + '/' + r['detail']:<28} {r['impl']:<13} "
              f"{r['model']:<7} {r['c1_ns']:>8.1f} {sig:>26} {kap:>28}")
    pr = [r for r in rows if "stream_cpu_us" in r]
    if pr:
        print("\n  projection: pool share of a stream's CPU reaches 1% / 10% at N cores (stream rate "
              "of N cores running only the server); bound = micro-benchmark contention as measured "
              "(every thread always in the pool: pessimistic), duty = contention scaled by the "
              "pool's share of a worker's time (an assumption)")
        print(f"  {'impl':<10} {'model':<7} {'stream us':>9} {'c1 ns':>8} {'pred n' + '/'.join(map(str, check_ns)):>15} {'perf w' + '/'.join(map(str, check_ns)):>15}  "
              f"{'bound 1%':>22} {'bound 10%':>22} {'duty 1%':>22} {'duty 10%':>22}")
        for r in pr:
            def cell(tag):
                n = r[f"n_{tag}"]
                if n == "":
                    return f">{a.max_n} cores"
                ci = f"[{r[f'n_{tag}_lo']}-{r[f'n_{tag}_hi']}]" if r[f"n_{tag}_lo"] != "" else ""
                rate = r[f"rate_{tag}"]
                return f"{n}{ci} " + (f"@{rate / 1000:.0f}k/s" if rate else "(diverges)")
            pm = "/".join(f"{r[f'pred_share_n{N}'] * 100:.2f}%" for N in check_ns)
            ms = "/".join("-" if r[f"perf_share_w{N}"] == "" else f"{float(r[f'perf_share_w{N}']) * 100:.2f}%"
                          for N in check_ns)
            print(f"  {r['impl']:<10} {r['model']:<7} {r['stream_cpu_us']:>9.1f} {r['c1_proj_ns']:>8.0f} {pm:>15} {ms:>15}  "
                  f"{cell('bound_1pct'):>22} {cell('bound_10pct'):>22} {cell('duty_1pct'):>22} "
                  f"{cell('duty_10pct'):>22}")
        print("  (c1 = the pool's CPU per stream at one core, from: " + "; ".join(
            sorted({f"{r['impl']}: {r['c1_source']}" for r in pr})) + ")")
        print("  (stream CPU source: " + "; ".join(sorted({f"{r['impl']}: {r['stream_cpu_source']}" for r in pr})) + ")")
    else:
        print("\n  no projection: no server CPU per stream (run experiments/saturation.py, or "
              "aggregate a sweep, or give --stream-cpu-us)")
    print(f"usl: -> {os.path.relpath(os.path.abspath(a.out), ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
