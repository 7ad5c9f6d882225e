"""What the shell saw since the last tick, handed to :func:`decide` as one frozen value.

- ``results``: how the actions it carried out ended, by idempotency key (done with a message, or
  failed with the error text; a baseline measurement also reports ``values``).
- ``votes`` and ``sign_offs``: approvals/rejections of entering an environment, and manual
  checklist sign-offs, with who gave them (and, for sign-offs, the roles that person holds).
- ``commands``: operator verbs queued since the last tick, in the order they were given.
- ``metrics``: the raw measurements of the window the engine asked for (see
  :func:`rollout.engine.metric_request`): per metric, the interval series of both arms.

Why raw data rather than verdicts: ``decide`` judges them itself with :mod:`rollout.analysis`,
so one pure call covers the whole decision, judging included, and a recorded observation
replays it exactly. The engine is also the only one that knows what to judge and how: which
criteria are success criteria and which are rollback triggers, and whether the bake is over
(pauses excluded), which decides whether a success criterion may pass yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from rollout.analysis import Interval, MetricSpec
from rollout.engine.state import SignOff, Vote

__all__ = [
    "ActionResult",
    "Command",
    "MetricRequest",
    "MetricWindow",
    "Observation",
    "SignOff",
    "Verb",
    "Vote",
]


class Verb(StrEnum):
    """An operator's command. ``abort`` rolls back now; ``retry`` re-runs what failed."""

    PAUSE = "pause"
    RESUME = "resume"
    PROMOTE = "promote"
    ABORT = "abort"
    RETRY = "retry"


@dataclass(frozen=True)
class Command:
    """An operator verb, who gave it and why."""

    verb: Verb
    actor: str
    comment: str = ""


@dataclass(frozen=True)
class ActionResult:
    """How the action with idempotency ``key`` ended: ``ok`` with its result text, or not ok
    with the error text. ``values`` carries measured numbers (a baseline, by metric name)."""

    key: str
    ok: bool
    message: str = ""
    values: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricRequest:
    """The metric data the engine needs to judge the current window.

    ``window`` names it (``production/stage-2``, ``production/validation``) and must be echoed
    in :attr:`MetricWindow.window`; data for another window is ignored, so a tick that moves on
    to the next stage never judges it on the previous stage's numbers. Measure each metric of
    ``specs`` in ``environment``, for the new version (canary arm; the flag ``flag`` when
    traffic moves by flag) and the old one (control arm), from ``since`` (seconds since the
    epoch) to now, as one :class:`~rollout.analysis.Interval` per collection interval.
    """

    window: str
    environment: str
    flag: str | None
    since: float
    specs: tuple[MetricSpec, ...]

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metric names wanted, in order."""
        return tuple(spec.name for spec in self.specs)


@dataclass(frozen=True)
class MetricWindow:
    """What was measured for ``window``: per metric name, the intervals since the window
    opened, oldest first. A metric with no entry has no data yet."""

    window: str
    series: dict[str, tuple[Interval, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Observation:
    """Everything new since the last tick. The empty observation is a plain clock tick."""

    results: tuple[ActionResult, ...] = ()
    votes: tuple[Vote, ...] = ()
    sign_offs: tuple[SignOff, ...] = ()
    commands: tuple[Command, ...] = ()
    metrics: MetricWindow | None = None
