"""Stages opened to a segment, end to end through the built-in flag router and the server's
flag service, judged the way an SDK evaluates the config it is served."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from shell_plans import FakeClock, write_plan

from rollout.engine.actions import SetFlag, SetTraffic
from rollout.engine.actions_exec import ActionExecutor, World
from rollout.engine.controller import Controller, rollout_status, send_verb, start_rollout
from rollout.flags import compile_config, stage_segment
from rollout.plan.model import CommandRouter, Plan
from rollout.providers.notify import AppriseNotifier
from rollout.server.flag_service import FlagService
from rollout.store import Store

STAFF = tuple(f"staff-{n}" for n in range(40))
BETA = tuple(f"beta-{n}" for n in range(200))
OTHERS = tuple(f"user-{n}" for n in range(200))

PLAN = """\
name: segments
overview: {{summary: "Staff, half of beta, everyone.", version: "2.0"}}
checklist:
  - {{item: Rollback plan documented, rollback: documented}}
strategy: {strategy}
environments:
  - name: production
flags:
  - key: new-checkout
    rollout: 100%
stages:
  - name: Staff
    audience: {{segment: internal-staff}}
    duration: 5m
  - name: Half of beta
    audience: {{segment: beta, percent: 50}}
    duration: 5m
  - name: Everyone
    audience: 100%
    duration: 5m
rollback:
  - {rollback}
validation:
  window: 5m
