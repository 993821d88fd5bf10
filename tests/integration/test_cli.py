"""Command line and signals."""
import signal

import pytest

import harness as h
from harness import PASSWORD


@pytest.mark.parametrize("name", ["anytls-server", "anytls-client"])
def test_bad_flag_exits_2(procs, name):
    r = procs.run([h.binary(name), "--definitely-not-a-flag"], timeout=10)
    assert r.returncode == 2, "rc=%s stdout=%r stderr=%r" % (r.returncode, r.stdout, r.stderr)
    assert (r.stderr + r.stdout).strip(), "no message for a bad flag"


@pytest.mark.parametrize("name", ["anytls-server", "anytls-client"])
@pytest.mark.parametrize("flag", ["-h", "-V"])
def test_help_and_version_exit_0(procs, name, flag):
    r = procs.run([h.binary(name), flag], timeout=10)
    assert r.returncode == 0, "rc=%s stdout=%r stderr=%r" % (r.returncode, r.stdout, r.stderr)
    assert (r.stderr + r.stdout).strip()


def _term(p, timeout=10):
    p.signal(signal.SIGTERM)
    rc = p.wait(timeout)
    assert rc == 0, "%s: rc=%s after SIGTERM (expected 0; None = still running after %d s)\n%s" % (
        p.describe(), rc, timeout, p.log_tail())


def test_sigterm_exits_0(procs, echo):
    server = procs.server(password=PASSWORD)
    client = procs.client(server.port, password=PASSWORD)
    h.check_tcp_echo_socks5(client.port, h.V4, echo.port, sizes=(100,))
    _term(client)
    _term(server)


def test_sigterm_with_open_stream_exits_0(procs, echo):
    server = procs.server(password=PASSWORD)
    client = procs.client(server.port, password=PASSWORD)
    s = h.socks5_connect(client.port, h.V4, echo.port)
    try:
        h.echo_check(s, b"stream stays open across SIGTERM")
        _term(server)
        closed, _ = h.wait_closed(s, 10)
        assert closed, "stream not closed after the server exited"
        _term(client)
    finally:
        s.close()
