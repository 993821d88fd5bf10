"""UDP: SOCKS5 UDP ASSOCIATE -> anytls-client -> UDP over TCP v2 -> server -> UDP echo."""
import socket
import struct

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


def _foreign(host=h.V4):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    s.settimeout(0.5)
    return s


def _got_reply(sock, wait=1.5):
    try:
        sock.settimeout(wait)
        sock.recvfrom(65535)
        return True
    except socket.timeout:
        return False


def _drop_lines(client):
    return [l for l in client.log().splitlines() if "SOCKS5 UDP: dropped" in l]


def test_udp_association_refuses_foreign_sources(pair, udp_echo):
    """The relay takes datagrams only from the control connection's client:
    its IP, and (ASSOCIATE declared 0.0.0.0:0) the port of the first datagram.
    Another port on 127.0.0.1 and 127.0.0.2 are dropped, counted and logged
    (once, not per datagram); the client's own datagrams and replies go on."""
    _, client = pair
    with h.Socks5Udp(client.port) as u:
        got, _ = u.roundtrip(b"legit 1", h.V4, udp_echo.port)
        assert got == b"legit 1"
        before = udp_echo.datagrams
        other_port, other_ip = _foreign(h.V4), _foreign("127.0.0.2")
        try:
            for i in range(5):
                for s in (other_port, other_ip):
                    s.sendto(b"\x00\x00\x00" + h.encode_socks_addr(h.V4, udp_echo.port) + b"foreign %d" % i,
                             u.relay)
            assert not _got_reply(other_port) and not _got_reply(other_ip), \
                "a foreign source's datagram was relayed (and its reply sent back to it)"
            assert udp_echo.datagrams == before, "the target received datagrams from foreign sources"
            got, _ = u.roundtrip(b"legit 2", h.V4, udp_echo.port)
            assert got == b"legit 2"
        finally:
            other_port.close()
            other_ip.close()
        assert h.wait_until(lambda: _drop_lines(client), 3), \
            "foreign datagrams were not logged:\n" + client.log_tail()
        assert len(_drop_lines(client)) == 1, "one line for a burst, got:\n" + "\n".join(_drop_lines(client))


def test_udp_association_declared_port(pair, udp_echo):
    """ASSOCIATE declaring a non-zero port: only that port of the client's IP
    is taken, even before it has sent anything."""
    _, client = pair
    app = _foreign(h.V4)
    intruder = _foreign(h.V4)
    ctrl = socket.create_connection((h.V4, client.port), timeout=5)
    try:
        ctrl.sendall(b"\x05\x01\x00")
        assert h.recv_exact(ctrl, 2) == b"\x05\x00"
        ctrl.sendall(b"\x05\x03\x00" + h.encode_socks_addr(h.V4, app.getsockname()[1]))
        rep = h.recv_exact(ctrl, 10)
        assert rep[:4] == b"\x05\x00\x00\x01"
        relay = (h.V4, struct.unpack(">H", rep[8:10])[0])
        hdr = b"\x00\x00\x00" + h.encode_socks_addr(h.V4, udp_echo.port)
        intruder.sendto(hdr + b"first, from the wrong port", relay)
        assert not _got_reply(intruder)
        for _ in range(3):
            app.sendto(hdr + b"declared", relay)
            if _got_reply(app, 2):
                break
        else:
            raise AssertionError("no reply to the declared port")
        assert udp_echo.datagrams >= 1
    finally:
        ctrl.close()
        app.close()
        intruder.close()
