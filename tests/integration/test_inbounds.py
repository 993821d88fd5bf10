"""The other inbound protocols on the client's -l port: SOCKS4, SOCKS4a, HTTP
CONNECT, HTTP absolute-URI GET."""
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
