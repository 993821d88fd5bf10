"""Shared helpers for the end-to-end suites (tests/integration, tests/interop).

Everything here talks to loopback only (127.0.0.0/8, ::1), every wait is bounded
in time and every loop in count, and the only processes ever signalled are the
ones started through ProcManager, by pid.

Contents:
  free_port()                  a loopback port free for TCP and UDP (below the ephemeral range)
  Proc / ProcManager           start, wait-for-listen, stop (SIGTERM, then SIGKILL), logs
  EchoServer, NumberingServer, UdpEchoServer, HttpTarget   threaded targets
  socks5_connect, Socks5Udp, socks4_connect, http_connect, http_proxy_get   proxy clients
  exchange(), echo_check()     send/receive with a sender thread, byte-for-byte checks
  established_count(port)      server-side ESTABLISHED TCP sockets on a port (/proc/net/tcp*)
  parse_pool_stats(text)       the "[Pool Stats] ..." lines of a server log
"""
import functools
import hashlib
import http.server
import ipaddress
import os
import random
import re
import select
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
V4 = "127.0.0.1"
V6 = "::1"
PASSWORD = "integration-pw"

DEFAULT_TIMEOUT = 10.0
SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "WARNING: ThreadSanitizer",
    "runtime error:",          # UBSan
    "AddressSanitizer:DEADLYSIGNAL",
)


# --------------------------------------------------------------------------- ports

_handed_out = set()
_port_lock = threading.Lock()


def _bindable(port, family, host):
    for stype in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(family, stype)
        try:
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_port(both_families=False):
    """A loopback port that is free for TCP and UDP on 127.0.0.1 (and ::1 when
    both_families). Picked from 20000-32767, i.e. below Linux's ephemeral range,
    so outgoing connections of the processes under test cannot grab it between
    this call and the bind. Never hands the same port out twice in one run."""
    rng = random.Random(os.getpid() ^ int(time.time() * 1000))
    with _port_lock:
        for _ in range(500):
            port = rng.randint(20000, 32767)
            if port in _handed_out:
                continue
            if not _bindable(port, socket.AF_INET, V4):
                continue
            if both_families and not _bindable(port, socket.AF_INET6, V6):
                continue
            _handed_out.add(port)
            return port
    raise RuntimeError("no free loopback port found in 500 tries")


# ------------------------------------------------------------- /proc/net/tcp readers

def _proc_tcp_rows():
    """(local_port, remote_port, state, local_addr, remote_addr) per socket,
    from /proc/net/tcp and /proc/net/tcp6."""
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 4:
                continue
            local, remote, state = parts[1], parts[2], parts[3]
            lport = int(local.rsplit(":", 1)[1], 16)
            rport = int(remote.rsplit(":", 1)[1], 16)
            yield lport, rport, state, local, remote


def is_listening(port):
    """True when a TCP socket in LISTEN state (0A) has local port `port`."""
    return any(row[0] == port and row[2] == "0A" for row in _proc_tcp_rows())


def _established_once(port):
    return len({(row[3], row[4]) for row in _proc_tcp_rows() if row[0] == port and row[2] == "01"})


