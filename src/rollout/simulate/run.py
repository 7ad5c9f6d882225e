"""One dry run: the real :func:`rollout.engine.decide` on a fake clock, against the scenario.

The loop, one tick per monitoring interval of the plan (the clock jumps; nothing waits)::

    decide(plan, state, observation, now) -> actions for the world, the next state
    now += interval
    traffic flows for the interval just ended, at each environment's audience
    observation = the world's answers due by now + the metric window the engine asks for

It ends when the rollout does (succeeded, rolled back, ...) or at the scenario's horizon. Every
tick whose decision gives reasons is recorded verbatim (:class:`Event`), and so is every phase:
each stage of a staged environment and each validation, when it started, how it ended and why
(:class:`Phase`). Everything is seeded: the same plan, scenario and seed give the same run.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from rollout.analysis import Interval
from rollout.engine import (
    Command,
    Decision,
    MetricRequest,
    MetricWindow,
    Observation,
    RolloutState,
    Status,
    Verb,
    decide,
    metric_request,
    seconds,
    stage_label,
)
from rollout.engine.state import Hold
from rollout.plan.model import Plan
from rollout.simulate.behaviour import Versions
from rollout.simulate.scenario import Scenario
from rollout.simulate.traffic import Exposure, Population, draw_interval
from rollout.simulate.world import FakeWorld

__all__ = ["Event", "Phase", "PhaseEnd", "SimulationResult", "simulate"]

START = 1_700_000_000.0
"""The fake clock's start (seconds since the epoch); results count from it."""
ROLLOUT_ID = "simulation"
STARTED_BY = "simulation"
OPERATOR = "operator"


class PhaseEnd(StrEnum):
    """How a phase (a stage, or a validation) ended."""

    PASSED = "passed"
    ROLLED_BACK = "rolled back"
    STOPPED = "stopped"
    UNFINISHED = "unfinished"


@dataclass(frozen=True)
class Event:
    """One tick's decision: ``at`` seconds after the start, the status it left, the reasons."""

    at: float
    status: Status
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Phase:
    """A stage or a validation of one environment: ``name`` is ``stage 2 (Canary)`` or
    ``validation``; times are seconds after the start; ``reason`` is the engine's reason for
    how it ended (empty while unfinished)."""

    environment: str
    name: str
    started_at: float
    ended_at: float | None
    end: PhaseEnd
    reason: str = ""


