"""Sweep files: one cell per line.

    pool_type max_conns idle_secs min_idle rate targets rtt_ms response_size duration reps [key=value ...]

Optional keys (defaults in DEFAULTS): group=a,b (the analyses that read this
cell), zipf=S (target popularity), tidle=S (the target closes a connection idle
S seconds: models a real server's keep-alive / header timeout; 0 = never),
warmup=S (load before the measured window), workers=N (server and client),
spares=worker|flag (what min_idle means, below), tfo=1 (the server dials with
--tcp-fast-open and the targets accept TCP Fast Open: `target --tfo`), netns=1
(the targets run in an RTT namespace even at rtt_ms 0: a 0 ms delay line; the
runner sets net.ipv4.tcp_fastopen=3 in its namespaces when a cell has tfo=1, so
tfo cells at 0 ms need it unless the host has the server bit 2, and the cells
they are compared with should use it too, to share the path).

Equal spares (spares=worker, the default): min_idle is the warm spares per target
PER WORKER, so every pool type holds the same total per target, min_idle x
workers. highperf keeps --min-idle-connections per worker that uses a target, so
it gets --min-idle-connections min_idle; the shared pools (lock, lockfree) keep
it per target, so they get min_idle x workers. spares=flag passes min_idle to
every type unchanged (the old, unequal design). min_idle_flag(c) is what the
server is given, spares_target(c) the spares per target the config asks for.
'#' starts a comment. The cell id is every parameter except reps and group, so
two lines with the same parameters are one cell (their groups are merged).
"""
import os

import pooltypes

FIELDS = ["pool_type", "max_conns", "idle_secs", "min_idle", "rate", "targets",
          "rtt_ms", "response_size", "duration", "reps"]
DEFAULTS = {"group": "", "zipf": 1.0, "tidle": 0, "warmup": 1.2, "workers": 2, "spares": "worker",
            "tfo": 0, "netns": 0}
# Pool types that keep min idle per worker (pools/pool_highperf.c); every other type
# keeps it per target across workers. `none` keeps no spares at all.
PER_WORKER_SPARES = ("highperf",)
NO_SPARES = ("none",)
INT_FIELDS = ("max_conns", "idle_secs", "min_idle", "targets", "response_size", "reps",
              "tidle", "workers", "tfo", "netns")
FLOAT_FIELDS = ("rate", "rtt_ms", "duration", "zipf", "warmup")


def _num(v):
    f = float(v)
    return int(f) if f == int(f) else f


def cell_id(c):
    # tfo and netns only when set: the ids of cells without them stay what they were
    return ("{pool_type}-m{max_conns}-i{idle_secs}-n{min_idle}-r{rate}-k{targets}-"
            "rtt{rtt_ms}-s{response_size}-d{duration}-z{zipf}-t{tidle}-w{warmup}-j{workers}"
            "-sp{spares}"
            .format(**{k: (_num(v) if isinstance(v, float) else v) for k, v in c.items()})
            + ("-tfo1" if c.get("tfo") else "") + ("-ns1" if c.get("netns") else ""))


def parse_line(line, where, pool_types=None):
    """pool_types: the valid types (default: the built server's registry)."""
    toks = line.split()
    if len(toks) < len(FIELDS):
        raise ValueError(f"{where}: need {len(FIELDS)} fields, got {len(toks)}")
    c = dict(DEFAULTS)
    for k, v in zip(FIELDS, toks):
        c[k] = v
    for t in toks[len(FIELDS):]:
        if "=" not in t:
            raise ValueError(f"{where}: extra field {t!r} is not key=value")
        k, v = t.split("=", 1)
        if k not in DEFAULTS:
            raise ValueError(f"{where}: unknown key {k!r}")
        c[k] = v
    try:
        for k in INT_FIELDS:
            c[k] = int(c[k])
        for k in FLOAT_FIELDS:
            c[k] = float(c[k])
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    valid = pool_types if pool_types is not None else pooltypes.types()
    if c["pool_type"] not in valid:
        raise ValueError(f"{where}: pool_type {c['pool_type']!r} not in {', '.join(valid)} "
                         "(anytls-server --list-pool-types)")
    if not (1 <= c["targets"] <= 64):
        raise ValueError(f"{where}: targets must be 1..64 (one namespace /24 holds 64)")
    if c["rate"] <= 0 or c["duration"] <= 0 or c["reps"] < 1:
        raise ValueError(f"{where}: rate, duration must be > 0 and reps >= 1")
    if c["idle_secs"] < 1 or c["max_conns"] < 1 or c["min_idle"] < 0:
        raise ValueError(f"{where}: idle_secs >= 1, max_conns >= 1, min_idle >= 0")
    if c["spares"] not in ("worker", "flag"):
        raise ValueError(f"{where}: spares must be worker or flag")
    if c["workers"] < 1:
        raise ValueError(f"{where}: workers must be >= 1")
    if c["tfo"] not in (0, 1) or c["netns"] not in (0, 1):
        raise ValueError(f"{where}: tfo and netns are 0 or 1")
    c["group"] = ",".join(g for g in str(c["group"]).split(",") if g)
    return c


def min_idle_flag(c):
    """--min-idle-connections for the cell's pool type (see the module doc)."""
    if c.get("spares", "worker") == "flag" or c["pool_type"] in PER_WORKER_SPARES:
        return int(c["min_idle"])
    return int(c["min_idle"]) * int(c["workers"])


def spares_target(c):
    """Warm spares per target the configuration asks for, all workers together
    (for highperf: when every worker uses the target; the runner measures what
    is actually held)."""
    if c["pool_type"] in NO_SPARES:
        return 0
    flag = min_idle_flag(c)
    return flag * int(c["workers"]) if c["pool_type"] in PER_WORKER_SPARES else flag


def invalid(cells):
    """Cells the server would refuse, as "cell: reason" lines: with equal spares
    the shared pools get min_idle x workers, which may exceed the cap (the server
    exits: --min-idle-connections exceeds --max-outbound-connections). Checked
    before a sweep starts, not found in its last block."""
    bad = []
    for c in cells:
        if c["pool_type"] in NO_SPARES:
            continue
        flag = min_idle_flag(c)
        if flag > int(c["max_conns"]):
            bad.append(f"{c.get('cell_id') or cell_id(c)}: --min-idle-connections {flag} (min_idle {c['min_idle']}"
                       f" x {c['workers']} workers) exceeds --max-outbound-connections {c['max_conns']}")
    return bad


def override_workers(cells, workers):
    """Every cell with `workers` server and client worker threads (run.sh WORKERS=N):
    new cell ids, duplicates merged as in load()."""
    out, index = [], {}
    for c in cells:
        c = dict(c, workers=int(workers))
        cid = cell_id({k: v for k, v in c.items() if k not in ("group", "reps", "cell_id")})
        c["cell_id"] = cid
        if cid in index:
            continue
        index[cid] = c
        out.append(c)
    return out


def load(path, pool_types=None):
    """Returns the cells of a sweep file in file order (duplicates merged).
    pool_types as for parse_line."""
    cells, index = [], {}
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            c = parse_line(line, f"{os.path.basename(path)}:{n}", pool_types)
            cid = cell_id({k: v for k, v in c.items() if k not in ("group", "reps")})
            c["cell_id"] = cid
            if cid in index:
                old = index[cid]
                groups = old["group"].split(",") + [g for g in c["group"].split(",") if g]
                old["group"] = ",".join(dict.fromkeys(g for g in groups if g))
                old["reps"] = max(old["reps"], c["reps"])
                continue
            index[cid] = c
            cells.append(c)
    return cells
