"""Operator verbs: pause, resume, promote, abort, retry, and the reports of what happened.

A verb that does not apply is not an error inside ``decide`` (it was queued earlier and the
rollout moved on since); it is ignored with a reason. Callers that take verbs from people
should refuse them up front with :func:`check_verb`, which raises :class:`EngineError`.
"""

from __future__ import annotations

from dataclasses import replace

from rollout.engine._rollback import stop
from rollout.engine._tick import Tick
from rollout.engine._words import people
from rollout.engine.observation import Command, Verb
from rollout.engine.state import Hold, Outcome, RolloutState, Status
from rollout.errors import EngineError

# What a failure hold can be waiting on; notifications and requests are never retried by hand.
_RETRYABLE = frozenset(
    {
        "run_gate",
        "sign_off",
        "record_baseline",
        "deploy",
        "migrate",
        "set_traffic",
        "set_flag",
        "run_check",
    }
)
_CLOCKED = (Status.OBSERVING, Status.VALIDATING)


def verb_problem(state: RolloutState, verb: Verb) -> str | None:
    """Why ``verb`` does not apply to a rollout in ``state``, or None when it does.

    >>> verb_problem(RolloutState.new("r", "v", "a", 0.0), Verb.RESUME)
    'the rollout is not paused'
    """
    status = state.status
    if status.terminal:
        return f"the rollout has ended ({status.value})"
    if verb is Verb.ABORT:
        return "the rollout is already rolling back" if status is Status.ROLLING_BACK else None
    if status is Status.ROLLING_BACK:
        return "the rollout is rolling back"
    if verb is Verb.PAUSE:
        if status is Status.PAUSED:
            return "the rollout is already paused"
        return "the rollout has not started yet" if status is Status.PENDING else None
    if verb is Verb.RESUME:
        if status is not Status.PAUSED:
            return "the rollout is not paused"
        if state.hold is Hold.FAILURE:
            return "something failed and the rollout waits for retry (or abort)"
        return None
    if verb is Verb.RETRY:
        if status is not Status.PAUSED or state.hold is not Hold.FAILURE:
            return "nothing has failed that could be retried"
        return None
    # promote
    if status not in _CLOCKED:
        return (
            f"there is no bake to end early while the rollout is {status.value.replace('_', ' ')}"
        )
    return None


def check_verb(state: RolloutState, verb: Verb) -> None:
    """Raise :class:`EngineError` when ``verb`` does not apply to the rollout in ``state``."""
    problem = verb_problem(state, verb)
    if problem is not None:
        raise EngineError(f"cannot {verb.value} rollout {state.rollout_id}: {problem}")


def apply(t: Tick, command: Command) -> None:
    verb, actor = command.verb, command.actor
    problem = verb_problem(t.state, verb)
    if problem is not None:
        t.say(f"{verb.value} by {actor} ignored: {problem}")
        return
    note = f" ({command.comment})" if command.comment else ""
    if verb is Verb.PAUSE:
        t.stop_clock()
        t.transition(
            Status.PAUSED,
            f"paused by {actor}{note}",
            paused_from=t.state.status,
            paused_by=actor,
            hold=Hold.OPERATOR,
            fired=(),
        )
        t.notify("paused")
    elif verb is Verb.RESUME:
        fired = t.state.fired if t.state.hold is Hold.TRIGGER else ()
        ignoring = f"; ignoring {', '.join(fired)} for the rest of this stage" if fired else ""
        _back(t, f"resumed by {actor}{note}{ignoring}", overridden=(*t.state.overridden, *fired))
    elif verb is Verb.RETRY:
        again = [
            e
            for e in t.state.ledger
            if e.gave_up and e.kind in _RETRYABLE and e.step not in t.state.overridden
        ]
        for entry in again:
            t.put(replace(entry, last_attempt=entry.attempt + entry.budget))
        steps = people([e.step for e in again])
        _back(t, f"retry by {actor}{note}: running {steps} again")
    elif verb is Verb.ABORT:
        stop(t, f"aborted by {actor}{note}")
    else:
        t.promoted_by = actor


def _back(t: Tick, reason: str, **changes: object) -> None:
    back = t.state.paused_from or Status.GATING
    t.transition(back, reason, paused_from=None, paused_by=None, hold=None, fired=(), **changes)
    if back in _CLOCKED:
        t.start_clock()


def apply_results(t: Tick) -> None:
    """Record each reported result against the attempt it belongs to; say what failed."""
    by_key = {f"{t.state.rollout_id}:{e.step}:{e.attempt}": e for e in t.state.ledger}
    for result in t.observation.results:
        entry = by_key.get(result.key)
        if entry is None:
            t.say(f"a result for {result.key} was ignored: no such action is waiting")
            continue
        if entry.outcome is not Outcome.ISSUED:
            continue  # reported twice: the first report stands
        outcome = Outcome.DONE if result.ok else Outcome.FAILED
        t.put(
            replace(
                entry, outcome=outcome, message=result.message, values=dict(result.values), at=t.now
            )
        )
        if entry.kind == "record_baseline" and result.ok:
            t.update(baselines={**t.state.baselines, **result.values})
        if not result.ok and entry.kind in ("notify", "request_approval", "request_sign_off"):
            # Telling people is best effort: the rollout goes on, and the failure is on record.
            t.say(f"{entry.step} could not be delivered: {result.message or 'no reason given'}")
