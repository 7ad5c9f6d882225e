"""The runner: one rollout's tick, carried out durably against the store.

A tick repeats *rounds* until the engine asks for nothing more (or :data:`MAX_ROUNDS`):

1. **act** on the actions the stored state still has pending, each under its idempotency key:
   ``record_action_intent`` first (a key already DONE or FAILED is not run again: its stored
   result is used), then the action through its provider, then ``record_action_done`` /
   ``record_action_failed`` with the result;
2. **observe**: those results, approvals and operator commands appended to the audit trail
   since the last round, and the metric data of the window the engine judges;
3. **decide** (pure);
4. **save** the engine's next state, the actions it issued (now pending) and one audit event
   per reason, in one transaction, under the revision read and the controller's lease.

Crash safety follows from the order. The actions of a decision are saved (as pending) before
any of them runs, and each runs only after its intent is recorded. After a crash the next
controller finds them pending: a key DONE or FAILED is fed back as it ended; a key with an
intent but no end, or with no intent yet, is run (again). So a command may run twice with the
same ``ROLLOUT_IDEMPOTENCY_KEY`` (it must be idempotent by that key), never with two keys for
one attempt; traffic and flag actions are set-to-value.

The stored ``state_json`` is the engine's :meth:`RolloutState.to_json` plus a ``runner`` entry
(:class:`ShellState`: pending actions, the audit-trail cursor, the latest verdicts and stage
outcomes) which :func:`load_stored` splits off again.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from rollout.analysis import MetricSeries, Verdict, judge
from rollout.engine._judging import (
    judge_spikes,
    metric_request,
    spec_for,
    triggers,
    validation_window,
)
from rollout.engine.actions import ACTION_TYPES, Action
from rollout.engine.actions_exec import ActionExecutor, Done, World
from rollout.engine.decide import decide
from rollout.engine.observation import (
    ActionResult,
    Command,
    MetricWindow,
    Observation,
    SignOff,
    Verb,
    Vote,
)
from rollout.engine.state import RolloutState, Status
from rollout.errors import Conflict, EngineError, LeaseLost, NotFound, RolloutError, StoreError
from rollout.plan.model import Plan
from rollout.providers.metrics import fetch_metric
from rollout.providers.metrics._base import ArmSelector
from rollout.store import ActionStatus, EventRecord, NewEvent, RolloutRecord, Store

RUNNER_KEY = "runner"
"""The key of :class:`ShellState` inside a rollout's stored ``state_json``."""
MAX_ROUNDS = 40
"""Rounds in one tick at most; a plan that needs more continues on the next tick."""
CRASH_ENV = "ROLLOUT_TEST_CRASH_AT"
"""Durability testing only: ``intent:3`` makes the process kill itself (SIGKILL) right after
the 3rd action intent it records; the points are ``intent``, ``act`` (the action ran, its end
is not recorded), ``done`` (its end is recorded) and ``save`` (a state was saved)."""
COMMAND_PREFIX = "command."
"""Audit events of this kind carry operator verbs (``command.pause``) and sign-offs
(``command.sign_off``); ``approval`` events carry approvals and rejections."""
SIGN_OFF = "command.sign_off"


# --------------------------------------------------------------------------- stored form


@dataclass(frozen=True)
class CriterionView:
    """One criterion as last judged: ``role`` is ``success``, ``rollback`` or ``validation``;
    ``value`` is the canary's figure in criterion units (a fraction for rates, ms for
    latency), ``shown`` the same in words; ``verdict`` a :class:`Verdict` value."""

    text: str
    role: str
    verdict: str
    reason: str
    value: float | None = None
    shown: str = ""


@dataclass(frozen=True)
class StageNote:
    """How a stage of an environment ended (``passed`` or ``rolled back``), why, and when."""

    environment: str
    stage: int
    status: str
    reason: str
    at: float


