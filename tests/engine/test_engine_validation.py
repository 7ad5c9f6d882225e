"""Post-deployment validation: smoke checks and key flows run, spikes are judged against the
baselines over the validation window, and a failure is treated like a rollback trigger."""

from __future__ import annotations

from typing import Any

from engine_plans import load, plan_data
from engine_sim import Sim, Telemetry, World

from rollout.engine import RunCheck, Status, Verb, metric_request


def _validated_plan(**validation: Any) -> dict[str, Any]:
    data = plan_data("canary")
    data["validation"] = {
        "window": "5m",
        "smoke": [{"name": "health", "http": {"url": "https://shop.example/health"}}],
        "key_flows": [{"name": "buy-a-book", "run": "./flows/buy.sh", "retries": 1}],
        **validation,
    }
    return data


def test_every_environment_is_validated_after_reaching_100_percent() -> None:
    sim = Sim(load(_validated_plan()))
    assert sim.run().status is Status.SUCCEEDED
    checks = [(c.environment, c.check.name) for c in sim.of(RunCheck)]
    assert checks == [
        ("staging", "health"),
        ("staging", "buy-a-book"),
        ("production", "health"),
        ("production", "buy-a-book"),
    ]
    assert sim.said("staging validated: 2 checks passed")


def test_validation_lasts_its_window() -> None:
    sim = Sim(load(_validated_plan(window="20m")))
    sim.run_to(Status.VALIDATING)
    began = sim.now
    sim.run(lambda s: s.env_index == 1)
    assert sim.now - began >= 1200.0


def test_a_failing_key_flow_rolls_back() -> None:
    world = World(fail={"production/validation/flow-1": ["checkout returned 500"] * 2})
    sim = Sim(load(_validated_plan()), world=world)
    assert sim.run().status is Status.ROLLED_BACK
    assert sim.state.rollback_trigger == (
        "validation of production failed: the check 'buy-a-book' failed after 2 attempts: "
        "checkout returned 500"
    )


def test_an_error_spike_against_the_planned_baseline_rolls_back() -> None:
    data = _validated_plan(no_error_spike={"tolerance": 50})
    data["monitoring"] = {"error_rate_baseline": "0.5%"}
    sim = Sim(load(data), metrics=Telemetry(bad=[("production/validation", "error_rate")]))
    assert sim.run().status is Status.ROLLED_BACK
    assert sim.state.rollback_trigger.startswith(
        "validation of production failed: error_rate within 50% of its baseline: error rate "
        "10.0% is above the limit of 0.75% (baseline 0.5% + 50%)"
    )


def test_a_measured_baseline_is_used_when_the_plan_gives_none() -> None:
    data = _validated_plan(performance={"tolerance": 20})
    sim = Sim(load(data), world=World(baselines={"latency_p99": 110.0}))
    sim.run_to(Status.VALIDATING)
    request = metric_request(sim.plan, sim.state)
    assert request is not None and request.metrics == ("latency_p99",)
    assert sim.run().status is Status.SUCCEEDED
    assert sim.said("latency p99 120 ms is within the limit of 132 ms (baseline 110 ms + 20%)")


def test_without_a_baseline_validation_holds_then_rolls_back() -> None:
    data = _validated_plan(performance={"tolerance": 20})
    # The measurement answers, but without the metric (no data before the start).
    sim = Sim(load(data), world=World(baselines={}))
    assert sim.run().status is Status.ROLLED_BACK
    assert sim.state.env_index == 0
    assert sim.state.rollback_trigger == (
        "validation of staging: not enough data after 10m (latency_p99 within 20% of its "
        "baseline: no baseline for latency_p99)"
    )


def test_promote_ends_validation_early() -> None:
    sim = Sim(load(_validated_plan(window="1h")))
    sim.run_to(Status.VALIDATING)
    sim.tick()
    sim.tick()
    sim.verb(Verb.PROMOTE, "carol")
    assert sim.state.env_index == 1
    assert sim.said("staging validated: 2 checks passed; promoted by carol after 2m")


def test_a_failed_contract_migration_waits_for_retry() -> None:
    data = plan_data("canary")
    data["migrations"] = {"database_url": "${DB}", "contract_revisions": ["c0ffee"]}
    sim = Sim(load(data), world=World(fail={"production/migrate-contract": ["lock timeout"]}))
    sim.run(lambda s: s.status is Status.PAUSED)
    assert sim.state.reason.startswith(
        "the contract migrations in production failed after 1 attempt: lock timeout"
    )
    sim.verb(Verb.RETRY)
    assert sim.run().status is Status.SUCCEEDED
