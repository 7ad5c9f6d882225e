"""Which source measures a metric: the registry by ``type:``, and a metric's own source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from metrics_plans import plan

from rollout.analysis import MetricSeries, infer_metric_spec, metric_spec
from rollout.errors import MetricsError
from rollout.plan.model import BuiltinSource, CommandSource, PrometheusSource
from rollout.providers.metrics import (
    ArmSelector,
    BuiltinMetricSource,
    CommandMetricSource,
    PrometheusMetricSource,
    SourceRegistry,
    default_registry,
    fetch_metric,
    source_of,
)
from rollout.store import Store

T0 = 1_767_225_600.0


def test_the_default_registry_offers_builtin_only_with_a_store(store: Store) -> None:
    assert default_registry().types() == ("command", "prometheus")
    registry = default_registry(store=store)
    assert registry.types() == ("builtin", "command", "prometheus")
    assert isinstance(registry.create(BuiltinSource()), BuiltinMetricSource)
    assert isinstance(
        registry.create(PrometheusSource(type="prometheus", url="http://p:9090")),
        PrometheusMetricSource,
    )
    assert isinstance(registry.create(CommandSource(type="command", run="x")), CommandMetricSource)


def test_an_unknown_type_is_a_clear_error() -> None:
    with pytest.raises(
        MetricsError,
        match=r"no metric source for type 'builtin' is available here "
        r"\(known: command, prometheus\)",
    ):
        default_registry().create(BuiltinSource())


def test_a_type_is_registered_once_unless_replaced(tmp_path: Path) -> None:
    registry = SourceRegistry()
    registry.register("command", CommandMetricSource)

    with pytest.raises(MetricsError, match="already registered"):
        registry.register("command", CommandMetricSource)
    registry.register("command", lambda spec: CommandMetricSource(spec, tmp_path), replace=True)
    made = registry.create(CommandSource(type="command", run="x"))
    assert isinstance(made, CommandMetricSource) and made.base_dir == tmp_path


def test_a_metric_uses_its_own_source_else_the_monitoring_one() -> None:
    command = {"type": "command", "run": "./measure.sh"}
    p = plan(
        monitoring={
            "source": {"type": "prometheus", "url": "http://prom:9090"},
            "metrics": {"checkout": {"kind": "conversion", "source": command}},
        }
    )

    assert source_of(p, "checkout") == CommandSource(type="command", run="./measure.sh")
    assert source_of(p, "error_rate") == PrometheusSource(type="prometheus", url="http://prom:9090")
    assert source_of(plan(), "error_rate") == BuiltinSource()


def test_fetch_metric_hands_the_definition_to_the_metrics_source(tmp_path: Path) -> None:
    (tmp_path / "measure.sh").write_text(
        "#!/bin/sh\n"
        'echo "$ROLLOUT_QUERIES" > queries.json\n'
        'echo \'{"intervals": [{"start": \'$ROLLOUT_START\', "end": \'$ROLLOUT_END\', '
        '"canary": {"requests": 50, "conversions": 2}}]}\'\n'
    )
    (tmp_path / "measure.sh").chmod(0o755)
    p = plan(
        monitoring={
            "metrics": {
                "checkout": {
                    "kind": "conversion",
                    "source": {"type": "command", "run": "./measure.sh"},
                    "queries": {"table": "orders"},
                }
            }
        }
    )

    result = fetch_metric(
        p,
        metric_spec("checkout", "conversion"),
        default_registry(base_dir=tmp_path),
        ArmSelector("production", "new-checkout"),
        start=T0,
        end=T0 + 60,
        step=60,
    )

    assert isinstance(result, MetricSeries)
    assert result.intervals[0].canary.conversions == 2
    assert json.loads((tmp_path / "queries.json").read_text()) == {"table": "orders"}


def test_fetch_metric_needs_the_plans_source_type_registered() -> None:
    spec = infer_metric_spec("error_rate")
    assert spec is not None

    with pytest.raises(MetricsError, match="no metric source for type 'builtin'"):
        fetch_metric(
            plan(), spec, default_registry(), ArmSelector("production"), start=0, end=60, step=60
        )
