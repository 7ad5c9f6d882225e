"""The points behind each criterion's chart: the stage window measured again, as it was judged.

The controller stores each criterion's verdict and current value, not its history, so the
rollout page asks the plan's metric sources for the window once more, over exactly the span the
controller last judged (``[window start, judged_at)``), and lets :func:`rollout.analysis.judge`
turn the intervals into :class:`~rollout.analysis.SeriesPoint` values: the same running canary
and control figures and the same limit line the verdict rests on.

Measuring costs a query per metric (or a run of the user's metric command), so results are kept
per rollout and judgment (:class:`ChartCache`): however many pages watch a rollout, its window is
measured once per controller judgment, not once per page view.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from rollout.analysis import MetricSeries, SeriesPoint, judge
from rollout.engine import metric_request, spec_for, triggers
from rollout.engine.runner import StoredRollout
from rollout.engine.state import RolloutState, Status
from rollout.errors import RolloutError
from rollout.plan.criteria import Criterion
from rollout.providers.metrics import ArmSelector, default_registry, fetch_metric
from rollout.store import Store

log = logging.getLogger(__name__)

CACHE_SIZE = 64
"""Judgments whose charts are kept (one per rollout being watched is what is needed)."""
DEFAULT_WAIT = 3.0
"""Seconds a page waits for its charts to be measured before it is shown without them."""
SLOW = "the metric sources are slow to answer; the charts follow with the next judgment"


@dataclass(frozen=True)
class ChartData:
    """One criterion's chart: ``points`` oldest first, in ``unit`` (``ratio``, ``ms`` or
    ``number``), over the window that opened at ``start`` (epoch seconds)."""

    criterion: str
    unit: str
    start: float
    points: tuple[SeriesPoint, ...]


@dataclass(frozen=True)
class Charts:
    """The charts of one judgment by criterion text, and why some could not be drawn ('' when
    all could): a metric source that failed, or no window being judged."""

    by_criterion: dict[str, ChartData]
    problem: str = ""


NO_CHARTS = Charts({})


def _stage_criteria(stored: StoredRollout, state: RolloutState) -> list[tuple[Criterion, str]]:
    plan = stored.plan
    stage = plan.stages[state.stage_index]
    found = [(c, "success") for c in stage.success]
    found += [(c, "rollback") for c in triggers(plan, state.stage_index)]
    return found


def measure_charts(store: Store, stored: StoredRollout, state: RolloutState) -> Charts:
    """The charts of the stage window the controller last judged (none outside a stage's bake).

    Runs the plan's metric sources: call it off the event loop. A source that fails leaves its
    criteria without a chart and says so in ``problem``; it never raises for that."""
    judged_at = stored.shell.judged_at
    status = state.paused_from if state.status is Status.PAUSED else state.status
    request = metric_request(stored.plan, state)
    if judged_at is None or request is None or status is not Status.OBSERVING:
        return NO_CHARTS
    plan = stored.plan
    registry = default_registry(store=store, base_dir=stored.base_dir)
    arms = ArmSelector(request.environment, request.flag)
    intervals: dict[str, MetricSeries] = {}
    problems = []
    for spec in request.specs:
        try:
            result = fetch_metric(
                plan,
                spec,
                registry,
                arms,
                start=request.since,
                end=judged_at,
                step=plan.monitoring.interval,
            )
        except RolloutError as exc:
            problems.append(f"{spec.name}: {exc}")
            continue
        if isinstance(result, MetricSeries):
            intervals[spec.name] = result
    charts = {}
    for criterion, role in _stage_criteria(stored, state):
        known = spec_for(plan, criterion.metric)
        series = intervals.get(criterion.metric)
        if known is None or series is None or not series.intervals:
            continue
        judged = judge(
            criterion,
            known,
            tuple(series.intervals),
            role="rollback" if role == "rollback" else "success",
            final=False,  # the verdict is the controller's; only the points are used here
        )
        text = str(criterion)
        charts[text] = ChartData(text, known.unit, request.since, judged.series)
    return Charts(charts, "; ".join(problems))


def _measure(store: Store, stored: StoredRollout, state: RolloutState) -> Charts:
    try:
        return measure_charts(store, stored, state)
    except Exception as exc:
        # Sources failing are reported by measure_charts; this is a bug, and the page is
        # still worth showing without its charts.
        log.exception("the charts of %s could not be drawn", stored.record.id)
        return Charts({}, f"the charts could not be drawn: {exc}")


Key = tuple[str, float]


class ChartCache:
    """Charts per ``(rollout id, judged_at)``, the newest :data:`CACHE_SIZE` kept; thread-safe
    (pages render in worker threads).

    Measuring runs in a small pool of its own and a page waits for it at most ``wait``
    seconds: a metric source that is slow to answer (up to its own timeout) leaves the page
    without charts for that judgment rather than holding the page up. Each judgment is measured
    once, however many pages ask for it at the same time.
    """

    def __init__(self, size: int = CACHE_SIZE, wait: float = DEFAULT_WAIT) -> None:
        self._size = size
        self._wait = wait
        self._kept: OrderedDict[Key, Charts] = OrderedDict()
        self._measuring: dict[Key, Future[Charts]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="rollout-charts")

    def charts(
        self, store: Store, stored: StoredRollout, state: RolloutState, wait: float | None = None
    ) -> Charts:
        """The charts of the rollout's last judgment, measured at most once per judgment;
        ``wait`` overrides how long to wait for a measurement under way."""
        judged_at = stored.shell.judged_at
        if judged_at is None:
            return NO_CHARTS
        key = (stored.record.id, judged_at)
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
                return found
            future = self._measuring.get(key)
            started = future is None
            if future is None:
                future = self._pool.submit(_measure, store, stored, state)
                self._measuring[key] = future
        if started:
            # Outside the lock: a measurement already done runs the callback right here.
            future.add_done_callback(lambda done: self._keep(key, done))
        try:
            return future.result(timeout=self._wait if wait is None else wait)
        except TimeoutError:
            return Charts({}, SLOW)

    def _keep(self, key: Key, done: Future[Charts]) -> None:
        charts = done.result()
        with self._lock:
            self._measuring.pop(key, None)
            self._kept[key] = charts
            for older in [k for k in self._kept if k[0] == key[0] and k[1] < key[1]]:
                del self._kept[older]
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
