"""Fault injection on loopback, each scenario bounded in time: the failing
stream ends promptly and cleanly, and the session and the server keep serving.

- a target that resets the connection in the middle of a stream
- a destination name that does not resolve
- a target that never completes the TCP handshake (its accept queue is full):
  the stream is acknowledged before the client's 3 s watchdog, fails at the
  dial timeout, and the session survives
- a target blackholed in the delay line (bench/delayline between a TUN pair
  into a network namespace, experiments/netns.sh): the delay line drops every
  packet to it, so the connect hangs until the dial timeout; the session and
  the route to the other targets behind the same delay line keep working
- a target that closes idle connections: the pool's spares to it die while
  pooled; none is handed to a stream (each is checked first), and the pool
  counts them as stale
- the server killed and restarted under load: no SOCKS connection hangs past
  its timeout, and the client opens new sessions to the new server"""
import os
import re
import socket
import struct
import subprocess
import threading
import time

import harness as h
from harness import PASSWORD


def _still_serves(client_port, echo):
    s = h.socks5_connect(client_port, h.V4, echo.port, timeout=5)
    h.echo_check(s, b"still serving", timeout=5)
    s.close()


def test_target_reset_mid_stream(procs, echo):
    lsock = socket.socket()
    lsock.bind((h.V4, 0))
    lsock.listen(4)
    port = lsock.getsockname()[1]

    def reset_after_first_bytes():
        c, _ = lsock.accept()
        c.recv(100)
        c.sendall(b"partial")
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()   # RST

    t = threading.Thread(target=reset_after_first_bytes, daemon=True)
    t.start()
    server = procs.server(password=PASSWORD, args=["--pool-type", "none"])
    client = procs.client(server.port, password=PASSWORD)
    s = h.socks5_connect(client.port, h.V4, port, timeout=5)
    s.sendall(b"request")
    got = h.recv_until_eof(s, timeout=5)
    assert got == b"partial", got
    s.close()
    procs.note("the SOCKS side got the %d bytes sent before the RST, then EOF", len(got))
    t.join(5)
    lsock.close()
    _still_serves(client.port, echo)
    assert server.alive() and client.alive()


def test_unresolvable_name_fails_stream_not_session(procs, echo):
    server = procs.server(password=PASSWORD)
    client = procs.client(server.port, password=PASSWORD)
    t0 = time.monotonic()
    failed = False
    try:
        s = h.socks5_connect(client.port, "no-such-host.invalid", 80, timeout=10)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        failed = h.recv_until_eof(s, timeout=10) == b""
        s.close()
    except (OSError, h.Socks5Error):
        failed = True
    assert failed
    took = time.monotonic() - t0
    assert took < 10
    procs.note("the stream failed after %.2f s", took)
    assert h.wait_until(lambda: "no-such-host.invalid" in server.log(), 5), server.log_tail()
    _still_serves(client.port, echo)


def test_blackholed_target_times_out_without_killing_session(procs, echo):
    # A listener whose accept queue is full and that never accepts: further SYNs
    # are dropped, so a connect to it hangs like one to a blackholed address.
    hole = socket.socket()
    hole.bind((h.V4, 0))
    hole.listen(0)
    port = hole.getsockname()[1]
    fillers = []
    for _ in range(4):
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex((h.V4, port))
        fillers.append(f)
    time.sleep(0.2)
    server = procs.server(password=PASSWORD, args=["--pool-type", "none", "--connect-timeout-secs", "4"])
    client = procs.client(server.port, password=PASSWORD)
    # the first stream keeps the session; the blackholed one is its second (sid 2:
    # the client's 3 s SYNACK watchdog applies)
    first = h.socks5_connect(client.port, h.V4, echo.port, timeout=5)
    h.echo_check(first, b"first stream", timeout=5)
    first.close()
    time.sleep(0.3)
    t0 = time.monotonic()
    s = h.socks5_connect(client.port, h.V4, port, timeout=10)
    s.sendall(b"hello?")
    assert h.recv_until_eof(s, timeout=10) == b""
    took = time.monotonic() - t0
    s.close()
    assert 3.0 < took < 9.0, "blackholed stream ended after %.1f s (dial timeout 4 s)" % took
    assert "no SYNACK" not in client.log(), "the session was killed by the SYNACK watchdog"
    _still_serves(client.port, echo)
    procs.note("the blackholed stream ended after %.1f s (dial timeout 4 s); its session served "
               "the next stream", took)
    for f in fillers:
        f.close()
    hole.close()


NETNS = str(h.ROOT / "experiments" / "netns.sh")


