"""Database URLs expanded only when used, shown without passwords; scratch databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from rollout.errors import MigrationError
from rollout.providers.migrations import scratch_database
from rollout.providers.migrations.urls import display, expand, is_sqlite


def test_references_are_filled_in_from_the_environment_given() -> None:
    environ = {"DB_USER": "app", "DB_PASSWORD": "s3cret"}
    assert expand("postgresql://${DB_USER}:${DB_PASSWORD}@db/shop", environ) == (
        "postgresql://app:s3cret@db/shop"
    )


def test_the_process_environment_is_read_at_the_moment_of_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROLLOUT_TEST_DB", "sqlite:///one.db")
    assert expand("${ROLLOUT_TEST_DB}") == "sqlite:///one.db"
    monkeypatch.setenv("ROLLOUT_TEST_DB", "sqlite:///two.db")
    assert expand("${ROLLOUT_TEST_DB}") == "sqlite:///two.db"


def test_every_unset_variable_is_named() -> None:
    with pytest.raises(MigrationError) as caught:
        expand("postgresql://${DB_USER}:${DB_PASSWORD}@db/${DB_NAME}", {"DB_USER": "app"})
    assert str(caught.value) == (
        "the database URL refers to ${DB_NAME}, ${DB_PASSWORD}, which are not set in the "
        "environment"
    )


@given(st.text().filter(lambda t: "${" not in t))
def test_text_without_references_is_unchanged(url: str) -> None:
    assert expand(url, {}) == url


def test_messages_show_urls_without_the_password() -> None:
    assert display("postgresql+psycopg://app:s3cret@db:5432/shop") == (
        "postgresql+psycopg://app:***@db:5432/shop"
    )
    assert is_sqlite("sqlite:///shop.db")
    assert not is_sqlite("postgresql://db/shop")
    with pytest.raises(MigrationError, match="is not a database URL"):
        display("not a url")


def test_a_sqlite_scratch_database_is_a_new_file_removed_afterwards(tmp_path: Path) -> None:
    server = tmp_path / "production.db"
    server.write_bytes(b"")
    with scratch_database(f"sqlite:///{server}") as url:
        path = Path(url.removeprefix("sqlite:///"))
        assert path != server
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (id INTEGER)"))
        engine.dispose()
        assert path.exists()
    assert not path.exists()
    assert server.read_bytes() == b""  # the URL's own file is never touched


def _databases(postgres_url: str) -> set[str]:
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        names = {row[0] for row in connection.execute(text("SELECT datname FROM pg_database"))}
    engine.dispose()
    return names


@pytest.mark.postgres
def test_a_postgresql_scratch_database_is_created_and_dropped(postgres_url: str) -> None:
    with pytest.raises(RuntimeError), scratch_database(postgres_url) as url:
        name = url.rsplit("/", 1)[1]
        assert name.startswith("rollout_scratch_")
        assert name in _databases(postgres_url)
        # A connection left open (as a careless env.py might) must not keep it alive.
        leftover = create_engine(url).connect()
        raise RuntimeError("the check failed half-way")
    leftover.close()
    assert name not in _databases(postgres_url)


def test_a_server_that_refuses_is_a_clear_error() -> None:
    with (
        pytest.raises(MigrationError) as caught,
        scratch_database("postgresql+psycopg://app:s3cret@127.0.0.1:1/shop"),
    ):
        pass
    message = str(caught.value)
    assert message.startswith(
        "cannot create a scratch database on postgresql+psycopg://app:***@127.0.0.1:1/shop: "
    )
    assert message.endswith(
        "(set migrations.scratch_database_url to a server where this user may create databases)"
    )
    assert "s3cret" not in message
