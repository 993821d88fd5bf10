"""Hostile peers (issue: hardening): each attack ends with bounded memory, other
sessions unaffected and one clear log line. Loopback only, every loop bounded
in count and time."""
import socket
import ssl
import struct
import threading
import time

import anytls_raw as r
import harness as h
from harness import PASSWORD


def _non_reading_session(port, rcvbuf=4096):
    """A TLS session to the server whose socket never reads after the handshake
    (a small receive buffer, so the server's output backs up at once)."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    raw.settimeout(5)
    raw.connect((h.V4, port))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx.wrap_socket(raw)


def _send_for(sock, chunk, seconds, limit):
    """Sends chunk repeatedly for at most `seconds` or `limit` bytes; returns
    the bytes the server took (it may stop reading: then sends time out)."""
    sent = 0
    deadline = time.monotonic() + seconds
    sock.settimeout(0.5)
    while sent < limit and time.monotonic() < deadline:
        try:
            sock.sendall(chunk)
        except (socket.timeout, ssl.SSLWantWriteError, TimeoutError):
            continue
        except OSError:
            break
        sent += len(chunk)
    return sent


def test_hostile_client_that_never_reads(procs, echo):
    """Authenticates, then sends Settings (each once answered with the ~144-byte
    padding scheme: 20x amplification) and HeartRequests, and never reads. The
    server stops reading it once its output to it is full, closes it after the
    stall timeout with one log line, and its memory stays bounded (it grew
    ~20 MB per MB sent before)."""
    server = procs.server(password=PASSWORD, args=["--stall-timeout-secs", "3", "--workers", "1"])
    client = procs.client(server.port, password=PASSWORD)
    h.check_tcp_echo_socks5(client.port, h.V4, echo.port, sizes=(10,))
    rss0 = h.rss_kib(server.pid)
    s = _non_reading_session(server.port)
    s.sendall(r.auth_block(PASSWORD))
    # empty Settings frames (7 bytes, each answered with the scheme before) and heartbeats
    chunk = (r.frame(r.SETTINGS, 0) * 300 + r.frame(r.HEART_REQ, 0) * 700)
    sent = _send_for(s, chunk, seconds=5, limit=16 << 20)
    grown_mb = (h.rss_kib(server.pid) - rss0) / 1024.0
    procs.note("hostile reader: %d bytes sent, server RSS grew %.1f MB", sent, grown_mb)
    assert grown_mb < 24, "server RSS grew %.1f MB from %d bytes of a client that never reads" % (
        grown_mb, sent)
    # other sessions keep working meanwhile
    h.check_tcp_echo_socks5(client.port, h.V4, echo.port, sizes=(100, 5000))
    h.wait_until(lambda: "client read none of" in server.log(), timeout=10,
                 what="the stall log line for the non-reading client")
    s.close()
    assert server.log().count("client read none of") == 1


def test_hostile_streams_that_never_name_a_destination(procs, echo):
    """SYNs with no destination held their stream slots forever: now each is
    closed (FIN) after the auth timeout, counted, and logged once per session."""
    server = procs.server(password=PASSWORD, args=["--auth-timeout-secs", "2",
                                                   "--max-streams-per-session", "8"])
    with r.RawSession(server.port) as s:
        s.handshake(PASSWORD)
        s.send(b"".join(r.frame(r.SYN, sid) for sid in range(1, 9)))   # all 8 slots, no PSH
        t0 = time.monotonic()
        fins = set()
        while len(fins) < 8 and time.monotonic() - t0 < 8:
            c, sid, _ = s.read_frame(timeout=8)
            if c == r.FIN:
                fins.add(sid)
        assert fins == set(range(1, 9)), "streams without a destination not closed: %r" % fins
        # the slots are free again: a real stream works on the same session
        s.send(r.frame(r.SYN, 9) + r.frame(r.PSH, 9, h.encode_socks_addr(h.V4, echo.port) + b"hi"))
        assert s.stream_data(9, n=2) == b"hi"
    assert server.log().count("sent no destination") == 1


def _session_from(port, source_ip):
    raw = socket.create_connection((h.V4, port), timeout=5, source_address=(source_ip, 0))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return r.FrameConn(ctx.wrap_socket(raw), timeout=5)


def test_hostile_idle_connections_do_not_lock_clients_out(procs, echo):
    """Unauthenticated connections have a budget of their own (a limit per
    address once half of it is taken), apart from --max-sessions: four idle sockets used to fill
    --max-sessions 4 and lock a correct client out for the whole auth timeout."""
    server = procs.server(password=PASSWORD, args=["--max-sessions", "4", "--max-preauth", "8",
                                                   "--max-preauth-per-addr", "4", "--workers", "1"])
    idle = [socket.create_connection((h.V4, server.port), timeout=5) for _ in range(4)]
    try:
        time.sleep(0.2)
        # a correct client from another address is served
        with _session_from(server.port, "127.0.0.2") as s:
            s.handshake(PASSWORD, first=r.frame(r.SYN, 1) + r.frame(
                r.PSH, 1, h.encode_socks_addr(h.V4, echo.port) + b"let in"))
            assert s.stream_data(1, n=6) == b"let in"
        # a fifth idle socket from the same address is refused at once
        extra = socket.create_connection((h.V4, server.port), timeout=5)
        closed, _ = h.wait_closed(extra, 3)
        extra.close()
        assert closed, "a 5th unauthenticated connection from one address was kept"
        assert "--max-preauth-per-addr 4" in server.log()
    finally:
        for c in idle:
            c.close()


FORGED = "2026-01-01T00:00:00.000Z [ERROR] forged by a peer"


def test_hostile_log_lines_cannot_be_forged(procs):
    """A target name carrying a newline and a fake log line: the failure is
    logged on one line, the newline escaped (it used to start a line of its own)."""
    server = procs.server(password=PASSWORD)
    with r.RawSession(server.port) as s:
        s.handshake(PASSWORD, first=r.frame(r.SYN, 1) + r.frame(
            r.PSH, 1, h.encode_socks_addr("bad.invalid\n" + FORGED, 80)))
        s.wait_for(lambda c, sid, d: sid == 1 and c in (r.FIN, r.SYNACK), timeout=15)
    h.wait_until(lambda: "failed" in server.log(), timeout=5)
    lines = server.log().splitlines()
    assert not any(line.startswith(FORGED[:24]) for line in lines), "a forged line:\n" + server.log_tail()
    assert any("\\x0a" + FORGED[:10] in line for line in lines), server.log_tail()


def test_hostile_auth_failures_logged_at_a_bounded_rate(procs):
    """Wrong passwords are counted, not each logged: one line, then a count."""
    server = procs.server(password=PASSWORD, args=["--workers", "1"])
    for _ in range(30):
        with r.RawSession(server.port) as s:
            s.send(r.auth_block("wrong"))
            s.wait_closed(5)
    log = server.log()
    assert 1 <= log.count("authentication failed") <= 2, log
    assert "anytls_auth_failures_total" not in log  # (the count is in metrics, not the log)


def test_hostile_log_targets_off_hides_destinations(procs, echo):
    """--log-targets off: a failed stream's line and [Pool Status] name no target."""
    server = procs.server(password=PASSWORD, args=["--log-targets", "off", "--stats-interval-secs", "1"])
    closed = h.free_port()
    with r.RawSession(server.port) as s:
        s.handshake(PASSWORD, first=r.frame(r.SYN, 1) + r.frame(
            r.PSH, 1, h.encode_socks_addr(h.V4, closed) + b"x"))
        s.wait_for(lambda c, sid, d: sid == 1 and c in (r.FIN, r.SYNACK), timeout=10)
        s.send(r.frame(r.SYN, 2) + r.frame(r.PSH, 2, h.encode_socks_addr(h.V4, echo.port) + b"y"))
        assert s.stream_data(2, n=1) == b"y"
    assert h.wait_until(lambda: "[Pool Status]" in server.log() and "failed" in server.log(), timeout=5)
    log = server.log()
    assert ":%d" % closed not in log and ":%d" % echo.port not in log, log
    assert "<target>" in log and "names not logged" in log, log


