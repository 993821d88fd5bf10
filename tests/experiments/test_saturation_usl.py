"""The pure-Python parts of experiments/saturation.py and experiments/usl.py, on
synthetic data with known answers (no binaries, no load):

    python3 -m pytest -q tests/experiments
"""
import csv
import math
import os
import random
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "experiments"))
import saturation as sat  # noqa: E402
import stats  # noqa: E402
import usl  # noqa: E402


# ----------------------------------------------------------------- the ramp


def run_ramp(capacity_idx, **kw):
    """Drive ramp_next against a server that passes every grid index <= capacity."""
    res, order = {}, []
    for _ in range(50):
        i = sat.ramp_next(res, **kw)
        if i is None:
            return res, order
        assert i not in res, f"index {i} run twice"
        res[i] = i <= capacity_idx
        order.append(i)
    pytest.fail("ramp did not terminate")


@pytest.mark.parametrize("cap", [-20, 0, 2, 7, 8, 9, 13, 16, 23, 30])
def test_ramp_pins_the_knee_to_one_grid_step(cap):
    res, order = run_ramp(cap)
    passes = [i for i, ok in res.items() if ok]
    fails = [i for i, ok in res.items() if not ok]
    assert max(passes) == cap
    assert min(fails) == cap + 1
    assert len(order) <= abs(cap - 8) // 4 + 4   # coarse steps + 2 bisections, not a scan


def test_ramp_below_the_grid_and_above_it():
    res, _ = run_ramp(-10 ** 6)
    assert not any(res.values()) and min(res) >= -sat.GRID_LOW
    res, _ = run_ramp(10 ** 6, hi=20)
    assert all(res.values()) and max(res) <= 20


def test_ramp_sequence():
    _, order = run_ramp(13)
    assert order == [8, 12, 16, 14, 13]


# ----------------------------------------------------------------- the knee


def steps(rates, p99s, errs=None):
    errs = errs or [0.0] * len(rates)
    return [{"rate": r, "p99_us": p, "err_frac": e} for r, p, e in zip(rates, p99s, errs)]


def test_knee_on_latency():
    k = sat.knee(steps([1000, 2000, 3000, 4000], [800, 1500, 4000, 90000]), 10000, 0.001)
    assert k["knee_rate"] == 3000 and k["first_fail"] == 4000 and k["reason"] == "slo"
    # log p99 crosses log(10 ms) between 3000 (4 ms) and 4000 (90 ms)
    fr = (math.log(10000) - math.log(4000)) / (math.log(90000) - math.log(4000))
    assert k["knee_interp"] == pytest.approx(3000 + fr * 1000)
    assert 3000 < k["knee_interp"] < 4000


def test_knee_order_does_not_matter_and_first_failure_wins():
    a = steps([3000, 1000, 4000, 2000, 5000], [4000, 800, 90000, 1500, 5000])
    k = sat.knee(a, 10000, 0.001)
    assert k["knee_rate"] == 3000   # 5000 passing again after a failure does not count


def test_knee_on_errors():
    k = sat.knee(steps([1000, 2000, 3000], [800, 900, 950], [0, 0.0005, 0.01]), 10000, 0.001)
    assert k["reason"] == "errors" and k["knee_rate"] == 2000 and k["knee_interp"] == 2000


def test_knee_none_and_below_grid():
    k = sat.knee(steps([1000, 2000], [800, 900]), 10000, 0.001)
    assert k["reason"] == "none" and k["first_fail"] is None and k["knee_rate"] == 2000
    k = sat.knee(steps([1000, 2000], [20000, 30000]), 10000, 0.001)
    assert k["reason"] == "below_grid" and k["knee_rate"] is None


