"""Plans for the engine simulations, built as data and loaded through the real plan loader."""

from __future__ import annotations

import copy
import json
from typing import Any

from rollout.plan.loader import load_plan_text
from rollout.plan.model import Plan

INSTANCES = ["web-1", "web-2", "web-3", "web-4", "web-5"]

_BASE: dict[str, Any] = {
    "name": "checkout",
    "overview": {"summary": "Move checkout to the new payment service.", "version": "2.0"},
    "checklist": [
        {"item": "All tests passing", "run": "make test", "retries": 1},
        {"item": "Rollback plan documented", "rollback": "documented"},
    ],
    "strategy": {"type": "canary", "flag": "new-checkout"},
    "environments": [
        {"name": "staging", "deploy": {"run": "./deploy.sh staging"}},
        {"name": "production", "deploy": {"run": "./deploy.sh production"}},
    ],
    "flags": [{"key": "new-checkout", "description": "new checkout"}],
    "stages": [
        {
            "name": "Internal Testing",
            "audience": 5,
            "duration": "10m",
            "success": ["error_rate < 1%"],
            "rollback_trigger": ["error_rate > 5%"],
        },
        {
            "name": "Limited Release",
            "audience": 50,
            "duration": "30m",
            "success": ["error_rate <= control * 1.1"],
            "rollback_trigger": ["latency_p99 > 1s"],
        },
        {
            "name": "General Availability",
            "audience": 100,
            "duration": "1h",
            # At 100 % there is no control arm left, so the last stage is judged on its own.
            "success": ["latency_p99 < 500ms"],
        },
    ],
    "rollback": [
        {"traffic": 0},
        {"notify": {"audience": "on-call", "message": "Rolled back {version}: {reason}"}},
    ],
    "communication": [
        {"when": ["any"], "audience": "on-call", "channel": "json://localhost/on-call"},
    ],
}

_STRATEGIES: dict[str, dict[str, Any]] = {
    "canary": {"type": "canary", "flag": "new-checkout"},
    "feature-flag": {"type": "feature-flag", "flag": "new-checkout"},
    "blue-green": {
        "type": "blue-green",
        "flag": "new-checkout",
        "blue_green": {"preview_checks": [{"name": "preview-smoke", "run": "./preview.sh"}]},
    },
    "rolling": {
        "type": "rolling",
        # The plan's cross-checks want a router for a rollback 'traffic' step even under the
        # rolling strategy (where the engine puts instances back instead), hence the flag.
        "flag": "new-checkout",
        "rolling": {
            "instances": INSTANCES,
            "batch_size": 2,
            "deploy": "./deploy-one.sh",
            "undeploy": "./undeploy-one.sh",
            "health_check": {"name": "healthz", "run": "./healthz.sh", "retries": 1},
            "pause_between": "30s",
        },
    },
}


def plan_data(strategy: str = "canary") -> dict[str, Any]:
    """A fresh, valid plan as data: change it, then :func:`load`."""
    data = copy.deepcopy(_BASE)
    data["strategy"] = copy.deepcopy(_STRATEGIES[strategy])
    return data


def load(data: dict[str, Any]) -> Plan:
    """Load plan data through the real loader (YAML is a superset of JSON)."""
    return load_plan_text(json.dumps(data), "plan.yaml")


def make_plan(strategy: str = "canary") -> Plan:
    return load(plan_data(strategy))
