"""anytls-c against sing-box 1.12 (the real peer), both directions.

(a) our anytls-client  -> sing-box anytls inbound  -> echo targets
(b) sing-box mixed inbound + anytls outbound -> our anytls-server -> echo targets
UDP in (b) is sing-box's UDP-over-TCP v2; in (a) it is ours. Data is checked
byte for byte (and by sha256 for the bulk transfer)."""
import threading
import time

import pytest

import harness as h
import singbox as sbx

PW = "interop-pw"


# ------------------------------------------------------------ (a) our client

@pytest.fixture
def our_client_to_singbox(singbox, procs, cert):
    sport = h.free_port()
    sbx.start(procs, sbx.anytls_inbound_config(sport, PW, *cert), "sb-server", sport)
    client = procs.client(sport, PW, args=["--sni", "localhost"])
    return client, sport


def test_our_client_singbox_server_tcp(our_client_to_singbox, echo):
    client, sport = our_client_to_singbox
    h.check_tcp_echo_socks5(client.port, h.V4, echo.port)
    assert h.established_count(sport) >= 1


def test_our_client_singbox_server_sequential_and_concurrent(our_client_to_singbox, echo):
    client, sport = our_client_to_singbox
    # sequential streams: the client should reuse its idle session
    for i in range(5):
        h.check_tcp_echo_socks5(client.port, h.V4, echo.port, sizes=(10, 3000), tag=i)
    # concurrent streams, distinct data each
    errors = []

    def one(i):
        try:
            h.check_tcp_echo_socks5(client.port, h.V4, echo.port, sizes=(777 + i, 20000), tag=50 + i)
        except Exception as e:  # collected and reported below
            errors.append((i, repr(e)))

    ts = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(20)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not [t for t in ts if t.is_alive()], "streams still running after 60 s"
    assert not errors, errors


def test_our_client_singbox_server_bulk_sha256(our_client_to_singbox, echo):
    client, _ = our_client_to_singbox
    s = h.socks5_connect(client.port, h.V4, echo.port)
    try:
        sent, got, n = h.stream_sha256(s, 4 << 20, seed=7, timeout=60)
    finally:
        s.close()
    assert n == 4 << 20 and sent == got


def test_our_client_singbox_server_udp(our_client_to_singbox, udp_echo):
    client, _ = our_client_to_singbox
    h.check_udp_echo_socks5(client.port, h.V4, udp_echo.port)


# ------------------------------------------------------------ (b) our server

def _singbox_to_our_server(procs, server_args=()):
    server = procs.server(password=PW, args=server_args)
    mport = h.free_port()
    sbx.start(procs, sbx.anytls_outbound_config(mport, server.port, PW), "sb-client", mport)
    return mport, server


@pytest.mark.parametrize("certs", ["generated", "files"])
def test_singbox_client_our_server_tcp(singbox, procs, cert, echo, certs):
    args = [] if certs == "generated" else ["--cert", cert[0], "--key", cert[1]]
    mport, server = _singbox_to_our_server(procs, args)
    h.check_tcp_echo_socks5(mport, h.V4, echo.port)
    assert h.established_count(server.port) >= 1
    for i in range(3):
        h.check_tcp_echo_socks5(mport, h.V4, echo.port, sizes=(10, 3000), tag=i + 1)


def _client_first_exchange(mport, target):
    """The app speaks first (after its SOCKS reply), the target answers and
    closes: seconds from connect to the answer's end."""
    t0 = time.monotonic()
    with h.socks5_connect(mport, h.V4, target.port) as c:
        c.sendall(b"GET\n")
        got = h.recv_until_eof(c, timeout=5)
    assert got.endswith(b"\n") and got[:-1].isdigit(), got
    return time.monotonic() - t0


def test_singbox_client_our_server_answers_before_the_synack_hold(singbox, procs, cert):
    """Our server holds a stream's SYNACK for the target's first bytes (up to
    0.5 s). That is only free if the client does not wait for the SYNACK
    before it lets the app speak: sing-box does not, so a client-first
    exchange takes milliseconds, not the hold."""
    mport, _ = _singbox_to_our_server(procs)
    with h.NumberingServer() as target:
        times = [_client_first_exchange(mport, target) for _ in range(6)]
    assert max(times[1:]) < 0.3, "client-first exchanges took %s s" % ["%.3f" % t for t in times]


def test_singbox_client_our_server_concurrent(singbox, procs, echo):
    mport, _ = _singbox_to_our_server(procs)
    errors = []

    def one(i):
        try:
            h.check_tcp_echo_socks5(mport, h.V4, echo.port, sizes=(100 + i, 30000), tag=70 + i)
        except Exception as e:  # collected and reported below
            errors.append((i, repr(e)))

    ts = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(20)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not [t for t in ts if t.is_alive()], "streams still running after 60 s"
    assert not errors, errors


def test_singbox_client_our_server_bulk_sha256(singbox, procs, echo):
    mport, _ = _singbox_to_our_server(procs)
    s = h.socks5_connect(mport, h.V4, echo.port)
    try:
        sent, got, n = h.stream_sha256(s, 4 << 20, seed=8, timeout=60)
    finally:
        s.close()
    assert n == 4 << 20 and sent == got


def test_singbox_client_our_server_udp(singbox, procs, udp_echo):
    mport, _ = _singbox_to_our_server(procs)
    h.check_udp_echo_socks5(mport, h.V4, udp_echo.port)


def test_singbox_client_our_server_udp_ipv6(singbox, procs):
    mport, _ = _singbox_to_our_server(procs)
    with h.UdpEchoServer(host=h.V6) as u6:
        h.check_udp_echo_socks5(mport, h.V6, u6.port, sizes=(1, 1400))


def test_singbox_client_our_server_padding_scheme_update(singbox, procs, echo, tmp_path):
    """Our server with a non-default --padding-scheme: sing-box's client gets the
    scheme through UpdatePaddingScheme (cmd 6) on its first session and must
    keep working with it on the next."""
    scheme = tmp_path / "scheme.txt"
    scheme.write_text("stop=3\n0=40-40\n1=200-300\n2=300-400,c,100-200")
    mport, _ = _singbox_to_our_server(procs, ["--padding-scheme", scheme])
    for i in range(3):
        h.check_tcp_echo_socks5(mport, h.V4, echo.port, sizes=(10, 3000), tag=90 + i)


def test_our_client_ca_verification(singbox, procs, cert, echo, tmp_path):
    """--ca FILE: the right CA (the server's self-signed cert) verifies and
    relays; an unrelated CA makes the stream fail, and nothing reaches the target."""
    sport = h.free_port()
    sbx.start(procs, sbx.anytls_inbound_config(sport, PW, *cert), "sb-server", sport)
    good = procs.client(sport, PW, args=["--sni", "localhost", "--ca", cert[0]])
    h.check_tcp_echo_socks5(good.port, h.V4, echo.port, sizes=(10, 3000))
    before = echo.connections

    other_cert, _ = sbx.make_cert(tmp_path / "other")
    bad = procs.client(sport, PW, args=["--sni", "localhost", "--ca", other_cert])
    try:
        s = h.socks5_connect(bad.port, h.V4, echo.port)
    except (ConnectionError, OSError):
        pass
    else:
        try:
            try:
                s.sendall(b"should not arrive")
            except OSError:
                pass
            closed, got = h.wait_closed(s, 10)
        finally:
            s.close()
        assert closed and got == b"", "stream over an unverifiable server certificate was not closed"
    assert echo.connections == before, "data reached the target through an unverified server"
