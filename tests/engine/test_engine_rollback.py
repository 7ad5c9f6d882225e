"""Rolling back: the plan's steps in order, each with its retries; a step that still fails ends
in rollback_failed, loudly; a notification that cannot be sent does not hold the rollback up."""

from __future__ import annotations

from typing import Any

from engine_plans import load, plan_data
from engine_sim import Sim, Telemetry, World

from rollout.engine import (
    Command,
    Deploy,
    Notify,
    RunCommand,
    RunRollbackStep,
    SetFlag,
    SetTraffic,
    Status,
    Verb,
)
from rollout.plan.model import Plan


def _rollback_plan(strategy: str = "canary") -> dict[str, Any]:
    data = plan_data(strategy)
    data["rollback"] = [
        {"name": "traffic back", "traffic": 0, "retries": 2},
        {"flag": {"key": "new-checkout", "enabled": False}},
        {"notify": {"audience": "on-call", "message": "rolling back {version}"}, "retries": 1},
        {"run": "./purge-cache.sh", "retries": 0},
    ]
    return data


def _abort_in_stage_2(sim: Sim) -> None:
    sim.run(lambda s: s.status is Status.OBSERVING and s.stage_index == 1)
    sim.tick(commands=[Command(Verb.ABORT, "dave")])


def test_rollback_steps_run_in_order_one_at_a_time() -> None:
    sim = Sim(load(_rollback_plan()))
    _abort_in_stage_2(sim)
    first = [a.index for a in sim.of(RunRollbackStep)]
    assert first == [0]  # the next step waits for this one's result
    assert sim.run().status is Status.ROLLED_BACK
    steps = sim.of(RunRollbackStep)
    assert [s.index for s in steps] == [0, 1, 2, 3]
    kinds = [type(s.action) for s in steps]
    assert kinds == [SetTraffic, SetFlag, Notify, RunCommand]
    assert (
        sim.state.reason
        == "rolled back production: all 4 rollback steps done (cause: aborted by dave)"
    )


def test_a_failing_step_is_retried_before_the_next_one_runs() -> None:
    world = World(fail={"rollback/1": ["router timeout", "router timeout"]})
    sim = Sim(load(_rollback_plan()), world=world)
    _abort_in_stage_2(sim)
    assert sim.run().status is Status.ROLLED_BACK
    tries = [(s.index, s.attempt) for s in sim.of(RunRollbackStep)]
    assert tries == [(0, 1), (0, 2), (0, 3), (1, 1), (2, 1), (3, 1)]
    # The inner action carries the same key as its step: the runner can act idempotently.
    assert all(s.action.key == s.key for s in sim.of(RunRollbackStep))


def test_a_step_that_keeps_failing_ends_in_rollback_failed_loudly() -> None:
    world = World(fail={"rollback/1": ["router timeout"] * 3})
    sim = Sim(load(_rollback_plan()), world=world)
    _abort_in_stage_2(sim)
    final = sim.run()
    assert final.status is Status.ROLLBACK_FAILED
    assert final.reason.startswith(
        "ROLLBACK FAILED in production: rollback step 1 (traffic back) failed after 3 attempts: "
        "router timeout. The new version may still be serving users"
    )
    assert "(cause of the rollback: aborted by dave)" in final.reason
    # Later steps never ran, and people were told.
    assert [s.index for s in sim.of(RunRollbackStep)] == [0, 0, 0]
    assert sim.of(Notify)[-1].moment == "rollback_failed"
    assert sim.of(Notify)[-1].context.reason == final.reason


def test_a_notify_step_that_fails_does_not_block_the_rollback() -> None:
    world = World(fail={"rollback/3": ["slack is down", "slack is still down"]})
    sim = Sim(load(_rollback_plan()), world=world)
    _abort_in_stage_2(sim)
    final = sim.run()
    assert final.status is Status.ROLLED_BACK
    assert final.notes == ("rollback step 3 (notify) failed after 2 attempts: slack is still down",)
    assert sim.said(
        "rollback step 3 (notify) failed after 2 attempts: slack is still down; "
        "carrying on with the rollback"
    )
    assert [s.index for s in sim.of(RunRollbackStep)][-1] == 3


def test_a_communication_plan_message_that_fails_is_noted_and_ignored() -> None:
    world = World(fail={"notify/*": 99})
    sim = Sim(load(plan_data("canary")), world=world)
    assert sim.run().status is Status.SUCCEEDED
    assert sim.said("notify/1/started could not be delivered: notify/* broke")


def test_the_rolling_strategy_puts_the_new_instances_back() -> None:
    data = _rollback_plan("rolling")
    sim = Sim(load(data), metrics=Telemetry(bad=[("production/stage-2", "latency_p99")]))
    assert sim.run().status is Status.ROLLED_BACK
    first = sim.of(RunRollbackStep)[0].action
    assert isinstance(first, Deploy)
    assert first.command.run == "./undeploy-one.sh"
    # Stage 2 runs 3 of 5 instances; they go back newest first.
    assert first.instances == ("web-3", "web-2", "web-1")


def test_a_health_check_that_fails_rolls_a_rolling_deployment_back() -> None:
    world = World(fail={"production/stage-2/batch-2-3/health": 2})
    sim = Sim(load(_rollback_plan("rolling")), world=world)
    assert sim.run().status is Status.ROLLED_BACK
    assert sim.state.rollback_trigger == (
        "the health check 'healthz' of web-2, web-3 in production failed after 2 attempts: "
        "production/stage-2/batch-2-3/health broke"
    )
    first = sim.of(RunRollbackStep)[0].action
    assert isinstance(first, Deploy) and first.instances == ("web-3", "web-2", "web-1")


