"""The pytest fixtures that tests/integration and tests/interop both use; each
conftest.py imports the ones it wants (pytest registers fixtures a conftest
module holds, imported or not)."""
import os
from pathlib import Path

import pytest

import harness as h


@pytest.fixture
def procs(tmp_path, request):
    """Processes of one test; all stopped (SIGTERM, then SIGKILL) at teardown.
    A sanitizer report, an early death or an exit code other than 0 after
    SIGTERM fails the test (as an error at teardown) with the log tail.
    With ANYTLS_EXCERPT_DIR set, each test's log excerpt (ProcManager.excerpt)
    is written there as <test name>.txt (scripts/reliability.sh uses it)."""
    mgr = h.ProcManager(tmp_path / "procs")
    yield mgr
    xdir = os.environ.get("ANYTLS_EXCERPT_DIR")
    if xdir:
        Path(xdir).mkdir(parents=True, exist_ok=True)
        (Path(xdir) / (request.node.name + ".txt")).write_text(mgr.excerpt())
    problems = mgr.stop_all()
    if problems:
        pytest.fail("process problems:\n\n" + "\n\n".join(problems), pytrace=False)


@pytest.fixture
def echo():
    with h.EchoServer() as e:
        yield e


@pytest.fixture
def udp_echo():
    with h.UdpEchoServer() as u:
        yield u


@pytest.fixture(scope="session")
def cert(tmp_path_factory):
    """A self-signed P-256 cert/key for CN=localhost (for fake servers, --cert
    and sing-box)."""
    return h.make_cert(tmp_path_factory.mktemp("cert"))