"""
FEATURE_FLAG = ("{type: feature-flag, flag: new-checkout}", "flag: {key: new-checkout, percent: 0}")
CANARY = ("{type: canary, flag: new-checkout}", "traffic: 0")


def plan_text(kind: tuple[str, str]) -> str:
    return PLAN.format(strategy=kind[0], rollback=kind[1])


@pytest.fixture
def service(store: Store) -> FlagService:
    return FlagService(store)


def add_segments(service: FlagService, *keys: str) -> None:
    members = {"internal-staff": STAFF, "beta": BETA + STAFF[:10]}
    for key in keys:
        service.put_segment("production", key, {"included": list(members[key])}, actor="ann")


def served(service: FlagService, keys: tuple[str, ...]) -> set[str]:
    """Who gets the new version, evaluated locally from the served config as an SDK does."""
    config = compile_config(service.config_document("production").config)
    return {key for key in keys if config.evaluate("new-checkout", {"key": key}, False).value}


def tick_until(
    controller: Controller, clock: FakeClock, store: Store, rid: str, stage: str
) -> None:
    """Tick a minute at a time until the rollout observes ``stage`` ('' : until it ends)."""
    for _ in range(60):
        controller.run_once()
        view = rollout_status(store, rid, events=0)
        if (stage and view.stage == stage and view.status == "observing") or (
            not stage and store.get_rollout(rid).terminal
        ):
            return
        clock.advance(60.0)
    raise AssertionError(f"the rollout never got to {stage or 'its end'}: {view.reason}")


@pytest.mark.parametrize("kind", [FEATURE_FLAG, CANARY], ids=["feature-flag", "canary"])
def test_each_stage_serves_its_segment_and_nobody_else(
    kind: tuple[str, str],
    work: Path,
    store: Store,
    clock: FakeClock,
    service: FlagService,
    make_controller: Callable[..., Controller],
) -> None:
    add_segments(service, "internal-staff", "beta")
    rid = start_rollout(store, write_plan(work, plan_text(kind)), None, "alice").id
    controller = make_controller(flag_store=service)

    tick_until(controller, clock, store, rid, "Staff")
    assert served(service, STAFF) == set(STAFF)
    assert served(service, BETA + OTHERS) == set()
    view = rollout_status(store, rid, events=0)
    assert (view.audience_segment, view.segment_percent) == ("internal-staff", 100.0)

    tick_until(controller, clock, store, rid, "Half of beta")
    beta = served(service, BETA)
    assert 60 < len(beta) < 140  # about half of beta, bucketed as the rollout buckets
    assert served(service, OTHERS) == set()
    # The staff rule was replaced: only the staff who are also in beta can still have it.
    assert served(service, STAFF[10:]) == set()

    tick_until(controller, clock, store, rid, "Everyone")
    assert served(service, STAFF + BETA + OTHERS) == set(STAFF + BETA + OTHERS)
    flag = service.config_document("production").config.flag("new-checkout")
    assert flag is not None and stage_segment(flag) is None

    tick_until(controller, clock, store, rid, "")
    assert store.get_rollout(rid).status.value == "succeeded"


def test_a_missing_segment_holds_the_rollout_with_the_reason_then_retry_goes_on(
    work: Path,
    store: Store,
    clock: FakeClock,
    service: FlagService,
    make_controller: Callable[..., Controller],
) -> None:
    rid = start_rollout(store, write_plan(work, plan_text(FEATURE_FLAG)), None, "alice").id
    controller = make_controller(flag_store=service)
    for _ in range(5):
        controller.run_once()
        clock.advance(60.0)
    view = rollout_status(store, rid, events=0)
    assert view.status == "paused"
    assert (
        "segment 'internal-staff' does not exist in production: create it through the API "
        "(PUT /api/v1/environments/production/segments/internal-staff); fix the cause, then "
        "retry" in view.reason
    )
    assert served(service, STAFF + OTHERS) == set()

    add_segments(service, "internal-staff", "beta")
    send_verb(store, rid, "retry", "bob")
    tick_until(controller, clock, store, rid, "Staff")
    assert served(service, STAFF) == set(STAFF)


def test_a_rollback_from_a_segment_stage_removes_everyone(
    work: Path,
    store: Store,
    clock: FakeClock,
    service: FlagService,
    make_controller: Callable[..., Controller],
) -> None:
    add_segments(service, "internal-staff", "beta")
    rid = start_rollout(store, write_plan(work, plan_text(CANARY)), None, "alice").id
    controller = make_controller(flag_store=service)
    tick_until(controller, clock, store, rid, "Half of beta")
    assert served(service, BETA)
    send_verb(store, rid, "abort", "bob", "staff found a bug")
    tick_until(controller, clock, store, rid, "")

    assert store.get_rollout(rid).status.value == "rolled_back"
    assert served(service, STAFF + BETA + OTHERS) == set()
    flag = service.config_document("production").config.flag("new-checkout")
    assert flag is not None and stage_segment(flag) is None


def executor(store: Store, service: FlagService, work: Path) -> ActionExecutor:
    record = start_rollout(store, write_plan(work, plan_text(CANARY)), None, "alice")
    plan = Plan.model_validate(record.plan_json)
    return ActionExecutor(
        plan, record.id, record.version, work, World(store, AppriseNotifier(attempts=1), service)
    )


def test_a_router_that_shifts_requests_cannot_open_a_segment(
    work: Path, store: Store, service: FlagService
) -> None:
    add_segments(service, "beta")
    action = SetTraffic(
        rollout_id="r",
        step="production/stage-2/traffic",
        environment="production",
        percent=0.0,
        router=CommandRouter(type="command", set="./ledger.sh weight {weight}"),
        segment="beta",
        segment_percent=50.0,
    )
    done = executor(store, service, work).execute(action, 0.0)
    assert not done.ok
    assert done.message == (
        "the command router shifts a share of requests and cannot open production to segment "
        "beta: only the flag router can"
    )
    assert not (work / "raw.txt").exists()  # nothing was run


def test_a_switched_off_flag_is_not_opened_to_a_segment(
    work: Path, store: Store, service: FlagService
) -> None:
    add_segments(service, "beta")
    run = executor(store, service, work)
    ramp = SetFlag(
        rollout_id="r",
        step="production/stage-2/flag",
        environment="production",
        flag="new-checkout",
        percent=0.0,
        segment="beta",
        segment_percent=50.0,
    )
    opened = run.execute(ramp, 0.0)
    assert opened.ok, opened.message
    assert opened.message.startswith(
        "flag new-checkout in production serves the new version to 50% of segment beta and to "
        "nobody else (version "
    )
    assert opened.details["segment_percent"] == 50.0
    service.set_enabled("production", "new-checkout", False, actor="ann")
    again = run.execute(replace(ramp, step="production/stage-3/flag", segment_percent=100.0), 0.0)
    assert not again.ok
    assert "switched off in production (its kill switch)" in again.message
    assert served(service, BETA) == set()