def test_resuming_past_a_failed_health_check_lets_the_next_batch_go() -> None:
    data = _rollback_plan("rolling")
    data["strategy"]["rollback"] = "manual"
    sim = Sim(load(data), world=World(fail={"staging/full/batch-1-2/health": 2}))
    sim.run(lambda s: s.status is Status.PAUSED)
    assert sim.state.reason.startswith("the health check 'healthz' of web-1, web-2 in staging")
    sim.verb(Verb.RESUME, "erin")
    assert sim.run().status is Status.SUCCEEDED
    assert sim.said("ignoring staging/full/batch-1-2/health for the rest of this stage")


def test_rolling_without_an_undeploy_command_cannot_roll_traffic_back() -> None:
    """`rollout validate` refuses such a plan now; a rollout stored before that still ends
    loudly rather than pretending the instances went back."""
    data = _rollback_plan("rolling")
    del data["strategy"]["rolling"]["undeploy"]
    sim = Sim(Plan.model_validate(data))  # the model's own rules, not the cross-checks
    _abort_in_stage_2(sim)
    final = sim.run()
    assert final.status is Status.ROLLBACK_FAILED
    assert "the rolling block has no 'undeploy' command" in final.reason


def test_abort_before_anything_changed_ends_in_failed_without_rollback_steps() -> None:
    sim = Sim(load(_rollback_plan()), world=World(never=["gate/*"]))
    sim.tick()
    sim.verb(Verb.ABORT, "dave")
    assert sim.state.status is Status.FAILED
    assert not sim.of(RunRollbackStep)
    assert any(n.moment == "failed" for n in sim.of(Notify))


def test_verbs_during_a_rollback_are_ignored_with_a_reason() -> None:
    sim = Sim(load(_rollback_plan()), world=World(never=["rollback/*"]))
    _abort_in_stage_2(sim)
    for verb in (Verb.PAUSE, Verb.ABORT, Verb.PROMOTE):
        sim.verb(verb, "erin")
        assert sim.state.status is Status.ROLLING_BACK
    assert sim.said("pause by erin ignored: the rollout is rolling back")
    assert sim.said("abort by erin ignored: the rollout is already rolling back")


def test_a_finished_rollout_ignores_verbs_but_records_late_results() -> None:
    sim = Sim(load(plan_data("canary")), world=World(never=["notify/*"]))
    sim.run()
    final = sim.state
    sim.verb(Verb.ABORT, "erin")
    assert sim.state.status is Status.SUCCEEDED
    late = sim.world
    late._never = ()  # the notifications are answered at last
    sim.tick()
    assert sim.state.status is final.status
    assert all(e.outcome.value == "done" for e in sim.state.ledger if e.kind == "notify")


def _shares_while_rolling_back(data: dict[str, Any]) -> list[float]:
    """The new version's share at the abort in stage 2 (50 %), then after each tick until
    the rollback ends (every action is answered on the tick after it is issued)."""
    sim = Sim(load(data))
    _abort_in_stage_2(sim)
    shares = [sim.state.traffic_percent]
    while not sim.state.status.terminal:
        sim.tick()
        shares.append(sim.state.traffic_percent)
    assert sim.state.status is Status.ROLLED_BACK
    return shares


def test_the_share_follows_the_traffic_step_once_the_router_has_done_it() -> None:
    assert _shares_while_rolling_back(_rollback_plan()) == [50.0, 0.0, 0.0, 0.0, 0.0]


def test_a_failed_traffic_step_leaves_the_share_where_it_was() -> None:
    sim = Sim(load(_rollback_plan()), world=World(fail={"rollback/1": ["router timeout"] * 3}))
    _abort_in_stage_2(sim)
    final = sim.run()
    assert (final.status, final.traffic_percent) == (Status.ROLLBACK_FAILED, 50.0)


def test_flag_steps_on_the_rollout_flag_set_the_share() -> None:
    data = plan_data("feature-flag")
    data["rollback"] = [
        {"flag": {"key": "new-checkout", "percent": 20}},
        {"flag": {"key": "new-checkout", "enabled": False}},
    ]
    assert _shares_while_rolling_back(data) == [50.0, 20.0, 0.0]


def test_a_flag_step_on_another_flag_leaves_the_share_alone() -> None:
    data = plan_data("canary")
    data["flags"].append({"key": "banner", "description": "a banner"})
    # The plan's own rollback leaves a fifth of the traffic on the new version: say so.
    data["rollback"] = [{"flag": {"key": "banner", "enabled": False}}, {"traffic": 20}]
    assert _shares_while_rolling_back(data) == [50.0, 50.0, 20.0]


def test_a_rollback_by_commands_alone_ends_with_nobody_on_the_new_version() -> None:
    data = plan_data("canary")
    data["rollback"] = [{"run": "./put-the-old-version-back.sh"}]
    assert _shares_while_rolling_back(data) == [50.0, 0.0]


def test_rolling_back_a_rolling_deployment_counts_the_instances_put_back() -> None:
    data = _rollback_plan("rolling")
    data["rollback"][0]["traffic"] = 20  # one of five instances keeps the new version
    sim = Sim(load(data))
    _abort_in_stage_2(sim)
    final = sim.run()
    assert (final.status, final.instances_done, final.traffic_percent) == (
        Status.ROLLED_BACK,
        1,
        20.0,
    )