def established_count(port):
    """Number of ESTABLISHED (01) TCP sockets whose LOCAL port is `port`, i.e. the
    connections a server listening on `port` has accepted and not closed. The
    clients' ends (remote port == `port`) are not counted. This is how the suites
    count TLS sessions between anytls-client and anytls-server: one AnyTLS session
    is exactly one TCP connection to the server port.

    /proc/net/tcp is read in chunks while sockets come and go, so a big table
    can list a socket twice (or miss one): rows are deduplicated by their
    address pair, and the table is read until two reads agree (at most 5)."""
    last = _established_once(port)
    for _ in range(4):
        cur = _established_once(port)
        if cur == last:
            return cur
        last = cur
    return last


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Polls pred() until true; returns its last value. Bounded by `timeout`."""
    deadline = time.monotonic() + timeout
    val = pred()
    while not val and time.monotonic() < deadline:
        time.sleep(interval)
        val = pred()
    return val


# ------------------------------------------------------------------------ processes

class ProcError(AssertionError):
    pass


class Proc:
    """One child process with its stdout+stderr in a log file."""

    def __init__(self, argv, log_path, env=None, port=None, host=V4):
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_path)
        self.port = port
        self.host = host
        self._log = open(self.log_path, "wb")
        self.p = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                  stderr=subprocess.STDOUT, env=env, cwd=str(ROOT),
                                  start_new_session=True)
        self.pid = self.p.pid
        self.returncode = None
        self.signalled = False

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n=60):
        return "\n".join(self.log().splitlines()[-n:])

    def alive(self):
        return self.p.poll() is None

    def describe(self):
        return "%s (pid %d, log %s)" % (" ".join(self.argv), self.pid, self.log_path)

    def wait_listening(self, port=None, timeout=DEFAULT_TIMEOUT):
        """Waits until `port` (default self.port) is in LISTEN state; fails early
        with the log if the process exits first."""
        port = port or self.port
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise ProcError("process exited (rc=%s) before listening on %d: %s\n--- log:\n%s"
                                % (self.p.returncode, port, self.describe(), self.log_tail()))
            if is_listening(port):
                return
            time.sleep(0.05)
        raise ProcError("not listening on port %d after %.0f s: %s\n--- log:\n%s"
                        % (port, timeout, self.describe(), self.log_tail()))

    def signal(self, sig):
        self.signalled = True
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout):
        try:
            self.returncode = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, term_timeout=10.0):
        """SIGTERM, wait up to term_timeout, then SIGKILL. Returns the exit code
        (negative = killed by that signal). Only ever signals this child's pid."""
        if self.alive():
            self.signalled = True
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            if self.wait(term_timeout) is None:
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.wait(10)
        self.returncode = self.p.poll()
        if not self._log.closed:
            self._log.close()
        return self.returncode

    def sanitizer_reports(self):
        text = self.log()
        return [m for m in SANITIZER_MARKERS if m in text]


def bin_dir():
    d = Path(os.environ.get("ANYTLS_BIN", "build"))
    return d if d.is_absolute() else ROOT / d


def binary(name):
    """Path to build/<name> (or $ANYTLS_BIN/<name>). Raises ProcError if missing."""
    p = bin_dir() / name
    if not (p.is_file() and os.access(p, os.X_OK)):
        raise ProcError("binary %s does not exist or is not executable (ANYTLS_BIN=%s); "
                        "build it first (make / make asan)" % (p, os.environ.get("ANYTLS_BIN", "build")))
    return p


