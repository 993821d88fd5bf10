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
import provenance  # noqa: E402
import sweep as sweepmod  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
import timewait  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PASSWORD = "bench-password"

COLUMNS = [
    "sweep", "cell_id", "rep", "status", "reason", "group",
    "pool_type", "max_conns", "idle_secs", "min_idle", "rate", "targets", "rtt_ms",
    "rtt_effective", "rtt_check_ms", "response_size", "duration", "warmup", "zipf", "tidle",
    "workers", "started_at", "wall_s", "loadavg1", "tw_start",
    # equal spares (sweep.py): what min_idle meant, the flag given, spares per target asked
    "spares", "min_idle_flag", "spares_target",
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
    # loadgen, failure-inclusive tail: every measured arrival, failures at tail_value_us
    "open_all_p50_us", "open_all_p99_us", "open_all_p999_us", "total_all_p99_us",
    "open_n", "open_all_n", "failed_in_tail", "tail_value_us",
    # the server's /metrics sampled every METRICS_PERIOD s over the measured window:
    # spares held (idle gauge), connections held at the targets (active + idle +
    # dialing), refill dials, and dials that never served a stream
    "metrics_samples", "spares_held_mean", "spares_held_max", "target_conns_mean",
    "target_conns_max", "win_spares_dialed", "win_dial_failed", "win_stale", "win_expired",
    "dials_per_stream", "wasted_dials", "wasted_dials_per_stream",
    # what a spare costs the kernel, after the load (the pool holds only spares then):
    # the server's sockets to the targets (ss -tmi), how many never carried a byte,
    # their skmem (rmem_alloc + wmem_alloc + fwd_alloc + wmem_queued), the fixed slab
    # objects of a TCP socket (/proc/slabinfo TCP + sock_inode_cache + filp), and the
    # machine-wide /proc/net/sockstat TCP mem pages before the server and after the load
    "spares_end", "target_socks_end", "target_socks_unused_end", "skmem_per_sock_bytes",
    "slab_per_sock_bytes", "kmem_per_spare_bytes", "tcp_mem_pages_before", "tcp_mem_pages_after",
    "tcp_mem_delta_per_spare_bytes",
    # provenance (experiments/provenance.py): the commit, whether the tree and the
    # build were clean ("clean"), or the run was allowed dirty ("DIRTY")
    "git_sha", "git_dirty", "build_version", "provenance",
    # design: block = rep; cells run in a seeded random order inside each block, and
    # every cell of a block gets the same load seed (paired comparisons)
    "block", "order_pos", "load_seed", "design_seed",
    # TCP Fast Open (sweep keys tfo=, netns=): the server's anytls_tfo_* totals at the end
    # of the run (stream dials with TFO; SYNs whose data the target accepted) and the
    # target's count of connections whose SYN carried data, over all it accepted
    "tfo", "netns", "tfo_dials", "tfo_syn_data_acked", "target_syn_data", "target_syn_data_share",
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


def run_loadgen(argv, log, bound):
    """Runs the load generator to its end; returns (exit status, its output).
    Past `bound` seconds it is killed and the run is an error (a load loop is
    bounded in time as well as in count)."""
    lg = Proc("loadgen", argv, log)
    try:
        lg.p.wait(bound)
    except subprocess.TimeoutExpired:
        lg.stop(signal.SIGKILL)
        raise RuntimeError(f"loadgen exceeded its {bound:.0f}s bound")
    rc = lg.stop()
    return rc, lg.text()


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

METRICS_PERIOD = 0.25
METRIC_RE = re.compile(r'^(anytls_(?:pool|tfo)_[a-z_]+)(\{[^}]*\})? ([-0-9.eE+]+)$')


def scrape_metrics(port):
    """The server's pool (and TFO) families from /metrics, summed over label sets except
    `kind` (anytls_pool_connections_total/reused ...). None on failure."""
    import urllib.request
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1.0) as r:
            text = r.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return None
    out = {}
    for line in text.splitlines():
        m = METRIC_RE.match(line)
        if not m:
            continue
        name = m.group(1)
        km = re.search(r'kind="([^"]+)"', m.group(2) or "")
        if km:
            name += "/" + km.group(1)
        out[name] = out.get(name, 0.0) + float(m.group(3))
    return out


