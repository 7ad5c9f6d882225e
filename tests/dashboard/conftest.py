"""Dashboard fixtures: a store on a fake clock, the real controller, the app (with or without
authentication) under an httpx client, and rollouts driven to the states the pages show.

Driving a rollout takes the controller a second or so, so each state is driven once per
session and saved; a test gets its own copy of the saved database and a clock set to match.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from dashboard_world import FakeClock, drive_until, make_app, make_controller, write_world
from fastapi import FastAPI

from rollout.engine.controller import Controller, send_verb, start_rollout
from rollout.store import Store, open_store

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def chromium(pytestconfig: pytest.Config) -> str:
    """Debian's Chromium; skips without it (fails under CI=true, like every service)."""
    # Every conftest.py outside a package is module "conftest": ask for the root one by path.
    root = pytestconfig.pluginmanager.get_plugin(str(ROOT_CONFTEST))
    assert isinstance(root, ModuleType), "tests/conftest.py is not loaded"
    root.require(Path(CHROMIUM).exists(), f"Chromium at {CHROMIUM}")
    try:
        import playwright.sync_api  # noqa: F401 (only whether it is there)
    except ImportError:
        root.require(False, "the playwright package")
    return CHROMIUM


@dataclass(frozen=True)
class Saved:
    """A database file holding one rollout in some state, and the time it was left at."""

    path: Path
    now: float
    rollout_id: str


def _save(live: Path, name: str, clock: FakeClock, rollout_id: str) -> Saved:
    target = live.with_name(f"{name}.db")
    with sqlite3.connect(live) as source, sqlite3.connect(target) as copy:
        source.backup(copy)  # a consistent copy, whatever is still in the write-ahead log
    return Saved(target, clock.now, rollout_id)


@pytest.fixture(scope="session")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Saved]:
    """``empty``; ``awaiting``: a rollout alice started, through staging, waiting for
    production's approval; ``observing``: the same approved by bob and one minute (two
    intervals judged) into its first stage's two-minute bake."""
    folder = tmp_path_factory.mktemp("saved")
    work = folder / "work"
    work.mkdir()
    clock = FakeClock()
    found = {}
    live = folder / "live.db"
    with open_store(f"sqlite:///{live}", clock=clock.moment) as store:
        found["empty"] = _save(live, "empty", clock, "")
        controller = make_controller(store, clock)
        rollout = start_rollout(store, write_world(work), None, "alice")
        drive_until(controller, clock, store, rollout.id, lambda s: s == "awaiting_approval")
        found["awaiting"] = _save(live, "awaiting", clock, rollout.id)
        send_verb(store, rollout.id, "approve", "bob")
        drive_until(controller, clock, store, rollout.id, lambda s: s == "observing")
        for _ in range(2):
            clock.advance(30)
            controller.run_once()
        found["observing"] = _save(live, "observing", clock, rollout.id)
    return found


@pytest.fixture
def world(request: pytest.FixtureRequest) -> str:
    """Which saved state the test starts from: the one it asks for as a fixture
    (``observing`` or ``awaiting``), else ``empty``."""
    return next((n for n in ("observing", "awaiting") if n in request.fixturenames), "empty")


@pytest.fixture
def clock(saved: dict[str, Saved], world: str) -> FakeClock:
    return FakeClock(saved[world].now)


@pytest.fixture
def store(tmp_path: Path, saved: dict[str, Saved], world: str, clock: FakeClock) -> Iterator[Store]:
    path = tmp_path / "rollout.db"
    shutil.copyfile(saved[world].path, path)
    with open_store(f"sqlite:///{path}", clock=clock.moment) as opened:
        yield opened


@pytest.fixture
def controller(store: Store, clock: FakeClock) -> Controller:
    return make_controller(store, clock)


@pytest.fixture
def app(store: Store, clock: FakeClock) -> FastAPI:
    return make_app(store, clock)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dashboard") as opened:
        yield opened


@pytest.fixture
def awaiting(saved: dict[str, Saved], store: Store) -> str:
    """Start from the rollout waiting for production's approval (see ``saved``)."""
    return saved["awaiting"].rollout_id


@pytest.fixture
def observing(saved: dict[str, Saved], store: Store) -> str:
    """Start from the rollout one minute into its first stage (see ``saved``)."""
    return saved["observing"].rollout_id
