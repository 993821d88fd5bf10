"""anytls-server at the frame level (shared/PROTOCOL.md §2, §3, §4, §6), driven by
a raw AnyTLS client written in Python (tests/helpers/anytls_raw.py)."""
import hashlib
import struct
import time

import pytest

import harness as h
import anytls_raw as r
from harness import PASSWORD


@pytest.fixture
def server(procs):
    return procs.server(password=PASSWORD)


def open_frames(sid, host, port, data=b""):
    return r.frame(r.SYN, sid) + r.frame(r.PSH, sid, h.encode_socks_addr(host, port) + data)


def is_(cmd, sid=None):
    return lambda c, s, d: c == cmd and (sid is None or s == sid)


def kv(data):
    return dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)


def test_proto_handshake_stream_echo(server, echo):
    with r.RawSession(server.port) as s:
        t0 = time.monotonic()
        s.handshake(PASSWORD, first=open_frames(1, h.V4, echo.port, b"hello"))
        assert s.stream_data(1, n=5) == b"hello"
        ss = s.wait_for(is_(r.SERVER_SETTINGS, 0), timeout=3) if not any(
            f[0] == r.SERVER_SETTINGS for f in s.frames) else \
            next(f for f in s.frames if f[0] == r.SERVER_SETTINGS)
        assert kv(ss[2]).get("v") == "2", "ServerSettings %r" % ss[2]
        if not any(f[0] == r.SYNACK and f[1] == 1 for f in s.frames):
            s.wait_for(is_(r.SYNACK, 1), timeout=3)
        assert time.monotonic() - t0 < 3, "SYNACK later than the v2 client's 3 s watchdog"
        synack = next(f for f in s.frames if f[0] == r.SYNACK and f[1] == 1)
        assert synack[2] == b"", "SYNACK for a good dial carries an error: %r" % synack[2]
        assert not any(f[0] == r.UPDATE_PADDING for f in s.frames), \
            "UpdatePaddingScheme sent although the client's padding-md5 matches"
        assert not any(f[0] == r.ALERT for f in s.frames)

        # bigger data, frames of the maximum size, reading interleaved
        data = h.payload(300000, tag=3)
        got = s.echo_stream(1, data, timeout=30)
        assert got == data

        # FIN ends stream 1; the session then carries stream 2
        s.send(r.frame(r.FIN, 1))
        s.send(open_frames(2, h.V4, echo.port, b"second stream"))
        assert s.stream_data(2, n=13) == b"second stream"


def test_proto_auth_and_frames_in_one_record(server, echo):
    """The auth block and the first frames in the same TLS record: the server
    keeps the bytes after the auth block."""
    with r.RawSession(server.port) as s:
        s.send(r.auth_block(PASSWORD) + r.frame(r.SETTINGS, 0, r.settings_data())
               + open_frames(1, h.V4, echo.port, b"same record"))
        assert s.stream_data(1, n=11) == b"same record"


def test_proto_padding_md5_mismatch_gets_default_scheme(server, echo):
    with r.RawSession(server.port) as s:
        s.handshake(PASSWORD, md5="0" * 32, first=open_frames(1, h.V4, echo.port, b"x"))
        s.wait_for(is_(r.SERVER_SETTINGS, 0), timeout=5)
        cmds = [f[0] for f in s.frames]
        assert r.UPDATE_PADDING in cmds, "no UpdatePaddingScheme for a wrong padding-md5"
        assert cmds.index(r.UPDATE_PADDING) < cmds.index(r.SERVER_SETTINGS), \
            "UpdatePaddingScheme must come before ServerSettings"
        upd = next(f for f in s.frames if f[0] == r.UPDATE_PADDING)
        assert upd[1] == 0
        assert upd[2] == r.DEFAULT_SCHEME, "scheme sent differs from the default: %r" % upd[2]
        assert s.stream_data(1, n=1) == b"x"


def test_proto_custom_scheme_sent_verbatim(procs, echo, tmp_path):
    scheme = b"stop=3\n0=40-40\n1=200-300\n2=300-400,c,100-200"
    f = tmp_path / "scheme.txt"
    f.write_bytes(scheme)
    server = procs.server(password=PASSWORD, args=["--padding-scheme", f])
    with r.RawSession(server.port) as s:
        s.handshake(PASSWORD, first=open_frames(1, h.V4, echo.port, b"y"))
        s.wait_for(is_(r.SERVER_SETTINGS, 0), timeout=5)
        upd = [f for f in s.frames if f[0] == r.UPDATE_PADDING]
        assert upd and upd[0][2] == scheme, "expected the file's scheme verbatim, got %r" % upd
        assert s.stream_data(1, n=1) == b"y"


