"""The working memory of one ``decide`` call: the state so far, actions issued, reasons given.

A :class:`Tick` is mutable but private to one call, so ``decide`` stays a pure function: it
builds a ``Tick``, lets the phase handlers advance it, and returns the frozen result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from rollout.engine.actions import Action, Notify, NotifyContext
from rollout.engine.observation import Observation
from rollout.engine.state import LedgerEntry, Outcome, RolloutState, Status
from rollout.plan.model import Environment, Plan, Stage


class Progress(Enum):
    """Where a step stands after :meth:`Tick.run`."""

    DONE = "done"
    WAITING = "waiting"
    GAVE_UP = "gave up"
    """Failed on its last allowed attempt."""


@dataclass
class Tick:
    plan: Plan
    observation: Observation
    now: float
    state: RolloutState
    actions: list[Action] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    promoted_by: str | None = None
    """Who asked, in this tick, to end the current bake early (operator verb ``promote``)."""

    # ------------------------------------------------------------------ where we are

    @property
    def environment(self) -> Environment:
        return self.plan.environments[self.state.env_index]

    @property
    def stage(self) -> Stage:
        return self.plan.stages[self.state.stage_index]

    @property
    def staged(self) -> bool:
        return self.plan.is_staged(self.environment)

    # ------------------------------------------------------------------ state changes

    def update(self, **changes: Any) -> None:
        self.state = replace(self.state, **changes)

    def say(self, reason: str) -> None:
        self.reasons.append(reason)

    def transition(self, status: Status, reason: str, **changes: Any) -> None:
        """Move to ``status`` for ``reason`` (which becomes the state's last reason)."""
        self.state = replace(
            self.state,
            status=status,
            status_since=self.now,
            reason=reason,
            transitions=self.state.transitions + 1,
            **changes,
        )
        self.reasons.append(reason)

    def take_promotion(self) -> str | None:
        """Who promoted in this tick, once: the promotion ends one bake, not the next too."""
        promoted, self.promoted_by = self.promoted_by, None
        return promoted

    def stop_clock(self) -> None:
        """Bank the bake time so far and stop the clock (a pause must not count as baking)."""
        if self.state.bake_since is not None:
            self.update(bake_accumulated=self.state.bake_elapsed(self.now), bake_since=None)

    def start_clock(self) -> None:
        if self.state.bake_since is None:
            self.update(bake_since=self.now)

    # ------------------------------------------------------------------ actions

    def issue(self, action: Action, last_attempt: int, budget: int = 1) -> None:
        """Hand ``action`` to the shell and remember it in the ledger as issued."""
        entry = LedgerEntry(
            step=action.step,
            kind=action.kind,
            attempt=action.attempt,
            last_attempt=last_attempt,
            outcome=Outcome.ISSUED,
            at=self.now,
            budget=budget,
        )
        self.put(entry)
        self.actions.append(action)

    def put(self, entry: LedgerEntry) -> None:
        """Insert or replace the ledger entry of ``entry.step``."""
        ledger = [e for e in self.state.ledger if e.step != entry.step]
        self.update(ledger=(*ledger, entry))

    def run(self, step: str, retries: int, build: Callable[[int], Action]) -> Progress:
        """Drive one step: issue attempt 1, wait for its result, re-issue it with attempt+1 after
        a failure while retries are left, report ``GAVE_UP`` after the last failed attempt.

        ``build(attempt)`` makes the action; it is only called when something is issued.
        """
        entry = self.state.entry(step)
        if entry is None:
            self.issue(build(1), last_attempt=1 + retries, budget=1 + retries)
            return Progress.WAITING
        if entry.outcome is Outcome.DONE:
            return Progress.DONE
        if entry.outcome is Outcome.ISSUED:
            return Progress.WAITING
        if entry.attempt < entry.last_attempt:
            self.issue(build(entry.attempt + 1), entry.last_attempt, entry.budget)
            return Progress.WAITING
        return Progress.GAVE_UP

    def mark(self, step: str, kind: str, outcome: Outcome, message: str) -> None:
        """Record a step that needed no action: done (nothing left to undo) or failed (it
        cannot be carried out at all)."""
        self.put(LedgerEntry(step, kind, 1, 1, outcome, message, {}, self.now))

    def touched(self, env: str) -> bool:
        """Whether anything that changes what ``env``'s users get was ever issued there."""
        return any(
            entry.kind in _CHANGING and entry.step.startswith(f"{env}/")
            for entry in self.state.ledger
        )

    # ------------------------------------------------------------------ notifications

    def notify(self, moment: str, reason: str | None = None) -> None:
        """Send the communication plan's announcements for ``moment`` (and those sent at
        ``any`` moment; ``stage:<name>`` ones when the stage called name starts)."""
        wanted = {moment, "any"}
        if moment == "stage_started" and self.staged:
            wanted.add(f"stage:{_fold(self.stage.name)}")
        indexes = tuple(
            index
            for index, announcement in enumerate(self.plan.communication)
            if wanted & {_fold(when) for when in announcement.when}
        )
        if not indexes:
            return
        step = f"notify/{self.state.transitions}/{moment}"
        context = self.context(reason)
        where = f"{context.environment}, {context.stage}" if context.stage else context.environment
        self.issue(
            Notify(
                rollout_id=self.state.rollout_id,
                step=step,
                description=f"tell {_audiences(self.plan, indexes)} that rollout "
                f"{context.rollout} {_said(moment)} ({where})",
                moment=moment,
                announcements=indexes,
                context=context,
            ),
            last_attempt=1,
        )

    def context(self, reason: str | None = None) -> NotifyContext:
        in_stage = self.staged and self.state.status in (
            Status.RAMPING,
            Status.OBSERVING,
            Status.PAUSED,
        )
        return NotifyContext(
            rollout=self.state.rollout_id,
            version=self.state.version,
            environment=self.environment.name,
            stage=self.stage.name if in_stage else "",
            state=self.state.status.value,
            reason=reason if reason is not None else self.state.reason,
        )


_CHANGING = frozenset({"deploy", "migrate", "set_traffic", "set_flag"})


def _fold(text: str) -> str:
    # "stage: Limited Release" and "stage:limited release" name the same moment.
    head, colon, tail = text.partition(":")
    if not colon:
        return text.strip().lower()
    return f"{head.strip().lower()}:{' '.join(tail.split()).lower()}"


def _audiences(plan: Plan, indexes: tuple[int, ...]) -> str:
    names = dict.fromkeys(plan.communication[i].audience for i in indexes)
    return ", ".join(names)


_MOMENT_WORDS = {
    "started": "started",
    "approval_needed": "needs approval",
    "environment_started": "entered a new environment",
    "stage_started": "started a stage",
    "stage_passed": "passed a stage",
    "rolling_back": "is rolling back",
    "rolled_back": "was rolled back",
    "rollback_failed": "could not be rolled back",
    "succeeded": "succeeded",
    "paused": "is paused",
}


def _said(moment: str) -> str:
    return _MOMENT_WORDS.get(moment, f"reached '{moment}'")