@functools.lru_cache(maxsize=None)
def pool_types():
    """The server's pool types, as `anytls-server --list-pool-types` prints them
    (pools/pool.c's registry): tests iterate these instead of keeping a copy."""
    r = subprocess.run([str(binary("anytls-server")), "--list-pool-types"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=DEFAULT_TIMEOUT, env=child_env())
    names = r.stdout.split()
    if r.returncode != 0 or not names:
        raise ProcError("anytls-server --list-pool-types: rc=%s stdout=%r stderr=%r"
                        % (r.returncode, r.stdout, r.stderr))
    return tuple(names)


def child_env():
    env = dict(os.environ)
    # Sanitizer defaults when the runner did not set them (scripts/run_tests.sh does).
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return env


class ProcManager:
    """Starts processes for one test and stops all of them at the end.

    stop_all() returns a list of problems (sanitizer reports in a log, a process
    that died by itself with a non-zero code, or one that ignored SIGTERM) so the
    fixture can fail the test with the logs."""

    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.procs = []
        self._n = 0
        self.expected_nonzero = set()
        self.notes = []

    def note(self, fmt, *args):
        """A figure the test measured, for its excerpt (see excerpt())."""
        self.notes.append(fmt % args if args else fmt)

    def start(self, argv, name, port=None, wait=True, env=None, timeout=DEFAULT_TIMEOUT):
        self._n += 1
        log = self.workdir / ("%02d-%s.log" % (self._n, name))
        p = Proc(argv, log, env=env or child_env(), port=port)
        self.procs.append(p)
        if wait and port:
            p.wait_listening(port, timeout)
        return p

    def server(self, password="pw", args=(), port=None, wait=True, log_level=None):
        port = port or free_port()
        argv = [binary("anytls-server"), "-l", "%s:%d" % (V4, port), "-p", password]
        log_level = log_level or os.environ.get("ANYTLS_TEST_LOG_LEVEL")
        if log_level:
            argv += ["--log-level", log_level]
        argv += list(args)
        return self.start(argv, "server", port=port, wait=wait)

    def client(self, server_port, password="pw", args=(), port=None, wait=True, log_level=None,
               server_host=V4):
        port = port or free_port()
        argv = [binary("anytls-client"), "-l", "%s:%d" % (V4, port),
                "-s", "%s:%d" % (server_host, server_port), "-p", password]
        log_level = log_level or os.environ.get("ANYTLS_TEST_LOG_LEVEL")
        if log_level:
            argv += ["--log-level", log_level]
        argv += list(args)
        return self.start(argv, "client", port=port, wait=wait)

    def excerpt(self, head=6, tail=4):
        """What each process logged while the test ran (after its "listening on"
        line, before it was told to stop), repeated lines folded into one with
        a count, at most head + tail lines each: the log excerpt of a scenario
        in results/reliability.md. The test's own notes (note()) come first."""
        out = ["measured: " + "; ".join(self.notes)] if self.notes else []
        for p in self.procs:
            lines = p.log().splitlines()
            start = next((i + 1 for i, l in enumerate(lines) if " listening on " in l), 0)
            end = next((i for i, l in enumerate(lines) if i >= start and (
                "stopping: " in l or "no new connections, draining" in l)), len(lines))
            folded = []   # [line, count, shape]
            for l in lines[start:end]:
                shape = re.sub(r"[0-9]+", "N", l.split(" ", 1)[-1])
                if folded and folded[-1][2] == shape:
                    folded[-1][1] += 1
                else:
                    folded.append([l, 1, shape])
            text = [l if n == 1 else "%s   (and %d more like it)" % (l, n - 1) for l, n, _ in folded]
            if len(text) > head + tail:
                text = text[:head] + ["... (%d lines)" % (len(text) - head - tail)] + text[-tail:]
            out.append("%s:\n%s" % (p.log_path.stem.split("-", 1)[-1],
                                     "\n".join("  " + t for t in text) if text else "  (nothing logged)"))
        return "\n".join(out) + "\n"

    def stop_all(self):
        problems = []
        # Reverse start order: clients before servers.
        for p in reversed(self.procs):
            mine = []
            died_by_itself = not p.alive() and not p.signalled
            rc = p.stop()
            if died_by_itself:
                mine.append("exited by itself during the test with rc=%s" % rc)
            elif rc != 0 and p not in self.expected_nonzero:
                mine.append("exit code %s after SIGTERM, expected 0 (-9: ignored SIGTERM for 10 s and "
                            "was SIGKILLed; -6: abort, e.g. a sanitizer report)" % rc)
            reps = p.sanitizer_reports()
            if reps:
                mine.append("sanitizer report(s) in log: %s" % reps)
            if mine:
                problems.append("%s: %s\n--- log tail:\n%s" % (p.describe(), "; ".join(mine),
                                                                 p.log_tail(80)))
        return problems

    def run(self, argv, timeout=DEFAULT_TIMEOUT):
        """Runs a short-lived command to completion (bounded); returns
        CompletedProcess with text stdout/stderr."""
        return subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, errors="replace", timeout=timeout, env=child_env(),
                              cwd=str(ROOT))


# -------------------------------------------------------------- building blocks

class Closing:
    """`with X(...) as x:` for a helper that has close(): closed on the way out."""

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def close_quietly(sock):
    """sock.close(), ignoring OSError: teardown goes on whatever state it is in."""
    try:
        sock.close()
    except OSError:
        pass


def accept_in_background(lsock, stop, on_conn):
    """Starts a daemon thread that accepts on lsock (which needs a short timeout:
    stop, a threading.Event, is checked between accepts) until stop is set or
    lsock is closed, calling on_conn(conn) for each connection. Returns it."""
    def loop():
        while not stop.is_set():
            try:
                conn, _ = lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            on_conn(conn)
    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return t


# -------------------------------------------------------------------------- targets

