"""Operator verbs, approvals and sign-offs through the service calls, reaching the controller
exactly once; and the status view people watch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from shell_plans import FakeClock, approver, canary, drive, write_plan

from rollout.engine.controller import (
    Controller,
    rollout_status,
    send_verb,
    sign_off,
    start_rollout,
)
from rollout.errors import EngineError
from rollout.store import Store


def reasons(store: Store, rollout_id: str) -> list[str]:
    return [e.message for e in store.list_events(rollout_id) if e.kind == "rollout.reason"]


def to_status(controller: Controller, clock: FakeClock, store: Store, rid: str, want: str) -> None:
    for _ in range(30):
        controller.run_once()
        status = store.get_rollout(rid).status.value
        if status == want:
            return
        approver(store, rid)(status)
        clock.advance(60)
    raise AssertionError(f"never reached {want}: {store.get_rollout(rid).status.value}")


@pytest.fixture
def started(work: Path, store: Store) -> str:
    return start_rollout(store, write_plan(work, canary()), None, "alice").id


def test_a_verb_that_does_not_apply_now_is_refused_with_the_reason(
    store: Store, started: str, make_controller: Callable[..., Controller]
) -> None:
    with pytest.raises(EngineError, match=r"cannot pause rollout .*: the rollout has not started"):
        send_verb(store, started, "pause", "alice")
    with pytest.raises(EngineError, match="unknown verb 'hurry'"):
        send_verb(store, started, "hurry", "alice")
    with pytest.raises(EngineError, match="there is no bake to end early while the rollout is"):
        send_verb(store, started, "promote", "alice")
    make_controller().run_once()
    with pytest.raises(EngineError, match="the rollout is not paused"):
        send_verb(store, started, "resume", "alice")


def test_each_verb_reaches_the_controller_once(
    store: Store,
    started: str,
    clock: FakeClock,
    make_controller: Callable[..., Controller],
) -> None:
    controller = make_controller()
    to_status(controller, clock, store, started, "observing")

    send_verb(store, started, "pause", "dana", "checking a dashboard")
    controller.run_once()
    paused = rollout_status(store, started, now=clock())
    assert paused.status == "paused" and paused.reason == "paused by dana (checking a dashboard)"
    for _ in range(3):  # later ticks do not see the command again
        clock.advance(600)
        controller.run_once()
    assert store.get_rollout(started).status.value == "paused"
    assert rollout_status(store, started, now=clock()).time_left == paused.time_left

    send_verb(store, started, "resume", "dana")
    controller.run_once()
    assert store.get_rollout(started).status.value == "observing"
    said = reasons(store, started)
    assert said.count("paused by dana (checking a dashboard)") == 1
    assert said.count("resumed by dana") == 1
    assert not [r for r in said if "ignored" in r]


def test_promote_ends_the_bake_now_and_abort_rolls_back(
    work: Path, store: Store, started: str, clock: FakeClock,
    make_controller: Callable[..., Controller],
) -> None:  # fmt: skip
    controller = make_controller()
    to_status(controller, clock, store, started, "observing")
    controller.run_once()  # one interval of data: 1,000 canary requests
    send_verb(store, started, "promote", "erin")
    controller.run_once()  # same moment: no bake time has passed
    view = rollout_status(store, started, now=clock())
    assert (view.stage, view.audience_percent) == ("Everyone", 100.0)
    assert any(r.startswith("stage 1 (Canary) promoted by erin") for r in reasons(store, started))

    send_verb(store, started, "abort", "erin", "wrong build")
    controller.run_once()
    record = store.get_rollout(started)
    assert record.status.value == "rolled_back"
    assert (work / "weight-production.txt").read_text().strip() == "0"
    view = rollout_status(store, started, now=clock())
    assert (view.status, view.stage, view.audience_percent) == ("rolled_back", "", 0.0)
    assert any("aborted by erin (wrong build)" in r for r in reasons(store, started))


def test_approvals_count_only_from_the_named_approvers_and_may_come_early(
    store: Store, started: str, clock: FakeClock, make_controller: Callable[..., Controller]
) -> None:
    send_verb(store, started, "approve", "mallory", env="production")
    send_verb(store, started, "approve", "carol", "looks good", env="production")
    with pytest.raises(EngineError, match="carol cannot decide twice on production"):
        send_verb(store, started, "reject", "carol", env="production")
    with pytest.raises(EngineError, match="staging needs no approval"):
        send_verb(store, started, "approve", "carol", env="staging")
    with pytest.raises(EngineError, match="the plan has no environment 'prod'"):
        send_verb(store, started, "approve", "carol", env="prod")

    final = drive(make_controller(), clock, store, started)

    assert final == "succeeded"
    said = reasons(store, started)
    assert any("ignored: only bob and carol may decide on it" in r for r in said)
    assert any(r.startswith("production approved by carol") for r in said)


def test_a_rejection_stops_the_rollout(
    store: Store, started: str, clock: FakeClock, make_controller: Callable[..., Controller]
) -> None:
    controller = make_controller()
    to_status(controller, clock, store, started, "awaiting_approval")
    send_verb(store, started, "reject", "bob", "not this week")
    controller.run_once()
    assert store.get_rollout(started).status.value == "failed"  # production was never touched
    said = reasons(store, started)
    assert any(
        r.startswith("production was rejected by bob: not this week; nothing had been changed")
        for r in said
    )
    with pytest.raises(EngineError, match="has ended"):
        send_verb(store, started, "abort", "bob")


SIGNED = canary().replace(
    "  - item: Audit clean\n    run: ./ledger.sh gate-audit\n",
    "  - item: Docs updated\n    manual: {role: writer, people: [ann, tom]}\n",
)


def test_a_manual_gate_waits_for_a_sign_off_by_the_right_person(
    work: Path, store: Store, clock: FakeClock, make_controller: Callable[..., Controller]
) -> None:
    rid = start_rollout(store, write_plan(work, SIGNED), None, "alice").id
    controller = make_controller()
    controller.run_once()
    assert store.get_rollout(rid).status.value == "gating"
    with pytest.raises(EngineError, match="only ann, tom may sign off gate 2"):
        sign_off(store, rid, 2, "bob", ("writer",))
    with pytest.raises(EngineError, match="needs someone with the role 'writer'"):
        sign_off(store, rid, 2, "ann", ("dev",))
    with pytest.raises(EngineError, match="runs by itself"):
        sign_off(store, rid, 1, "ann", ("writer",))
    clock.advance(3600)
    controller.run_once()
    assert store.get_rollout(rid).status.value == "gating"  # no time limit on a sign-off

    sign_off(store, rid, 2, "ann", ("writer",), comment="release notes merged")
    controller.run_once()
    assert store.get_rollout(rid).status.value != "gating"
    assert "gate 2 (Docs updated) signed off by ann: release notes merged" in reasons(store, rid)


def test_the_status_view_shows_where_the_rollout_is_and_how_it_is_judged(
    store: Store, started: str, clock: FakeClock, make_controller: Callable[..., Controller]
) -> None:
    controller = make_controller()
    to_status(controller, clock, store, started, "observing")
    clock.advance(120)
    controller.run_once()
    view = rollout_status(store, started, now=clock(), events=5)

    assert (view.status, view.environment, view.environment_number) == (
        "observing",
        "production",
        2,
    )
    assert (view.stage, view.stage_number, view.stage_count) == ("Canary", 1, 2)
    assert view.audience_percent == 10.0
    assert (view.time_left, view.waiting_for) == (180.0, "bake")
    assert view.controller == "c1"
    by_text = {c.text: c for c in view.criteria}
    assert set(by_text) == {"error_rate < 2%", "error_rate > 5%"}
    success, trigger = by_text["error_rate < 2%"], by_text["error_rate > 5%"]
    assert (success.role, success.shown, success.verdict) == ("success", "0.50%", "inconclusive")
    assert (trigger.role, trigger.verdict) == ("rollback", "pass")
    assert len(view.last_events) == 5
    assert view.last_events[-1].seq == store.list_events(started)[-1].seq
