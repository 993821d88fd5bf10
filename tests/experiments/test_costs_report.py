"""bench/costs.py's report on synthetic phase results: the bare-dial floor
rows sit beside ss-server's figures and the ratio lines say how much of the
0.6 goal the floor leaves to the server's session side."""
import csv
import os
import sys
from types import SimpleNamespace

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "bench"))
import costs  # noqa: E402


def side(cpu, sys_):
    return {"cpu": cpu, "usr": cpu - sys_, "sys": sys_, "ctxsw": 1.0}


def phase(c, s):
    return {"client": side(*c), "server": side(*s), "rate": 3000.0, "tw": 0}


def bulk(c, s):
    return {"client": side(c, c / 2), "server": side(s, s / 2), "gbps": 5.0, "tw": 0}


def test_floor_rows_and_room(tmp_path):
    a = SimpleNamespace(out=str(tmp_path), streams=1000, reps=2, conc=8, bulk_bytes=1 << 26, bulk_reps=1,
                        syscall_streams=100, perf_streams=0)
    short = {"ours": [phase((160, 120), (180, 130)), phase((170, 125), (190, 140))],
             "ss": [phase((200, 150), (150, 110)), phase((210, 160), (170, 130))],
             "floor": [{"cpu": 90.0, "usr": 8.0, "sys": 82.0, "ctxsw": 1.0, "rate": 4000.0, "tw": 0},
                       {"cpu": 100.0, "usr": 9.0, "sys": 91.0, "ctxsw": 1.0, "rate": 4000.0, "tw": 0}]}
    bulks = {"ours": [bulk(1.2, 1.0)], "ss": [bulk(2.0, 1.5)]}
    path, ratios = costs.write_outputs(a, "T", "abc1234", short, bulks, {}, [], None)
    rows = {(r["metric"], r["side"]): r for r in csv.DictReader(open(path))}
    f = rows[("floor_dial_cpu_us", "server")]
    assert float(f["anytls-c"]) == 95.0 and float(f["ss-libev"]) == 160.0   # medians
    assert abs(float(f["ratio"]) - 95.0 / 160.0) < 1e-3
    assert float(rows[("floor_dial_sys_us", "server")]["anytls-c"]) == 86.5
    assert ("floor_dial_cpu_us", "client") not in rows
    line = [r for r in ratios if r.startswith("server floor")]
    assert len(line) == 1 and "leaves 1 us" in line[0]   # 0.6 * 160 - 95
    assert "bare dial" in (tmp_path / "latest.md").read_text()


def test_no_floor_no_floor_line(tmp_path):
    a = SimpleNamespace(out=str(tmp_path), streams=10, reps=1, conc=8, bulk_bytes=1 << 26, bulk_reps=1,
                        syscall_streams=100, perf_streams=0)
    short = {"ours": [phase((160, 120), (180, 130))], "ss": [phase((200, 150), (150, 110))]}
    bulks = {"ours": [bulk(1.2, 1.0)], "ss": [bulk(2.0, 1.5)]}
    _, ratios = costs.write_outputs(a, "T", "abc1234", short, bulks, {}, [], None)
    assert len(ratios) == 4 and not any("floor" in r for r in ratios)