def test_classify():
    assert sat.classify(0.95, 1, 1.2, 2, 0.3, 100) == "server"
    assert sat.classify(0.95, 2, 1.95, 2, 0.3, 100) == "machine"
    assert sat.classify(1.85, 2, 1.95, 2, 0.3, 100) == "server"
    assert sat.classify(0.5, 2, 1.0, 2, 0.95, 100) == "loadgen"
    assert sat.classify(0.5, 2, 1.0, 2, 0.2, 9000) == "loadgen"
    assert sat.classify(0.5, 2, 1.0, 2, 0.2, 100) == "none"
    # oversubscribed: 4 workers on 2 cores saturate at 2 cores, not 4
    assert sat.classify(1.9, 4, 1.98, 2, 0.1, 100) == "server"


def test_pool_shares_from_perf_script():
    text = "\n".join([
        "anytls-server 1 ", "\t  1 lock_acquire+0x10 (/b/anytls-server)",
        "\t  2 outbound_start (/b/anytls-server)", "",
        "anytls-server 1 ", "\t  3 pthread_mutex_lock+0x5 (/lib/libc.so.6)",
        "\t  1 lock_acquire+0x22 (/b/anytls-server)", "",
        "anytls-server 2 ", "\t  4 tcp_sendmsg ([kernel.kallsyms])", "\t  5 relay_write (/b/x)", "",
        "anytls-server 2 ", "\t  6 memcpy (/lib/libc.so.6)", "",
        "anytls-server 2 ", "\t  7 __cds_lfs_pop+0x3 (/usr/lib/liburcu-cds.so.8)", "\t  8 [unknown] ([unknown])", "",
        "anytls-server 1 ", "\t  9 pthread_mutex_unlock (/lib/libc.so.6)", "\t  a [unknown] ([unknown])",
    ])
    n, self_s, incl, locks = sat.pool_shares(text, {"lock_acquire", "lock_put"})
    assert n == 6
    assert self_s == pytest.approx(2 / 6)    # lock_acquire leaf, liburcu leaf
    assert incl == pytest.approx(3 / 6)      # + the mutex called from lock_acquire
    assert locks == pytest.approx(2 / 6)     # mutex leaves, whoever called them
    assert sat.pool_shares("", set()) == (0, None, None, None)


# ----------------------------------------------------------------- paired summary


