"""The pre-deployment checklist: every item is a gate that must pass before anything changes.

Automatic gates (``run``, ``http``, ``migrations: tested``, ``rollback: documented``,
``monitoring: configured``) all run at once, each retried up to its ``retries``. A ``manual``
gate asks for a sign-off and waits, without a time limit, for someone holding its role (and
named in its ``people``, when listed). Missing monitoring baselines are measured alongside.
A gate that fails after its retries, or a refused sign-off, pauses the rollout until ``retry``;
it never proceeds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from rollout.engine._judging import baselines_to_measure
from rollout.engine._moves import enter_environment
from rollout.engine._rollback import hold_failure
from rollout.engine._tick import Progress, Tick
from rollout.engine._words import attempts, gate_label, people, seconds
from rollout.engine.actions import RecordBaseline, RequestSignOff, RunGate
from rollout.engine.state import LedgerEntry, Outcome
from rollout.plan.model import ChecklistItem

BASELINE_RETRIES = 2


def gating(t: Tick) -> bool:
    """Drive every gate; move to the first environment once all have passed."""
    problems: list[str] = []
    waiting = False
    for index, item in enumerate(t.plan.checklist):
        if item.manual is not None:
            progress = _manual(t, index, item)
        else:
            progress = t.run(f"gate/{index + 1}", item.retries, _gate_builder(t, index, item))
        if progress is Progress.WAITING:
            waiting = True
        elif progress is Progress.GAVE_UP:
            problems.append(_failure(t, index, item))
    metrics = baselines_to_measure(t.plan)
    if metrics:
        progress = t.run("baseline", BASELINE_RETRIES, _baseline_builder(t, metrics))
        if progress is Progress.WAITING:
            waiting = True
        elif progress is Progress.GAVE_UP:
            entry = t.state.entry("baseline")
            assert entry is not None
            problems.append(
                f"measuring the baseline of {', '.join(metrics)} failed after "
                f"{attempts(entry.attempt)}: {entry.message}"
            )
    if problems:
        return hold_failure(t, "; ".join(problems))
    if waiting:
        return False
    count = len(t.plan.checklist)
    return enter_environment(t, 0, f"all {count} checklist gate{'s' if count != 1 else ''} passed")


def record_sign_offs(t: Tick) -> None:
    """Keep the observation's sign-offs that count; say why the others do not."""
    checklist = t.plan.checklist
    for sign_off in t.observation.sign_offs:
        if not 0 <= sign_off.item < len(checklist):
            t.say(
                f"sign-off by {sign_off.actor} ignored: there is no checklist item "
                f"{sign_off.item + 1} (the checklist has {len(checklist)})"
            )
            continue
        item = checklist[sign_off.item]
        label = gate_label(sign_off.item, item)
        manual = item.manual
        if manual is None:
            t.say(f"sign-off of {label} by {sign_off.actor} ignored: that gate runs by itself")
            continue
        if manual.role not in sign_off.roles:
            t.say(
                f"sign-off of {label} by {sign_off.actor} ignored: it needs someone with the "
                f"role '{manual.role}'"
            )
            continue
        if manual.people and sign_off.actor not in manual.people:
            t.say(
                f"sign-off of {label} by {sign_off.actor} ignored: only {people(manual.people)} "
                "may sign it off"
            )
            continue
        t.update(sign_offs=(*t.state.sign_offs, replace(sign_off, at=t.now)))


def _manual(t: Tick, index: int, item: ChecklistItem) -> Progress:
    """A manual gate's ledger entry is ISSUED while it waits for a sign-off."""
    manual = item.manual
    assert manual is not None
    step = f"gate/{index + 1}"
    entry = t.state.entry(step)
    if entry is None or (entry.outcome is Outcome.FAILED and entry.attempt < entry.last_attempt):
        attempt = 1 if entry is None else entry.attempt + 1
        last = 1 if entry is None else entry.last_attempt
        t.issue(
            RequestSignOff(
                rollout_id=t.state.rollout_id,
                step=f"{step}/sign-off",
                attempt=attempt,
                description=f"ask {people(manual.people) if manual.people else 'someone'} with "
                f"the role '{manual.role}' to sign off '{item.item}'",
                index=index,
                item=item.item,
                role=manual.role,
                people=manual.people,
            ),
            last_attempt=attempt,
        )
        entry = LedgerEntry(step, "sign_off", attempt, last, Outcome.ISSUED, at=t.now)
        t.put(entry)
        if attempt > 1:
            # Asking again (after a refusal and a retry): only what is said from now on counts.
            kept = tuple(s for s in t.state.sign_offs if s.item != index)
            t.update(sign_offs=kept)
    if entry.outcome is Outcome.DONE:
        return Progress.DONE
    if entry.outcome is Outcome.FAILED:
        return Progress.GAVE_UP
    decisions = [s for s in t.state.sign_offs if s.item == index]
    if not decisions:
        return Progress.WAITING
    last_word = decisions[-1]
    comment = f": {last_word.comment}" if last_word.comment else ""
    if last_word.approve:
        message = f"signed off by {last_word.actor}{comment}"
        t.put(replace(entry, outcome=Outcome.DONE, message=message, at=t.now))
        t.say(f"{gate_label(index, item)} {message}")
        return Progress.DONE
    # A refusal is a person's decision: it is not asked again until someone retries.
    message = f"refused by {last_word.actor}{comment}"
    t.put(replace(entry, outcome=Outcome.FAILED, message=message, last_attempt=entry.attempt))
    return Progress.GAVE_UP


def _failure(t: Tick, index: int, item: ChecklistItem) -> str:
    entry = t.state.entry(f"gate/{index + 1}")
    assert entry is not None
    if item.manual is not None:
        return f"checklist {gate_label(index, item)} was {entry.message}"
    return f"checklist {gate_label(index, item)} failed after {attempts(entry.attempt)}: " + (
        entry.message or "no reason given"
    )


def _gate_builder(t: Tick, index: int, item: ChecklistItem) -> Callable[[int], RunGate]:
    def build(attempt: int) -> RunGate:
        return RunGate(
            rollout_id=t.state.rollout_id,
            step=f"gate/{index + 1}",
            attempt=attempt,
            description=f"check '{item.item}' ({_GATE_WORDS[item.gate]})",
            index=index,
            item=item,
        )

    return build


def _baseline_builder(t: Tick, metrics: tuple[str, ...]) -> Callable[[int], RecordBaseline]:
    window = t.plan.monitoring.baseline_window

    def build(attempt: int) -> RecordBaseline:
        return RecordBaseline(
            rollout_id=t.state.rollout_id,
            step="baseline",
            attempt=attempt,
            description=f"measure the baseline of {', '.join(metrics)} over the "
            f"{seconds(window)} before the start",
            metrics=metrics,
            window=window,
        )

    return build


_GATE_WORDS = {
    "run": "run its command",
    "http": "send its HTTP request",
    "migrations": "migrate a scratch database up and back down",
    "rollback": "check the rollback plan's steps can run",
    "monitoring": "check every metric the stages use answers",
}
