"""Each deployment strategy, driven by a world where everything works, reaches success, and
moves traffic the way the strategy says."""

from __future__ import annotations

from engine_plans import INSTANCES, load, make_plan, plan_data
from engine_sim import Sim, Telemetry

from rollout.engine import (
    Deploy,
    Migrate,
    Notify,
    RunCheck,
    RunGate,
    SetFlag,
    SetTraffic,
    Status,
    metric_request,
)
from rollout.plan.model import Plan


def test_canary_walks_every_stage_to_success() -> None:
    sim = Sim(make_plan("canary"))
    final = sim.run()
    assert final.status is Status.SUCCEEDED
    assert sim.statuses == [
        Status.GATING,
        Status.DEPLOYING,  # staging: no approval, deployed
        Status.RAMPING,  # staging is not staged: straight to 100 %
        Status.VALIDATING,
        Status.DEPLOYING,  # production
        Status.RAMPING,
        Status.OBSERVING,
        Status.RAMPING,
        Status.OBSERVING,
        Status.RAMPING,
        Status.OBSERVING,
        Status.VALIDATING,
        Status.SUCCEEDED,
    ]
    moves = [(a.environment, a.percent) for a in sim.of(SetTraffic)]
    assert moves == [
        ("staging", 100.0),
        ("production", 5.0),
        ("production", 50.0),
        ("production", 100.0),
    ]
    assert [a.step for a in sim.of(Deploy)] == ["staging/deploy", "production/deploy"]
    assert len(sim.of(RunGate)) == 2


def test_a_stage_passes_only_after_its_bake_time() -> None:
    sim = Sim(make_plan("canary"))
    sim.run_to(Status.OBSERVING)
    entered = sim.now
    sim.run(lambda s: s.stage_index == 1)
    # Stage 1 bakes 10 minutes; the sim ticks every minute.
    assert sim.now - entered >= 600.0
    assert sim.said("stage 1 (Internal Testing) passed")
    assert sim.said("moving to stage 2 (Limited Release) at 50%")


def test_feature_flag_strategy_ramps_the_flag() -> None:
    sim = Sim(make_plan("feature-flag"))
    assert sim.run().status is Status.SUCCEEDED
    ramps = [(a.environment, a.flag, a.percent, a.enabled) for a in sim.of(SetFlag)]
    assert ramps == [
        ("staging", "new-checkout", 100.0, True),
        ("production", "new-checkout", 5.0, True),
        ("production", "new-checkout", 50.0, True),
        ("production", "new-checkout", 100.0, True),
    ]
    assert sim.of(SetTraffic) == []


def test_an_environment_without_stages_gets_where_the_strategys_flag_ends() -> None:
    """The last stage ramps another flag to 30 %: staging still gets the strategy's flag at
    the share its own last stage reaches, not that other flag's."""
    data = plan_data("feature-flag")
    data["flags"].append({"key": "new-search", "description": "new search", "rollout": 30})
    data["stages"].append(
        {"name": "Search", "flag": "new-search", "audience": 30, "duration": "10m"}
    )
    sim = Sim(load(data))
    assert sim.run().status is Status.SUCCEEDED
    staging = [(a.flag, a.percent) for a in sim.of(SetFlag) if a.environment == "staging"]
    assert staging == [("new-checkout", 100.0)]


def test_feature_flag_strategy_opens_a_segment_only_stage_to_its_segment() -> None:
    data = plan_data("feature-flag")
    data["stages"][0]["audience"] = {"segment": "internal-staff"}
    data["stages"][0]["success"] = []
    sim = Sim(load(data))
    assert sim.run().status is Status.SUCCEEDED
    ramps = [
        (a.percent, a.segment, a.segment_percent)
        for a in sim.of(SetFlag)
        if a.environment == "production"
    ]
    # All of the segment and nobody else, then a share of everyone: the rule is replaced.
    assert ramps == [(0.0, "internal-staff", 100.0), (50.0, None, 100.0), (100.0, None, 100.0)]
    assert sim.said("flag new-checkout on for segment internal-staff only; baking for 10m")
    assert sim.said("moving to stage 2 (Limited Release) at 50%")


def test_a_stage_opens_to_a_share_of_a_segment_through_the_canary_router() -> None:
    data = plan_data("canary")
    # After 5% of everyone, a segment narrows the audience: the plan says why.
    data["stages"][1]["audience"] = {"segment": "beta", "percent": 20, "reason": "beta first"}
    sim = Sim(load(data))
    assert sim.run().status is Status.SUCCEEDED
    moves = [(a.percent, a.segment, a.segment_percent) for a in sim.of(SetTraffic)]
    assert moves[2] == (0.0, "beta", 20.0)
    assert moves[3] == (100.0, None, 100.0)
    assert sim.said("moving to stage 2 (Limited Release) for 20% of segment beta")
    assert sim.said("2.0 for 20% of segment beta only; baking for 30m")
    described = sim.of(SetTraffic)[2].description
    assert described == "send 20% of segment beta in production to the new version"


def test_blue_green_stages_do_not_pick_a_segment() -> None:
    # The plan's cross-checks refuse this plan; the engine still moves no segment for it.
    data = plan_data("blue-green")
    data["stages"][0]["audience"] = {"segment": "internal-staff"}
    data["stages"][0]["success"] = []
    sim = Sim(Plan.model_validate(data))
    assert sim.run().status is Status.SUCCEEDED
    assert {a.segment for a in sim.of(SetTraffic)} == {None}


