"""The command source: the user's script measures the metric and prints it as JSON.

Plan block::

    monitoring:
      source:
        type: command
        run: ./monitoring/billing-metrics.py --metric {metric} --since {start} --step {step}
        timeout: 20s

``run`` goes through ``/bin/sh -c`` in the plan's directory, once per metric and fetch, for
both arms at once (so both are measured over the same steps). Placeholders are replaced by
shell-quoted values; the same values are in the environment:

================  =======================  ===============================================
placeholder       environment              value
================  =======================  ===============================================
``{metric}``      ``ROLLOUT_METRIC``       the metric's name (``error_rate``)
``{kind}``        ``ROLLOUT_METRIC_KIND``  error_rate, latency, conversion, mean or count
``{canary}``      ``ROLLOUT_CANARY``       the canary arm's label (default ``canary``)
``{control}``     ``ROLLOUT_CONTROL``      the control arm's label (default ``stable``)
``{start}``       ``ROLLOUT_START``        window start, seconds since the epoch
``{end}``         ``ROLLOUT_END``          window end (a whole number of steps after start)
``{step}``        ``ROLLOUT_STEP``         step length in seconds (``30``)
``{window}``      ``ROLLOUT_WINDOW``       the step as a duration (``30s``)
``{flag}``        ``ROLLOUT_FLAG``         the flag rolled out (empty when none)
``{environment}`` ``ROLLOUT_ENVIRONMENT``  the environment (``production``)
================  =======================  ===============================================

``ROLLOUT_PERCENTILE`` holds a latency metric's percentile (``99``) and ``ROLLOUT_QUERIES`` the
metric's ``queries`` from the plan as a JSON object, for scripts that take their queries from
the plan.

The script exits 0 and prints one JSON object on stdout (stderr is kept for messages)::

    {"intervals": [
      {"start": 1767225600, "end": 1767225630,
       "canary":  {"requests": 1200, "errors": 3,
                   "latency_histogram": [[50, 910], [100, 1150], ["+Inf", 1200]]},
       "control": {"requests": 22800, "errors": 41,
                   "latency": {"v": 1, "a": 0.01, "z": 0, "o": 280, "c": [3, 0, 7]}}}]}

Each interval lies within ``[start, end]`` and has ``start < end``. An arm's fields are all
optional (0 when left out): ``requests`` (or exposures), ``errors``, ``conversions``,
``events``, ``value_count``/``value_sum``/``value_sum_sq`` (for a mean), and latency in ms as
either ``latency`` (a latency sketch, the SDK telemetry's format) or ``latency_histogram``
(cumulative ``[le_ms, count]`` pairs as a Prometheus histogram has them, ``"+Inf"`` allowed,
spread within each bucket as :mod:`._histogram` describes); ``requests`` defaults to the
latency's count. ``{"intervals": []}`` (or intervals without any count) means no data.

Failures are :class:`MetricsError`: the script cannot start, runs past ``timeout`` (its whole
process group is stopped), exits non-zero (its output is in the message, with the values of
the command's ``${VAR}`` references masked as ``****``), prints something that
is not JSON, or JSON that breaks the schema (the message names the field, e.g.
``intervals[0].canary.errors: 5 errors but only 3 requests``).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rollout.analysis import ArmStats, Interval, LatencySketch, MetricSeries, MetricSpec
from rollout.errors import MetricsError, TrafficError
from rollout.plan.model import CommandSource, Metric
from rollout.providers.metrics._base import (
    ArmSelector,
    FetchResult,
    NoData,
    Steps,
    plain_number,
    promql_duration,
)
from rollout.providers.metrics._histogram import sketch_from_buckets
from rollout.providers.process import run
from rollout.providers.secrets import scrubber_for
from rollout.providers.traffic.command import render

__all__ = ["CommandMetricSource", "CommandOutput"]

DEFAULT_CANARY = "canary"
DEFAULT_CONTROL = "stable"
_ENV = {"kind": "ROLLOUT_METRIC_KIND"}  # the rest are ROLLOUT_ + the placeholder's name

Count = Annotated[int, Field(ge=0)]
Bound = float | Literal["+Inf"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Arm(_Model):
    requests: Count | None = None
    errors: Count = 0
    conversions: Count = 0
    events: Count = 0
    value_count: Count = 0
    value_sum: float = 0.0
    value_sum_sq: float = Field(default=0.0, ge=0)
    latency: dict[str, Any] | None = None
    latency_histogram: list[tuple[Bound, Annotated[float, Field(ge=0)]]] | None = None

    def stats(self, where: str) -> ArmStats:
        sketch = self._sketch(where)
        requests = self.requests
        if requests is None:
            requests = sketch.count if sketch is not None else 0
        stats = ArmStats(
            requests=requests,
            errors=self.errors,
            latency=sketch,
            conversions=self.conversions,
            value_count=self.value_count,
            value_sum=self.value_sum,
            value_sum_sq=self.value_sum_sq,
            events=self.events,
        )
        problem = stats.problem()
        if problem is not None:
            raise MetricsError(f"the metric command's {where}: {problem}")
        return stats

    def _sketch(self, where: str) -> LatencySketch | None:
        if self.latency is not None and self.latency_histogram is not None:
            raise MetricsError(
                f"the metric command's {where} has both 'latency' and 'latency_histogram'; give one"
            )
        try:
            if self.latency is not None:
                return LatencySketch.from_dict(self.latency)
            if self.latency_histogram is not None:
                pairs = [(math.inf if le == "+Inf" else le, n) for le, n in self.latency_histogram]
                return sketch_from_buckets(pairs, exact=True)[0]
        except ValueError as exc:
            raise MetricsError(f"the metric command's {where} latency: {exc}") from exc
        return None


class _Interval(_Model):
    start: float
    end: float
    canary: _Arm = Field(default_factory=_Arm)
    control: _Arm = Field(default_factory=_Arm)


class CommandOutput(_Model):
    """What a metric command prints (see the module docstring)."""

    intervals: list[_Interval]


class CommandMetricSource:
    """Runs the plan's metric command (see the module docstring).

    ``base_dir`` is where the command runs (the plan's directory); None keeps the current one.
    """

    def __init__(self, spec: CommandSource, base_dir: Path | None = None) -> None:
        self.spec = spec
        self.base_dir = base_dir

    def fetch(
        self,
        metric: str,
        spec: MetricSpec,
        metric_def: Metric | None,
        arms: ArmSelector,
        *,
        start: float,
        end: float,
        step: float,
    ) -> FetchResult:
        steps = Steps(start, end, step)
        values = {
            "metric": metric,
            "kind": spec.kind,
            "canary": arms.canary or DEFAULT_CANARY,
            "control": arms.control or DEFAULT_CONTROL,
            "start": plain_number(steps.start),
            "end": plain_number(steps.stop),
            "step": plain_number(steps.step),
            "window": promql_duration(steps.step),
            "flag": arms.flag or "",
            "environment": arms.environment,
        }
        try:
            command = render(self.spec.run, values)
        except TrafficError as exc:
            raise MetricsError(f"the metric command: {exc}") from exc
        if steps.count == 0:
            return NoData(metric, f"no whole {step:g} s step has passed since the window opened")
        env = {
            **os.environ,
            **{_ENV.get(name, f"ROLLOUT_{name.upper()}"): value for name, value in values.items()},
            "ROLLOUT_PERCENTILE": plain_number(spec.percentile) if spec.percentile else "",
            "ROLLOUT_QUERIES": json.dumps(dict(metric_def.queries) if metric_def else {}),
        }
        finished = run(
            command,
            timeout=self.spec.timeout,
            env=env,
            cwd=self.base_dir,
            # The shell fills in the command's ${VAR} references; what the script prints
            # of them is masked before any error quotes it.
            scrub=scrubber_for(self.spec.run, env),
            grace=0,  # the plan's timeout is all a fetch may take: killed at once
            limit=None,  # the whole of stdout is the JSON to parse
        ).or_raise(f"the metric command for {metric}", MetricsError)
        if finished.returncode != 0:
            raise MetricsError(
                f"the metric command for {metric} exited with {finished.returncode}; its output:"
                f"\n{finished.output}"
            )
        intervals = parse_output(finished.stdout, steps, metric)
        if not any(_has_data(i) for i in intervals):
            return NoData(metric, f"the metric command printed no data for {metric}")
        return MetricSeries(spec, tuple(i for i in intervals if _has_data(i)))


def parse_output(text: str, steps: Steps, metric: str) -> list[Interval]:
    """The intervals a metric command printed, oldest first; ``MetricsError`` naming the
    problem when the text is not JSON of the documented shape or an interval lies outside
    the window."""
    if not text.strip():
        raise MetricsError(f"the metric command for {metric} printed nothing; it must print JSON")
    try:
        output = CommandOutput.model_validate_json(text)
    except ValidationError as exc:
        raise MetricsError(f"the metric command for {metric} printed {_problems(exc)}") from exc
    intervals: list[Interval] = []
    slack = 1e-3  # a script that rounds to the millisecond is still inside the window
    for n, item in enumerate(sorted(output.intervals, key=lambda i: i.start)):
        where = f"intervals[{n}]"
        if not item.start < item.end:
            raise MetricsError(f"the metric command's {where} does not end after it starts")
        if item.start < steps.start - slack or item.end > steps.stop + slack:
            given = f"[{plain_number(item.start)}, {plain_number(item.end)})"
            asked = f"[{plain_number(steps.start)}, {plain_number(steps.stop)})"
            raise MetricsError(
                f"the metric command's {where} {given} lies outside the window asked for {asked}"
            )
        intervals.append(
            Interval(
                item.start,
                item.end,
                item.canary.stats(f"{where}.canary"),
                item.control.stats(f"{where}.control"),
            )
        )
    return intervals


def _problems(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    if errors and errors[0]["type"] == "json_invalid":
        return f"something that is not JSON ({errors[0]['msg']})"
    shown = []
    for error in errors[:5]:
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
        shown.append(f"{path.lstrip('.') or 'the output'}: {error['msg']}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "JSON that does not fit the schema: " + "; ".join(shown) + more


def _has_data(interval: Interval) -> bool:
    return any(
        arm.requests or arm.latency_count or arm.value_count or arm.events or arm.conversions
        for arm in (interval.canary, interval.control)
    )
