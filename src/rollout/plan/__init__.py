"""The rollout plan: typed model of every template section, YAML loading, schema, rendering.

- :func:`load_plan` / :func:`load_plan_text`: YAML -> :class:`Plan`, or a
  :class:`rollout.errors.PlanError` listing every problem with its line and column;
- :func:`cross_check`: the checks between sections (also run by the loader);
- :func:`plan_json_schema`: the JSON Schema for editors;
- :func:`mask_url`: a URL with its credentials hidden, for anything that prints one;
- the model classes, one per template section.
"""

from rollout.plan._markdown import mask_url
from rollout.plan.crossref import cross_check
from rollout.plan.loader import load_plan, load_plan_text
from rollout.plan.model import (
    MOMENTS,
    Announcement,
    Approval,
    Audience,
    Check,
    ChecklistItem,
    Environment,
    FlagSpec,
    Metric,
    Migrations,
    Monitoring,
    Overview,
    Plan,
    RollbackStep,
    Stage,
    Strategy,
    Validation,
)
from rollout.plan.schema import plan_json_schema

__all__ = [
    "MOMENTS",
    "Announcement",
    "Approval",
    "Audience",
    "Check",
    "ChecklistItem",
    "Environment",
    "FlagSpec",
    "Metric",
    "Migrations",
    "Monitoring",
    "Overview",
    "Plan",
    "RollbackStep",
    "Stage",
    "Strategy",
    "Validation",
    "cross_check",
    "load_plan",
    "load_plan_text",
    "mask_url",
    "plan_json_schema",
]
