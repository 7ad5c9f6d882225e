"""A criterion's chart draws the series its stored verdict rested on: the evidence the controller
judged, not the metric sources asked again when a page is shown."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from dashboard_world import FakeClock, drive_until, write_world

from rollout.engine.controller import Controller, send_verb, start_rollout
from rollout.engine.runner import RUNNER_KEY, load_stored
from rollout.server.dashboard.svg import render_chart
from rollout.server.dashboard.views import criterion_cards, ended_stage
from rollout.store import Store

pytestmark = pytest.mark.anyio


def charts(html: str) -> list[str]:
    return re.findall(r"<svg class=\"chart\".*?</svg>", html, re.S)


@dataclass(frozen=True)
class Judged:
    """A rollout one minute (two intervals judged) into its first stage, the controller
    driving it, and the work folder of its plan and metric script."""

    rollout_id: str
    store: Store
    clock: FakeClock
    controller: Controller
    work: Path


@pytest.fixture
def judged(store: Store, clock: FakeClock, controller: Controller, tmp_path: Path) -> Judged:
    rollout = start_rollout(store, write_world(tmp_path), None, "alice")
    drive_until(controller, clock, store, rollout.id, lambda s: s == "awaiting_approval")
    send_verb(store, rollout.id, "approve", "bob")
    drive_until(controller, clock, store, rollout.id, lambda s: s == "observing")
    for _ in range(2):
        clock.advance(30)
        controller.run_once()
    return Judged(rollout.id, store, clock, controller, tmp_path)


async def test_a_chart_is_the_judged_series_whatever_the_source_answers_now(
    client: httpx.AsyncClient, judged: Judged
) -> None:
    shell = load_stored(judged.store.get_rollout(judged.rollout_id)).shell
    [verdict] = shell.criteria
    [kept] = shell.series
    drawn_then = render_chart(
        kept.points(), unit="ratio", title=verdict.text, start=kept.start, ident="chart-1"
    )

    # From now on the metric script answers 10 % canary errors for every interval it is asked
    # about, the ones already judged included.
    (judged.work / "bad").touch()
    judged.clock.advance(10)
    page = await client.get(f"/rollouts/{judged.rollout_id}")
    assert charts(page.text) == [str(drawn_then)]
    assert "Latest: canary 0.5%, control 0.5%, limit 2%." in drawn_then
    assert verdict.shown == "0.50%"

    # The controller's next judgement takes the new answer, and so does the chart.
    judged.clock.advance(20)
    judged.controller.run_once()
    page = await client.get(f"/rollouts/{judged.rollout_id}")
    [drawn] = charts(page.text)
    assert "Latest: canary 10%, control 0.5%, limit 2%." in drawn


async def test_the_stage_that_ended_keeps_its_chart_after_a_rollback(
    client: httpx.AsyncClient, judged: Judged
) -> None:
    (judged.work / "bad").touch()
    store, rollout_id = judged.store, judged.rollout_id
    drive_until(judged.controller, judged.clock, store, rollout_id, lambda s: s == "rolled_back")

    note = load_stored(store.get_rollout(rollout_id)).shell.stages["production/1"]
    assert note.status == "rolled back"
    [verdict] = note.criteria
    [kept] = note.series
    assert verdict.verdict == "fail" and kept.canary[-1] == verdict.value == 0.1
    page = await client.get(f"/rollouts/{rollout_id}")
    words = " ".join(re.sub(r"<[^>]+>", " ", page.text).split())
    assert "How production stage 1 (Canary) ended rolled back" in words
    assert verdict.reason in words
    evidence = render_chart(
        kept.points(), unit="ratio", title=verdict.text, start=kept.start, ident="ended-chart-1"
    )
    assert charts(page.text) == [str(evidence)]  # no window is open: only the evidence


def test_a_rollout_stored_without_series_shows_its_criteria_without_charts(
    store: Store, observing: str
) -> None:
    record = store.get_rollout(observing)
    runner = {k: v for k, v in record.state_json[RUNNER_KEY].items() if k != "series"}
    older = load_stored(replace(record, state_json={**record.state_json, RUNNER_KEY: runner}))

    [card] = criterion_cards(older.shell.criteria, older.shell.series)
    assert card.text == "error_rate < 2%" and card.reason and card.chart is None
    assert ended_stage(older) is None
