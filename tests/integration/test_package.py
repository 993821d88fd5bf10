"""Installing like a package: `make install` with PREFIX and DESTDIR lays out
binaries, man pages, systemd units whose paths match the prefix and example
configs, and `make uninstall` takes exactly them away; the units pass
`systemd-analyze verify`; `make deb` builds a package whose contents, runtime
dependencies and maintainer scripts are checked. Nothing is installed on the
host: every tree is under the test's tmp_path."""
import os
import re
import shutil
import subprocess

import pytest

import harness as h

BUILD = "build"   # the plain build `make test` makes first (make is told, not asked to guess)


def make(*args, timeout=600):
    r = subprocess.run(["make", "--no-print-directory", "BUILD=" + BUILD] + list(args), cwd=str(h.ROOT),
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, "make %s: rc=%d\n%s\n%s" % (" ".join(args), r.returncode, r.stdout[-3000:],
                                                          r.stderr[-3000:])
    return r.stdout


def tree(root):
    out = set()
    for d, _, files in os.walk(root):
        for f in files:
            out.add(os.path.relpath(os.path.join(d, f), root))
    return out


def expected(prefix, unitdir):
    p = prefix.lstrip("/")
    return {p + "/bin/anytls-server", p + "/bin/anytls-client",
            p + "/share/man/man1/anytls-server.1", p + "/share/man/man1/anytls-client.1",
            unitdir.lstrip("/") + "/anytls-server.service", unitdir.lstrip("/") + "/anytls-client.service",
            p + "/share/anytls-c/server.ini.example", p + "/share/anytls-c/client.ini.example",
            p + "/share/anytls-c/users.txt.example",
            p + "/share/doc/anytls-c/README.md", p + "/share/doc/anytls-c/SECURITY.md"}


@pytest.mark.parametrize("prefix", ["/usr/local", "/opt/anytls"])
def test_make_install_layout_and_uninstall(tmp_path, prefix):
    dest = tmp_path / "stage"
    make("install", "PREFIX=" + prefix, "DESTDIR=" + str(dest))
    unitdir = prefix + "/lib/systemd/system"
    assert tree(dest) == expected(prefix, unitdir)
    for b in ("anytls-server", "anytls-client"):
        exe = dest / prefix.lstrip("/") / "bin" / b
        assert os.access(exe, os.X_OK)
        r = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=10)
        assert r.returncode == 0 and b in r.stdout, r
    unit = (dest / unitdir.lstrip("/") / "anytls-server.service").read_text()
    assert re.search(r"^ExecStart=%s/bin/anytls-server --config /etc/anytls/server.ini$" % re.escape(prefix),
                     unit, re.M), unit
    assert "/usr/local/bin" not in unit or prefix == "/usr/local"
    client_unit = (dest / unitdir.lstrip("/") / "anytls-client.service").read_text()
    assert "ExecStart=%s/bin/anytls-client " % prefix in client_unit
    assert (dest / prefix.lstrip("/") / "share/man/man1/anytls-server.1").read_text() == \
        (h.ROOT / "man/anytls-server.1").read_text()
    make("uninstall", "PREFIX=" + prefix, "DESTDIR=" + str(dest))
    assert tree(dest) == set(), "left behind: %s" % sorted(tree(dest))


def test_installed_units_pass_systemd_analyze_verify(tmp_path):
    tool = shutil.which("systemd-analyze")
    if not tool:
        pytest.skip("systemd-analyze is not installed")
    dest = tmp_path / "stage"
    prefix = "/usr/local"
    make("install", "PREFIX=" + prefix, "DESTDIR=" + str(dest))
    unitdir = dest / "usr/local/lib/systemd/system"
    check = tmp_path / "check"
    check.mkdir()
    for name in ("anytls-server.service", "anytls-client.service"):
        text = (unitdir / name).read_text()
        # verify wants the ExecStart binary to exist: the one in the staged
        # tree, at the path the unit names under DESTDIR
        m = re.search(r"^ExecStart=(\S+)", text, re.M)
        staged = str(dest) + m.group(1)
        assert os.access(staged, os.X_OK), "the unit starts %s, not installed" % m.group(1)
        (check / name).write_text(text.replace("ExecStart=" + m.group(1), "ExecStart=" + staged))
        r = subprocess.run([tool, "verify", "--man=no", "--recursive-errors=no", str(check / name)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and name not in r.stderr, "systemd-analyze verify %s:\n%s%s" % (
            name, r.stdout, r.stderr)


def test_make_deb_contents_dependencies_and_scripts(tmp_path):
    if not shutil.which("dpkg-deb"):
        pytest.skip("dpkg-deb is not installed")
    out = make("deb", "DEB_VERSION=9.9.9-test").strip().splitlines()[-1]
    deb = h.ROOT / out
    assert deb.name.startswith("anytls-c_9.9.9-test_") and deb.is_file(), out
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    files = {l.split()[-1].lstrip(".") for l in listing.splitlines() if not l.startswith("d")}
    assert files == {"/" + f for f in expected("/usr", "/lib/systemd/system")} - {
        "/usr/share/man/man1/anytls-server.1", "/usr/share/man/man1/anytls-client.1"} | {
        "/usr/share/man/man1/anytls-server.1.gz", "/usr/share/man/man1/anytls-client.1.gz"}, listing
    assert all(" root/root " in l for l in listing.splitlines()), listing
    assert re.search(r"^-rwxr-xr-x root/root .* \./usr/bin/anytls-server$", listing, re.M)
    # the unit starts the packaged binary
    ex = tmp_path / "x"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(ex)], check=True)
    unit = (ex / "lib/systemd/system/anytls-server.service").read_text()
    assert "ExecStart=/usr/bin/anytls-server --config /etc/anytls/server.ini" in unit
    # control: every shared library the binaries need comes from a declared package
    f = lambda field: subprocess.run(["dpkg-deb", "-f", str(deb), field], capture_output=True, text=True,
                                     check=True).stdout.strip()
    assert f("Package") == "anytls-c" and f("Version") == "9.9.9-test"
    depends = {d.strip().split()[0] for d in f("Depends").split(",")}
    assert {"libssl3", "libjemalloc2", "liburcu8", "libinih1", "libc-ares2", "libc6"} <= depends, depends
    if shutil.which("readelf") and shutil.which("dpkg"):
        for b in ("anytls-server", "anytls-client"):
            dyn = subprocess.run(["readelf", "-d", str(ex / "usr/bin" / b)], capture_output=True, text=True,
                                 check=True).stdout
            for lib in re.findall(r"NEEDED.*\[(.+)\]", dyn):
                owner = subprocess.run(["sh", "-c", "dpkg -S '*/%s' | head -1" % lib], capture_output=True,
                                       text=True).stdout.split(":")[0]
                assert owner in depends, "%s needs %s (package %s), not in Depends %s" % (b, lib, owner, depends)
    # maintainer scripts: present, executable, valid sh; the server gets a random password
    ctl = tmp_path / "ctl"
    subprocess.run(["dpkg-deb", "-e", str(deb), str(ctl)], check=True)
    for s in ("postinst", "prerm", "postrm"):
        assert os.access(ctl / s, os.X_OK), s
        subprocess.run(["sh", "-n", str(ctl / s)], check=True)
    post = (ctl / "postinst").read_text()
    assert "/dev/urandom" in post and "systemctl enable anytls-server.service" in post
    assert "/run/systemd/system" in post   # started only where systemd runs
    assert "rm -f /etc/anytls/server.ini" in (ctl / "postrm").read_text()
    deb.unlink()
