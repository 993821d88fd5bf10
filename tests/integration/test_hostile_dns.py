"""A hostile client cannot starve other clients' name lookups (issue 11, item 2).

A fake DNS server on loopback answers ok.test with 127.0.0.1 (TTL 0, so every
stream to it is a real lookup, not a cache hit) and never answers
*.blackhole.test. One raw AnyTLS session opens and closes 64 streams to new
blackhole names, round after round, for a few seconds; meanwhile another
session's stream to ok.test must reach the echo server within 1 s every time.
One worker, so both sessions share one resolver.

Two ways to point the server at the fake resolver:
  flag         --dns-servers 127.0.0.1:PORT
  resolv_conf  the server runs in its own mount namespace where /etc/resolv.conf
               names the fake (on port 53 of a random 127/8 address). This is the
               path a binary without --dns-servers takes too, so it shows the old
               threaded getaddrinfo resolver failing the same check (needs root
               and unshare(1); skipped otherwise).
"""
import os
import random
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections import Counter

import pytest

import harness as h
import anytls_raw as r
from harness import PASSWORD

ROUNDS_SECONDS = 4.0
STREAMS_PER_ROUND = 64
VICTIM_DEADLINE = 1.0


class FakeDns:
    """UDP DNS: ok.test -> A 127.0.0.1 (TTL 0, no AAAA), *.blackhole.test
    unanswered, anything else NXDOMAIN. Counts questions by name."""

    def __init__(self, host=h.V4, port=0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(0.1)
        self.host, self.port = self.sock.getsockname()
        self.questions = Counter()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while not self._stop.is_set():
            try:
                q, peer = self.sock.recvfrom(1500)
            except socket.timeout:
                continue
            except OSError:
                return
            reply = self._answer(q)
            if reply:
                self.sock.sendto(reply, peer)

    def _answer(self, q):
        if len(q) < 17:
            return None
        off, labels = 12, []
        while off < len(q) and q[off]:
            n = q[off]
            labels.append(q[off + 1:off + 1 + n].decode("ascii", "replace").lower())
            off += 1 + n
        off += 1
        if off + 4 > len(q):
            return None
        qtype = struct.unpack(">H", q[off:off + 2])[0]
        off += 4
        name = ".".join(labels)
        self.questions[name] += 1
        if name.endswith("blackhole.test"):
            return None
        answers, rcode = b"", 0
        if name == "ok.test":
            if qtype == 1:
                answers = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 0, 4) + socket.inet_aton(h.V4)
        else:
            rcode = 3
        hdr = q[:2] + struct.pack(">BBHHHH", 0x81, 0x80 | rcode, 1, 1 if answers else 0, 0, 0)
        return hdr + q[12:off] + answers

    def close(self):
        self._stop.set()
        self._t.join(5)
        self.sock.close()


def open_frames(sid, host, port, data=b""):
    return r.frame(r.SYN, sid) + r.frame(r.PSH, sid, h.encode_socks_addr(host, port) + data)


def drain(s, seconds):
    """Reads whatever the server sent for up to `seconds` (frames kept)."""
    deadline = time.monotonic() + seconds
    for _ in range(10000):
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            s.read_frame(left)
        except (socket.timeout, TimeoutError):
            return


def hostile(port, stop, stats):
    """Rounds of 64 streams to new blackhole names, each closed at once."""
    with r.RawSession(port) as s:
        s.handshake(PASSWORD)
        sid = 1
        for rnd in range(10000):
            if stop.is_set():
                break
            first = sid
            batch = b"".join(open_frames(sid + i, "h%d-%d.blackhole.test" % (rnd, i), 80)
                             for i in range(STREAMS_PER_ROUND))
            sid += STREAMS_PER_ROUND
            s.send(batch)
            s.send(b"".join(r.frame(r.FIN, i) for i in range(first, sid)))
            stats["rounds"] += 1
            drain(s, 0.05)


