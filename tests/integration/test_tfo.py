"""--tcp-fast-open: streams reach targets with and without TCP Fast Open, and
with it the client's first bytes ride in the SYN.

The targets run in a network namespace behind the delay line
(experiments/netns.sh, RTT 10 ms) whose net.ipv4.tcp_fastopen the test sets to
3 (client + server): the server's side is this host's namespace, which needs
the client bit (1, Linux's default); the test skips, saying why, without root,
/dev/net/tun or that bit. Targets (bench/target):

  A  198.19.I.1:9000  --tfo 16            accepts TFO
  B  198.19.I.2:9000                      no TFO (never hands out a cookie)
  C  198.19.I.1:9001                      no TFO, on A's address: the server holds
                                          A's cookie (cookies are per address), so
                                          its SYN carries data C's listener ignores;
                                          the kernel sends it again after the handshake
  D  198.19.I.3:9000  --tfo 16 --banner   speaks first: the stream sends nothing
                                          until the banner came

Whether a SYN carried data is the target's own count (TCP_INFO
TCPI_OPT_SYN_DATA on each accepted socket, "syn_data"), not the server's: the
same streams without the flag must give 0 there, so the test fails if the flag
did nothing. The app sends its SOCKS greeting, request and first bytes in one
write, so the bytes are at the server with the stream's address (the SYN does
not wait for them)."""
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

import harness as h
from harness import PASSWORD

NETNS = str(h.ROOT / "experiments" / "netns.sh")
RTT_MS = 10


def _tfo_sysctl():
    try:
        with open("/proc/sys/net/ipv4/tcp_fastopen") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@pytest.fixture
def tfo_ns(procs, tmp_path):
    if os.geteuid() != 0 or not os.path.exists("/dev/net/tun"):
        pytest.skip("TFO test needs root and /dev/net/tun (a namespace behind experiments/netns.sh)")
    v = _tfo_sysctl()
    if v is None or not v & 1:
        pytest.skip("net.ipv4.tcp_fastopen is %s on this host: no client bit (1), the server cannot "
                    "dial with Fast Open (sysctl -w net.ipv4.tcp_fastopen=1)" % v)
    # experiments take the first free of 40..63, test_faults 60..63: a free one of 52..59
    idx = next((i for i in range(52 + os.getpid() % 8, 60) if not subprocess.run(
        ["ip", "route", "show", "198.19.%d.0/24" % (i + 1)], capture_output=True, text=True).stdout.strip()),
        52 + os.getpid() % 8)
    env = dict(os.environ, RTT_IDX=str(idx), RTT_STATE=str(tmp_path / "rtt.env"))
    up = subprocess.run([NETNS, "up", str(RTT_MS)], env=env, capture_output=True, text=True, timeout=60)
    if up.returncode == 3:
        pytest.skip("RTT namespace unavailable here: " + up.stderr.strip()[-200:])
    assert up.returncode == 0, "experiments/netns.sh up failed (rc %d):\n%s" % (
        up.returncode, up.stdout + up.stderr)
    try:
        ns = dict(l.split("=", 1) for l in up.stdout.split() if "=" in l)["RTT_NS"]
        r = subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.tcp_fastopen=3"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, "cannot set net.ipv4.tcp_fastopen in %s: %s" % (ns, r.stderr)
        yield ns, "198.19.%d" % (idx + 1)
    finally:
        subprocess.run([NETNS, "down"], env=env, capture_output=True, timeout=60)


