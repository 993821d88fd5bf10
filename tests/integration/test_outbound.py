"""The server's outbound path (core/outbound.c): acquire -> hit / full-wait /
miss -> resolve -> dial.

- full-wait to a domain target: with one connection allowed per target, a
  second stream to `localhost:PORT` waits for the first to finish and is then
  dialed like any other miss: resolved first. (The retry after a full pool used
  to dial the unresolved name and fail with "Address family not supported".)
"""
import threading
import time

import pytest

import harness as h
from harness import PASSWORD

# "none" holds no per-target state and enforces no cap: nothing waits there.
CAPPED_POOL_TYPES = [t for t in h.pool_types() if t != "none"]


def _echo_once(sock, payload):
    sock.sendall(payload)
    got = h.recv_exact(sock, len(payload), "echo")
    assert got == payload


@pytest.mark.parametrize("pool_type", CAPPED_POOL_TYPES)
def test_pool_full_wait_then_dial_domain_target(procs, pool_type):
    server = procs.server(password=PASSWORD, args=[
        "--pool-type", pool_type, "--max-outbound-connections", "1",
        "--min-idle-connections", "0", "--workers", "1"])
    client = procs.client(server.port, password=PASSWORD)
    with h.EchoServer() as echo:
        first = h.socks5_connect(client.port, "localhost", echo.port)
        _echo_once(first, b"first stream")
        result = {}

        def second():
            try:
                s = h.socks5_connect(client.port, "localhost", echo.port)
                try:
                    _echo_once(s, b"second stream, after waiting for a slot")
                    result["ok"] = True
                finally:
                    s.close()
            except Exception as e:  # noqa: BLE001 -- reported below
                result["error"] = repr(e)

        t = threading.Thread(target=second, daemon=True)
        t.start()
        time.sleep(0.5)  # the second stream is now waiting for the slot (the cap is 1)
        assert "ok" not in result, "the second stream got a connection while the cap was taken"
        first.close()    # the slot frees well inside the 2 s the server waits for one
        t.join(15)
        assert result.get("ok"), ("second stream to localhost failed after waiting for a slot: %s\n%s"
                                  % (result.get("error", "timed out"), server.log_tail()))
        assert "Address family not supported" not in server.log()
