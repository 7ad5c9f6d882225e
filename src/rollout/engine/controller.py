"""The controller: leases rollouts and ticks them; and the service calls people make.

**The loop.** :meth:`Controller.run_once` leases every free rollout it may hold
(``store.acquire_lease`` with its owner id and a TTL), then ticks each one through the
:class:`~rollout.engine.runner.Runner`. A lost lease or a conflicting save stops acting on that
rollout at once (another controller has it now). :meth:`Controller.run_forever` repeats that
every ``interval`` seconds until SIGTERM/SIGINT (or :meth:`Controller.stop`), finishes the
action in hand, and gives its leases back so another controller takes over without waiting.
Several controllers may share one PostgreSQL: each rollout is acted on by one at a time.

**The service calls** (for the CLI and the HTTP API alike): :func:`start_rollout`,
:func:`send_verb` (operator verbs and approvals), :func:`sign_off` (manual checklist gates),
:func:`rollout_status` (a frozen view for status displays) and :func:`rollout_progress` (for
the rendered rollout document). Verbs are queued as ``command.<verb>`` audit events with the
actor; the controller consumes each exactly once (its cursor is saved with the state that
applied it). A verb that cannot apply now is refused up front with :class:`EngineError`.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from rollout.engine._verbs import check_verb
from rollout.engine.actions_exec import ChangeListener, World
from rollout.engine.observation import Verb
from rollout.engine.runner import (
    COMMAND_PREFIX,
    SIGN_OFF,
    CriterionView,
    Runner,
    ShellState,
    StoredRollout,
    TickReport,
    load_stored,
    state_json,
)
from rollout.engine.state import Outcome, RolloutState, Status
from rollout.errors import Conflict, EngineError, PlanError, Problem, RolloutError, StoreError
from rollout.plan.loader import load_plan, load_plan_text
from rollout.plan.model import Plan
from rollout.plan.render import (
    EnvironmentStatus,
    RolloutProgress,
    StageOutcome,
    StageStatus,
    ValidationItem,
)
from rollout.providers.notify import AppriseNotifier, Notifier
from rollout.providers.traffic.flag import FlagStore
from rollout.store import (
    ApprovalDecision,
    ApprovalRecord,
    EventRecord,
    NewEvent,
    RolloutRecord,
    Store,
)

if TYPE_CHECKING:
    from rollout.server.context import ServerContext

log = logging.getLogger("rollout.controller")

DEFAULT_LEASE_TTL = 30.0
"""Seconds a lease lasts unless renewed; a crashed controller's rollouts wait this long."""
DEFAULT_MAX_ROLLOUTS = 50
"""Rollouts one controller holds at a time, so that several controllers share the work."""


