"""decide is a pure function: the same question gets the same answer, issued actions are not
issued again, retries get a new key, and a state read back from the store decides the same."""

from __future__ import annotations

import json

import pytest
from engine_plans import make_plan
from engine_sim import ROLLOUT, START, Sim, World

from rollout.engine import (
    ActionResult,
    Deploy,
    Observation,
    RolloutState,
    RunGate,
    Status,
    decide,
)
from rollout.errors import EngineError


def test_the_same_inputs_give_the_same_decision() -> None:
    plan = make_plan("canary")
    state = RolloutState.new(ROLLOUT, "2.0", "alice", START)
    first = decide(plan, state, Observation(), START)
    second = decide(plan, state, Observation(), START)
    assert first == second
    assert [a.key for a in first.actions] == [
        "r1:notify/1/started:1",
        "r1:gate/1:1",
        "r1:gate/2:1",
    ]


def test_issued_actions_are_not_issued_again_while_they_run() -> None:
    plan = make_plan("canary")
    state = RolloutState.new(ROLLOUT, "2.0", "alice", START)
    decision = decide(plan, state, Observation(), START)
    for tick in range(1, 10):
        decision = decide(plan, decision.next_state, Observation(), START + 60 * tick)
        assert decision.actions == ()
    assert decision.next_state.status is Status.GATING


def test_a_failed_action_is_issued_again_under_the_next_attempt_key() -> None:
    sim = Sim(make_plan("canary"), world=World(fail={"staging/deploy": 1}))
    sim.run_to(Status.RAMPING)
    deploys = [a for a in sim.of(Deploy) if a.environment == "staging"]
    assert [a.key for a in deploys] == ["r1:staging/deploy:1", "r1:staging/deploy:2"]
    # Apart from the attempt, it is the same action.
    assert deploys[0].payload() == deploys[1].payload()


def test_a_deploy_that_keeps_failing_pauses_after_its_retries() -> None:
    sim = Sim(make_plan("canary"), world=World(fail={"staging/deploy": ["exit 3"] * 2}))
    sim.run(lambda s: s.status is Status.PAUSED)
    assert sim.state.reason.startswith(
        "deploying staging ('./deploy.sh staging') failed after 2 attempts: exit 3"
    )


def test_a_result_reported_twice_counts_once() -> None:
    plan = make_plan("canary")
    state = RolloutState.new(ROLLOUT, "2.0", "alice", START)
    state = decide(plan, state, Observation(), START).next_state
    ok = ActionResult("r1:gate/1:1", ok=True, message="all green")
    late_failure = ActionResult("r1:gate/1:1", ok=False, message="flaky")
    state = decide(plan, state, Observation(results=(ok,)), START + 60).next_state
    state = decide(plan, state, Observation(results=(late_failure,)), START + 120).next_state
    entry = state.entry("gate/1")
    assert entry is not None and (entry.outcome.value, entry.message) == ("done", "all green")


def test_a_result_for_an_unknown_key_is_ignored_with_a_reason() -> None:
    plan = make_plan("canary")
    state = RolloutState.new(ROLLOUT, "2.0", "alice", START)
    state = decide(plan, state, Observation(), START).next_state
    stray = ActionResult("r1:gate/1:7", ok=False, message="?")
    decision = decide(plan, state, Observation(results=(stray,)), START + 60)
    assert decision.reasons == ("a result for r1:gate/1:7 was ignored: no such action is waiting",)
    assert decision.next_state.ledger == state.ledger


def test_a_state_read_back_from_json_decides_exactly_the_same() -> None:
    sim = Sim(make_plan("rolling"))
    for _ in range(40):
        observation = sim.observe()
        stored = RolloutState.from_json(json.loads(json.dumps(sim.state.to_json())))
        sim.now += 60.0
        live = decide(sim.plan, sim.state, observation, sim.now)
        restarted = decide(sim.plan, stored, observation, sim.now)
        assert live == restarted
        for action in live.actions:
            sim.pending[action.key] = action
        sim.state = live.next_state


def test_a_state_that_does_not_fit_the_plan_is_refused() -> None:
    plan = make_plan("canary")
    state = RolloutState(
        rollout_id="r1", version="2.0", started_by="a", started_at=0.0, env_index=5
    )
    with pytest.raises(EngineError, match="at environment 6, but the plan has 2"):
        decide(plan, state, Observation(), 0.0)


def test_gates_run_at_once_and_each_is_retried_on_its_own() -> None:
    sim = Sim(make_plan("canary"), world=World(fail={"gate/1": 1}))
    sim.tick()
    assert [a.key for a in sim.of(RunGate)] == ["r1:gate/1:1", "r1:gate/2:1"]
    sim.tick()
    assert [a.key for a in sim.of(RunGate)][-1] == "r1:gate/1:2"