def test_blackholed_in_delay_line(procs, tmp_path):
    idx = 60 + os.getpid() % 4      # experiments use low indexes
    env = dict(os.environ, RTT_IDX=str(idx), RTT_STATE=str(tmp_path / "rtt.env"))
    live, hole = "198.19.%d.1" % (idx + 1), "198.19.%d.99" % (idx + 1)
    up = subprocess.run([NETNS, "up", "2"], env=dict(env, BLACKHOLE=hole), capture_output=True,
                        text=True, timeout=60)
    assert up.returncode == 0, ("experiments/netns.sh up failed (rc %d; needs root and /dev/net/tun):\n%s"
                                % (up.returncode, up.stdout + up.stderr))
    try:
        ns = dict(l.split("=", 1) for l in up.stdout.split() if "=" in l)["RTT_NS"]
        procs.start(["ip", "netns", "exec", ns, h.binary("bench/target"), "--listen", "%s:9000" % live,
                     "--quiet", "--duration", "60"], "target", wait=False)
        assert h.wait_until(lambda: _can_connect(live, 9000), 10), "target behind the delay line unreachable"
        server = procs.server(password=PASSWORD, args=["--pool-type", "none", "--connect-timeout-secs", "4"])
        client = procs.client(server.port, password=PASSWORD)

        def stream(host):
            s = h.socks5_connect(client.port, host, 9000, timeout=10)
            s.sendall(b"16\n")
            got = h.recv_until_eof(s, timeout=10) if host == hole else h.recv_exact(s, 16)
            s.close()
            return got

        assert len(stream(live)) == 16              # through the delay line
        t0 = time.monotonic()
        assert stream(hole) == b""                  # blackholed: no reply, then EOF
        took = time.monotonic() - t0
        assert 3.0 < took < 9.0, "blackholed stream ended after %.1f s (dial timeout 4 s)" % took
        assert len(stream(live)) == 16              # the session and the route still work
        assert "no SYNACK" not in client.log(), "the session was killed by the SYNACK watchdog"
        st = subprocess.run([NETNS, "status"], env=env, capture_output=True, text=True, timeout=30)
        dropped = int(re.search(r'"drop_dst":(\d+)', st.stdout).group(1))
        assert dropped >= 1, "the delay line dropped nothing:\n" + st.stdout
        procs.note("the stream to the blackholed %s ended after %.1f s (dial timeout 4 s); the delay "
                   "line dropped %d packets to it; the session then relayed to %s again", hole, took,
                   dropped, live)
    finally:
        subprocess.run([NETNS, "down"], env=env, capture_output=True, timeout=60)


def _can_connect(host, port):
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def test_target_closes_idle_spares(procs):
    tport, mport = h.free_port(), h.free_port()
    procs.start([h.binary("bench/target"), "--listen", "127.0.0.1:%d" % tport, "--quiet",
                 "--idle-close-secs", "1", "--duration", "60"], "target", port=tport)
    server = procs.server(password=PASSWORD, args=["--min-idle-connections", "3",
                                                   "--metrics-listen", "127.0.0.1:%d" % mport])
    client = procs.client(server.port, password=PASSWORD)

    def one_stream(tag):
        s = h.socks5_connect(client.port, h.V4, tport, timeout=5)
        s.sendall(b"16\n")
        got = h.recv_exact(s, 16, what="reply to stream %s" % tag)
        s.close()
        return got

    one_stream("first")
    one_stream("second")                      # asked for twice: the pool keeps spares to it
    assert h.wait_until(lambda: h.metric_sum(mport, "anytls_pool_idle_connections", default=0.0) >= 3, 5), \
        "no spares pooled:\n" + server.log_tail()
    pooled = h.metric_sum(mport, "anytls_pool_idle_connections", default=0.0)
    time.sleep(2.5)                           # the target closes them (idle 1 s)
    for i in range(10):                       # every stream served; no dead spare handed out
        assert len(one_stream(i)) == 16
    stale = h.metric_sum(mport, "anytls_pool_stale_total", default=0.0)
    assert stale >= 1, "the closed spares were not noticed as stale:\n" + server.log_tail()
    procs.note("%d spares pooled, closed by the target after 1 s idle; 10 of 10 later streams "
               "served; %d spares found stale at the check and closed", pooled, stale)
    assert server.alive()


def test_server_restart_under_load(procs, echo):
    port = h.free_port()
    server = procs.server(password=PASSWORD, port=port)
    client = procs.client(port, password=PASSWORD)
    stop = threading.Event()
    results = {"ok": 0, "failed": 0, "slow": 0}

    def load():
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            t0 = time.monotonic()
            try:
                s = h.socks5_connect(client.port, h.V4, echo.port, timeout=5)
                h.echo_check(s, b"under load", timeout=5)
                s.close()
                results["ok"] += 1
            except (OSError, AssertionError, h.Socks5Error):
                results["failed"] += 1
            if time.monotonic() - t0 > 11:
                results["slow"] += 1
            time.sleep(0.01)

    workers = [threading.Thread(target=load, daemon=True) for _ in range(4)]
    for w in workers:
        w.start()
    time.sleep(1.0)
    server.signal(9)       # killed, not drained
    server.wait(5)
    procs.expected_nonzero.add(server)
    time.sleep(0.5)
    procs.server(password=PASSWORD, port=port)
    before = results["ok"]
    assert h.wait_until(lambda: results["ok"] > before + 20, 10), results
    stop.set()
    for w in workers:
        w.join(15)
    assert results["slow"] == 0, "a SOCKS connection hung past its timeout: %s" % results
    procs.note("4 load threads: %d streams ok, %d failed around the kill, %d hung past 11 s",
               results["ok"], results["failed"], results["slow"])
    assert client.alive()
