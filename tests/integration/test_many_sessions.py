"""Many fresh sessions at once: every one must authenticate and carry its stream.

Regression: the client used to start a session's TLS handshake right after
connect(). On a busy machine the server could answer before OpenSSL's first
read, the handshake then finished inside that first call, and the client took
it for "in progress": the session never sent its auth block and the stream hung
until the server's 10 s auth timeout. Holding N streams open forces N new
sessions back to back, which hit it within ~100 sessions on 2 cores."""
import resource
import time

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


HELD = 1000
HELD_KB_MAX = 18.0   # the project's rule, per side


def test_memory_per_held_connection(procs, echo):
    """RSS per held stream, each on its own session (the client opens one per
    concurrent stream): (RSS with HELD streams open - RSS after a 10-stream
    warm-up) / HELD, for client and server, must stay <= 18 KB (the rule in
    issue 14). Measured 16.5-16.7 KB client / 15.8-16.1 KB server (jemalloc
    build); the client before it dropped the server's decoded public key after
    the handshake: 18.37 KB, which fails. ~7 s. Plain build only: a sanitizer's
    allocator says nothing about ours."""
    if h.sanitized():
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    server = procs.server(password=PASSWORD, args=["--max-outbound-connections", "100000"])
    client = procs.client(server.port, password=PASSWORD)
    for i in range(10):   # one-time set-up (TLS context, thread caches) is not per stream
        s = h.socks5_connect(client.port, h.V4, echo.port, timeout=5)
        h.echo_check(s, b"warm %d" % i, timeout=5)
        s.close()
    time.sleep(1.0)
    base_c, base_s = h.rss_kib(client.pid), h.rss_kib(server.pid)
    socks = []
    try:
        for i in range(HELD):
            s = h.socks5_connect(client.port, h.V4, echo.port, timeout=5)
            socks.append(s)
            h.echo_check(s, b"held %d" % i, timeout=5)
        time.sleep(1.0)
        kb_c = (h.rss_kib(client.pid) - base_c) / HELD
        kb_s = (h.rss_kib(server.pid) - base_s) / HELD
    finally:
        for s in socks:
            s.close()
    assert kb_c <= HELD_KB_MAX and kb_s <= HELD_KB_MAX, \
        "RSS per held connection: client %.2f KB, server %.2f KB (rule: <= %.0f KB per side)" % (
            kb_c, kb_s, HELD_KB_MAX)
    assert server.alive() and client.alive()
