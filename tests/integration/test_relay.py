"""TCP relay end to end: SOCKS5 -> anytls-client -> anytls-server -> echo target."""
import socket
import threading
import time

import harness as h


def test_one_stream_echo(pair, echo):
    _, client = pair
    h.check_tcp_echo_socks5(client.port, h.V4, echo.port)
    assert echo.connections >= 1


def test_200_concurrent_streams(pair, echo):
    """200 SOCKS5 streams open at the same time (a barrier holds them until all
    are connected), each echoing its own distinct data."""
    _, client = pair
    n = 200
    barrier = threading.Barrier(n, timeout=60)
    errors = []
    done = []

    def one(i):
        s = None
        try:
            s = h.socks5_connect(client.port, h.V4, echo.port, timeout=30)
            barrier.wait()
            data = h.payload(2000 + 37 * i, tag=1000 + i)
            got = h.exchange(s, data, timeout=60)
            if got != data:
                errors.append((i, "mismatch: sent %d got %d bytes" % (len(data), len(got))))
            else:
                done.append(i)
        except Exception as e:  # collected and reported below
            errors.append((i, repr(e)))
            barrier.abort()
        finally:
            if s:
                s.close()

    ts = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in ts:
        t.start()
    deadline = time.monotonic() + 90
    for t in ts:
        t.join(max(0.1, deadline - time.monotonic()))
    assert not [t for t in ts if t.is_alive()], "streams still running after 90 s"
    assert not errors, "%d of %d streams failed, first: %r" % (len(errors), n, errors[:5])
    assert len(done) == n


def test_16mib_sha256(pair, echo):
    """16 MiB up to the target and the same 16 MiB back (echo), concurrently;
    sha256 of what was sent equals sha256 of what came back."""
    _, client = pair
    s = h.socks5_connect(client.port, h.V4, echo.port)
    try:
        sent, got, n = h.stream_sha256(s, 16 << 20, seed=16, timeout=90)
    finally:
        s.close()
    assert n == 16 << 20
    assert sent == got, "sha256 differs: sent %s, received %s" % (sent, got)


def test_ipv6_target(pair):
    """SOCKS5 ATYP 4 (IPv6 literal ::1) -> server dials [::1]."""
    _, client = pair
    with h.EchoServer(host=h.V6) as e6:
        h.check_tcp_echo_socks5(client.port, h.V6, e6.port, sizes=(1, 5000, 100000))
        assert e6.connections >= 1


def test_domain_target(pair):
    """SOCKS5 ATYP 3 (domain "localhost"): the server resolves it; echo listens
    on both 127.0.0.1 and ::1 with the same port."""
    _, client = pair
    with h.DualEcho() as d:
        h.check_tcp_echo_socks5(client.port, "localhost", d.port, sizes=(1, 5000))
        assert d.connections >= 1


def test_custom_padding_scheme(procs, echo, tmp_path):
    """Server with --padding-scheme FILE: the client takes the update (cmd 6) on
    its first session; sessions opened afterwards use the new scheme and still
    relay (two streams at once force a second session)."""
    scheme = tmp_path / "scheme.txt"
    scheme.write_text("stop=3\n0=40-40\n1=200-300\n2=300-400,c,100-200")
    server = procs.server(password=h.PASSWORD, args=["--padding-scheme", scheme])
    client = procs.client(server.port, password=h.PASSWORD)
    h.check_tcp_echo_socks5(client.port, h.V4, echo.port, sizes=(10, 3000))
    time.sleep(0.3)
    a = h.socks5_connect(client.port, h.V4, echo.port)
    b = h.socks5_connect(client.port, h.V4, echo.port)
    try:
        h.echo_check(a, h.payload(4000, 1))
        h.echo_check(b, h.payload(4000, 2))
    finally:
        a.close()
        b.close()
    assert h.established_count(server.port) == 2


RSS_GROWTH_LIMIT_KIB = 128 * 1024  # per process; unbounded buffering shows as far more


