"""The client's plain-HTTP proxy (absolute-URI requests, not CONNECT) on one
keep-alive connection, as a browser uses it: requests to different origins on
the same proxy connection. Each origin must get only its own requests (and
cookies), and each reply must come back for its own request."""
import re
import socket
import time

import pytest

import harness as h


class Origin(h._TcpServer):
    """A keep-alive HTTP/1.1 origin that records every request it reads:
    (method, path, cookie, body). Answers 200 with a body naming itself and
    the path; /chunked answers with a chunked body; HEAD gets no body."""

    def __init__(self, name, host):
        self.name = name
        self.requests = []
        super().__init__(host=host)

    def _read_head(self, f):
        line = f.readline(65537)
        if not line:
            return None
        headers = {}
        for _ in range(100):
            l = f.readline(65537)
            if l in (b"\r\n", b"\n", b""):
                break
            k, _, v = l.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        return line.decode("latin-1").split(), headers

    def _read_body(self, f, headers):
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            for _ in range(10000):
                size = int(f.readline(100).split(b";")[0], 16)
                if size == 0:
                    while f.readline(1000) not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += f.read(size)
                f.readline(10)
        return f.read(int(headers.get("content-length", "0")))

    def handle(self, conn, n):
        f = conn.makefile("rb")
        for _ in range(1000):
            got = self._read_head(f)
            if got is None:
                return
            (method, path, _ver), headers = got
            body = self._read_body(f, headers)
            self.requests.append((method, path, headers.get("cookie"), body))
            reply = ("origin=%s path=%s body=%s" % (self.name, path, body.decode())).encode()
            if path == "/ws":   # upgrade, then echo raw bytes
                conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
                for _ in range(100000):
                    data = conn.recv(65536)
                    if not data:
                        return
                    conn.sendall(data)
                return
            if path == "/extra":   # a broken origin: bytes past its response
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%sHTTP/1.1 200 OK\r\n"
                             b"Content-Length: 5\r\n\r\nforged" % (len(reply), reply))
                continue
            if path == "/close":   # close-delimited (no length)
                conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + reply)
                return
            if path == "/chunked":
                out = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       + b"%x\r\n%s\r\n" % (5, reply[:5]) + b"%x\r\n%s\r\n" % (len(reply) - 5, reply[5:])
                       + b"0\r\n\r\n")
            else:
                out = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(reply)
                if method != "HEAD":
                    out += reply
            conn.sendall(out)


def read_response(s, method="GET"):
    """Reads one response (Content-Length or chunked); returns (status, body)."""
    status, head = h._read_http_head(s)
    if method == "HEAD":
        return status, b""
    if re.search(r"(?im)^transfer-encoding:\s*chunked", head):
        body = b""
        for _ in range(1000):
            line = b""
            while not line.endswith(b"\r\n"):
                line += h.recv_exact(s, 1)
            size = int(line.split(b";")[0], 16)
            if size == 0:
                assert h.recv_exact(s, 2) == b"\r\n"
                return status, body
            body += h.recv_exact(s, size)
            assert h.recv_exact(s, 2) == b"\r\n"
    cl = re.search(r"(?im)^content-length:\s*(\d+)", head)
    return status, h.recv_exact(s, int(cl.group(1)))


@pytest.fixture
def origins():
    a, b = Origin("A", h.V4), Origin("B", "127.0.0.2")
    yield a, b
    a.close()
    b.close()


def test_keepalive_proxy_connection_across_two_origins(pair, origins):
    _, client = pair
    a, b = origins
    ua = "http://%s:%d" % (a.host, a.port)
    ub = "http://%s:%d" % (b.host, b.port)
    steps = [  # (method, url, cookie, body, chunked, origin)
        ("GET", ua + "/", "a=1", b"", False, a),
        ("GET", ub + "/private", "b=secret", b"", False, b),
        ("GET", ua + "/again", "a=1", b"", False, a),
        ("POST", ub + "/form", "b=secret", b"x=1&y=2", False, b),
        ("GET", ub + "/chunked", "b=secret", b"", False, b),
        ("POST", ua + "/upload", "a=1", b"chunked body bytes", True, a),
        ("HEAD", ub + "/head", "b=secret", b"", False, b),
        ("GET", ua + "/last", "a=1", b"", False, a),
    ]
    s = socket.create_connection((h.V4, client.port), timeout=10)
    try:
        for method, url, cookie, body, chunked, origin in steps:
            host = url.split("/")[2]
            req = "%s %s HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\nProxy-Connection: keep-alive\r\n" % (
                method, url, host, cookie)
            if chunked:
                req = req.encode() + b"Transfer-Encoding: chunked\r\n\r\n"
                req += b"%x\r\n%s\r\n" % (4, body[:4]) + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body) - 4, body[4:])
            else:
                req = req.encode() + (b"Content-Length: %d\r\n\r\n" % len(body) if body else b"\r\n") + body
            s.sendall(req)
            status, got = read_response(s, method)
            assert status == 200, (method, url)
            path = "/" + url.split("/", 3)[3]
            if method != "HEAD":
                assert got == ("origin=%s path=%s body=%s" % (origin.name, path, body.decode())).encode(), \
                    "reply to %s %s came from elsewhere: %r" % (method, url, got)
    finally:
        s.close()
    for origin, other in ((a, b), (b, a)):
        want = [(m, "/" + u.split("/", 3)[3], c, bd) for m, u, c, bd, _, o in steps if o is origin]
        assert origin.requests == want, "origin %s received %r" % (origin.name, origin.requests)
    # keep-alive kept: one connection to each origin would do; a new one per
    # origin switch is fine too, but never a request on the other's connection
    assert a.connections >= 1 and b.connections >= 1


