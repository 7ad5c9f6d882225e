"""Property-based requests from the OpenAPI document (schemathesis), authenticated as admin: no
operation answers with a server error, to valid input or to invalid input, and what succeeds
matches the documented schema. Bounded: at most 30 examples per operation and mode; the SSE
streams (which never end) are left out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api_support import bearer, plan
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from rollout.engine.controller import start_rollout
from rollout.server.app import create_app
from rollout.server.flag_service import FlagService
from rollout.server.run import BackgroundServer
from rollout.store import open_store

pytestmark = pytest.mark.slow

BOUNDED = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(URL, admin token) of a server with one rollout and one flag to find."""
    folder: Path = tmp_path_factory.mktemp("schemathesis")
    with open_store(f"sqlite:///{folder / 'rollout.db'}") as store:
        secret = store.create_token("fuzz", "admin").secret
        start_rollout(store, plan("shop"), None, "alice")
        FlagService(store).put_flag("production", "beta", {"fallthrough": {"variant": "on"}}, "al")
        with BackgroundServer(create_app(store, auth=True, poll_seconds=0)) as server:
            yield server.url, secret


def operations(url: str) -> list[Any]:
    loaded = schemathesis.openapi.from_url(f"{url}/openapi.json")
    chosen = loaded.include(path_regex="^/(api/|metrics$)").exclude(path_regex="/(stream|events)$")
    return [result.ok() for result in chosen.get_all_operations()]


def exercise(operation: Any, mode: GenerationMode, url: str, secret: str) -> None:
    """Up to 30 generated requests to ``operation``; fails on a 5xx or a success that does
    not match the documented answer."""

    @BOUNDED
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        response = case.call(base_url=url, headers=bearer(secret), timeout=20)
        label = f"{operation.label}: {response.status_code} {response.text[:300]}"
        assert response.status_code < 500, label
        if response.status_code < 300:
            case.validate_response(response, checks=[response_schema_conformance])

    check()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_operation_answers_with_a_server_error(
    running: tuple[str, str], mode: GenerationMode
) -> None:
    url, secret = running
    found = operations(url)
    assert len(found) >= 25
    for operation in found:
        exercise(operation, mode, url, secret)
