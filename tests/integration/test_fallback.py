"""--fallback: connections whose first bytes do not authenticate are relayed to
a web server (a fake one on loopback here), every byte first, so a prober reads
exactly what that server says; a correct password still works on the same
port. PROXY protocol headers, the cap, back-pressure both ways, a dead
fallback, and a rank test that near and far passwords reach the decision in
the same time."""
import math
import random
import socket
import struct
import threading
import time

import pytest

import harness as h
import anytls_raw as r
from harness import PASSWORD

BODY_200 = b"<html><body>welcome to nginx!</body></html>\n"
RESP_200 = (b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(BODY_200)) + BODY_200
BODY_400 = b"<html><head><title>400 Bad Request</title></head></html>\n"
RESP_400 = (b"HTTP/1.1 400 Bad Request\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(BODY_400)) + BODY_400
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def read_proxy_header(conn, version):
    """Parses a PROXY header off conn: (proto, (src ip, port), (dst ip, port))."""
    if version == "v1":
        line = bytearray()
        while not line.endswith(b"\r\n"):
            assert len(line) < 108, "PROXY v1 line too long: %r" % line
            b = conn.recv(1)
            assert b, "EOF inside the PROXY v1 line %r" % line
            line += b
        parts = line.decode().split()
        assert parts[0] == "PROXY", line
        return parts[1], (parts[2], int(parts[4])), (parts[3], int(parts[5]))
    hdr = h.recv_exact(conn, 16, "PROXY v2 header")
    assert hdr[:12] == V2_SIG, hdr
    assert hdr[12] == 0x21, "version/command %#x" % hdr[12]
    fam, ln = hdr[13], struct.unpack(">H", hdr[14:16])[0]
    body = h.recv_exact(conn, ln, "PROXY v2 addresses")
    if fam == 0x11:
        src, dst = socket.inet_ntoa(body[0:4]), socket.inet_ntoa(body[4:8])
        sp, dp = struct.unpack(">HH", body[8:12])
        return "TCP4", (src, sp), (dst, dp)
    raise AssertionError("PROXY v2 family %#x" % fam)


class FakeWeb(h._TcpServer):
    """A web server's answers: after a request head (or 0.3 s without a byte,
    or at once with immediate), 200 to a GET and 400 to anything else, then
    close. What each connection sent (after any PROXY header) is recorded."""

    def __init__(self, proxy=None, immediate=False, **kw):
        self.proxy = proxy
        self.immediate = immediate
        self.received = []
        self.headers = []
        super().__init__(**kw)

    def handle(self, conn, n):
        if self.proxy:
            self.headers.append(read_proxy_header(conn, self.proxy))
        data = bytearray()
        conn.settimeout(10 if self.immediate else 0.3)
        while b"\r\n\r\n" not in data and len(data) < (1 << 20):
            try:
                chunk = conn.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
            if self.immediate:
                break
        self.received.append(bytes(data))
        conn.sendall(RESP_200 if data.startswith(b"GET ") else RESP_400)
        conn.shutdown(socket.SHUT_WR)


def probe(port, *steps, timeout=10):
    """A prober: TLS to port (no certificate check), then each step (bytes: one
    TLS record; a number: a pause in seconds), then everything until EOF.
    Returns (bytes, seconds from the last record sent to EOF, local port)."""
    with r.RawSession(port, timeout=timeout) as s:
        t = time.monotonic()
        for st in steps:
            if isinstance(st, (int, float)):
                time.sleep(st)
            else:
                s.send(st)
                t = time.monotonic()
        got = h.recv_until_eof(s.sock, timeout=timeout)
        return got, time.monotonic() - t, s.sock.getsockname()[1]


def fallback_server(procs, web_port, *args, mport=None):
    a = ["--fallback", "127.0.0.1:%d" % web_port, "--auth-timeout-secs", "2"] + list(args)
    if mport:
        a += ["--metrics-listen", "127.0.0.1:%d" % mport]
    return procs.server(password=PASSWORD, args=a)


def open_frames(sid, host, port, data=b""):
    return r.frame(r.SYN, sid) + r.frame(r.PSH, sid, h.encode_socks_addr(host, port) + data)


def correct_password_works(port, echo_port):
    with r.RawSession(port) as s:
        s.handshake(PASSWORD, first=open_frames(1, h.V4, echo_port, b"still a proxy"))
        assert s.stream_data(1, n=13) == b"still a proxy"


GET = b"GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: probe/1.0\r\nAccept: */*\r\n\r\n"


def test_fallback_probes_get_the_web_servers_exact_answer(procs, echo):
    mport = h.free_port()
    with FakeWeb() as web:
        server = fallback_server(procs, web.port, mport=mport)
        garbage = random.Random(7).randbytes(300)
        wrong = r.auth_block("not-the-password") + r.frame(r.SETTINGS, 0, r.settings_data())
        cases = [("wrong password", wrong, RESP_400), ("garbage", garbage, RESP_400),
                 ("HTTP GET", GET, RESP_200)]
        for i, (what, sent, want) in enumerate(cases):
            got, _, _ = probe(server.port, sent)
            assert got == want, "%s: the prober read %r" % (what, got[:200])
            assert web.received[i] == sent, "%s: the web server got %r" % (what, web.received[i][:80])
        # the same port still serves the password, through the raw protocol and a real client
        correct_password_works(server.port, echo.port)
        client = procs.client(server.port, password=PASSWORD)
        h.check_tcp_echo_socks5(client.port, h.V4, echo.port, sizes=(1000,))
        m = h.metrics(mport)
        assert m["anytls_fallback_connections_total"] == 3, m
        assert m["anytls_auth_failures_total"] == 3, m
        assert m['anytls_fallback_bytes_total{direction="to_fallback"}'] == sum(len(c[1]) for c in cases), m
        assert m['anytls_fallback_bytes_total{direction="to_client"}'] == 2 * len(RESP_400) + len(RESP_200), m
        assert h.wait_until(lambda: h.metrics(mport)["anytls_fallback_connections_open"] == 0, 5)
        # nothing of it went through the pool
        # (whatever the default pool type is: the label names it)
        pooled = sum(v for k, v in m.items() if k.startswith("anytls_pool_connections_total{")
                     and ('kind="new"' in k or 'kind="reused"' in k))
        assert pooled == 2, m
    assert "relayed to the fallback" in server.log()


def test_fallback_short_prefix_waits_for_the_rest_or_the_auth_timeout(procs, echo):
    """Fewer bytes than an auth block: a prober that waits is relayed after the
    auth timeout (2 s here); one that sends the rest is relayed once there are
    34 bytes to judge; a correct block split over records authenticates."""
    with FakeWeb() as web:
        server = fallback_server(procs, web.port)
        prefix = b"GET / HTTP/1.0\r\n"
        got, waited, _ = probe(server.port, prefix, timeout=15)
        assert got == RESP_200, got
        assert web.received[0] == prefix
        assert 1.5 <= waited <= 6, "relayed after %.2f s (auth timeout 2 s)" % waited

        got, waited, _ = probe(server.port, GET[:10], 0.3, GET[10:])
        assert got == RESP_200, got
        assert web.received[1] == GET
        assert waited < 1.5, "the completed prefix waited %.2f s" % waited

        block = r.auth_block(PASSWORD)
        with r.RawSession(server.port) as s:
            s.send(block[:20])
            time.sleep(0.3)
            s.send(block[20:])
            s.send(r.frame(r.SETTINGS, 0, r.settings_data()) + open_frames(1, h.V4, echo.port, b"split"))
            assert s.stream_data(1, n=5) == b"split"
        assert len(web.received) == 2


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_fallback_proxy_protocol_header_names_the_prober(procs, version):
    with FakeWeb(proxy=version) as web:
        server = fallback_server(procs, web.port, "--fallback-proxy-protocol", version)
        got, _, lport = probe(server.port, GET)
        assert got == RESP_200
        proto, src, dst = web.headers[0]
        assert (proto, src, dst) == ("TCP4", (h.V4, lport), (h.V4, server.port)), web.headers[0]
        assert web.received[0] == GET, "bytes after the header: %r" % web.received[0][:80]


def test_gauges_are_down_when_the_peer_sees_the_close(procs):
    """A close the peer sees is already counted: a prober whose fallback is
    down, and a session that ends, read /metrics the moment they get EOF and
    find nothing open. (The gauges were decremented after the socket closed;
    CI once read anytls_fallback_connections_open 1 after the EOF.) A race, so
    many rounds: the old code failed some of them."""
    mport = h.free_port()
    dead = h.free_port()
    server = fallback_server(procs, dead, "--workers", "1", mport=mport)
    bad = []
    for i in range(60):
        got, _, _ = probe(server.port, GET)
        assert got == b""
        m = h.metrics(mport)
        if m["anytls_fallback_connections_open"] != 0:
            bad.append(("fallback", i))
        with r.RawSession(server.port) as s:
            s.send(r.auth_block(PASSWORD))
            s.send(r.frame(r.SYN, 1))  # before Settings: alert, then close
            assert s.wait_closed()
            m = h.metrics(mport)
            if m["anytls_sessions_open"] != 0:
                bad.append(("session", i))
    assert not bad, "gauges still counted a connection the peer saw closed: %s" % bad


def test_fallback_dead_closes_with_one_log_line(procs, echo):
    mport = h.free_port()
    dead = h.free_port()   # nothing listens there
    server = fallback_server(procs, dead, "--workers", "1", mport=mport)
    for _ in range(5):
        got, waited, _ = probe(server.port, GET)
        assert got == b"" and waited < 2
    m = h.metrics(mport)
    assert m["anytls_fallback_failures_total"] == 5, m
    assert m["anytls_fallback_connections_open"] == 0, m
    lines = [l for l in server.log().splitlines() if "unreachable" in l]
    assert len(lines) == 1, lines
    assert "127.0.0.1:%d" % dead in lines[0] and "Connection refused" in lines[0], lines
    correct_password_works(server.port, echo.port)


def test_fallback_connections_are_capped(procs):
    mport = h.free_port()
    with h.BlackHole() as hole:
        server = fallback_server(procs, hole.port, "--max-fallback-connections", "2", mport=mport)
        held = [r.RawSession(server.port) for _ in range(2)]
        try:
            for s in held:
                s.send(GET)
            assert h.wait_until(lambda: h.metrics(mport)["anytls_fallback_connections_open"] == 2, 5)
            got, waited, _ = probe(server.port, GET)
            assert got == b"" and waited < 2, "the third was not closed at once"
            m = h.metrics(mport)
            assert m["anytls_fallback_refused_total"] == 1 and m["anytls_fallback_connections_open"] == 2, m
            assert "--max-fallback-connections" in server.log()
        finally:
            for s in held:
                s.close()
        assert h.wait_until(lambda: h.metrics(mport)["anytls_fallback_connections_open"] == 0, 5)


class _NarrowHole(h.BlackHole):
    """Never reads, with a small receive window."""

    def __init__(self):
        super().__init__()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)