def _push_for(sock, seconds, chunk=65536):
    """Sends as much as the path takes for `seconds` (non-blocking); returns bytes."""
    sock.setblocking(False)
    block = h.payload(chunk, tag=5)
    sent = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not h.select.select([], [sock], [], 0.05)[1]:
            continue
        try:
            sent += sock.send(block)
        except (BlockingIOError, InterruptedError):
            pass
    sock.setblocking(True)
    return sent


def test_backpressure_target_not_reading(procs, pair, echo):
    """A target that never reads: the upload must stall (bounded buffering in
    client and server) instead of the proxies swallowing it into memory; other
    streams keep working meanwhile."""
    server, client = pair
    h.check_tcp_echo_socks5(client.port, h.V4, echo.port, sizes=(100,))
    rss0 = {p.pid: h.rss_kib(p.pid) for p in (server, client)}
    with h.BlackHole() as hole:
        s = h.socks5_connect(client.port, h.V4, hole.port)
        try:
            sent = _push_for(s, 4.0)
            # another stream is not blocked by the stalled one
            h.check_tcp_echo_socks5(client.port, h.V4, echo.port, sizes=(1000, 50000), tag=6)
            grown = {pid: h.rss_kib(pid) - rss0[pid] for pid in rss0}
        finally:
            s.close()
    procs.note("pushed %d KiB in 4 s at a target that reads nothing; RSS growth server %d KiB, "
               "client %d KiB (limit %d); another stream relayed meanwhile",
               sent >> 10, grown[server.pid], grown[client.pid], RSS_GROWTH_LIMIT_KIB)
    assert sent < 512 << 20, "%d MiB went into a target that reads nothing" % (sent >> 20)
    for p in (server, client):
        assert grown[p.pid] < RSS_GROWTH_LIMIT_KIB, (
            "%s grew by %d MiB while %d MiB were pushed at a target that never reads"
            % (p.describe(), grown[p.pid] >> 10, sent >> 20))


def test_backpressure_socks_client_not_reading(procs, pair, echo):
    """A target that floods while the SOCKS side reads nothing: bounded memory
    in both proxies, and other streams keep working."""
    server, client = pair
    h.check_tcp_echo_socks5(client.port, h.V4, echo.port, sizes=(100,))
    rss0 = {p.pid: h.rss_kib(p.pid) for p in (server, client)}
    with h.Firehose() as fire:
        s = h.socks5_connect(client.port, h.V4, fire.port)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            s.sendall(b"go")
            time.sleep(4.0)
            h.check_tcp_echo_socks5(client.port, h.V4, echo.port, sizes=(1000, 50000), tag=7)
            grown = {pid: h.rss_kib(pid) - rss0[pid] for pid in rss0}
            # the stalled stream still delivers correct data once read
            first = h.recv_exact(s, 3 * 65536)
            assert first == h.Firehose.BLOCK * 3, "flooded stream delivered wrong bytes"
        finally:
            s.close()
    procs.note("a target flooded for 4 s a stream nobody read; RSS growth server %d KiB, client "
               "%d KiB (limit %d); another stream relayed meanwhile; the flooded stream's first "
               "192 KiB correct when read", grown[server.pid], grown[client.pid], RSS_GROWTH_LIMIT_KIB)
    for p in (server, client):
        assert grown[p.pid] < RSS_GROWTH_LIMIT_KIB, (
            "%s grew by %d MiB while a target flooded a stream nobody reads"
            % (p.describe(), grown[p.pid] >> 10))


def test_ipv6_listeners(procs, echo):
    """Server on [::1], client listening on [::1] and dialing the server there."""
    sp = h.free_port(both_families=True)
    cp = h.free_port(both_families=True)
    procs.start([h.binary("anytls-server"), "-l", "[::1]:%d" % sp, "-p", h.PASSWORD], "server",
                port=sp)
    procs.start([h.binary("anytls-client"), "-l", "[::1]:%d" % cp, "-s", "[::1]:%d" % sp,
                 "-p", h.PASSWORD], "client", port=cp)
    s = h.socks5_connect(cp, h.V4, echo.port, proxy_host=h.V6)
    try:
        h.echo_check(s, h.payload(20000, tag=66))
    finally:
        s.close()
