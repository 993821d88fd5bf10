import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))

from anytls_fixtures import cert, echo, procs, udp_echo  # noqa: E402,F401

import singbox as sbx  # noqa: E402


@pytest.fixture(scope="session")
def singbox():
    """Path to sing-box. Never skips: a failed build fails every interop test."""
    try:
        return sbx.singbox_path()
    except AssertionError as e:
        pytest.fail(str(e), pytrace=False)
