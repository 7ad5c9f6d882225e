"""Shared fixtures.

Service-backed tests (PostgreSQL, nginx, haproxy, Prometheus, Chromium) skip with a reason on a
machine that lacks the service, except under ``CI=true``, where a missing service fails the test.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
POSTGRES_URL = os.environ.get(
    "ROLLOUT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def require(available: bool, what: str) -> None:
    """Skip (on a laptop) or fail (under CI=true) when ``what`` is not available."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true but is not available")
    pytest.skip(f"{what} is not available on this machine")


def require_binary(name: str) -> str:
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)), None
    )
    require(path is not None, f"the {name} binary")
    assert path is not None
    return path


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of the real PostgreSQL (127.0.0.1:5432, database ``test``)."""
    require(port_open("127.0.0.1", 5432), "PostgreSQL on 127.0.0.1:5432")
    yield POSTGRES_URL
