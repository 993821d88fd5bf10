"""Session behaviour: reuse, wrong password, dial failure.

How sessions are counted: one AnyTLS session is one TCP connection from the
client to the server port, so h.established_count(server.port) reads
/proc/net/tcp{,6} and counts ESTABLISHED sockets whose LOCAL port is the
server's port (the server's accepted ends; the client's ends have it as the
remote port and are not counted). No log text is relied on; this works at any
log level and with any implementation that keeps one TCP connection per
session, which is what the protocol is."""
import socket
import time

import harness as h
from harness import PASSWORD


def _close_stream(s):
    """Ends a SOCKS stream the polite way: half-close, then wait until the proxy
    closes (the echo target closes on EOF, the FIN travels back), then close."""
    s.shutdown(socket.SHUT_WR)
    closed, _ = h.wait_closed(s, 10)
    s.close()
    assert closed, "proxy did not close the SOCKS connection within 10 s after the stream ended"


def test_session_reuse(procs, echo):
    server = procs.server(password=PASSWORD, log_level="debug")
    client = procs.client(server.port, password=PASSWORD, log_level="debug")
    assert h.established_count(server.port) == 0

    s = h.socks5_connect(client.port, h.V4, echo.port)
    h.echo_check(s, b"first stream")
    assert h.wait_until(lambda: h.established_count(server.port) == 1, 5), \
        "expected 1 TLS connection at the server, have %d" % h.established_count(server.port)
    _close_stream(s)
    time.sleep(0.3)  # the stream's end returns the session to the idle pool

    for i in range(4):
        s = h.socks5_connect(client.port, h.V4, echo.port)
        h.echo_check(s, h.payload(3000, tag=i))
        n = h.established_count(server.port)
        assert n == 1, ("stream %d after the first did not reuse the idle session: the server has "
                        "%d TLS connections (expected 1)" % (i + 2, n))
        _close_stream(s)
        time.sleep(0.3)
    # (the target may see more than 5 connections: the server's outbound pool
    # pre-dials warm spares)
    assert echo.connections >= 5
    assert server.alive() and client.alive()


def test_wrong_password(procs, echo):
    server = procs.server(password=PASSWORD)
    bad = procs.client(server.port, password="not-the-password")

    failed_how = None
    try:
        s = h.socks5_connect(bad.port, h.V4, echo.port)
    except (ConnectionError, OSError) as e:
        failed_how = "SOCKS5 failed: %r" % e
    else:
        try:
            s.sendall(b"hello?")
            closed, got = h.wait_closed(s, 10)
        except OSError as e:
            closed, got = True, b""
            failed_how = "send failed: %r" % e
        finally:
            s.close()
        assert closed, "stream with a wrong password was neither refused nor closed within 10 s"
        assert got == b"", "data came back through a session with a wrong password: %r" % got
        failed_how = failed_how or "stream closed"
    assert failed_how
    time.sleep(0.2)
    assert echo.connections == 0, "server dialed the target for an unauthenticated client"
    assert server.alive(), "server died after a wrong password:\n" + server.log_tail()

    good = procs.client(server.port, password=PASSWORD)
    h.check_tcp_echo_socks5(good.port, h.V4, echo.port, sizes=(10, 20000))
    assert server.alive() and bad.alive()


def test_dial_failure_keeps_session(procs, echo):
    server = procs.server(password=PASSWORD)
    client = procs.client(server.port, password=PASSWORD)

    # establish the session with a good stream
    s = h.socks5_connect(client.port, h.V4, echo.port)
    h.echo_check(s, b"warm up")
    _close_stream(s)
    time.sleep(0.3)
    assert h.established_count(server.port) == 1

    closed_port = h.free_port()  # nothing listens there
    t0 = time.monotonic()
    try:
        s = h.socks5_connect(client.port, h.V4, closed_port)
    except h.Socks5Error as e:
        assert e.rep != 0
    except ConnectionError:
        pass  # closed without a reply: acceptable
    else:
        try:
            try:
                s.sendall(b"anyone there?")
            except OSError:
                pass
            closed, got = h.wait_closed(s, 8)
        finally:
            s.close()
        assert closed, "stream to a closed port was not closed within 8 s"
        assert got == b""
    elapsed = time.monotonic() - t0
    assert elapsed < 8, "dial failure took %.1f s to reach the SOCKS client" % elapsed
    time.sleep(0.3)

    assert server.alive() and client.alive()
    # the same session serves the next stream
    s = h.socks5_connect(client.port, h.V4, echo.port)
    h.echo_check(s, h.payload(5000, tag=9))
    n = h.established_count(server.port)
    s.close()
    assert n == 1, ("after a failed dial the next stream used a new TLS connection "
                    "(server has %d, expected 1): the failed stream ended the session" % n)


def test_auth_timeout_closes_silent_connection(procs):
    """A TCP connection that never starts TLS/auth is closed by the server
    after --auth-timeout-secs, and the server keeps serving."""
    server = procs.server(password=PASSWORD, args=["--auth-timeout-secs", "1"])
    s = socket.create_connection((h.V4, server.port), timeout=5)
    try:
        t0 = time.monotonic()
        closed, got = h.wait_closed(s, 6)
        elapsed = time.monotonic() - t0
    finally:
        s.close()
    assert closed, "silent connection still open 6 s after connect with --auth-timeout-secs 1"
    assert elapsed > 0.5, "closed after %.2f s, before the auth timeout" % elapsed
    assert server.alive()


def test_sessions_with_tickets_resume_and_relay(procs, echo):
    """With --tls-tickets the client resumes TLS with the newest ticket: many
    sessions at once (both workers) share that session's certificate object.
    The client drops the server's decoded public key after a full handshake
    only (tls_client_done); resumed sessions, which share the certificate,
    leave it alone. Every stream relays, in three waves (ASan build: no
    double free or use after free)."""
    server = procs.server(password=PASSWORD, args=["--tls-tickets", "2", "--workers", "2"])
    client = procs.client(server.port, password=PASSWORD, args=["--workers", "2"])
    for wave in range(3):
        socks = [h.socks5_connect(client.port, h.V4, echo.port) for _ in range(12)]
        for i, s in enumerate(socks):
            h.echo_check(s, h.payload(2000, tag=wave * 100 + i))
        for s in socks:
            _close_stream(s)
    assert server.alive() and client.alive()
