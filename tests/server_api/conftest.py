"""Fixtures of the rollout API tests: a SQLite store on a fake clock, one API token per role,
the app with authentication on, served by uvicorn on a loopback port, and a controller ticked
by the test itself (same clock, flags written through the server's write path)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_support import FakeClock, make_controller, make_tokens
from fastapi import FastAPI

from rollout.engine.controller import Controller
from rollout.server._api_roles import Role
from rollout.server.app import create_app
from rollout.server.run import BackgroundServer
from rollout.store import Store, open_store


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty store file with the schema applied, made once; tests get copies."""
    path = tmp_path_factory.mktemp("template") / "rollout.db"
    open_store(f"sqlite:///{path}").close()
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_url(tmp_path: Path, migrated_db: Path) -> str:
    path = tmp_path / "rollout.db"
    shutil.copyfile(migrated_db, path)
    return f"sqlite:///{path}"


@pytest.fixture
def store(db_url: str, clock: FakeClock) -> Iterator[Store]:
    with open_store(db_url, clock=clock.moment) as opened:
        yield opened


@pytest.fixture
def tokens(store: Store) -> dict[Role, str]:
    return make_tokens(store)


@pytest.fixture
def app(store: Store, clock: FakeClock) -> FastAPI:
    app = create_app(store, auth=True, poll_seconds=0, keepalive_seconds=30)
    app.state.rollouts_api.events_poll_seconds = 0.05
    app.state.rollouts_api.clock = clock
    return app


@pytest.fixture
def server(app: FastAPI) -> Iterator[BackgroundServer]:
    with BackgroundServer(app) as running:
        yield running


@pytest.fixture
def http(server: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture
def controller(store: Store, clock: FakeClock, app: FastAPI) -> Controller:
    return make_controller(store, clock, app)
