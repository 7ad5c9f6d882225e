"""The simulated outside world: it answers the engine's actions the way the scenario says.

Every action is answered at the next tick (the world takes one monitoring interval to act),
passing or failing per the scenario's ``world`` section: ``fail`` fails every attempt, a number
``n`` fails the first ``n`` attempts (the engine's retries see attempts 2, 3, ...). Approvals
and manual sign-offs arrive after their delay (the first tick at or after it), as votes and
sign-offs from the people the plan names (``approver-1``... when it names nobody).

What a traffic action does takes effect when its answer arrives: the audience of the
environment changes (:meth:`FakeWorld.audience`), as a router's or a flag's would; each flag
keeps its own audience. A stage that opens the new version to a segment serves its percentage
of the segment's members and nobody else, as the engine's flag router does: a segment holding
10 % of users at ``{percent: 50, segment: beta}`` puts 5 % of users on the new version. A
baseline measurement reports the control arm's expected values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rollout.engine import (
    Action,
    ActionResult,
    Deploy,
    Migrate,
    Notify,
    RecordBaseline,
    RequestApproval,
    RequestSignOff,
    RunCheck,
    RunCommand,
    RunGate,
    RunRollbackStep,
    SetFlag,
    SetTraffic,
    SignOff,
    Vote,
    spec_for,
)
from rollout.plan.model import FlagRouter, Plan
from rollout.simulate.behaviour import Behaviour
from rollout.simulate.scenario import NEVER, REJECT, Scenario, World, pick
from rollout.simulate.traffic import Audience

__all__ = ["Delivery", "FakeWorld"]

DONE = "done (simulated)"
# Answers are scheduled this long after the tick that asked: the next tick delivers them,
# whatever the monitoring interval.
_SOON = 1e-6


def failed(attempt: int) -> str:
    return f"failed in the simulation (attempt {attempt})"


@dataclass(frozen=True)
class Delivery:
    """What reaches the engine at one tick."""

    results: tuple[ActionResult, ...] = ()
    votes: tuple[Vote, ...] = ()
    sign_offs: tuple[SignOff, ...] = ()


@dataclass
class _Placement:
    """What the new version serves in one environment."""

    percent: float = 0.0
    enabled: bool = True
    segment: str | None = None
    segment_percent: float = 100.0
    sticky: bool = True
    instances: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Due:
    at: float
    order: int
    result: ActionResult | None = None
    vote: Vote | None = None
    sign_off: SignOff | None = None
    effect: Action | None = None


class FakeWorld:
    """Answers actions per ``scenario.world``; keeps each environment's audience."""

    def __init__(self, plan: Plan, scenario: Scenario, control: Behaviour, started_by: str) -> None:
        self.plan = plan
        self.world: World = scenario.world
        self.segments = scenario.segments
        self.control = control
        self.started_by = started_by
        self._due: list[_Due] = []
        # By environment and flag (None: a router or instances, not a flag).
        self._placements: dict[tuple[str, str | None], _Placement] = {}
        self._latest: dict[str, tuple[str, str | None]] = {}
        self._count = 0

    # ------------------------------------------------------------------ the engine's side

    def send(self, actions: tuple[Action, ...], now: float) -> None:
        """Take the actions ``decide`` issued at ``now``; their answers come at later ticks."""
        for action in actions:
            self._answer(action, now)

    def deliver(self, now: float) -> Delivery:
        """Everything due by ``now``, in the order it was scheduled; effects take place."""
        ready = sorted((d for d in self._due if d.at <= now), key=lambda d: (d.at, d.order))
        self._due = [d for d in self._due if d.at > now]
        for item in ready:
            if item.effect is not None:
                self._apply(item.effect)
        return Delivery(
            tuple(d.result for d in ready if d.result is not None),
            tuple(d.vote for d in ready if d.vote is not None),
            tuple(d.sign_off for d in ready if d.sign_off is not None),
        )

    def audience(
        self, environment: str, flag: str | None, preview_segment: str | None = None
    ) -> Audience:
        """Who the new version serves in ``environment`` now, through ``flag`` (a plan whose
        stages ramp several flags measures each on its own), or through a router that
        moves traffic without a flag. ``preview_segment``: the segment a blue-green stage
        watches on the idle colour before the switch."""
        placed = self._placements.get((environment, flag))
        if placed is None:  # moved by a router, or by a flag other than the one asked about
            latest = self._latest.get(environment)
            placed = self._placements[latest] if latest is not None else _Placement()
        segment, within = placed.segment, placed.segment_percent
        if preview_segment is not None and placed.percent < 100.0:
            segment, within = preview_segment, 100.0
        if not placed.enabled:
            return Audience(sticky=placed.sticky)
        members = self.segments.get(segment, 0.0) if segment is not None else 0.0
        return Audience(
            percent=placed.percent, segment=members * within / 100.0, sticky=placed.sticky
        )

    # ------------------------------------------------------------------ answering

    def _schedule(
        self,
        at: float,
        *,
        result: ActionResult | None = None,
        vote: Vote | None = None,
        sign_off: SignOff | None = None,
        effect: Action | None = None,
    ) -> None:
        self._count += 1
        self._due.append(_Due(at, self._count, result, vote, sign_off, effect))

    def _reply(self, action: Action, now: float, failures: int, effect: Action | None) -> None:
        ok = action.attempt > failures
        values: dict[str, float] = {}
        if ok and isinstance(action, RecordBaseline):
            values = self._baseline(action)
        result = ActionResult(action.key, ok, DONE if ok else failed(action.attempt), values)
        self._schedule(now + _SOON, result=result, effect=effect if ok else None)

    def _answer(self, action: Action, now: float) -> None:
        world = self.world
        if isinstance(action, RunRollbackStep):
            inner = action.action
            failures = 0 if isinstance(inner, Notify) else world.rollback
            self._reply(action, now, failures, inner)
        elif isinstance(action, RunGate):
            self._reply(action, now, pick(world.gates, action.item.item, 0), None)
        elif isinstance(action, Deploy):
            self._reply(action, now, pick(world.deploys, action.environment, 0), action)
        elif isinstance(action, RunCheck):
            self._reply(action, now, pick(world.checks, action.check.name, 0), None)
        elif isinstance(action, Migrate):
            self._reply(action, now, world.migrations, None)
        elif isinstance(action, SetTraffic | SetFlag):
            self._reply(action, now, world.traffic, action)
        elif isinstance(action, RunCommand):
            self._reply(action, now, world.rollback, None)
        elif isinstance(action, RequestApproval):
            self._reply(action, now, 0, None)
            self._votes(action, now)
        elif isinstance(action, RequestSignOff):
            self._reply(action, now, 0, None)
            self._sign_off(action, now)
        else:  # notifications, baselines: always delivered
            self._reply(action, now, 0, None)

    def _baseline(self, action: RecordBaseline) -> dict[str, float]:
        values: dict[str, float] = {}
        for metric in action.metrics:
            spec = spec_for(self.plan, metric)
            value = self.control.value(spec) if spec is not None else None
            if value is not None:
                values[metric] = value
        return values

    def _votes(self, action: RequestApproval, now: float) -> None:
        wait = pick(self.world.approvals, action.environment, 0.0)
        if wait == NEVER:
            return
        env = self.plan.environment(action.environment)
        people = [
            p for p in action.approvers if p != self.started_by or env.approval.allow_self_approval
        ]
        while len(people) < action.min_approvals:
            people.append(f"approver-{len(people) + 1}")
        if wait == REJECT:
            vote = Vote(
                action.environment, people[0], approve=False, comment="rejected in the simulation"
            )
            self._schedule(now + _SOON, vote=vote)
            return
        assert isinstance(wait, float)
        for person in people[: action.min_approvals]:
            self._schedule(now + max(wait, _SOON), vote=Vote(action.environment, person, True))

    def _sign_off(self, action: RequestSignOff, now: float) -> None:
        wait = pick(self.world.sign_offs, action.item, 0.0)
        if wait == NEVER:
            return
        actor = action.people[0] if action.people else f"{action.role}-on-duty"
        approve = wait != REJECT
        sign_off = SignOff(action.index, actor, (action.role,), approve=approve)
        delay = wait if isinstance(wait, float) else 0.0
        self._schedule(now + max(delay, _SOON), sign_off=sign_off)

    # ------------------------------------------------------------------ effects

    def _apply(self, action: Action) -> None:
        if isinstance(action, SetTraffic):
            router = action.router
            by_flag = router is None or isinstance(router, FlagRouter)
            flag = router.flag if isinstance(router, FlagRouter) else None
            placed = self._placement(action.environment, flag)
            placed.percent = action.percent
            placed.segment, placed.segment_percent = action.segment, action.segment_percent
            placed.sticky = by_flag
        elif isinstance(action, SetFlag):
            placed = self._placement(action.environment, action.flag)
            if action.percent is not None:
                placed.percent = action.percent
                placed.segment, placed.segment_percent = action.segment, action.segment_percent
            if action.enabled is not None:
                placed.enabled = action.enabled
            placed.sticky = True
        elif isinstance(action, Deploy) and action.target == "instances":
            self._instances(action)

    def _instances(self, action: Deploy) -> None:
        rolling = self.plan.strategy.rolling
        if rolling is None:
            return
        placed = self._placement(action.environment, None)
        if action.version:
            placed.instances |= set(action.instances)
        else:  # putting the old version back
            placed.instances -= set(action.instances)
        placed.percent = 100.0 * len(placed.instances) / len(rolling.instances)
        placed.sticky = False

    def _placement(self, environment: str, flag: str | None) -> _Placement:
        self._latest[environment] = (environment, flag)
        return self._placements.setdefault((environment, flag), _Placement())
