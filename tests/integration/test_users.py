"""--users-file: several users, each authenticating with its own password and
counted under its own name (user="NAME" series on the metrics port), capped by
--max-sessions-per-user, and a SIGHUP that adds and removes users under load
without touching anyone else's session."""
import signal
import threading
import time

import harness as h
import anytls_raw as r
from harness import PASSWORD


def user_metric(m, family, user, direction=None):
    labels = 'user="%s"' % user + (',direction="%s"' % direction if direction else "")
    return m.get("%s{%s}" % (family, labels))


def open_frames(sid, host, port, data=b""):
    return r.frame(r.SYN, sid) + r.frame(r.PSH, sid, h.encode_socks_addr(host, port) + data)


def session(port, password, echo_port, sid=1, data=b"hi"):
    """An authenticated raw session with stream sid open to the echo server."""
    s = r.RawSession(port)
    s.handshake(password, first=open_frames(sid, h.V4, echo_port, data))
    assert s.stream_data(sid, n=len(data)) == data
    return s


def refused(port, password):
    """True if the server closes a session with this password without a frame."""
    with r.RawSession(port) as s:
        s.handshake(password)
        return s.wait_closed(5) and not any(f[0] == r.SERVER_SETTINGS for f in s.frames)


def start(procs, tmp_path, lines, *args, mport=None, password=PASSWORD, log_level=None):
    users = tmp_path / "users.txt"
    users.write_text(lines)
    a = ["--users-file", str(users)] + list(args)
    if mport:
        a += ["--metrics-listen", "127.0.0.1:%d" % mport]
    return procs.server(password=password, args=a, log_level=log_level), users


def test_users_authenticate_and_are_counted_by_name(procs, echo, tmp_path):
    mport = h.free_port()
    server, _ = start(procs, tmp_path, "# two users\nalice:alice-pw\nbob: bob pw \n", mport=mport,
                      log_level="debug")
    a = session(server.port, "alice-pw", echo.port, data=b"a")
    data = h.payload(100000, tag=1)
    assert a.echo_stream(1, data) == data
    b = session(server.port, "bob pw", echo.port, data=b"b" * 2500)
    b.send(open_frames(3, h.V4, echo.port, b"B" * 2500))
    assert b.stream_data(3, n=2500) == b"B" * 2500
    assert refused(server.port, "carol-pw")
    m = h.metrics(mport)
    fam = "anytls_user_bytes_total"
    assert user_metric(m, "anytls_user_sessions_open", "alice") == 1, m
    assert user_metric(m, "anytls_user_sessions_total", "alice") == 1
    assert user_metric(m, "anytls_user_streams_total", "alice") == 1
    assert user_metric(m, fam, "alice", "client_to_target") == 100001
    assert user_metric(m, fam, "alice", "target_to_client") == 100001
    assert user_metric(m, "anytls_user_streams_total", "bob") == 2
    assert user_metric(m, fam, "bob", "client_to_target") == 5000
    assert user_metric(m, fam, "bob", "target_to_client") == 5000
    assert user_metric(m, "anytls_user_sessions_total", "default") == 0   # -p's user
    assert m["anytls_auth_failures_total"] == 1
    a.close()
    assert h.wait_until(lambda: user_metric(h.metrics(mport), "anytls_user_sessions_open", "alice") == 0, 5)
    b.close()
    # the default user (-p) still works beside the file
    session(server.port, PASSWORD, echo.port).close()
    assert "(user alice)" in server.log() and "(user bob)" in server.log()
    procs.note("per-user bytes: alice %d/%d, bob %d/%d (client->target/target->client)",
               user_metric(m, fam, "alice", "client_to_target"), user_metric(m, fam, "alice", "target_to_client"),
               user_metric(m, fam, "bob", "client_to_target"), user_metric(m, fam, "bob", "target_to_client"))


def test_users_file_alone_and_bad_files_exit_2(procs, echo, tmp_path):
    users = tmp_path / "users.txt"
    users.write_text("alice:a\n")
    port = h.free_port()
    p = procs.start([h.binary("anytls-server"), "-l", "127.0.0.1:%d" % port, "--users-file", str(users)],
                    "server", port=port)
    session(port, "a", echo.port).close()
    bad = tmp_path / "bad.txt"
    bad.write_text("alice:a\n# fine\nbob\n")
    r2 = procs.run([h.binary("anytls-server"), "-l", "127.0.0.1:%d" % h.free_port(), "--users-file", str(bad)])
    assert r2.returncode == 2 and "bad.txt:3: not name:password" in r2.stderr, r2.stderr
    r3 = procs.run([h.binary("anytls-server"), "-l", "127.0.0.1:%d" % h.free_port()])
    assert r3.returncode == 2 and "-p PASSWORD (or --users-file FILE) is required" in r3.stderr, r3.stderr
    assert p.alive()


