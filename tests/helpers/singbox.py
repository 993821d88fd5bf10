"""sing-box as the real AnyTLS peer: locating the binary, certificates, configs.

sing-box is built (once, cached) by scripts/install-singbox.sh. If that fails the
interop tests FAIL with its output: they are never skipped.
Configs are sing-box 1.12 JSON, written from Python, loopback only.
"""
import json
import subprocess
from pathlib import Path

import harness as h

_cached = {}


def singbox_path():
    """Runs scripts/install-singbox.sh (bounded) and returns the binary path.
    Raises AssertionError with the script's output when it fails."""
    if "path" in _cached:
        return _cached["path"]
    script = h.ROOT / "scripts" / "install-singbox.sh"
    try:
        r = subprocess.run([str(script)], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           errors="replace", timeout=1500, cwd=str(h.ROOT))
    except subprocess.TimeoutExpired as e:
        raise AssertionError("scripts/install-singbox.sh did not finish in 1500 s: %s" % e)
    path = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    if r.returncode != 0 or not path or not Path(path).is_file():
        raise AssertionError("scripts/install-singbox.sh FAILED (rc=%d); interop tests cannot run.\n"
                             "stdout:\n%s\nstderr:\n%s" % (r.returncode, r.stdout, r.stderr[-4000:]))
    _cached["path"] = path
    return path


make_cert = h.make_cert


def anytls_inbound_config(port, password, cert, key):
    """sing-box as an AnyTLS server on 127.0.0.1:port, relaying directly."""
    return {
        "log": {"level": "warn"},
        "inbounds": [{
            "type": "anytls",
            "tag": "anytls-in",
            "listen": h.V4,
            "listen_port": port,
            "users": [{"name": "test", "password": password}],
            "tls": {"enabled": True, "certificate_path": str(cert), "key_path": str(key)},
        }],
        "outbounds": [{"type": "direct", "tag": "direct"}],
        "route": {"final": "direct"},
    }


def anytls_outbound_config(mixed_port, server_port, password, server_host=h.V4):
    """sing-box as an AnyTLS client: a `mixed` (SOCKS4/5 + HTTP) inbound on
    127.0.0.1:mixed_port, everything routed to the anytls outbound. UDP goes
    over UDP-over-TCP v2 (sing-box's anytls outbound always uses it)."""
    return {
        "log": {"level": "warn"},
        "inbounds": [{
            "type": "mixed",
            "tag": "mixed-in",
            "listen": h.V4,
            "listen_port": mixed_port,
        }],
        "outbounds": [{
            "type": "anytls",
            "tag": "anytls-out",
            "server": server_host,
            "server_port": server_port,
            "password": password,
            "tls": {"enabled": True, "server_name": "localhost", "insecure": True},
        }],
        "route": {"final": "anytls-out"},
    }


def start(mgr, config, name, port):
    """Writes the config, checks it with `sing-box check`, runs it under the
    ProcManager and waits until `port` listens."""
    sb = singbox_path()
    cfg = mgr.workdir / ("%s.json" % name)
    cfg.write_text(json.dumps(config, indent=2))
    r = mgr.run([sb, "check", "-c", cfg], timeout=30)
    if r.returncode != 0:
        raise AssertionError("sing-box check rejected %s:\n%s\n%s\nconfig:\n%s"
                             % (cfg, r.stdout, r.stderr, cfg.read_text()))
    workdir = mgr.workdir / ("%s.d" % name)
    workdir.mkdir(exist_ok=True)
    return mgr.start([sb, "run", "-c", cfg, "-D", workdir], name, port=port)
