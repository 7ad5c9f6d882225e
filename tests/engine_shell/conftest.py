"""Fixtures for the runner and controller tests: a work folder with the action scripts, a
fake clock shared by the controller and the store, stores on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from shell_plans import FakeClock, write_scripts
from shell_worker import Worker

from rollout.engine.controller import Controller
from rollout.providers.migrations import scratch_database
from rollout.providers.notify import AppriseNotifier
from rollout.store import Store, open_store


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A folder holding the action scripts; plans written here run their commands here."""
    folder = tmp_path / "work"
    folder.mkdir()
    return write_scripts(folder)


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'rollout.db'}", clock=clock.moment) as opened:
        yield opened


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    """A fresh empty PostgreSQL database for one test (dropped afterwards)."""
    with scratch_database(postgres_url) as url:
        yield url


def quick_notifier() -> AppriseNotifier:
    """One attempt per message, no waiting: a test never sleeps on a channel that is down."""
    return AppriseNotifier(attempts=1, sleep=lambda _s: None, timeout=5.0)


@pytest.fixture
def make_controller(store: Store, clock: FakeClock) -> Callable[..., Controller]:
    def make(owner: str = "c1", **options: object) -> Controller:
        options.setdefault("notifier", quick_notifier())
        return Controller(store, owner=owner, clock=clock, **options)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    """The fork server for controllers that are killed and restarted (one per module)."""
    server = Worker()
    yield server
    server.close()