class _TcpServer(Closing):
    """Threaded TCP server on one loopback address. Each accepted connection is
    handled by self.handle(conn, number) in its own daemon thread. Bounded:
    at most max_conns connections, idle sockets time out after idle_timeout."""

    def __init__(self, host=V4, port=0, max_conns=4096, idle_timeout=60.0):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port or free_port()))
        self.sock.listen(512)
        self.sock.settimeout(0.2)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.addr = (host, self.port)
        self.max_conns = max_conns
        self.idle_timeout = idle_timeout
        self.connections = 0
        self.lock = threading.Lock()
        self.conns = set()
        self._stop = threading.Event()
        self._t = accept_in_background(self.sock, self._stop, self._accepted)

    def _accepted(self, conn):
        with self.lock:
            if self.connections >= self.max_conns:
                conn.close()
                return
            self.connections += 1
            n = self.connections
            self.conns.add(conn)
        conn.settimeout(self.idle_timeout)
        threading.Thread(target=self._run, args=(conn, n), daemon=True).start()

    def _run(self, conn, n):
        try:
            self.handle(conn, n)
        except OSError:
            pass
        finally:
            with self.lock:
                self.conns.discard(conn)
            close_quietly(conn)

    def handle(self, conn, n):
        raise NotImplementedError

    def close(self):
        self._stop.set()
        close_quietly(self.sock)
        self._t.join(2)
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class EchoServer(_TcpServer):
    """Echoes every byte back; on EOF from the peer, closes."""

    def handle(self, conn, n):
        while True:
            data = conn.recv(262144)
            if not data:
                break
            conn.sendall(data)
        try:
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class HoldingServer(_TcpServer):
    """Holds every connection open (reads and drops what arrives) until the
    peer closes it, and counts them: `open` now, `max_open` the most at once."""

    def __init__(self, *a, **kw):
        self.open = 0
        self.max_open = 0
        super().__init__(*a, **kw)

    def handle(self, conn, n):
        with self.lock:
            self.open += 1
            self.max_open = max(self.max_open, self.open)
        try:
            while conn.recv(65536):
                pass
        finally:
            with self.lock:
                self.open -= 1


class NumberingServer(_TcpServer):
    """Waits for any request bytes, then replies b"<n>\\n" where n is this
    connection's accept counter (1, 2, ...), and closes. Connections that never
    send a byte (e.g. the server's warm spares) are counted but never answered."""

    def handle(self, conn, n):
        data = conn.recv(4096)
        if data:
            conn.sendall(b"%d\n" % n)
        try:
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        # Drain until the peer closes (bounded by idle_timeout).
        while conn.recv(4096):
            pass


class UdpEchoServer(Closing):
    """Echoes every datagram back to its sender."""

    def __init__(self, host=V4, port=0):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.sock.bind((host, port or free_port()))
        self.sock.settimeout(0.2)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.addr = (host, self.port)
        self.datagrams = 0
        self.peers = set()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                break
            self.datagrams += 1
            self.peers.add(peer[:2])
            try:
                self.sock.sendto(data, peer)
            except OSError:
                pass

    def close(self):
        self._stop.set()
        self._t.join(2)
        self.sock.close()


class _HttpHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = ("hello from target, path=%s host=%s\n"
                % (self.path, self.headers.get("Host", ""))).encode()
        self.server.requests.append((self.command, self.path, dict(self.headers)))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *a):
        pass


class HttpTarget(Closing):
    """A tiny HTTP/1.1 origin server on loopback: GET answers 200 with a body
    naming the request path."""

    def __init__(self, host=V4):
        class S(http.server.ThreadingHTTPServer):
            daemon_threads = True
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.httpd = S((host, free_port()), _HttpHandler)
        self.httpd.timeout = 0.2
        self.httpd.requests = []
        self.host = host
        self.port = self.httpd.server_address[1]
        self._t = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                   daemon=True)
        self._t.start()

    @property
    def requests(self):
        return self.httpd.requests

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self._t.join(2)


# ------------------------------------------------------------------- socket helpers

def recv_exact(sock, n, what="data"):
    """Exactly n bytes or ConnectionError (EOF). Socket timeout applies per recv;
    the loop runs at most n times (each recv returns >= 1 byte or raises/EOF)."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("EOF after %d of %d bytes of %s" % (len(buf), n, what))
        buf += chunk
    return bytes(buf)


def recv_until_eof(sock, limit=1 << 24, timeout=DEFAULT_TIMEOUT):
    """Reads until EOF (bounded: `limit` bytes, `timeout` seconds overall)."""
    deadline = time.monotonic() + timeout
    buf = bytearray()
    while len(buf) < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("no EOF after %.1f s (%d bytes read)" % (timeout, len(buf)))
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def wait_closed(sock, timeout):
    """Waits up to `timeout` s for the peer to close (EOF or reset). Returns
    (closed: bool, bytes_received)."""
    deadline = time.monotonic() + timeout
    got = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False, bytes(got)
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return False, bytes(got)
        except OSError:
            return True, bytes(got)
        if not chunk:
            return True, bytes(got)
        got += chunk
        if len(got) > (1 << 20):
            return False, bytes(got)


def encode_socks_addr(host, port):
    """SOCKS5 address: 01 IPv4 | 04 IPv6 | 03 len name, then port."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        name = host.encode("idna")
        return b"\x03" + bytes([len(name)]) + name + struct.pack(">H", port)
    if ip.version == 4:
        return b"\x01" + ip.packed + struct.pack(">H", port)
    return b"\x04" + ip.packed + struct.pack(">H", port)


