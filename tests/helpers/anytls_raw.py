"""A minimal AnyTLS v2 client speaking raw frames (shared/PROTOCOL.md), for
protocol-level tests of anytls-server. Python ssl only; no certificate check
(as the reference client). Every read is bounded by a timeout."""
import hashlib
import ipaddress
import queue
import socket
import ssl
import struct
import threading
import time

import harness as h

WASTE, SYN, PSH, FIN, SETTINGS, ALERT, UPDATE_PADDING, SYNACK, HEART_REQ, HEART_RESP, \
    SERVER_SETTINGS = range(11)
CMD_NAMES = {0: "Waste", 1: "SYN", 2: "PSH", 3: "FIN", 4: "Settings", 5: "Alert",
             6: "UpdatePaddingScheme", 7: "SYNACK", 8: "HeartRequest", 9: "HeartResponse",
             10: "ServerSettings"}

DEFAULT_SCHEME = (b"stop=8\n0=30-30\n1=100-400\n2=400-500,c,500-1000,c,500-1000,c,500-1000,"
                  b"c,500-1000\n3=9-9,500-1000\n4=500-1000\n5=500-1000\n6=500-1000\n7=500-1000")
DEFAULT_MD5 = "75cff2ad89aadf5e257059ee571ebe11"
assert hashlib.md5(DEFAULT_SCHEME).hexdigest() == DEFAULT_MD5 and len(DEFAULT_SCHEME) == 137

UOT_MAGIC = "sp.v2.udp-over-tcp.arpa"


def frame(cmd, sid, data=b""):
    assert len(data) <= 0xFFFF
    return struct.pack(">BIH", cmd, sid, len(data)) + data


def auth_block(password, padding=30):
    return hashlib.sha256(password.encode()).digest() + struct.pack(">H", padding) + b"\x00" * padding


def settings_data(md5=DEFAULT_MD5, version=2, client="anytls/0.0.13"):
    return ("v=%d\nclient=%s\npadding-md5=%s" % (version, client, md5)).encode()


