"""A small plan and scenarios for the dry-run tests, built as data and loaded through the real
loaders (YAML is a superset of JSON)."""

from __future__ import annotations

import copy
import json
from typing import Any

from rollout.plan.loader import load_plan_text
from rollout.plan.model import Plan
from rollout.simulate import Scenario, load_scenario_text

MINUTE = 60.0

_PLAN: dict[str, Any] = {
    "name": "checkout",
    "overview": {"summary": "New checkout.", "version": "2.0"},
    "checklist": [
        {"item": "Tests pass", "run": "make test", "retries": 1},
        {"item": "Docs updated", "manual": {"role": "writer", "people": ["priya"]}},
    ],
    "strategy": {
        "type": "canary",
        "flag": "new-checkout",
        # Judged every tick, so a regression is caught as soon as the evidence is there.
        "rollback_trigger": ["error_rate: no regression", "latency_p99 > 2s"],
    },
    "environments": [
        {
            "name": "production",
            "approval": {"required": True, "approvers": ["alice", "bob"]},
            "deploy": {"run": "./deploy.sh"},
        }
    ],
    "flags": [{"key": "new-checkout"}],
    "stages": [
        {
            "name": "Canary",
            "audience": 10,
            "duration": "20m",
            "success": ["error_rate < 2%", "latency_p99 <= control * 1.2"],
        },
        {
            "name": "Half",
            "audience": 50,
            "duration": "20m",
            "success": ["latency_p99 <= control * 1.2"],
        },
        {
            "name": "Everyone",
            "audience": 100,
            "duration": "10m",
            "success": ["error_rate < 2%", "latency_p99 < 1s"],
        },
    ],
    "monitoring": {"interval": "1m"},
    "rollback": [{"traffic": 0}],
}

_SCENARIO: dict[str, Any] = {
    "seed": 4,
    "horizon": "6h",
    "traffic": {"requests_per_second": 20, "users": 20_000},
    "control": {"error_rate": "0.5%", "latency": {"median": "100ms", "p99": "300ms"}},
    "world": {"approvals": "5m", "sign_offs": "2m"},
}


def plan_data() -> dict[str, Any]:
    """A fresh copy of the test plan as data: change it, then :func:`plan`."""
    return copy.deepcopy(_PLAN)


def plan(data: dict[str, Any] | None = None) -> Plan:
    return load_plan_text(json.dumps(data or _PLAN), "plan.yaml")


def scenario_data(**changes: Any) -> dict[str, Any]:
    """The healthy scenario as data, with top-level keys replaced by ``changes``."""
    return copy.deepcopy(_SCENARIO) | changes


def scenario(for_plan: Plan | None = None, **changes: Any) -> Scenario:
    data = scenario_data(**changes)
    return load_scenario_text(json.dumps(data), "scenario.yaml", for_plan or plan())
