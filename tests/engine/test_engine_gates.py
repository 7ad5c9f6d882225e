"""The pre-deployment checklist: gates run, failures stop the rollout until retry, manual
gates wait for a sign-off from the right person."""

from __future__ import annotations

from engine_plans import load, plan_data
from engine_sim import Sim, World

from rollout.engine import (
    Deploy,
    Hold,
    RecordBaseline,
    RequestSignOff,
    RunGate,
    SignOff,
    Status,
    Verb,
)


def test_a_gate_is_retried_up_to_its_retries_then_stops_the_rollout() -> None:
    # Gate 1 allows one retry; it fails three times.
    sim = Sim(make_plan_with_checklist(), world=World(fail={"gate/1": ["exit 1", "exit 2", "x"]}))
    sim.run(lambda s: s.status is Status.PAUSED)
    attempts = [a.attempt for a in sim.of(RunGate) if a.index == 0]
    assert attempts == [1, 2]
    assert sim.state.hold is Hold.FAILURE
    assert sim.state.reason == (
        "checklist gate 1 (All tests passing) failed after 2 attempts: exit 2; fix the cause, "
        "then retry (or abort to roll back)"
    )
    # It never proceeds on its own.
    for _ in range(20):
        sim.tick()
    assert sim.state.status is Status.PAUSED
    assert not sim.of(Deploy)


def test_retry_runs_the_failed_gate_again_and_the_rollout_carries_on() -> None:
    sim = Sim(make_plan_with_checklist(), world=World(fail={"gate/1": 2}))
    sim.run(lambda s: s.status is Status.PAUSED)
    sim.verb(Verb.RETRY, "bob")
    assert sim.state.status is Status.GATING
    assert sim.said("retry by bob: running gate/1 again")
    retried = [a for a in sim.of(RunGate) if a.index == 0]
    assert [a.attempt for a in retried] == [1, 2, 3]
    assert sim.run().status is Status.SUCCEEDED


def test_resume_does_not_skip_a_failed_gate() -> None:
    sim = Sim(make_plan_with_checklist(), world=World(fail={"gate/1": 2}))
    sim.run(lambda s: s.status is Status.PAUSED)
    sim.verb(Verb.RESUME)
    assert sim.state.status is Status.PAUSED
    assert sim.said("resume by bob ignored: something failed and the rollout waits for retry")


def test_abort_after_a_failed_gate_ends_without_a_rollback() -> None:
    sim = Sim(make_plan_with_checklist(), world=World(fail={"gate/1": 2}))
    sim.run(lambda s: s.status is Status.PAUSED)
    sim.verb(Verb.ABORT, "carol")
    assert sim.state.status is Status.FAILED
    assert sim.state.reason.startswith("aborted by carol; nothing had been changed in staging yet")


def make_plan_with_checklist(manual: bool = False) -> object:
    data = plan_data("canary")
    if manual:
        data["checklist"].append(
            {"item": "Security audit clean", "manual": {"role": "security", "people": ["dana"]}}
        )
    return load(data)


def _at_manual_gate() -> Sim:
    sim = Sim(make_plan_with_checklist(manual=True))  # type: ignore[arg-type]
    for _ in range(5):
        sim.tick()
    return sim


def test_a_manual_gate_asks_for_a_sign_off_and_waits_for_it() -> None:
    sim = _at_manual_gate()
    (ask,) = sim.of(RequestSignOff)
    assert (ask.index, ask.role, ask.people) == (2, "security", ("dana",))
    for _ in range(50):
        sim.tick()
    assert sim.state.status is Status.GATING
    sim.tick(sign_offs=[SignOff(2, "dana", ("security",), comment="audit #41 clean")])
    assert sim.said("gate 3 (Security audit clean) signed off by dana: audit #41 clean")
    assert sim.state.status is Status.DEPLOYING


def test_a_sign_off_without_the_role_or_from_someone_else_does_not_count() -> None:
    sim = _at_manual_gate()
    sim.tick(
        sign_offs=[
            SignOff(2, "dana", ("developer",)),
            SignOff(2, "erin", ("security",)),
            SignOff(0, "dana", ("security",)),
        ]
    )
    assert sim.state.status is Status.GATING
    assert sim.said("it needs someone with the role 'security'")
    assert sim.said("only dana may sign it off")
    assert sim.said("that gate runs by itself")


def test_a_refused_sign_off_stops_the_rollout_until_retry_asks_again() -> None:
    sim = _at_manual_gate()
    sim.tick(sign_offs=[SignOff(2, "dana", ("security",), approve=False, comment="CVE open")])
    assert sim.state.status is Status.PAUSED
    assert sim.state.reason.startswith(
        "checklist gate 3 (Security audit clean) was refused by dana: CVE open"
    )
    sim.verb(Verb.RETRY)
    assert [a.attempt for a in sim.of(RequestSignOff)] == [1, 2]
    sim.tick()
    assert sim.state.status is Status.GATING  # the old refusal no longer counts
    sim.tick(sign_offs=[SignOff(2, "dana", ("security",))])
    assert sim.run().status is Status.SUCCEEDED


def test_missing_baselines_are_measured_before_the_rollout_starts() -> None:
    data = plan_data("canary")
    data["validation"] = {"no_error_spike": {"tolerance": 50}}
    sim = Sim(load(data), world=World(baselines={"error_rate": 0.004}))
    sim.run_to(Status.DEPLOYING)
    (measure,) = sim.of(RecordBaseline)
    assert measure.metrics == ("error_rate",)
    assert sim.state.baselines == {"error_rate": 0.004}


def test_a_baseline_that_cannot_be_measured_stops_the_rollout() -> None:
    data = plan_data("canary")
    data["validation"] = {"no_error_spike": {"tolerance": 50}}
    sim = Sim(load(data), world=World(fail={"baseline": ["no data source"] * 3}))
    sim.run(lambda s: s.status is Status.PAUSED)
    assert "measuring the baseline of error_rate failed after 3 attempts: no data source" in (
        sim.state.reason
    )
