"""What the shell saw since the last tick, handed to :func:`decide` as one frozen value.

- ``results``: how the actions it carried out ended, by idempotency key (done with a message, or
  failed with the error text; a baseline measurement also reports ``values``).
- ``votes`` and ``sign_offs``: approvals/rejections of entering an environment, and manual
  checklist sign-offs, with who gave them (and, for sign-offs, the roles that person holds).
- ``commands``: operator verbs queued since the last tick, in the order they were given.
- ``metrics``: the verdicts on the criteria of the window the engine asked for (see
  :func:`rollout.engine.metric_request`), with how many canary requests the window holds.

Why verdicts rather than raw series: the statistics (anytime-valid sequential tests over every
error event, latency sketches) live where the data lives, in the analysis package the shell
calls, and the engine stays a small state machine that never depends on their internals or
carries megabytes of sketches per tick. Nothing is lost for replay: the engine itself says which
criteria to judge, on which window, from when (:class:`MetricRequest`, including the validation
spike checks it derives from the baselines), so the shell duplicates no logic; the recorded
observation replays the decision exactly, and the verdicts replay from the recorded telemetry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from rollout.engine.state import SignOff, Vote
from rollout.plan.criteria import Criterion

__all__ = [
    "ActionResult",
    "Command",
    "Judgement",
    "MetricRequest",
    "MetricWindow",
    "Observation",
    "SignOff",
    "Verb",
    "Verdict",
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


class Verdict(StrEnum):
    """A criterion's verdict (the analysis package's words): ``inconclusive`` is "not enough
    data yet" and holds a stage; ``error`` is "the metric could not be read" and holds too."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


@dataclass(frozen=True)
class Judgement:
    """A verdict on one criterion with its reason in plain words, e.g.
    ``error_rate 0.4% < 1% over 12,034 canary requests``."""

    verdict: Verdict
    reason: str


@dataclass(frozen=True)
class MetricRequest:
    """The metric data the engine needs to judge the current window.

    ``window`` names it (``production/stage-2``, ``production/validation``) and must be echoed
    in :attr:`MetricWindow.window`; data for another window is ignored, so a tick that moves on
    to the next stage never judges it on the previous stage's numbers. Collect ``metrics`` in
    ``environment`` for the new version (canary arm; flag ``flag`` when traffic moves by flag)
    and the old (control arm) from ``since`` (seconds since the epoch) to now.
    """

    window: str
    environment: str
    flag: str | None
    since: float
    criteria: tuple[Criterion, ...]

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metric names the criteria need, each once, in order."""
        return tuple(dict.fromkeys(criterion.metric for criterion in self.criteria))


@dataclass(frozen=True)
class MetricWindow:
    """What was measured for ``window``: ``canary_requests`` the new version served in it, and
    a :class:`Judgement` per criterion, keyed by the criterion's canonical text
    (``str(criterion)``). A criterion with no entry counts as not judged yet (inconclusive)."""

    window: str
    canary_requests: int = 0
    verdicts: dict[str, Judgement] = field(default_factory=dict)


@dataclass(frozen=True)
class Observation:
    """Everything new since the last tick. The empty observation is a plain clock tick."""

    results: tuple[ActionResult, ...] = ()
    votes: tuple[Vote, ...] = ()
    sign_offs: tuple[SignOff, ...] = ()
    commands: tuple[Command, ...] = ()
    metrics: MetricWindow | None = None
