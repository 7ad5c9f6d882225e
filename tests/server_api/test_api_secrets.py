"""A plan names its secrets as ``${VAR}``; the value set in the environment reaches the command
and the channel, and nothing else: no API answer and no stored event or action carries it."""

from __future__ import annotations

import json
import socket

import httpx
import pytest
from api_support import FakeClock, bearer, plan, tick_until

from rollout.engine.controller import Controller
from rollout.server._api_roles import Role
from rollout.server.run import BackgroundServer
from rollout.store import Store

SECRET = "hook-s3cret-4711"
R = "/api/v1/rollouts"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def leaky_plan(port: int) -> str:
    # A gate whose command prints the secret it was given, and a channel that cannot be
    # reached, with the secret in its URL: both paths put text into the audit trail.
    gate = '  - item: Ping the hook\n    run: "echo calling with ${WEBHOOK_TOKEN} >&2; exit 1"\n'
    channel = f"json://127.0.0.1:{port}/hook?token=${{WEBHOOK_TOKEN}}"
    communication = f"communication:\n  - when: [any]\n    audience: ops\n    channel: {channel}\n"
    return plan("leaky", gates=gate, extra=communication)


def test_no_answer_and_no_event_contains_the_expanded_secret(
    server: BackgroundServer,
    http: httpx.Client,
    tokens: dict[Role, str],
    store: Store,
    controller: Controller,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEBHOOK_TOKEN", SECRET)
    admin = bearer(tokens[Role.ADMIN])
    started = http.post(R, json={"plan": leaky_plan(closed_port())}, headers=admin)
    assert started.status_code == 201
    rollout_id = started.json()["id"]
    tick_until(controller, clock, store, rollout_id, "paused")  # the gate failed
    answers = [started.text]
    answers.append(http.post(f"{R}/{rollout_id}/abort", headers=admin).text)
    tick_until(controller, clock, store, rollout_id, "failed")  # stopped before any change

    for path in ("", "?events=200", "/history", "/document"):
        answers.append(http.get(f"{R}/{rollout_id}{path}", headers=admin).text)
    answers.append(http.get(R, headers=admin).text)
    url = f"{server.url}{R}/{rollout_id}/events"
    with httpx.stream("GET", url, params={"after": 0}, headers=admin, timeout=10) as response:
        streamed = []
        for line in response.iter_lines():
            streamed.append(line)
            data = json.loads(line[6:]) if line.startswith("data: ") else {}
            if data.get("kind") == "rollout.state" and data["data"]["to"] == "failed":
                break
    answers.append("\n".join(streamed))

    events = store.list_events(rollout_id)
    stored = [e.message + json.dumps(e.data) for e in events]
    stored += [json.dumps(a.payload) + json.dumps(a.result) for a in store.list_actions(rollout_id)]
    stored.append(json.dumps(store.get_rollout(rollout_id).state_json))

    # The secret went where it was needed...
    failed_gate = [e for e in events if e.kind == "action.failed" and "gate/2" in e.message]
    assert failed_gate and "calling with ****" in failed_gate[0].message
    assert any("${WEBHOOK_TOKEN}" in text for text in stored)
    # ... and nowhere else.
    assert not [text for text in stored if SECRET in text]
    assert not [text for text in answers if SECRET in text]


def test_answers_mask_a_referenced_value_that_reached_the_trail_another_way(
    http: httpx.Client,
    tokens: dict[Role, str],
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A deploy script the plan runs may print whatever it likes; the API still masks the
    # values of the variables the plan names.
    from rollout.engine.controller import start_rollout
    from rollout.store import NewEvent

    monkeypatch.setenv("WEBHOOK_TOKEN", SECRET)
    rollout_id = start_rollout(store, leaky_plan(closed_port()), None, "alice").id
    store.append_event(rollout_id, NewEvent("note", f"the script said {SECRET}", {"x": SECRET}))
    admin = bearer(tokens[Role.ADMIN])

    trail = http.get(f"{R}/{rollout_id}/history", headers=admin).json()
    assert trail["events"][-1]["message"] == "the script said ****"
    assert trail["events"][-1]["data"] == {"x": "****"}
    assert SECRET not in http.get(f"{R}/{rollout_id}?events=50", headers=admin).text
