import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))

from anytls_fixtures import cert, echo, procs, udp_echo  # noqa: E402,F401

from harness import PASSWORD  # noqa: E402


@pytest.fixture
def pair(procs):
    """A started anytls-server and an anytls-client pointed at it."""
    server = procs.server(password=PASSWORD)
    client = procs.client(server.port, password=PASSWORD)
    return server, client