def test_blue_green_brings_up_the_idle_colour_checks_it_then_switches_once() -> None:
    sim = Sim(make_plan("blue-green"))
    assert sim.run().status is Status.SUCCEEDED
    deploys = sim.of(Deploy)
    assert {d.target for d in deploys} == {"idle-colour"}
    previews = [c.step for c in sim.of(RunCheck) if c.purpose == "preview"]
    assert previews == ["staging/preview-1", "production/preview-1"]
    # One switch per environment, all at once, at the stage that reaches 100 %.
    assert [(a.step, a.percent) for a in sim.of(SetTraffic)] == [
        ("staging/full/switch", 100.0),
        ("production/stage-3/switch", 100.0),
    ]
    assert sim.said("reachable on preview only")


def test_blue_green_switch_waits_for_the_preview_check() -> None:
    sim = Sim(make_plan("blue-green"))
    sim.run(lambda s: s.entry("staging/preview-1") is not None)
    assert sim.state.status is Status.DEPLOYING
    assert not sim.of(SetTraffic)


def test_rolling_replaces_instances_in_batches_with_health_checks() -> None:
    sim = Sim(make_plan("rolling"))
    assert sim.run().status is Status.SUCCEEDED
    batches = [(d.environment, d.instances) for d in sim.of(Deploy) if d.target == "instances"]
    # staging is not staged: every instance, two at a time.
    assert batches[:3] == [
        ("staging", ("web-1", "web-2")),
        ("staging", ("web-3", "web-4")),
        ("staging", ("web-5",)),
    ]
    # production stages: 5 % of 5 instances is 1, 50 % is 3 (rounded up), 100 % is 5.
    assert batches[3:] == [
        ("production", ("web-1",)),
        ("production", ("web-2", "web-3")),
        ("production", ("web-4", "web-5")),
    ]
    health = [c.step for c in sim.of(RunCheck) if c.purpose == "health"]
    assert len(health) == len(batches)
    assert sim.said(f"3 of {len(INSTANCES)} instances (60%) run 2.0")


def test_rolling_waits_between_batches() -> None:
    sim = Sim(make_plan("rolling"), interval=10.0)
    sim.run(lambda s: s.entry("staging/full/batch-3-4/deploy") is not None)
    healthy = sim.state.entry("staging/full/batch-1-2/health")
    second = sim.state.entry("staging/full/batch-3-4/deploy")
    assert healthy is not None and second is not None
    # The plan pauses 30 s between batches.
    assert second.at - healthy.at >= 30.0


def test_a_rolling_stage_rolls_back_between_its_batches_when_a_trigger_fires() -> None:
    """The batches already out serve real users during the pause before the next one: the
    stage's rollback triggers are judged then, not only once every batch is out."""
    data = plan_data("rolling")
    data["strategy"]["rolling"].update(batch_size=1, pause_between="5m")
    # Stage 2's trigger is `latency_p99 > 1s`; the version is slow once stage 2 ramps.
    sim = Sim(load(data), metrics=Telemetry(bad=[("production/stage-2/ramp", "latency_p99")]))

    assert sim.run().status is Status.ROLLED_BACK

    production = [d.instances for d in sim.of(Deploy) if d.environment == "production"]
    # Stage 1 put web-1 out, stage 2 web-2; the trigger fired in the pause before web-3.
    assert [i for i in production if i][:2] == [("web-1",), ("web-2",)]
    assert ("web-3",) not in production
    assert sim.said("stage 2 (Limited Release): rollback trigger fired while ramping: latency_p99")


def test_while_a_stage_ramps_only_its_triggers_are_measured() -> None:
    data = plan_data("rolling")
    data["strategy"]["rolling"].update(batch_size=1, pause_between="5m")
    sim = Sim(load(data))
    sim.run(lambda s: s.status is Status.RAMPING and s.env_index == 1 and s.stage_index == 1)
    request = metric_request(sim.plan, sim.state)
    assert request is not None
    assert request.window == "production/stage-2/ramp"
    assert [spec.name for spec in request.specs] == ["latency_p99"]
    assert request.since == sim.state.window_started_at


def test_expand_migrations_run_before_the_deploy_and_contract_after_the_last_validation() -> None:
    data = plan_data("canary")
    data["migrations"] = {"database_url": "${DB}", "contract_revisions": ["c0ffee"]}
    sim = Sim(load(data))
    assert sim.run().status is Status.SUCCEEDED
    order = [a.step for a in sim.actions if isinstance(a, Migrate | Deploy)]
    assert order == [
        "staging/migrate-expand",
        "staging/deploy",
        "production/migrate-expand",
        "production/deploy",
        "staging/migrate-contract",
        "production/migrate-contract",
    ]
    last_validation = max(a.at for a in sim.state.ledger if a.step.endswith("/validated"))
    contract = sim.state.entry("staging/migrate-contract")
    assert contract is not None and contract.at >= last_validation


def test_notifications_name_the_moment_and_the_context() -> None:
    data = plan_data("canary")
    data["communication"] = [
        {"when": ["started", "succeeded"], "audience": "eng", "channel": "json://x/eng"},
        {"when": ["stage:Limited Release"], "audience": "support", "channel": "json://x/sup"},
    ]
    data["rollback"][1]["notify"]["audience"] = "eng"
    sim = Sim(load(data))
    assert sim.run().status is Status.SUCCEEDED
    sent = [(n.moment, n.announcements, n.context.stage) for n in sim.of(Notify)]
    assert sent == [
        ("started", (0,), ""),
        ("stage_started", (1,), "Limited Release"),
        ("succeeded", (0,), ""),
    ]
    assert sim.of(Notify)[-1].context.state == "succeeded"
