"""Command line and signals."""
import re
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


@pytest.mark.parametrize("name", ["anytls-server", "anytls-client"])
def test_list_pool_types_exits_0(procs, name):
    """One name per line, nothing else, exit 0; no password or server needed."""
    r = procs.run([h.binary(name), "--list-pool-types"], timeout=10)
    assert r.returncode == 0, "rc=%s stdout=%r stderr=%r" % (r.returncode, r.stdout, r.stderr)
    lines = r.stdout.splitlines()
    assert lines and all(re.fullmatch(r"[a-z][a-z0-9_]*", n) for n in lines), r.stdout
    assert len(set(lines)) == len(lines), r.stdout
    assert "none" in lines          # the no-pool baseline is always there
    assert not r.stderr.strip(), r.stderr
    help_text = procs.run([h.binary(name), "-h"], timeout=10).stdout
    assert "--list-pool-types" in help_text


def test_list_pool_types_is_the_registry(procs):
    """--list-pool-types, the client's list, pool_names() (in the server's
    "unknown --pool-type" message and its -h text) and the types --pool-type
    accepts are one list: pools/pool.c's registry."""
    listed = list(h.pool_types())
    assert procs.run([h.binary("anytls-client"), "--list-pool-types"]).stdout.split() == listed
    r = procs.run([h.binary("anytls-server"), "-p", "x", "--pool-type", "no-such-type"])
    assert r.returncode == 2
    m = re.search(r"choose from ([^)]*)\)", r.stderr)
    assert m, r.stderr
    assert m.group(1).split(", ") == listed, r.stderr
    assert ", ".join(listed) in procs.run([h.binary("anytls-server"), "-h"]).stdout
    for t in listed:   # each is a valid --pool-type (parsed, then the list printed)
        r = procs.run([h.binary("anytls-server"), "--pool-type", t, "--list-pool-types"])
        assert r.returncode == 0 and r.stdout.split() == listed, (t, r.returncode, r.stderr)


@pytest.mark.parametrize("name", ["anytls-server", "anytls-client"])
def test_list_pool_types_is_not_a_config_key(procs, name, tmp_path):
    """Like help and version, it prints and exits: a --config file cannot hold it."""
    ini = tmp_path / "x.ini"
    ini.write_text("list-pool-types = true\n")
    r = procs.run([h.binary(name), "--config", str(ini)])
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "unknown key 'list-pool-types'" in r.stderr, r.stderr
    assert not r.stdout.strip()


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