class _NarrowHole(h.BlackHole):
    """Never reads, and advertises a small window (so the bytes wait in the
    server, not in the kernel's buffers on both sides)."""

    def __init__(self):
        super().__init__()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)


def test_hostile_session_budget_bounds_bytes_held_for_targets(procs, echo):
    """One session pushing into 48 targets that never read: the per-stream cap
    alone let it hold 48 x 256 KiB; the session's budget stops its reads at
    --max-session-buffer-kb, counted and logged, and other sessions go on."""
    mport = h.free_port()
    server = procs.server(password=PASSWORD, args=["--max-session-buffer-kb", "1024", "--workers", "1",
                                                   "--metrics-listen", "127.0.0.1:%d" % mport])
    client = procs.client(server.port, password=PASSWORD)
    h.check_tcp_echo_socks5(client.port, h.V4, echo.port, sizes=(10,))
    rss0 = h.rss_kib(server.pid)
    with _NarrowHole() as hole, r.RawSession(server.port) as s:
        streams = 48
        s.handshake(PASSWORD, first=b"".join(
            r.frame(r.SYN, sid) + r.frame(r.PSH, sid, h.encode_socks_addr(h.V4, hole.port))
            for sid in range(1, streams + 1)))
        time.sleep(0.3)
        block = b"".join(r.frame(r.PSH, sid, b"\0" * 16000) for sid in range(1, streams + 1))
        # the kernel takes ~1.5 MB per target socket first (Linux autotuning); then the server holds
        sent = _send_for(s.sock, block, seconds=6, limit=200 << 20)
        held = h.metric_sum(mport, "anytls_queued_to_targets_bytes")
        grown_mb = (h.rss_kib(server.pid) - rss0) / 1024.0
        procs.note("pushed %d KiB into %d non-reading targets: %d KiB held, RSS +%.1f MB",
                   sent >> 10, streams, int(held) >> 10, grown_mb)

        assert held <= (1024 + 256) * 1024, "%d bytes held for targets, budget 1 MiB" % held
        assert h.metric_sum(mport, "anytls_buffer_budget_pauses_total") >= 1
        h.check_tcp_echo_socks5(client.port, h.V4, echo.port, sizes=(100, 5000))
    if not h.sanitized():   # ASan's quarantine keeps freed frames resident
        assert grown_mb < 8, "RSS grew %.1f MB" % grown_mb
    assert "session (--max-session-buffer-kb) buffer budget reached" in server.log()


