#!/usr/bin/env python3
"""The end-to-end sweep runner behind experiments/run.sh (see its header).

For every (cell, rep) of a sweep file:
  target(s)   bench/target on K addresses, inside an RTT namespace when rtt_ms > 0
  server      build/anytls-server with the cell's pool config, --stats-interval-secs 1
  client      build/anytls-client (SOCKS5)
  load        bench/loadgen open loop (Poisson) at the cell's rate, Zipf over K targets
and one row in results.csv: loadgen latency/throughput, server CPU per 1000
streams (/proc/PID/stat utime+stime and, at ns resolution, the sum of
/proc/PID/task/*/schedstat), peak RSS (VmHWM), pool counters (last [Pool Stats]
line, and the delta over the measured window), outbound connections opened (the
target's accepted count) and how many of them the target closed idle (stale).

Every process is ours, started with Popen, stopped by its pid (TERM, then KILL
after a bound); namespaces are brought up once per RTT value and taken down on
every exit path (signals included). Runs are resumable: a (cell, rep) with an
ok row in results.csv is skipped.
"""
import argparse
import csv
import datetime as dt
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pooltypes  # noqa: E402
import sweep as sweepmod  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PASSWORD = "bench-password"

COLUMNS = [
    "sweep", "cell_id", "rep", "status", "reason", "group",
    "pool_type", "max_conns", "idle_secs", "min_idle", "rate", "targets", "rtt_ms",
    "rtt_effective", "rtt_check_ms", "response_size", "duration", "warmup", "zipf", "tidle",
    "workers", "started_at", "wall_s", "loadavg1",
    # loadgen (measured window)
    "arrivals", "streams_ok", "errors", "err_connect", "err_socks", "err_timeout", "err_short",
    "err_io", "drops", "achieved_rate", "open_mean_us", "open_p50_us", "open_p90_us",
    "open_p99_us", "open_p999_us", "open_max_us", "total_p50_us", "total_p99_us",
    "connect_p50_us", "lag_p99_us", "loadgen_cpu_util", "warmup_ok",
    # server/client processes, over the whole load (warmup + window)
    "server_cpu_s", "server_cpu_sched_s", "server_cpu_ms_per_1k", "server_rss_peak_kb",
    "server_rss_end_kb", "client_cpu_sched_s", "client_cpu_ms_per_1k", "client_rss_peak_kb",
    # pool counters: whole run (exit line) and measured window (delta)
    "pool_total", "pool_reused", "pool_new", "pool_cleaned", "pool_active_end",
    "reuse_rate", "win_reused", "win_new", "win_cleaned", "reuse_rate_window", "win_base_age_s",
    "pool_idle_end",
    # target side
    "outbound_opened", "target_closed_idle", "target_requests", "outbound_per_stream",
    "wasted_spares",
]

# ----------------------------------------------------------------- processes

LIVE = {}  # pid -> Proc


class Proc:
    def __init__(self, name, argv, log):
        self.name, self.argv, self.log = name, argv, log
        self.logf = open(log, "wb")
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.logf,
                                  stderr=subprocess.STDOUT, cwd=ROOT)
        self.pid = self.p.pid
        LIVE[self.pid] = self

    def alive(self):
        return self.p.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Signal our process by pid, wait up to timeout, then SIGKILL it."""
        if self.p.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                print(f"runner: {self.name} (pid {self.pid}) ignored {sig.name} for "
                      f"{timeout:.0f}s: SIGKILL", file=sys.stderr)
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.p.wait()
        LIVE.pop(self.pid, None)
        self.logf.close()
        return self.p.returncode

    def text(self):
        if not self.logf.closed:
            self.logf.flush()
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")


def stop_all():
    for pr in list(LIVE.values()):
        pr.stop(timeout=3.0)


class Interrupted(BaseException):
    pass


def on_signal(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


def free_port(host="127.0.0.1"):
    s = socket.socket()
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout, what, proc=None):
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if pred():
            return
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{what}: {proc.name} exited early (rc {proc.p.returncode}): "
                               + proc.text()[-400:].replace("\n", " | "))
        time.sleep(0.02)
    raise RuntimeError(f"{what}: not ready after {timeout}s")


def tcp_ready(host, port):
    def f():
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            return False
    return f


def proc_cpu(pid):
    """(utime+stime seconds from /proc/PID/stat, on-CPU seconds summed over threads
    from schedstat at ns resolution or None)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
        fields = st[st.rindex(")") + 2:].split()
        stat_s = (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, ValueError):
        return None, None
    sched = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                sched += int(f.read().split()[0])
        sched_s = sched / 1e9
    except (OSError, ValueError):
        sched_s = None
    return stat_s, sched_s


