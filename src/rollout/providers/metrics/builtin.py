"""The built-in source: the SDKs' outcome telemetry, per flag arm, from Rollout's own store.

Plan block (the default, so usually left out)::

    monitoring:
      source:
        type: builtin

SDKs report, per flag arm and per flush window, how many requests they served, how many failed
and a latency sketch (ms). This source reads the batches of the stage's flag in the
environment, puts each batch in the step its window *ended* in (the store's half-open rule, so
a batch is never counted twice by consecutive windows), and adds up each arm per step: requests
and errors are summed, latency sketches merged exactly. The failing subjects each batch reports
(``error_subjects``: one client retrying counts once per window) are summed too, or left out
(None) for a step where any batch does not report them. Batches that ended after the last whole
step form one more, partial step up to the moment asked for: each judgement sees every batch
that has landed, so a trigger can fire on the batch that proves it rather than up to a
monitoring interval later.

Arms: the canary is the variant the rollout serves to its audience, the control the variant
everyone else gets. When :class:`ArmSelector` leaves them out they are read from the flag as
stored: its percentage rollout's ``variant`` and ``rest``; for a boolean flag with no rollout
yet, its ``true`` and ``false`` variants (``on`` / ``off``) -- the choice
:func:`rollout.flags.ramp.with_rollout_percent` makes when the flag is ramped. A flag that
does not exist (yet) has no telemetry: no data.

It measures ``error_rate`` and ``latency`` metrics from the requests, and ``conversion`` and
``count`` metrics from the business events the SDKs track (``client.track(name, context)``,
counted in the arm the subject is served)::

    metrics:
      checkout_conversion:
        kind: conversion
        queries: {event: checkout}     # the tracked event's name (required)

* ``conversion`` -- per arm and step, ``checkout`` events per served request: a Bernoulli-type
  rate, conversions / exposures. An event is tracked independently of requests, so a step may
  hold more events than requests (a subject that checks out twice, a batch that landed in the
  next step); such an arm's conversions are clamped to its requests in that step, as a rate
  cannot exceed 100 %. Example: 1,000 requests and 70 ``checkout`` events on the canary, 1,000
  and 100 on the control: 7 % against 10 %.
* ``count`` -- per arm and step, the number of events, with the requests as exposure (so
  ``no increase`` compares events per request, a threshold the total).

Without ``queries.event`` such a metric is a :class:`MetricsError` naming the metric and the
missing field. A ``mean`` metric (a mean of measured values) is refused: give it a Prometheus
or command source.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Protocol

from rollout.analysis import ArmStats, Interval, LatencySketch, MetricSeries, MetricSpec
from rollout.errors import FlagError, MetricsError, NotFound, StoreError
from rollout.flags.model import Flag
from rollout.flags.ramp import with_rollout_percent
from rollout.plan.model import Metric
from rollout.providers.metrics._base import ArmSelector, FetchResult, NoData, Steps
from rollout.store import FlagRecord, TelemetryRecord

__all__ = ["BuiltinMetricSource", "TelemetryReader", "flag_arms"]

_REQUEST_KINDS = ("error_rate", "latency")
_EVENT_KINDS = ("conversion", "count")


class TelemetryReader(Protocol):
    """The part of :class:`rollout.store.Store` this source reads."""

    def query_telemetry(
        self,
        environment: str,
        flag_key: str,
        since: datetime,
        until: datetime,
        *,
        variant: str | None = None,
    ) -> list[TelemetryRecord]: ...

    def get_flag(self, environment: str, key: str) -> FlagRecord: ...


def flag_arms(flag: Flag) -> tuple[str, str]:
    """``(canary, control)`` variant names of ``flag``: its rollout's ``variant`` and ``rest``,
    else a boolean flag's true and false variants. ``MetricsError`` when neither applies.

    >>> flag_arms(Flag.model_validate({"key": "x", "fallthrough": {"variant": "off"}}))
    ('on', 'off')
    """
    try:
        # Ask the ramp which variants it would move between: one rule for both, by construction.
        ramped = with_rollout_percent(flag, 0.0)
    except FlagError as exc:
        raise MetricsError(
            f"cannot tell the canary arm of flag {flag.key!r} from its control arm: {exc.message}"
        ) from exc
    rollout = ramped.fallthrough.rollout
    assert rollout is not None  # with_rollout_percent always sets one
    return rollout.variant, rollout.rest


class BuiltinMetricSource:
    """Reads outcome telemetry from the store (see the module docstring)."""

    def __init__(self, store: TelemetryReader) -> None:
        self.store = store

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
        if spec.kind not in _REQUEST_KINDS + _EVENT_KINDS:
            raise MetricsError(
                f"{metric} is a {spec.kind} metric, but the built-in telemetry only measures "
                "requests, errors, latency and tracked event counts; give it a prometheus or "
                "command source"
            )
        event = _event_name(metric, spec, metric_def)
        if arms.flag is None:
            raise MetricsError(
                f"the built-in telemetry measures {metric} per flag arm, but no flag was named"
            )
        steps = Steps(start, end, step)
        chosen = self._arms(arms, arms.flag)
        if chosen is None:
            return NoData(
                metric,
                f"flag {arms.flag!r} does not exist in {arms.environment}, so no SDK reports "
                "telemetry for it",
            )
        canary, control = chosen
        try:
            rows = self.store.query_telemetry(
                arms.environment, arms.flag, _moment(steps.start), _moment(steps.end)
            )
        except StoreError as exc:
            raise MetricsError(f"reading telemetry of flag {arms.flag!r} failed: {exc}") from exc
        per_step: dict[int, dict[str, list[TelemetryRecord]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for row in rows:
            index = steps.index_of(row.window_end.timestamp(), partial=True)
            if index is not None and row.variant in (canary, control):
                per_step[index][row.variant].append(row)
        intervals = [
            Interval(
                *steps.bounds(i),
                _arm(per_step[i][canary], spec, event),
                _arm(per_step[i][control], spec, event),
            )
            for i in sorted(per_step)
        ]
        if not intervals:
            return NoData(
                metric,
                f"no telemetry of flag {arms.flag!r} (variants {canary!r} and {control!r}) in "
                f"{arms.environment} yet",
            )
        return MetricSeries(spec, tuple(intervals))

    def _arms(self, arms: ArmSelector, flag_key: str) -> tuple[str, str] | None:
        """The arms' variants; None when they must come from a flag that does not exist."""
        canary, control = arms.canary, arms.control
        if canary is None or control is None:
            flag = self._flag(arms.environment, flag_key)
            if flag is None:
                return None
            stored_canary, stored_control = flag_arms(flag)
            canary, control = canary or stored_canary, control or stored_control
        if canary == control:
            raise MetricsError(f"the canary and the control arm are both variant {canary!r}")
        return canary, control

    def _flag(self, environment: str, key: str) -> Flag | None:
        try:
            record = self.store.get_flag(environment, key)
        except NotFound:
            return None
        except StoreError as exc:
            raise MetricsError(f"reading flag {key!r} failed: {exc}") from exc
        try:
            return Flag.model_validate(record.definition)
        except ValueError as exc:
            raise MetricsError(f"flag {key!r} as stored is not a valid flag: {exc}") from exc


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _event_name(metric: str, spec: MetricSpec, metric_def: Metric | None) -> str | None:
    """The tracked event a conversion or count metric counts (None for the other kinds)."""
    if spec.kind not in _EVENT_KINDS:
        return None
    event = metric_def.queries.get("event") if metric_def is not None else None
    if not event:
        raise MetricsError(
            f"{metric} is a {spec.kind} metric on the built-in telemetry, which needs the name "
            f"of the tracked event it counts: set metrics.{metric}.queries.event"
        )
    return event