def test_proto_syn_before_settings_alert(server, echo):
    with r.RawSession(server.port) as s:
        s.send(r.auth_block(PASSWORD))
        s.send(open_frames(1, h.V4, echo.port, b"too early"))
        closed = s.wait_closed(10)
        alerts = [f for f in s.frames if f[0] == r.ALERT]
        assert alerts and alerts[0][2], "no Alert (with text) for a SYN before Settings: %r" % [
            (r.CMD_NAMES.get(c, c), sid, d[:40]) for c, sid, d in s.frames]
        assert closed, "session not closed after the Alert"
        assert not any(f[0] == r.PSH for f in s.frames)
    time.sleep(0.2)
    assert echo.connections == 0, "server dialed for a SYN before Settings"


def test_proto_wrong_password_silent_close(server, echo):
    with r.RawSession(server.port) as s:
        s.send(r.auth_block("wrong-password"))
        s.send(r.frame(r.SETTINGS, 0, r.settings_data()) + open_frames(1, h.V4, echo.port, b"x"))
        assert s.wait_closed(10), "server kept a session with a wrong password open"
        assert s.frames == [], "server sent frames to an unauthenticated client: %r" % s.frames
    time.sleep(0.2)
    assert echo.connections == 0
    assert server.alive()


def test_proto_heartbeat(server, echo):
    with r.RawSession(server.port) as s:
        s.handshake(PASSWORD, first=open_frames(1, h.V4, echo.port, b"hb"))
        assert s.stream_data(1, n=2) == b"hb"
        s.send(r.frame(r.HEART_REQ, 0))
        s.wait_for(is_(r.HEART_RESP, 0), timeout=5)
        s.send(r.frame(r.HEART_REQ, 1))
        s.wait_for(is_(r.HEART_RESP, 1), timeout=5)


def test_proto_unknown_and_stray_frames_ignored(server, echo):
    """Waste, an unknown cmd with data, PSH and FIN for unknown sids, a
    HeartResponse: all dropped; the session keeps working."""
    with r.RawSession(server.port) as s:
        s.handshake(PASSWORD)
        s.send(r.frame(r.WASTE, 0, b"\x00" * 300) + r.frame(77, 0, b"unknown cmd") +
               r.frame(200, 5, b"\xff" * 1000) + r.frame(r.PSH, 99, b"nobody") +
               r.frame(r.FIN, 98) + r.frame(r.HEART_RESP, 0) + r.frame(r.WASTE, 1, b"w"))
        s.send(open_frames(1, h.V4, echo.port, b"still alive"))
        assert s.stream_data(1, n=11) == b"still alive"
        assert not any(f[0] == r.ALERT for f in s.frames)


def test_proto_duplicate_syn_ignored(server, echo):
    with r.RawSession(server.port) as s:
        s.handshake(PASSWORD, first=open_frames(1, h.V4, echo.port, b"one"))
        assert s.stream_data(1, n=3) == b"one"
        s.send(r.frame(r.SYN, 1))
        s.send(r.frame(r.PSH, 1, b"two"))
        assert s.stream_data(1, n=3) == b"two", "stream 1 broken by a duplicate SYN"


