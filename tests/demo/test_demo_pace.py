"""The fast pace shortens the demo plan's times and keeps everything else."""

from __future__ import annotations

import pytest

from rollout.demo.pace import FAST, STANDARD, Pace, default_plan_path, paced_plan
from rollout.errors import PlanError
from rollout.plan import load_plan


def test_the_standard_pace_runs_the_plan_as_written() -> None:
    text = default_plan_path().read_text(encoding="utf-8")
    paced, plan = paced_plan(text, STANDARD)
    assert paced == text
    assert plan == load_plan(default_plan_path())


def test_the_fast_pace_changes_only_times() -> None:
    written = load_plan(default_plan_path())
    _, fast = paced_plan(default_plan_path().read_text(encoding="utf-8"), FAST)
    assert FAST.stage_seconds is not None
    assert [s.duration for s in fast.stages] == list(FAST.stage_seconds)
    assert fast.monitoring.interval == FAST.interval
    assert fast.validation.window == FAST.validation_window
    for before, after in zip(written.stages, fast.stages, strict=True):
        assert before.model_copy(update={"duration": after.duration}) == after
    same = fast.model_copy(
        update={
            "stages": written.stages,
            "monitoring": written.monitoring,
            "validation": written.validation,
        }
    )
    assert same == written
    assert fast.monitoring.model_copy(update={"interval": written.monitoring.interval}) == (
        written.monitoring
    )


def test_a_pace_for_another_number_of_stages_is_refused() -> None:
    pace = Pace("odd", rate=1.0, users=1, controller_interval=1.0, stage_seconds=(5.0,))
    with pytest.raises(PlanError, match="durations for 1 stages, the plan has 3"):
        paced_plan(default_plan_path().read_text(encoding="utf-8"), pace)
