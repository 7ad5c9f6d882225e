"""Stages: triggers fire in any stage, success is judged at the end of the bake, no data holds,
operators pause, resume and promote, and the manual rollback procedure pauses instead."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from engine_plans import load, plan_data
from engine_sim import Sim, Telemetry

from rollout.engine import (
    Command,
    Hold,
    Notify,
    RunRollbackStep,
    SetTraffic,
    Status,
    Verb,
    metric_request,
)

TRIGGERS = [
    (1, "error_rate", "error_rate > 5%"),
    (2, "latency_p99", "latency_p99 > 1000ms"),
    (3, "error_rate", "error_rate > 2%"),
]


def _sim(data: dict[str, Any] | None = None, **telemetry: Any) -> Sim:
    return Sim(load(data or plan_data("canary")), metrics=Telemetry(**telemetry))


@pytest.mark.parametrize(("stage", "metric", "trigger"), TRIGGERS)
def test_a_stage_rollback_trigger_rolls_back_at_once(stage: int, metric: str, trigger: str) -> None:
    data = plan_data("canary")
    data["stages"][2]["rollback_trigger"] = ["error_rate > 2%"]
    sim = _sim(data, bad=[(f"production/stage-{stage}", metric)], after=120.0)
    sim.run(lambda s: s.status is Status.OBSERVING and s.stage_index == stage - 1)
    fired_from = sim.now
    sim.run(lambda s: s.status is Status.ROLLING_BACK)
    # The trigger fires within minutes of going bad, long before the stage would end.
    assert sim.now - fired_from < 600.0
    assert sim.state.rollback_from is Status.OBSERVING
    assert sim.state.stage_index == stage - 1
    assert sim.state.rollback_trigger.startswith(f"stage {stage} (")
    assert f"rollback trigger fired: {trigger}" in sim.state.rollback_trigger
    assert sim.run().status is Status.ROLLED_BACK
    steps = sim.of(RunRollbackStep)
    assert [s.index for s in steps] == [0, 1]
    assert isinstance(steps[0].action, SetTraffic) and steps[0].action.percent == 0.0
    assert [n.moment for n in sim.of(Notify)][-2:] == ["rolling_back", "rolled_back"]


def test_the_strategy_trigger_is_judged_in_the_last_stage_too() -> None:
    data = plan_data("canary")
    data["strategy"]["rollback_trigger"] = ["error_rate > 3%"]
    sim = _sim(data, bad=[("production/stage-3", "error_rate")])
    assert sim.run().status is Status.ROLLED_BACK
    assert sim.state.rollback_trigger.startswith("stage 3 (General Availability): rollback")


def test_a_failed_success_criterion_at_the_end_of_the_bake_rolls_back() -> None:
    sim = _sim(bad=[("production/stage-2", "error_rate")])
    sim.run(lambda s: s.status is Status.ROLLING_BACK)
    baked = sim.state.bake_accumulated
    assert 1800.0 <= baked < 1800.0 + sim.interval
    assert sim.state.rollback_trigger.startswith(
        "stage 2 (Limited Release) failed: error_rate <= control * 1.1: canary errors 10.0% vs "
        "control 0.50%"
    )


def test_no_data_holds_the_stage_then_rolls_back_for_lack_of_data() -> None:
    sim = _sim(quiet=[("production/stage-1", "error_rate")])
    sim.run(lambda s: s.status is Status.OBSERVING)
    sim.run(lambda s: s.bake_elapsed(sim.now) >= 600.0)
    sim.tick()
    assert sim.state.status is Status.OBSERVING
    assert sim.said("stage 1 (Internal Testing) has baked 10m but is not decided yet")
    sim.run(lambda s: s.status is not Status.OBSERVING)
    assert sim.state.status is Status.ROLLING_BACK
    # Held up to twice its duration.
    assert 1200.0 <= sim.state.bake_accumulated < 1200.0 + sim.interval
    assert sim.state.rollback_trigger == (
        "stage 1 (Internal Testing): not enough data after 20m (error_rate < 1%: no data yet)"
    )


def test_a_hold_ends_as_soon_as_enough_data_arrives() -> None:
    # 2 requests a minute per arm: the 200 canary requests the analysis needs take 100 minutes,
    # more than the 20 minutes the stage may hold. Data arriving at 15 minutes saves it.
    sparse = Telemetry(sparse=[("production/stage-1", "error_rate")])
    healthy = Telemetry()
    sim = _sim()
    sim.metrics = lambda r, now, share: (sparse if now - r.since < 900 else healthy)(r, now, share)
    sim.run(lambda s: s.stage_index == 1)
    assert sim.said("stage 1 (Internal Testing) has baked 10m but is not decided yet")
    assert sim.said("stage 1 (Internal Testing) passed")


def test_too_few_canary_requests_hold_the_stage() -> None:
    data = plan_data("canary")
    data["stages"][0]["min_requests"] = 50_000
    sim = Sim(load(data))
    sim.run(lambda s: s.status is Status.ROLLING_BACK or s.stage_index == 1)
    assert sim.state.status is Status.ROLLING_BACK
    # 5 % of 2,000 requests a minute, for the 20 minutes the stage may hold.
    assert sim.state.rollback_trigger == (
        "stage 1 (Internal Testing): not enough data after 20m "
        "(only 2,000 of the 50,000 canary requests needed)"
    )


def test_pause_stops_the_bake_clock_and_resume_restarts_it() -> None:
    sim = Sim(load(plan_data("canary")))
    sim.run_to(Status.OBSERVING)
    for _ in range(4):
        sim.tick()
    sim.verb(Verb.PAUSE, "bob")
    assert sim.state.status is Status.PAUSED
    assert sim.state.reason == "paused by bob"
    baked = sim.state.bake_elapsed(sim.now)
    sim.tick(3600.0)  # an hour paused: far past the stage's 10 minutes
    assert sim.state.status is Status.PAUSED
    assert sim.state.bake_elapsed(sim.now) == baked
    sim.verb(Verb.RESUME, "bob")
    assert sim.state.status is Status.OBSERVING
    sim.run(lambda s: s.stage_index == 1)
    assert sim.state.stage_index == 1
    assert any(n.moment == "paused" for n in sim.of(Notify))


def test_promote_ends_the_bake_early() -> None:
    sim = Sim(load(plan_data("canary")))
    sim.run_to(Status.OBSERVING)
    sim.tick()
    sim.verb(Verb.PROMOTE, "carol")
    assert sim.state.stage_index == 1
    assert sim.said("stage 1 (Internal Testing) promoted by carol after 1m of 10m")


def test_promote_ends_one_bake_only() -> None:
    data = plan_data("blue-green")
    data["validation"] = {"window": "20m"}
    sim = _sim(data)
    # Blue-green stages before the switch set no traffic: the next stage starts baking at once.
    sim.run(lambda s: s.status is Status.OBSERVING and s.env_index == 1)
    sim.verb(Verb.PROMOTE, "carol")
    assert (sim.state.status, sim.state.stage_index) == (Status.OBSERVING, 1)
    sim.run(lambda s: s.stage_index == 2 and s.status is Status.OBSERVING)
    sim.verb(Verb.PROMOTE, "carol")
    assert sim.state.status is Status.VALIDATING
    began = sim.now
    sim.run()
    assert sim.now - began >= 1200.0


def test_promote_passes_a_stage_still_short_of_data() -> None:
    sim = _sim(quiet=[("production/stage-1", "error_rate")])
    sim.run_to(Status.OBSERVING)
    sim.verb(Verb.PROMOTE, "carol")
    assert sim.state.stage_index == 1
    assert sim.said("(still open: error_rate < 1%)")


def test_promote_is_refused_while_a_success_criterion_fails() -> None:
    sim = _sim(bad=[("production/stage-2", "error_rate")])
    sim.run(lambda s: s.status is Status.OBSERVING and s.stage_index == 1)
    for _ in range(5):
        sim.tick()
    sim.verb(Verb.PROMOTE, "carol")
    assert sim.state.status is Status.OBSERVING
    assert sim.said("promote by carol refused: stage 2 (Limited Release) fails")


def test_promote_outside_a_bake_is_ignored_with_a_reason() -> None:
    sim = Sim(load(plan_data("canary")))
    sim.tick()
    sim.verb(Verb.PROMOTE, "carol")
    assert sim.said(
        "promote by carol ignored: there is no bake to end early while the rollout is gating"
    )


def test_abort_rolls_back_now() -> None:
    sim = Sim(load(plan_data("canary")))
    sim.run(lambda s: s.stage_index == 1 and s.status is Status.OBSERVING)
    sim.tick(commands=[Command(Verb.ABORT, "dave", "pager is on fire")])
    assert sim.state.status is Status.ROLLING_BACK
    assert sim.state.rollback_trigger == "aborted by dave (pager is on fire)"
    assert sim.run().status is Status.ROLLED_BACK


def _manual() -> Sim:
    data = plan_data("canary")
    data["strategy"]["rollback"] = "manual"
    return _sim(data, bad=[("production/stage-2", "latency_p99")])


def test_the_manual_procedure_pauses_and_notifies_instead_of_rolling_back() -> None:
    sim = _manual()
    sim.run(lambda s: s.status is Status.PAUSED)
    assert sim.state.hold is Hold.TRIGGER
    assert sim.state.reason.endswith(
        "the rollback procedure is manual: abort to roll back, or resume to carry on"
    )
    assert sim.of(Notify)[-1].moment == "paused"
    for _ in range(10):
        sim.tick()
    assert sim.state.status is Status.PAUSED
    assert not sim.of(RunRollbackStep)
    sim.verb(Verb.ABORT, "erin")
    assert sim.run().status is Status.ROLLED_BACK


def test_resuming_past_a_lack_of_data_holds_until_promoted() -> None:
    data = plan_data("canary")
    data["strategy"]["rollback"] = "manual"
    sim = _sim(data, quiet=[("production/stage-1", "error_rate")])
    sim.run(lambda s: s.status is Status.PAUSED)
    assert sim.state.reason.startswith("stage 1 (Internal Testing): not enough data after 20m")
    sim.verb(Verb.RESUME, "erin")
    for _ in range(60):
        sim.tick()
    assert sim.state.status is Status.OBSERVING
    assert sim.state.reason.endswith("holding until the data decides (promote to move on)")
    sim.verb(Verb.PROMOTE, "erin")
    assert sim.state.stage_index == 1


def test_resume_under_the_manual_procedure_overrides_a_failed_success_criterion() -> None:
    data = plan_data("canary")
    data["strategy"]["rollback"] = "manual"
    sim = _sim(data, bad=[("production/stage-2", "error_rate")])
    sim.run(lambda s: s.status is Status.PAUSED)
    assert sim.state.reason.startswith("stage 2 (Limited Release) failed: error_rate <= control")
    sim.verb(Verb.RESUME, "erin")
    assert sim.state.stage_index == 2
    assert sim.run().status is Status.SUCCEEDED


def test_resume_under_the_manual_procedure_overrides_the_fired_trigger() -> None:
    sim = _manual()
    sim.run(lambda s: s.status is Status.PAUSED)
    sim.verb(Verb.RESUME, "erin")
    assert sim.said("ignoring latency_p99 > 1000ms for the rest of this stage")
    assert sim.run().status is Status.SUCCEEDED


def test_the_metric_request_names_the_window_and_its_criteria() -> None:
    sim = Sim(load(plan_data("canary")))
    sim.run(lambda s: s.stage_index == 1 and s.status is Status.OBSERVING)
    request = metric_request(sim.plan, sim.state)
    assert request is not None
    assert request.window == "production/stage-2"
    assert request.since == sim.state.window_started_at
    assert request.metrics == ("error_rate", "latency_p99")
    assert [spec.kind for spec in request.specs] == ["error_rate", "latency"]


def test_data_for_another_window_is_not_used() -> None:
    sim = _sim()
    healthy = Telemetry()
    # The shell keeps sending stage 1's data: stage 2 must never pass on it.
    sim.metrics = lambda r, now, share: healthy(replace(r, window="production/stage-1"), now, share)
    sim.run(lambda s: s.status is Status.ROLLING_BACK)
    assert sim.state.stage_index == 1
    assert sim.state.rollback_trigger.startswith("stage 2 (Limited Release): not enough data")