def _stream_once(port, host, tport, data=b"x", sid=1):
    """One stream on a fresh raw session; returns the frames seen for it (until FIN/SYNACK error or data)."""
    with r.RawSession(port) as s:
        s.handshake(PASSWORD, first=r.frame(r.SYN, sid) + r.frame(r.PSH, sid, h.encode_socks_addr(host, tport) + data))
        f = s.wait_for(lambda c, i, d: i == sid and (c == r.PSH or c == r.FIN or (c == r.SYNACK and d)),
                       timeout=10)
        return f


def test_hostile_private_targets_denied_when_asked(procs, echo):
    """--deny-private-targets: loopback targets (by address or by a name that
    resolves to one) get a SYNACK error saying why; --allow-target makes an
    exception; UDP datagrams to them are dropped."""
    mport = h.free_port()
    server = procs.server(password=PASSWORD, args=["--deny-private-targets",
                                                   "--metrics-listen", "127.0.0.1:%d" % mport])
    for host in (h.V4, "localhost", h.V6):
        f = _stream_once(server.port, host, echo.port)
        assert f[0] == r.SYNACK and b"not allowed" in f[2], (host, f)
    assert echo.connections == 0, "the server connected to a denied target"
    assert h.metric_sum(mport, "anytls_targets_denied_total") >= 3
    with h.UdpEchoServer() as u, r.RawSession(server.port) as s:
        req = b"\x00" + h.encode_socks_addr(h.V4, u.port)
        s.handshake(PASSWORD, first=r.frame(r.SYN, 1) + r.frame(r.PSH, 1, h.encode_socks_addr(r.UOT_MAGIC, 0) + req))
        s.wait_for(lambda c, i, d: c == r.SYNACK and i == 1, timeout=3)
        s.send(r.frame(r.PSH, 1, r.uot_addr(h.V4, u.port) + b"\x00\x02hi"))
        assert h.wait_until(lambda: "UDP datagram to" in server.log(), timeout=5), server.log_tail()
    allowed = procs.server(password=PASSWORD, args=["--deny-private-targets", "--allow-target", "127.0.0.1/32"])
    f = _stream_once(allowed.port, h.V4, echo.port, b"ok")
    assert f[0] == r.PSH and f[2] == b"ok", f


def test_hostile_refills_for_unreachable_targets_back_off(procs):
    """A stream to a closed port used to make the pool try ~125 refill connects
    in the next 5 s (every 200 ms, no backoff): a target asked for once is not
    pre-dialed at all; one asked for twice is, but failures back off."""
    mport = h.free_port()
    server = procs.server(password=PASSWORD, args=["--workers", "1", "--min-idle-connections", "5",
                                                   "--metrics-listen", "127.0.0.1:%d" % mport])
    closed = h.free_port()
    _stream_once(server.port, h.V4, closed)
    time.sleep(2)
    assert h.metric_sum(mport, "anytls_pool_spares_dialed_total") == 0, "pre-dialed a target asked for once"
    _stream_once(server.port, h.V4, closed)
    time.sleep(5)
    dialed = h.metric_sum(mport, "anytls_pool_spares_dialed_total")
    procs.note("refill connects to a closed port in 5 s after two streams: %d", dialed)
    assert 1 <= dialed <= 12, "%d refill connects in 5 s to a closed port" % dialed