def test_users_session_cap_per_user(procs, echo, tmp_path):
    mport = h.free_port()
    server, _ = start(procs, tmp_path, "alice:alice-pw\nbob:bob-pw\n", "--max-sessions-per-user", "2",
                      mport=mport)
    held = [session(server.port, "alice-pw", echo.port) for _ in range(2)]
    assert refused(server.port, "alice-pw")
    other = session(server.port, "bob-pw", echo.port)
    m = h.metrics(mport)
    assert m["anytls_user_session_cap_refused_total"] == 1, m
    assert user_metric(m, "anytls_user_sessions_open", "alice") == 2
    assert "--max-sessions-per-user" in server.log()
    held.pop().close()
    assert h.wait_until(lambda: user_metric(h.metrics(mport), "anytls_user_sessions_open", "alice") == 1, 5)
    held.append(session(server.port, "alice-pw", echo.port))
    for s in held + [other]:
        s.close()


class Load(threading.Thread):
    """One session echoing 16 KiB at a time until stopped; counts bytes, keeps
    the error that ended it."""

    def __init__(self, port, password, echo_port):
        super().__init__(daemon=True)
        self.s = session(port, password, echo_port)
        self.stop = threading.Event()
        self.bytes = 0
        self.error = None

    def run(self):
        chunk = h.payload(16384, tag=9)
        try:
            while not self.stop.is_set():
                assert self.s.echo_stream(1, chunk, timeout=10) == chunk
                self.bytes += len(chunk)
        except Exception as e:   # noqa: BLE001 -- reported by the test
            self.error = e

    def end(self):
        self.stop.set()
        self.join(15)
        self.s.close()


def test_users_reload_adds_and_removes_under_load(procs, echo, tmp_path):
    mport = h.free_port()
    server, users = start(procs, tmp_path, "alice:a-pw\nbob:b-pw\ncarol:c-pw\nerin:e-pw\n", mport=mport)
    loads = {u: Load(server.port, pw, echo.port) for u, pw in
             (("alice", "a-pw"), ("bob", "b-pw"), ("carol", "c-pw"), ("erin", "e-pw"))}
    for l in loads.values():
        l.start()
    try:
        time.sleep(1.0)
        before = {u: l.bytes for u, l in loads.items()}
        assert all(before.values()), before
        # bob removed, carol's password changed, dave added; alice and erin as they were
        users.write_text("erin:e-pw\ndave:d-pw\nalice:a-pw\ncarol:c-new\n")
        server.signal(signal.SIGHUP)
        assert h.wait_until(lambda: "Users reloaded" in server.log(), 5), server.log_tail()
        assert "5 in all, 1 added, 1 removed, 1 with a new password" in server.log()
        assert h.wait_until(lambda: loads["bob"].error is not None and loads["carol"].error is not None, 10)
        mid = {u: loads[u].bytes for u in ("alice", "erin")}
        time.sleep(1.0)
        for u in ("alice", "erin"):
            assert loads[u].error is None, "%s's session was dropped: %r" % (u, loads[u].error)
            assert loads[u].bytes > mid[u], "%s's session stalled" % u
        log = server.log()
        assert "user bob removed by the reload: 1 session closed" in log, log
        assert "user carol given a new password by the reload: 1 session closed" in log, log
        assert refused(server.port, "b-pw") and refused(server.port, "c-pw")
        session(server.port, "d-pw", echo.port).close()
        session(server.port, "c-new", echo.port).close()
        m = h.metrics(mport)
        assert user_metric(m, "anytls_user_sessions_total", "dave") == 1, m
        assert user_metric(m, "anytls_user_sessions_total", "bob") is None, "a removed user is still rendered"
        assert user_metric(m, "anytls_user_sessions_open", "alice") == 1
        assert user_metric(m, "anytls_user_sessions_total", "carol") == 2   # counters kept across the change
        procs.note("reload under load: alice %d and erin %d bytes echoed meanwhile, bob and carol closed",
                   loads["alice"].bytes, loads["erin"].bytes)
    finally:
        for l in loads.values():
            l.end()
    for u in ("alice", "erin"):
        assert loads[u].error is None, loads[u].error


def test_users_bad_file_on_reload_keeps_the_users(procs, echo, tmp_path):
    server, users = start(procs, tmp_path, "alice:a-pw\n")
    s = session(server.port, "a-pw", echo.port)
    users.write_text("alice:a-pw\nbob:b-pw\nthis line has no colon\n")
    server.signal(signal.SIGHUP)
    assert h.wait_until(lambda: "users not changed" in server.log(), 5), server.log_tail()
    assert "users.txt:3: not name:password" in server.log()
    assert "b-pw" not in server.log()
    assert refused(server.port, "b-pw")
    s.send(open_frames(5, h.V4, echo.port, b"still"))
    assert s.stream_data(5, n=5) == b"still"
    s.close()
    session(server.port, "a-pw", echo.port).close()