def test_fallback_back_pressure_both_ways(procs):
    """A prober that does not read stops the server reading the fallback; a
    fallback that does not read stops the server reading the prober: the
    bytes held stay bounded (counted on the way through), and flow again."""
    mport = h.free_port()
    key_out = 'anytls_fallback_bytes_total{direction="to_client"}'
    key_in = 'anytls_fallback_bytes_total{direction="to_fallback"}'
    with h.Firehose(limit=1 << 30) as fire:
        server = fallback_server(procs, fire.port, mport=mport)
        with r.RawSession(server.port) as s:
            s.send(GET)
            time.sleep(1.5)
            a = h.metrics(mport)[key_out]
            time.sleep(1.0)
            b = h.metrics(mport)[key_out]
            assert a == b, "still reading the fallback for a prober that reads nothing: %d -> %d" % (a, b)
            assert b < 24 << 20, "%d bytes taken from the fallback for a prober that reads nothing" % b
            # reading resumes the flow
            got = 0
            s.sock.settimeout(10)
            while got < 8 << 20:
                got += len(s.sock.recv(1 << 16))
        procs.note("fallback->prober stopped at %.1f MiB while the prober did not read", b / (1 << 20))
    with _NarrowHole() as hole:
        server = fallback_server(procs, hole.port, mport=(mport2 := h.free_port()))
        s = r.RawSession(server.port)
        stop = threading.Event()

        def push():
            block = h.payload(1 << 16, tag=3)
            try:
                while not stop.is_set():
                    s.sock.sendall(block)
            except OSError:
                pass
        t = threading.Thread(target=push, daemon=True)
        t.start()
        try:
            time.sleep(2.0)
            a = h.metrics(mport2)[key_in]
            time.sleep(1.0)
            b = h.metrics(mport2)[key_in]
            assert a == b, "still reading a prober whose fallback does not read: %d -> %d" % (a, b)
            assert b < 8 << 20, "%d bytes read from the prober for a fallback that reads nothing" % b
        finally:
            stop.set()
            s.close()
            t.join(5)
        procs.note("prober->fallback stopped at %.1f MiB while the fallback did not read", b / (1 << 20))


