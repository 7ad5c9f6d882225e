"""Fixtures for the migration tests: the Alembic test projects and a database server to use.

``projects/`` holds small Alembic projects sharing one ``env.py`` (``_env``) and one first
revision (``_base``, id ``b0a5e0000001``: customers, orders, coupons, audit_log):

=================  ===========================================================================
good               three revisions that round-trip cleanly and keep the old version working
missing_downgrade  a ``pass`` downgrade, a no-op revision, a ``raise NotImplementedError``
leaky              a downgrade restoring the wrong type, one leaving a column behind, one after
incompatible       one revision per breaking operation, then a compatible one
expand_contract    two expand revisions, then a contract revision dropping a column
=================  ===========================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _migration_projects import PROJECTS

from rollout.providers.migrations import scratch_database
from rollout.providers.migrations.alembic import AlembicTool


@pytest.fixture
def project() -> Callable[[str], AlembicTool]:
    """``project("good")``: the Alembic tool for one of the test projects."""
    return lambda name: AlembicTool(PROJECTS / name / "alembic.ini")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def server_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where scratch databases are made: a SQLite URL, or the test PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'server.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def database(server_url: str) -> Iterator[str]:
    """A fresh empty database on ``server_url``, dropped afterwards."""
    with scratch_database(server_url) as url:
        yield url
