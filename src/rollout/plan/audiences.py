"""Stage audiences as the engine serves them, and the cross-checks that compare them.

A stage serves either a share of everyone (``audience: 10%``) or, in a canary or feature-flag
rollout, a share of one segment's members and nobody else (``{percent: 10, segment: beta}``;
a segment alone means all its members). The flag buckets both the same way, so a member inside
10 % of a segment is also inside 10 % of everyone. Blue-green and rolling rollouts cannot pick
people: there the engine ignores a stage's segment (the plan's cross-checks refuse it), and the
stage serves its percentage of everyone.

The rules, per flag (stages moved by a router without a flag form one group), each stage
compared with the one before it that ramps the same flag:

- a share of everyone after a share of everyone: a lower percentage is a fall;
- a segment after the same segment: a lower percentage of it is a fall;
- a segment after a share of everyone above 0 %: a fall too, the audience narrows to the
  segment (everyone outside it who had the new version loses it);
- a share of everyone after a segment is not a fall, whatever the percentages: the stages serve
  different people, the plan does not know the segment's size, and moving on from a staff
  preview to a canary is what such a plan means (the members outside the new share stop getting
  the new version, as they would at any segment-to-canary step). Nor is one segment after
  another: the plan does not know who is in both.

A fall is allowed when the later stage says why in ``audience.reason``.

Where a flag ends (its ``rollout`` %, or 100 % without a flag) is a share of everyone: no
stage serving a share of everyone goes beyond it, and the flag's last stage serves exactly that
share. A segment, even all of it, is not a share of everyone, so a flag's stages cannot end on
a segment stage; put segment stages first, as previews.

``{percent: 0, segment: x}`` serves nobody: it is refused, as it says something it does not
do (a stage for nobody is written ``audience: 0``, a stage for all of a segment
``audience: {segment: x}``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from rollout.plan.model import Plan, Stage

__all__ = [
    "SEGMENT_STRATEGIES",
    "Groups",
    "Reach",
    "by_flag",
    "falls",
    "final_audiences",
    "reach",
    "zero_segments",
]

Finding = tuple[tuple[str | int, ...], str]

SEGMENT_STRATEGIES = frozenset({"canary", "feature-flag"})
"""Strategies whose stages can open the new version to a segment (through a flag)."""


@dataclass(frozen=True)
class Reach:
    """Who a stage serves: ``percent`` % of everyone, or of ``segment``'s members only."""

    percent: float
    segment: str | None = None

    def __str__(self) -> str:
        """How a problem names it.

        >>> [str(r) for r in (Reach(10), Reach(50, "beta"), Reach(100, "beta"))]
        ['10%', "50% of segment 'beta'", "all of segment 'beta'"]
        """
        if self.segment is None:
            return _pct(self.percent)
        share = "all" if self.percent >= 100.0 else _pct(self.percent)
        return f"{share} of segment '{self.segment}'"


def reach(plan: Plan, stage: Stage) -> Reach | None:
    """Who ``stage`` serves, as the engine applies it; None for a stage that names only a
    segment in a rollout that cannot pick people (it keeps the previous stage's share)."""
    audience = stage.audience
    if audience.segment is not None and plan.strategy.type in SEGMENT_STRATEGIES:
        share = audience.percent if audience.percent is not None else 100.0
        return Reach(share, audience.segment)
    return Reach(audience.percent) if audience.percent is not None else None


Groups = dict[str | None, list[tuple[int, Stage, Reach]]]


def by_flag(plan: Plan) -> Groups:
    """The stages that set an audience, by the flag they ramp (None: moved by a router without
    a flag); a stage for 0 % of a segment is left out (:func:`zero_segments` refuses it)."""
    groups: Groups = {}
    for index, stage in enumerate(plan.stages):
        served = reach(plan, stage)
        if served is None or (served.segment is not None and served.percent == 0):
            continue
        groups.setdefault(plan.stage_flag(stage), []).append((index, stage, served))
    return groups


def falls(groups: Groups) -> Iterator[Finding]:
    """Each stage whose audience falls from the previous stage's of the same flag (see the
    module's rules) without saying why in ``audience.reason``."""
    for stages in groups.values():
        for (_, before, was), (index, stage, now) in itertools.pairwise(stages):
            why = _fall(was, f"{was} (stage '{before.name}')", now)
            if why is not None and not stage.audience.reason:
                yield (
                    ("stages", index, "audience"),
                    f"{why}; if that is intended, say why in 'audience.reason'",
                )


def _fall(was: Reach, before: str, now: Reach) -> str | None:
    if was.segment == now.segment and now.percent < was.percent:
        return f"the audience falls from {before} to {now}"
    if was.segment is None and was.percent > 0 and now.segment is not None:
        return (
            f"the audience narrows from {before} to {now} only: everyone outside the segment "
            "who had the new version would lose it"
        )
    return None


def final_audiences(plan: Plan, groups: Groups) -> Iterator[Finding]:
    """Each stage beyond where its flag ends, and each flag whose last stage does not reach
    exactly that share of everyone."""
    keys = {flag.key: (index, flag.rollout) for index, flag in enumerate(plan.flags)}
    for key, stages in groups.items():
        if key is not None and key not in keys:
            continue  # reported as an unknown flag
        if key is None:
            end, ends_at, fix = 100.0, "the rollout ends at 100%", "as the last stage"
        else:
            where, end = keys[key]
            ends_at = f"flag '{key}' ends at {_pct(end)} (flags[{where}].rollout)"
            fix = f"or lower flags[{where}].rollout"
        for index, _, served in stages:
            if served.segment is None and served.percent > end:
                yield (
                    ("stages", index, "audience"),
                    f"{served} is beyond where the rollout ends: {ends_at}",
                )
        index, _, last = stages[-1]
        path = ("stages", index, "audience")
        if last.segment is not None:
            yield (
                path,
                f"the last stage serves {last} only, but {ends_at}, a share of everyone: a "
                f"segment, even all of it, is not everyone; end with a stage at {_pct(end)}",
            )
        elif last.percent < end:
            yield (
                path,
                f"the last stage reaches {last} but {ends_at}: the rest would go out without "
                f"being judged; add a stage at {_pct(end)} {fix}",
            )


def zero_segments(plan: Plan) -> Iterator[Finding]:
    """Each stage for 0 % of a segment: it serves nobody, which its segment hides."""
    for index, stage in enumerate(plan.stages):
        served = reach(plan, stage)
        if served is not None and served.segment is not None and served.percent == 0:
            yield (
                ("stages", index, "audience", "percent"),
                f"0% of segment '{served.segment}' is nobody: a segment stage serves its "
                "percentage of the segment's members and no one else; write 'audience: "
                f"{{segment: {served.segment}}}' for all of them, or 'audience: 0' for a stage "
                "that serves nobody",
            )


def _pct(value: float) -> str:
    return f"{value:g}%"