def test_proto_destination_split_over_psh_frames(server, echo):
    """The destination address may arrive in pieces (one byte per PSH here,
    and a domain name split mid-name); data after it in the last piece is
    relayed. A malformed one (unknown address type), split or whole, ends its
    stream, and the session lives on."""
    with r.RawSession(server.port) as s:
        s.handshake(PASSWORD, first=r.frame(r.SYN, 1))
        addr = h.encode_socks_addr(h.V4, echo.port)
        for i in range(len(addr) - 1):
            s.send(r.frame(r.PSH, 1, addr[i:i + 1]))
        s.send(r.frame(r.PSH, 1, addr[-1:] + b"after split"))
        assert s.stream_data(1, n=11) == b"after split"
        name = h.encode_socks_addr("localhost", echo.port)
        s.send(r.frame(r.SYN, 2) + r.frame(r.PSH, 2, name[:5]))
        s.send(r.frame(r.PSH, 2, name[5:] + b"by name"))
        assert s.stream_data(2, n=7) == b"by name"
        s.send(r.frame(r.SYN, 3) + r.frame(r.PSH, 3, b"\x09\x01\x02"))        # whole, bad type
        s.send(r.frame(r.SYN, 4) + r.frame(r.PSH, 4, b"\x03\x10" + b"a" * 8))  # split name...
        s.send(r.frame(r.PSH, 4, b"\x00" + b"a" * 7 + b"\x00\x50"))          # ...holding a NUL
        for sid in (3, 4):
            s.wait_for(lambda c, fsid, d: fsid == sid and c == r.FIN, timeout=5)
        s.send(open_frames(5, h.V4, echo.port, b"still up"))
        assert s.stream_data(5, n=8) == b"still up"


def test_proto_dial_failure_ends_stream_not_session(server, echo):
    closed_port = h.free_port()
    with r.RawSession(server.port) as s:
        s.handshake(PASSWORD, first=open_frames(1, h.V4, closed_port, b"nobody home"))
        f = s.wait_for(lambda c, sid, d: sid == 1 and (c == r.FIN or (c == r.SYNACK and d)),
                       timeout=10)
        assert f[0] in (r.FIN, r.SYNACK)
        s.send(open_frames(2, h.V4, echo.port, b"next"))
        assert s.stream_data(2, n=4) == b"next"
        assert not any(f[0] == r.ALERT for f in s.frames)


def test_proto_domain_and_ipv6_destinations(server):
    with h.DualEcho() as d, r.RawSession(server.port) as s:
        s.handshake(PASSWORD, first=open_frames(1, "localhost", d.port, b"by name"))
        assert s.stream_data(1, n=7) == b"by name"
        s.send(open_frames(2, h.V6, d.port, b"by v6"))
        assert s.stream_data(2, n=5) == b"by v6"
        assert d.v6.connections >= 1


def test_proto_uot_connect_mode(server, udp_echo):
    """UDP over TCP v2, isConnect=1: datagrams are length + payload."""
    with r.RawSession(server.port) as s:
        req = b"\x01" + h.encode_socks_addr(h.V4, udp_echo.port)
        s.handshake(PASSWORD, first=open_frames(1, r.UOT_MAGIC, 0, req))
        s.wait_for(is_(r.SYNACK, 1), timeout=3)
        for i, n in enumerate((1, 100, 1400, 8000)):
            dg = h.payload(n, tag=i)
            s.send(r.frame(r.PSH, 1, struct.pack(">H", n) + dg))
            got = s.stream_data(1, n=2 + n, timeout=5)
            assert got == struct.pack(">H", n) + dg


def test_proto_uot_nonconnect_mode(server, udp_echo):
    """isConnect=0: each datagram carries a UoT-form address (00 IPv4, 01 IPv6),
    and replies carry their source address the same way."""
    with h.UdpEchoServer(host=h.V6) as u6, r.RawSession(server.port) as s:
        req = b"\x00" + h.encode_socks_addr(h.V4, udp_echo.port)
        s.handshake(PASSWORD, first=open_frames(1, r.UOT_MAGIC, 0, req))
        s.wait_for(is_(r.SYNACK, 1), timeout=3)
        buf = b""
        for i, (host, port) in enumerate([(h.V4, udp_echo.port), (h.V6, u6.port)] * 2):
            dg = h.payload(300 + i, tag=i)
            s.send(r.frame(r.PSH, 1, r.uot_addr(host, port) + struct.pack(">H", len(dg)) + dg))
            addr_len = 7 if host == h.V4 else 19
            need = addr_len + 2 + len(dg)
            buf += s.stream_data(1, n=need - len(buf), timeout=5)
            (src, used) = r.parse_uot_addr(buf)
            ln = struct.unpack(">H", buf[used:used + 2])[0]
            assert src == (host, port), "reply source %r, expected %r" % (src, (host, port))
            assert buf[used + 2:used + 2 + ln] == dg
            buf = buf[used + 2 + ln:]


