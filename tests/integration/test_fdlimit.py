"""Out of file descriptors (the server under `ulimit -n 256`): a clear log
line, no busy loop, and service again once descriptors free up (the listener
pauses for 200 ms and retries)."""
import socket
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
    ok = False
    tries = 0
    for _ in range(50):   # bounded: the server needs a moment to notice the closed hogs
        tries += 1
        try:
            s = h.socks5_connect(client.port, h.V4, echo.port, timeout=5)
            h.echo_check(s, b"served again", timeout=5)
            s.close()
            ok = True
            break
        except (OSError, AssertionError):
            time.sleep(0.2)
    assert ok, server.log_tail()
    procs.note("served again %d attempt(s) after the connections closed", tries)
