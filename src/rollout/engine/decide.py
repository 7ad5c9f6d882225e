"""``decide``: the pure heart of the rollout, one tick at a time.

``decide(plan, state, observation, now)`` reads what happened since the last tick, applies the
operator's verbs, then advances the state machine as far as it can go without waiting, and
returns the next state, the actions to carry out, and a reason in plain words for everything it
did. It reads no clock (``now`` is seconds since the epoch, from the caller), does no I/O and
never logs, so the same inputs always give the same decision: that is what makes a rollout
replayable and a crashed controller safe to restart.

Idempotency: an action is issued once per attempt and keeps its key
(``rollout_id:step:attempt``); calling ``decide`` again with the same state and observation
returns the very same actions with the very same keys, and a state that already records an
action as issued never issues it again. A failed action is re-issued as attempt + 1 while its
retries last.

The state machine::

    pending -> gating -> [per environment] awaiting_approval -> deploying
            -> [staged: per stage] ramping -> observing -> ... | [not staged] ramping (100 %)
            -> validating -> next environment ... -> succeeded
    anywhere -> rolling_back -> rolled_back | rollback_failed
    paused (operator, failure awaiting retry, or manual rollback procedure) -> back where it was
    rejected or aborted before anything changed -> failed
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rollout.engine import _verbs
from rollout.engine._environments import awaiting_approval, deploying, record_votes
from rollout.engine._gating import gating, record_sign_offs
from rollout.engine._moves import start
from rollout.engine._rollback import rolling_back
from rollout.engine._stages import observing, ramping
from rollout.engine._tick import Tick
from rollout.engine._validation import validating
from rollout.engine.actions import Action
from rollout.engine.observation import Observation
from rollout.engine.state import RolloutState, Status
from rollout.errors import EngineError
from rollout.plan.model import Plan

_HANDLERS: dict[Status, Callable[[Tick], bool]] = {
    Status.PENDING: start,
    Status.GATING: gating,
    Status.AWAITING_APPROVAL: awaiting_approval,
    Status.DEPLOYING: deploying,
    Status.RAMPING: ramping,
    Status.OBSERVING: observing,
    Status.VALIDATING: validating,
    Status.ROLLING_BACK: rolling_back,
}


@dataclass(frozen=True)
class Decision:
    """What one tick decided: the state to store, the actions to carry out (in order), and a
    reason in plain words for each thing that happened."""

    next_state: RolloutState
    actions: tuple[Action, ...]
    reasons: tuple[str, ...]


def decide(plan: Plan, state: RolloutState, observation: Observation, now: float) -> Decision:
    """Advance the rollout by one tick. Pure: same inputs, same decision.

    Raises :class:`EngineError` when ``state`` does not belong to ``plan`` (it points at an
    environment or stage the plan does not have).
    """
    _check_fits(plan, state)
    tick = Tick(plan=plan, observation=observation, now=now, state=state)
    _verbs.apply_results(tick)
    if state.status.terminal:
        return _decision(tick)
    record_votes(tick)
    record_sign_offs(tick)
    for command in observation.commands:
        _verbs.apply(tick, command)
    # Every handler returns True only after a status change, and the machine only moves
    # forward through a finite plan; the bound turns a bug into an error, not a hang.
    for _ in range(_max_moves(plan)):
        handler = _HANDLERS.get(tick.state.status)
        if handler is None or not handler(tick):
            return _decision(tick)
    raise AssertionError(f"decide did not settle for rollout {state.rollout_id}")


def _decision(tick: Tick) -> Decision:
    return Decision(tick.state, tuple(tick.actions), tuple(tick.reasons))


def _max_moves(plan: Plan) -> int:
    per_environment = 4 + 2 * len(plan.stages)
    return 10 + len(plan.environments) * per_environment + len(plan.rollback)


def _check_fits(plan: Plan, state: RolloutState) -> None:
    if not 0 <= state.env_index < len(plan.environments):
        raise EngineError(
            f"rollout {state.rollout_id} is at environment {state.env_index + 1}, but the plan "
            f"has {len(plan.environments)}"
        )
    if not 0 <= state.stage_index < len(plan.stages):
        raise EngineError(
            f"rollout {state.rollout_id} is at stage {state.stage_index + 1}, but the plan "
            f"has {len(plan.stages)}"
        )