@dataclass(frozen=True)
class ShellState:
    """What the runner keeps beside the engine's state (see the module docstring).

    ``pending`` are the actions of the last decision, encoded by :func:`encode_action`;
    ``events_seen`` the last audit-trail seq scanned for operator input; ``criteria`` the
    verdicts of the last judged tick (``judged_at``); ``stages`` the stage outcomes by
    ``"<environment>/<stage number>"``; ``metrics_problem`` the last metric source failure.
    """

    base_dir: str = ""
    pending: tuple[dict[str, Any], ...] = ()
    events_seen: int = 0
    criteria: tuple[CriterionView, ...] = ()
    judged_at: float | None = None
    stages: dict[str, StageNote] = field(default_factory=dict)
    metrics_problem: str = ""


_SHELL: TypeAdapter[ShellState] = TypeAdapter(ShellState)


@dataclass(frozen=True)
class StoredRollout:
    """A rollout as read from the store: its record, plan, engine state and runner state.

    ``engine`` is None before the first tick (the controller starts the rollout then)."""

    record: RolloutRecord
    plan: Plan
    engine: RolloutState | None
    shell: ShellState

    @property
    def base_dir(self) -> Path:
        return Path(self.shell.base_dir) if self.shell.base_dir else Path.cwd()


def load_stored(record: RolloutRecord, plan: Plan | None = None) -> StoredRollout:
    """Split a rollout record into plan, engine state and runner state (``plan``: the
    record's plan, already read; a plan never changes once a rollout started).

    Raises :class:`EngineError` when the stored plan or state cannot be read."""
    if plan is None:
        try:
            plan = Plan.model_validate(record.plan_json)
        except ValueError as exc:
            raise EngineError(
                f"rollout {record.id}: its stored plan cannot be read: {exc}"
            ) from exc
    data = dict(record.state_json)
    try:
        shell = _SHELL.validate_python(data.pop(RUNNER_KEY, {}))
    except ValueError as exc:
        raise EngineError(f"rollout {record.id}: its runner state cannot be read: {exc}") from exc
    engine = RolloutState.from_json(data) if "rollout_id" in data else None
    return StoredRollout(record, plan, engine, shell)


def state_json(engine: RolloutState | None, shell: ShellState) -> dict[str, Any]:
    """The ``state_json`` to store for ``engine`` and ``shell``."""
    body = engine.to_json() if engine is not None else {}
    return {**body, RUNNER_KEY: _SHELL.dump_python(shell, mode="json")}


_ACTION_CLASSES: dict[str, type[Action]] = {cls.kind: cls for cls in ACTION_TYPES}


def encode_action(action: Action) -> dict[str, Any]:
    """An action as JSON: its kind, step, attempt, description and every field.

    >>> from rollout.engine.actions import RunCommand
    >>> a = RunCommand(rollout_id="r", step="rollback/2", command="./drain.sh", timeout=60.0)
    >>> decode_action("r", encode_action(a)) == a
    True
    """
    return {
        "step": action.step,
        "attempt": action.attempt,
        "description": action.description,
        **action.payload(),
    }


def decode_action(rollout_id: str, data: dict[str, Any]) -> Action:
    """The action :func:`encode_action` encoded; :class:`EngineError` for an unknown kind."""
    body = dict(data)
    kind = body.pop("kind", None)
    cls = _ACTION_CLASSES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise EngineError(f"rollout {rollout_id}: a pending action of unknown kind {kind!r}")
    adapter = _DECODERS.get(cls)
    if adapter is None:
        adapter = _DECODERS[cls] = TypeAdapter(cls)
    action: Action = adapter.validate_python({**body, "rollout_id": rollout_id})
    return action


_DECODERS: dict[type[Action], TypeAdapter[Any]] = {}


# --------------------------------------------------------------------------- the tick