def controller_id() -> str:
    """A fresh controller id: ``hostname-pid-random`` (``web-1-4242-9f2c1a``)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


# --------------------------------------------------------------------------- the loop


class Controller:
    """Leases rollouts and ticks them (see the module docstring).

    ``clock`` gives seconds since the epoch (inject a fake one to replay a rollout; give the
    store the same clock, since leases are timed by the store). ``flag_store`` is where flag
    changes are written (the server's ``FlagService`` inside the server), ``notifier`` who
    sends messages (Apprise by default), ``environ`` where ``${VAR}`` references are read.
    """

    def __init__(
        self,
        store: Store,
        *,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        max_rollouts: int | None = DEFAULT_MAX_ROLLOUTS,
        flag_store: FlagStore | None = None,
        notifier: Notifier | None = None,
        environ: Mapping[str, str] | None = None,
        on_flag_change: ChangeListener | None = None,
    ) -> None:
        self.store = store
        self.owner = owner or controller_id()
        self.lease_ttl = lease_ttl
        self.max_rollouts = max_rollouts
        world = World(store, notifier or AppriseNotifier(), flag_store, environ, on_flag_change)
        self.runner = Runner(store, world, owner=self.owner, clock=clock, lease_ttl=lease_ttl)
        self._stop = threading.Event()
        self._held: set[str] = set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask :meth:`run_forever` to finish the action in hand and return."""
        self._stop.set()

    def run_once(self, now: float | None = None) -> list[TickReport]:
        """One tick of every rollout this controller can lease; ``now`` fixes the time."""
        try:
            held = self.store.acquire_lease(
                None, self.owner, self.lease_ttl, limit=self.max_rollouts
            )
        except StoreError as exc:
            log.warning("could not lease rollouts: %s", exc)
            return []
        leased_at = time.monotonic()
        self._held = set(held)
        reports = []
        for rollout_id in held:
            if self._stop.is_set():
                break
            report = self._tick(rollout_id, now, leased_at)
            reports.append(report)
            if report.stopped:
                log.warning("%s: stopped acting: %s", rollout_id, report.stopped)
                self._held.discard(rollout_id)
            elif report.status in _TERMINAL:
                self._release(rollout_id)
        return reports

    def _tick(self, rollout_id: str, now: float | None, leased_at: float) -> TickReport:
        try:
            if time.monotonic() - leased_at >= self.lease_ttl / 3.0:
                # The ticks before this one took a while: start with a full lease.
                self.store.renew_lease(rollout_id, self.owner, self.lease_ttl)
                leased_at = time.monotonic()
            report = self.runner.tick(rollout_id, now, leased_at=leased_at)
        except StoreError as exc:  # the lease ran out meanwhile, or the database hiccupped
            return TickReport(rollout_id, "", stopped=str(exc))
        except RolloutError as exc:
            # A rollout whose stored plan or state cannot be read must not stop the others.
            log.error("%s: %s", rollout_id, exc)
            return TickReport(rollout_id, "", stopped=str(exc))
        except Exception as exc:  # nor may a bug that only this rollout runs into
            log.exception("%s: the tick failed", rollout_id)
            return TickReport(rollout_id, "", stopped=f"unexpected {type(exc).__name__}: {exc}")
        if report.saves:
            log.info("%s: %s (%d actions)", rollout_id, report.status, len(report.actions))
        return report

    def _release(self, rollout_id: str) -> None:
        try:
            self.store.release_lease(rollout_id, self.owner)
        except StoreError as exc:
            log.warning("%s: could not release the lease: %s", rollout_id, exc)
        self._held.discard(rollout_id)

    def run_forever(self, interval: float = 5.0, *, handle_signals: bool = True) -> None:
        """Tick every ``interval`` seconds until stopped; SIGTERM/SIGINT stop it gracefully
        (when ``handle_signals`` and running in the main thread). Leases are given back."""
        restore = self._install_signals() if handle_signals else {}
        try:
            while not self._stop.is_set():
                self.run_once()
                self._stop.wait(interval)
        finally:
            for number, handler in restore.items():
                signal.signal(number, handler)
            for rollout_id in sorted(self._held):
                self._release(rollout_id)

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}

        def graceful(number: int, _frame: FrameType | None) -> None:
            log.info("%s received: finishing the action in hand", signal.Signals(number).name)
            self.stop()

        return {
            number: signal.signal(number, graceful) for number in (signal.SIGTERM, signal.SIGINT)
        }


_TERMINAL = {s.value for s in Status if s.terminal}


