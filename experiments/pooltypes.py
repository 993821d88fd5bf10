"""The pool types, read from the binary: `anytls-server --list-pool-types`
prints pools/pool.c's registry, the only list of them. Scripts here ask this
module instead of keeping a copy, so a type added to the registry is swept,
validated and plotted without an edit here.

    types(build=None)   the registry, in its order; build = the directory with
                        anytls-server (default $ANYTLS_BIN, else build/)
    ordered(names)      names seen in recorded results, in registry order (for
                        tables and plots); without a built binary, sorted
"""
import functools
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_warned = False


def _build_dir(build):
    d = build or os.environ.get("ANYTLS_BIN") or "build"
    return d if os.path.isabs(d) else os.path.join(ROOT, d)


@functools.lru_cache(maxsize=None)
def types(build=None):
    server = os.path.join(_build_dir(build), "anytls-server")
    try:
        r = subprocess.run([server, "--list-pool-types"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=10)
    except OSError as e:
        raise RuntimeError(f"cannot run {server} --list-pool-types ({e}): build it first (make all)") from None
    names = tuple(r.stdout.split())
    if r.returncode != 0 or not names:
        raise RuntimeError(f"{server} --list-pool-types: exit {r.returncode}, stderr {r.stderr.strip()!r}")
    return names


def ordered(names, build=None):
    """Analysis reads results that may come from another machine: it needs the
    order only for presentation, so a missing binary is a warning, not an error."""
    global _warned
    names = set(names)
    try:
        reg = types(build)
    except RuntimeError as e:
        if not _warned:
            print(f"pooltypes: {e}; ordering pool types by name", file=sys.stderr)
            _warned = True
        return sorted(names)
    return [t for t in reg if t in names] + sorted(names - set(reg))
