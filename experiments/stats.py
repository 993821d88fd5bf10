"""Small statistics helpers (no numpy/scipy on the benchmark machine).

mean_ci(xs)      mean and the half-width of its 95% confidence interval, Student t
                 with n-1 degrees of freedom (half-width None when n < 2)
ratio_ci(a, b)   mean(a)/mean(b) as the ratio of geometric means, with a 95% CI from
                 Welch's t on the difference of mean logs (positive data only)
welch(a, b)      difference of means with a Welch 95% CI (unpaired; kept for data
                 without blocks)
bootstrap_ci(xs) a statistic (default: the mean) with a seeded bootstrap CI,
                 percentile or BCa, >= 2,000 resamples (default 4,000)
paired(a, b)     paired comparison of two cells measured in the same blocks:
                 {block: value} each; per-block differences (or log ratios), their
                 mean and its bootstrap CI

The paired design: each block (= rep) runs every cell once, in a random order,
with one load seed, so a block's difference between two cells removes whatever
that block shared (load seed, machine drift, other tenants). With n blocks the
bootstrap resamples the n differences; with n = 5 it has only 126 distinct
resamples and percentile intervals run narrow (under-cover): read a CI from 5
blocks as indicative, not exact.
"""
import math
import random
import statistics

# two-sided 95% Student t quantiles t_{0.975, df}
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131,
         16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074,
         23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045,
         30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}


def fnum(x, d=None):
    """x as a float; d when it is missing, not a number, or NaN (a CSV's empty
    or "nan" field)."""
    try:
        v = float(x)
        return d if math.isnan(v) else v
    except (TypeError, ValueError):
        return d


def t975(df):
    """Two-sided 95% t quantile; df may be fractional (Welch): interpolated."""
    if df is None or df <= 0 or math.isnan(df):
        return float("nan")
    if df >= 120:
        return 1.960 + (1.980 - 1.960) * 120 / df
    keys = sorted(_T975)
    if df <= 1:
        return _T975[1]
    lo = max(k for k in keys if k <= df)
    hi = min(k for k in keys if k >= df)
    if lo == hi:
        return _T975[lo]
    f = (df - lo) / (hi - lo)
    return _T975[lo] + f * (_T975[hi] - _T975[lo])


def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")


def var(xs):
    n = len(xs)
    if n < 2:
        return float("nan")
    m = mean(xs)
    return sum((x - m) ** 2 for x in xs) / (n - 1)


def median(xs):
    s = sorted(xs)
    n = len(s)
    if not n:
        return float("nan")
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def mean_ci(xs):
    xs = [x for x in xs if x is not None and not math.isnan(x)]
    n = len(xs)
    if n == 0:
        return float("nan"), None, 0
    m = mean(xs)
    if n < 2:
        return m, None, n
    return m, t975(n - 1) * math.sqrt(var(xs) / n), n


def welch(a, b):
    """mean(a) - mean(b), 95% CI (lo, hi), Welch df. None CI if either n < 2."""
    na, nb = len(a), len(b)
    d = mean(a) - mean(b)
    if na < 2 or nb < 2:
        return d, None
    va, vb = var(a) / na, var(b) / nb
    se = math.sqrt(va + vb)
    if se == 0:
        return d, (d, d)
    df = (va + vb) ** 2 / ((va ** 2 / (na - 1) if na > 1 else 0) + (vb ** 2 / (nb - 1) if nb > 1 else 0))
    h = t975(df) * se
    return d, (d - h, d + h)


def ratio_ci(a, b):
    """Ratio of geometric means a/b with a 95% CI (None if n < 2 on a side)."""
    a = [x for x in a if x and x > 0]
    b = [x for x in b if x and x > 0]
    if not a or not b:
        return float("nan"), None
    la, lb = [math.log(x) for x in a], [math.log(x) for x in b]
    d, ci = welch(la, lb)
    return math.exp(d), (None if ci is None else (math.exp(ci[0]), math.exp(ci[1])))


def fmt_ci(m, h, digits=2, unit=""):
    if m is None or (isinstance(m, float) and math.isnan(m)):
        return "n/a"
    if h is None:
        return f"{m:.{digits}f}{unit} (n=1)"
    return f"{m:.{digits}f} ± {h:.{digits}f}{unit}"


BOOT_B = 4000
BOOT_SEED = 20261204