def test_proto_settings_v1_gets_no_server_settings(server, echo):
    with r.RawSession(server.port) as s:
        s.send(r.auth_block(PASSWORD))
        s.send(r.frame(r.SETTINGS, 0, ("v=1\nclient=anytls/0.0.8\npadding-md5=%s" % r.DEFAULT_MD5).encode())
               + open_frames(1, h.V4, echo.port, b"v1 client"))
        assert s.stream_data(1, n=9) == b"v1 client"
        s.send(r.frame(r.PSH, 1, b"more"))
        assert s.stream_data(1, n=4) == b"more"
        assert not any(f[0] == r.SERVER_SETTINGS for f in s.frames), \
            "ServerSettings sent to a v=1 client"


def test_proto_auth_in_same_tcp_write_as_client_finished(server, echo):
    """The auth block (and the first frames) leave in the same TCP write as the
    client's TLS Finished. Repeated: the bug this guards against (data that
    arrives with the end of the handshake left unread until the auth timeout)
    depends on how the kernel hands the bytes over."""
    for i in range(10):
        first = (r.auth_block(PASSWORD) + r.frame(r.SETTINGS, 0, r.settings_data())
                 + open_frames(1, h.V4, echo.port, b"together %d" % i))
        s = r.CoalescedSession(server.port, first, timeout=5)
        try:
            want = b"together %d" % i
            try:
                got = s.stream_data(1, n=len(want), timeout=5)
            except (OSError, r.Closed) as e:
                raise AssertionError("attempt %d: no echo within 5 s (%r): the server did not read "
                                     "the auth that came with the client's Finished" % (i, e))
            assert got == want
        finally:
            s.close()


def _ready_session(port):
    """A v2 session whose ServerSettings has been read, nothing else pending."""
    s = r.RawSession(port)
    s.handshake(PASSWORD)
    s.wait_for(is_(r.SERVER_SETTINGS), timeout=5)
    assert not s.buf
    return s


def test_proto_synack_shares_the_first_answer_record(server):
    """A stream's SYNACK waits for the target's first bytes and leaves in the
    same TLS record as their PSH (one send and one client wake-up per short
    stream fewer); the reference's SYNACK-then-data order is kept."""
    with h.NumberingServer() as target:
        with _ready_session(server.port) as s:
            for sid in (1, 2, 3):
                before = len(s.records)
                s.send(open_frames(sid, h.V4, target.port, b"GET\n"))
                f = s.wait_for(lambda c, i, d: i == sid and c == r.PSH, timeout=5)
                mine = [x for x in s.frames if x[1] == sid]
                assert [x[0] for x in mine[:2]] == [r.SYNACK, r.PSH], mine
                assert mine[0][2] == b"", mine[0]
                assert len(s.records) == before + 1, (
                    "stream %d: SYNACK and the first PSH came in %d TLS records, not one"
                    % (sid, len(s.records) - before))
                assert f[2].endswith(b"\n")
                s.wait_for(is_(r.FIN, sid), timeout=5)


def test_proto_synack_for_a_quiet_target_within_hold(procs):
    """A target that says nothing still gets its stream acked, alone, about
    0.5 s after the SYN: well inside the v2 client's 3 s watchdog."""
    server = procs.server(password=PASSWORD, args=["--pool-type", "none"])   # no spares: open counts streams
    with h.HoldingServer() as target, _ready_session(server.port) as s:
        t0 = time.monotonic()
        s.send(open_frames(1, h.V4, target.port, b"hello?"))
        s.wait_for(is_(r.SYNACK, 1), timeout=3)
        waited = time.monotonic() - t0
        assert 0.35 <= waited <= 2.0, "SYNACK after %.3f s (held for the target's bytes up to 0.5 s)" % waited
        assert h.wait_until(lambda: target.open == 1, timeout=5)


def test_proto_synack_at_once_when_the_client_has_not_spoken(procs):
    """A client that waits for the SYNACK before letting its app speak (sent
    SYN and destination, no bytes) is acked at once, not after the hold: it
    would otherwise wait 0.5 s on every stream to a client-first protocol."""
    server = procs.server(password=PASSWORD, args=["--pool-type", "none"])
    with h.HoldingServer() as target, _ready_session(server.port) as s:
        t0 = time.monotonic()
        s.send(open_frames(1, h.V4, target.port))
        s.wait_for(is_(r.SYNACK, 1), timeout=3)
        waited = time.monotonic() - t0
        assert waited < 0.3, "SYNACK after %.3f s for a stream whose client sent no bytes" % waited
    with h.NumberingServer() as numbered, _ready_session(server.port) as s:
        s.send(open_frames(1, h.V4, numbered.port))
        s.wait_for(is_(r.SYNACK, 1), timeout=3)
        s.send(r.frame(r.PSH, 1, b"now\n"))   # the app speaks after the SYNACK
        assert s.stream_data(1, timeout=5).endswith(b"\n")


