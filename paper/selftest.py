#!/usr/bin/env python3
"""paper/selftest.py -- does the paper build whatever the results hold?

`make -C paper check`. Builds the paper in scratch directories from
  missing:    results/summary.csv (and micro_summary.csv) only: every optional
              input absent -> each section says "not measured in this run";
  synthetic:  the same plus made-up saturation_summary.csv, usl.csv,
              model_validation.csv, costs/latest.csv, TFO cells and sharing /
              oversubscribed micro-benchmark rows, in the column names
              gen_tables.py's COLS lists first;
  contradict: synthetic, with a type significantly better than the default at
              saturation -> default.tex must flag it.
Fails on a LaTeX error, an undefined reference or a missing expectation. The
synthetic numbers are never written under results/ or paper/generated/.
"""
import csv
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RES = os.path.join(ROOT, "results")


def write_csv(path, header, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def synth(res, better=None):
    """Made-up inputs (never results): `better` = a type given a large knee gain."""
    h = ("pool_type,workers,knee_rate_mean,knee_rate_lo,knee_rate_hi,knee_rate_diff_vs_lock,knee_rate_diff_lo,"
         "knee_rate_diff_hi,sat_tput_mean,sat_tput_lo,sat_tput_hi,sat_tput_diff_vs_lock,sat_tput_diff_lo,"
         "sat_tput_diff_hi,cpu_us_per_stream_mean,cpu_us_per_stream_lo,cpu_us_per_stream_hi,"
         "cpu_us_per_stream_diff_vs_lock,cpu_us_per_stream_diff_lo,cpu_us_per_stream_diff_hi,pool_share_mean,"
         "pool_share_lo,pool_share_hi,slo_p99_ms,n_blocks").split(",")
    rows = []
    for w in ("1", "2", "oversub"):
        for p, k in (("none", 5000), ("lock", 5200), ("lockfree", 5150), ("highperf", 5300)):
            if p == better:
                k = 6500
            d = k - 5200
            rows.append([p, w, k, k - 100, k + 100, d, d - 150, d + 150, k, k - 80, k + 80, d, d - 120, d + 120,
                         180, 175, 185, -3, -6, 0, 0.004, 0.003, 0.005, 50, 5])
    write_csv(os.path.join(res, "saturation_summary.csv"), h, rows)
    write_csv(os.path.join(res, "usl.csv"),
              "pool_type,sigma,sigma_lo,sigma_hi,kappa,kappa_lo,kappa_hi,cores_1pct,cores_10pct,rate_1pct,rate_10pct".split(","),
              [["lock", 0.05, 0.02, 0.08, 0.001, 0, 0.002, 6, 40, 3e4, 2e5],
               ["lockfree", 0.01, 0, 0.02, 1e-4, 0, 3e-4, 30, 300, 1.5e5, 1.5e6],
               ["highperf", 0.001, 0, 0.002, 0, 0, 1e-5, 500, 5000, 2e6, 2e7]])
    write_csv(os.path.join(res, "model_validation.csv"), ["cell_id", "predicted_reuse", "measured_reuse"],
              [["a", 0.7, 0.72], ["b", 0.9, 0.85]])
    write_csv(os.path.join(res, "costs", "latest.csv"), ["metric", "anytls-c", "shadowsocks-libev", "ratio"],
              [["cpu_us_per_stream", 120, 95, 1.26]])
    # TFO cells
    p = os.path.join(res, "summary.csv")
    rd = list(csv.DictReader(open(p)))
    base = next(r for r in rd if r["pool_type"] == "none")
    hdr = list(rd[0].keys()) + [c for c in ("tfo", "open_all_p99_samples_min") if c not in rd[0]]
    for rt in ("0", "20", "50"):
        for pool, tfo in (("none", "0"), ("none", "1"), ("lockfree", "0")):
            r = dict(base, cell_id=f"{pool}-tfo{tfo}-rtt{rt}", group="tfo", pool_type=pool, rtt_effective=rt,
                     tfo=tfo, open_all_p99_samples_min="1500")
            rd.append(r)
    with open(p, "w", newline="") as fh:
        w = csv.DictWriter(fh, hdr, restval="")
        w.writeheader()
        w.writerows(rd)
    # micro: sharing variants and oversubscribed rows
    p = os.path.join(res, "micro_summary.csv")
    if os.path.exists(p):
        rd = list(csv.DictReader(open(p)))
        hdr = list(rd[0].keys()) + [c for c in ("detail", "oversubscribed") if c not in rd[0]]
        out = []
        for r in rd:
            r.setdefault("detail", "")
            r["oversubscribed"] = "1" if int(r["threads"]) > (os.cpu_count() or 2) else "0"
            out.append(r)
            if r["keys"] == "keys16" and r["variant"] == "cycle":
                out.append(dict(r, variant="shared", detail="refill16", hit_mean="0.8"))
                if int(r["threads"]) >= 2:
                    out.append(dict(r, variant="handoff", detail="producer0", hit_mean="0.9"))
        with open(p, "w", newline="") as fh:
            w = csv.DictWriter(fh, hdr, restval="")
            w.writeheader()
            w.writerows(out)


def other_than_default():
    import re
    m = re.search(r"^#define\s+POOL_DEFAULT\s+(\w+)", open(os.path.join(ROOT, "pools", "pool.c")).read(), re.M)
    d = m.group(1) if m else ""
    return next(t for t in ("lockfree", "highperf", "none") if t != d)


def build(name, setup, expect):
    tmp = tempfile.mkdtemp(prefix=f"paper-selftest-{name}-")
    try:
        res = os.path.join(tmp, "results")
        os.makedirs(res)
        for f in ("summary.csv", "micro_summary.csv", "summary_sources.txt", "reps.csv"):
            if os.path.exists(os.path.join(RES, f)):
                shutil.copy(os.path.join(RES, f), res)
        if os.path.isdir(os.path.join(RES, "figures")):
            os.symlink(os.path.join(RES, "figures"), os.path.join(res, "figures"))
        setup(res)
        pdir = os.path.join(tmp, "paper")
        gen = os.path.join(pdir, "generated")
        os.makedirs(gen)
        shutil.copy(os.path.join(HERE, "paper.tex"), pdir)
        env = dict(os.environ, PAPER_RESULTS=res, PAPER_GENERATED=gen)
        r = subprocess.run([sys.executable, os.path.join(HERE, "gen_tables.py")], env=env,
                           capture_output=True, text=True)
        if r.returncode != 0:
            return f"{name}: gen_tables failed: {r.stderr[-2000:]}"
        for _ in range(2):
            r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"],
                               cwd=pdir, capture_output=True, text=True)
            if r.returncode != 0:
                log = open(os.path.join(pdir, "paper.log"), errors="replace").read()
                return f"{name}: pdflatex failed:\n{log[-2500:]}"
        log = open(os.path.join(pdir, "paper.log"), errors="replace").read()
        if "undefined" in log:
            return f"{name}: undefined references: " + "; ".join(l for l in log.splitlines() if "undefined" in l)
        for fn, text in expect:
            body = open(os.path.join(gen, fn)).read()
            if text not in body:
                return f"{name}: generated/{fn} lacks {text!r}"
        print(f"selftest: {name}: ok")
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    if not os.path.exists(os.path.join(RES, "summary.csv")):
        print("selftest: results/summary.csv missing (make bench first)", file=sys.stderr)
        return 1
    nm = "not measured in this run"

    def missing(res):
        for f in ("reps.csv",):
            if os.path.exists(os.path.join(res, f)):
                os.remove(os.path.join(res, f))

    errs = [
        build("missing", missing, [("saturation.tex", nm), ("usl.tex", nm), ("costs.tex", nm),
                                    ("model_summary.tex", nm)]),
        build("synthetic", synth, [("saturation.tex", "tab:saturation"), ("saturation.tex", "OVERSUBSCRIBED"),
                                   ("usl.tex", "tab:usl"), ("tfo.tex", "none + TFO"),
                                   ("micro_sharing.tex", "shared"), ("model_summary.tex", "2 measured cells")]),
        build("contradict", lambda res: synth(res, better=other_than_default()),
              [("default.tex", "evidence contradicts the default")]),
    ]
    errs = [e for e in errs if e]
    for e in errs:
        print("selftest: FAIL: " + e, file=sys.stderr)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
