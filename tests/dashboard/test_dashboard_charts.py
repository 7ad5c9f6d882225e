"""Chart data: the stage window measured again as it was judged, once per judgment, and never
holding a page up for a slow metric source."""

from __future__ import annotations

import threading

import pytest

from rollout.engine.runner import load_stored
from rollout.server.dashboard import charts as charts_module
from rollout.server.dashboard.charts import SLOW, ChartCache, Charts, measure_charts
from rollout.server.dashboard.views import engine_state
from rollout.store import Store


def test_the_points_are_the_judged_windows_running_figures(store: Store, observing: str) -> None:
    stored = load_stored(store.get_rollout(observing))
    found = measure_charts(store, stored, engine_state(stored))
    assert found.problem == ""
    [chart] = found.by_criterion.values()
    assert chart.criterion == "error_rate < 2%" and chart.unit == "ratio"
    window_opened = engine_state(stored).window_started_at
    assert chart.start == window_opened
    # Two 30 s intervals judged: 5 errors in 1,000 requests each, in both arms.
    assert [p.time - chart.start for p in chart.points] == [30.0, 60.0]
    assert {(p.canary, p.control, p.threshold) for p in chart.points} == {(0.005, 0.005, 0.02)}


def test_nothing_is_measured_while_no_stage_is_judged(store: Store, awaiting: str) -> None:
    stored = load_stored(store.get_rollout(awaiting))
    assert measure_charts(store, stored, engine_state(stored)) == Charts({})


def test_a_slow_source_leaves_the_page_without_charts_and_is_measured_once(
    store: Store, observing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    calls = []
    drawn = Charts({}, "drawn")

    def slow(*_args: object) -> Charts:
        calls.append(1)
        assert release.wait(10)
        return drawn

    monkeypatch.setattr(charts_module, "measure_charts", slow)
    cache = ChartCache(wait=0.01)
    stored = load_stored(store.get_rollout(observing))
    state = engine_state(stored)
    assert cache.charts(store, stored, state) == Charts({}, SLOW)
    assert cache.charts(store, stored, state) == Charts({}, SLOW)
    release.set()
    assert cache.charts(store, stored, state, wait=10) is drawn
    assert cache.charts(store, stored, state) is drawn
    assert len(calls) == 1


def test_a_quick_measurement_is_shown_at_once_and_kept(
    store: Store, observing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn = Charts({}, "drawn")
    calls = []

    def quick(*_args: object) -> Charts:
        calls.append(1)
        return drawn

    monkeypatch.setattr(charts_module, "measure_charts", quick)
    cache = ChartCache(wait=5)
    stored = load_stored(store.get_rollout(observing))
    state = engine_state(stored)
    answers: list[Charts] = []
    # In a thread with a bound: a measurement done before its callback is added must not
    # leave the page waiting on the cache's own lock.
    asking = threading.Thread(
        target=lambda: answers.append(cache.charts(store, stored, state)), daemon=True
    )
    asking.start()
    asking.join(10)
    assert answers == [drawn]
    assert cache.charts(store, stored, state) is drawn
    assert len(calls) == 1
