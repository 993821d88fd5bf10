"""bench/loadgen's AnyTLS mode checked against the real server: the figures in
results/ are only as good as the tool that measures them.

- --anytls-sessions N multiplexes every stream over exactly N sessions, and a
  stream that times out ends with its own FIN: the session carries on
- --hold-idle keeps the sessions open after the load, then exits cleanly"""
import json
import socket
import threading

import harness as h
from harness import PASSWORD


def _loadgen(procs, server_port, target_port, args, timeout=60):
    r = procs.run([h.binary("bench/loadgen"), "--anytls", "127.0.0.1:%d" % server_port,
                   "--password", PASSWORD, "--target-range", "127.0.0.1:%d" % target_port,
                   "--json", "--quiet"] + list(args), timeout=timeout)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout), r.stderr


def _sessions_total(mport):
    return int(h.metric_sum(mport, "anytls_sessions_total"))


def _server(procs, args=()):
    mport = h.free_port()
    server = procs.server(password=PASSWORD, args=["--metrics-listen", "127.0.0.1:%d" % mport] + list(args))
    return server, mport


def test_loadgen_multiplexes_streams_over_n_sessions(procs, echo):
    server, mport = _server(procs)
    # the echo target returns the 8-byte request: each stream waits for it
    d, _ = _loadgen(procs, server.port, echo.port,
                    ["--anytls-sessions", "4", "--closed-loop", "40", "--max-streams", "400",
                     "--duration", "30", "--response-size", "8", "--request-size", "8"])
    assert d["streams_ok"] == 400 and d["errors"] == 0, d
    assert d["anytls"]["sessions_opened"] == 4, d["anytls"]
    assert _sessions_total(mport) == 4


def test_loadgen_mux_timeout_sends_fin_and_keeps_session(procs):
    """A target that accepts and never answers: every stream times out; with
    --anytls-sessions the sessions stay up (no reconnects), and the server sees
    the FINs (its streams close)."""
    lsock = socket.socket()
    lsock.bind((h.V4, 0))
    lsock.listen(64)
    held = []
    stop = threading.Event()

    def accept_and_hold():
        lsock.settimeout(0.2)
        while not stop.is_set():
            try:
                c = lsock.accept()[0]
                c.settimeout(5)
                held.append(c)
            except OSError:
                continue

    t = threading.Thread(target=accept_and_hold, daemon=True)
    t.start()
    try:
        server, mport = _server(procs, ["--pool-type", "none"])   # no spares to this target
        d, _ = _loadgen(procs, server.port, lsock.getsockname()[1],
                        ["--anytls-sessions", "2", "--closed-loop", "6", "--max-streams", "12",
                         "--duration", "30", "--timeout", "1", "--drain", "2", "--response-size", "16"])
        assert d["errors_by_kind"]["timeout"] == 12 and d["streams_ok"] == 0, d
        assert d["anytls"]["sessions_opened"] == 2, "a timed-out stream took its session down"
        # the server closed each stream's target connection on the FIN
        assert len(held) == 12
        for c in held:   # the request, then EOF (a target never told would hang here)
            assert h.recv_until_eof(c, timeout=5).startswith(b"16")
    finally:
        stop.set()
        t.join(2)
        for c in held:
            c.close()
        lsock.close()


def test_loadgen_hold_idle_keeps_sessions_open(procs, echo):
    server, _ = _server(procs)
    r = procs.run([h.binary("bench/loadgen"), "--anytls", "127.0.0.1:%d" % server.port,
                   "--password", PASSWORD, "--target-range", "127.0.0.1:%d" % echo.port,
                   "--anytls-sessions", "5", "--closed-loop", "5", "--max-streams", "5",
                   "--response-size", "0", "--request-size", "8", "--duration", "10",
                   "--hold-idle", "1", "--json"], timeout=30)
    assert r.returncode == 0, r.stderr
    assert "holding 5 idle sessions for 1 s" in r.stderr, r.stderr
    assert json.loads(r.stdout)["streams_ok"] == 5
