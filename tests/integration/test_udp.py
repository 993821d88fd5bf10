"""UDP: SOCKS5 UDP ASSOCIATE -> anytls-client -> UDP over TCP v2 -> server -> UDP echo."""
import harness as h


def test_udp_associate_ipv4(pair, udp_echo):
    _, client = pair
    h.check_udp_echo_socks5(client.port, h.V4, udp_echo.port)
    assert udp_echo.datagrams >= len(h.UDP_SIZES)


def test_udp_associate_ipv6_target(pair):
    _, client = pair
    with h.UdpEchoServer(host=h.V6) as u6:
        h.check_udp_echo_socks5(client.port, h.V6, u6.port, sizes=(1, 1400, 4096))


def test_udp_two_targets_one_association(pair, udp_echo):
    """One association, datagrams to two targets interleaved; each reply comes
    from the right source."""
    _, client = pair
    with h.UdpEchoServer() as other, h.Socks5Udp(client.port) as u:
        for i in range(6):
            tgt = udp_echo if i % 2 == 0 else other
            data = h.payload(100 + i, tag=i)
            got, src = u.roundtrip(data, h.V4, tgt.port)
            assert got == data and src[1] == tgt.port


def test_udp_large_datagrams(pair, udp_echo):
    _, client = pair
    h.check_udp_echo_socks5(client.port, h.V4, udp_echo.port, sizes=(16000, 60000, 65000))
