"""The example scenarios run against the example plans they are written for, each named in the
scenario's own ``rollout simulate examples/<plan>.yaml --scenario ...`` line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rollout.engine import Status
from rollout.plan.loader import load_plan
from rollout.simulate import load_scenario, simulate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SCENARIOS = sorted((EXAMPLES / "scenarios").glob("*.yaml"))
# A good release goes through; every other scenario is trouble the rollout must catch.
OUTCOME = {"good-release": Status.SUCCEEDED}


def named_plans(scenario: Path) -> list[str]:
    """The example plans a scenario's comments tell the user to run it against."""
    scenario_path = re.escape(f"examples/scenarios/{scenario.name}")
    command = rf"rollout simulate (examples/[\w-]+\.yaml) --scenario {scenario_path}\b"
    return sorted(set(re.findall(command, scenario.read_text(encoding="utf-8"))))


PAIRS = [
    pytest.param(plan, scenario, id=f"{Path(plan).stem}+{scenario.stem}")
    for scenario in SCENARIOS
    for plan in named_plans(scenario)
]


def test_there_is_a_scenario_for_each_kind_of_trouble() -> None:
    names = {path.stem for path in SCENARIOS}
    assert {"good-release", "error-regression", "latency-regression"} <= names
    assert {"conversion-drop", "traffic-shift"} <= names


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda path: path.stem)
def test_an_example_scenario_names_the_plan_it_is_written_for(path: Path) -> None:
    assert named_plans(path), f"{path.name} names no plan to run it against"
    for plan in named_plans(path):
        assert (ROOT / plan).is_file(), f"{path.name} names {plan}, which does not exist"


@pytest.mark.slow
@pytest.mark.parametrize(("plan_path", "path"), PAIRS)
def test_an_example_scenario_runs_against_its_plan_to_the_outcome_it_describes(
    plan_path: str, path: Path
) -> None:
    plan = load_plan(ROOT / plan_path)
    scenario = load_scenario(path, plan)
    assert scenario.description
    result = simulate(plan, scenario)
    assert result.finished, f"{path.name} ends before its rollout: {result.reason}"
    assert result.status is OUTCOME.get(path.stem, Status.ROLLED_BACK), result.reason
