"""The runner keeps, beside each verdict, the series it rested on: for the open window, and for
the stage that ended last; rollouts stored without them still read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from shell_plans import FakeClock, approver, canary, drive, write_plan

from rollout.analysis import SeriesPoint
from rollout.engine.controller import Controller, start_rollout
from rollout.engine.runner import RUNNER_KEY, load_stored
from rollout.store import Store


def test_the_open_windows_verdicts_are_stored_with_their_series(
    work: Path, store: Store, clock: FakeClock, make_controller: Callable[..., Controller]
) -> None:
    record = start_rollout(store, write_plan(work, canary()), None, "alice")
    controller = make_controller()
    each = approver(store, record.id)
    while store.get_rollout(record.id).status.value != "observing":
        controller.run_once()
        each(store.get_rollout(record.id).status.value)
        clock.advance(60)
    for _ in range(2):
        clock.advance(60)
        controller.run_once()

    stored = load_stored(store.get_rollout(record.id))
    assert stored.engine is not None
    opened = stored.engine.window_started_at
    assert opened is not None
    views = {view.text: view for view in stored.shell.criteria}
    assert list(views) == ["error_rate < 2%", "error_rate > 5%"]  # its criterion, the trigger
    limits = {"error_rate < 2%": 0.02, "error_rate > 5%": 0.05}
    assert [kept.criterion for kept in stored.shell.series] == list(views)
    for kept in stored.shell.series:
        assert (kept.unit, kept.start) == ("ratio", opened)
        # One point per judged minute: 5 errors in 1,000 requests in both arms.
        points = kept.points()
        assert len(points) >= 2
        assert [p.time - opened for p in points] == [60.0 * n for n in range(1, len(points) + 1)]
        expected = (0.005, 0.005, limits[kept.criterion])
        assert {(p.canary, p.control, p.threshold) for p in points} == {expected}
        assert points[-1].canary == views[kept.criterion].value  # the figure the verdict states


def test_the_stage_that_ended_last_keeps_the_evidence_that_ended_it(
    work: Path, store: Store, clock: FakeClock, make_controller: Callable[..., Controller]
) -> None:
    record = start_rollout(store, write_plan(work, canary()), None, "alice")
    final = drive(make_controller(), clock, store, record.id, each=approver(store, record.id))
    assert final == "succeeded"

    shell = load_stored(store.get_rollout(record.id)).shell
    assert shell.criteria == () and shell.series == ()  # no window is open any more
    first, last = shell.stages["production/1"], shell.stages["production/2"]
    assert first.status == last.status == "passed"
    assert first.criteria == () and first.series == ()  # only the newest note keeps evidence
    view, _trigger = last.criteria
    kept, _ = last.series
    assert view.text == kept.criterion == "error_rate < 2%" and view.verdict == "pass"
    points = kept.points()
    # The bake of five minutes, judged to its end, at one point a minute.
    assert len(points) == 5 and points[-1].time == kept.start + 300.0
    assert points[-1] == SeriesPoint(points[-1].time, 0.005, 0.005, 0.02)


def test_a_rollout_stored_without_series_still_reads(
    work: Path, store: Store, clock: FakeClock, make_controller: Callable[..., Controller]
) -> None:
    record = start_rollout(store, write_plan(work, canary()), None, "alice")
    drive(make_controller(), clock, store, record.id, each=approver(store, record.id))
    stored = store.get_rollout(record.id)
    runner = dict(stored.state_json[RUNNER_KEY])
    del runner["series"]
    runner["stages"] = {
        key: {k: v for k, v in note.items() if k not in ("criteria", "series")}
        for key, note in runner["stages"].items()
    }
    older = replace(stored, state_json={**stored.state_json, RUNNER_KEY: runner})

    shell = load_stored(older).shell
    assert shell.series == ()
    assert shell.stages["production/2"].status == "passed"
    assert shell.stages["production/2"].series == ()