class BackgroundController:
    """A controller looping in a thread of a process that does other things (the server)."""

    def __init__(self, controller: Controller, interval: float = 5.0) -> None:
        self.controller = controller
        self.interval = interval
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        def loop() -> None:
            self.controller.run_forever(self.interval, handle_signals=False)

        self._thread = threading.Thread(target=loop, name="rollout-controller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the action in hand (waits for it up to ``timeout`` seconds)."""
        self.controller.stop()
        if self._thread is not None:
            self._thread.join(timeout)


def attach_to_server(
    context: ServerContext, *, interval: float = 5.0, **options: Any
) -> BackgroundController:
    """Run a controller inside a server: flags are written through the server's
    ``FlagService``, so its SSE clients see each ramp at once. Started and stopped with the
    server (its ``on_startup`` / ``on_shutdown`` hooks); ``options`` go to :class:`Controller`.
    """
    import asyncio

    background = BackgroundController(
        Controller(context.store, flag_store=context.service, **options), interval
    )

    async def start() -> None:
        background.start()

    async def stop() -> None:
        await asyncio.to_thread(background.stop)

    context.on_startup.append(start)
    context.on_shutdown.append(stop)
    return background


# --------------------------------------------------------------------------- service calls


def start_rollout(
    store: Store,
    plan: Path | str,
    version: str | None,
    actor: str,
    *,
    base_dir: Path | None = None,
) -> RolloutRecord:
    """Create a rollout of ``plan`` (a path to the YAML, or the YAML text itself) at
    ``version`` (default: the plan's ``overview.version``); the controller starts it.

    Relative paths in the plan resolve against ``base_dir`` (default: the plan file's
    directory, or the working directory for text). Raises :class:`PlanError` for an invalid
    plan or a missing version, :class:`EngineError` while another rollout of the same plan
    is still running (both would move the same traffic).
    """
    if isinstance(plan, Path):
        loaded, text = load_plan(plan), plan.read_text(encoding="utf-8")
        where, folder = str(plan), plan.resolve().parent
    else:
        loaded, text, where, folder = load_plan_text(plan), plan, "<plan>", Path.cwd()
    chosen = version or loaded.overview.version
    if not chosen:
        raise PlanError(
            [Problem(where, 0, 0, "overview.version", "no version to roll out: pass --version")]
        )
    running = store.list_rollouts(name=loaded.name, active_only=True)
    if running:
        other = running[0]
        raise EngineError(
            f"rollout {other.id} of {loaded.name} is still {other.status.value}: wait for it "
            f"to end, or abort it (rollout abort {other.id})"
        )
    shell = ShellState(base_dir=str((base_dir or folder).resolve()))
    return store.create_rollout(
        name=loaded.name,
        version=chosen,
        plan_yaml=text,
        plan_json=loaded.model_dump(mode="json"),
        created_by=actor,
        state_json=state_json(None, shell),
    )


def _engine_state(stored: StoredRollout) -> RolloutState:
    record = stored.record
    if stored.engine is not None:
        return stored.engine
    return RolloutState.new(
        record.id, record.version, record.created_by, record.created_at.timestamp()
    )


def send_verb(  # noqa: PLR0917 (the service call people know: who, what, why, where)
    store: Store,
    rollout_id: str,
    verb: str,
    actor: str,
    comment: str = "",
    env: str | None = None,
) -> EventRecord | ApprovalRecord:
    """Give an operator verb: ``pause``, ``resume``, ``promote``, ``abort``, ``retry`` (queued
    for the controller), or ``approve`` / ``reject`` entry into ``env`` (default: the
    environment the rollout waits for). :class:`EngineError` when it does not apply now,
    ``NotFound`` for an unknown rollout."""
    stored = load_stored(store.get_rollout(rollout_id))
    state = _engine_state(stored)
    if state.status.terminal:
        raise EngineError(f"rollout {rollout_id} has ended ({state.status.value})")
    if verb in ("approve", "reject"):
        return _decide_environment(
            store, stored, state, approve=verb == "approve", actor=actor, comment=comment, env=env
        )
    try:
        chosen = Verb(verb)
    except ValueError:
        known = ", ".join([*(v.value for v in Verb), "approve", "reject"])
        raise EngineError(f"unknown verb {verb!r} (known: {known})") from None
    check_verb(state, chosen)
    said = f": {comment}" if comment else ""
    return store.append_event(
        rollout_id,
        NewEvent(
            kind=f"{COMMAND_PREFIX}{chosen.value}",
            message=f"{actor} asked to {chosen.value} the rollout{said}",
            data={"verb": chosen.value, "comment": comment},
            actor=actor,
        ),
    )


def _decide_environment(
    store: Store,
    stored: StoredRollout,
    state: RolloutState,
    *,
    approve: bool,
    actor: str,
    comment: str,
    env: str | None,
) -> ApprovalRecord:
    plan, rollout_id = stored.plan, stored.record.id
    if env is None:
        if state.status is not Status.AWAITING_APPROVAL:
            raise EngineError(
                f"rollout {rollout_id} is not waiting for an approval "
                f"({state.status.value}); name the environment with --env"
            )
        env = plan.environments[state.env_index].name
    names = [e.name for e in plan.environments]
    if env not in names:
        raise EngineError(f"the plan has no environment '{env}' (it has {', '.join(names)})")
    if not plan.environment(env).approval.required:
        raise EngineError(f"{env} needs no approval")
    decision = ApprovalDecision.APPROVE if approve else ApprovalDecision.REJECT
    try:
        return store.add_approval(rollout_id, env, actor, decision, comment)
    except Conflict as exc:
        raise EngineError(f"{actor} cannot decide twice on {env}: {exc}") from exc


def sign_off(
    store: Store,
    rollout_id: str,
    gate: int,
    actor: str,
    roles: tuple[str, ...],
    *,
    approve: bool = True,
    comment: str = "",
) -> EventRecord:
    """Sign off (or refuse) manual checklist gate number ``gate`` (1-based) as ``actor``
    holding ``roles``. :class:`EngineError` for a gate that is not a manual one or a person
    without the role it needs."""
    stored = load_stored(store.get_rollout(rollout_id))
    checklist = stored.plan.checklist
    if not 1 <= gate <= len(checklist):
        raise EngineError(f"there is no checklist gate {gate} (the plan has {len(checklist)})")
    manual = checklist[gate - 1].manual
    if manual is None:
        raise EngineError(f"gate {gate} ('{checklist[gate - 1].item}') runs by itself")
    if manual.role not in roles:
        raise EngineError(
            f"gate {gate} needs someone with the role '{manual.role}': pass --role "
            f"{manual.role} if you hold it"
        )
    if manual.people and actor not in manual.people:
        raise EngineError(f"only {', '.join(manual.people)} may sign off gate {gate}")
    word = "signed off" if approve else "refused"
    return store.append_event(
        rollout_id,
        NewEvent(
            kind=SIGN_OFF,
            message=f"{actor} {word} gate {gate} ('{checklist[gate - 1].item}')"
            + (f": {comment}" if comment else ""),
            data={"gate": gate, "roles": list(roles), "approve": approve, "comment": comment},
            actor=actor,
        ),
    )


@dataclass(frozen=True)
class RolloutView:
    """A rollout for status displays: where it is, what is judged, what happened last.

    ``environment``/``stage`` are names ('' when none applies); numbers are 1-based with
    their counts; ``audience_percent`` is the new version's share now; ``time_left`` is the
    seconds left of ``waiting_for`` (the bake, the validation window or the approval
    timeout), None when nothing is timed; ``criteria`` the verdicts judged at ``judged_at``.
    """

    id: str
    name: str
    version: str
    status: str
    reason: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    environment: str
    environment_number: int
    environment_count: int
    stage: str
    stage_number: int
    stage_count: int
    audience_percent: float
    time_left: float | None
    waiting_for: str
    criteria: tuple[CriterionView, ...]
    judged_at: float | None
    hold: str | None
    metrics_problem: str
    controller: str | None
    last_events: tuple[EventRecord, ...]


def rollout_status(
    store: Store, rollout_id: str, *, now: float | None = None, events: int = 8
) -> RolloutView:
    """The status view of one rollout, with its last ``events`` audit events."""
    record = store.get_rollout(rollout_id)
    view = _view(load_stored(record), time.time() if now is None else now)
    last = tuple(store.list_events(rollout_id)[-events:]) if events > 0 else ()
    return replace(view, last_events=last)


def list_rollout_status(
    store: Store, *, now: float | None = None, limit: int = 50
) -> list[RolloutView]:
    """Status views of the newest ``limit`` rollouts, newest first (without events)."""
    at = time.time() if now is None else now
    return [_view(load_stored(record), at) for record in store.list_rollouts(limit=limit)]


def _view(stored: StoredRollout, now: float) -> RolloutView:
    record, plan, shell = stored.record, stored.plan, stored.shell
    state = _engine_state(stored)
    status = (state.paused_from or state.status) if state.status is Status.PAUSED else state.status
    started = state.status not in (Status.PENDING, Status.GATING)
    env = plan.environments[state.env_index]
    in_stage = started and plan.is_staged(env) and status in (Status.RAMPING, Status.OBSERVING)
    left, what = _time_left(plan, state, status, now)
    return RolloutView(
        id=record.id,
        name=record.name,
        version=record.version,
        status=record.status.value,
        reason=state.reason,
        created_by=record.created_by,
        created_at=record.created_at,
        updated_at=record.updated_at,
        environment=env.name if started else "",
        environment_number=state.env_index + 1 if started else 0,
        environment_count=len(plan.environments),
        stage=plan.stages[state.stage_index].name if in_stage else "",
        stage_number=state.stage_index + 1 if in_stage else 0,
        stage_count=len(plan.stages),
        audience_percent=state.traffic_percent,
        time_left=left,
        waiting_for=what,
        criteria=shell.criteria,
        judged_at=shell.judged_at,
        hold=state.hold.value if state.hold is not None else None,
        metrics_problem=shell.metrics_problem,
        controller=record.lease_owner if not record.terminal else None,
        last_events=(),
    )


def _time_left(
    plan: Plan, state: RolloutState, status: Status, now: float
) -> tuple[float | None, str]:
    if status is Status.OBSERVING:
        left = plan.stages[state.stage_index].duration - state.bake_elapsed(now)
        return max(0.0, left), "bake"
    if status is Status.VALIDATING:
        return max(0.0, plan.validation.window - state.bake_elapsed(now)), "validation"
    timeout = plan.environments[state.env_index].approval.timeout
    if status is Status.AWAITING_APPROVAL and timeout is not None:
        since = state.approval_since if state.approval_since is not None else now
        return max(0.0, timeout - (now - since)), "approval"
    return None, ""


def rollout_progress(store: Store, rollout_id: str) -> RolloutProgress:
    """How far the rollout got, for :func:`rollout.plan.render.render_document`: gates
    passed, each stage's outcome, each environment's status, validation checks passed."""
    record = store.get_rollout(rollout_id)
    stored = load_stored(record)
    plan, state = stored.plan, _engine_state(stored)
    passed = frozenset(i for i in range(len(plan.checklist)) if _done(state, f"gate/{i + 1}"))
    env = plan.environments[state.env_index]
    return RolloutProgress(
        checklist_passed=passed,
        stages=_stage_outcomes(stored, state),
        environments=tuple(
            EnvironmentStatus(e.name, _environment_words(plan, state, i))
            for i, e in enumerate(plan.environments)
        ),
        validation_passed=_validation_passed(plan, state, env.name),
        state=f"{record.status.value}: {state.reason}" if state.reason else record.status.value,
        as_of=record.updated_at,
    )


def _done(state: RolloutState, step: str) -> bool:
    entry = state.entry(step)
    return entry is not None and entry.outcome is Outcome.DONE


def _stage_outcomes(stored: StoredRollout, state: RolloutState) -> tuple[StageOutcome, ...]:
    plan, notes = stored.plan, stored.shell.stages
    staged = [e.name for e in plan.environments if plan.is_staged(e)]
    current = plan.environments[state.env_index].name
    noted = [name for name in staged if any(k.startswith(f"{name}/") for k in notes)]
    env = current if current in staged else (noted[-1] if noted else staged[0])
    status = state.paused_from if state.status is Status.PAUSED else state.status
    outcomes = []
    for index in range(len(plan.stages)):
        note = notes.get(f"{env}/{index + 1}")
        if note is not None:
            word = StageStatus.PASSED if note.status == "passed" else StageStatus.ROLLED_BACK
            outcomes.append(StageOutcome(word, note.reason, _moment(note.at)))
        elif (
            env == current
            and index == state.stage_index
            and status in (Status.RAMPING, Status.OBSERVING)
        ):
            outcomes.append(StageOutcome(StageStatus.RUNNING, state.reason))
        else:
            outcomes.append(StageOutcome(StageStatus.NOT_STARTED))
    return tuple(outcomes)


_WORDS = {
    Status.AWAITING_APPROVAL: "awaiting approval",
    Status.DEPLOYING: "deploying",
    Status.RAMPING: "ramping",
    Status.OBSERVING: "observing",
    Status.VALIDATING: "validating",
    Status.SUCCEEDED: "deployed and validated",
    Status.ROLLING_BACK: "rolling back",
    Status.ROLLED_BACK: "rolled back",
    Status.ROLLBACK_FAILED: "ROLLBACK FAILED: finish it by hand",
    Status.FAILED: "stopped before anything changed",
}


def _environment_words(plan: Plan, state: RolloutState, index: int) -> str:
    if state.status in (Status.PENDING, Status.GATING) or index > state.env_index:
        return "not started"
    if index < state.env_index:
        return "deployed and validated"
    if state.status is Status.PAUSED:
        was = state.paused_from.value.replace("_", " ") if state.paused_from else "running"
        return f"paused while {was}"
    words = _WORDS.get(state.status, state.status.value)
    if state.status in (Status.RAMPING, Status.OBSERVING) and plan.is_staged(
        plan.environments[index]
    ):
        stage = plan.stages[state.stage_index]
        words += f": stage {state.stage_index + 1} ({stage.name}) at {state.traffic_percent:g}%"
    return words


def _validation_passed(plan: Plan, state: RolloutState, env: str) -> frozenset[ValidationItem]:
    validation = plan.validation
    found = set()
    smoke = [f"{env}/validation/smoke-{n}" for n in range(1, len(validation.smoke) + 1)]
    flows = [f"{env}/validation/flow-{n}" for n in range(1, len(validation.key_flows) + 1)]
    if smoke and all(_done(state, step) for step in smoke):
        found.add(ValidationItem.SMOKE)
    if flows and all(_done(state, step) for step in flows):
        found.add(ValidationItem.KEY_FLOWS)
    if _done(state, f"{env}/validated"):
        if validation.no_error_spike is not None:
            found.add(ValidationItem.ERROR_SPIKE)
        if validation.performance is not None:
            found.add(ValidationItem.PERFORMANCE)
    return frozenset(found)


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
