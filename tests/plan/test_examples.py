"""The shipped plans: one full example per strategy, the demo's plan, and the starters that
`rollout init` prints. They load, fill the template, and survive the store's JSON snapshot."""

from __future__ import annotations

from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.plan import Plan, Stage, load_plan, load_plan_text
from rollout.plan.criteria import NoRegression

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
STRATEGIES = ("canary", "blue-green", "rolling", "feature-flag")
TEMPLATE_CHECKLIST = (
    "All tests passing",
    "Security audit clean",
    "Performance benchmarks met",
    "Database migrations tested",
    "Rollback plan documented",
    "Monitoring and alerting configured",
    "Documentation updated",
)


def _starter(strategy: str) -> str:
    files = resources.files("rollout.plan").joinpath("starters", f"{strategy}.yaml")
    return files.read_text(encoding="utf-8")


def _all_shipped() -> list[object]:
    plans = [
        pytest.param(load_plan(path), id=path.name) for path in sorted(EXAMPLES.glob("*.yaml"))
    ]
    plans += [
        pytest.param(load_plan_text(_starter(s), f"{s}.yaml"), id=f"starter-{s}")
        for s in STRATEGIES
    ]
    return plans


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_full_example_exists_for_each_strategy(strategy: str) -> None:
    plan = load_plan(EXAMPLES / f"{strategy}.yaml")
    assert plan.strategy.type == strategy


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_full_examples_fill_every_section_of_the_template(strategy: str) -> None:
    plan = load_plan(EXAMPLES / f"{strategy}.yaml")
    assert plan.overview.owner and plan.overview.service and plan.overview.version
    assert tuple(item.item for item in plan.checklist) == TEMPLATE_CHECKLIST
    assert len(plan.environments) == 3
    assert any(env.approval.required for env in plan.environments)
    assert plan.environments[-1].approval.required
    assert plan.flags
    assert plan.migrations is not None
    assert len(plan.stages) >= 3
    assert all(stage.duration > 0 for stage in plan.stages)
    monitoring = plan.monitoring
    assert monitoring.error_rate_baseline is not None
    assert monitoring.latency_baseline is not None
    assert monitoring.business_metric in monitoring.metrics
    assert monitoring.business_baseline is not None
    assert len(plan.rollback) >= 3
    assert len(plan.communication) >= 3
    assert plan.validation.smoke and plan.validation.key_flows
    assert plan.validation.no_error_spike is not None
    assert len(plan.related) >= 3


def test_the_demo_plan_is_a_fast_canary_of_new_checkout() -> None:
    plan = load_plan(EXAMPLES / "demo.yaml")
    assert plan.strategy.type == "canary"
    assert plan.strategy.flag == "new-checkout"
    assert [env.name for env in plan.environments] == ["production"]
    assert not plan.environments[0].approval.required
    assert [stage.duration for stage in plan.stages] == [20.0, 20.0, 20.0]
    assert [stage.audience.percent for stage in plan.stages] == [10.0, 50.0, 100.0]
    assert plan.monitoring.interval == 2.0
    assert plan.monitoring.source.type == "builtin"
    metrics = {c.metric for stage in plan.stages for c in (*stage.success, *stage.rollback_trigger)}
    assert metrics == {"error_rate", "latency_p99", "checkout_conversion"}
    assert any(isinstance(c, NoRegression) for c in plan.stages[1].success)
    assert [step.action for step in plan.rollback] == ["flag", "notify"]
    flag_step = plan.rollback[0].flag
    assert flag_step is not None and flag_step.key == "new-checkout" and flag_step.percent == 0


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_each_starter_loads_and_explains_its_keys(strategy: str) -> None:
    text = _starter(strategy)
    plan = load_plan_text(text, f"{strategy}.yaml")
    assert plan.strategy.type == strategy
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert len(comments) >= 40  # a commented starter, not a bare one


@pytest.mark.parametrize("plan", _all_shipped())
def test_the_json_snapshot_loads_back_equal(plan: Plan) -> None:
    snapshot = plan.model_dump(mode="json")
    assert Plan.model_validate(snapshot) == plan
    # and the snapshot of the snapshot is the same text: nothing drifts with each save
    assert Plan.model_validate(snapshot).model_dump(mode="json") == snapshot


@settings(max_examples=60, deadline=None)
@given(
    seconds=st.floats(min_value=0, max_value=10**7, allow_nan=False),
    percents=st.lists(st.floats(min_value=0, max_value=100), min_size=1, max_size=4),
    threshold=st.decimals(min_value=0, max_value=100, places=3),
)
def test_snapshots_of_any_numbers_load_back_equal(
    seconds: float, percents: list[float], threshold: Decimal
) -> None:
    plan = load_plan(EXAMPLES / "demo.yaml")
    stages = [stage.model_copy(update={"duration": seconds}) for stage in plan.stages]
    stages[0] = Stage.model_validate(
        {
            "name": "generated",
            "audience": {"percent": percents[0], "reason": "generated"},
            "duration": seconds,
            "success": [f"error_rate < {threshold}%"],
        }
    )
    changed = plan.model_copy(update={"stages": tuple(stages)})
    assert Plan.model_validate(changed.model_dump(mode="json")) == changed