def _read_socks_addr(read):
    """Parses ATYP+addr+port using read(n) -> bytes. Returns (host, port)."""
    atyp = read(1)[0]
    if atyp == 1:
        host = str(ipaddress.IPv4Address(read(4)))
    elif atyp == 4:
        host = str(ipaddress.IPv6Address(read(16)))
    elif atyp == 3:
        host = read(read(1)[0]).decode("idna", "replace")
    else:
        raise ConnectionError("bad SOCKS5 ATYP %d" % atyp)
    port = struct.unpack(">H", read(2))[0]
    return host, port


class Socks5Error(ConnectionError):
    def __init__(self, rep):
        super().__init__("SOCKS5 reply code %d" % rep)
        self.rep = rep


def _socks5_greet(s):
    s.sendall(b"\x05\x01\x00")
    r = recv_exact(s, 2, "SOCKS5 method reply")
    if r != b"\x05\x00":
        raise ConnectionError("SOCKS5 method reply %r" % r)


def socks5_connect(proxy_port, host, port, timeout=DEFAULT_TIMEOUT, proxy_host=V4):
    """SOCKS5 CONNECT through the proxy; returns the connected socket (timeout
    set). Raises Socks5Error on a non-zero reply, ConnectionError on EOF."""
    s = socket.create_connection((proxy_host, proxy_port), timeout=timeout)
    try:
        _socks5_greet(s)
        s.sendall(b"\x05\x01\x00" + encode_socks_addr(host, port))
        hdr = recv_exact(s, 3, "SOCKS5 reply")
        if hdr[0] != 5:
            raise ConnectionError("SOCKS5 reply version %d" % hdr[0])
        if hdr[1] != 0:
            raise Socks5Error(hdr[1])
        _read_socks_addr(lambda n: recv_exact(s, n, "SOCKS5 bound address"))
        return s
    except BaseException:
        s.close()
        raise


class Socks5Udp(Closing):
    """SOCKS5 UDP ASSOCIATE. The control TCP connection stays open for the
    association's lifetime; datagrams go to the relay address of the reply."""

    def __init__(self, proxy_port, timeout=DEFAULT_TIMEOUT, proxy_host=V4):
        self.ctrl = socket.create_connection((proxy_host, proxy_port), timeout=timeout)
        try:
            _socks5_greet(self.ctrl)
            self.ctrl.sendall(b"\x05\x03\x00" + encode_socks_addr("0.0.0.0", 0))
            hdr = recv_exact(self.ctrl, 3, "SOCKS5 UDP reply")
            if hdr[1] != 0:
                raise Socks5Error(hdr[1])
            host, port = _read_socks_addr(lambda n: recv_exact(self.ctrl, n, "relay address"))
        except BaseException:
            self.ctrl.close()
            raise
        if host in ("0.0.0.0", "::"):
            host = proxy_host
        self.relay = (host, port)
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.udp = socket.socket(fam, socket.SOCK_DGRAM)
        self.udp.bind((V6 if fam == socket.AF_INET6 else V4, 0))
        self.udp.settimeout(timeout)

    def sendto(self, data, host, port):
        self.udp.sendto(b"\x00\x00\x00" + encode_socks_addr(host, port) + data, self.relay)

    def recvfrom(self, timeout=5.0):
        """One datagram: (payload, (host, port)). Raises socket.timeout."""
        self.udp.settimeout(timeout)
        pkt, _ = self.udp.recvfrom(65535)
        if len(pkt) < 4 or pkt[2] != 0:
            raise ConnectionError("bad SOCKS5 UDP header %r" % pkt[:10])
        pos = [3]

        def read(n):
            b = pkt[pos[0]:pos[0] + n]
            if len(b) != n:
                raise ConnectionError("short SOCKS5 UDP header")
            pos[0] += n
            return b
        host, port = _read_socks_addr(read)
        return pkt[pos[0]:], (host, port)

    def roundtrip(self, data, host, port, tries=3, timeout=3.0):
        """Sends `data` and waits for the datagram that equals it; retries (UDP
        may be dropped while the session is set up). Returns (payload, src)."""
        last = None
        for _ in range(tries):
            self.sendto(data, host, port)
            deadline = time.monotonic() + timeout
            for _ in range(64):  # bounded: stale replies of earlier tries are skipped
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    got, src = self.recvfrom(left)
                except socket.timeout:
                    break
                last = (got, src)
                if got == data:
                    return got, src
        raise AssertionError("no matching UDP echo for %d-byte datagram to %s:%d after %d tries "
                             "(last received: %r)" % (len(data), host, port, tries,
                                                      None if last is None else (len(last[0]), last[1])))

    def close(self):
        self.udp.close()
        self.ctrl.close()


