"""The live stream of a rollout's audit events (SSE) a dashboard follows: new events as they are
appended, resuming after ``Last-Event-ID``, ending when the server stops."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
from api_support import FakeClock, bearer, plan, tick_until
from fastapi import FastAPI

from rollout.engine.controller import Controller, send_verb, start_rollout
from rollout.server._api_roles import Role
from rollout.server.run import BackgroundServer
from rollout.store import Store


def messages(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(id, data) of each SSE message; comments and the retry field are skipped."""
    ident = ""
    for line in lines:
        if line.startswith("id: "):
            ident = line[4:]
        elif line.startswith("data: "):
            yield ident, json.loads(line[6:])


def test_new_events_arrive_as_they_are_appended_and_a_client_resumes(
    server: BackgroundServer,
    tokens: dict[Role, str],
    store: Store,
    controller: Controller,
    clock: FakeClock,
) -> None:
    rollout_id = start_rollout(store, plan("shop"), None, "alice").id
    tick_until(controller, clock, store, rollout_id, "observing")
    before = store.list_events(rollout_id)[-1].seq
    url = f"{server.url}/api/v1/rollouts/{rollout_id}/events"
    reader = bearer(tokens[Role.APPROVER])

    with httpx.stream("GET", url, headers=reader, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = messages(response.iter_lines())
        send_verb(store, rollout_id, "pause", "dana", "a look")
        ident, event = next(stream)
        assert (ident, event["seq"]) == (str(before + 1), before + 1)
        assert (event["kind"], event["actor"]) == ("command.pause", "dana")
        controller.run_once()  # the controller pauses it: its events follow
        kinds = []
        while "rollout.state" not in kinds:
            kinds.append(next(stream)[1]["kind"])
        assert kinds[-1] == "rollout.state"

    # A client that lost the connection resumes after the last id it saw.
    resumed = {**reader, "Last-Event-ID": str(before)}
    with httpx.stream("GET", url, headers=resumed, timeout=10) as response:
        ident, event = next(messages(response.iter_lines()))
        assert event["kind"] == "command.pause" and ident == str(before + 1)


def test_the_stream_ends_when_the_server_stops(
    app: FastAPI, tokens: dict[Role, str], store: Store
) -> None:
    rollout_id = start_rollout(store, plan("shop"), None, "alice").id
    server = BackgroundServer(app).start()
    url = f"{server.url}/api/v1/rollouts/{rollout_id}/events"
    with httpx.stream("GET", url, headers=bearer(tokens[Role.ADMIN]), timeout=10) as response:
        lines = response.iter_lines()
        assert next(lines).startswith("retry: ")
        began = time.monotonic()
        server.stop()
        stopped = time.monotonic() - began
        assert list(lines) in ([], [""])  # the stream ended cleanly
    # Well within the server's grace period (5 s): streams do not hold the stop up.
    assert stopped < 4.0
