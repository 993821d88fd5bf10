"""experiments/advise on a small synthetic summary.csv: the cheapest of statistically
tied configs, and a plain warning when the model needs more spares than measured."""
import csv
import os
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "experiments"))
import advise_mod  # noqa: E402,F401  (experiments/advise loaded as a module by conftest)

COLS = ["cell_id", "group", "pool_type", "max_conns", "idle_secs", "min_idle", "rate", "targets",
        "rtt_ms", "rtt_effective", "tidle", "zipf", "workers", "warmup", "duration", "spares",
        "min_idle_flag", "spares_target", "n_ok", "open_p50_ms_mean", "open_p50_ms_ci",
        "open_p99_ms_mean", "open_p99_ms_ci", "reuse_rate_mean", "reuse_rate_ci", "error_rate_mean",
        "server_rss_mb_mean", "server_rss_mb_ci", "kmem_per_spare_kb_mean", "git_sha", "provenance"]


def cell(pool, flag, p50, p99, reuse, rate=300):
    return {"cell_id": f"{pool}-n{flag}-r{rate}", "group": "minidle", "pool_type": pool, "max_conns": 200,
            "idle_secs": 300, "min_idle": flag, "rate": rate, "targets": 8, "rtt_ms": 20, "rtt_effective": 20,
            "tidle": 0, "zipf": 1, "workers": 2, "warmup": 1.5, "duration": 8, "spares": "flag",
            "min_idle_flag": flag, "spares_target": flag if pool != "none" else 0, "n_ok": 5,
            "open_p50_ms_mean": p50, "open_p50_ms_ci": 0.3, "open_p99_ms_mean": p99, "open_p99_ms_ci": 1.0,
            "reuse_rate_mean": reuse, "reuse_rate_ci": 0.01, "error_rate_mean": 0,
            "server_rss_mb_mean": 10.0, "server_rss_mb_ci": 0.1, "kmem_per_spare_kb_mean": 4.5, "git_sha": "0" * 40, "provenance": "clean"}


@pytest.fixture
def results(tmp_path):
    rows = [cell("none", 0, 40.5, 42.0, 0.0),
            cell("lock", 20, 20.45, 21.0, 1.0),     # lowest mean p50 ...
            cell("lock", 10, 20.55, 21.1, 0.99),    # ... but not significantly lower: tied, cheaper
            cell("lockfree", 10, 20.50, 21.0, 0.99)]
    with open(tmp_path / "summary.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLS)
        w.writeheader()
        w.writerows(rows)
    return tmp_path


def load(results):
    import claims as C
    S, _ = C.load(str(results))
    return S


def test_cheapest_tied_config(results):
    o = advise_mod.recommend(load(results), 300, 8, 20.0, tidle=0)
    assert o["best"]["pool_type"] == "lock" and int(o["best"]["min_idle"]) == 10
    assert {r["cell_id"] for r in o["tied"]} == {"lock-n20-r300", "lockfree-n10-r300"}
    assert o["source"] == "measured" and o["flag"] == 10
    assert not o["warnings"]


def test_warns_when_model_needs_more_spares(results):
    o = advise_mod.recommend(load(results), 5000, 8, 100.0, tidle=0)
    assert o["source"] == "model"
    assert o["need"] > o["max_measured"] == 20
    assert o["flag"] >= 188
    assert any("more than any measured cell" in w for w in o["warnings"])


def test_cli_says_so(results):
    p = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "advise"), "--results",
                        str(results), "--rate", "5000", "--rtt-ms", "100", "--targets", "8"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "more than any measured cell" in p.stdout
    assert "--min-idle-connections 10 " not in p.stdout
    assert "kernel ~4.5 KiB per spare (measured)" in p.stdout


def test_idle_time_below_target_timeout(results):
    o = advise_mod.recommend(load(results), 300, 8, 20.0, tidle=60)
    assert o["idle"] == 59


def write(tmp_path, rows):
    with open(tmp_path / "summary.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLS)
        w.writeheader()
        w.writerows(rows)
    return tmp_path


def sized(pool, flag, spares, p50, p99, group, rate=1000, max_conns=200, p99_ci=1.0):
    r = cell(pool, flag, p50, p99, 1.0, rate)
    r.update(cell_id=f"{pool}-m{max_conns}-n{flag}-r{rate}-{group}", group=group, max_conns=max_conns,
             spares_target=spares, open_p99_ms_ci=p99_ci)
    return r


def test_type_is_not_taken_from_the_winning_cell(tmp_path):
    """The seeds' highperf cell wins on its 40 spares; no lock cell has them. The
    equal-spares pool-type cells cannot tell lock from highperf: the advice keeps
    the cell's sizing and runs the simpler type (it said highperf before)."""
    S = load(write(tmp_path, [
        sized("highperf", 20, 40, 20.5, 21.5, "seed-highconc", max_conns=500),
        sized("lock", 5, 5, 30.0, 45.0, "minidle"),
        sized("lock", 10, 10, 25.0, 40.0, "pooltype"),
        sized("highperf", 5, 10, 25.1, 40.2, "pooltype")]))
    o = advise_mod.recommend(S, 1000, 8, 20.0, tidle=0)
    assert o["best"]["pool_type"] == "highperf"
    assert o["pool_type"] == "lock", o["type_why"]
    assert "no cell compares types with this sizing" in o["type_why"]
    assert o["flag"] >= 40 and o["max_conns"] >= 500  # lock's flag is per target: the same 40 spares


def test_type_from_cells_that_differ_in_it_alone(tmp_path):
    """Same sizing (10 spares per target, cap 200): highperf's p99 is
    significantly lower than lock's, so highperf, and the advice says why."""
    S = load(write(tmp_path, [
        sized("lock", 10, 10, 20.5, 40.0, "pooltype", rate=300),
        sized("highperf", 5, 10, 20.5, 21.0, "pooltype", rate=300, p99_ci=0.3)]))
    o = advise_mod.recommend(S, 300, 8, 20.0, tidle=0)
    assert o["pool_type"] == "highperf" and o["flag"] == 5
    assert "measured with this sizing" in o["type_why"]
