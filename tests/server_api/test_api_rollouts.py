"""The rollout routes as a dashboard or a script uses them, over HTTP against a real server: start,
status, verbs reaching the controller, approvals, history, document, errors."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from api_support import TOKEN_NAMES, FakeClock, bearer, detail, plan, tick_until, write_metrics

from rollout.engine.controller import Controller, send_verb, start_rollout
from rollout.server._api_roles import Role
from rollout.store import Store

R = "/api/v1/rollouts"
DEPLOYER, APPROVER = TOKEN_NAMES[Role.DEPLOYER], TOKEN_NAMES[Role.APPROVER]


def start(http: httpx.Client, secret: str, text: str, version: str | None = None) -> str:
    response = http.post(R, json={"plan": text, "version": version}, headers=bearer(secret))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_start_answers_the_new_rollout_started_by_the_token_name(
    http: httpx.Client, tokens: dict[Role, str], store: Store
) -> None:
    response = http.post(
        R, json={"plan": plan("shop"), "version": "2.4.1"}, headers=bearer(tokens[Role.DEPLOYER])
    )
    assert response.status_code == 201
    body = response.json()
    assert response.headers["Location"] == f"{R}/{body['id']}"
    assert (body["name"], body["version"], body["status"]) == ("shop", "2.4.1", "pending")
    assert body["created_by"] == DEPLOYER
    created = store.list_events(body["id"])[0]
    assert (created.kind, created.actor) == ("rollout.created", DEPLOYER)


def test_a_plan_with_problems_is_422_with_each_located(
    http: httpx.Client, tokens: dict[Role, str]
) -> None:
    text = plan("shop").replace("    duration: 5m\n", "    duration: 5 parsecs\n", 1)
    text = text.replace("strategy:", "strategee:")
    response = http.post(R, json={"plan": text}, headers=bearer(tokens[Role.DEPLOYER]))
    assert response.status_code == 422
    body = response.json()
    assert body["detail"].startswith("the plan has ")
    problems = body["problems"]
    assert len(problems) >= 2
    by_path = {p["path"]: p for p in problems}
    duration_line = text.splitlines().index("    duration: 5 parsecs") + 1
    assert by_path["stages[0].duration"]["line"] == duration_line
    assert by_path["stages[0].duration"]["column"] > 0
    assert by_path["strategee"] == {
        "line": text.splitlines().index("strategee: {type: feature-flag, flag: new-checkout}") + 1,
        "column": 1,
        "path": "strategee",
        "message": "unknown key (did you mean 'strategy'?)",
    }
    assert all(set(p) == {"line", "column", "path", "message"} for p in problems)


def test_a_second_rollout_of_a_running_plan_is_409(
    http: httpx.Client, tokens: dict[Role, str]
) -> None:
    first = start(http, tokens[Role.DEPLOYER], plan("shop"))
    again = http.post(R, json={"plan": plan("shop")}, headers=bearer(tokens[Role.DEPLOYER]))
    assert again.status_code == 409
    assert first in detail(again) and "still pending" in detail(again)


def test_unknown_rollouts_are_404_everywhere(http: httpx.Client, tokens: dict[Role, str]) -> None:
    admin = bearer(tokens[Role.ADMIN])
    for method, suffix in [
        ("GET", ""),
        ("GET", "/history"),
        ("GET", "/document"),
        ("GET", "/events"),
        ("POST", "/pause"),
        ("POST", "/approve"),
    ]:
        response = http.request(method, f"{R}/ro_nobody{suffix}", headers=admin)
        assert response.status_code == 404, (method, suffix)
        assert "ro_nobody" in detail(response)


def test_the_status_view_shows_stage_audience_criteria_and_time_left(
    http: httpx.Client,
    tokens: dict[Role, str],
    store: Store,
    controller: Controller,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # a plan sent as text runs its commands here
    write_metrics(tmp_path)
    rollout_id = start(http, tokens[Role.DEPLOYER], plan("shop", judged=True))
    tick_until(controller, clock, store, rollout_id, "observing")
    clock.advance(120)
    controller.run_once()

    response = http.get(f"{R}/{rollout_id}", headers=bearer(tokens[Role.APPROVER]))
    assert response.status_code == 200
    view = response.json()
    assert view["status"] == "observing"
    assert (view["environment"], view["environment_number"], view["environment_count"]) == (
        "production",
        1,
        1,
    )
    assert (view["stage"], view["stage_number"], view["stage_count"]) == ("Some", 1, 2)
    assert view["audience_percent"] == 20.0
    assert view["waiting_for"] == "bake"
    assert 0 < view["time_left"] < 300
    [criterion] = view["criteria"]
    assert criterion["text"] == "error_rate < 2%"
    # An absolute limit is judged when the stage ends; until then the view says how it stands.
    assert (criterion["role"], criterion["verdict"]) == ("success", "inconclusive")
    assert criterion["value"] == pytest.approx(0.005)  # 5 errors in 1,000 per minute
    assert "within the limit of 2% over 2,000 canary requests" in criterion["reason"]
    assert view["last_events"] and view["last_events"][-1]["seq"] == len(
        store.list_events(rollout_id)
    )


def test_a_rolled_back_rollout_shows_nobody_on_the_new_version(
    http: httpx.Client,
    tokens: dict[Role, str],
    store: Store,
    controller: Controller,
    clock: FakeClock,
) -> None:
    rollout_id = start(http, tokens[Role.DEPLOYER], plan("shop"))
    tick_until(controller, clock, store, rollout_id, "observing")
    headers = bearer(tokens[Role.DEPLOYER])
    assert http.get(f"{R}/{rollout_id}", headers=headers).json()["audience_percent"] == 20.0

    assert http.post(f"{R}/{rollout_id}/abort", headers=headers).status_code == 202
    tick_until(controller, clock, store, rollout_id, "rolled_back")
    view = http.get(f"{R}/{rollout_id}", headers=headers).json()
    assert (view["status"], view["stage"], view["stage_number"]) == ("rolled_back", "", 0)
    assert view["audience_percent"] == 0.0
    assert (view["audience_segment"], view["segment_percent"]) == (None, None)


def test_list_filters_by_status(
    http: httpx.Client,
    tokens: dict[Role, str],
    store: Store,
    controller: Controller,
    clock: FakeClock,
) -> None:
    paused = start(http, tokens[Role.DEPLOYER], plan("one"))
    clock.advance(1)
    waiting = start(http, tokens[Role.DEPLOYER], plan("two"))
    tick_until(controller, clock, store, paused, "observing")
    send_verb(store, paused, "pause", "alice")
    tick_until(controller, clock, store, paused, "paused")
    reader = bearer(tokens[Role.DEPLOYER])

    everything = http.get(R, headers=reader).json()["rollouts"]
    assert [r["id"] for r in everything] == [waiting, paused]  # newest first
    only = http.get(R, params={"status": "paused"}, headers=reader).json()["rollouts"]
    assert [r["id"] for r in only] == [paused]
    assert http.get(R, params={"status": "asleep"}, headers=reader).status_code == 422


def test_a_verb_is_queued_with_the_token_name_and_the_controller_applies_it(
    http: httpx.Client,
    tokens: dict[Role, str],
    store: Store,
    controller: Controller,
    clock: FakeClock,
) -> None:
    rollout_id = start(http, tokens[Role.DEPLOYER], plan("shop"))
    tick_until(controller, clock, store, rollout_id, "observing")

    # The client cannot choose another actor: the header is ignored while tokens are checked.
    headers = {**bearer(tokens[Role.DEPLOYER]), "X-Rollout-Actor": "mallory"}
    response = http.post(f"{R}/{rollout_id}/pause", json={"comment": "a look"}, headers=headers)
    assert response.status_code == 202
    answer = response.json()
    assert (answer["verb"], answer["actor"]) == ("pause", DEPLOYER)
    assert answer["event"]["kind"] == "command.pause"
    assert answer["event"]["actor"] == DEPLOYER

    controller.run_once()
    view = http.get(f"{R}/{rollout_id}", headers=headers).json()
    assert view["status"] == "paused"
    assert view["reason"] == f"paused by {DEPLOYER} (a look)"
    assert "mallory" not in str(http.get(f"{R}/{rollout_id}/history", headers=headers).json())


def test_a_verb_that_does_not_apply_now_is_409_with_the_reason(
    http: httpx.Client, tokens: dict[Role, str]
) -> None:
    rollout_id = start(http, tokens[Role.DEPLOYER], plan("shop"))
    response = http.post(f"{R}/{rollout_id}/resume", headers=bearer(tokens[Role.DEPLOYER]))
    assert response.status_code == 409
    assert detail(response) == f"cannot resume rollout {rollout_id}: the rollout is not paused"


def test_an_approval_counts_and_moves_the_rollout_on(
    http: httpx.Client,
    tokens: dict[Role, str],
    store: Store,
    controller: Controller,
    clock: FakeClock,
) -> None:
    rollout_id = start(http, tokens[Role.DEPLOYER], plan("shop", approval="{required: true}"))
    tick_until(controller, clock, store, rollout_id, "awaiting_approval")

    response = http.post(
        f"{R}/{rollout_id}/approve",
        json={"comment": "QA signed off"},
        headers=bearer(tokens[Role.APPROVER]),
    )
    assert response.status_code == 202
    decision = response.json()
    assert (decision["environment"], decision["approver"], decision["decision"]) == (
        "production",
        APPROVER,
        "approve",
    )
    controller.run_once()
    assert store.get_rollout(rollout_id).status.value not in ("awaiting_approval", "pending")
    [approval] = store.list_approvals(rollout_id)
    assert (approval.approver, approval.comment) == (APPROVER, "QA signed off")


def test_history_lists_every_event_and_reports_the_chain(
    http: httpx.Client,
    tokens: dict[Role, str],
    store: Store,
    controller: Controller,
    clock: FakeClock,
    db_url: str,
) -> None:
    rollout_id = start(http, tokens[Role.DEPLOYER], plan("shop"))
    tick_until(controller, clock, store, rollout_id, "observing")
    reader = bearer(tokens[Role.APPROVER])

    trail = http.get(f"{R}/{rollout_id}/history", headers=reader).json()
    events = store.list_events(rollout_id)
    assert [e["seq"] for e in trail["events"]] == [e.seq for e in events]
    assert [e["hash"] for e in trail["events"]] == [e.hash for e in events]
    assert trail["chain"]["intact"] is True
    assert trail["chain"]["checked"] == len(events)

    import sqlalchemy

    engine = sqlalchemy.create_engine(db_url)
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text(
                "UPDATE events SET message = 'nothing happened' WHERE chain = :c AND seq = 2"
            ),
            {"c": rollout_id},
        )
    engine.dispose()
    chain = http.get(f"{R}/{rollout_id}/history", headers=reader).json()["chain"]
    assert (chain["intact"], chain["first_bad_seq"]) == (False, 2)
    assert "edited" in chain["problem"]


def test_the_document_is_the_plan_as_markdown_with_progress(
    http: httpx.Client,
    tokens: dict[Role, str],
    store: Store,
    controller: Controller,
    clock: FakeClock,
) -> None:
    rollout_id = start(http, tokens[Role.DEPLOYER], plan("shop"))
    tick_until(controller, clock, store, rollout_id, "observing")
    response = http.get(f"{R}/{rollout_id}/document", headers=bearer(tokens[Role.DEPLOYER]))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/markdown")
    text = response.text
    assert text.startswith("# Rollout Plan")
    assert "- [x] Rollback plan documented" in text
    assert "### Stage 1: Some" in text
    assert "production" in text


def test_self_approval_is_refused_unless_the_plan_allows_it(
    http: httpx.Client, store: Store, controller: Controller, clock: FakeClock
) -> None:
    # Ann deploys and approves, with a token for each role.
    deploys = store.create_token("ann", "deployer").secret
    approves = store.create_token("ann", "approver").secret
    strict = start(http, deploys, plan("strict", approval="{required: true}"))
    lenient = start(
        http, deploys, plan("lenient", approval="{required: true, allow_self_approval: true}")
    )
    tick_until(controller, clock, store, strict, "awaiting_approval")
    tick_until(controller, clock, store, lenient, "awaiting_approval")

    refused = http.post(f"{R}/{strict}/approve", headers=bearer(approves))
    assert refused.status_code == 403
    assert detail(refused) == (
        f"ann started rollout {strict}, and production does not allow self-approval: "
        "someone else must approve it"
    )
    assert store.list_approvals(strict) == []

    allowed = http.post(f"{R}/{lenient}/approve", headers=bearer(approves))
    assert allowed.status_code == 202
    controller.run_once()
    assert store.get_rollout(lenient).status.value != "awaiting_approval"

    # The one who started it may still stop it.
    rejected = http.post(
        f"{R}/{strict}/reject", json={"comment": "wrong build"}, headers=bearer(approves)
    )
    assert rejected.status_code == 202
    controller.run_once()
    assert "rejected by ann: wrong build" in store.get_rollout(strict).state_json["reason"]


def test_the_engine_itself_ignores_a_self_approval_given_another_way(
    store: Store, controller: Controller, clock: FakeClock
) -> None:
    rollout_id = start_rollout(store, plan("shop", approval="{required: true}"), None, "ann").id
    tick_until(controller, clock, store, rollout_id, "awaiting_approval")
    send_verb(store, rollout_id, "approve", "ann")  # the local service call, not the API
    controller.run_once()
    assert store.get_rollout(rollout_id).status.value == "awaiting_approval"
    reasons = [e.message for e in store.list_events(rollout_id) if e.kind == "rollout.reason"]
    assert any("does not allow self-approval" in reason for reason in reasons)


def test_only_the_listed_approvers_may_decide(
    http: httpx.Client,
    tokens: dict[Role, str],
    store: Store,
    controller: Controller,
    clock: FakeClock,
) -> None:
    text = plan("shop", approval="{required: true, approvers: [carol]}")
    rollout_id = start(http, tokens[Role.DEPLOYER], text)
    tick_until(controller, clock, store, rollout_id, "awaiting_approval")
    refused = http.post(f"{R}/{rollout_id}/approve", headers=bearer(tokens[Role.APPROVER]))
    assert refused.status_code == 403
    assert detail(refused) == "only carol may decide on production"
    carol = store.create_token("carol", "approver").secret
    assert http.post(f"{R}/{rollout_id}/approve", headers=bearer(carol)).status_code == 202


def test_a_manual_gate_is_signed_off_through_the_api(
    http: httpx.Client,
    tokens: dict[Role, str],
    store: Store,
    controller: Controller,
    clock: FakeClock,
) -> None:
    from api_support import MANUAL_GATE

    rollout_id = start(http, tokens[Role.DEPLOYER], plan("shop", gates=MANUAL_GATE))
    tick_until(controller, clock, store, rollout_id, "gating")
    url = f"{R}/{rollout_id}/gates/2/sign-off"
    wrong = http.post(url, json={"roles": ["qa"]}, headers=bearer(tokens[Role.APPROVER]))
    assert wrong.status_code == 409
    assert "needs someone with the role 'security'" in detail(wrong)
    signed = http.post(url, json={"roles": ["security"]}, headers=bearer(tokens[Role.APPROVER]))
    assert signed.status_code == 202
    assert signed.json()["event"]["actor"] == APPROVER
    tick_until(controller, clock, store, rollout_id, "observing")


def test_flag_changes_name_the_token_not_the_header(
    http: httpx.Client, tokens: dict[Role, str], store: Store
) -> None:
    headers = {**bearer(tokens[Role.DEPLOYER]), "X-Rollout-Actor": "mallory"}
    put = http.put(
        "/api/v1/environments/production/flags/beta",
        json={"fallthrough": {"variant": "on"}},
        headers=headers,
    )
    assert put.status_code == 200
    assert put.json()["updated_by"] == DEPLOYER
    [change] = store.flag_history("production", "beta")
    assert change.actor == DEPLOYER
