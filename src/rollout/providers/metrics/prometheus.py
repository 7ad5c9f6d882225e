"""The Prometheus source: PromQL range queries, one per arm and per query key.

Plan block::

    monitoring:
      source:
        type: prometheus
        url: http://prometheus.internal:9090     # a path prefix is kept: https://host/prom
        timeout: 10s                             # per query; also sent to Prometheus
      metrics:
        error_rate:
          kind: error_rate
          queries:
            requests: sum(increase(http_requests_total{job="api",version="{arm}"}[{window}]))
            errors: >-
              sum(increase(http_requests_total{job="api",version="{arm}",code=~"5.."}[{window}]))

Placeholders: ``{arm}`` the arm's label value (canary ``canary``, control ``stable`` unless the
:class:`ArmSelector` says otherwise), ``{window}`` the step as a PromQL duration (``30s``),
``{flag}`` and ``{environment}``. Values are escaped for a double-quoted PromQL string.

Query keys, by metric kind (each query must return *counts per step*, which ``increase(...
[{window}])`` does: the range query evaluates it at the end of every step, ``{window}`` long;
``rate()`` gives per-second values and is refused):

==========  ==================================  =========================================
kind        keys                                each returns
==========  ==================================  =========================================
error_rate  ``requests``, ``errors``            one series: requests / failed requests
latency     ``latency`` (+ ``latency_unit``)    histogram buckets by ``le`` (cumulative)
conversion  ``exposures``, ``conversions``      one series: exposures / conversions
mean        ``count``, ``sum``, ``sum_sq``      one series each: n, sum, sum of squares
count       ``requests``, ``events``            one series: requests / counted events
==========  ==================================  =========================================

Defaults (used for a key the plan leaves out, and for ``error_rate`` / ``latency_pNN`` when the
plan does not define them): ``requests`` and ``errors`` count ``http_requests_total``
(``code=~"5.."`` for errors), ``latency`` reads ``http_request_duration_seconds_bucket``, all
labelled ``version="{arm}"``; see :data:`DEFAULT_QUERIES`. Conversions, means and events have
no default.

Latency: a percentile from ``histogram_quantile`` is one number per arm and cannot tell how
many canary requests were slower than the control's p99, which is what the latency test
counts. So the ``latency`` query returns the buckets themselves (``sum by (le) (increase(
..._bucket{...}[{window}]))``, bounds in seconds unless ``latency_unit: ms``), and each step's
buckets become a latency sketch (:mod:`._histogram`; spread within a bucket as
``histogram_quantile`` assumes, so a p99 reads as a dashboard shows it). The ``+Inf`` bucket
gives the arm's request count.

No data: a query with an empty result has no samples. When no query of the metric has a sample
for either arm, the answer is :class:`NoData`; a counting query that is empty while its traffic
query is not (no 5xx series exist when nothing failed) counts 0. ``increase`` extrapolates, so
counts are rounded to whole requests, and a part that exceeds its whole by no more than that
noise (5 % + 1) is capped at it; more than that is a :class:`MetricsError` (the two queries do
not select the same traffic).

Failures are :class:`MetricsError` naming the query: no answer within ``timeout``, a server
that cannot be reached, Prometheus' own error (``bad_data: parse error ...``), an answer that is
not Prometheus' JSON, several series where one was expected (aggregate with ``sum``), or a
negative count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import httpx

from rollout.analysis import ArmStats, Interval, MetricKind, MetricSeries, MetricSpec
from rollout.errors import MetricsError
from rollout.plan.model import Metric, PrometheusSource
from rollout.providers.metrics._base import (
    ArmSelector,
    FetchResult,
    NoData,
    Steps,
    plain_number,
    promql_duration,
)
from rollout.providers.metrics._histogram import sketch_from_buckets
from rollout.providers.metrics._promql import DEFAULT_QUERIES, QUERY_KEYS, fill, queries_for

__all__ = ["DEFAULT_CANARY", "DEFAULT_CONTROL", "DEFAULT_QUERIES", "PrometheusMetricSource"]

DEFAULT_CANARY = "canary"
DEFAULT_CONTROL = "stable"
NOISE_SHARE = 0.05
"""How far (as a share, plus one request) a rounded, extrapolated part may exceed its whole
before it counts as a query mistake rather than ``increase``'s extrapolation."""

