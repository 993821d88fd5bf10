"""Many fresh sessions at once: every one must authenticate and carry its stream.

Regression: the client used to start a session's TLS handshake right after
connect(). On a busy machine the server could answer before OpenSSL's first
read, the handshake then finished inside that first call, and the client took
it for "in progress": the session never sent its auth block and the stream hung
until the server's 10 s auth timeout. Holding N streams open forces N new
sessions back to back, which hit it within ~100 sessions on 2 cores."""
import resource

import harness as h
from harness import PASSWORD

N = 300


def test_many_fresh_sessions_all_carry_data(procs, echo):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    server = procs.server(password=PASSWORD, args=["--max-outbound-connections", "10000"])
    client = procs.client(server.port, password=PASSWORD)
    socks = []
    try:
        for i in range(N):
            s = h.socks5_connect(client.port, h.V4, echo.port, timeout=5)
            socks.append(s)
            # 5 s bounds each stream: a stalled session shows up as a timeout here.
            h.echo_check(s, b"session %d" % i, timeout=5)
        assert h.established_count(server.port) == N, \
            "expected one session per held stream (%d), server has %d" % (N, h.established_count(server.port))
    finally:
        for s in socks:
            s.close()
    assert server.alive() and client.alive()