class Socks4Error(ConnectionError):
    def __init__(self, cd):
        super().__init__("SOCKS4 reply code 0x%02x" % cd)
        self.cd = cd


def socks4_connect(proxy_port, host, port, timeout=DEFAULT_TIMEOUT, userid=b"test",
                   proxy_host=V4):
    """SOCKS4 CONNECT for an IPv4 literal, SOCKS4a (0.0.0.x + name) otherwise."""
    s = socket.create_connection((proxy_host, proxy_port), timeout=timeout)
    try:
        try:
            ip = ipaddress.IPv4Address(host)
            req = b"\x04\x01" + struct.pack(">H", port) + ip.packed + userid + b"\x00"
        except ValueError:
            req = (b"\x04\x01" + struct.pack(">H", port) + b"\x00\x00\x00\x01" + userid + b"\x00"
                   + host.encode("idna") + b"\x00")
        s.sendall(req)
        r = recv_exact(s, 8, "SOCKS4 reply")
        if r[1] != 0x5A:
            raise Socks4Error(r[1])
        return s
    except BaseException:
        s.close()
        raise


def _read_http_head(s, limit=16384):
    """Reads an HTTP response head byte by byte (bounded) so that no body byte
    is consumed. Returns (status, head_text)."""
    buf = bytearray()
    while not buf.endswith(b"\r\n\r\n"):
        if len(buf) >= limit:
            raise ConnectionError("HTTP head longer than %d bytes" % limit)
        c = s.recv(1)
        if not c:
            raise ConnectionError("EOF in HTTP head: %r" % bytes(buf))
        buf += c
    head = buf.decode("latin-1")
    first = head.split("\r\n", 1)[0].split()
    if len(first) < 2 or not first[0].startswith("HTTP/"):
        raise ConnectionError("bad HTTP status line %r" % head[:80])
    return int(first[1]), head


class HttpProxyError(ConnectionError):
    def __init__(self, status, head):
        super().__init__("HTTP proxy answered %d: %r" % (status, head[:200]))
        self.status = status


def http_connect(proxy_port, host, port, timeout=DEFAULT_TIMEOUT, proxy_host=V4):
    """HTTP CONNECT tunnel; returns the socket once the proxy answered 2xx."""
    hp = ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)
    s = socket.create_connection((proxy_host, proxy_port), timeout=timeout)
    try:
        s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: anytls-c-tests\r\n\r\n"
                   % (hp, hp)).encode())
        status, head = _read_http_head(s)
        if not 200 <= status < 300:
            raise HttpProxyError(status, head)
        return s
    except BaseException:
        s.close()
        raise


def http_proxy_get(proxy_port, url, timeout=DEFAULT_TIMEOUT, proxy_host=V4):
    """Plain proxy request with an absolute URI. Returns (status, head, body)."""
    m = re.match(r"http://([^/]+)(/.*)?$", url)
    hostport = m.group(1)
    s = socket.create_connection((proxy_host, proxy_port), timeout=timeout)
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: anytls-c-tests\r\n"
                   "Connection: close\r\n\r\n" % (url, hostport)).encode())
        status, head = _read_http_head(s)
        cl = re.search(r"(?im)^content-length:\s*(\d+)\s*$", head)
        if cl:
            body = recv_exact(s, int(cl.group(1)), "HTTP body")
        else:
            body = recv_until_eof(s, timeout=timeout)
        return status, head, body
    finally:
        s.close()


# --------------------------------------------------------------------- data checks

