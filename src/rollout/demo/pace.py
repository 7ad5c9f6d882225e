"""How fast the demo runs: traffic, and the plan's times for ``--fast``.

The standard pace runs ``examples/demo.yaml`` as written (stages of 20 s judged every 2 s,
10 s of validation) under about 200 requests a second. The fast pace, for tests and CI, keeps
every stage, audience and criterion and shortens the times; it sends more traffic instead, so
each stage still gathers the data its criteria need before it ends. The binding needs: at 10 %
the canary must serve 200 checkout requests, which with 360 requests a second (about 70 % of
them to the checkout) takes about 8 s plus a second or two of telemetry delay; a p99 compared
with the control's needs 1,000 earlier control requests, which at 50 % takes about 9 s. A
stage short of data when its time is up holds until the data are in (up to twice its time),
so a slower machine makes the demo longer, not wrong.

Both paces are fixed numbers, not tuned to one seed: ``rollout demo --seed N`` may be any
number.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from rollout.errors import PlanError, Problem
from rollout.plan.durations import format_duration
from rollout.plan.loader import load_plan_text
from rollout.plan.model import Plan

__all__ = ["FAST", "STANDARD", "Pace", "default_plan_path", "paced_plan"]


@dataclass(frozen=True)
class Pace:
    """The demo's speed. Times in seconds; ``None`` keeps what the plan says.

    ``rate``: requests per second the shoppers aim at; ``users``: distinct shopper ids;
    ``controller_interval``: seconds between the controller's ticks; ``stage_seconds``: each
    stage's duration, in order; ``interval``: the monitoring interval; ``validation_window``:
    how long validation watches.
    """

    name: str
    rate: float
    users: int
    controller_interval: float
    stage_seconds: tuple[float, ...] | None = None
    interval: float | None = None
    validation_window: float | None = None


STANDARD = Pace("standard", rate=200.0, users=3000, controller_interval=1.0)
FAST = Pace(
    "fast",
    rate=360.0,
    users=1500,
    controller_interval=0.5,
    stage_seconds=(12.0, 10.0, 3.0),
    interval=1.0,
    validation_window=4.0,
)


def default_plan_path() -> Path:
    """``examples/demo.yaml`` of the source tree this package runs from."""
    return Path(__file__).resolve().parents[3] / "examples" / "demo.yaml"


def paced_plan(text: str, pace: Pace, filename: str = "demo.yaml") -> tuple[str, Plan]:
    """``text`` (a plan's YAML) with ``pace``'s times written in, and the plan it loads to.

    Comments and everything else are kept. :class:`PlanError` when the text is not a valid
    plan, or ``pace`` names durations for a different number of stages.

    >>> text, plan = paced_plan(default_plan_path().read_text(), FAST)
    >>> [stage.duration for stage in plan.stages], plan.monitoring.interval
    ([12.0, 10.0, 3.0], 1.0)
    """
    plan = load_plan_text(text, filename)
    if pace.stage_seconds is None and pace.interval is None and pace.validation_window is None:
        return text, plan
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    data: Any = yaml.load(text)
    if pace.stage_seconds is not None:
        if len(pace.stage_seconds) != len(plan.stages):
            problem = (
                f"the {pace.name} pace has durations for {len(pace.stage_seconds)} stages, "
                f"the plan has {len(plan.stages)}"
            )
            raise PlanError([Problem(filename, 0, 0, "stages", problem)])
        for stage, seconds in zip(data["stages"], pace.stage_seconds, strict=True):
            stage["duration"] = format_duration(seconds)
    if pace.interval is not None:
        data.setdefault("monitoring", {})["interval"] = format_duration(pace.interval)
    if pace.validation_window is not None:
        data.setdefault("validation", {})["window"] = format_duration(pace.validation_window)
    out = io.StringIO()
    yaml.dump(data, out)
    paced = out.getvalue()
    return paced, load_plan_text(paced, filename)
