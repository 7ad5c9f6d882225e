"""Metric sources: built-in telemetry, Prometheus, command; and baselines.

Every source implements :class:`MetricSource`: ``fetch(metric, spec, metric_def, arms, *,
start, end, step)`` returns the canary and control arms' counts per step of ``[start, end)`` as
a :class:`~rollout.analysis.MetricSeries`, or :class:`NoData` when there were no samples.
A source that cannot answer raises :class:`~rollout.errors.MetricsError`; "no data" is never an
error and never a pass. The plan's ``source: type:`` picks the source through a
:class:`SourceRegistry`:

==========  ==============================================================================
builtin     the SDKs' outcome telemetry in the store, per flag variant (error_rate, latency;
            conversion and count of an event tracked with ``client.track``: ``event``)
prometheus  PromQL range queries per arm; keys by kind: ``requests``/``errors``,
            ``latency`` (histogram buckets by ``le``, optional ``latency_unit``),
            ``exposures``/``conversions``, ``count``/``sum``/``sum_sq``,
            ``requests``/``events``; placeholders ``{arm}``, ``{window}``, ``{flag}``,
            ``{environment}``
command     the user's script, which prints ``{"intervals": [...]}`` JSON for both arms
==========  ==============================================================================

:func:`measure_baselines` measures the pre-rollout baselines over all traffic and reports them
beside the plan's own figures.
"""

from rollout.providers.metrics._base import (
    ArmSelector,
    FetchResult,
    MetricSource,
    NoData,
    Steps,
)
from rollout.providers.metrics.baselines import Baseline, baseline_metrics, measure_baselines
from rollout.providers.metrics.builtin import BuiltinMetricSource, flag_arms
from rollout.providers.metrics.command import CommandMetricSource
from rollout.providers.metrics.prometheus import DEFAULT_QUERIES, PrometheusMetricSource
from rollout.providers.metrics.registry import (
    SourceFactory,
    SourceRegistry,
    default_registry,
    fetch_metric,
    source_of,
)

__all__ = [
    "DEFAULT_QUERIES",
    "ArmSelector",
    "Baseline",
    "BuiltinMetricSource",
    "CommandMetricSource",
    "FetchResult",
    "MetricSource",
    "NoData",
    "PrometheusMetricSource",
    "SourceFactory",
    "SourceRegistry",
    "Steps",
    "baseline_metrics",
    "default_registry",
    "fetch_metric",
    "flag_arms",
    "measure_baselines",
    "source_of",
]