@dataclass(frozen=True)
class TickReport:
    """What one tick of one rollout did: ``actions`` run (keys), ``saves`` made, the status
    it left the rollout in, and ``stopped`` (why it stopped acting early: a lost lease or a
    conflicting save; '' when it did not)."""

    rollout_id: str
    status: str
    actions: tuple[str, ...] = ()
    saves: int = 0
    stopped: str = ""


class Runner:
    """Ticks rollouts for the controller ``owner`` (see the module docstring).

    ``clock`` gives ``now`` in seconds since the epoch. ``lease_ttl`` (seconds) is renewed in
    the background while an action runs, so a long deploy keeps its lease. The caller holds
    the rollout's lease before calling :meth:`tick`.
    """

    def __init__(
        self,
        store: Store,
        world: World,
        *,
        owner: str,
        clock: Callable[[], float],
        lease_ttl: float = 30.0,
    ) -> None:
        self.store = store
        self.world = world
        self.owner = owner
        self.clock = clock
        self.lease_ttl = lease_ttl
        self._executors: dict[str, ActionExecutor] = {}
        self._plans: dict[str, Plan] = {}

    def tick(
        self, rollout_id: str, now: float | None = None, *, leased_at: float | None = None
    ) -> TickReport:
        """Run rounds for one rollout until it waits; ``now`` fixes the time (tests).

        ``leased_at`` is when (``time.monotonic()``) the caller last took or renewed the
        lease; the lease is renewed before an action once a third of its TTL has passed."""
        ran: list[str] = []
        saves = 0
        status = ""
        keeper = _LeaseKeeper(self.store, rollout_id, self.owner, self.lease_ttl, leased_at)
        try:
            record = self.store.get_rollout(rollout_id)
            for round_number in range(MAX_ROUNDS):
                stored = load_stored(record, self._plans.get(rollout_id))
                self._plans[rollout_id] = stored.plan
                status = record.status.value
                if record.terminal and not stored.shell.pending:
                    break  # ended, and its last announcements are out
                at = self.clock() if now is None else now
                results = self._carry_out(stored, at, ran, keeper)
                # Operator input is read once a tick; what arrives meanwhile waits for the next.
                saved, more, record = self._round(stored, results, at, round_number == 0)
                status = record.status.value
                saves += saved
                if not more:
                    break
        except (LeaseLost, StoreError) as exc:
            if isinstance(exc, NotFound):
                raise
            return TickReport(rollout_id, status, tuple(ran), saves, str(exc))
        return TickReport(rollout_id, status, tuple(ran), saves)

    # ------------------------------------------------------------------ act

    def _executor(self, stored: StoredRollout, version: str) -> ActionExecutor:
        found = self._executors.get(stored.record.id)
        if found is None:
            found = ActionExecutor(
                stored.plan, stored.record.id, version, stored.base_dir, self.world
            )
            self._executors[stored.record.id] = found
        return found

    def _carry_out(
        self, stored: StoredRollout, now: float, ran: list[str], keeper: _LeaseKeeper
    ) -> list[ActionResult]:
        """Run the pending actions (others first, notifications last: telling people must
        never hold up a rollback) and return their results."""
        if not stored.shell.pending:
            return []
        rollout_id = stored.record.id
        actions = [decode_action(rollout_id, data) for data in stored.shell.pending]
        actions.sort(key=lambda a: a.kind == "notify")
        executor = self._executor(stored, stored.record.version)
        stage = _stage_name(stored.plan, stored.engine)
        results = []
        for action in actions:
            # Under a valid lease only: no intent is recorded by a controller that lost it.
            keeper.ensure()
            try:
                record = self.store.record_action_intent(
                    rollout_id,
                    action.step,
                    action.attempt,
                    action.kind,
                    encode_action(action),
                    actor=self.owner,
                )
            except Conflict:
                # Recorded before with another payload (an older release encoded it
                # differently): the key is what counts, so the stored record stands.
                record = self.store.get_action(action.key)
            if record.status is ActionStatus.INTENT:
                _crash_point("intent")
                with keeper.held():
                    done = executor.execute(action, now, stage)
                ran.append(action.key)
                _crash_point("act")
                if done.ok:
                    record = self.store.record_action_done(
                        action.key, done.result_json(), actor=self.owner
                    )
                else:
                    record = self.store.record_action_failed(
                        action.key, done.message, done.result_json(), actor=self.owner
                    )
                _crash_point("done")
                keeper.check()
            results.append(_result_of(action.key, record.status, record.result))
        return results

    # ------------------------------------------------------------------ observe, decide, save

    def _round(
        self, stored: StoredRollout, results: list[ActionResult], now: float, read_input: bool
    ) -> tuple[int, bool, RolloutRecord]:
        """Decide and save; returns (saves made, whether the decision issued actions, the
        record as it is now)."""
        record, plan = stored.record, stored.plan
        state = stored.engine or RolloutState.new(record.id, record.version, record.created_by, now)
        events = (
            self.store.list_events(record.id, after_seq=stored.shell.events_seen)
            if read_input
            else []
        )
        votes, sign_offs, commands = _operator_input(events)
        executor = self._executor(stored, state.version)
        window, problem = measure(plan, state, now, executor)
        observation = Observation(tuple(results), votes, sign_offs, commands, window)
        decision = decide(plan, state, observation, now)
        after = decision.next_state
        shell = replace(
            stored.shell,
            pending=tuple(encode_action(a) for a in decision.actions),
            events_seen=events[-1].seq if events else stored.shell.events_seen,
            stages=_note_stages(plan, state, after, stored.shell.stages, now),
            metrics_problem=problem,
        )
        request = metric_request(plan, after)
        if window is not None and request is not None and request.window == window.window:
            shell = replace(shell, criteria=judge_view(plan, after, window, now), judged_at=now)
        elif request is None:
            shell = replace(shell, criteria=(), judged_at=None)
        consumed = bool(votes or sign_offs or commands)
        unchanged = (
            stored.engine == after
            and not results
            and not consumed
            # The cursor alone, or the time of an unchanged judgement, is not worth a write.
            and replace(
                shell, events_seen=stored.shell.events_seen, judged_at=stored.shell.judged_at
            )
            == stored.shell
        )
        if unchanged:
            return 0, False, record
        saved = self.store.save_rollout_state(
            record.id,
            record.revision,
            after.status.value,
            state_json(after, shell),
            self._events(state, after, decision.reasons, stored.shell.metrics_problem, problem),
            lease_owner=self.owner,
        )
        _crash_point("save")
        return 1, bool(decision.actions), saved

    def _events(
        self,
        before: RolloutState,
        after: RolloutState,
        reasons: tuple[str, ...],
        old_problem: str,
        problem: str,
    ) -> list[NewEvent]:
        data = {"controller": self.owner}
        events = [
            NewEvent(kind="rollout.reason", message=reason, data=data, actor=self.owner)
            for reason in reasons
        ]
        if after.status != before.status:
            events.append(
                NewEvent(
                    kind="rollout.state",
                    message=f"{before.status.value} -> {after.status.value}",
                    data={**data, "from": before.status.value, "to": after.status.value},
                    actor=self.owner,
                )
            )
        if problem and problem != old_problem:
            events.append(
                NewEvent(kind="metrics.problem", message=problem, data=data, actor=self.owner)
            )
        return events


