"""The plan's JSON Schema: what editors check a plan against while it is being written."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from rollout.plan import plan_json_schema
from rollout.plan.source import read_yaml

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [
    *sorted((ROOT / "examples").glob("*.yaml")),
    *sorted((ROOT / "src/rollout/plan/starters").glob("*.yaml")),
]

VALID: dict[str, Any] = {
    "name": "shop",
    "overview": {"summary": "New checkout"},
    "checklist": [{"item": "All tests passing", "run": "make test"}],
    "strategy": {"type": "canary", "flag": "new-checkout"},
    "environments": [{"name": "production", "approval": True}],
    "flags": [{"key": "new-checkout"}],
    "stages": [
        {
            "name": "everyone",
            "audience": "100%",
            "duration": "10m",
            "success": ["error_rate < 1%", {"latency_p99": "no regression"}],
        }
    ],
    "rollback": [{"flag": {"key": "new-checkout", "percent": 0}}],
    "communication": [{"when": "rolled_back", "audience": "on-call", "channel": "x://y"}],
}


@pytest.fixture(scope="module")
def validator() -> Any:
    return jsonschema_rs.Draft202012Validator(plan_json_schema())


def test_the_schema_names_its_dialect_and_title() -> None:
    schema = plan_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "Rollout plan"
    assert schema["additionalProperties"] is False
    json.dumps(schema)  # what `rollout schema` writes


def test_the_schema_is_itself_valid_json_schema() -> None:
    assert jsonschema_rs.meta.is_valid(plan_json_schema())


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_shipped_plan_satisfies_the_schema(validator: Any, path: Path) -> None:
    data = read_yaml(path.read_text(encoding="utf-8")).data
    assert [error.message for error in validator.iter_errors(data)] == []


def test_the_shorthands_the_model_accepts_satisfy_the_schema(validator: Any) -> None:
    assert validator.is_valid(VALID)


def _broken(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    change(data)
    return data


@pytest.mark.parametrize(
    "change",
    [
        lambda data: data["stages"][0].update(durration="10m"),
        lambda data: data["strategy"].update(type="canery"),
        lambda data: data["stages"][0].pop("duration"),
        lambda data: data["environments"][0].update(traffic={"type": "ngnix"}),
        lambda data: data["flags"][0].update(rollout=150),
        lambda data: data.pop("rollback"),
        lambda data: data["stages"][0].update(audience=[5]),
    ],
    ids=["unknown key", "bad strategy", "missing duration", "bad router", "percent", "no rollback",
         "audience list"],
)  # fmt: skip
def test_the_schema_rejects_wrong_shapes(validator: Any, change: Any) -> None:
    assert not validator.is_valid(_broken(change))
