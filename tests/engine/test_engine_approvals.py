"""Approvals before entering an environment: who counts, how many, rejection and timeout."""

from __future__ import annotations

from typing import Any

import pytest
from engine_plans import load, plan_data
from engine_sim import Sim

from rollout.engine import Notify, RequestApproval, RunRollbackStep, Status, Vote

PROD = "production"


def _plan(**approval: Any) -> Any:
    data = plan_data("canary")
    data["environments"][1]["approval"] = {"required": True, **approval}
    return load(data)


def _at_approval(**approval: Any) -> Sim:
    sim = Sim(_plan(**approval))
    sim.run_to(Status.AWAITING_APPROVAL)
    return sim


def test_production_waits_for_approval_and_asks_for_it() -> None:
    sim = _at_approval(approvers=["bob", "carol"], min_approvals=2)
    (ask,) = sim.of(RequestApproval)
    assert (ask.environment, ask.approvers, ask.min_approvals) == (PROD, ("bob", "carol"), 2)
    assert any(n.moment == "approval_needed" for n in sim.of(Notify))
    for _ in range(30):
        sim.tick()
    assert sim.state.status is Status.AWAITING_APPROVAL
    assert sim.state.reason.endswith("production needs 2 approvals from bob and carol")


def test_enough_distinct_approvals_let_the_rollout_in() -> None:
    sim = _at_approval(approvers=["bob", "carol"], min_approvals=2)
    sim.tick(votes=[Vote(PROD, "bob", True)])
    sim.tick(votes=[Vote(PROD, "bob", True, "again")])  # the same person twice counts once
    assert sim.state.status is Status.AWAITING_APPROVAL
    sim.tick(votes=[Vote(PROD, "carol", True)])
    assert sim.state.status is Status.DEPLOYING
    assert sim.said("production approved by bob and carol")
    assert sim.run().status is Status.SUCCEEDED


def test_not_enough_approvals_keeps_waiting() -> None:
    sim = _at_approval(min_approvals=3)
    sim.tick(votes=[Vote(PROD, "bob", True), Vote(PROD, "carol", True)])
    for _ in range(10):
        sim.tick()
    assert sim.state.status is Status.AWAITING_APPROVAL


def test_the_person_who_started_the_rollout_cannot_approve_it() -> None:
    sim = _at_approval()
    sim.tick(votes=[Vote(PROD, "alice", True)])
    assert sim.state.status is Status.AWAITING_APPROVAL
    assert sim.said(
        "approval of production by alice ignored: alice started this rollout, and "
        "production does not allow self-approval"
    )


def test_self_approval_counts_when_the_plan_allows_it() -> None:
    sim = _at_approval(allow_self_approval=True)
    sim.tick(votes=[Vote(PROD, "alice", True)])
    assert sim.state.status is Status.DEPLOYING


def test_only_listed_approvers_count() -> None:
    sim = _at_approval(approvers=["bob"])
    sim.tick(votes=[Vote(PROD, "mallory", True)])
    assert sim.state.status is Status.AWAITING_APPROVAL
    assert sim.said("only bob may decide on it")
    sim.tick(votes=[Vote(PROD, "bob", True)])
    assert sim.state.status is Status.DEPLOYING


def test_an_early_approval_is_kept_until_the_rollout_gets_there() -> None:
    sim = Sim(_plan(approvers=["bob"]))
    sim.tick(votes=[Vote(PROD, "bob", True)])
    assert sim.state.status is Status.GATING
    sim.run_to(Status.OBSERVING)
    assert sim.said("production approved by bob; deploying 2.0 to production")


def test_a_rejection_stops_the_rollout_before_the_environment_changes() -> None:
    sim = _at_approval(approvers=["bob", "carol"], min_approvals=2)
    sim.tick(votes=[Vote(PROD, "bob", True), Vote(PROD, "carol", False, "not during the sale")])
    assert sim.state.status is Status.FAILED
    assert sim.state.reason == (
        "production was rejected by carol: not during the sale; nothing had been changed in "
        "production yet, so there is nothing to roll back (staging keeps 2.0)"
    )
    assert not sim.of(RunRollbackStep)
    assert [n.moment for n in sim.of(Notify)][-1] == "failed"


def test_a_rejection_of_the_first_environment_ends_in_failed() -> None:
    data = plan_data("canary")
    data["environments"][0]["approval"] = {"required": True}
    sim = Sim(load(data))
    sim.run_to(Status.AWAITING_APPROVAL)
    sim.tick(votes=[Vote("staging", "bob", False)])
    assert sim.state.status is Status.FAILED
    assert sim.state.reason == (
        "staging was rejected by bob; nothing had been changed in staging yet, so there is "
        "nothing to roll back"
    )
    assert sim.state.status.terminal


@pytest.mark.parametrize("approvals", [0, 1])
def test_no_decision_within_the_timeout_is_a_rejection(approvals: int) -> None:
    sim = _at_approval(min_approvals=2, timeout="2h")
    asked = sim.now
    if approvals:
        sim.tick(votes=[Vote(PROD, "bob", True)])
    sim.run(lambda s: s.status is not Status.AWAITING_APPROVAL)
    assert sim.now - asked >= 7200.0
    assert sim.now - asked < 7200.0 + 2 * sim.interval
    assert sim.state.status is Status.FAILED
    assert sim.state.reason.startswith(
        f"nobody approved production within 2h ({approvals} of the 2 approvals needed): "
        "treated as rejected; nothing had been changed in production yet"
    )


def test_a_vote_for_an_unknown_or_unguarded_environment_is_ignored_with_a_reason() -> None:
    sim = _at_approval()
    sim.tick(votes=[Vote("prod", "bob", True), Vote("staging", "bob", True)])
    assert sim.state.status is Status.AWAITING_APPROVAL
    assert sim.said("there is no environment 'prod'")
    assert sim.said("staging needs no approval")