def proc_status(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None

# ----------------------------------------------------------------- RTT namespaces


class Netns:
    """One namespace + delay line per RTT value, via experiments/netns.sh."""

    def __init__(self, rtt_ms, logdir):
        self.rtt = rtt_ms
        self.idx = None
        self.env = {}
        self.check_ms = None
        self.error = None
        script = os.path.join(ROOT, "experiments", "netns.sh")
        for idx in range(40, 64):
            if os.path.exists(f"/tmp/anytls-rtt-{idx}.env"):
                continue
            r = subprocess.run(["ip", "route", "show", f"198.19.{idx + 1}.0/24"],
                               capture_output=True, text=True)
            if r.stdout.strip():
                continue
            self.idx = idx
            break
        if self.idx is None:
            self.error = "no free RTT_IDX in 40..63"
            return
        self.envvars = dict(os.environ, RTT_IDX=str(self.idx))
        r = subprocess.run([script, "up", f"{rtt_ms:g}"], capture_output=True, text=True,
                           env=self.envvars, timeout=60)
        with open(os.path.join(logdir, f"netns-{rtt_ms:g}.log"), "a") as f:
            f.write(r.stdout + r.stderr)
        if r.returncode != 0:
            self.error = (f"netns.sh up {rtt_ms:g} failed (rc {r.returncode}): "
                          + r.stderr.strip().replace("\n", " | ")[-300:])
            self.idx = None if r.returncode == 3 else self.idx
            if self.idx is not None:
                self.down()
            return
        for line in r.stdout.splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                self.env[k.strip()] = v.strip()
        r = subprocess.run([script, "check", "30"], capture_output=True, text=True,
                           env=self.envvars, timeout=120)
        with open(os.path.join(logdir, f"netns-{rtt_ms:g}.log"), "a") as f:
            f.write(r.stdout + r.stderr)
        m = re.search(r"p50=([\d.]+)", r.stdout)
        self.check_ms = float(m.group(1)) if m else None
        if r.returncode != 0:
            self.error = "netns.sh check failed: " + (r.stdout + r.stderr).strip()[-300:]
            self.down()

    @property
    def ok(self):
        return self.error is None and self.idx is not None

    def prefix(self):
        return ["ip", "netns", "exec", self.env["RTT_NS"]]

    def addr_range(self, k):
        return f"198.19.{self.idx + 1}.1-198.19.{self.idx + 1}.{k}"

    def down(self):
        if self.idx is None:
            return
        subprocess.run([os.path.join(ROOT, "experiments", "netns.sh"), "down"],
                       capture_output=True, text=True, env=self.envvars, timeout=60)
        self.idx = None

# ----------------------------------------------------------------- one run

STATS_RE = re.compile(r"^(\S+) .*\[Pool Stats\] Total: (\d+), Active: (\d+), Reused: (\d+), "
                      r"New: (\d+), Cleaned: (\d+)")
STATUS_RE = re.compile(r"\[Pool Status\] (\{.*\})")


def parse_ts(s):
    try:
        return dt.datetime.strptime(s.rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f").replace(
            tzinfo=dt.timezone.utc).timestamp()
    except ValueError:
        return None


def run_one(cell, rep, args, ns, rundir):
    os.makedirs(rundir, exist_ok=True)
    B = args.build
    K = cell["targets"]
    procs = []
    row = {"rtt_effective": 0, "rtt_check_ms": ""}
    with open("/proc/loadavg") as f:
        row["loadavg1"] = f.read().split()[0]
    try:
        # target(s)
        tport = 9000 if ns else free_port("127.77.0.1")
        if ns:
            trange = ns.addr_range(K)
            row["rtt_effective"] = cell["rtt_ms"]
            row["rtt_check_ms"] = ns.check_ms if ns.check_ms is not None else ""
            prefix = ns.prefix()
        else:
            trange = f"127.77.0.1-127.77.0.{K}"
            prefix = []
        targv = prefix + [f"{B}/bench/target", "--addrs", trange, "--port", str(tport),
                          "--threads", "1", "--response-size", str(cell["response_size"])]
        if cell["tidle"] > 0:
            targv += ["--idle-close-secs", str(cell["tidle"])]
        target = Proc("target", targv, os.path.join(rundir, "target.log"))
        procs.append(target)
        wait_for(lambda: "ready" in target.text(), 5, "target", target)

        sport, cport = free_port(), free_port()
        w = str(cell["workers"])
        server = Proc("server", [
            f"{B}/anytls-server", "-l", f"127.0.0.1:{sport}", "-p", PASSWORD,
            "--pool-type", cell["pool_type"],
            "--max-outbound-connections", str(cell["max_conns"]),
            "--max-idle-time-secs", str(cell["idle_secs"]),
            "--min-idle-connections", str(cell["min_idle"]),
            "--stats-interval-secs", "1", "--drain-timeout-secs", "2",
            "--workers", w, "--log-level", "info"], os.path.join(rundir, "server.log"))
        procs.append(server)
        client = Proc("client", [
            f"{B}/anytls-client", "-l", f"127.0.0.1:{cport}", "-s", f"127.0.0.1:{sport}",
            "-p", PASSWORD, "--workers", w, "--log-level", "warn"],
            os.path.join(rundir, "client.log"))
        procs.append(client)
        wait_for(tcp_ready("127.0.0.1", sport), 10, "server", server)
        wait_for(tcp_ready("127.0.0.1", cport), 10, "client", client)

        s_cpu0 = proc_cpu(server.pid)
        c_cpu0 = proc_cpu(client.pid)
        timeout = max(2.0, min(10.0, 20 * cell["rtt_ms"] / 1000 + 2))
        lg_argv = [f"{B}/bench/loadgen", "--rate", f"{cell['rate']:g}",
                   "--duration", f"{cell['duration']:g}", "--warmup", f"{cell['warmup']:g}",
                   "--target-range", f"{trange}:{tport}", "--zipf", f"{cell['zipf']:g}",
                   "--socks", f"127.0.0.1:{cport}",
                   "--response-size", str(cell["response_size"]),
                   "--timeout", f"{timeout:g}", "--seed", str(rep), "--json",
                   "--label", cell["cell_id"]]
        t_lg0 = time.time()
        lg = Proc("loadgen", lg_argv, os.path.join(rundir, "loadgen.log"))
        bound = cell["warmup"] + cell["duration"] + 2 * timeout + 15
        try:
            lg.p.wait(bound)
        except subprocess.TimeoutExpired:
            lg.stop(signal.SIGKILL)
            raise RuntimeError(f"loadgen exceeded its {bound:.0f}s bound")
        lg_rc = lg.stop()
        s_cpu1 = proc_cpu(server.pid)
        c_cpu1 = proc_cpu(client.pid)
        row["server_rss_peak_kb"] = proc_status(server.pid, "VmHWM")
        row["server_rss_end_kb"] = proc_status(server.pid, "VmRSS")
        row["client_rss_peak_kb"] = proc_status(client.pid, "VmHWM")
        lgtext = lg.text()
        js = [l for l in lgtext.splitlines() if l.startswith("{")]
        if lg_rc != 0 or not js:
            raise RuntimeError(f"loadgen rc {lg_rc}: " + lgtext[-300:].replace("\n", " | "))
        L = json.loads(js[-1])
        if not server.alive():
            raise RuntimeError("server died during the run: "
                               + server.text()[-300:].replace("\n", " | "))

        src = server.stop(signal.SIGTERM, timeout=10)
        client.stop(signal.SIGTERM, timeout=5)
        target.stop(signal.SIGTERM, timeout=5)
        if src != 0:
            raise RuntimeError(f"server exit status {src}")

        # ---- loadgen
        o, tt = L["open_us"], L["total_us"]
        ek = L["errors_by_kind"]
        row.update({
            "arrivals": L["arrivals"], "streams_ok": L["streams_ok"], "errors": L["errors"],
            "err_connect": ek.get("connect", 0), "err_socks": ek.get("socks", 0),
            "err_timeout": ek.get("timeout", 0), "err_short": ek.get("short", 0),
            "err_io": ek.get("io", 0), "drops": ek.get("drop", 0),
            "achieved_rate": L["achieved_rate"], "open_mean_us": o["mean"],
            "open_p50_us": o["p50"], "open_p90_us": o["p90"], "open_p99_us": o["p99"],
            "open_p999_us": o["p999"], "open_max_us": o["max"], "total_p50_us": tt["p50"],
            "total_p99_us": tt["p99"], "connect_p50_us": L["connect_us"]["p50"],
            "lag_p99_us": L["lag_us"]["p99"], "loadgen_cpu_util": L["loadgen_cpu_util"],
            "warmup_ok": L["warmup"]["ok"],
        })
        streams_all = L["streams_ok"] + L["warmup"]["ok"]
        # ---- CPU
        if s_cpu0[0] is not None and s_cpu1[0] is not None:
            row["server_cpu_s"] = round(s_cpu1[0] - s_cpu0[0], 3)
        if s_cpu0[1] is not None and s_cpu1[1] is not None:
            sc = s_cpu1[1] - s_cpu0[1]
            row["server_cpu_sched_s"] = round(sc, 4)
            row["server_cpu_ms_per_1k"] = round(sc * 1e6 / streams_all, 3) if streams_all else ""
        elif row.get("server_cpu_s") is not None and streams_all:
            row["server_cpu_ms_per_1k"] = round(row["server_cpu_s"] * 1e6 / streams_all, 3)
        if c_cpu0[1] is not None and c_cpu1[1] is not None:
            cc = c_cpu1[1] - c_cpu0[1]
            row["client_cpu_sched_s"] = round(cc, 4)
            row["client_cpu_ms_per_1k"] = round(cc * 1e6 / streams_all, 3) if streams_all else ""

        # ---- pool stats
        stats = []
        status_last = None
        for line in server.text().splitlines():
            m = STATS_RE.match(line)
            if m:
                stats.append((parse_ts(m.group(1)),) + tuple(int(x) for x in m.groups()[1:]))
            m = STATUS_RE.search(line)
            if m:
                status_last = m.group(1)
        if not stats:
            raise RuntimeError("no [Pool Stats] line in the server log")
        _, tot, act, reu, new, cln = stats[-1]
        row.update({"pool_total": tot, "pool_reused": reu, "pool_new": new,
                    "pool_cleaned": cln, "pool_active_end": act,
                    "reuse_rate": round(reu / (reu + new), 4) if reu + new else ""})
        t_win = t_lg0 + cell["warmup"]
        # baseline: the last stats line printed before the measured window began
        # (lines come every second, so it is at most ~1 s into the warmup)
        base, base_ts = (0, 0, 0), None
        for s in stats:
            if s[0] is not None and s[0] <= t_win:
                base, base_ts = (s[3], s[4], s[5]), s[0]
        wr, wn = reu - base[0], new - base[1]
        row.update({"win_reused": wr, "win_new": wn, "win_cleaned": cln - base[2],
                    "win_base_age_s": round(t_win - base_ts, 3) if base_ts else "",
                    "reuse_rate_window": round(wr / (wr + wn), 4) if wr + wn else ""})
        if status_last:
            try:
                row["pool_idle_end"] = sum(json.loads(status_last).values())
            except ValueError:
                row["pool_idle_end"] = ""

        # ---- target
        tj = [l for l in target.text().splitlines() if l.startswith("{")]
        if not tj:
            raise RuntimeError("target printed no counts")
        T = json.loads(tj[-1])
        row.update({"outbound_opened": T["accepted"], "target_closed_idle": T["closed_idle"],
                    "target_requests": T["requests"]})
        if tot:
            row["outbound_per_stream"] = round(T["accepted"] / tot, 4)
        # opened connections that never carried a stream and were not still waiting
        # as spares at exit: spares closed unused (expired or gone stale)
        idle_end = row.get("pool_idle_end") or 0
        row["wasted_spares"] = max(0, T["accepted"] - T["requests"] - idle_end)
        row["status"] = "ok"
        row["reason"] = ""
    except Exception as e:  # noqa: BLE001 (a broken run is a failed row, not a crash)
        row["status"] = "failed"
        row["reason"] = str(e)[:300].replace(",", ";").replace("\n", " ")
    finally:
        for pr in reversed(procs):
            if pr.pid in LIVE:
                pr.stop(timeout=3.0)
    return row

# ----------------------------------------------------------------- main


def env_report(path, args, nets):
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                                  timeout=10, cwd=ROOT).stdout.strip()
        except Exception as e:  # noqa: BLE001
            return f"? ({e})"
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-").strip()
    mhz = sh("grep -m1 'cpu MHz' /proc/cpuinfo | cut -d: -f2").strip()
    mem = sh("grep MemTotal /proc/meminfo | tr -s ' ' | cut -d' ' -f2-")
    def dpkg(p):
        return sh("dpkg-query -W -f='${Version}' " + p + " 2>/dev/null") or "?"
    with open("/proc/loadavg") as f:
        load = f.read().strip()
    gov = sh("cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null") or "n/a"
    lines = [
        f"date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}",
        f"sweep: {args.sweep} ({args.sweep_file})",
        f"git_describe: {sh('git describe --always --dirty --tags')}",
        f"git_sha: {sh('git rev-parse HEAD')}",
        f"cpu_model: {cpu}",
        f"cores_online: {os.cpu_count()}",
        f"cpu_mhz: {mhz}",
        f"mem_total: {mem}",
        f"kernel: {sh('uname -srmv')}",
        f"os: {sh('. /etc/os-release && echo $PRETTY_NAME')}",
        f"gcc: {sh('cc --version | head -1')}",
        f"openssl: {sh('openssl version')}",
        f"jemalloc: {dpkg('libjemalloc2')}",
        f"liburcu: {dpkg('liburcu8')}",
        f"google_benchmark: {dpkg('libbenchmark-dev')}",
        f"python: {sys.version.split()[0]}",
        f"server_version: {sh(args.build + '/anytls-server --version 2>&1 | head -1')}",
        f"build_dir: {args.build}",
        f"loadavg_start: {load}",
        f"clk_tck: {CLK_TCK}",
        f"cpu_governor: {gov}",
    ]
    for rtt, n in sorted(nets.items()):
        if n is not None and n.ok:
            lines.append(f"rtt_{rtt:g}ms: namespace {n.env.get('RTT_NS')} idx {n.idx}, "
                         f"check connect p50 {n.check_ms} ms")
        else:
            lines.append(f"rtt_{rtt:g}ms: UNAVAILABLE ({n.error if n else '?'}), "
                         "cells ran at loopback RTT (rtt_effective=0)")
    if os.path.exists(path):  # a resumed run: keep the first environment, note this one
        with open(path, "a") as f:
            f.write(f"resumed: {lines[0][6:]}; git {sh('git describe --always --dirty --tags')}; "
                    f"server {sh(args.build + '/anytls-server --version 2>&1 | head -1')}; "
                    f"load {load}\n")
        return
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def load_done(csv_path):
    done = set()
    if os.path.exists(csv_path):
        with open(csv_path, newline="") as f:
            for r in csv.DictReader(f):
                if r.get("status") == "ok":
                    done.add((r["cell_id"], int(r["rep"])))
    return done