def uot_addr(host, port):
    """UoT datagram address form: 00 IPv4 | 01 IPv6 | 02 len name, then port."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        n = host.encode()
        return b"\x02" + bytes([len(n)]) + n + struct.pack(">H", port)
    return (b"\x00" if ip.version == 4 else b"\x01") + ip.packed + struct.pack(">H", port)


def parse_uot_addr(b):
    """Returns ((host, port), bytes_used)."""
    t = b[0]
    if t == 0:
        return (str(ipaddress.IPv4Address(b[1:5])), struct.unpack(">H", b[5:7])[0]), 7
    if t == 1:
        return (str(ipaddress.IPv6Address(b[1:17])), struct.unpack(">H", b[17:19])[0]), 19
    if t == 2:
        n = b[1]
        return (b[2:2 + n].decode(), struct.unpack(">H", b[2 + n:4 + n])[0]), 4 + n
    raise ValueError("bad UoT address type %d" % t)


def split_frames(data):
    """Parses whole frames from bytes: returns ([(cmd, sid, data)], leftover)."""
    out = []
    pos = 0
    while len(data) - pos >= 7:
        cmd, sid, n = struct.unpack(">BIH", data[pos:pos + 7])
        if len(data) - pos < 7 + n:
            break
        out.append((cmd, sid, bytes(data[pos + 7:pos + 7 + n])))
        pos += 7 + n
    return out, bytes(data[pos:])


class Closed(ConnectionError):
    pass


class FrameConn(h.Closing):
    """Frames over an established TLS socket (either side). Every TLS record
    read is kept in self.records (OpenSSL's SSL_read returns at most one
    record's data per call, so recv() boundaries are record boundaries)."""

    def __init__(self, sock, timeout=10.0):
        self.sock = sock
        self.buf = bytearray()
        self.timeout = timeout
        self.frames = []          # everything received, in order (cmd, sid, data)
        self.records = []         # plaintext length of each TLS record received

    def send(self, data):
        """One sendall = one TLS record for data <= 16 KiB."""
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out waiting for frames")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except ssl.SSLZeroReturnError:
            chunk = b""
        except (ConnectionResetError, ssl.SSLEOFError, BrokenPipeError) as e:
            raise Closed("connection reset: %r" % e)
        if not chunk:
            raise Closed("EOF")
        self.records.append(len(chunk))
        self.buf += chunk

    def recv_record(self, timeout=None):
        """The next TLS record's plaintext (must be called with self.buf empty)."""
        assert not self.buf
        self._fill(time.monotonic() + (timeout or self.timeout))
        data = bytes(self.buf)
        self.buf.clear()
        return data

    def read_frame(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < 7:
            self._fill(deadline)
        cmd, sid, n = struct.unpack(">BIH", self.buf[:7])
        while len(self.buf) < 7 + n:
            self._fill(deadline)
        data = bytes(self.buf[7:7 + n])
        del self.buf[:7 + n]
        self.frames.append((cmd, sid, data))
        return cmd, sid, data

    def wait_for(self, pred, timeout=None, max_frames=100000):
        """Reads frames until pred(cmd, sid, data) is true; returns that frame.
        Frames read on the way are kept in self.frames."""
        deadline = time.monotonic() + (timeout or self.timeout)
        for _ in range(max_frames):
            f = self.read_frame(max(0.01, deadline - time.monotonic()))
            if pred(*f):
                return f
        raise AssertionError("no matching frame in %d frames" % max_frames)

    def wait_closed(self, timeout=5.0):
        """Reads (and keeps) frames until the server closes; True if it did."""
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            try:
                self.read_frame(max(0.01, deadline - time.monotonic()))
            except Closed:
                return True
            except (socket.timeout, TimeoutError):
                return False
            except (ssl.SSLError, OSError):
                return True
        return False

    def handshake(self, password, md5=DEFAULT_MD5, first=b""):
        """Auth in one record; then Settings (+ `first`) in the next write."""
        self.send(auth_block(password))
        self.send(frame(SETTINGS, 0, settings_data(md5)) + first)

    def stream_data(self, sid, timeout=None, n=None):
        """Collects PSH data for sid until n bytes (or until FIN if n is None)."""
        out = bytearray()
        deadline = time.monotonic() + (timeout or self.timeout)
        for _ in range(1000000):
            if n is not None and len(out) >= n:
                break
            cmd, fsid, data = self.read_frame(max(0.01, deadline - time.monotonic()))
            if fsid != sid:
                continue
            if cmd == PSH:
                out += data
            elif cmd == FIN:
                break
        return bytes(out)

    def send_stream(self, sid, data):
        for off in range(0, len(data), 0xFFFF):
            self.send(frame(PSH, sid, data[off:off + 0xFFFF]))

    def echo_stream(self, sid, data, timeout=30.0):
        """Sends data on sid in maximum-size PSH frames and collects len(data)
        bytes of sid's PSH data back. One thread only: an OpenSSL connection
        must not be read and written from two threads at once, so reading is
        interleaved with the sends."""
        deadline = time.monotonic() + timeout
        out = bytearray()
        for off in range(0, len(data), 0xFFFF):
            self.send(frame(PSH, sid, data[off:off + 0xFFFF]))
            # drain what is already there (bounded) before the next send
            for _ in range(64):
                if not (self.sock.pending() or h.readable(self.sock, 0)):
                    break
                self._collect(sid, out, deadline)
        while len(out) < len(data):
            self._collect(sid, out, deadline)
        return bytes(out)

    def _collect(self, sid, out, deadline):
        if time.monotonic() > deadline:
            raise socket.timeout("echo_stream: %d bytes back before the deadline" % len(out))
        self._fill(deadline)
        for _ in range(100000):
            if len(self.buf) < 7:
                return
            cmd, fsid, n = struct.unpack(">BIH", self.buf[:7])
            if len(self.buf) < 7 + n:
                return
            data = bytes(self.buf[7:7 + n])
            del self.buf[:7 + n]
            self.frames.append((cmd, fsid, data))
            if cmd == PSH and fsid == sid:
                out += data
            elif cmd == FIN and fsid == sid:
                raise Closed("FIN on stream %d after %d bytes" % (sid, len(out)))

    def close(self):
        h.close_quietly(self.sock)


class RawSession(FrameConn):
    """A client-side TLS connection to an AnyTLS server."""

    def __init__(self, port, host=h.V4, timeout=10.0, sni=None):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection((host, port), timeout=timeout)
        super().__init__(ctx.wrap_socket(raw, server_hostname=sni), timeout)


class CoalescedSession(FrameConn):
    """A client-side TLS connection, driven through memory BIOs, whose first
    application bytes leave in the SAME TCP write as the client's Finished
    message (a C client with an event loop may well do that). A server must
    process application data that arrives together with the end of the
    handshake, without waiting for more bytes."""

    def __init__(self, port, first_data, host=h.V4, timeout=10.0):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_side=False)
        self.raw = socket.create_connection((host, port), timeout=timeout)
        super().__init__(self.raw, timeout)
        deadline = time.monotonic() + timeout
        for _ in range(1000):
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                pending = self.out.read()
                if pending:
                    self.raw.sendall(pending)
                self._recv_raw(deadline)
        self.obj.write(first_data)
        self.raw.sendall(self.out.read())   # Finished + first_data together

    def _recv_raw(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        self.raw.settimeout(left)
        try:
            chunk = self.raw.recv(65536)
        except ConnectionResetError as e:
            raise Closed("connection reset: %r" % e)
        if not chunk:
            self.inc.write_eof()
            raise Closed("EOF")
        self.inc.write(chunk)

    def send(self, data):
        self.obj.write(data)
        self.raw.sendall(self.out.read())

    def _fill(self, deadline):
        for _ in range(100000):
            try:
                chunk = self.obj.read(65536)
            except ssl.SSLWantReadError:
                pending = self.out.read()
                if pending:
                    self.raw.sendall(pending)
                self._recv_raw(deadline)
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                chunk = b""
            if not chunk:
                raise Closed("EOF")
            self.records.append(len(chunk))
            self.buf += chunk
            return
        raise socket.timeout("no TLS record")

    def close(self):
        h.close_quietly(self.raw)


class FakeServer(h.Closing):
    """A TLS listener on loopback standing in for anytls-server, to test what
    anytls-client sends. Accepted, handshaken connections are queued as
    FrameConn objects; the SNI of each handshake is recorded in self.sni."""

    def __init__(self, cert, key, host=h.V4):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(cert), str(key))
        self.sni = []
        self.ctx.sni_callback = lambda sslobj, name, ctx: self.sni.append(name)
        self.lsock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, h.free_port()))
        self.lsock.listen(64)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.accepted = 0
        self.errors = []
        self.conns = []
        self._q = queue.Queue()
        self._stop = threading.Event()
        self._t = h.accept_in_background(self.lsock, self._stop, self._accepted)

    def _accepted(self, c):
        self.accepted += 1
        c.settimeout(10)
        try:
            tc = FrameConn(self.ctx.wrap_socket(c, server_side=True))
        except (ssl.SSLError, OSError) as e:
            self.errors.append(repr(e))
            c.close()
            return
        self.conns.append(tc)
        self._q.put(tc)

    def next_conn(self, timeout=10.0):
        try:
            return self._q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no TLS connection from the client within %.0f s (accepted %d, "
                                 "handshake errors %r)" % (timeout, self.accepted, self.errors))

    def pending(self):
        return self._q.qsize()

    def close(self):
        self._stop.set()
        self.lsock.close()
        self._t.join(2)
        for c in self.conns:
            c.close()


def read_auth(conn, timeout=10.0):
    """Reads the client's first TLS record and parses the auth block at its
    start; bytes after it stay in conn.buf as frames. Returns
    (sha256, padding_len, padding, record_len)."""
    rec = conn.recv_record(timeout)
    assert len(rec) >= 34, "first TLS record has %d bytes, the auth block needs 34+" % len(rec)
    plen = struct.unpack(">H", rec[32:34])[0]
    assert len(rec) >= 34 + plen, (
        "auth block split across TLS records: first record %d bytes, block needs %d "
        "(the reference server reads it in one read)" % (len(rec), 34 + plen))
    conn.buf += rec[34 + plen:]
    return rec[:32], plen, rec[34:34 + plen], len(rec)