def send_get(s, url, cookie="c=1"):
    host = url.split("/")[2]
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\n\r\n" % (url, host, cookie)).encode())


def test_pipelined_requests_to_two_origins(pair, origins):
    """Requests written back to back, before any reply: each still reaches its
    own origin and the replies come back in order."""
    _, client = pair
    a, b = origins
    urls = ["http://%s:%d/p%d" % ((a if i % 2 == 0 else b).host, (a if i % 2 == 0 else b).port, i)
            for i in range(6)]
    s = socket.create_connection((h.V4, client.port), timeout=10)
    try:
        s.sendall(b"".join(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % u).encode() for u in urls))
        for i, u in enumerate(urls):
            status, got = read_response(s)
            name = "A" if i % 2 == 0 else "B"
            assert got == ("origin=%s path=/p%d body=" % (name, i)).encode(), (u, got)
    finally:
        s.close()
    assert [r[1] for r in a.requests] == ["/p0", "/p2", "/p4"]
    assert [r[1] for r in b.requests] == ["/p1", "/p3", "/p5"]


def test_origin_bytes_past_its_response_are_not_the_next_reply(pair, origins):
    """An origin that sends more than its response: the extra bytes never reach
    the app as the reply to its next request (which gets its own answer)."""
    _, client = pair
    a, _ = origins
    s = socket.create_connection((h.V4, client.port), timeout=10)
    try:
        send_get(s, "http://%s:%d/extra" % (a.host, a.port))
        assert read_response(s) == (200, b"origin=A path=/extra body=")
        send_get(s, "http://%s:%d/next" % (a.host, a.port))
        assert read_response(s) == (200, b"origin=A path=/next body=")
    finally:
        s.close()


def test_connect_after_plain_requests_becomes_a_tunnel(pair, origins, echo):
    _, client = pair
    a, _ = origins
    s = socket.create_connection((h.V4, client.port), timeout=10)
    try:
        send_get(s, "http://%s:%d/first" % (a.host, a.port))
        assert read_response(s) == (200, b"origin=A path=/first body=")
        s.sendall(("CONNECT %s:%d HTTP/1.1\r\nHost: x\r\n\r\n" % (h.V4, echo.port)).encode())
        status, _ = h._read_http_head(s)
        assert status == 200
        h.echo_check(s, h.payload(5000, tag=7))
    finally:
        s.close()


def test_unframeable_request_closes_after_its_response(pair, origins):
    """A body of unknown length (Transfer-Encoding other than chunked): the
    connection carries nothing after that exchange (the request that follows
    would otherwise be taken as the body's end, or sent to the wrong origin)."""
    _, client = pair
    a, b = origins
    s = socket.create_connection((h.V4, client.port), timeout=10)
    try:
        send_get(s, "http://%s:%d/close" % (a.host, a.port))
        status, head = h._read_http_head(s)
        assert status == 200
        closed, rest = h.wait_closed(s, 5)
        assert closed and rest == b"origin=A path=/close body="
    finally:
        s.close()
    s = socket.create_connection((h.V4, client.port), timeout=10)
    try:
        s.sendall(("POST http://%s:%d/up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n"
                   "Content-Length: 4\r\n\r\nbody" % (b.host, b.port)).encode())
        time.sleep(0.3)
        send_get(s, "http://%s:%d/after" % (a.host, a.port))
        closed, _ = h.wait_closed(s, 5)
        assert closed, "connection left open after a request of unknown length"
    finally:
        s.close()
    # what follows such a body can only be taken as more of it (B's), never as
    # a request for another origin
    assert not any("/after" in r[1] for r in a.requests), "a request after it reached origin A"


def test_large_bodies_then_another_origin(pair, origins):
    """A 3 MB request body and its 3 MB echo stream through (back-pressure both
    ways); the request after it, to the other origin, is framed right."""
    _, client = pair
    a, b = origins
    body = b"x" * (3 << 20)
    s = socket.create_connection((h.V4, client.port), timeout=30)
    try:
        s.sendall(("POST http://%s:%d/big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                   % (a.host, a.port, len(body))).encode() + body)
        status, got = read_response(s)
        assert status == 200 and got == b"origin=A path=/big body=" + body
        send_get(s, "http://%s:%d/small" % (b.host, b.port))
        assert read_response(s) == (200, b"origin=B path=/small body=")
    finally:
        s.close()
    assert [r[1] for r in b.requests] == ["/small"]


def test_upgrade_turns_the_connection_into_a_tunnel(pair, origins):
    """A 101 answer: what follows, both ways, is no longer HTTP and passes as is
    (bytes sent right behind the request head included)."""
    _, client = pair
    a, _ = origins
    s = socket.create_connection((h.V4, client.port), timeout=10)
    try:
        s.sendall(("GET http://%s:%d/ws HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n"
                   % (a.host, a.port)).encode() + b"early bytes, not a request")
        status, _ = h._read_http_head(s)
        assert status == 101
        assert h.recv_exact(s, 26) == b"early bytes, not a request"
        h.echo_check(s, h.payload(100000, tag=9))
    finally:
        s.close()
