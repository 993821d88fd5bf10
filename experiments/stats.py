"""Small statistics helpers (no numpy/scipy on the benchmark machine).

mean_ci(xs)      mean and the half-width of its 95% confidence interval, Student t
                 with n-1 degrees of freedom (half-width None when n < 2)
ratio_ci(a, b)   mean(a)/mean(b) as the ratio of geometric means, with a 95% CI from
                 Welch's t on the difference of mean logs (positive data only)
welch(a, b)      difference of means with a Welch 95% CI
"""
import math

# two-sided 95% Student t quantiles t_{0.975, df}
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131,
         16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074,
         23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045,
         30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}


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
