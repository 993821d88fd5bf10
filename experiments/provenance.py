#!/usr/bin/env python3
"""Provenance of a run: which commit, whether the tree was clean, whether the
binaries were built from it.

    python3 experiments/provenance.py check [--build DIR]   exit 0 ok, 3 refused
    python3 experiments/provenance.py show  [--build DIR]   key: value lines

A run refuses (exit 3) when
  - the work tree is dirty (`git status --porcelain`, untracked files included;
    results/ and paper/generated/ are outputs and do not count), or
  - the server binary was built from a dirty tree (its --version ends in -dirty), or
  - the binary is stale: built from another commit whose sources (core/, pools/,
    bench/, Makefile) differ from HEAD's,
unless ALLOW_DIRTY=1 is set: then the run goes on and says so in env.txt
(`git_dirty: yes`, `allow_dirty: yes`) and in every results.csv row (git_dirty).

Used by experiments/runner.py (env.txt, CSV columns), experiments/aggregate.py
(never mixes commits silently) and the scripts that print which data they use.
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# outputs of the suite: writing them must not make the next run "dirty"
OUTPUT_PATHS = ("results", "paper/generated", "paper/paper.pdf")
SOURCE_PATHS = ("core", "pools", "bench", "Makefile")


def _git(*args, cwd=ROOT):
    try:
        r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=20)
    except OSError:
        return None
    return r.stdout.rstrip() if r.returncode == 0 else None


def tree_state(root=ROOT):
    """{'sha', 'short', 'dirty' (bool or None without git), 'dirty_files' [...]}."""
    sha = _git("rev-parse", "HEAD", cwd=root)
    if not sha:
        return {"sha": "nogit", "short": "nogit", "dirty": None, "dirty_files": []}
    excl = [f":(exclude){p}" for p in OUTPUT_PATHS]
    st = _git("status", "--porcelain", "--untracked-files=all", "--", ".", *excl, cwd=root)
    files = [l[3:] for l in (st or "").splitlines() if len(l) > 3]
    return {"sha": sha, "short": sha[:7], "dirty": bool(files), "dirty_files": files}


def build_state(build, root=ROOT):
    """What the server binary says it was built from: {'version', 'sha', 'dirty',
    'stale' (True/False/None unknown), 'why'}."""
    server = os.path.join(build, "anytls-server")
    try:
        r = subprocess.run([server, "--version"], capture_output=True, text=True, timeout=10)
        ver = (r.stdout.strip().split() or ["", "?"])[-1]
    except OSError:
        return {"version": "missing", "sha": None, "dirty": None, "stale": None,
                "why": f"{server} missing"}
    m = re.match(r"^(?:.*-g)?([0-9a-f]{7,40})(-dirty)?$", ver)
    if not m:
        return {"version": ver, "sha": None, "dirty": None, "stale": None,
                "why": f"cannot read a commit from version {ver!r}"}
    bsha = _git("rev-parse", "--verify", "--quiet", m.group(1) + "^{commit}", cwd=root)
    head = _git("rev-parse", "HEAD", cwd=root)
    out = {"version": ver, "sha": bsha or m.group(1), "dirty": bool(m.group(2)), "stale": None, "why": ""}
    if not bsha or not head:
        out["why"] = f"build commit {m.group(1)} not in this repository"
        return out
    if bsha == head:
        out["stale"] = False
        return out
    diff = _git("diff", "--name-only", bsha, head, "--", *SOURCE_PATHS, cwd=root)
    out["stale"] = bool(diff)
    out["why"] = (f"built from {bsha[:7]}, HEAD is {head[:7]}; sources differ: "
                  + ", ".join((diff or "").split()[:8])) if diff else \
        f"built from {bsha[:7]}, HEAD is {head[:7]} (same sources)"
    return out


def read_env(path):
    """The key: value lines of a run's env.txt (path: the file or its directory)
    as a dict; the first line of a key wins; {} when there is no file."""
    if os.path.isdir(path):
        path = os.path.join(path, "env.txt")
    env = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if ":" in line:
                    k, v = line.split(":", 1)
                    env.setdefault(k.strip(), v.strip())
    return env


def allow_dirty():
    return os.environ.get("ALLOW_DIRTY", "") not in ("", "0", "no", "false")


def check(build, root=ROOT):
    """(info dict, problems list). Problems are reasons to refuse the run."""
    t = tree_state(root)
    b = build_state(build, root)
    problems = []
    if t["dirty"]:
        files = ", ".join(t["dirty_files"][:10]) + (" ..." if len(t["dirty_files"]) > 10 else "")
        problems.append(f"the work tree is dirty ({len(t['dirty_files'])} files: {files})")
    if t["dirty"] is None:
        problems.append("no git repository: the commit cannot be recorded")
    if b["dirty"]:
        problems.append(f"the binaries were built from a dirty tree (version {b['version']})")
    if b["stale"]:
        problems.append(f"the binaries are stale: {b['why']} (rebuild: make all)")
    info = {
        "git_sha": t["sha"],
        "git_dirty": "unknown" if t["dirty"] is None else ("yes" if t["dirty"] else "no"),
        "git_dirty_files": " ".join(t["dirty_files"][:50]),
        "build_version": b["version"],
        "build_sha": b["sha"] or "",
        "build_dirty": "unknown" if b["dirty"] is None else ("yes" if b["dirty"] else "no"),
        "build_stale": "unknown" if b["stale"] is None else ("yes" if b["stale"] else "no"),
        "build_note": b["why"],
        "allow_dirty": "yes" if allow_dirty() else "no",
    }
    # what every row carries: one word a reader can filter on
    info["provenance"] = "clean" if not problems else "DIRTY"
    return info, problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cmd", choices=("check", "show"))
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    a = ap.parse_args()
    info, problems = check(os.path.abspath(a.build))
    if a.cmd == "show":
        for k, v in info.items():
            print(f"{k}: {v}")
        return 0
    if not problems:
        print(f"provenance: commit {info['git_sha'][:10]}, clean tree, binaries {info['build_version']}",
              file=sys.stderr)
        return 0
    for p in problems:
        print(f"provenance: {p}", file=sys.stderr)
    if allow_dirty():
        print("provenance: ALLOW_DIRTY=1: running anyway; every output says git_dirty=yes / DIRTY",
              file=sys.stderr)
        return 0
    print("provenance: REFUSED (commit first, rebuild, or set ALLOW_DIRTY=1 to run on purpose)",
          file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main())
