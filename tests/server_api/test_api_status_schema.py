"""A rollout's status over the API is the engine's status view, field for field, and each field
is described in the OpenAPI schema."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime

from fastapi import FastAPI

from rollout.engine.controller import RolloutView
from rollout.engine.runner import CriterionView
from rollout.server._api_schemas import RolloutStatusOut
from rollout.store import EventRecord

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _segment_stage_view() -> RolloutView:
    event = EventRecord(
        7, "ro_1", "ro_1", 7, NOW, "ctl", "rollout.reason", "went on", {"n": [1, 2]}, "0" * 64,
        "1" * 64,
    )  # fmt: skip
    return RolloutView(
        id="ro_1",
        name="checkout",
        version="2.0",
        status="observing",
        reason="stage 1 (Beta) of production: half of beta-testers; baking for 10m",
        created_by="alice",
        created_at=NOW,
        updated_at=NOW,
        environment="production",
        environment_number=2,
        environment_count=2,
        stage="Beta",
        stage_number=1,
        stage_count=3,
        audience_percent=0.0,
        time_left=42.5,
        waiting_for="bake",
        criteria=(CriterionView("error_rate < 1%", "success", "pass", "fine", 0.004, "0.40%"),),
        judged_at=1_800_000_000.0,
        hold=None,
        metrics_problem="",
        controller="c1",
        last_events=(event,),
        audience_segment="beta-testers",
        segment_percent=50.0,
    )


def test_every_field_of_the_view_goes_over_the_api_and_back() -> None:
    view = _segment_stage_view()
    sent = RolloutStatusOut.of(view).model_dump_json()
    assert RolloutStatusOut.model_validate_json(sent).view() == view


def test_every_field_of_the_status_answer_is_described(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    answer = schemas["RolloutStatusOut"]
    assert answer["description"].startswith("Where a rollout is")
    shown = schemas[answer["$ref"].rsplit("/", 1)[-1]]["properties"]
    assert list(shown) == [f.name for f in fields(RolloutView)]
    undescribed = [name for name, spec in shown.items() if not spec.get("description")]
    assert undescribed == []
    assert "segment" in shown["audience_segment"]["description"]