# --------------------------------------------------------------------------- observing


def measure(
    plan: Plan, state: RolloutState, now: float, executor: ActionExecutor
) -> tuple[MetricWindow | None, str]:
    """The data of the window the engine judges (None when none is open) and the metric
    sources' failures in words ('' when none). A failing source leaves its metric without
    data: the stage holds, it does not pass."""
    request = metric_request(plan, state)
    if request is None:
        return None, ""
    arms = ArmSelector(request.environment, request.flag)
    series = {}
    problems = []
    for spec in request.specs:
        try:
            result = fetch_metric(
                plan,
                spec,
                executor.sources,
                arms,
                start=request.since,
                end=now,
                step=plan.monitoring.interval,
            )
        except RolloutError as exc:
            problems.append(f"{spec.name}: {exc}")
            continue
        if isinstance(result, MetricSeries):
            series[spec.name] = tuple(result.intervals)
    return MetricWindow(request.window, series), "; ".join(problems)


def judge_view(
    plan: Plan, state: RolloutState, window: MetricWindow, now: float
) -> tuple[CriterionView, ...]:
    """Every criterion of the open window with its current value and verdict, for status
    displays (the engine judges the same data to decide)."""
    status = state.paused_from if state.status is Status.PAUSED else state.status
    if status is Status.VALIDATING and window.window == validation_window(plan, state):
        final = state.bake_elapsed(now) >= plan.validation.window
        observation = Observation(metrics=window)
        return tuple(
            CriterionView(j.text, "validation", j.verdict.value, j.reason)
            for j in judge_spikes(plan, observation, window.window, state.baselines, final)
        )
    if status is not Status.OBSERVING:
        return ()
    stage = plan.stages[state.stage_index]
    final = state.bake_elapsed(now) >= stage.duration
    views = []
    roles = [(c, "success") for c in stage.success]
    roles += [(c, "rollback") for c in triggers(plan, state.stage_index)]
    for criterion, role in roles:
        text = str(criterion)
        spec = spec_for(plan, criterion.metric)
        intervals = window.series.get(criterion.metric)
        if spec is None:
            views.append(CriterionView(text, role, Verdict.ERROR.value, "unknown metric"))
            continue
        if not intervals:
            views.append(CriterionView(text, role, Verdict.INCONCLUSIVE.value, "no data yet"))
            continue
        result = judge(
            criterion,
            spec,
            intervals,
            role="rollback" if role == "rollback" else "success",
            final=final,
        )
        value = result.numbers.get("canary_value")
        shown = _shown(spec.unit, value) if value is not None else ""
        views.append(CriterionView(text, role, result.verdict.value, result.reason, value, shown))
    return tuple(views)