def victim(port, echo_port, stop, deadline):
    """Streams to ok.test one after the other: the time each took to echo."""
    times = []
    with r.RawSession(port) as s:
        s.handshake(PASSWORD)
        for i in range(1000):
            if time.monotonic() > deadline:
                break
            sid = i + 1
            msg = b"ping %d" % i
            t0 = time.monotonic()
            s.send(open_frames(sid, "ok.test", echo_port, msg))
            try:
                got = s.stream_data(sid, timeout=VICTIM_DEADLINE * 5, n=len(msg))
            except (socket.timeout, TimeoutError):
                got = b""
            took = time.monotonic() - t0
            times.append(took if got == msg else float("inf"))
            s.send(r.frame(r.FIN, sid))
            if got != msg:
                break
            time.sleep(0.2)
    return times


def can_unshare():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                          capture_output=True, timeout=10).returncode == 0


def start_server(procs, via, tmp_path):
    base = ["--workers", "1", "--log-level", os.environ.get("ANYTLS_TEST_LOG_LEVEL", "warn")]
    if via == "flag":
        dns = FakeDns()
        return dns, procs.server(password=PASSWORD, args=base + ["--dns-servers", "%s:%d" % (dns.host, dns.port)])
    # resolv_conf: glibc (the old resolver) only asks port 53
    addr = "127.%d.%d.%d" % (random.randint(1, 254), random.randint(1, 254), random.randint(2, 254))
    dns = FakeDns(addr, 53)
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver %s\n" % addr)
    port = h.free_port()
    argv = ["unshare", "-m", "--propagation", "private", "sh", "-c",
            'mount --bind "$0" /etc/resolv.conf && exec "$@"', str(conf),
            str(h.binary("anytls-server")), "-l", "%s:%d" % (h.V4, port), "-p", PASSWORD] + base
    return dns, procs.start(argv, "server", port=port)


@pytest.mark.parametrize("via", ["flag", "resolv_conf"])
def test_hostile_dns_does_not_starve_others(procs, echo, tmp_path, via):
    if via == "resolv_conf" and not can_unshare():
        pytest.skip("needs root and unshare(1) for a private /etc/resolv.conf")
    dns, server = start_server(procs, via, tmp_path)
    try:
        stop, stats = threading.Event(), Counter()
        t = threading.Thread(target=hostile, args=(server.port, stop, stats), daemon=True)
        t.start()
        time.sleep(0.5)   # let the flood fill whatever it can
        times = victim(server.port, echo.port, stop, time.monotonic() + ROUNDS_SECONDS)
        stop.set()
        t.join(15)
        blackholes = sum(n for q, n in dns.questions.items() if q.endswith("blackhole.test"))
        procs.note("%d hostile rounds (%d streams), %d blackhole questions reached the resolver; "
                   "victim streams: %d, slowest %.3f s", stats["rounds"],
                   stats["rounds"] * STREAMS_PER_ROUND, blackholes, len(times), max(times))
        assert stats["rounds"] >= 5, "the hostile session did not run"
        assert blackholes > 0, "the flood never reached the resolver"
        assert max(times) < VICTIM_DEADLINE, \
            "a stream to ok.test took %.2f s under the flood (inf: no echo within %.0f s; all: %s)" % (
                max(times), VICTIM_DEADLINE * 5, ", ".join("%.2f" % x for x in times))
        assert len(times) >= 5, "victim streams: %r" % times
    finally:
        dns.close()


def test_dns_servers_flag_rejects_garbage(procs):
    """A bad --dns-servers is bad usage (exit 2), named in the message, escaped."""
    p = subprocess.run([str(h.binary("anytls-server")), "-p", "x", "--dns-servers", "8.8.8.8,evil\x1b[2J"],
                       capture_output=True, timeout=30)
    assert p.returncode == 2
    err = p.stderr.decode()
    assert "--dns-servers" in err and "evil\\x1b" in err, err