class Target:
    def __init__(self, procs, ns, addr, port, name, args=()):
        self.addr, self.port = addr, port
        self.p = procs.start(["ip", "netns", "exec", ns, h.binary("bench/target"), "--listen",
                              "%s:%d" % (addr, port), "--response-size", "64", "--duration", "120"]
                             + list(args), name, wait=False)
        assert h.wait_until(lambda: "target: ready" in self.p.log(), 10), "target %s did not start" % name

    def counts(self):
        """The target's counters (SIGUSR1 -> one JSON line on stderr)."""
        n = self.p.log().count('"event":"usr1"')
        self.p.signal(signal.SIGUSR1)
        assert h.wait_until(lambda: self.p.log().count('"event":"usr1"') > n, 5), "no counts from target"
        line = [l for l in self.p.log().splitlines() if '"event":"usr1"' in l][-1]
        return json.loads(line[line.index("{"):])


def _metrics(mport):
    return {k: v for k, v in h.metrics(mport).items()
            if re.match(r"^(anytls_tfo_[a-z_]+|anytls_dial_failures_total)$", k)}


def _stream(client_port, t, payload=b"64\n", expect=64, banner=None):
    """One stream through the client's SOCKS5 port; greeting, request and the
    first bytes in one write (payload None: send nothing, read the banner).
    Returns (bytes read, seconds from the write to the first reply byte)."""
    s = socket.create_connection((h.V4, client_port), timeout=10)
    try:
        req = b"\x05\x01\x00" + b"\x05\x01\x00" + h.encode_socks_addr(t.addr, t.port)
        t0 = time.monotonic()
        s.sendall(req + (payload or b""))
        h.recv_exact(s, 2, "SOCKS5 method")
        hdr = h.recv_exact(s, 4, "SOCKS5 reply")
        assert hdr[1] == 0, "SOCKS5 reply %d" % hdr[1]
        h.recv_exact(s, 6, "SOCKS5 bound address")   # IPv4 + port
        want = len(banner) if banner else expect
        first = h.recv_exact(s, 1, "first reply byte")
        took = time.monotonic() - t0
        got = first + h.recv_exact(s, want - 1, "reply")
        return got, took
    finally:
        s.close()


