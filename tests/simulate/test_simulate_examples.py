"""The example scenarios load against the example canary plan they are written for."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollout.plan.loader import load_plan
from rollout.simulate import load_scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCENARIOS = sorted((EXAMPLES / "scenarios").glob("*.yaml"))


def test_there_is_a_scenario_for_each_kind_of_trouble() -> None:
    names = {path.stem for path in SCENARIOS}
    assert {"good-release", "error-regression", "latency-regression"} <= names
    assert {"conversion-drop", "traffic-shift"} <= names


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda path: path.stem)
def test_an_example_scenario_fits_the_canary_plan(path: Path) -> None:
    scenario = load_scenario(path, load_plan(EXAMPLES / "canary.yaml"))
    assert scenario.description
    assert f"--scenario examples/scenarios/{path.name}" in path.read_text(encoding="utf-8")
