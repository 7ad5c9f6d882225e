"""Which source measures a metric: a registry by the plan's ``source: type:``, never a silent
fallback.

A metric is measured by its own ``source`` when the plan gives it one, else by
``monitoring.source`` (the built-in telemetry unless the plan says otherwise)::

    registry = default_registry(store=store, base_dir=plan_dir)
    result = fetch_metric(plan, spec, registry, ArmSelector("production", "new-checkout"),
                          start=opened_at, end=now, step=plan.monitoring.interval)

The built-in source reads the store, so :func:`default_registry` offers it only when given one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rollout.analysis import MetricSpec
from rollout.errors import MetricsError
from rollout.plan.model import BuiltinSource, CommandSource, Plan, PrometheusSource
from rollout.providers.metrics._base import ArmSelector, FetchResult, MetricSource
from rollout.providers.metrics.builtin import BuiltinMetricSource, TelemetryReader
from rollout.providers.metrics.command import CommandMetricSource
from rollout.providers.metrics.prometheus import PrometheusMetricSource

__all__ = [
    "SourceFactory",
    "SourceModel",
    "SourceRegistry",
    "default_registry",
    "fetch_metric",
    "source_of",
]

SourceModel = BuiltinSource | PrometheusSource | CommandSource
SourceFactory = Callable[[Any], MetricSource]
"""Builds a source from its plan block (a ``rollout.plan.model`` source model)."""


class SourceRegistry:
    """Maps a plan's source ``type`` to the factory that builds it.

    >>> registry = SourceRegistry()
    >>> registry.register("prometheus", PrometheusMetricSource)
    >>> registry.types()
    ('prometheus',)
    """

    def __init__(self) -> None:
        self._factories: dict[str, SourceFactory] = {}

    def register(self, type_name: str, factory: SourceFactory, *, replace: bool = False) -> None:
        """Serve ``type_name`` with ``factory``; registering a type twice is an error unless
        ``replace`` is given (two parts of a program must not silently fight over it)."""
        if type_name in self._factories and not replace:
            raise MetricsError(f"a metric source for type {type_name!r} is already registered")
        self._factories[type_name] = factory

    def types(self) -> tuple[str, ...]:
        """The registered types, sorted."""
        return tuple(sorted(self._factories))

    def create(self, spec: Any) -> MetricSource:
        """The source for ``spec`` (anything with a ``type``, normally a plan source model);
        ``MetricsError`` naming the known types when nobody serves ``spec.type``."""
        type_name = getattr(spec, "type", None)
        factory = self._factories.get(type_name) if isinstance(type_name, str) else None
        if factory is None:
            known = ", ".join(self.types()) or "none"
            raise MetricsError(
                f"no metric source for type {type_name!r} is available here (known: {known})"
            )
        return factory(spec)


def default_registry(
    *, store: TelemetryReader | None = None, base_dir: Path | None = None
) -> SourceRegistry:
    """A fresh registry with ``prometheus`` and ``command`` (run in ``base_dir``, the plan's
    directory), and ``builtin`` when ``store`` is given."""
    registry = SourceRegistry()
    registry.register("prometheus", PrometheusMetricSource)
    registry.register("command", lambda spec: CommandMetricSource(spec, base_dir))
    if store is not None:
        registry.register("builtin", lambda _spec: BuiltinMetricSource(store))
    return registry


def source_of(plan: Plan, metric: str) -> SourceModel:
    """The plan block of the source that measures ``metric``: its own, else the monitoring's."""
    defined = plan.monitoring.metrics.get(metric)
    if defined is not None and defined.source is not None:
        return defined.source
    return plan.monitoring.source


def fetch_metric(
    plan: Plan,
    spec: MetricSpec,
    registry: SourceRegistry,
    arms: ArmSelector,
    *,
    start: float,
    end: float,
    step: float,
) -> FetchResult:
    """Measure ``spec``'s metric with the source the plan gives it, over the whole steps of
    ``[start, end)``. ``MetricsError`` when the source is not available or fails."""
    source = registry.create(source_of(plan, spec.name))
    return source.fetch(
        spec.name,
        spec,
        plan.monitoring.metrics.get(spec.name),
        arms,
        start=start,
        end=end,
        step=step,
    )