class MetricsSampler:
    """Scrapes /metrics every METRICS_PERIOD s in a thread: [(time, {name: value})]."""

    def __init__(self, port):
        import threading
        self.port, self.samples = port, []
        self.stop_ev = threading.Event()
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def run(self):
        while not self.stop_ev.is_set():
            t = time.time()
            m = scrape_metrics(self.port)
            if m:
                self.samples.append((t, m))
            self.stop_ev.wait(METRICS_PERIOD)

    def stop(self):
        self.stop_ev.set()
        self.th.join(3)


def window_metrics(samples, t0, t1):
    """Gauges averaged over the samples inside [t0, t1]; counters as the difference
    between the last sample at or before t0 (else the first after) and the last at
    or before t1."""
    inside = [m for t, m in samples if t0 <= t <= t1]
    before = [m for t, m in samples if t <= t0]
    upto = [m for t, m in samples if t <= t1]
    if not inside or not upto:
        return {}
    a, b = (before[-1] if before else inside[0]), upto[-1]
    g = lambda m, k: m.get(k, 0.0)  # noqa: E731
    held = [g(m, "anytls_pool_idle_connections") for m in inside]
    conns = [g(m, "anytls_pool_idle_connections") + g(m, "anytls_pool_active_connections")
             + g(m, "anytls_pool_dialing_connections") for m in inside]
    d = lambda k: g(b, k) - g(a, k)  # noqa: E731
    return {
        "metrics_samples": len(inside),
        "spares_held_mean": round(sum(held) / len(held), 2), "spares_held_max": int(max(held)),
        "target_conns_mean": round(sum(conns) / len(conns), 2), "target_conns_max": int(max(conns)),
        "_d_dialed": d("anytls_pool_spares_dialed_total"),
        "_d_failed": d("anytls_pool_spare_dial_failures_total"),
        "_d_stale": d("anytls_pool_stale_total"), "_d_expired": d("anytls_pool_expired_total"),
        "_d_reused": d("anytls_pool_connections_total/reused"),
        "_d_new": d("anytls_pool_connections_total/new"),
        "_d_idle": d("anytls_pool_idle_connections"),
        "_d_dialing": d("anytls_pool_dialing_connections"),
    }


def sockstat_tcp():
    """/proc/net/sockstat's TCP line as a dict (mem is in pages, machine-wide)."""
    try:
        with open("/proc/net/sockstat") as f:
            for line in f:
                if line.startswith("TCP:"):
                    t = line.split()[1:]
                    return {t[i]: int(t[i + 1]) for i in range(0, len(t) - 1, 2)}
    except (OSError, ValueError, IndexError):
        pass
    return {}


def slab_per_socket():
    """Bytes of the slab objects every TCP socket with an fd holds: tcp_sock (TCP),
    its inode (sock_inode_cache) and its struct file (filp). None if unreadable."""
    want = {"TCP": None, "sock_inode_cache": None, "filp": None}
    try:
        with open("/proc/slabinfo") as f:
            for line in f:
                p = line.split()
                if p and p[0] in want:
                    want[p[0]] = int(p[3])
    except (OSError, ValueError, IndexError):
        return None
    return sum(want.values()) if all(v is not None for v in want.values()) else None


SKMEM_RE = re.compile(r"skmem:\(r(\d+),rb\d+,t(\d+),tb\d+,f(\d+),w(\d+)")