def _tracked(rows: list[TelemetryRecord], event: str) -> int:
    return sum(e.count for row in rows for e in row.events if e.name == event)


def _arm(rows: list[TelemetryRecord], spec: MetricSpec, event: str | None) -> ArmStats:
    requests = sum(row.requests for row in rows)
    if event is not None:
        tracked = _tracked(rows, event)
        if spec.kind == "conversion":
            # A rate of conversions per exposure cannot pass 100 % (see the module docstring).
            return ArmStats(requests=requests, conversions=min(tracked, requests))
        return ArmStats(requests=requests, events=tracked)
    sketches: list[LatencySketch] = []
    for row in rows:
        if row.latency_sketch is None:
            continue
        try:
            sketches.append(LatencySketch.from_dict(row.latency_sketch))
        except ValueError as exc:
            raise MetricsError(
                f"telemetry batch {row.id} (SDK instance {row.sdk_instance}) holds a malformed "
                f"latency sketch: {exc}"
            ) from exc
    try:
        latency = LatencySketch.combine(sketches) if sketches else None
    except ValueError as exc:  # sketches of different accuracy cannot be merged
        raise MetricsError(f"telemetry latency sketches do not merge: {exc}") from exc
    return ArmStats(
        requests=requests,
        errors=sum(row.errors for row in rows),
        latency=latency,
        error_subjects=_error_subjects(rows),
    )


def _error_subjects(rows: list[TelemetryRecord]) -> int | None:
    """The failing subjects the rows report, added up (a subject failing in two SDK
    instances or windows counts in each); None when a row does not say (an older SDK), so the
    analysis falls back on the raw error counts rather than mixing the two."""
    subjects = [row.error_subjects for row in rows]
    if any(count is None for count in subjects):
        return None
    return sum(count for count in subjects if count is not None)