def exchange(sock, data, timeout=30.0, chunk=65536, shut_wr=False):
    """Sends `data` from a sender thread while receiving len(data) bytes in
    this thread; returns the received bytes. Bounded by `timeout` overall."""
    err = []

    def sender():
        try:
            view = memoryview(data)
            for off in range(0, len(view), chunk):
                sock.sendall(view[off:off + chunk])
            if shut_wr:
                sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append(e)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    deadline = time.monotonic() + timeout
    buf = bytearray()
    try:
        while len(buf) < len(data):
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("received %d of %d bytes in %.0f s" % (len(buf), len(data), timeout))
            sock.settimeout(min(left, 10.0))
            c = sock.recv(min(262144, len(data) - len(buf)))
            if not c:
                raise ConnectionError("EOF after %d of %d bytes (sender error: %r)"
                                      % (len(buf), len(data), err))
            buf += c
    finally:
        t.join(max(0.1, deadline - time.monotonic()))
    if err:
        raise err[0]
    return bytes(buf)


def stream_sha256(sock, nbytes, seed=1, timeout=60.0, chunk=65536):
    """Sends nbytes of pseudo-random data (seeded) through an echo path, hashing
    what is sent and what comes back without keeping either in memory.
    Returns (sent_sha256_hex, received_sha256_hex, received_len)."""
    rng = random.Random(seed)
    block = bytes(rng.getrandbits(8) for _ in range(chunk))
    sent_h = hashlib.sha256()
    err = []

    def sender():
        try:
            left = nbytes
            i = 0
            while left > 0:
                # vary the block cheaply so repeated blocks are not identical
                piece = (bytes([i & 0xFF]) + block[1:])[:min(chunk, left)]
                sent_h.update(piece)
                sock.sendall(piece)
                left -= len(piece)
                i += 1
        except OSError as e:
            err.append(e)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    recv_h = hashlib.sha256()
    got = 0
    deadline = time.monotonic() + timeout
    try:
        while got < nbytes:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("received %d of %d bytes in %.0f s" % (got, nbytes, timeout))
            sock.settimeout(min(left, 10.0))
            c = sock.recv(min(262144, nbytes - got))
            if not c:
                raise ConnectionError("EOF after %d of %d bytes (sender error %r)" % (got, nbytes, err))
            recv_h.update(c)
            got += len(c)
    finally:
        t.join(max(0.1, deadline - time.monotonic()))
    if err:
        raise err[0]
    return sent_h.hexdigest(), recv_h.hexdigest(), got


def echo_check(sock, data, timeout=30.0):
    got = exchange(sock, data, timeout=timeout)
    assert got == data, "echo mismatch: sent %d bytes, got %d, first diff at %s" % (
        len(data), len(got), next((i for i, (a, b) in enumerate(zip(data, got)) if a != b), None))



def serves_eventually(socks_port, host, port, data, attempts=50, interval=0.2):
    """Opens a stream through the SOCKS5 proxy and checks an echo of data,
    retrying (bounded: attempts x interval) while a proxy recovers. Returns the
    attempt that worked (1-based), or 0 if none did."""
    for n in range(1, attempts + 1):
        try:
            s = socks5_connect(socks_port, host, port, timeout=5)
            echo_check(s, data, timeout=5)
            s.close()
            return n
        except (OSError, AssertionError, Socks5Error):
            time.sleep(interval)
    return 0

def payload(n, tag=0):
    """Deterministic, distinct-per-tag bytes."""
    rng = random.Random(tag * 7919 + n)
    head = b"<%d>" % tag
    return (head + bytes(rng.getrandbits(8) for _ in range(max(0, n - len(head)))))[:n]


# --------------------------------------------------------------------- pool stats

POOL_STATS_RE = re.compile(
    r"\[Pool Stats\]\s*Total:\s*(\d+),\s*Active:\s*(\d+),\s*Reused:\s*(\d+),\s*New:\s*(\d+),"
    r"\s*Cleaned:\s*(\d+)")


def metrics(port):
    """GET /metrics of a server's --metrics-listen port: {series: value}, the
    series named with its labels as printed (name{k="v",...})."""
    import urllib.request
    body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read().decode()
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def metric_sum(port, name, default=None):
    """The value of metric `name` summed over its labelled series; `default`
    when it has none (None: an AssertionError)."""
    vals = [v for k, v in metrics(port).items() if k == name or k.startswith(name + "{")]
    if not vals:
        if default is None:
            raise AssertionError("no %s in /metrics" % name)
        return default
    return sum(vals)


def parse_pool_stats(text):
    """All "[Pool Stats]" lines as dicts, in order."""
    out = []
    for m in POOL_STATS_RE.finditer(text):
        total, active, reused, new, cleaned = map(int, m.groups())
        out.append(dict(total=total, active=active, reused=reused, new=new, cleaned=cleaned,
                        line=m.group(0)))
    return out