def server_target_sockets(net, port):
    """The established sockets toward the targets (dst in net, dport port), as seen
    from the root namespace where the server runs: [(skmem bytes, never carried a
    byte)]. None if ss failed."""
    try:
        r = subprocess.run(["ss", "-tmniH", "state", "established", "dst", net,
                            "dport", "=", f":{port}"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if r.returncode != 0:
        return None
    out = []
    for line in r.stdout.splitlines():
        m = SKMEM_RE.search(line)
        if m:
            used = "bytes_received:" in line or "bytes_sent:" in line
            out.append((sum(int(x) for x in m.groups()), not used))
    return out


# ----------------------------------------------------------------- RTT namespaces


class Netns:
    """One namespace + delay line per RTT value, via experiments/netns.sh."""

    def __init__(self, rtt_ms, logdir, tfo=False):
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
        if tfo:
            # the targets' side of TCP Fast Open (server bit 2), in this namespace only;
            # a listener without TCP_FASTOPEN (target without --tfo) is unaffected
            r = subprocess.run(self.prefix() + ["sysctl", "-qw", "net.ipv4.tcp_fastopen=3"],
                               capture_output=True, text=True, timeout=30)
            with open(os.path.join(logdir, f"netns-{rtt_ms:g}.log"), "a") as f:
                f.write(f"sysctl net.ipv4.tcp_fastopen=3 in {self.env.get('RTT_NS')}: rc {r.returncode} "
                        + r.stderr + "\n")
            if r.returncode != 0:
                self.error = "cannot set net.ipv4.tcp_fastopen in the namespace: " + r.stderr.strip()
                self.down()
                return
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


def tcp_fastopen_sysctl():
    try:
        with open("/proc/sys/net/ipv4/tcp_fastopen") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def tfo_problem(ns):
    """Why a tfo=1 cell cannot run here (None: it can). The server dials from this
    namespace (client bit 1); targets on loopback need the server bit 2 here too,
    targets in an RTT namespace get it there (Netns)."""
    v = tcp_fastopen_sysctl()
    if v is None:
        return "tfo=1: /proc/sys/net/ipv4/tcp_fastopen unreadable"
    if not v & 1:
        return f"tfo=1: net.ipv4.tcp_fastopen is {v} here: no client bit (1); the server cannot use TFO"
    if ns is None and not v & 2:
        return (f"tfo=1 with targets on loopback: net.ipv4.tcp_fastopen is {v} here, no server bit (2); "
                "use netns=1 (targets in a namespace where the runner sets it)")
    return None


def run_one(cell, rep, args, ns, rundir, load_seed):
    os.makedirs(rundir, exist_ok=True)
    B = args.build
    K = cell["targets"]
    procs = []
    sampler = None
    row = {"rtt_effective": 0, "rtt_check_ms": ""}
    with open("/proc/loadavg") as f:
        row["loadavg1"] = f.read().split()[0]
    # a run must not inherit the previous run's TIME_WAIT sockets (tens of
    # thousands slow every connect): destroyed, and the count left recorded
    row["tw_start"] = timewait.drain(500, 5, loopback_only=False)[0]
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
        tnet = (trange.split("-")[0].rsplit(".", 1)[0]) + ".0/24"
        targv = prefix + [f"{B}/bench/target", "--addrs", trange, "--port", str(tport),
                          "--threads", "1", "--response-size", str(cell["response_size"])]
        if cell["tidle"] > 0:
            targv += ["--idle-close-secs", str(cell["tidle"])]
        row["tfo"], row["netns"] = cell.get("tfo", 0), cell.get("netns", 0)
        if cell.get("tfo"):
            problem = tfo_problem(ns)
            if problem:
                raise RuntimeError(problem)
            targv += ["--tfo", "4096"]
        target = Proc("target", targv, os.path.join(rundir, "target.log"))
        procs.append(target)
        wait_for(lambda: "ready" in target.text(), 5, "target", target)

        sport, cport, mport = free_port(), free_port(), free_port()
        w = str(cell["workers"])
        row["tcp_mem_pages_before"] = sockstat_tcp().get("mem", "")
        server = Proc("server", [
            f"{B}/anytls-server", "-l", f"127.0.0.1:{sport}", "-p", PASSWORD,
            "--pool-type", cell["pool_type"],
            "--max-outbound-connections", str(cell["max_conns"]),
            "--max-idle-time-secs", str(cell["idle_secs"]),
            "--min-idle-connections", str(sweepmod.min_idle_flag(cell)),
            "--stats-interval-secs", "1", "--drain-timeout-secs", "2",
            "--metrics-listen", f"127.0.0.1:{mport}",
            "--workers", w, "--log-level", "info"]
            + (["--tcp-fast-open"] if cell.get("tfo") else []), os.path.join(rundir, "server.log"))
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
                   "--timeout", f"{timeout:g}", "--seed", str(load_seed), "--json",
                   "--label", cell["cell_id"]]
        sampler = MetricsSampler(mport)
        t_lg0 = time.time()
        lg_rc, lgtext = run_loadgen(lg_argv, os.path.join(rundir, "loadgen.log"),
                                    cell["warmup"] + cell["duration"] + 2 * timeout + 15)
        sampler.stop()
        t_win0 = t_lg0 + cell["warmup"]
        W = window_metrics(sampler.samples, t_win0, t_win0 + cell["duration"])
        # after the load the pool holds only spares: what they cost the kernel
        end = scrape_metrics(mport) or {}
        socks = server_target_sockets(tnet, tport)
        row["tcp_mem_pages_after"] = sockstat_tcp().get("mem", "")
        s_cpu1 = proc_cpu(server.pid)
        c_cpu1 = proc_cpu(client.pid)
        row["server_rss_peak_kb"] = proc_status(server.pid, "VmHWM")
        row["server_rss_end_kb"] = proc_status(server.pid, "VmRSS")
        row["client_rss_peak_kb"] = proc_status(client.pid, "VmHWM")
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
            "warmup_ok": L["warmup"]["ok"], "open_n": o["n"],
        })
        oa, ta = L.get("open_all_us"), L.get("total_all_us")
        if oa:
            row.update({"open_all_p50_us": oa["p50"], "open_all_p99_us": oa["p99"],
                        "open_all_p999_us": oa["p999"], "total_all_p99_us": ta["p99"],
                        "open_all_n": oa["n"], "failed_in_tail": oa["failed"],
                        "tail_value_us": oa["tail_us"]})
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
        if "syn_data" in T:
            row["target_syn_data"] = T["syn_data"]
            if T["accepted"]:
                row["target_syn_data_share"] = round(T["syn_data"] / T["accepted"], 4)
        if end and cell.get("tfo"):
            row["tfo_dials"] = int(end.get("anytls_tfo_dials_total", 0))
            row["tfo_syn_data_acked"] = int(end.get("anytls_tfo_syn_data_acked_total", 0))

        # ---- /metrics over the window: spares held, connections held, dials
        if W:
            row.update({k: v for k, v in W.items() if not k.startswith("_")})
            streams_w = W["_d_reused"] + W["_d_new"]
            # refill dials that served no stream: neither handed out nor still
            # waiting as a spare or a dial at the window's end (failed, stale,
            # expired, closed when the target was forgotten)
            wasted = max(0.0, W["_d_dialed"] - W["_d_reused"] - W["_d_idle"] - W["_d_dialing"])
            row.update({"win_spares_dialed": int(W["_d_dialed"]), "win_dial_failed": int(W["_d_failed"]),
                        "win_stale": int(W["_d_stale"]), "win_expired": int(W["_d_expired"]),
                        "wasted_dials": int(wasted)})
            if streams_w:
                row["dials_per_stream"] = round((W["_d_new"] + W["_d_dialed"]) / streams_w, 4)
                row["wasted_dials_per_stream"] = round(wasted / streams_w, 4)
        else:
            row["metrics_samples"] = 0
        # ---- kernel memory per spare
        spares_end = int(end.get("anytls_pool_idle_connections", 0)) if end else ""
        row["spares_end"] = spares_end
        slab = slab_per_socket()
        row["slab_per_sock_bytes"] = slab if slab is not None else ""
        if socks is not None:
            unused = [b for b, u in socks if u]
            row["target_socks_end"] = len(socks)
            row["target_socks_unused_end"] = len(unused)
            if socks:
                row["skmem_per_sock_bytes"] = round(sum(b for b, _ in socks) / len(socks), 1)
            if unused and slab is not None:
                row["kmem_per_spare_bytes"] = round(slab + sum(unused) / len(unused), 1)
        tb, ta_ = row.get("tcp_mem_pages_before"), row.get("tcp_mem_pages_after")
        if spares_end and tb != "" and ta_ != "":
            row["tcp_mem_delta_per_spare_bytes"] = round((ta_ - tb) * 4096 / spares_end, 1)
        row["status"] = "ok"
        row["reason"] = ""
    except Exception as e:  # noqa: BLE001 (a broken run is a failed row, not a crash)
        row["status"] = "failed"
        row["reason"] = str(e)[:300].replace(",", ";").replace("\n", " ")
    finally:
        if sampler is not None:
            sampler.stop()
        for pr in reversed(procs):
            if pr.pid in LIVE:
                pr.stop(timeout=3.0)
    return row

