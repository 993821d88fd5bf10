"""Out of file descriptors (the server under `ulimit -n 256`): a clear log
line, no busy loop, and service again once descriptors free up (the listener
pauses for 200 ms and retries)."""
import os
import socket
import threading
import time

import harness as h
from harness import PASSWORD


def _cpu_seconds(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / 100.0   # utime + stime, clock ticks


def test_fd_exhaustion_recovers(procs, echo):
    port = h.free_port()
    server = procs.start(["prlimit", "--nofile=256:256", "--", h.binary("anytls-server"),
                          "-l", "127.0.0.1:%d" % port, "-p", PASSWORD, "--workers", "1",
                          "--auth-timeout-secs", "30"], "server", port=port)
    hogs = []
    try:
        for _ in range(300):   # raw TCP connections that never authenticate: each holds a server fd
            hogs.append(socket.create_connection((h.V4, port), timeout=5))
        assert h.wait_until(lambda: "out of file descriptors" in server.log(), 10), server.log_tail()
        cpu0 = _cpu_seconds(server.pid)
        time.sleep(2.0)
        busy = _cpu_seconds(server.pid) - cpu0
        assert busy < 1.0, "server burned %.2f s of CPU in 2 s while out of fds (spinning?)" % busy
        procs.note("%d connections held against a limit of 256 fds; CPU while out of fds %.2f s in 2 s",
                   len(hogs), busy)
    finally:
        for s in hogs:
            s.close()
    client = procs.client(port, password=PASSWORD)
    # the server needs a moment to notice the closed hogs
    tries = h.serves_eventually(client.port, h.V4, echo.port, b"served again")
    assert tries, server.log_tail()
    procs.note("served again %d attempt(s) after the connections closed", tries)


def _nfd(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def test_client_out_of_fds_waits_for_a_session(procs, echo):
    """The client has accepted a SOCKS connection but has no fd left for its
    session to the server: the connection waits (one log line) and is served
    once another stream ends, instead of failing."""
    server = procs.server(password=PASSWORD)
    client = procs.start(["prlimit", "--nofile=48:48", "--", h.binary("anytls-client"), "-l",
                          "127.0.0.1:%d" % (cport := h.free_port()), "-s", "127.0.0.1:%d" % server.port,
                          "-p", PASSWORD, "--workers", "1"], "client", port=cport)
    held, hogs = [], []
    try:
        # streams (2 fds each: local + session) and then bare connections that
        # sit in the SOCKS handshake (1 fd) until exactly one fd is left
        while _nfd(client.pid) < 48 - 2:
            s = h.socks5_connect(cport, h.V4, echo.port)
            h.echo_check(s, b"held %d" % len(held))
            held.append(s)
        while _nfd(client.pid) < 48 - 1:
            n = _nfd(client.pid)
            hogs.append(socket.create_connection((h.V4, cport), timeout=5))
            assert h.wait_until(lambda: _nfd(client.pid) > n, 5), "hog connection not accepted"
        # this one takes the last fd: no fd is left for its session
        result = {}

        def late():
            try:
                s = h.socks5_connect(cport, h.V4, echo.port, timeout=10)
                h.echo_check(s, b"late but served", timeout=10)
                s.close()
                result["ok"] = True
            except (OSError, AssertionError, h.Socks5Error) as e:
                result["error"] = repr(e)

        t = threading.Thread(target=late, daemon=True)
        t.start()
        assert h.wait_until(lambda: "out of file descriptors for a new session" in client.log(), 5), \
            client.log_tail()
        time.sleep(0.3)
        assert t.is_alive() and not result, "the waiting connection ended early: %r" % result
        held.pop().close()   # a stream ends: its session goes idle, the waiting one takes it
        t.join(10)
        assert result.get("ok"), "waiting connection not served: %r\n%s" % (result, client.log_tail())
        assert client.log().count("out of file descriptors for a new session") <= 2
        procs.note("%d streams and %d bare connections held against a limit of 48 fds; the next "
                   "connection waited for a session and was served when a stream ended", len(held) + 1,
                   len(hogs))
    finally:
        for s in held + hogs:
            s.close()
