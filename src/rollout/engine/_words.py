"""How the engine words numbers and places in its reasons, the same way everywhere.

>>> percent(25.0), percent(0.5), percent(100)
('25%', '0.5%', '100%')
>>> seconds(5400.4), seconds(0)
('1h30m', '0s')
>>> attempts(1), attempts(3)
('1 attempt', '3 attempts')
>>> audience(25.0, None), audience(None, "internal-staff"), audience(5.0, "beta")
('25%', 'segment internal-staff', '5% of segment beta')
"""

from __future__ import annotations

from rollout.plan.durations import format_duration
from rollout.plan.model import ChecklistItem, Plan


def percent(value: float) -> str:
    return f"{value:g}%"


def seconds(value: float) -> str:
    """A duration in words, to the second (reasons need no milliseconds)."""
    return format_duration(float(round(max(0.0, value))))


def audience(share: float | None, segment: str | None) -> str:
    """Who a stage opens the new version to: a share of everyone, a segment, or a share of a
    segment (``share`` in percent; None or 100 with a segment means all its members)."""
    if segment is None:
        return percent(share if share is not None else 0.0)
    if share is None or share >= 100.0:
        return f"segment {segment}"
    return f"{percent(share)} of segment {segment}"


def attempts(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"


def stage_label(plan: Plan, index: int) -> str:
    """``stage 2 (Limited Release)``: 1-based, with the stage's name."""
    return f"stage {index + 1} ({plan.stages[index].name})"


def gate_label(index: int, item: ChecklistItem) -> str:
    """``gate 2 (Security audit clean)``: 1-based, with the checklist item's words."""
    return f"gate {index + 1} ({item.item})"


def people(names: list[str] | tuple[str, ...]) -> str:
    """``alice``, ``alice and bob``, ``alice, bob and carol``."""
    if not names:
        return "nobody"
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} and {names[-1]}"