def test_proto_synack_owed_when_client_closes_first(procs):
    """A stream the client ends before its target answered is acked when it
    closes, not left to the hold timer (nor forgotten: the watchdog would end
    the session)."""
    server = procs.server(password=PASSWORD, args=["--pool-type", "none"])
    with h.HoldingServer() as target, _ready_session(server.port) as s:
        s.send(open_frames(1, h.V4, target.port, b"x"))
        assert h.wait_until(lambda: target.open == 1, timeout=5)
        time.sleep(0.05)   # the server has seen its connect complete: relaying
        t0 = time.monotonic()
        s.send(r.frame(r.FIN, 1))
        s.wait_for(is_(r.SYNACK, 1), timeout=3)
        assert time.monotonic() - t0 < 0.4, "SYNACK came with the hold timer, not at the close"
        s.send(open_frames(2, h.V4, target.port, b"y"))   # the session lives on
        s.wait_for(is_(r.SYNACK, 2), timeout=3)


def test_proto_v1_client_gets_no_synack(server, echo):
    """SYNACK (cmd 7) exists from protocol v2 on; the reference sends it only to
    a client that said v >= 2. A v1 client skips cmd 7 without reading its body,
    so an error text would put its frame stream out of step."""
    closed_port = h.free_port()
    with r.RawSession(server.port) as s:
        s.send(r.auth_block(PASSWORD))
        s.send(r.frame(r.SETTINGS, 0, r.settings_data(version=1, client="anytls/0.0.8"))
               + open_frames(1, h.V4, echo.port, b"v1 ok"))
        assert s.stream_data(1, n=5) == b"v1 ok"
        s.send(open_frames(2, h.V4, closed_port, b"nobody home"))
        s.wait_for(is_(r.FIN, 2), timeout=10)   # the failed dial ends the stream with FIN
        s.send(open_frames(3, h.V4, echo.port, b"still in step"))
        assert s.stream_data(3, n=13) == b"still in step"
        synacks = [f for f in s.frames if f[0] == r.SYNACK]
        assert not synacks, "SYNACK sent to a v=1 client: %r" % synacks


def test_proto_large_padding_scheme_sent_whole(procs, echo, tmp_path):
    """A scheme of 4 KiB goes out whole in one UpdatePaddingScheme frame (it was
    cut at 1,024 bytes, so the md5 never matched and it was resent forever)."""
    lines = [b"stop=8", b"0=30-30", b"1=100-400"]
    k = 2
    while sum(len(x) + 1 for x in lines) < 4096:
        lines.append(b"%d=500-1000,c,500-1000,c,500-1000,c,500-1000,c,500-1000" % k)
        k += 1
    scheme = b"\n".join(lines)
    assert len(scheme) >= 4096
    f = tmp_path / "big-scheme.txt"
    f.write_bytes(scheme)
    server = procs.server(password=PASSWORD, args=["--padding-scheme", f])
    with r.RawSession(server.port) as s:
        s.handshake(PASSWORD, first=open_frames(1, h.V4, echo.port, b"z"))
        upd = s.wait_for(is_(r.UPDATE_PADDING, 0), timeout=5)
        assert upd[2] == scheme, "scheme of %d bytes arrived as %d bytes" % (len(scheme), len(upd[2]))
        assert s.stream_data(1, n=1) == b"z"
    # a client that now holds the scheme's md5 is not sent it again
    md5 = hashlib.md5(scheme).hexdigest()
    with r.RawSession(server.port) as s:
        s.handshake(PASSWORD, md5=md5, first=open_frames(1, h.V4, echo.port, b"w"))
        assert s.stream_data(1, n=1) == b"w"
        assert not any(f[0] == r.UPDATE_PADDING for f in s.frames)