def write_units(d, knees):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "env.txt"), "w") as f:
        f.write("profile: test\ngit_sha: " + "a" * 40 + "\nprovenance: clean\ncores_online: 2\n"
                "slo: p99 <= 10 ms\nduration_s: 1\n")
    with open(os.path.join(d, "units.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=sat.UNIT_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for (t, b), k in knees.items():
            w.writerow({"block": b, "wlabel": "w2", "workers": 2, "pool_type": t, "status": "ok",
                        "knee_interp": k, "closed_rate": k * 1.5, "saturated": "server",
                        "server_cpu_us_per_stream": 100, "pool_incl_share": 0.01})


def test_summary_pairs_by_block(tmp_path):
    rng = random.Random(1)
    knees = {}
    for b in range(1, 7):
        block = rng.uniform(0.7, 1.3)   # a strong block effect, removed by pairing
        knees[("lock", b)] = 5000 * block
        knees[("fast", b)] = 5000 * block * 1.10 * rng.uniform(0.99, 1.01)
        knees[("same", b)] = 5000 * block * rng.uniform(0.98, 1.02)
    write_units(str(tmp_path / "run"), knees)
    out = sat.summarize(str(tmp_path / "run"), str(tmp_path / "s.csv"))
    by = {r["pool_type"]: r for r in out}
    assert by["fast"]["knee_verdict"] == "higher than lock"
    assert 1.07 < by["fast"]["knee_ratio_vs_lock"] < 1.13
    assert by["same"]["knee_verdict"] == "no detectable difference"
    assert by["lock"]["knee_verdict"] == "reference"
    # unpaired, the block effect hides the 10%: the two CIs of the means overlap
    assert by["fast"]["knee_lo"] < by["lock"]["knee_hi"]


# ----------------------------------------------------------------- USL


def usl_points(c1, sigma, kappa, ns, reps=5, noise=0.0, seed=3):
    rng = random.Random(seed)
    return [(N, c1 * usl.g(N, sigma, kappa) * (1 + rng.gauss(0, noise)))
            for N in ns for _ in range(reps)]


def test_usl_recovers_known_parameters():
    pts = usl_points(100.0, 0.05, 0.002, [1, 2, 4, 8, 16, 32])
    f = usl.fit(pts, "usl")
    assert f["c1"] == pytest.approx(100.0, rel=1e-6)
    assert f["sigma"] == pytest.approx(0.05, rel=1e-4)
    assert f["kappa"] == pytest.approx(0.002, rel=1e-4)
    # throughput form agrees
    assert usl.usl_x(8, f["lambda"], f["sigma"], f["kappa"]) == pytest.approx(8 / (100 * usl.g(8, 0.05, 0.002)))


def test_usl_with_noise_and_bootstrap_covers_truth():
    series = {}
    for N, c in usl_points(100.0, 0.1, 0.01, [1, 2, 4, 8], reps=6, noise=0.02):
        series.setdefault(N, []).append(c / N)   # usl.py resamples aggregate ns per item
    f = usl.fit([(N, N * x) for N, xs in series.items() for x in xs], "usl")
    assert f["sigma"] == pytest.approx(0.1, abs=0.05) and f["kappa"] == pytest.approx(0.01, abs=0.005)
    boots = usl.boot_fits(series, "usl", B=300)
    lo, hi = usl.pct([b["kappa"] for b in boots], 0.025), usl.pct([b["kappa"] for b in boots], 0.975)
    assert lo <= 0.01 <= hi


def test_two_thread_counts_are_under_determined():
    pts = usl_points(200.0, 0.3, 0.0, [1, 2])
    k0, s0 = usl.fit(pts, "kappa0"), usl.fit(pts, "sigma0")
    assert k0["sigma"] == pytest.approx(0.3) and k0["kappa"] == 0
    assert s0["kappa"] == pytest.approx(0.15) and s0["sigma"] == 0
    # both fit N = 2 exactly, and part beyond it
    assert usl.g(2, k0["sigma"], k0["kappa"]) == pytest.approx(usl.g(2, s0["sigma"], s0["kappa"]))
    assert usl.g(16, s0["sigma"], s0["kappa"]) > usl.g(16, k0["sigma"], k0["kappa"])
    assert usl.fit(pts, "auto")["model"] == "kappa0"
    assert usl.fit(usl_points(1, 0, 0, [1]), "auto") is None


def test_negative_contention_is_clamped():
    f = usl.fit([(1, 100.0), (2, 90.0)], "kappa0")   # faster with 2 threads: no contention
    assert f["sigma"] == 0 and f["kappa"] == 0


def test_crossing():
    # no contention: the pool's share stays c1/s forever
    assert usl.crossing(0.01, 100, 0.0, 0.0, 100000) == (None, None)
    # linear: c1 (1 + sigma (N-1)) / (s - c1 + that) >= 1%
    c1, s, sigma = 100.0, 100000.0, 1.0
    n, rate = usl.crossing(0.01, c1, sigma, 0.0, s)
    share = lambda N: c1 * (1 + sigma * (N - 1)) / (s - c1 + c1 * (1 + sigma * (N - 1)))  # noqa: E731
    assert share(n) >= 0.01 > share(n - 1)
    assert rate == pytest.approx(n / (s - c1 + c1 * n))
    # duty reading: less contention than the bound at the same N
    nd, _ = usl.crossing(0.01, c1, sigma, 0.0, s, "duty")
    assert nd is None or nd > n
    assert usl.share(1, c1, sigma, 0.0, s) == pytest.approx(c1 / s)


def test_stats_selftest():
    assert stats.selftest() == []