@dataclass(frozen=True)
class SimulationResult:
    """What one dry run showed.

    ``status``/``reason``: where the rollout ended (or stood at the horizon; ``finished`` says
    which). ``duration``: seconds from the start to the end (or to the horizon).
    ``rollback_at``: seconds after the start when rolling back began, None without a rollback.
    ``bad_from``: when the new version first served a request while a regression was active.
    ``exposure``: per environment, who met the new version (and the bad one).
    """

    seed: int
    status: Status
    reason: str
    finished: bool
    duration: float
    rollback_at: float | None
    bad_from: float | None
    phases: tuple[Phase, ...]
    events: tuple[Event, ...]
    exposure: tuple[Exposure, ...]

    @property
    def rolled_back(self) -> bool:
        return self.rollback_at is not None

    @property
    def rolled_back_in(self) -> Phase | None:
        """The stage or validation the rollback ended, None when the rollback came from
        elsewhere (an abort while deploying) or there was none."""
        return next((p for p in self.phases if p.end is PhaseEnd.ROLLED_BACK), None)

    @property
    def users_bad(self) -> int:
        """Distinct users who met the new version while a regression was active."""
        return sum(e.users_bad for e in self.exposure)

    @property
    def errors_bad(self) -> int:
        """Error events those users saw on the new version while a regression was active."""
        return sum(e.errors_bad for e in self.exposure)

    @property
    def detection_delay(self) -> float | None:
        """Seconds from the first bad request to the start of the rollback."""
        if self.rollback_at is None or self.bad_from is None:
            return None
        return max(0.0, self.rollback_at - self.bad_from)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary: times in seconds after the start."""
        return {
            "seed": self.seed,
            "status": self.status.value,
            "reason": self.reason,
            "finished": self.finished,
            "duration": self.duration,
            "rollback_at": self.rollback_at,
            "bad_from": self.bad_from,
            "detection_delay": self.detection_delay,
            "rolled_back_in": _where(self.rolled_back_in),
            "users_exposed_to_bad_version": self.users_bad,
            "error_events_seen": self.errors_bad,
            "phases": [
                {
                    "environment": p.environment,
                    "name": p.name,
                    "started_at": p.started_at,
                    "ended_at": p.ended_at,
                    "end": p.end.value,
                    "reason": p.reason,
                }
                for p in self.phases
            ],
            "exposure": [
                {
                    "environment": e.environment,
                    "users": e.users,
                    "users_bad": e.users_bad,
                    "requests_bad": e.requests_bad,
                    "errors_bad": e.errors_bad,
                }
                for e in self.exposure
            ],
            "events": [
                {"at": e.at, "status": e.status.value, "reasons": list(e.reasons)}
                for e in self.events
            ],
        }


def _where(phase: Phase | None) -> str | None:
    return f"{phase.environment} · {phase.name}" if phase is not None else None


def simulate(plan: Plan, scenario: Scenario, seed: int | None = None) -> SimulationResult:
    """Run ``plan`` against ``scenario`` (with ``seed``, default the scenario's) to its end
    or to the scenario's horizon. Pure apart from its own random generator: no I/O."""
    return _Run(plan, scenario, scenario.seed if seed is None else seed).run()


@dataclass
class _Run:
    plan: Plan
    scenario: Scenario
    seed: int
    rng: np.random.Generator = field(init=False)
    versions: Versions = field(init=False)
    world: FakeWorld = field(init=False)
    history: dict[str, list[dict[str, Interval]]] = field(default_factory=dict)
    starts: dict[str, list[float]] = field(default_factory=dict)
    populations: dict[str, Population] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    rollback_at: float | None = None
    bad_from: float | None = None
    aborted: bool = False

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.versions = Versions.of(self.scenario, self.plan)
        self.world = FakeWorld(self.plan, self.scenario, self.versions.control, STARTED_BY)
        for env in self.plan.environments:
            size = self.scenario.traffic.population(env.name)
            self.populations[env.name] = Population(env.name, size)
            self.history[env.name] = []
            self.starts[env.name] = []

    def run(self) -> SimulationResult:
        plan = self.plan
        interval = plan.monitoring.interval
        horizon = START + self.scenario.horizon
        now = START
        state = RolloutState.new(ROLLOUT_ID, plan.overview.version or "the new version",
                                 STARTED_BY, now)  # fmt: skip
        observation = Observation()
        while True:
            decision = decide(plan, state, observation, now)
            self._record(now, state, decision)
            self.world.send(decision.actions, now)
            state = decision.next_state
            if state.status.terminal or now >= horizon:
                break
            end = min(now + interval, horizon)
            self._flow(state, now, end)
            now = end
            delivered = self.world.deliver(now)
            request = metric_request(plan, state)
            observation = Observation(
                results=delivered.results,
                votes=delivered.votes,
                sign_offs=delivered.sign_offs,
                commands=self._operator(state, now),
                metrics=self._window(request) if request is not None else None,
            )
        self._close_phase(now, PhaseEnd.UNFINISHED, "")
        return SimulationResult(
            seed=self.seed,
            status=state.status,
            reason=state.reason,
            finished=state.status.terminal,
            duration=now - START,
            rollback_at=self.rollback_at,
            bad_from=self.bad_from,
            phases=tuple(self.phases),
            events=tuple(self.events),
            exposure=tuple(p.exposure() for p in self.populations.values()),
        )

    # ------------------------------------------------------------------ traffic

    def _flow(self, state: RolloutState, start: float, end: float) -> None:
        """Traffic of ``[start, end)`` in every environment the new version has reached;
        measured in detail only where the rollout is."""
        elapsed = start - START
        current = self.plan.environments[state.env_index].name
        for env in self.plan.environments:
            here = env.name == current
            preview = self._preview_segment(state) if here else None
            audience = self.world.audience(env.name, self._flag(state, here), preview)
            population = self.populations[env.name]
            share = population.share(audience)
            if not here and share == 0.0:
                continue
            active = self.versions.active(elapsed, env.name)
            # Only the open window's metrics are ever asked for; no window, no measuring.
            request = metric_request(self.plan, state) if here else None
            drawn = draw_interval(
                self.rng,
                start,
                end,
                rate=self.scenario.traffic.rate(elapsed, env.name),
                share=share,
                control=self.versions.control,
                canary=self.versions.canary(active),
                specs=request.specs if request is not None else (),
            )
            bad = bool(active) and drawn.canary_requests > 0
            if bad and self.bad_from is None:
                self.bad_from = elapsed
            population.meet(self.rng, audience, drawn.canary_requests, drawn.canary_errors, bad)
            if request is not None:
                self.history[env.name].append(drawn.intervals)
                self.starts[env.name].append(start)

    def _flag(self, state: RolloutState, here: bool) -> str | None:
        """The flag whose audience meets the new version: the current stage's where the
        rollout is, the strategy's elsewhere."""
        status = state.paused_from if state.status is Status.PAUSED else state.status
        staged = self.plan.is_staged(self.plan.environments[state.env_index])
        if here and staged and status in (Status.RAMPING, Status.OBSERVING):
            return self.plan.stage_flag(self.plan.stages[state.stage_index])
        return self.plan.strategy.flag

    def _preview_segment(self, state: RolloutState) -> str | None:
        """Blue-green before the switch: a stage watches its segment on the idle colour."""
        if self.plan.strategy.type != "blue-green" or state.status is not Status.OBSERVING:
            return None
        return self.plan.stages[state.stage_index].audience.segment

    def _window(self, request: MetricRequest) -> MetricWindow:
        history = self.history[request.environment]
        first = bisect.bisect_left(self.starts[request.environment], request.since)
        chosen = history[first:]
        series = {
            spec.name: tuple(entry[spec.name] for entry in chosen if spec.name in entry)
            for spec in request.specs
        }
        return MetricWindow(request.window, {k: v for k, v in series.items() if v})

    # ------------------------------------------------------------------ the operator

    def _operator(self, state: RolloutState, now: float) -> tuple[Command, ...]:
        operator = self.scenario.world.operator
        paused = state.status is Status.PAUSED and state.hold in (Hold.FAILURE, Hold.TRIGGER)
        if operator.on_pause != "abort" or not paused or self.aborted:
            return ()
        if now - state.status_since < operator.after:
            return ()
        self.aborted = True
        waited = seconds(now - state.status_since)
        return (Command(Verb.ABORT, OPERATOR, f"the scenario aborts after {waited} paused"),)

    # ------------------------------------------------------------------ recording

    def _record(self, now: float, before: RolloutState, decision: Decision) -> None:
        after = decision.next_state
        at = now - START
        if decision.reasons:
            self.events.append(Event(at, after.status, decision.reasons))
        if self.rollback_at is None and after.status in (
            Status.ROLLING_BACK,
            Status.ROLLED_BACK,
            Status.ROLLBACK_FAILED,
        ):
            self.rollback_at = at
        old, new = self._position(before), self._position(after)
        if old == new:
            return
        if old is not None:
            end, reason = self._ending(old[1], after, decision)
            self._close_phase(now, end, reason)
        if new is not None:
            env_index, name = new
            env = self.plan.environments[env_index].name
            self.phases.append(Phase(env, name, at, None, PhaseEnd.UNFINISHED))

    def _position(self, state: RolloutState) -> tuple[int, str] | None:
        status = state.paused_from if state.status is Status.PAUSED else state.status
        env = self.plan.environments[state.env_index]
        if status in (Status.RAMPING, Status.OBSERVING) and self.plan.is_staged(env):
            return state.env_index, stage_label(self.plan, state.stage_index)
        if status is Status.VALIDATING:
            return state.env_index, "validation"
        return None

    def _ending(self, name: str, after: RolloutState, decision: Decision) -> tuple[PhaseEnd, str]:
        if after.status in (Status.ROLLING_BACK, Status.ROLLED_BACK, Status.ROLLBACK_FAILED):
            return PhaseEnd.ROLLED_BACK, after.rollback_trigger or after.reason
        if after.status is Status.FAILED:
            return PhaseEnd.STOPPED, after.reason
        # The reason that moved the rollout on names the phase: "stage 2 (Canary) passed: ...",
        # "production validated: ...".
        word = name if name != "validation" else " validated"
        naming = [r for r in decision.reasons if word in r]
        return PhaseEnd.PASSED, (naming or list(decision.reasons) or [""])[0]

    def _close_phase(self, now: float, end: PhaseEnd, reason: str) -> None:
        if self.phases and self.phases[-1].ended_at is None:
            last = self.phases[-1]
            at = None if end is PhaseEnd.UNFINISHED else now - START
            self.phases[-1] = Phase(last.environment, last.name, last.started_at, at, end, reason)