def test_proto_short_first_record_closed_at_once(server):
    """Fewer bytes than an auth block in the first record: closed at once, as the
    reference does (it reads once) and as for a wrong password -- not after the
    10 s auth timeout."""
    for first in (r.auth_block(PASSWORD)[:20], b"\x16"):
        with r.RawSession(server.port) as s:
            t0 = time.monotonic()
            s.send(first)
            assert s.wait_closed(5), "server kept a connection with a short first record open"
            assert time.monotonic() - t0 < 2, "closed only after %.1f s" % (time.monotonic() - t0)
            assert s.frames == []
    assert "shorter than an auth block" in server.log()


def test_proto_uot_v1_magic_name(server, udp_echo):
    """The v1 magic name sp.udp-over-tcp.arpa carries UDP too (the reference
    reads a UoT request for any name in udp-over-tcp.arpa)."""
    with r.RawSession(server.port) as s:
        req = b"\x01" + h.encode_socks_addr(h.V4, udp_echo.port)
        s.handshake(PASSWORD, first=open_frames(1, "sp.udp-over-tcp.arpa", 0, req))
        s.wait_for(is_(r.SYNACK, 1), timeout=3)
        dg = h.payload(200, tag=7)
        s.send(r.frame(r.PSH, 1, struct.pack(">H", len(dg)) + dg))
        assert s.stream_data(1, n=2 + len(dg), timeout=5) == struct.pack(">H", len(dg)) + dg


def test_proto_uot_to_names(server, udp_echo):
    """UoT datagrams to a name are resolved, not dropped (sing-box's inbound
    resolves them too): non-connect mode per datagram, connect mode once."""
    with r.RawSession(server.port) as s:
        req = b"\x00" + h.encode_socks_addr(h.V4, udp_echo.port)
        s.handshake(PASSWORD, first=open_frames(1, r.UOT_MAGIC, 0, req))
        s.wait_for(is_(r.SYNACK, 1), timeout=3)
        buf = b""
        for i in range(3):
            dg = h.payload(100 + i, tag=i)
            s.send(r.frame(r.PSH, 1, r.uot_addr("localhost", udp_echo.port) + struct.pack(">H", len(dg)) + dg))
            need = 7 + 2 + len(dg)      # the reply's source is the IPv4 address the name resolved to
            buf += s.stream_data(1, n=need - len(buf), timeout=5)
            (src, used) = r.parse_uot_addr(buf)
            assert src == (h.V4, udp_echo.port), src
            ln = struct.unpack(">H", buf[used:used + 2])[0]
            assert buf[used + 2:used + 2 + ln] == dg
            buf = buf[used + 2 + ln:]
    with r.RawSession(server.port) as s:
        req = b"\x01" + h.encode_socks_addr("localhost", udp_echo.port)
        s.handshake(PASSWORD, first=open_frames(1, r.UOT_MAGIC, 0, req))
        s.wait_for(is_(r.SYNACK, 1), timeout=3)
        for i, n in enumerate((1, 500)):
            dg = h.payload(n, tag=i)
            s.send(r.frame(r.PSH, 1, struct.pack(">H", n) + dg))
            assert s.stream_data(1, n=2 + n, timeout=5) == struct.pack(">H", n) + dg


def test_proto_uot_unresolvable_name_dropped_and_logged_once(server, udp_echo):
    with r.RawSession(server.port) as s:
        req = b"\x00" + h.encode_socks_addr(h.V4, udp_echo.port)
        s.handshake(PASSWORD, first=open_frames(1, r.UOT_MAGIC, 0, req))
        s.wait_for(is_(r.SYNACK, 1), timeout=3)
        for i in range(5):
            s.send(r.frame(r.PSH, 1, r.uot_addr("no-such-name.invalid", 9) + struct.pack(">H", 3) + b"abc"))
        # the stream still works for a resolvable destination
        dg = b"still here"
        s.send(r.frame(r.PSH, 1, r.uot_addr(h.V4, udp_echo.port) + struct.pack(">H", len(dg)) + dg))
        got = s.stream_data(1, n=7 + 2 + len(dg), timeout=10)
        assert got.endswith(dg)
    assert h.wait_until(lambda: "dropped" in server.log(), timeout=10)
    assert server.log().count("UDP datagram to") == 1, server.log_tail()