# ---- timing ----

def mann_whitney_p(x, y):
    """Two-sided p-value of the Mann-Whitney U test (normal approximation with
    the tie correction): small when one sample tends to be larger."""
    allv = sorted([(v, 0) for v in x] + [(v, 1) for v in y])
    ranks = [0.0] * len(allv)
    i = 0
    ties = 0.0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1][0] == allv[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2.0 + 1
        t = j - i + 1
        ties += t ** 3 - t
        i = j + 1
    n1, n2 = len(x), len(y)
    r1 = sum(rk for rk, (_, g) in zip(ranks, allv) if g == 0)
    u = r1 - n1 * (n1 + 1) / 2.0
    n = n1 + n2
    sd = math.sqrt(n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1))))
    z = (u - n1 * n2 / 2.0) / sd if sd else 0.0
    return math.erfc(abs(z) / math.sqrt(2))


def test_rank_test_finds_a_shift():
    """The statistic the timing test relies on tells a 10% shift apart."""
    rng = random.Random(5)
    a = [1.0 + rng.expovariate(10) for _ in range(150)]
    b = [x * 1.1 for x in (1.0 + rng.expovariate(10) for _ in range(150))]
    assert mann_whitney_p(a, b) < 0.001
    assert mann_whitney_p(a, a[::-1]) > 0.9


