"""Verdicts with reasons a person can act on, per criterion and for a whole stage.

A verdict is never a bare bool (ARCHITECTURE.md): :class:`CriterionResult` says what was
compared, how big the gap is, on how much data and what happens next, e.g.
``canary errors 2.1% vs control 1.0% (2.1x) over 4,180 canary requests; a gap this big by
chance is less likely than 1 in 40``. Its ``numbers`` carry the same figures for machines and
its ``series`` the points of a chart (see :class:`SeriesPoint`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

__all__ = [
    "MAX_SERIES_POINTS",
    "CriterionResult",
    "Role",
    "SeriesPoint",
    "StageVerdict",
    "Verdict",
    "combine",
]

MAX_SERIES_POINTS = 200
"""The most points a criterion's chart holds, however long the window: a chart a few hundred
pixels wide shows no more, and each point costs a figure over the window."""

Role = Literal["success", "rollback"]
"""A criterion's role in a stage: ``success`` (it must hold for the stage to pass) or
``rollback`` (it describes when to roll back; FAIL means it fired)."""


class Verdict(StrEnum):
    """PASS: met. FAIL: not met, or a rollback trigger fired (roll back). INCONCLUSIVE: not
    enough data or evidence yet (the stage holds). ERROR: the data cannot be judged (holds).
    The values equal the engine's verdict words."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


@dataclass(frozen=True)
class SeriesPoint:
    """One point of a criterion's chart at ``time`` (an interval's end, epoch seconds): the
    canary's and the control's value over the window up to then, and the line the canary is
    held to (None where there is none yet). Values are in the criterion's unit.

    Every point pools all the window's intervals up to its time, as the verdict pools the
    whole window, so the last point is the figure the verdict states."""

    time: float
    canary: float | None
    control: float | None
    threshold: float | None


@dataclass(frozen=True)
class CriterionResult:
    """The verdict on one criterion. ``criterion`` is its canonical text (``str(criterion)``),
    ``numbers`` the figures behind the reason (keys documented in :mod:`rollout.analysis.judge`),
    ``series`` the chart points, oldest first.

    ``series`` has a point at the end of every interval of the window, up to
    :data:`MAX_SERIES_POINTS`. A longer window is drawn at the ends of that many groups of
    consecutive intervals: the first interval alone, then groups of equal length (to within
    one interval) up to the last, so the chart keeps its first and last times. A group's
    intervals are pooled into the point at its end, which like every point pools all the
    intervals before it too: a drawn point is exactly what it would be without grouping, and
    nothing is averaged or interpolated. A day of one-minute intervals (1,440) is drawn at the
    first minute and then every 7 or 8 minutes."""

    criterion: str
    verdict: Verdict
    reason: str
    numbers: Mapping[str, float] = field(default_factory=dict)
    series: tuple[SeriesPoint, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (for the store, the API and the dashboard)."""
        return {
            "criterion": self.criterion,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "numbers": dict(self.numbers),
            "series": [[p.time, p.canary, p.control, p.threshold] for p in self.series],
        }


@dataclass(frozen=True)
class StageVerdict:
    """All criteria of a stage combined: FAIL if any failed, else ERROR if any could not be
    judged, else INCONCLUSIVE if any is still open, else PASS."""

    verdict: Verdict
    reason: str
    results: tuple[CriterionResult, ...] = ()


_ORDER = (Verdict.FAIL, Verdict.ERROR, Verdict.INCONCLUSIVE)
_LEAD = {
    Verdict.FAIL: "failed",
    Verdict.ERROR: "cannot judge",
    Verdict.INCONCLUSIVE: "waiting on",
}


def combine(results: Sequence[CriterionResult], *, final: bool) -> StageVerdict:
    """The stage verdict over ``results``; the reason quotes the first deciding criterion.

    With no criteria at all the stage is plain bake time: PASS once ``final`` (its duration
    has elapsed), INCONCLUSIVE before.

    >>> ok = CriterionResult("error_rate < 1%", Verdict.PASS, "fine")
    >>> bad = CriterionResult("error_rate: no regression", Verdict.FAIL, "canary errors 2x")
    >>> combine([ok, bad], final=False).reason
    'failed error_rate: no regression: canary errors 2x'
    """
    items = tuple(results)
    if not items:
        if final:
            return StageVerdict(Verdict.PASS, "no criteria to judge; the stage's time is up")
        return StageVerdict(
            Verdict.INCONCLUSIVE, "no criteria to judge; waiting for the stage's time"
        )
    for verdict in _ORDER:
        hits = [r for r in items if r.verdict is verdict]
        if hits:
            first = hits[0]
            more = f" (and {len(hits) - 1} more)" if len(hits) > 1 else ""
            reason = f"{_LEAD[verdict]} {first.criterion}: {first.reason}{more}"
            return StageVerdict(verdict, reason, items)
    what = "the criterion is met" if len(items) == 1 else f"all {len(items)} criteria are met"
    return StageVerdict(Verdict.PASS, what, items)