def _shown(unit: str, value: float) -> str:
    if unit == "ratio":
        return f"{value * 100:.2f}%"
    if unit == "ms":
        return f"{value:.0f} ms"
    return f"{value:.4g}"


def _operator_input(
    events: list[EventRecord],
) -> tuple[tuple[Vote, ...], tuple[SignOff, ...], tuple[Command, ...]]:
    """Approvals, sign-offs and verbs among ``events``, in the order they were given."""
    votes: list[Vote] = []
    sign_offs: list[SignOff] = []
    commands: list[Command] = []
    for event in events:
        data = event.data
        at = event.at.timestamp()
        comment = str(data.get("comment") or "")
        if event.kind == "approval":
            approve = data.get("decision") == "approve"
            votes.append(Vote(str(data.get("environment")), event.actor, approve, comment, at))
        elif event.kind == SIGN_OFF:
            roles = tuple(str(r) for r in data.get("roles") or ())
            item = int(data.get("gate", 0)) - 1
            approve = bool(data.get("approve", True))
            sign_offs.append(SignOff(item, event.actor, roles, approve, comment, at))
        elif event.kind.startswith(COMMAND_PREFIX):
            try:
                verb = Verb(str(data.get("verb")))
            except ValueError:
                continue  # a verb this version does not know: nothing to apply
            commands.append(Command(verb, event.actor, comment))
    return tuple(votes), tuple(sign_offs), tuple(commands)


def _result_of(key: str, status: ActionStatus, result: dict[str, Any] | None) -> ActionResult:
    body = result or {}
    message = str(body.get("message") or body.get("error") or "")
    raw = body.get("values")
    values = (
        {str(k): float(v) for k, v in raw.items() if isinstance(v, int | float)}
        if isinstance(raw, dict)
        else {}
    )
    return ActionResult(key, status is ActionStatus.DONE, message, values)


