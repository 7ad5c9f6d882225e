"""Migrations: applied on open, idempotent, reversible, matching the models, race-free."""

from __future__ import annotations

import multiprocessing
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from rollout.errors import StoreError
from rollout.store import (
    current_revision,
    downgrade_database,
    head_revision,
    open_store,
    resolve_url,
    upgrade_database,
)
from rollout.store._db import make_engine
from rollout.store.migrate import VERSION_TABLE
from rollout.store.models import Base

STORE_TABLES = {
    "rollouts", "events", "event_chains", "actions", "approvals", "environments", "flags",
    "flag_history", "segments", "segment_history", "telemetry", "baselines", "api_tokens",
}  # fmt: skip


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _create_rollout_in(url: str) -> str:
    with open_store(url) as store:
        return store.create_rollout(
            name="web", version="1", plan_yaml="", plan_json={}, created_by="ci"
        ).id


def test_open_migrates_an_empty_database_to_head(empty_db_url: str) -> None:
    assert current_revision(empty_db_url) is None
    assert not _tables(empty_db_url) & STORE_TABLES

    with open_store(empty_db_url):
        pass

    assert current_revision(empty_db_url) == head_revision()
    assert _tables(empty_db_url) == STORE_TABLES | {VERSION_TABLE}


def test_opening_again_changes_nothing_and_keeps_the_data(empty_db_url: str) -> None:
    rollout_id = _create_rollout_in(empty_db_url)

    with open_store(empty_db_url) as again:
        assert again.get_rollout(rollout_id).name == "web"
    assert current_revision(empty_db_url) == head_revision()


def test_migrated_schema_matches_the_models(empty_db_url: str) -> None:
    with open_store(empty_db_url):
        pass
    engine = make_engine(empty_db_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"version_table": VERSION_TABLE, "compare_type": True}
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_downgrade_to_base_then_upgrade_to_head(empty_db_url: str) -> None:
    _create_rollout_in(empty_db_url)

    downgrade_database(empty_db_url, "base")
    assert current_revision(empty_db_url) is None
    assert not _tables(empty_db_url) & STORE_TABLES

    upgrade_database(empty_db_url)
    assert current_revision(empty_db_url) == head_revision()
    with open_store(empty_db_url) as store:
        assert store.list_rollouts() == []


def test_a_database_from_a_newer_release_is_refused_plainly(empty_db_url: str) -> None:
    with open_store(empty_db_url):
        pass
    engine = make_engine(empty_db_url)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"UPDATE {VERSION_TABLE} SET version_num = '9999'")
    engine.dispose()

    with pytest.raises(StoreError, match="migrated by a newer Rollout"):
        open_store(empty_db_url)


def _open_and_create(url: str, start: Barrier, results: Queue[str]) -> None:
    start.wait(timeout=30)
    results.put(_create_rollout_in(url))


def test_processes_opening_a_fresh_database_at_once_all_succeed(empty_db_url: str) -> None:
    # Each process migrates on open, all released at the same moment; the migration lock makes
    # all but one wait and then find the schema at head, instead of failing on "table exists".
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(3), context.Queue()
    workers = [
        context.Process(target=_open_and_create, args=(empty_db_url, start, results))
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    ids = {results.get(timeout=5) for _ in workers}
    with open_store(empty_db_url) as store:
        assert {r.id for r in store.list_rollouts()} == ids


def test_default_database_is_a_sqlite_file_under_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ROLLOUT_DATABASE_URL", raising=False)

    with open_store() as store:
        assert store.backend == "sqlite"

    assert (tmp_path / ".rollout" / "rollout.db").is_file()


def test_environment_variable_chooses_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = tmp_path / "elsewhere" / "store.db"
    monkeypatch.setenv("ROLLOUT_DATABASE_URL", f"sqlite:///{chosen}")

    with open_store():
        pass

    assert chosen.is_file()


def test_plain_postgres_urls_use_the_psycopg_driver() -> None:
    assert resolve_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert resolve_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert resolve_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "not a database URL"),
        ("mysql://u@h/db", "unsupported database 'mysql'"),
        ("postgresql+nosuchdriver://u@h/db", "no database driver"),
    ],
)
def test_unusable_urls_are_reported_plainly(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        open_store(url)


def test_unreachable_database_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="unavailable"):
        open_store("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    with open_store(url):
        pass
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA busy_timeout").scalar() == 30_000
    finally:
        engine.dispose()
