"""Fixtures for the traffic router tests: the nginx / haproxy binaries and two upstream apps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from _traffic_servers import upstream_app

ROOT_CONFTEST = Path(__file__).resolve().parents[2] / "conftest.py"


def _root_conftest(config: pytest.Config) -> ModuleType:
    # Every conftest.py outside a package is module "conftest", so `import conftest` may find
    # another one; the plugin manager knows the root one by its path.
    module = config.pluginmanager.get_plugin(str(ROOT_CONFTEST))
    assert isinstance(module, ModuleType), "tests/conftest.py is not loaded"
    return module


@pytest.fixture(scope="session")
def nginx_binary(pytestconfig: pytest.Config) -> str:
    """Path of nginx; skips (fails under CI=true) when it is not installed."""
    return str(_root_conftest(pytestconfig).require_binary("nginx"))


@pytest.fixture(scope="session")
def haproxy_binary(pytestconfig: pytest.Config) -> str:
    """Path of haproxy; skips (fails under CI=true) when it is not installed."""
    return str(_root_conftest(pytestconfig).require_binary("haproxy"))


@pytest.fixture(scope="session")
def apps() -> Iterator[tuple[str, str]]:
    """Two running apps, ``(stable, canary)`` addresses, answering "stable" / "canary"."""
    with upstream_app("stable") as stable, upstream_app("canary") as canary:
        yield stable, canary
