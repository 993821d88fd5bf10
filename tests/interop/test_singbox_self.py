"""Sanity: sing-box client <-> sing-box AnyTLS server with the very configs the
interop tests use against our binaries. If this fails, the configs or the
sing-box build are wrong, not anytls-c."""
import harness as h
import singbox as sbx


def _pair(procs, cert, password="interop-pw"):
    sport = h.free_port()
    sbx.start(procs, sbx.anytls_inbound_config(sport, password, *cert), "sb-server", sport)
    mport = h.free_port()
    sbx.start(procs, sbx.anytls_outbound_config(mport, sport, password), "sb-client", mport)
    return mport, sport


def test_singbox_self_tcp(singbox, procs, cert, echo):
    mport, sport = _pair(procs, cert)
    h.check_tcp_echo_socks5(mport, h.V4, echo.port)
    # the traffic really rode an AnyTLS session to the sing-box server
    assert h.established_count(sport) >= 1
    # a second and third stream (session reuse on the sing-box side)
    for i in range(2):
        h.check_tcp_echo_socks5(mport, h.V4, echo.port, sizes=(100, 5000), tag=i + 1)


def test_singbox_self_udp(singbox, procs, cert, udp_echo):
    mport, sport = _pair(procs, cert)
    h.check_udp_echo_socks5(mport, h.V4, udp_echo.port)


def test_singbox_self_other_inbounds(singbox, procs, cert, echo):
    """Also validates the harness's SOCKS4/4a/HTTP helpers against a real
    implementation (sing-box's mixed inbound), through AnyTLS."""
    mport, _ = _pair(procs, cert)
    s = h.socks4_connect(mport, h.V4, echo.port)
    h.echo_check(s, h.payload(3000, 1))
    s.close()
    with h.DualEcho() as d:
        s = h.socks4_connect(mport, "localhost", d.port)
        h.echo_check(s, h.payload(3000, 2))
        s.close()
    s = h.http_connect(mport, h.V4, echo.port)
    h.echo_check(s, h.payload(3000, 3))
    s.close()
    with h.HttpTarget() as t:
        status, head, body = h.http_proxy_get(mport, "http://%s:%d/some/path?x=1" % (h.V4, t.port))
        assert status == 200 and b"/some/path?x=1" in body, (head, body)