def test_hostile_spares_capped_pool_wide(procs):
    """--max-spares caps warm spares across all targets."""
    mport = h.free_port()
    server = procs.server(password=PASSWORD, args=["--workers", "1", "--min-idle-connections", "5",
                                                   "--max-spares", "3",
                                                   "--metrics-listen", "127.0.0.1:%d" % mport])
    with h.EchoServer() as e1, h.EchoServer() as e2:
        for e in (e1, e2, e1, e2):
            f = _stream_once(server.port, h.V4, e.port, b"y")
            assert f[0] == r.PSH
        time.sleep(1.5)
        idle = h.metric_sum(mport, "anytls_pool_idle_connections")
        assert 1 <= idle <= 3, "%d spares held with --max-spares 3" % idle
        assert e1.connections + e2.connections <= 4 + 3


class _FloodThenReset(h._TcpServer):
    """A target that sends as much as the server takes for `seconds`, then
    resets the connection (SO_LINGER 0): an RST while bytes still wait."""

    def __init__(self, seconds=2.0):
        super().__init__()
        self.seconds = seconds
        self.sent = 0
        self.reset = threading.Event()

    def handle(self, conn, n):
        chunk = b"\x5a" * 65536
        conn.settimeout(0.2)
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline:
            try:
                self.sent += conn.send(chunk)
            except (socket.timeout, TimeoutError):
                continue
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
        self.reset.set()


def test_hostile_target_reset_while_client_not_reading(procs):
    """A stream whose target resets its connection while the stream waits for
    the session's output to drain (a client that does not read): the server
    kept reporting the reset to a stream that could not read, pushed it on its
    session's blocked list again each time (a list that then looped on
    itself), and hung in an endless loop once the client read again (found by
    fuzz/fuzz_server_session). Now: the worker goes on, the stream ends."""
    server = procs.server(password=PASSWORD, args=["--workers", "1"])
    with _FloodThenReset() as target:
        s = _non_reading_session(server.port)
        s.sendall(r.auth_block(PASSWORD))
        s.sendall(r.frame(r.SETTINGS, 0, r.settings_data()) + r.frame(r.SYN, 1) +
                  r.frame(r.PSH, 1, h.encode_socks_addr(h.V4, target.port)))
        assert target.reset.wait(15), "the target did not finish"
        time.sleep(0.5)   # the reset reaches the server while its output is full
        procs.note("target sent %d KiB before its reset", target.sent >> 10)
        conn = r.FrameConn(s, timeout=10)
        got = 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:   # read it all: the stream ends
            cmd, sid, data = conn.read_frame()
            if cmd == r.PSH:
                got += len(data)
            elif cmd == r.FIN and sid == 1:
                break
        conn.send(r.frame(r.HEART_REQ, 0))
        conn.wait_for(lambda c, sid, d: c == r.HEART_RESP, timeout=5)
        conn.close()
    # the worker still serves
    with r.RawSession(server.port) as s2:
        s2.handshake(PASSWORD, first=r.frame(r.HEART_REQ, 0))
        s2.wait_for(lambda c, sid, d: c == r.HEART_RESP, timeout=5)


def _uot_request(connect, host, port):
    return bytes([connect]) + h.encode_socks_addr(host, port)


def test_hostile_uot_datagrams_not_counted_as_held(procs, udp_echo):
    """UoT datagrams that came in the PSH of the request, and a request split
    over two PSHs, were counted as bytes held for targets (the session's and
    the process's buffer budgets) after they had gone out, until the stream's
    next datagram (found by fuzz/fuzz_server_session)."""
    mport = h.free_port()
    server = procs.server(password=PASSWORD, args=["--workers", "1",
                                                   "--metrics-listen", "127.0.0.1:%d" % mport])
    dg = struct.pack(">H", 5) + b"hello"
    magic = h.encode_socks_addr(r.UOT_MAGIC, 0)
    with r.RawSession(server.port) as s:
        # connect mode: request and a first datagram in the PSH of the magic address
        s.handshake(PASSWORD, first=r.frame(r.SYN, 1) + r.frame(
            r.PSH, 1, magic + _uot_request(1, h.V4, udp_echo.port) + dg))
        assert s.stream_data(1, n=len(dg), timeout=5) == dg
        assert h.metric_sum(mport, "anytls_queued_to_targets_bytes") == 0
        # a request cut in two PSHs: nothing is held while it waits for its end
        req = _uot_request(0, h.V4, udp_echo.port)
        s.send(r.frame(r.SYN, 3) + r.frame(r.PSH, 3, magic + req[:3]))
        time.sleep(0.3)
        assert h.metric_sum(mport, "anytls_queued_to_targets_bytes") == 0
        s.send(r.frame(r.PSH, 3, req[3:] + r.uot_addr(h.V4, udp_echo.port) + dg))
        assert s.stream_data(3, n=7 + len(dg), timeout=5)[7:] == dg
        assert h.metric_sum(mport, "anytls_queued_to_targets_bytes") == 0
