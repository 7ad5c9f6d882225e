"""A deterministic simulation harness for the engine: a fake clock, a fake world that answers
actions, scripted metric verdicts, and the checks every tick must pass.

Every :meth:`Sim.tick` also checks, whatever the test is about:

- ``decide`` called twice with the same inputs gives the same decision (idempotency);
- no idempotency key is ever issued twice over the whole run;
- every change of status comes with a reason;
- the next state survives a JSON round trip unchanged.

Metrics are real interval data (:class:`Telemetry`), judged by the real analysis package.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rollout.analysis import ArmStats, Interval, LatencySketch, MetricSpec
from rollout.engine import (
    Action,
    ActionResult,
    Command,
    Decision,
    MetricRequest,
    MetricWindow,
    Observation,
    RecordBaseline,
    RolloutState,
    SignOff,
    Status,
    Verb,
    Vote,
    decide,
    metric_request,
)
from rollout.plan.model import Plan

START = 1_700_000_000.0
ROLLOUT = "r1"
VERSION = "2.0"

MetricsScript = Callable[[MetricRequest, float, float], MetricWindow | None]


class World:
    """Answers every action with success, except the steps scripted to fail.

    ``fail`` maps a step pattern (``fnmatch``: ``"gate/1"``, ``"rollback/*"``) to how many times
    it fails before it succeeds (or to the error texts to give, in order). Steps matching
    ``never`` are never answered (the action stays in flight).
    """

    def __init__(
        self,
        fail: Mapping[str, int | list[str]] | None = None,
        never: Iterable[str] = (),
        baselines: Mapping[str, float] | None = None,
    ) -> None:
        self._fail: dict[str, list[str]] = {}
        for pattern, spec in (fail or {}).items():
            errors = spec if isinstance(spec, list) else [f"{pattern} broke"] * spec
            self._fail[pattern] = list(errors)
        self._never = tuple(never)
        self._baselines = dict(baselines or {})
        self.executed: list[Action] = []

    def answer(self, action: Action) -> ActionResult | None:
        if any(fnmatch.fnmatchcase(action.step, p) for p in self._never):
            return None
        self.executed.append(action)
        for pattern, errors in self._fail.items():
            if fnmatch.fnmatchcase(action.step, pattern) and errors:
                return ActionResult(action.key, ok=False, message=errors.pop(0))
        values: dict[str, float] = {}
        if isinstance(action, RecordBaseline):
            values = {m: self._baselines[m] for m in action.metrics if m in self._baselines}
        return ActionResult(action.key, ok=True, message="ok", values=values)


class Telemetry:
    """The fake world's metrics, one interval per minute since the window opened.

    Healthy by default: 0.5 % errors and 120 ms latency on both arms, 2,000 requests a minute
    split by the new version's share (at least 5 %: some traffic always reaches it, on preview
    or through the stage's segment). Pairs of (window pattern, metric) can be made ``bad``
    (10 % errors, 2 s latency on the new version, from ``after`` seconds into the window),
    ``quiet`` (no data at all) or ``sparse`` (2 requests a minute per arm).
    """

    def __init__(
        self,
        bad: Iterable[tuple[str, str]] = (),
        quiet: Iterable[tuple[str, str]] = (),
        sparse: Iterable[tuple[str, str]] = (),
        after: float = 0.0,
        per_minute: int = 2000,
    ) -> None:
        self.bad, self.quiet, self.sparse = list(bad), list(quiet), list(sparse)
        self.after = after
        self.per_minute = per_minute
        self._sketches: dict[tuple[int, float], LatencySketch] = {}

    def __call__(self, request: MetricRequest, now: float, share: float) -> MetricWindow:
        series: dict[str, tuple[Interval, ...]] = {}
        for spec in request.specs:
            if self._matches(self.quiet, request.window, spec.name):
                continue
            intervals = []
            start = request.since
            while start + 60.0 <= now:
                bad = start - request.since >= self.after and self._matches(
                    self.bad, request.window, spec.name
                )
                intervals.append(self._interval(request, spec, start, share, bad))
                start += 60.0
            series[spec.name] = tuple(intervals)
        return MetricWindow(request.window, series)

    def _matches(self, pairs: list[tuple[str, str]], window: str, metric: str) -> bool:
        return any(fnmatch.fnmatchcase(window, w) and metric == m for w, m in pairs)

    def _interval(
        self, request: MetricRequest, spec: MetricSpec, start: float, share: float, bad: bool
    ) -> Interval:
        total = self.per_minute
        canary_n = round(total * max(share, 5.0) / 100.0)
        control_n = total - canary_n
        if self._matches(self.sparse, request.window, spec.name):
            canary_n, control_n = 2, 2
        return Interval(
            start,
            start + 60.0,
            self._arm(spec, canary_n, bad),
            self._arm(spec, control_n, False),
        )

    def _arm(self, spec: MetricSpec, n: int, bad: bool) -> ArmStats:
        if spec.kind == "latency":
            return ArmStats(requests=n, latency=self._sketch(n, 2000.0 if bad else 120.0))
        return ArmStats(requests=n, errors=round(n * (0.10 if bad else 0.005)))

    def _sketch(self, n: int, ms: float) -> LatencySketch:
        found = self._sketches.get((n, ms))
        if found is None:
            found = self._sketches[(n, ms)] = LatencySketch()
            if n:
                found.add(ms, n)
        return found


@dataclass
class Sim:
    plan: Plan
    world: World = field(default_factory=World)
    metrics: MetricsScript = field(default_factory=Telemetry)
    started_by: str = "alice"
    interval: float = 60.0
    now: float = START
    state: RolloutState = field(init=False)
    pending: dict[str, Action] = field(default_factory=dict)
    issued: dict[str, dict[str, Any]] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = RolloutState.new(ROLLOUT, VERSION, self.started_by, self.now)

    # ------------------------------------------------------------------ one tick

    def observe(
        self,
        *,
        commands: Iterable[Command] = (),
        votes: Iterable[Vote] = (),
        sign_offs: Iterable[SignOff] = (),
        answer: bool = True,
    ) -> Observation:
        results: list[ActionResult] = []
        if answer:
            for key, action in list(self.pending.items()):
                result = self.world.answer(action)
                if result is not None:
                    results.append(result)
                    del self.pending[key]
        request = metric_request(self.plan, self.state)
        share = self.state.traffic_percent
        window = self.metrics(request, self.now, share) if request is not None else None
        return Observation(
            results=tuple(results),
            votes=tuple(votes),
            sign_offs=tuple(sign_offs),
            commands=tuple(commands),
            metrics=window,
        )

    def tick(self, dt: float | None = None, **inputs: Any) -> Decision:
        self.now += self.interval if dt is None else dt
        observation = self.observe(**inputs)
        decision = decide(self.plan, self.state, observation, self.now)
        again = decide(self.plan, self.state, observation, self.now)
        assert again == decision, "decide gave two answers to the same question"
        for action in decision.actions:
            assert action.key not in self.issued, f"{action.key} was issued twice"
            self.issued[action.key] = action.payload()
            self.pending[action.key] = action
            self.actions.append(action)
        if decision.next_state.transitions != self.state.transitions:
            assert decision.reasons, "a transition without a reason"
        stored = json.loads(json.dumps(decision.next_state.to_json()))
        assert RolloutState.from_json(stored) == decision.next_state
        self.state = decision.next_state
        self.reasons.extend(decision.reasons)
        if not self.statuses or self.statuses[-1] is not self.state.status:
            self.statuses.append(self.state.status)
        return decision

    # ------------------------------------------------------------------ helpers

    def run(
        self,
        until: Callable[[RolloutState], bool] = lambda s: s.status.terminal,
        max_ticks: int = 600,
        dt: float | None = None,
    ) -> RolloutState:
        for _ in range(max_ticks):
            if until(self.state):
                return self.state
            self.tick(dt)
        raise AssertionError(
            f"not reached after {max_ticks} ticks; stuck in {self.state.status}: "
            f"{self.state.reason}"
        )

    def run_to(self, status: Status, max_ticks: int = 600) -> RolloutState:
        return self.run(lambda s: s.status is status, max_ticks)

    def verb(self, verb: Verb, actor: str = "bob", dt: float = 0.0) -> Decision:
        return self.tick(dt, commands=[Command(verb, actor)])

    def steps(self, kind: type[Action] | None = None) -> list[str]:
        """Steps of the actions issued (of one kind), in order, each once."""
        chosen = [a for a in self.actions if kind is None or isinstance(a, kind)]
        return list(dict.fromkeys(a.step for a in chosen))

    def of(self, kind: type[Action]) -> list[Any]:
        return [a for a in self.actions if isinstance(a, kind)]

    def said(self, fragment: str) -> bool:
        return any(fragment in reason for reason in self.reasons)
