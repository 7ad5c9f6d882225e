"""Plans for the metric source tests, built as data and loaded through the real plan loader."""

from __future__ import annotations

import copy
import json
from typing import Any

from rollout.plan.loader import load_plan_text
from rollout.plan.model import Plan

_BASE: dict[str, Any] = {
    "name": "checkout",
    "overview": {"summary": "Move checkout to the new payment service.", "version": "2.0"},
    "checklist": [{"item": "Rollback plan documented", "rollback": "documented"}],
    "strategy": {"type": "canary", "flag": "new-checkout"},
    "environments": [{"name": "staging"}, {"name": "production"}],
    "flags": [{"key": "new-checkout"}],
    "stages": [
        {"name": "Canary", "audience": 5, "duration": "10m", "success": ["error_rate < 1%"]},
        {"name": "Everyone", "audience": 100, "duration": "10m"},
    ],
    "monitoring": {"baseline_window": "1h"},
    "rollback": [{"flag": {"key": "new-checkout", "percent": 0}}],
}


def plan(**changes: Any) -> Plan:
    """The base plan with top-level keys replaced, and ``monitoring`` keys merged in."""
    data = copy.deepcopy(_BASE)
    data["monitoring"].update(changes.pop("monitoring", {}))
    data.update(changes)
    return load_plan_text(json.dumps(data), "plan.yaml")
