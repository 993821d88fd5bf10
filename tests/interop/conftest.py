import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))

import harness as h  # noqa: E402
import singbox as sbx  # noqa: E402


@pytest.fixture
def procs(tmp_path):
    """Processes of one test; all stopped (SIGTERM, then SIGKILL) at teardown.
    A sanitizer report, an early death or a non-zero exit fails the test."""
    mgr = h.ProcManager(tmp_path / "procs")
    yield mgr
    problems = mgr.stop_all()
    if problems:
        pytest.fail("process problems:\n\n" + "\n\n".join(problems), pytrace=False)


@pytest.fixture(scope="session")
def singbox():
    """Path to sing-box. Never skips: a failed build fails every interop test."""
    try:
        return sbx.singbox_path()
    except AssertionError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def cert(tmp_path_factory):
    return sbx.make_cert(tmp_path_factory.mktemp("cert"))


@pytest.fixture
def echo():
    with h.EchoServer() as e:
        yield e


@pytest.fixture
def udp_echo():
    with h.UdpEchoServer() as u:
        yield u