def test_tfo_targets_with_and_without(procs, tfo_ns):
    ns, net = tfo_ns
    A = Target(procs, ns, net + ".1", 9000, "target-A-tfo", ["--tfo", "16"])
    B = Target(procs, ns, net + ".2", 9000, "target-B-plain")
    C = Target(procs, ns, net + ".1", 9001, "target-C-plain-same-addr")
    banner = b"220 target D speaks first\n"
    D = Target(procs, ns, net + ".3", 9000, "target-D-banner-tfo",
               ["--tfo", "16", "--banner", banner.decode()])
    N = 4

    # control: the same streams without the flag put no data in a SYN
    mport = h.free_port()
    server = procs.server(password=PASSWORD, args=["--pool-type", "none",
                                                   "--metrics-listen", "127.0.0.1:%d" % mport])
    client = procs.client(server.port, password=PASSWORD)
    for _ in range(N):
        assert _stream(client.port, A)[0] == b"x" * 64
    assert A.counts()["syn_data"] == 0, "SYN data without --tcp-fast-open"
    assert _metrics(mport).get("anytls_tfo_dials_total", 0) == 0
    client.stop()
    server.stop()

    mport = h.free_port()
    server = procs.server(password=PASSWORD, args=["--pool-type", "none", "--tcp-fast-open",
                                                   "--metrics-listen", "127.0.0.1:%d" % mport])
    client = procs.client(server.port, password=PASSWORD)
    times = {}
    for t in (A, B, C):
        times[t] = []
        for i in range(N):
            got, took = _stream(client.port, t, payload=b"%d\n" % (100 + i), expect=100 + i)
            assert got == b"x" * (100 + i), "stream %d to %s:%d" % (i, t.addr, t.port)
            times[t].append(took)
    for i in range(2):
        got, _ = _stream(client.port, D, payload=None, banner=banner)
        assert got == banner, "a target that speaks first was not reached (stream %d)" % i

    a, b, c, d = A.counts(), B.counts(), C.counts(), D.counts()
    m = _metrics(mport)
    # (a) the TFO target: every stream after the first (which fetched the cookie) had its bytes in the SYN
    assert a["syn_data"] >= N - 1, ("with --tcp-fast-open only %d of %d streams to the TFO target "
                                        "carried data in the SYN" % (a["syn_data"], N))
    assert a["requests"] == 2 * N and b["requests"] == N and c["requests"] == N
    # (b) targets without TFO: reached, nothing accepted in a SYN
    assert b["syn_data"] == 0 and c["syn_data"] == 0
    # the banner target: reached without any client bytes, SYNs empty
    assert d["accepted"] == 2 and d["syn_data"] == 0
    assert m["anytls_tfo_dials_total"] == 3 * N + 2
    assert m["anytls_tfo_syn_data_acked_total"] == a["syn_data"], m
    # C had A's cookie: its SYNs carried data that was not accepted
    assert m["anytls_tfo_syn_data_total"] >= m["anytls_tfo_syn_data_acked_total"] + (N - 1), m
    assert m["anytls_tfo_cookie_dials_total"] >= m["anytls_tfo_syn_data_total"] + 1, m   # D's second
    assert m.get("anytls_dial_failures_total", 0) == 0
    # a refused dial with a cookie cached for the address (A's): the SYN carries the
    # bytes, the RST fails the stream as without TFO (no relay of a dead socket)
    s = socket.create_connection((h.V4, client.port), timeout=10)
    s.sendall(b"\x05\x01\x00\x05\x01\x00" + h.encode_socks_addr(net + ".1", 9009) + b"64\n")
    assert h.recv_until_eof(s, timeout=10)[12:] == b"", "a refused target relayed bytes"
    s.close()
    assert h.wait_until(lambda: _metrics(mport).get("anytls_dial_failures_total", 0) == 1, 5)
    assert h.wait_until(lambda: "9009 failed: dial tcp" in server.log(), 5), "no dial failure logged"
    med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    procs.note("RTT %d ms; first reply byte after the SOCKS write, median of streams 2..%d: TFO target "
               "%.1f ms, plain target %.1f ms, plain target with a stale cookie %.1f ms; target syn_data "
               "A=%d B=%d C=%d; server tfo %s", RTT_MS, N, med(times[A][1:]) * 1e3,
               med(times[B][1:]) * 1e3, med(times[C][1:]) * 1e3, a["syn_data"], b["syn_data"],
               c["syn_data"], {k[11:]: int(v) for k, v in m.items() if k.startswith("anytls_tfo_")})


def test_tfo_spares_are_real_connections(procs, tfo_ns):
    """Spares are dialed without TFO: a pre-dialed TFO socket that nobody
    writes never sends its SYN. With the TFO target's cookie cached, the pool's
    spares must still be open connections at the target."""
    ns, net = tfo_ns
    A = Target(procs, ns, net + ".1", 9000, "target-A-tfo", ["--tfo", "16"])
    mport = h.free_port()
    server = procs.server(password=PASSWORD, args=["--pool-type", "lock", "--min-idle-connections", "2",
                                                   "--tcp-fast-open", "--workers", "1",
                                                   "--metrics-listen", "127.0.0.1:%d" % mport])
    client = procs.client(server.port, password=PASSWORD)
    for i in range(3):
        assert _stream(client.port, A)[0] == b"x" * 64
    # the pool refills after the target was asked for twice; the spares are open at A
    assert h.wait_until(lambda: A.counts()["open"] >= 2, 10), (
        "the pool's spares are not connections at the target: %s" % A.counts())
    before = A.counts()
    assert _stream(client.port, A)[0] == b"x" * 64       # served by a spare
    m = _metrics(mport)
    assert m["anytls_tfo_dials_total"] <= 3, m          # only streams dial with TFO
    procs.note("spares open at the TFO target: %d (accepted %d); server tfo %s", before["open"],
               before["accepted"], {k[11:]: int(v) for k, v in m.items() if k.startswith("anytls_tfo_")})
