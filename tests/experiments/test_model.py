"""experiments/model.py: the stock model against a seeded Monte Carlo simulation of
the same queue, and the idle-time pieces against their closed forms."""
import heapq
import math
import os
import random
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "experiments"))
import model as M  # noqa: E402


def simulate_stock(s, lam, lead, n, seed, lead_dist="fixed"):
    """Lost-sales (S-1, S) stock: Poisson arrivals; a hit takes a spare and orders one
    that arrives `lead` later; a miss (no spare) orders nothing. Returns hits / n."""
    rng = random.Random(seed)
    t, stock, hits, due = 0.0, s, 0, []
    for _ in range(n):
        t += rng.expovariate(lam)
        while due and due[0] <= t:
            heapq.heappop(due)
            stock += 1
        if stock > 0:
            stock -= 1
            hits += 1
            d = lead if lead_dist == "fixed" else rng.expovariate(1.0 / lead)
            heapq.heappush(due, t + d)
    return hits / n


@pytest.mark.parametrize("s,a", [(1, 0.5), (2, 2.0), (5, 4.0), (10, 8.0)])
@pytest.mark.parametrize("dist", ["fixed", "exp"])
def test_fill_rate_matches_simulation(s, a, dist):
    lam, n = 100.0, 40000
    sim = simulate_stock(s, lam, a / lam, n, seed=1000 * s + int(10 * a), lead_dist=dist)
    pred = M.fill_rate(s, a)
    # binomial standard error at n = 40,000 is < 0.0025; Erlang B is insensitive to
    # the lead-time distribution, so fixed and exponential leads give the same answer
    assert abs(sim - pred) < 0.015, (s, a, dist, sim, pred)


def test_lost_sales_not_backorder():
    # with misses not waiting for spares, fewer spares are on order than in the
    # backorder model: the fill rate is higher
    for s, a in [(2, 2.0), (5, 4.0)]:
        assert M.fill_rate(s, a) > M.backorder_fill(s, a)
        sim = simulate_stock(s, 100.0, a / 100.0, 40000, seed=7)
        assert abs(sim - M.fill_rate(s, a)) < abs(sim - M.backorder_fill(s, a))


def test_erlang_b_known_values():
    assert M.erlang_b(1, 1.0) == pytest.approx(0.5)
    assert M.erlang_b(2, 1.0) == pytest.approx(0.2)
    assert M.fill_rate(0, 3.0) == 0.0


def test_tick_wait_limits():
    tau = M.REFILL_TICK_MS / 1000.0
    assert M.tick_wait_s(0.0) == pytest.approx(tau / 2)
    assert M.tick_wait_s(1e6) == pytest.approx(1e-6, rel=0.01)


def test_gate_misses_closed_form():
    # no warm-up and a long window: both of the first two arrivals fall in it
    assert M.gate_misses(1.0, 0.0, 1000.0) == pytest.approx(2.0)
    # a long warm-up: none do
    assert M.gate_misses(10.0, 100.0, 10.0) == pytest.approx(0.0, abs=1e-9)


def test_idle_curve_shape():
    kw = dict(workers=2, zipf=0.0, tidle=4, warmup=4.0, duration=12.0, max_conns=200)
    r = {i: M.predict("lockfree", 16.0, 32, 20.0, 2, idle_secs=i, **kw) for i in (1, 2, 3, 4, 6, 300)}
    # reuse grows with the idle time up to the target's timeout, and not beyond it
    assert r[1]["reuse"] < r[2]["reuse"] < r[3]["reuse"]
    assert r[300]["reuse"] == pytest.approx(r[6]["reuse"], abs=0.01)
    # no stale spares below the timeout, stale spares above it
    assert r[2]["stale_per_1k"] == 0.0 and r[300]["stale_per_1k"] > 0
    assert r[1]["wasted_dials_per_stream"] > r[3]["wasted_dials_per_stream"]


def test_spare_dial_cap_binds():
    free = M.predict("lockfree", 1000.0, 8, 0.0, 10, max_spare_dials=10 ** 9)
    capped = M.predict("lockfree", 1000.0, 8, 0.0, 10, max_spare_dials=100)
    assert free["reuse"] > 0.95 and capped["reuse"] < 0.3


def test_spares_needed_is_minimal():
    s, r, lim = M.spares_needed(5000, 8, 100.0)
    assert s >= 188  # the busiest target has ~188 spares on order at a time
    kw = dict(workers=2, max_conns=10 ** 9, max_spare_dials=10 ** 12)
    assert M.predict("lockfree", 5000, 8, 100.0, s - 1, **kw)["reuse"] < lim - 0.01 <= r
