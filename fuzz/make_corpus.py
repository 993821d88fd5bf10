#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/) from the
protocol's real bytes: the PROTOCOL.md section 7 first flight, the default
padding scheme, what servers answer, SOCKS5/4/4a and HTTP proxy requests, UoT
requests and datagrams, server URIs.

Deterministic: the same files every run (no randomness, no clock). Only the
files named here are written; other files in the corpus folders (regression
inputs from crashes, named crash-*) are left alone.

    fuzz/make_corpus.py            write them
    fuzz/make_corpus.py --check    exit 1 if a committed seed differs or is missing

The first byte of an input picks a mode in some targets (see each fuzz_X.c):
  kv: output capacity; addr: form (bit 0: 0 SOCKS5, 1 UoT); inbound: parser
  (0 greeting, 1 request, 2 SOCKS4, 3 HTTP, 4 UDP header, 5-7 by first byte);
  uot: bit 0 request first, bit 1 isConnect; uri: error buffer capacity;
  http: bit 0 a response (else a request head + body), bit 1 it answers HEAD.
"""
import hashlib
import os
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

PADDING_DEFAULT = (b"stop=8\n"
                   b"0=30-30\n"
                   b"1=100-400\n"
                   b"2=400-500,c,500-1000,c,500-1000,c,500-1000,c,500-1000\n"
                   b"3=9-9,500-1000\n"
                   b"4=500-1000\n"
                   b"5=500-1000\n"
                   b"6=500-1000\n"
                   b"7=500-1000")
assert len(PADDING_DEFAULT) == 137
assert hashlib.md5(PADDING_DEFAULT).hexdigest() == "75cff2ad89aadf5e257059ee571ebe11"

CMD_WASTE, CMD_SYN, CMD_PSH, CMD_FIN, CMD_SETTINGS, CMD_ALERT, CMD_UPDATE_PADDING, \
    CMD_SYNACK, CMD_HEART_REQ, CMD_HEART_RESP, CMD_SERVER_SETTINGS = range(11)

UOT_MAGIC = b"sp.v2.udp-over-tcp.arpa"


def frame(cmd, sid, data=b""):
    return struct.pack(">BIH", cmd, sid, len(data)) + data


# -- addresses ---------------------------------------------------------------

def socks_addr(kind, host, port):
    if kind == "v4":
        return b"\x01" + bytes(host) + struct.pack(">H", port)
    if kind == "v6":
        return b"\x04" + bytes(host) + struct.pack(">H", port)
    return b"\x03" + bytes([len(host)]) + host + struct.pack(">H", port)


def uot_addr(kind, host, port):
    if kind == "v4":
        return b"\x00" + bytes(host) + struct.pack(">H", port)
    if kind == "v6":
        return b"\x01" + bytes(host) + struct.pack(">H", port)
    return b"\x02" + bytes([len(host)]) + host + struct.pack(">H", port)


V4 = [127, 0, 0, 1]
V4B = [93, 184, 216, 34]
V6 = [0x20, 0x01, 0x0d, 0xb8] + [0] * 11 + [1]
V6LO = [0] * 15 + [1]
ADDRS = [("v4", V4, 1080), ("v4", V4B, 443), ("v6", V6, 443), ("v6", V6LO, 53),
         ("name", b"example.com", 443), ("name", UOT_MAGIC, 0), ("name", b"a", 1),
         ("name", b"x" * 255, 65535)]

# -- the first flight (PROTOCOL.md section 7) ---------------------------------

PASS_HASH = hashlib.sha256(b"password").digest()
assert PASS_HASH.hex() == "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
RECORD_A = PASS_HASH + struct.pack(">H", 30) + bytes(30)
SETTINGS = b"v=2\nclient=anytls/0.0.13\npadding-md5=75cff2ad89aadf5e257059ee571ebe11"
assert len(SETTINGS) == 0x45
FIRST_FRAMES = (frame(CMD_SETTINGS, 0, SETTINGS) + frame(CMD_SYN, 1) +
                frame(CMD_PSH, 1, socks_addr("name", b"example.com", 443)))
assert FIRST_FRAMES[-15:] == b"\x03\x0bexample.com\x01\xbb"


def padded(payload, size):
    """Record B: padded to `size` with a Waste frame (room for its header)."""
    assert size - len(payload) > 7
    return payload + frame(CMD_WASTE, 0, bytes(size - len(payload) - 7))


RECORD_B = padded(FIRST_FRAMES, 250)  # a size drawn from line 1 (100-400)

HTTP_GET = (b"GET http://example.com/index.html?q=1 HTTP/1.1\r\n"
            b"Host: example.com\r\n"
            b"User-Agent: curl/8.5.0\r\n"
            b"Accept: */*\r\n"
            b"Proxy-Connection: Keep-Alive\r\n"
            b"\r\n")


# ---- the stateful targets: [config][m][schedule][stream] ----
# Arguments of S_DIAL: how the next dial goes (fake_net.h), + 4 * errno index.
S_DIAL_OK, S_DIAL_SLOW, S_DIAL_REFUSED, S_DIAL_FAIL_REFUSED = range(4)
# Schedule ops (low nibble; the argument in the high one), as in
# fuzz_server_session.c / fuzz_client_session.c.
S_FEED_S, S_FEED_M, S_FEED_L, S_ITER, S_TIME, S_DNS_OK, S_DNS_FAIL, S_TGT_DATA, \
    S_TGT_CLOSE, S_TGT_READ, S_OUT_DRAIN, S_EPOLLIN, S_DIAL, S_UDP_REPLY, \
    S_CLIENT_CLOSE, S_DRAIN = range(16)


C_FEED_S, C_FEED_M, C_FEED_L, C_ITER, C_TIME, C_APP_DATA, C_APP_CLOSE, C_APP_READ, \
    C_NEW_CONN, C_OUT_DRAIN, C_PUSH, C_UDP_APP, C_SELECT, C_DIAL, C_SERVER_CLOSE, \
    C_DRAIN = range(16)
# C_NEW_CONN's argument (and the client target's config byte): bits 0-1 the
# request, bit 2 data behind it, bit 3 the other destination.
CK_SOCKS5, CK_HTTP_CONNECT, CK_HTTP_GET, CK_UDP = range(4)


def op(o, arg=0):
    assert 0 <= o < 16 and 0 <= arg < 16
    return bytes([arg << 4 | o])


def session_input(config, sched, stream):
    assert len(sched) < 256
    return bytes([config, len(sched)]) + sched + stream


def settings(v=2, md5="75cff2ad89aadf5e257059ee571ebe11"):
    text = b"v=%d\nclient=anytls/0.0.13\npadding-md5=%s" % (v, md5.encode())
    return frame(CMD_SETTINGS, 0, text)


def open_stream(sid, addr, data=b""):
    return frame(CMD_SYN, sid) + frame(CMD_PSH, sid, addr + data)


def corpus():
    c = {}

    # ---- frame: the stream after the auth block, both directions ----
    f = c.setdefault("frame", {})
    f["first_flight_record_b"] = RECORD_B
    f["first_flight_unpadded"] = FIRST_FRAMES
    f["client_data"] = (frame(CMD_PSH, 1, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n") +
                        frame(CMD_WASTE, 0, bytes(40)) + frame(CMD_FIN, 1))
    f["second_stream"] = (frame(CMD_SYN, 3) +
                          frame(CMD_PSH, 3, socks_addr("v4", V4B, 80) + b"hello") +
                          frame(CMD_HEART_REQ, 0) + frame(CMD_FIN, 3))
    f["uot_stream"] = (frame(CMD_SYN, 2) +
                       frame(CMD_PSH, 2, socks_addr("name", UOT_MAGIC, 0)) +
                       frame(CMD_PSH, 2, b"\x00" + socks_addr("v4", [8, 8, 8, 8], 53)) +
                       frame(CMD_PSH, 2, uot_addr("v4", [8, 8, 8, 8], 53) +
                             struct.pack(">H", 5) + b"query"))
    f["server_answer"] = (frame(CMD_UPDATE_PADDING, 0, PADDING_DEFAULT) +
                          frame(CMD_SERVER_SETTINGS, 0, b"v=2") + frame(CMD_SYNACK, 1) +
                          frame(CMD_PSH, 1, b"HTTP/1.1 200 OK\r\n\r\n"))
    f["server_errors"] = (frame(CMD_SYNACK, 3, b"dial tcp: connection refused") +
                          frame(CMD_HEART_RESP, 0) +
                          frame(CMD_ALERT, 0, b"client did not send its settings"))
    f["unknown_cmds"] = frame(11, 0, b"x") + frame(200, 7, bytes(20)) + frame(255, 0xffffffff)
    f["empty_psh"] = frame(CMD_PSH, 1) + frame(CMD_PSH, 1, b"a") + frame(CMD_FIN, 1)
    f["big_psh"] = frame(CMD_PSH, 1, bytes(range(256)) * 4)
    f["partial_header"] = FIRST_FRAMES + b"\x02\x00\x00"
    f["partial_control"] = frame(CMD_SETTINGS, 0, SETTINGS)[:40]
    f["partial_psh"] = struct.pack(">BIH", CMD_PSH, 1, 1000) + b"partial"
    f["waste_only"] = frame(CMD_WASTE, 0, bytes(100)) + frame(CMD_WASTE, 0)

    # ---- auth: the server's whole input, auth block first ----
    a = c.setdefault("auth", {})
    a["first_flight"] = RECORD_A + RECORD_B
    a["first_flight_one_record"] = RECORD_A + FIRST_FRAMES
    a["auth_only"] = RECORD_A
    a["no_padding"] = PASS_HASH + b"\x00\x00" + FIRST_FRAMES
    a["long_padding"] = PASS_HASH + struct.pack(">H", 300) + bytes(300) + FIRST_FRAMES
    a["wrong_password"] = hashlib.sha256(b"wrong").digest() + struct.pack(">H", 30) + bytes(30)
    a["short"] = RECORD_A[:33]
    a["padding_pending"] = PASS_HASH + struct.pack(">H", 1000) + bytes(10)

    # ---- padding: scheme texts (UpdatePaddingScheme bodies, --padding-scheme) ----
    p = c.setdefault("padding", {})
    p["default"] = PADDING_DEFAULT
    p["default_crlf_trailing"] = PADDING_DEFAULT.replace(b"\n", b"\r\n") + b"\n"
    p["small"] = b"stop=3\n0=10-20\n1=c,5-5,100-1\n2=1-2,c,3-4"
    p["reordered_dupes"] = b"1=10-20\nstop=2\n0=5-5\n1=30-40\nstop=4"
    p["bad_items"] = b"stop=5\n0=0-10,-5-5,a-b,1--2,c,c,7\n1=1-2147483647,1-2147483648"
    p["many_items"] = b"stop=64\n" + b"\n".join(
        b"%d=" % i + b",".join(b"%d-%d" % (j + 1, j + 10) for j in range(8)) for i in range(64))
    p["long_line"] = b"stop=2\n1=" + b",".join([b"1-3", b"c"] * 40)
    p["stop_big"] = b"stop=4294967297\n0=1-1"
    p["stop_bad"] = b"stop=x\n0=30-30"
    p["no_stop"] = b"0=30-30\n1=100-400"
    p["keys_odd"] = b"stop=+3\n00=1-1\n-1=1-1\n99=1-1\n1=c\n=\n\n2"

    # ---- kv: capacity byte + Settings / ServerSettings text ----
    k = c.setdefault("kv", {})
    k["settings"] = b"\x07" + SETTINGS
    k["settings_cap1"] = b"\x01" + SETTINGS
    k["settings_cap0"] = b"\x00" + SETTINGS
    k["server_settings"] = b"\x06" + b"v=2"
    k["reordered"] = b"\x05" + b"padding-md5=00\nv=1\nclient=sing-box/1.12\nv=2\n"
    k["odd_lines"] = b"\x08" + b"=x\nv\nv==2\n\nclient=a=b\n"
    k["empty"] = b"\x07"

    # ---- addr: form byte + address ----
    d = c.setdefault("addr", {})
    for i, (kind, host, port) in enumerate(ADDRS):
        d["socks_%d_%s" % (i, kind)] = b"\x00" + socks_addr(kind, host, port) + b"trailing"
        d["uot_%d_%s" % (i, kind)] = b"\x01" + uot_addr(kind, host, port)
    d["text_v4"] = b"\x02" + b"127.0.0.1:1080"
    d["text_v6"] = b"\x02" + b"[2001:db8::1]:443"
    d["text_name"] = b"\x02" + b"example.com:80"
    d["bad_type"] = b"\x00\x05\x00"
    d["empty_name"] = b"\x00\x03\x00\x00\x50"

    # ---- inbound: parser byte + what a local application sends ----
    n = c.setdefault("inbound", {})
    n["s5_greeting_noauth"] = b"\x00" + b"\x05\x01\x00"
    n["s5_greeting_two"] = b"\x00" + b"\x05\x02\x02\x00"
    n["s5_greeting_no_methods"] = b"\x00" + b"\x05\x00"
    for i, (kind, host, port) in enumerate(ADDRS):
        n["s5_connect_%d_%s" % (i, kind)] = b"\x01" + b"\x05\x01\x00" + socks_addr(kind, host, port)
    n["s5_udp_associate"] = b"\x01" + b"\x05\x03\x00" + socks_addr("v4", [0, 0, 0, 0], 0)
    n["s5_dispatch_greeting"] = b"\x05" + b"\x05\x01\x00"
    n["s5_dispatch_request"] = b"\x06" + b"\x05\x01\x00" + socks_addr("name", b"example.com", 443)
    n["s4_connect"] = b"\x02" + b"\x04\x01" + struct.pack(">H", 80) + bytes(V4B) + b"user\x00"
    n["s4a_connect"] = (b"\x02" + b"\x04\x01" + struct.pack(">H", 443) + b"\x00\x00\x00\x01" +
                        b"\x00" + b"example.com\x00")
    n["s4_dispatch"] = b"\x07" + b"\x04\x01\x00\x50\x7f\x00\x00\x01\x00"
    n["http_connect"] = b"\x03" + (b"CONNECT example.com:443 HTTP/1.1\r\n"
                                   b"Host: example.com:443\r\n\r\n")
    n["http_connect_v6"] = b"\x03" + b"CONNECT [::1]:8443 HTTP/1.1\r\n\r\n"
    n["http_get"] = b"\x03" + HTTP_GET
    n["http_get_dispatch"] = b"\x07" + HTTP_GET + b"body"
    n["http_post_headers"] = b"\x03" + (b"POST http://user:pw@10.0.0.1:8080?x#frag HTTP/1.0\n"
                                        b"Proxy-Authorization: Basic dXNlcjpwdw==\n"
                                        b"X-Folded: a\n"
                                        b"\tcontinued\n"
                                        b"proxy-connection: close\n"
                                        b"  dropped too\n"
                                        b"Content-Length: 0\n\n")
    n["http_get_v6_noport"] = b"\x03" + b"HEAD http://[2001:db8::1]/ HTTP/1.1\r\n\r\n"
    n["udp_v4"] = b"\x04" + b"\x00\x00\x00" + socks_addr("v4", [8, 8, 8, 8], 53) + b"payload"
    n["udp_name"] = b"\x04" + b"\x00\x00\x00" + socks_addr("name", b"example.com", 53) + b"q"
    n["udp_frag"] = b"\x04" + b"\x00\x00\x01" + socks_addr("v4", V4, 53)

    # ---- http: mode byte (bit 0 response, bit 1 to a HEAD request) + message ----
    t = c.setdefault("http", {})
    t["req_get"] = b"\x00" + b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\n\r\n"
    t["req_post_length"] = b"\x00" + b"POST /f HTTP/1.1\r\nContent-Length: 7\r\n\r\nx=1&y=2GET"
    t["req_post_chunked"] = (b"\x00" + b"POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                             b"4;ext=1\r\nabcd\r\n0\r\nTrailer: x\r\n\r\nGET")
    t["req_te_gzip"] = b"\x00" + b"POST / HTTP/1.1\nTransfer-Encoding: gzip\n\nbody"
    t["req_cl_conflict"] = b"\x00" + b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
    t["resp_length"] = b"\x01" + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP"
    t["resp_chunked"] = (b"\x01" + b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                         b"5\r\nhello\r\nA\r\n0123456789\r\n0\r\n\r\nX")
    t["resp_head"] = b"\x03" + b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
    t["resp_interim"] = (b"\x01" + b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
    t["resp_upgrade"] = b"\x01" + b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00"
    t["resp_close"] = b"\x01" + b"HTTP/1.0 200 OK\n\nuntil the close"
    t["resp_folded_cl"] = b"\x01" + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n 6\r\n\r\n"

    # ---- uot: mode byte + UoT stream ----
    u = c.setdefault("uot", {})
    dg = uot_addr("v4", [8, 8, 8, 8], 53) + struct.pack(">H", 5) + b"query"
    dg6 = uot_addr("v6", V6, 443) + struct.pack(">H", 3) + b"abc"
    dgn = uot_addr("name", b"example.com", 123) + struct.pack(">H", 0)
    u["request_not_connect"] = b"\x01" + b"\x00" + socks_addr("v4", [8, 8, 8, 8], 53) + dg + dg6 + dgn
    u["request_connect"] = (b"\x01" + b"\x01" + socks_addr("name", b"example.com", 53) +
                            struct.pack(">H", 5) + b"hello" + struct.pack(">H", 0) +
                            struct.pack(">H", 2) + b"hi")
    u["request_connect_v6"] = b"\x01" + b"\x02" + socks_addr("v6", V6, 443)
    u["datagrams_not_connect"] = b"\x00" + dg + dg6 + dgn + dg[:5]
    u["datagrams_connect"] = b"\x02" + struct.pack(">H", 4) + b"ping" + struct.pack(">H", 600) + bytes(600)
    u["datagram_partial"] = b"\x02" + struct.pack(">H", 100) + b"short"

    # ---- uri: error-capacity byte + the client's -s argument ----
    r = c.setdefault("uri", {})
    r["anytls_sni"] = b"\x05" + b"anytls://password@example.com:8443?sni=example.com"
    r["anytls_v6_escapes"] = b"\x05" + b"anytls://p%40ss%3Aw0rd@[2001:db8::1]:443/?insecure=1&sni=a.b#my%20label"
    r["anytls_nopass"] = b"\x04" + b"ANYTLS://example.com:443/"
    r["hostport"] = b"\x05" + b"example.com:443"
    r["hostport_v4"] = b"\x03" + b"1.2.3.4:8443"
    r["hostport_v6"] = b"\x02" + b"[::1]:8443"
    r["bad_scheme"] = b"\x05" + b"vless://uuid@example.com:443"
    r["bad_port"] = b"\x01" + b"anytls://pw@example.com:99999"
    r["bad_escape"] = b"\x15" + b"anytls://%zz@h:1"
    r["sni_twice"] = b"\x12" + b"anytls://a@h:1?sni=x&sni=y&sni=%41"
    # ---- server_session: [config][m][schedule][the client's stream] ----
    v = c.setdefault("server_session", {})
    auth = op(S_FEED_M, 0)                      # RECORD_A is 64 bytes: one read
    get = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
    relay = (op(S_ITER) + op(S_OUT_DRAIN) + op(S_TGT_DATA, 1) + op(S_ITER) + op(S_OUT_DRAIN) +
             op(S_TGT_READ) + op(S_TGT_CLOSE) + op(S_ITER))
    v["first_flight_name"] = session_input(
        0, auth + op(S_FEED_L) + op(S_DNS_OK) + relay,
        RECORD_A + RECORD_B + frame(CMD_PSH, 1, get) + frame(CMD_FIN, 1))
    v["first_flight_ip"] = session_input(
        0, auth + op(S_FEED_L) + relay,
        RECORD_A + settings() + open_stream(1, socks_addr("v4", V4B, 80), get) + frame(CMD_FIN, 1))
    v["one_read"] = session_input(0, b"", RECORD_A + FIRST_FRAMES)
    v["byte_by_byte"] = session_input(
        0, auth + op(S_FEED_S, 0) * 120 + op(S_ITER) + op(S_OUT_DRAIN),
        RECORD_A + settings() + open_stream(3, socks_addr("v6", V6, 443), b"hi") + frame(CMD_HEART_REQ, 0))
    v["v1_no_synack"] = session_input(
        1, auth + op(S_FEED_L) + op(S_DIAL, S_DIAL_FAIL_REFUSED) + op(S_FEED_L) + op(S_OUT_DRAIN),
        RECORD_A + settings(v=1, md5="00") + open_stream(1, socks_addr("v4", V4B, 81)))
    v["syn_before_settings"] = session_input(
        0, auth + op(S_FEED_L), RECORD_A + open_stream(1, socks_addr("v4", V4B, 80)))
    v["wrong_password"] = session_input(
        0, b"", hashlib.sha256(b"wrong").digest() + struct.pack(">H", 0) + FIRST_FRAMES)
    v["auth_split"] = session_input(0, op(S_FEED_S, 15) + op(S_FEED_L), RECORD_A + FIRST_FRAMES)
    v["auth_timeout"] = session_input(0, op(S_TIME, 12), RECORD_A)
    v["session_cap"] = session_input(8, b"", RECORD_A + FIRST_FRAMES)
    v["dns_fail_and_refused"] = session_input(
        0, auth + op(S_FEED_L) + op(S_DNS_FAIL, 0) + op(S_ITER) + op(S_OUT_DRAIN),
        RECORD_A + settings() + b"".join(
            open_stream(2 * i + 1, socks_addr("name", b"host%d.example" % i, 443)) for i in range(6)))
    v["dial_modes"] = session_input(
        0, auth + op(S_FEED_M) +
        op(S_DIAL, S_DIAL_SLOW) + op(S_FEED_S, 15) + op(S_FEED_S, 2) + op(S_ITER) + op(S_FEED_S, 15) +
        op(S_DIAL, S_DIAL_REFUSED) + op(S_FEED_S, 15) + op(S_FEED_S, 2) + op(S_ITER) +
        op(S_DIAL, S_DIAL_FAIL_REFUSED | 4) + op(S_FEED_S, 15) + op(S_FEED_S, 2) +
        op(S_TIME, 9) + op(S_TIME, 12) + op(S_TGT_READ) + op(S_ITER) + op(S_OUT_DRAIN),
        RECORD_A + settings() +
        open_stream(1, socks_addr("v4", V4B, 80), b"x" * 3) + frame(CMD_PSH, 1, b"queued") +
        open_stream(3, socks_addr("v4", V4B, 82), b"y" * 3) +
        open_stream(5, socks_addr("v4", V4B, 83), b"z" * 3))
    v["tight_limits"] = session_input(
        2, auth + op(S_FEED_L) + op(S_ITER) + op(S_FEED_L) + op(S_TIME, 13) + op(S_OUT_DRAIN) +
        op(S_TGT_READ) + op(S_ITER) + op(S_FEED_L) + op(S_TIME, 9) + op(S_TIME, 9) + op(S_OUT_DRAIN),
        RECORD_A + settings() + b"".join(
            open_stream(i, socks_addr("v4", V4B, 80), bytes(400)) for i in range(1, 6)) +
        frame(CMD_PSH, 1, bytes(1000)))
    v["pool_lock_refills"] = session_input(
        1 | 16, auth + op(S_FEED_M, 1) + op(S_ITER) + op(S_TIME, 5) + op(S_ITER) + op(S_TIME, 5) +
        op(S_ITER) + op(S_FEED_L) + op(S_ITER) + op(S_OUT_DRAIN) + op(S_TIME, 15) + op(S_TIME, 15),
        RECORD_A + settings() + open_stream(1, socks_addr("v4", V4B, 80), get) + frame(CMD_FIN, 1) +
        open_stream(3, socks_addr("v4", V4B, 80), get) + open_stream(5, socks_addr("name", b"a.example", 1)))
    v["pool_lock_tight"] = session_input(
        1 | 2 | 16, auth + op(S_FEED_L) + op(S_TIME, 2) + op(S_TIME, 2) + op(S_TIME, 9) + op(S_OUT_DRAIN),
        RECORD_A + settings() + open_stream(1, socks_addr("v4", V4B, 80)) +
        open_stream(3, socks_addr("v4", V4B, 80)))
    uot_req = lambda connect, kind, host, port: (bytes([connect]) + socks_addr(kind, host, port))
    dgram = lambda kind, host, port, data: uot_addr(kind, host, port) + struct.pack(">H", len(data)) + data
    v["uot"] = session_input(
        4, auth + op(S_FEED_L) + op(S_ITER) + op(S_UDP_REPLY, 0) + op(S_UDP_REPLY, 1) +
        op(S_UDP_REPLY, 2 | 4) + op(S_ITER) + op(S_DNS_OK, 0) + op(S_ITER) + op(S_DNS_FAIL) + op(S_ITER) +
        op(S_OUT_DRAIN) + op(S_TGT_READ),
        RECORD_A + settings() + frame(CMD_SYN, 1) +
        frame(CMD_PSH, 1, socks_addr("name", UOT_MAGIC, 0) + uot_req(0, "v4", [8, 8, 8, 8], 53)) +
        frame(CMD_PSH, 1, dgram("v4", [8, 8, 8, 8], 53, b"query") + dgram("v6", V6, 53, b"q6") +
              dgram("name", b"dns.example", 53, b"qn") + dgram("name", b"other.example", 53, b"qo")) +
        frame(CMD_PSH, 1, dgram("name", b"dns.example", 53, b"again")))
    v["uot_connect_name"] = session_input(
        0, auth + op(S_FEED_L) + op(S_ITER) + op(S_DNS_OK, 1) + op(S_ITER) + op(S_UDP_REPLY, 1) +
        op(S_ITER) + op(S_OUT_DRAIN),
        RECORD_A + settings() + frame(CMD_SYN, 1) + frame(CMD_PSH, 1, socks_addr("name", UOT_MAGIC, 0)) +
        frame(CMD_PSH, 1, uot_req(1, "name", b"dns.example", 53)[:5]) +
        frame(CMD_PSH, 1, uot_req(1, "name", b"dns.example", 53)[5:] + struct.pack(">H", 2) + b"hi"))
    v["heartbeats_and_junk"] = session_input(
        0, auth + op(S_FEED_S, 6) * 8 + op(S_FEED_L) + op(S_OUT_DRAIN) + op(S_EPOLLIN),
        RECORD_A + settings() + settings() + frame(CMD_HEART_REQ, 9) * 3 + frame(CMD_WASTE, 0, bytes(20)) +
        frame(CMD_ALERT, 0, b"x") + frame(CMD_SYNACK, 1) + frame(200, 1, b"?") +
        frame(CMD_FIN, 77) + frame(CMD_PSH, 77, b"nobody") + frame(CMD_SYN, 1) + frame(CMD_SYN, 1) +
        frame(CMD_PSH, 1, socks_addr("name", b"x" * 200, 443)[:100]) +
        frame(CMD_PSH, 1, socks_addr("name", b"x" * 200, 443)[100:]) + frame(CMD_SYN, 2) +
        frame(CMD_PSH, 2, b"\x09bad") + frame(CMD_SYN, 0xffffffff) + frame(CMD_FIN, 0xffffffff))
    v["stream_timeouts"] = session_input(
        0, auth + op(S_FEED_L) + op(S_TIME, 9) + op(S_TIME, 12) + op(S_TIME, 12) + op(S_OUT_DRAIN),
        RECORD_A + settings() + frame(CMD_SYN, 1) + open_stream(3, socks_addr("name", b"slow.example", 80)))
    v["client_close"] = session_input(
        0, auth + op(S_FEED_L) + op(S_CLIENT_CLOSE) + op(S_ITER),
        RECORD_A + settings() + open_stream(1, socks_addr("v4", V4B, 80), get))
    v["drain"] = session_input(
        0, auth + op(S_FEED_L) + op(S_ITER) + op(S_DRAIN) + op(S_TGT_CLOSE) + op(S_ITER) + op(S_ITER),
        RECORD_A + settings() + open_stream(1, socks_addr("v4", V4B, 80), get))
    v["output_full"] = session_input(
        0, auth + op(S_FEED_L) + op(S_ITER) + op(S_TGT_DATA, 3) + op(S_ITER) + op(S_TGT_DATA, 3) +
        op(S_ITER) + op(S_ITER) + op(S_TGT_DATA, 3) + op(S_ITER) + op(S_ITER) + op(S_TGT_DATA, 3) +
        op(S_ITER) + op(S_ITER) + op(S_TGT_DATA, 3) + op(S_ITER) + op(S_ITER) + op(S_TGT_DATA, 3) +
        op(S_ITER) + op(S_ITER) + op(S_TGT_DATA, 3) + op(S_ITER) + op(S_ITER) + op(S_TGT_DATA, 3) +
        op(S_ITER) + op(S_ITER) + op(S_TGT_DATA, 3) + op(S_ITER) + op(S_ITER) + op(S_FEED_S) +
        op(S_FEED_S) + op(S_TIME, 13) + op(S_OUT_DRAIN) + op(S_ITER) + op(S_FEED_S),
        RECORD_A + settings() + open_stream(1, socks_addr("v4", V4B, 80), get) + frame(CMD_HEART_REQ, 0) * 4)

    # ---- client_session: [config][m][schedule][what the server sends] ----
    l = c.setdefault("client_session", {})
    ok = frame(CMD_SERVER_SETTINGS, 0, b"v=2")
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    l["socks5_reuse"] = session_input(
        CK_SOCKS5, op(C_OUT_DRAIN) + op(C_FEED_L) + op(C_APP_READ) + op(C_APP_DATA, 1) + op(C_OUT_DRAIN) +
        op(C_FEED_M, 0) + op(C_ITER) + op(C_NEW_CONN, CK_SOCKS5 | 8) + op(C_ITER) + op(C_OUT_DRAIN) +
        op(C_FEED_L) + op(C_APP_READ) + op(C_APP_CLOSE) + op(C_ITER) + op(C_OUT_DRAIN),
        ok + frame(CMD_SYNACK, 1) + frame(CMD_PSH, 1, b"HTTP/1.1 200 OK\r\n\r\n") + frame(CMD_FIN, 1) +
        frame(CMD_WASTE, 0, bytes(57)) +
        frame(CMD_SYNACK, 2) + frame(CMD_PSH, 2, b"second") + frame(CMD_HEART_REQ, 2))
    l["synack_error"] = session_input(
        CK_HTTP_CONNECT, op(C_FEED_L) + op(C_APP_READ) + op(C_ITER),
        ok + frame(CMD_SYNACK, 1, b"dial tcp example.com:443: connection refused\x00\xff\n"))
    l["alert"] = session_input(
        CK_SOCKS5 | 4, op(C_FEED_S, 5) + op(C_FEED_L),
        frame(CMD_ALERT, 0, b"client did not send its settings"))
    schemes = [b"stop=1\n0=1-1", b"stop=4\n0=0-0\n1=1-1,c,2-2\n2=65535-65535,c,70000-90000\n3=c,c,c",
               b"stop=64\n" + b"\n".join(b"%d=1-3,c" % i for i in range(64)), b"stop=0", b"0=1-2"]
    l["padding_updates"] = session_input(
        CK_SOCKS5, op(C_FEED_L) + op(C_APP_DATA, 2) + op(C_APP_DATA, 1) + op(C_OUT_DRAIN) +
        op(C_NEW_CONN, CK_SOCKS5) + op(C_ITER) + op(C_ITER) + op(C_APP_DATA, 4 | 2) + op(C_OUT_DRAIN) +
        op(C_SELECT, 1) + op(C_OUT_DRAIN) + op(C_FEED_L) + op(C_APP_DATA, 1) + op(C_OUT_DRAIN),
        ok + b"".join(frame(CMD_UPDATE_PADDING, 0, sc) for sc in schemes) + frame(CMD_SYNACK, 1) +
        frame(CMD_UPDATE_PADDING, 0, PADDING_DEFAULT) + frame(CMD_SYNACK, 2))
    l["http_get"] = session_input(
        CK_HTTP_GET | 4, op(C_ITER) + op(C_FEED_M, 0) + op(C_ITER) + op(C_ITER) + op(C_OUT_DRAIN) +
        op(C_FEED_L) + op(C_ITER) + op(C_APP_READ) + op(C_OUT_DRAIN),
        ok + frame(CMD_SYNACK, 1) + frame(CMD_PSH, 1, resp) +
        frame(CMD_SYNACK, 2) + frame(CMD_PSH, 2, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                     b"5\r\nhello\r\n0\r\n\r\nextra") + frame(CMD_FIN, 2))
    l["http_get_same_origin"] = session_input(
        CK_HTTP_GET | 4 | 8, op(C_ITER) + op(C_FEED_L) + op(C_ITER) + op(C_APP_READ) + op(C_APP_DATA, 1) +
        op(C_FEED_L) + op(C_OUT_DRAIN),
        ok + frame(CMD_SYNACK, 1) + frame(CMD_PSH, 1, resp) + frame(CMD_PSH, 1, resp[:20]) +
        frame(CMD_PSH, 1, resp[20:]) + frame(CMD_PSH, 1, b"HTTP/1.1 101 Switching Protocols\r\n\r\nws"))
    dgram = uot_addr("v4", [8, 8, 8, 8], 53) + struct.pack(">H", 5) + b"reply"
    dgram6 = uot_addr("v6", V6, 53) + struct.pack(">H", 3) + b"six"
    l["udp_associate"] = session_input(
        CK_UDP, op(C_UDP_APP, 0) + op(C_ITER) + op(C_ITER) + op(C_UDP_APP, 1) + op(C_UDP_APP, 4) +
        op(C_UDP_APP, 2) + op(C_ITER) + op(C_OUT_DRAIN) + op(C_FEED_L) + op(C_APP_READ) + op(C_ITER),
        ok + frame(CMD_SYNACK, 1) + frame(CMD_PSH, 1, dgram + dgram6[:4]) + frame(CMD_PSH, 1, dgram6[4:]) +
        frame(CMD_PSH, 1, b"\x09bad"))
    l["udp_port_unknown"] = session_input(
        CK_UDP | 8, op(C_UDP_APP, 1) + op(C_ITER) + op(C_ITER) + op(C_UDP_APP, 0) + op(C_FEED_L) +
        op(C_APP_CLOSE) + op(C_ITER),
        ok + frame(CMD_SYNACK, 1) + frame(CMD_PSH, 1, dgram))
    l["synack_watchdog"] = session_input(
        CK_SOCKS5, op(C_FEED_M, 2) + op(C_APP_READ) + op(C_ITER) + op(C_NEW_CONN, CK_HTTP_CONNECT) + op(C_ITER) +
        op(C_TIME, 9) + op(C_TIME, 10) + op(C_ITER),
        ok + frame(CMD_SYNACK, 1) + frame(CMD_FIN, 1) + frame(CMD_WASTE, 0, bytes(160)))
    l["heartbeat_unknown"] = session_input(
        CK_SOCKS5, op(C_FEED_S, 0) * 40 + op(C_FEED_L) + op(C_OUT_DRAIN),
        frame(CMD_HEART_REQ, 0) + frame(CMD_HEART_RESP, 0) + frame(11, 1, b"?") + frame(255, 9) +
        frame(CMD_SYN, 1) + frame(CMD_SETTINGS, 0, b"v=2") + frame(CMD_SERVER_SETTINGS, 0, b"v=1\nv=x") +
        frame(CMD_PSH, 7, b"other sid") + frame(CMD_FIN, 7) + frame(CMD_PSH, 1, b""))
    l["backpressure"] = session_input(
        CK_SOCKS5, op(C_PUSH, 15) * 6 + op(C_FEED_L) + op(C_APP_READ) + op(C_ITER) + op(C_PUSH, 3) +
        op(C_APP_DATA, 3) * 9 + op(C_ITER) + op(C_ITER) + op(C_APP_DATA, 3) + op(C_OUT_DRAIN) + op(C_ITER) +
        op(C_FEED_L),
        ok + frame(CMD_SYNACK, 1) + frame(CMD_HEART_REQ, 0))
    l["dial_failures"] = session_input(
        CK_SOCKS5, op(C_DIAL, 1 << 2 | 3) + op(C_NEW_CONN, CK_SOCKS5) + op(C_ITER) + op(C_TIME, 1) +
        op(C_DIAL, 2) + op(C_NEW_CONN, CK_HTTP_CONNECT) + op(C_ITER) + op(C_ITER) + op(C_DIAL, 1) +
        op(C_NEW_CONN, CK_SOCKS5 | 4) + op(C_ITER) + op(C_TIME, 12) + op(C_ITER) + op(C_TIME, 12),
        ok)
    l["drain_and_close"] = session_input(
        CK_SOCKS5, op(C_FEED_L) + op(C_NEW_CONN, CK_HTTP_GET) + op(C_DRAIN) + op(C_ITER) +
        op(C_SERVER_CLOSE) + op(C_ITER),
        ok + frame(CMD_SYNACK, 1) + frame(CMD_PSH, 1, b"data"))
    return c


def main():
    check = "--check" in sys.argv[1:]
    bad = 0
    total = 0
    for target, files in sorted(corpus().items()):
        d = os.path.join(ROOT, target)
        if not check:
            os.makedirs(d, exist_ok=True)
        for name, data in sorted(files.items()):
            path = os.path.join(d, name)
            total += 1
            if check:
                try:
                    with open(path, "rb") as fh:
                        if fh.read() != data:
                            print("differs: %s" % path)
                            bad += 1
                except FileNotFoundError:
                    print("missing: %s" % path)
                    bad += 1
            else:
                with open(path, "wb") as fh:
                    fh.write(data)
    if check:
        print("corpus: %d seeds, %d differ or are missing" % (total, bad))
        return 1 if bad else 0
    print("corpus: wrote %d seeds under %s" % (total, ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
