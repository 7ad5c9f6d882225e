"""A deterministic simulation harness for the engine: a fake clock, a fake world that answers
actions, scripted metric verdicts, and the checks every tick must pass.

Every :meth:`Sim.tick` also checks, whatever the test is about:

- ``decide`` called twice with the same inputs gives the same decision (idempotency);
- no idempotency key is ever issued twice over the whole run;
- the next state survives a JSON round trip unchanged.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rollout.engine import (
    Action,
    ActionResult,
    Command,
    Decision,
    Judgement,
    MetricRequest,
    MetricWindow,
    Observation,
    RecordBaseline,
    RolloutState,
    SignOff,
    Status,
    Verb,
    Verdict,
    Vote,
    decide,
    metric_request,
)
from rollout.plan.model import Plan

START = 1_700_000_000.0
ROLLOUT = "r1"
VERSION = "2.0"

MetricsScript = Callable[[MetricRequest, float], MetricWindow | None]


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


def verdicts(
    default: Verdict = Verdict.PASS,
    overrides: Mapping[tuple[str, str], Verdict] | None = None,
    requests: int = 20_000,
    after: float = 0.0,
) -> MetricsScript:
    """Judge every criterion ``default``, except ``overrides`` keyed by (window pattern,
    criterion text), which apply from ``after`` seconds past the window's start."""
    rules = dict(overrides or {})

    def script(request: MetricRequest, now: float) -> MetricWindow:
        found: dict[str, Judgement] = {}
        for criterion in request.criteria:
            text = str(criterion)
            verdict = default
            for (window, wanted), chosen in rules.items():
                matches = fnmatch.fnmatchcase(request.window, window) and wanted == text
                if matches and now - request.since >= after:
                    verdict = chosen
            found[text] = Judgement(verdict, f"{text}: {verdict.value} (simulated)")
        return MetricWindow(request.window, canary_requests=requests, verdicts=found)

    return script


@dataclass
class Sim:
    plan: Plan
    world: World = field(default_factory=World)
    metrics: MetricsScript = field(default_factory=verdicts)
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
        window = self.metrics(request, self.now) if request is not None else None
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