# ----------------------------------------------------------------- main


def env_report(path, args, nets, prov):
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
        f"git_sha: {prov['git_sha']}",
        f"git_dirty: {prov['git_dirty']}",
        f"git_dirty_files: {prov['git_dirty_files'] or '-'}",
        f"build_version: {prov['build_version']}",
        f"build_dirty: {prov['build_dirty']}",
        f"build_stale: {prov['build_stale']}" + (f" ({prov['build_note']})" if prov['build_note'] else ""),
        f"allow_dirty: {prov['allow_dirty']}",
        f"provenance: {prov['provenance']}",
        f"design_seed: {args.design_seed}",
        f"design: blocks = reps; cells in a random order inside each block "
        f"(random.Random('<design_seed>-order-<block>').shuffle); every cell of a block "
        f"runs loadgen with the block's load seed (paired by block)",
        f"workers_override: {args.workers or '-'}",
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
            f.write(f"resumed: {lines[0][6:]}; git {prov['git_sha']} dirty={prov['git_dirty']} "
                    f"provenance={prov['provenance']}; "
                    f"server {sh(args.build + '/anytls-server --version 2>&1 | head -1')}; "
                    f"load {load}\n")
        return
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def design_order(cells, done, design_seed):
    """[(cell, block, order_pos, load_seed)] still to run: block b holds every cell
    with reps >= b, in an order drawn from random.Random(f"{seed}-order-{b}"); the
    block's load seed comes from random.Random(f"{seed}-load-{b}"), the same for
    every cell of the block, so two cells of a block see the same arrivals and
    targets and differ only in their configuration."""
    import random
    todo = []
    maxreps = max(c["reps"] for c in cells)
    for b in range(1, maxreps + 1):
        blk = [c for c in cells if b <= c["reps"]]
        random.Random(f"{design_seed}-order-{b}").shuffle(blk)
        load_seed = block_load_seed(design_seed, b)
        for pos, c in enumerate(blk, 1):
            if (c["cell_id"], b) not in done:
                todo.append((c, b, pos, load_seed))
    return todo


