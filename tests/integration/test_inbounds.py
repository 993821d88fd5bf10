"""The other inbound protocols on the client's -l port: SOCKS4, SOCKS4a, HTTP
CONNECT, HTTP absolute-URI GET."""
import socket

import harness as h


def test_socks4_ipv4(pair, echo):
    _, client = pair
    s = h.socks4_connect(client.port, h.V4, echo.port)
    try:
        h.echo_check(s, h.payload(10000, tag=4))
    finally:
        s.close()


def test_socks4a_domain(pair):
    _, client = pair
    with h.DualEcho() as d:
        s = h.socks4_connect(client.port, "localhost", d.port)
        try:
            h.echo_check(s, h.payload(10000, tag=41))
        finally:
            s.close()


def test_http_connect(pair, echo):
    _, client = pair
    s = h.http_connect(client.port, h.V4, echo.port)
    try:
        h.echo_check(s, h.payload(50000, tag=80))
    finally:
        s.close()


def test_http_connect_ipv6(pair):
    _, client = pair
    with h.EchoServer(host=h.V6) as e6:
        s = h.http_connect(client.port, h.V6, e6.port)
        try:
            h.echo_check(s, h.payload(1000, tag=86))
        finally:
            s.close()


def test_http_absolute_uri_get(pair):
    _, client = pair
    with h.HttpTarget() as t:
        url = "http://%s:%d/some/path?x=1" % (h.V4, t.port)
        status, head, body = h.http_proxy_get(client.port, url)
        assert status == 200, head
        assert b"/some/path?x=1" in body, body
        assert len(t.requests) == 1
        # a second request through the same proxy works too
        status, head, body = h.http_proxy_get(client.port, "http://%s:%d/second" % (h.V4, t.port))
        assert status == 200 and b"/second" in body


def test_bad_handshakes_get_their_protocols_refusal(pair):
    """Each inbound protocol refuses what it cannot do with its own reply, then
    closes; a first byte no protocol claims is closed without a reply."""
    _, client = pair

    def exchange_raw(data):
        s = socket.create_connection((h.V4, client.port), timeout=5)
        try:
            s.sendall(data)
            closed, got = h.wait_closed(s, 5)
            assert closed, "connection left open after %r" % data[:16]
            return got
        finally:
            s.close()

    assert exchange_raw(b"\x05\x01\x02") == b"\x05\xff"              # no no-auth method
    got = exchange_raw(b"\x05\x01\x00" + b"\x05\x02\x00" + h.encode_socks_addr(h.V4, 80))
    assert got[:2] == b"\x05\x00" and got[2:4] == b"\x05\x07"         # BIND: not supported
    assert exchange_raw(b"\x04\x02\x00\x50\x7f\x00\x00\x01x\x00") == b"\x00\x5b" + b"\x00" * 6  # SOCKS4 BIND
    assert exchange_raw(b"GET /relative HTTP/1.1\r\nHost: x\r\n\r\n").startswith(
        b"HTTP/1.1 400 Bad Request\r\n")                                # not a proxy request
    assert exchange_raw(b"\x16\x03\x01\x00\x05hello") == b""          # TLS to the proxy port