def fmt_eta(s):
    s = max(0, int(s))
    return f"{s // 60}m{s % 60:02d}s"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sweep")
    ap.add_argument("--sweep-file")
    ap.add_argument("--out", required=True)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--max-seconds", type=float, default=0,
                    help="stop starting new runs after this long (resumable)")
    ap.add_argument("--reps", type=int, default=0, help="override reps of every cell")
    ap.add_argument("--only", default="", help="regex: run only cells whose id matches")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    args.sweep_file = args.sweep_file or os.path.join(ROOT, "experiments", "sweeps",
                                                      args.sweep + ".txt")
    cells = sweepmod.load(args.sweep_file, pooltypes.types(args.build))
    if args.only:
        cells = [c for c in cells if re.search(args.only, c["cell_id"])]
    if args.reps:
        for c in cells:
            c["reps"] = args.reps
    os.makedirs(args.out, exist_ok=True)
    csv_path = os.path.join(args.out, "results.csv")
    done = load_done(csv_path)
    todo = []
    maxreps = max(c["reps"] for c in cells)
    # rep-major: every cell once, then every cell again, so slow drift in the
    # machine (other load, thermal) spreads over cells instead of biasing one
    for rep in range(1, maxreps + 1):
        for c in cells:
            if rep <= c["reps"] and (c["cell_id"], rep) not in done:
                todo.append((c, rep))
    total = sum(c["reps"] for c in cells)
    print(f"runner: {args.sweep}: {len(cells)} cells, {total} runs, {total - len(todo)} "
          f"already done, {len(todo)} to run -> {csv_path}", file=sys.stderr)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    nets = {}
    t0 = time.monotonic()
    rc = 0
    try:
        for rtt in sorted({c["rtt_ms"] for c, _ in todo} | {c["rtt_ms"] for c in cells}):
            if rtt > 0 and any(c["rtt_ms"] == rtt for c, _ in todo):
                n = Netns(rtt, args.out)
                nets[rtt] = n
                if not n.ok:
                    bar = "#" * 72
                    print(f"{bar}\nrunner: RTT EMULATION UNAVAILABLE for {rtt:g} ms: {n.error}\n"
                          f"runner: those cells run at LOOPBACK RTT, recorded rtt_effective=0\n"
                          f"{bar}", file=sys.stderr)
        env_report(os.path.join(args.out, "env.txt"), args, nets)
        new_file = not os.path.exists(csv_path)
        with open(csv_path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
            if new_file:
                w.writeheader()
            per_run = []
            for i, (c, rep) in enumerate(todo):
                if args.max_seconds and time.monotonic() - t0 > args.max_seconds:
                    print(f"runner: --max-seconds {args.max_seconds:g} reached; "
                          f"{len(todo) - i} runs left (run again to resume)", file=sys.stderr)
                    rc = 4
                    break
                n = nets.get(c["rtt_ms"])
                ns = n if (n is not None and n.ok) else None
                t_run = time.monotonic()
                started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
                rundir = os.path.join(args.out, "runs", f"{c['cell_id']}-r{rep}")
                row = run_one(c, rep, args, ns, rundir)
                if row["status"] != "ok":  # one retry: a port race, a slow start
                    print(f"runner: retrying {c['cell_id']} rep {rep}: {row['reason']}",
                          file=sys.stderr)
                    row = run_one(c, rep, args, ns, rundir)
                wall = time.monotonic() - t_run
                per_run.append(wall)
                row.update({k: c[k] for k in sweepmod.FIELDS if k != "reps"})
                row.update({"sweep": args.sweep, "cell_id": c["cell_id"], "rep": rep,
                            "group": c["group"], "zipf": c["zipf"], "tidle": c["tidle"],
                            "warmup": c["warmup"], "workers": c["workers"],
                            "started_at": started, "wall_s": round(wall, 2)})
                w.writerow(row)
                f.flush()
                avg = sum(per_run) / len(per_run)
                if row["status"] == "ok":
                    rr = row.get("reuse_rate_window")
                    msg = (f"open p50 {row['open_p50_us'] / 1000:.2f}ms p99 "
                           f"{row['open_p99_us'] / 1000:.2f}ms ok {row['streams_ok']} "
                           f"err {row['errors']} reuse "
                           f"{(f'{rr * 100:.0f}%' if rr != '' else '-')} "
                           f"cpu/1k {row.get('server_cpu_ms_per_1k', '-')}ms "
                           f"rss {row.get('server_rss_peak_kb', '-')}kB")
                else:
                    msg = f"FAILED: {row['reason']}"
                    rc = 1
                print(f"[{args.sweep} {i + 1}/{len(todo)} {time.monotonic() - t0:.0f}s "
                      f"eta {fmt_eta(avg * (len(todo) - i - 1))}] {c['pool_type']} "
                      f"m={c['max_conns']} i={c['idle_secs']} n={c['min_idle']} "
                      f"rate={c['rate']:g} K={c['targets']} rtt={c['rtt_ms']:g}"
                      f"{'' if ns or c['rtt_ms'] == 0 else '(LOOPBACK!)'} rep {rep}: {msg}",
                      file=sys.stderr)
    except Interrupted as e:
        print(f"runner: interrupted ({e}); cleaning up (results so far are kept; "
              "run again to resume)", file=sys.stderr)
        rc = 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop_all()
        for n in nets.values():
            n.down()
    print(f"runner: {args.sweep} finished in {time.monotonic() - t0:.0f}s (rc {rc})",
          file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