# --------------------------------------------------------------------- misc

def readable(sock, timeout):
    r, _, _ = select.select([sock], [], [], timeout)
    return bool(r)


def sha256_hex(b):
    return hashlib.sha256(b).hexdigest()


# --------------------------------------------------------------- common checks

TCP_SIZES = (1, 1000, 16383, 70000, 1 << 20)
UDP_SIZES = (1, 64, 512, 1400, 4096, 8192)


def check_tcp_echo_socks5(socks_port, host, port, sizes=TCP_SIZES, tag=0, timeout=30.0):
    """One SOCKS5 CONNECT stream to an echo target; every size echoed back
    byte for byte, in order, on the same stream."""
    s = socks5_connect(socks_port, host, port)
    try:
        for i, n in enumerate(sizes):
            echo_check(s, payload(n, tag * 100 + i), timeout=timeout)
    finally:
        s.close()


def check_udp_echo_socks5(socks_port, host, port, sizes=UDP_SIZES, tag=0):
    """SOCKS5 UDP ASSOCIATE; each datagram size echoed back byte for byte, the
    reply's source address equal to the target's."""
    with Socks5Udp(socks_port) as u:
        for i, n in enumerate(sizes):
            data = payload(n, tag * 100 + i)
            got, src = u.roundtrip(data, host, port)
            assert got == data
            assert (ipaddress.ip_address(src[0]), src[1]) == (ipaddress.ip_address(host), port), \
                "UDP reply source %r, expected %s:%d" % (src, host, port)


class DualEcho(Closing):
    """Two echo servers on the same port, one on 127.0.0.1 and one on ::1, so a
    target named "localhost" works whichever address a resolver picks first."""

    def __init__(self):
        self.port = free_port(both_families=True)
        self.v4 = EchoServer(V4, self.port)
        self.v6 = EchoServer(V6, self.port)

    @property
    def connections(self):
        return self.v4.connections + self.v6.connections

    def close(self):
        self.v4.close()
        self.v6.close()


def make_cert(directory):
    """Self-signed P-256 certificate for CN=localhost (SAN localhost, 127.0.0.1).
    Returns (cert_path, key_path)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    cert, key = d / "cert.pem", d / "key.pem"
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(cert)],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError("openssl req failed: %s" % r.stderr)
    return cert, key


class Background:
    """Runs fn(*args) in a daemon thread; get(timeout) returns its result or
    re-raises its exception."""

    def __init__(self, fn, *args, **kw):
        self._res = None
        self._exc = None
        self._t = threading.Thread(target=self._run, args=(fn, args, kw), daemon=True)
        self._t.start()

    def _run(self, fn, args, kw):
        try:
            self._res = fn(*args, **kw)
        except BaseException as e:  # handed to get()
            self._exc = e

    def get(self, timeout=DEFAULT_TIMEOUT):
        self._t.join(timeout)
        if self._t.is_alive():
            raise TimeoutError("background call still running after %.0f s" % timeout)
        if self._exc is not None:
            raise self._exc
        return self._res


class BlackHole(_TcpServer):
    """Accepts and never reads: the sender's data piles up in buffers."""

    def handle(self, conn, n):
        self._stop.wait(self.idle_timeout)


class Firehose(_TcpServer):
    """After the first request byte, sends pseudo-random data as fast as the
    connection takes it, up to `limit` bytes (bounded), then closes."""

    BLOCK = None

    def __init__(self, limit=1 << 30, **kw):
        self.limit = limit
        Firehose.BLOCK = Firehose.BLOCK or payload(65536, tag=424242)
        super().__init__(**kw)

    def handle(self, conn, n):
        if not conn.recv(1):
            return
        block = self.BLOCK
        sent = 0
        while sent < self.limit and not self._stop.is_set():
            conn.sendall(block)
            sent += len(block)


def rss_kib(pid):
    """Resident set size of a process in KiB (from /proc/PID/status)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0



def sanitized():
    """True when the binaries under test are a sanitizer build: their RSS says
    little (ASan keeps freed memory in quarantine), so memory bounds are checked
    through the server's own counters there."""
    import subprocess as sp
    out = sp.run(["nm", "-D", str(binary("anytls-server"))], capture_output=True, text=True).stdout
    return "__asan_init" in out or "__tsan_init" in out