def test_fallback_near_and_far_passwords_take_the_same_time(procs, tmp_path):
    """The time from the auth record to the fallback's first byte, for blocks
    whose hash differs from a user's in the last bit only (near) and random
    ones (far), interleaved at random: a rank test must not tell them apart
    (p > 0.001). Users: -p and a file of 50, so the lookup's table is real."""
    users = tmp_path / "users.txt"
    users.write_text("".join("user%d:password-%d\n" % (i, i) for i in range(50)))
    with FakeWeb(immediate=True) as web:
        server = fallback_server(procs, web.port, "--users-file", str(users), "--workers", "1")
        rng = random.Random(11)
        import hashlib
        targets = [hashlib.sha256(PASSWORD.encode()).digest()] + \
            [hashlib.sha256(b"password-%d" % i).digest() for i in range(50)]
        order = ["near"] * 150 + ["far"] * 150
        rng.shuffle(order)
        lat = {"near": [], "far": []}
        for kind in ["near", "far"] * 5 + order:   # 10 warm-up probes first
            if kind == "near":
                hsh = bytearray(rng.choice(targets))
                hsh[31] ^= 1
            else:
                hsh = bytearray(rng.randbytes(32))
            block = bytes(hsh) + struct.pack(">H", 30) + b"\x00" * 30
            with r.RawSession(server.port) as s:
                # else the record waits for the ACK of the client's Finished (Nagle + delayed
                # ACK: 40 ms of noise)
                s.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                t0 = time.perf_counter()
                s.send(block)
                s.sock.settimeout(10)
                first = s.sock.recv(1)
                dt = time.perf_counter() - t0
                assert first == RESP_400[:1]
            lat[kind].append(dt)
        near, far = lat["near"][-150:], lat["far"][-150:]
        p = mann_whitney_p(near, far)
        med = lambda v: sorted(v)[len(v) // 2] * 1e6
        procs.note("decision latency medians: near %.0f us, far %.0f us, Mann-Whitney p = %.3f",
                   med(near), med(far), p)
        print("near median %.0f us, far median %.0f us, p = %.4f" % (med(near), med(far), p))
        assert p > 0.001, "near and far passwords told apart: medians %.0f vs %.0f us, p = %.2g" % (
            med(near), med(far), p)