def _stage_name(plan: Plan, state: RolloutState | None) -> str:
    if state is None or not plan.is_staged(plan.environments[state.env_index]):
        return ""
    status = state.paused_from if state.status is Status.PAUSED else state.status
    if status in (Status.RAMPING, Status.OBSERVING):
        return plan.stages[state.stage_index].name
    return ""


_IN_STAGE = (Status.RAMPING, Status.OBSERVING)


def _note_stages(
    plan: Plan,
    before: RolloutState,
    after: RolloutState,
    notes: dict[str, StageNote],
    now: float,
) -> dict[str, StageNote]:
    """``notes`` with the outcome of the stage ``before`` was in, if this decision ended it."""
    was = before.paused_from if before.status is Status.PAUSED else before.status
    env = plan.environments[before.env_index]
    if was not in _IN_STAGE or not plan.is_staged(env):
        return notes
    key = f"{env.name}/{before.stage_index + 1}"
    if after.status in (Status.ROLLING_BACK, Status.ROLLED_BACK, Status.ROLLBACK_FAILED):
        note = StageNote(env.name, before.stage_index, "rolled back", after.rollback_trigger, now)
    elif (after.env_index, after.stage_index) != (before.env_index, before.stage_index) or (
        after.status in (Status.VALIDATING, Status.SUCCEEDED)
    ):
        note = StageNote(env.name, before.stage_index, "passed", after.reason, now)
    else:
        return notes
    return {**notes, key: note}


# --------------------------------------------------------------------------- leases, crashes


class _LeaseKeeper:
    """Keeps the controller's lease on a rollout while its actions run."""

    def __init__(
        self, store: Store, rollout_id: str, owner: str, ttl: float, renewed: float | None
    ) -> None:
        self.store = store
        self.rollout_id = rollout_id
        self.owner = owner
        self.ttl = ttl
        self.renewed = renewed
        self.lost: LeaseLost | None = None

    def renew(self) -> None:
        """Extend the lease now; ``LeaseLost`` when it is gone (stop acting)."""
        self.store.renew_lease(self.rollout_id, self.owner, self.ttl)
        self.renewed = time.monotonic()

    def ensure(self) -> None:
        """Renew unless that was done less than a third of the TTL ago (the lease then has
        two thirds of its time left: nobody else can have it)."""
        if self.renewed is None or time.monotonic() - self.renewed >= self.ttl / 3.0:
            self.renew()

    def check(self) -> None:
        """Raise the ``LeaseLost`` a background renewal ran into, if any."""
        if self.lost is not None:
            raise self.lost

    @contextmanager
    def held(self) -> Iterator[None]:
        """Renew every third of the TTL while the body runs (a slow deploy keeps its lease)."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.ttl / 3.0):
                try:
                    self.renew()
                except LeaseLost as exc:
                    self.lost = exc
                    return
                except StoreError:
                    continue  # the database hiccupped; the next beat tries again

        thread = threading.Thread(target=beat, name=f"lease-{self.rollout_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


_crash_counts: dict[str, int] = {}


def _crash_point(point: str) -> None:
    """Durability testing: SIGKILL this process at the point :data:`CRASH_ENV` names."""
    wanted = os.environ.get(CRASH_ENV)
    if not wanted:
        return
    _crash_counts[point] = _crash_counts.get(point, 0) + 1
    name, _, count = wanted.partition(":")
    if name == point and count.isdigit() and _crash_counts[point] == int(count):
        os.kill(os.getpid(), signal.SIGKILL)


__all__ = [
    "CRASH_ENV",
    "MAX_ROUNDS",
    "RUNNER_KEY",
    "CriterionView",
    "Done",
    "Runner",
    "ShellState",
    "StageNote",
    "StoredRollout",
    "TickReport",
    "decode_action",
    "encode_action",
    "judge_view",
    "load_stored",
    "measure",
    "state_json",
]
