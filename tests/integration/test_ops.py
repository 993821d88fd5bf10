"""Operations: SIGHUP reloads the pool from --config without dropping a stream,
SIGUSR1 writes stats to the log, --metrics-listen answers GET /metrics with
Prometheus text."""
import json
import re
import signal
import time
import urllib.request

import harness as h
from harness import PASSWORD


def _two_pool_types():
    """Two different pooling types from the registry (none is the no-pool baseline)."""
    types = [t for t in h.pool_types() if t != "none"]
    assert len(types) >= 2, types
    return types[0], types[-1]


def _ini(path, pool_type, min_idle):
    path.write_text("[server]\npool-type = %s\nmin-idle-connections = %d\nstats-interval-secs = 1\n"
                    % (pool_type, min_idle))


def test_sighup_swaps_pool_and_keeps_open_stream(procs, echo, tmp_path):
    first, second = _two_pool_types()
    ini = tmp_path / "server.ini"
    _ini(ini, first, 2)
    server = procs.server(password=PASSWORD, args=["--config", str(ini)])
    client = procs.client(server.port, password=PASSWORD)
    s = h.socks5_connect(client.port, h.V4, echo.port)
    h.echo_check(s, b"before the reload")

    _ini(ini, second, 3)
    server.signal(signal.SIGHUP)
    assert h.wait_until(lambda: "Reloaded: pool %s" % second in server.log(), 5), server.log_tail()
    assert "min idle connections 3" in server.log()
    # the stream opened before the reload still relays, both ways
    h.echo_check(s, h.payload(100000, tag=7))
    s.close()
    # and new streams go through the new pool
    s2 = h.socks5_connect(client.port, h.V4, echo.port)
    h.echo_check(s2, b"after the reload")
    s2.close()
    assert server.alive()


def test_sighup_with_bad_config_keeps_running(procs, echo, tmp_path):
    ini = tmp_path / "server.ini"
    _ini(ini, _two_pool_types()[0], 2)
    server = procs.server(password=PASSWORD, args=["--config", str(ini)])
    client = procs.client(server.port, password=PASSWORD)
    ini.write_text("[server]\npool-type = nonsense\n")
    server.signal(signal.SIGHUP)
    assert h.wait_until(lambda: "not reloaded" in server.log(), 5), server.log_tail()
    s = h.socks5_connect(client.port, h.V4, echo.port)
    h.echo_check(s, b"still serving")
    s.close()


def test_sigusr1_logs_stats_json(procs, echo):
    server = procs.server(password=PASSWORD)
    client = procs.client(server.port, password=PASSWORD)
    s = h.socks5_connect(client.port, h.V4, echo.port)
    h.echo_check(s, b"count me")
    server.signal(signal.SIGUSR1)
    assert h.wait_until(lambda: "[Stats] {" in server.log(), 5), server.log_tail()
    line = [l for l in server.log().splitlines() if "[Stats] {" in l][-1]
    stats = json.loads(line.split("[Stats] ", 1)[1])
    assert stats["streams"]["open"] == 1, line
    assert stats["sessions"]["open"] == 1 and stats["sessions"]["total"] == 1, line
    assert stats["bytes"]["client_to_target"] == len(b"count me"), line
    assert stats["bytes"]["target_to_client"] == len(b"count me"), line
    assert stats["pool"]["total"] == stats["pool"]["reused"] + stats["pool"]["new"], line
    s.close()


def test_metrics_endpoint_serves_prometheus_text(procs, echo):
    mport = h.free_port()
    server = procs.server(password=PASSWORD, args=["--metrics-listen", "127.0.0.1:%d" % mport])
    client = procs.client(server.port, password=PASSWORD)
    for i in range(3):
        s = h.socks5_connect(client.port, h.V4, echo.port)
        h.echo_check(s, b"metric %d" % i)
        s.close()
    assert h.wait_until(lambda: h.is_listening(mport), 5)
    body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=5).read().decode()
    sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.eE+-]+|NaN|[+-]Inf$')
    for line in body.splitlines():
        if line and not line.startswith("#"):
            assert sample.match(line), "not a Prometheus sample line: %r" % line
    m = re.search(r'^anytls_streams_total(\{[^}]*\})? (\d+)', body, re.M)
    assert m and int(m.group(2)) >= 3, body
    assert "anytls_pool_reuse_ratio" in body
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/other" % mport, timeout=5)
        assert False, "expected 404"
    except urllib.error.HTTPError as e:
        assert e.code == 404


def test_metrics_listen_refuses_non_loopback(procs):
    r = procs.run([h.binary("anytls-server"), "-l", "127.0.0.1:%d" % h.free_port(), "-p", "x",
                   "--metrics-listen", "0.0.0.0:%d" % h.free_port()], timeout=10)
    assert r.returncode != 0
    assert "loopback" in (r.stdout + r.stderr)
