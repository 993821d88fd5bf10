"""Misbehaving peers: both binaries survive them and keep serving."""
import hashlib
import socket
import ssl
import struct
import time

import anytls_raw as r
import harness as h
from harness import PASSWORD


def _tls(port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx.wrap_socket(socket.create_connection((h.V4, port), timeout=5))


def test_server_survives_junk(procs, echo):
    server = procs.server(password=PASSWORD, args=["--auth-timeout-secs", "2"])
    # 1. plain text instead of TLS
    s = socket.create_connection((h.V4, server.port), timeout=5)
    s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
    closed, _ = h.wait_closed(s, 5)
    s.close()
    assert closed, "server kept a non-TLS connection open"
    # 2. TLS, then a truncated auth block, then close
    t = _tls(server.port)
    t.sendall(b"\x01" * 10)
    t.close()
    # 3. TLS, a full auth block whose padding length runs past the record, then silence
    t = _tls(server.port)
    t.sendall(hashlib.sha256(PASSWORD.encode()).digest() + struct.pack(">H", 60000))
    closed = r.FrameConn(t).wait_closed(6)
    t.close()
    assert closed, "server kept a connection with an impossible auth block open past the auth timeout"
    # 4. authenticated, then a frame header announcing more data than ever comes, then EOF
    with r.RawSession(server.port) as rs:
        rs.handshake(PASSWORD)
        rs.send(struct.pack(">BIH", r.PSH, 1, 65535) + b"short")
    # 5. a burst of idle TCP connections
    idle = [socket.create_connection((h.V4, server.port), timeout=5) for _ in range(30)]
    for c in idle:
        c.close()
    time.sleep(0.3)
    assert server.alive()
    client = procs.client(server.port, password=PASSWORD)
    h.check_tcp_echo_socks5(client.port, h.V4, echo.port, sizes=(10, 10000))


def test_client_survives_junk(pair, echo):
    _, client = pair
    for junk in (b"\x00\x01\x02", b"\xff" * 100, b"\x16\x03\x01\x00\x05hello", b"\x05",
                 b"\x05\x01\x00\x05\x09\x00\x03", b"\x04\x01\x00\x50", b"CONNECT\r\n\r\n",
                 b"GET http:// HTTP/1.1\r\n\r\n"):
        s = socket.create_connection((h.V4, client.port), timeout=5)
        try:
            s.sendall(junk)
            s.shutdown(socket.SHUT_WR)
            closed, _ = h.wait_closed(s, 5)
        except OSError:
            closed = True
        finally:
            s.close()
        assert closed, "client kept a connection open after %r and EOF" % junk
    assert client.alive()
    h.check_tcp_echo_socks5(client.port, h.V4, echo.port, sizes=(10, 10000))


def test_socks5_unsupported_command_and_method(pair, echo):
    _, client = pair
    # BIND (cmd 2): not supported -> non-zero reply (07) or close
    s = socket.create_connection((h.V4, client.port), timeout=5)
    try:
        s.sendall(b"\x05\x01\x00")
        assert h.recv_exact(s, 2) == b"\x05\x00"
        s.sendall(b"\x05\x02\x00" + h.encode_socks_addr(h.V4, echo.port))
        closed, got = h.wait_closed(s, 5)
        assert got[:2] != b"\x05\x00", "BIND answered with success: %r" % got
        assert closed or got[1:2] not in (b"", b"\x00")
    finally:
        s.close()
    # only username/password auth offered -> 0xFF (no acceptable method) or close
    s = socket.create_connection((h.V4, client.port), timeout=5)
    try:
        s.sendall(b"\x05\x01\x02")
        closed, got = h.wait_closed(s, 5)
        assert got in (b"", b"\x05\xff"), "method negotiation answer %r" % got
    finally:
        s.close()
    assert client.alive()
    h.check_tcp_echo_socks5(client.port, h.V4, echo.port, sizes=(10,))