Series = dict[int, float]  # step index -> value
Buckets = dict[int, list[tuple[float, float]]]  # step index -> [(le in ms, cumulative count)]


class PrometheusMetricSource:
    """Runs a metric's PromQL templates against one Prometheus (see the module docstring).

    ``transport`` replaces httpx's network transport (tests use it to fake odd answers).
    """

    def __init__(
        self, spec: PrometheusSource, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.spec = spec
        self.endpoint = spec.url.rstrip("/") + "/api/v1/query_range"
        self._transport = transport

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
        queries = queries_for(metric, spec.kind, metric_def)
        if steps.count == 0:
            return NoData(metric, f"no whole {step:g} s step has passed since the window opened")
        labels = {
            "canary": arms.canary or DEFAULT_CANARY,
            "control": arms.control or DEFAULT_CONTROL,
        }
        found: dict[str, dict[str, Series | Buckets]] = {"canary": {}, "control": {}}
        with httpx.Client(timeout=self.spec.timeout, transport=self._transport) as client:
            for role, label in labels.items():
                for key, template in queries.templates.items():
                    query = fill(template, _placeholders(label, arms, step))
                    result = self._query(client, query, steps)
                    found[role][key] = (
                        _buckets(result, query, steps, queries.latency_ms_per_unit)
                        if key == "latency"
                        else _series(result, query, steps, signed=key == "sum")
                    )
        indices = sorted({i for arm in found.values() for data in arm.values() for i in data})
        if not indices:
            template = next(iter(queries.templates.values()))
            first = fill(template, _placeholders(labels["canary"], arms, step))
            return NoData(
                metric,
                f"Prometheus has no samples for {metric} in the window for either arm "
                f"({labels['canary']!r}, {labels['control']!r}); query: {first}",
            )
        intervals = [
            Interval(
                *steps.bounds(i),
                canary=_arm(spec.kind, found["canary"], i, metric),
                control=_arm(spec.kind, found["control"], i, metric),
            )
            for i in indices
        ]
        return MetricSeries(spec, tuple(intervals))

    def _query(self, client: httpx.Client, query: str, steps: Steps) -> list[Any]:
        form = {
            "query": query,
            "start": plain_number(steps.start + steps.step),
            "end": plain_number(steps.stop),
            "step": plain_number(steps.step),
            "timeout": promql_duration(self.spec.timeout),
        }
        try:
            response = client.post(self.endpoint, data=form)
        except httpx.TimeoutException as exc:
            raise MetricsError(
                f"Prometheus at {self.spec.url} did not answer within {self.spec.timeout:g} s; "
                f"query: {query}"
            ) from exc
        except httpx.HTTPError as exc:
            raise MetricsError(
                f"cannot reach Prometheus at {self.spec.url}: {exc or type(exc).__name__}; "
                f"query: {query}"
            ) from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise MetricsError(
                f"Prometheus at {self.spec.url} answered HTTP {response.status_code} with "
                f"something that is not JSON ({response.text[:200]!r}); query: {query}"
            ) from exc
        if not isinstance(body, dict) or body.get("status") != "success":
            detail = body if not isinstance(body, dict) else body.get("error", body)
            kind = body.get("errorType", "error") if isinstance(body, dict) else "error"
            raise MetricsError(
                f"Prometheus refused the query (HTTP {response.status_code}, {kind}): {detail}; "
                f"query: {query}"
            )
        data = body.get("data")
        if not isinstance(data, dict) or data.get("resultType") != "matrix":
            found = data.get("resultType") if isinstance(data, dict) else None
            raise MetricsError(
                f"Prometheus answered a range query with a {found or 'malformed'} result instead "
                f"of a matrix; query: {query}"
            )
        result = data.get("result")
        if not isinstance(result, list):
            raise MetricsError(f"Prometheus' answer has no result list; query: {query}")
        return result


def _placeholders(label: str, arms: ArmSelector, step: float) -> dict[str, str | None]:
    return {
        "arm": label,
        "window": promql_duration(step),
        "flag": arms.flag,
        "environment": arms.environment,
    }


def _points(item: Any, query: str, steps: Steps, *, signed: bool = False) -> dict[int, float]:
    """One series' values by step index; NaN points (nothing to divide) are skipped. Values
    are counts (>= 0) unless ``signed`` (the ``sum`` of a mean may be negative)."""
    values = item.get("values") if isinstance(item, dict) else None
    if not isinstance(values, list):
        raise MetricsError(f"Prometheus' answer holds a series without values; query: {query}")
    points: dict[int, float] = {}
    for pair in values:
        try:
            t, text = pair
            value = float(text)
            index = steps.index_of_end(float(t))
        except (TypeError, ValueError) as exc:
            raise MetricsError(
                f"Prometheus' answer holds a malformed sample {pair!r}; query: {query}"
            ) from exc
        if math.isnan(value) or not 0 <= index < steps.count:
            continue
        if math.isinf(value) or (value < 0 and not signed):
            raise MetricsError(
                f"the query gave {value:g} for a count, which must be a finite number >= 0 "
                f"(is it a counter read with increase()?); query: {query}"
            )
        points[index] = value
    return points


def _series(result: list[Any], query: str, steps: Steps, *, signed: bool = False) -> Series:
    if len(result) > 1:
        labels = [item.get("metric") for item in result[:3] if isinstance(item, dict)]
        raise MetricsError(
            f"the query returned {len(result)} series (e.g. {labels}) where one was expected; "
            f"aggregate it with sum(...); query: {query}"
        )
    return _points(result[0], query, steps, signed=signed) if result else {}


def _buckets(result: list[Any], query: str, steps: Steps, ms_per_unit: float) -> Buckets:
    by_bound: dict[float, dict[int, float]] = {}
    for item in result:
        labels = item.get("metric") if isinstance(item, dict) else None
        le = labels.get("le") if isinstance(labels, dict) else None
        if le is None:
            raise MetricsError(
                "a latency query must return histogram buckets by their 'le' label, e.g. "
                "sum by (le) (increase(http_request_duration_seconds_bucket{...}[{window}])); "
                f"this one returned a series without 'le' ({labels}); query: {query}"
            )
        try:
            bound = float(le) * ms_per_unit
        except ValueError as exc:
            raise MetricsError(f"bucket bound le={le!r} is not a number; query: {query}") from exc
        if bound in by_bound:
            raise MetricsError(
                f"the latency query returned bucket le={le} twice; aggregate it with "
                f"sum by (le) (...); query: {query}"
            )
        by_bound[bound] = _points(item, query, steps)
    per_step: Buckets = {}
    for bound, points in by_bound.items():
        for index, count in points.items():
            per_step.setdefault(index, []).append((bound, count))
    return per_step


def _arm(
    kind: MetricKind, data: Mapping[str, Series | Buckets], index: int, metric: str
) -> ArmStats:
    if kind == "latency":
        buckets = data["latency"].get(index)
        if not buckets:
            return ArmStats()
        assert isinstance(buckets, list)
        sketch, total = sketch_from_buckets(buckets)
        return ArmStats(requests=total, latency=sketch if total else None)

    def value(key: str) -> float:
        found = data[key].get(index, 0.0)
        assert isinstance(found, float)
        return found

    whole_key, *part_keys = QUERY_KEYS[kind]
    whole = round(value(whole_key))
    if kind == "mean":
        return ArmStats(value_count=whole, value_sum=value("sum"), value_sum_sq=value("sum_sq"))
    part_key = part_keys[0]
    part = round(value(part_key))
    if kind in ("error_rate", "conversion"):
        part = _capped(part, whole, part_key, whole_key, metric)
    if kind == "error_rate":
        return ArmStats(requests=whole, errors=part)
    if kind == "conversion":
        return ArmStats(requests=whole, conversions=part)
    return ArmStats(requests=whole, events=part)


def _capped(part: int, whole: int, part_key: str, whole_key: str, metric: str) -> int:
    if part <= whole:
        return part
    if part <= whole * (1 + NOISE_SHARE) + 1:
        return whole  # increase() extrapolates each series on its own; not a real excess
    raise MetricsError(
        f"{metric}: the {part_key} query counts {part} but the {whole_key} query only {whole} "
        f"in the same step; do both select the same traffic?"
    )
