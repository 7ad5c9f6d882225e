"""Fixtures for the metric source tests: a store on SQLite and on PostgreSQL, and the
Prometheus binary.

PostgreSQL isolation: one throwaway database per session holding one migrated schema; each
test starts from its emptied tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import psycopg
import pytest
from sqlalchemy.engine import make_url

from rollout.store import Store, open_store, upgrade_database
from rollout.store.models import Base

ROOT_CONFTEST = Path(__file__).resolve().parents[2] / "conftest.py"


def _root_conftest(config: pytest.Config) -> ModuleType:
    # Every conftest.py outside a package is module "conftest", so `import conftest` may find
    # another one; the plugin manager knows the root one by its path.
    module = config.pluginmanager.get_plugin(str(ROOT_CONFTEST))
    assert isinstance(module, ModuleType), "tests/conftest.py is not loaded"
    return module


@pytest.fixture(scope="session")
def prometheus_binary(pytestconfig: pytest.Config) -> str:
    """Path of prometheus; skips (fails under CI=true) when it is not installed."""
    return str(_root_conftest(pytestconfig).require_binary("prometheus"))


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def metrics_pg_url(postgres_url: str) -> Iterator[str]:
    """A migrated schema in a database of its own for this session; yields its URL."""
    name = f"rollout_metrics_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_conninfo(postgres_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
        upgrade_database(url)
        yield url
    finally:
        with psycopg.connect(_conninfo(postgres_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _empty_tables(url: str) -> None:
    with psycopg.connect(_conninfo(url)) as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(f"DELETE FROM {table.name}")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store at the newest schema, once per backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'rollout.db'}"
    else:
        url = request.getfixturevalue("metrics_pg_url")
        _empty_tables(url)
    with open_store(url) as opened:
        yield opened
