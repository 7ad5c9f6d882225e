"""The rollout state as the store keeps it, the actions' JSON, and refusing verbs up front."""

from __future__ import annotations

import json

import pytest
from engine_plans import make_plan
from engine_sim import Sim

from rollout.engine import (
    ACTION_TYPES,
    Hold,
    LedgerEntry,
    Outcome,
    RolloutState,
    Status,
    Verb,
    Vote,
    check_verb,
    verb_problem,
)
from rollout.errors import EngineError


def _busy_state() -> RolloutState:
    return RolloutState(
        rollout_id="r9",
        version="3.1",
        started_by="alice",
        started_at=100.0,
        status=Status.PAUSED,
        env_index=1,
        stage_index=2,
        bake_accumulated=42.5,
        ledger=(
            LedgerEntry(
                "baseline",
                "record_baseline",
                2,
                3,
                Outcome.DONE,
                "ok",
                {"error_rate": 0.004},
                130.0,
                3,
            ),
        ),
        votes=(Vote("production", "bob", True, "lgtm", 120.0),),
        baselines={"error_rate": 0.004},
        paused_from=Status.OBSERVING,
        paused_by="bob",
        hold=Hold.OPERATOR,
        overridden=("latency_p99 > 1000ms",),
    )


def test_a_state_survives_the_store_as_json() -> None:
    state = _busy_state()
    text = json.dumps(state.to_json())
    assert RolloutState.from_json(json.loads(text)) == state
    assert json.loads(text)["schema"] == 1
    assert json.loads(text)["status"] == "paused"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "a stored rollout state must be a JSON object"),
        ({"schema": 99}, "the stored rollout state has layout 99; this version reads 1"),
        ({"rollout_id": "r"}, "the stored rollout state is not valid: version: Field required"),
        (
            {**_busy_state().to_json(), "status": "exploded"},
            "the stored rollout state is not valid: status: Input should be 'pending'",
        ),
    ],
)
def test_a_broken_stored_state_is_a_clear_error(data: object, message: str) -> None:
    with pytest.raises(EngineError, match=message.replace("(", r"\(")):
        RolloutState.from_json(data)


def test_bake_time_excludes_pauses() -> None:
    running = RolloutState.new("r", "v", "a", 0.0)
    running = RolloutState(**{**running.__dict__, "bake_accumulated": 60.0, "bake_since": 100.0})
    assert running.bake_elapsed(130.0) == 90.0
    paused = RolloutState(**{**running.__dict__, "bake_since": None})
    assert paused.bake_elapsed(10_000.0) == 60.0


def test_every_action_is_json_with_its_kind() -> None:
    sim = Sim(make_plan("blue-green"))
    sim.run()
    kinds = set()
    for action in sim.actions:
        payload = json.loads(json.dumps(action.payload()))
        assert payload["kind"] == action.kind
        assert action.description and action.key.startswith("r1:")
        kinds.add(type(action))
    assert kinds <= set(ACTION_TYPES)


def test_check_verb_refuses_what_does_not_apply() -> None:
    state = RolloutState.new("r1", "v", "alice", 0.0)
    with pytest.raises(EngineError, match="cannot resume rollout r1: the rollout is not paused"):
        check_verb(state, Verb.RESUME)
    assert verb_problem(state, Verb.ABORT) is None
    done = RolloutState(**{**state.__dict__, "status": Status.SUCCEEDED})
    assert verb_problem(done, Verb.PAUSE) == "the rollout has ended (succeeded)"