def block_load_seed(design_seed, block):
    import random
    return random.Random(f"{design_seed}-load-{block}").randrange(1, 2 ** 31)


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
    ap.add_argument("--workers", type=int, default=0,
                    help="server and client worker threads for every cell (overrides workers=)")
    ap.add_argument("--design-seed", type=int, default=None,
                    help="seed of the run order and load seeds (default: DESIGN_SEED, else the "
                         "one in OUT/env.txt when resuming, else random); recorded in env.txt")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    args.sweep_file = args.sweep_file or os.path.join(ROOT, "experiments", "sweeps",
                                                      args.sweep + ".txt")
    cells = sweepmod.load(args.sweep_file, pooltypes.types(args.build))
    if args.workers:
        cells = sweepmod.override_workers(cells, args.workers)
    bad = sweepmod.invalid(cells)
    if bad:
        print("runner: the server would refuse these cells:\n  " + "\n  ".join(bad), file=sys.stderr)
        return 2
    if args.only:
        cells = [c for c in cells if re.search(args.only, c["cell_id"])]
    if args.reps:
        for c in cells:
            c["reps"] = args.reps
    prov, problems = provenance.check(args.build)
    for p_ in problems:
        print(f"runner: provenance: {p_}", file=sys.stderr)
    if problems and not provenance.allow_dirty():
        print("runner: REFUSED: results must come from a clean, committed tree and binaries built "
              "from it (commit, make all; or ALLOW_DIRTY=1 to run anyway, recorded as DIRTY)",
              file=sys.stderr)
        return 3
    if problems:
        print("runner: ALLOW_DIRTY=1: running on a dirty tree/build; every row says "
              "provenance=DIRTY", file=sys.stderr)
    os.makedirs(args.out, exist_ok=True)
    csv_path = os.path.join(args.out, "results.csv")
    env_path = os.path.join(args.out, "env.txt")
    if args.design_seed is None:
        prev = provenance.read_env(env_path).get("design_seed")
        if os.environ.get("DESIGN_SEED"):
            args.design_seed = int(os.environ["DESIGN_SEED"])
        elif prev:
            args.design_seed = int(prev)
        else:
            args.design_seed = int.from_bytes(os.urandom(4), "big")
    prev = provenance.read_env(env_path).get("design_seed")
    if prev and int(prev) != args.design_seed:
        print(f"runner: {env_path} was started with design_seed {prev}; resume with the same "
              "seed (or a new RESULTS_DIR)", file=sys.stderr)
        return 2
    prev_sha = provenance.read_env(env_path).get("git_sha")
    if prev_sha and prev_sha != prov["git_sha"]:
        print(f"runner: {args.out} holds runs of commit {prev_sha[:10]}; this is "
              f"{prov['git_sha'][:10]}: use a new RESULTS_DIR (one commit per run directory)",
              file=sys.stderr)
        return 2
    done = load_done(csv_path)
    todo = design_order(cells, done, args.design_seed)
    total = sum(c["reps"] for c in cells)
    print(f"runner: {args.sweep}: {len(cells)} cells, {total} runs, {total - len(todo)} "
          f"already done, {len(todo)} to run -> {csv_path} (commit {prov['git_sha'][:10]}, "
          f"{prov['provenance']}; design seed {args.design_seed}: random order per block, "
          f"one load seed per block)", file=sys.stderr)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    nets = {}
    t0 = time.monotonic()
    rc = 0
    try:
        for rtt in sorted({t[0]["rtt_ms"] for t in todo} | {c["rtt_ms"] for c in cells}):
            if any(t[0]["rtt_ms"] == rtt and (rtt > 0 or t[0].get("netns")) for t in todo):
                n = Netns(rtt, args.out, tfo=any(c.get("tfo") and c["rtt_ms"] == rtt for c in cells))
                nets[rtt] = n
                if not n.ok:
                    bar = "#" * 72
                    print(f"{bar}\nrunner: RTT EMULATION UNAVAILABLE for {rtt:g} ms: {n.error}\n"
                          f"runner: those cells run at LOOPBACK RTT, recorded rtt_effective=0\n"
                          f"{bar}", file=sys.stderr)
        env_report(env_path, args, nets, prov)
        new_file = not os.path.exists(csv_path)
        with open(csv_path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
            if new_file:
                w.writeheader()
            per_run = []
            for i, (c, rep, order_pos, load_seed) in enumerate(todo):
                if args.max_seconds and time.monotonic() - t0 > args.max_seconds:
                    print(f"runner: --max-seconds {args.max_seconds:g} reached; "
                          f"{len(todo) - i} runs left (run again to resume)", file=sys.stderr)
                    rc = 4
                    break
                n = nets.get(c["rtt_ms"])
                ns = n if (n is not None and n.ok and (c["rtt_ms"] > 0 or c.get("netns"))) else None
                t_run = time.monotonic()
                started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
                rundir = os.path.join(args.out, "runs", f"{c['cell_id']}-r{rep}")
                row = run_one(c, rep, args, ns, rundir, load_seed)
                if row["status"] != "ok":  # one retry: a port race, a slow start
                    print(f"runner: retrying {c['cell_id']} rep {rep}: {row['reason']}",
                          file=sys.stderr)
                    row = run_one(c, rep, args, ns, rundir, load_seed)
                wall = time.monotonic() - t_run
                per_run.append(wall)
                row.update({k: c[k] for k in sweepmod.FIELDS if k != "reps"})
                row.update({"spares": c["spares"], "min_idle_flag": sweepmod.min_idle_flag(c),
                            "spares_target": sweepmod.spares_target(c)})
                row.update({"sweep": args.sweep, "cell_id": c["cell_id"], "rep": rep,
                            "group": c["group"], "zipf": c["zipf"], "tidle": c["tidle"],
                            "warmup": c["warmup"], "workers": c["workers"],
                            "started_at": started, "wall_s": round(wall, 2),
                            "git_sha": prov["git_sha"], "git_dirty": prov["git_dirty"],
                            "build_version": prov["build_version"],
                            "provenance": prov["provenance"], "block": rep,
                            "order_pos": order_pos, "load_seed": load_seed,
                            "design_seed": args.design_seed,
                            "tfo": c.get("tfo", 0), "netns": c.get("netns", 0)})
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
                      f"eta {fmt_eta(avg * (len(todo) - i - 1))}] {c['pool_type']}"
                      f"{'+tfo' if c.get('tfo') else ''} "
                      f"m={c['max_conns']} i={c['idle_secs']} n={c['min_idle']} "
                      f"rate={c['rate']:g} K={c['targets']} rtt={c['rtt_ms']:g}"
                      f"{'' if ns or (c['rtt_ms'] == 0 and not c.get('netns')) else '(LOOPBACK!)'}"
                      f"{'(netns)' if ns and c['rtt_ms'] == 0 else ''} rep {rep}: {msg}",
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