def bootstrap_ci(xs, stat=None, B=BOOT_B, alpha=0.05, seed=BOOT_SEED, method="percentile"):
    """(estimate, (lo, hi) or None): the statistic of xs and its bootstrap 1-alpha CI
    from B resamples drawn with random.Random(seed). method: "percentile" or "bca"
    (bias-corrected and accelerated, jackknife acceleration). None CI if n < 2."""
    stat = stat or mean
    xs = [x for x in xs if x is not None and not math.isnan(x)]
    n = len(xs)
    if n == 0:
        return float("nan"), None
    th = stat(xs)
    if n < 2:
        return th, None
    B = max(int(B), 2000)
    rng = random.Random(seed)
    boots = sorted(stat([xs[rng.randrange(n)] for _ in range(n)]) for _ in range(B))
    if method == "percentile":
        a1, a2 = alpha / 2, 1 - alpha / 2
    elif method == "bca":
        nd = statistics.NormalDist()
        below = sum(1 for b in boots if b < th) + 0.5 * sum(1 for b in boots if b == th)
        p0 = min(max(below / B, 1.0 / B), 1 - 1.0 / B)
        z0 = nd.inv_cdf(p0)
        jack = [stat(xs[:i] + xs[i + 1:]) for i in range(n)]
        jm = mean(jack)
        num = sum((jm - j) ** 3 for j in jack)
        den = 6 * sum((jm - j) ** 2 for j in jack) ** 1.5
        acc = num / den if den else 0.0
        def adj(a):
            z = nd.inv_cdf(a)
            return nd.cdf(z0 + (z0 + z) / (1 - acc * (z0 + z)))
        a1, a2 = adj(alpha / 2), adj(1 - alpha / 2)
    else:
        raise ValueError(f"unknown bootstrap method {method!r}")
    lo = boots[min(B - 1, max(0, int(math.floor(a1 * B))))]
    hi = boots[min(B - 1, max(0, int(math.ceil(a2 * B)) - 1))]
    return th, (lo, hi)


def paired(a, b, log=False, B=BOOT_B, seed=BOOT_SEED, method="percentile", floor=0.0):
    """a, b: {block: value}. Pairs the blocks both have. Returns None without a
    common block, else {"n", "diffs", "est", "ci"}: est = mean of a_b - b_b (log:
    the ratio of geometric means, exp(mean of ln a_b - ln b_b)), ci its bootstrap
    CI on the same scale (None if n < 2). floor: the smallest half-width the CI is
    given on the difference scale (a measurement's resolution: a CI narrower than
    the histogram bucket is widened to it, never reported as certainty)."""
    common = sorted(k for k in a if k in b and a[k] is not None and b[k] is not None)
    if log:
        common = [k for k in common if a[k] > 0 and b[k] > 0]
        d = [math.log(a[k]) - math.log(b[k]) for k in common]
    else:
        d = [a[k] - b[k] for k in common]
    if not d:
        return None
    est, ci = bootstrap_ci(d, B=B, seed=seed, method=method)
    if ci is not None and floor > 0:
        ci = (min(ci[0], est - floor), max(ci[1], est + floor))
    if log:
        return {"n": len(d), "diffs": d, "est": math.exp(est),
                "ci": None if ci is None else (math.exp(ci[0]), math.exp(ci[1]))}
    return {"n": len(d), "diffs": d, "est": est, "ci": ci}


def selftest():
    """Checks of the bootstrap and the pairing on data with known answers; returns
    a list of failures (empty = pass). Run by experiments/check_results.py (CI)."""
    bad = []
    rng = random.Random(7)
    # a mean of 0 with unit noise: the percentile and BCa CIs cover it in most of
    # 50 samples of 20 (nominal 95%; allow down to 80%: a smoke check, not a study)
    for method in ("percentile", "bca"):
        cover = 0
        for _ in range(50):
            xs = [rng.gauss(0, 1) for _ in range(20)]
            _, ci = bootstrap_ci(xs, B=2000, seed=rng.randrange(1 << 30), method=method)
            cover += ci[0] <= 0 <= ci[1]
        if cover < 40:
            bad.append(f"{method} bootstrap covered the true mean {cover}/50 times")
    # same seed, same interval (recorded seeds reproduce)
    xs = [rng.random() for _ in range(10)]
    if bootstrap_ci(xs, seed=3) != bootstrap_ci(xs, seed=3):
        bad.append("bootstrap not reproducible with a fixed seed")
    # pairing removes a block effect that an unpaired comparison cannot see through
    blocks = {b: rng.gauss(0, 10) for b in range(1, 9)}
    a = {b: 100 + blocks[b] + 1.0 + rng.gauss(0, 0.1) for b in blocks}
    b_ = {b: 100 + blocks[b] + rng.gauss(0, 0.1) for b in blocks}
    p = paired(a, b_)
    if p is None or p["n"] != 8 or not (p["ci"][0] > 0.5 and p["ci"][1] < 1.5):
        bad.append(f"paired difference {p and p['ci']} should lie around +1")
    _, wci = welch(list(a.values()), list(b_.values()))
    if wci[0] > 0:
        bad.append("unpaired Welch should not resolve a +1 difference under a block SD of 10")
    # identical values: the CI is widened to the floor, never zero-width
    q = paired({1: 5.0, 2: 5.0, 3: 5.0}, {1: 5.0, 2: 5.0, 3: 5.0}, log=True, floor=math.log1p(1 / 128))
    if not (q["ci"][0] < 1 < q["ci"][1]):
        bad.append(f"zero-width CI not widened to the resolution: {q['ci']}")
    if bootstrap_ci([1.0], B=10)[1] is not None:
        bad.append("one value must give no interval")
    return bad


if __name__ == "__main__":
    import sys
    fails = selftest()
    for f_ in fails:
        print(f"stats selftest: FAIL: {f_}", file=sys.stderr)
    print(f"stats selftest: {'ok' if not fails else str(len(fails)) + ' failures'}", file=sys.stderr)
    sys.exit(1 if fails else 0)
