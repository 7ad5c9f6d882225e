"""A migration error never quotes a value the database URL's references were filled in with:
the driver's message names the user, a SQLite path shows a directory, a revision may say
anything; the migrator masks them all as ``****``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rollout.errors import MigrationError
from rollout.plan.model import Migrations
from rollout.providers.migrations import Migrator
from rollout.providers.migrations.alembic import AlembicTool

USER = "svc-s3cret-user"
FOLDER = "/srv/s3cret-folder"


def migrator(tool: AlembicTool, url: str, environ: dict[str, str]) -> Migrator:
    return Migrator(tool, Migrations(database_url=url), environ)


@pytest.mark.parametrize(
    ("url", "environ", "secret"),
    [
        # Nothing listens on port 1: the connection is refused at once.
        (
            "postgresql+psycopg://${DB_USER}:${DB_PASSWORD}@127.0.0.1:1/shop",
            {"DB_USER": USER, "DB_PASSWORD": "pw-s3cret"},
            USER,
        ),
        ("sqlite:///${DB_DIR}/missing/app.db", {"DB_DIR": FOLDER}, FOLDER),
    ],
)
def test_an_unreachable_database_is_named_with_the_filled_in_values_masked(
    project: Callable[[str], AlembicTool], url: str, environ: dict[str, str], secret: str
) -> None:
    moving = migrator(project("good"), url, environ)

    for step in (moving.current, moving.expand, moving.contract):
        with pytest.raises(MigrationError, match="cannot read the current revision") as caught:
            step(url)
        assert "****" in str(caught.value)
        assert secret not in str(caught.value)
        assert caught.value.__cause__ is None  # a traceback must not quote it either


def test_an_error_that_quotes_nothing_secret_is_left_as_it_is(
    project: Callable[[str], AlembicTool], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/missing/app.db"
    with pytest.raises(MigrationError) as caught:
        migrator(project("good"), url, {}).current(url)

    assert str(tmp_path) in str(caught.value)
    assert caught.value.__cause__ is not None
