"""Read-only views of rollouts: :func:`rollout_status` and :func:`list_rollout_status` for
status displays (a frozen :class:`RolloutView`), :func:`rollout_progress` for the rendered
rollout document."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from pydantic import ConfigDict

from rollout.engine._strategy import SEGMENT_STRATEGIES
from rollout.engine._words import audience
from rollout.engine.runner_store import CriterionView, StoredRollout, engine_state, load_stored
from rollout.engine.state import Outcome, RolloutState, Status
from rollout.plan.model import Plan
from rollout.plan.render import (
    EnvironmentStatus,
    RolloutProgress,
    StageOutcome,
    StageStatus,
    ValidationItem,
)
from rollout.store import EventRecord, Store


@dataclass(frozen=True)
class RolloutView:
    """A rollout for status displays: where it is, what is judged, what happened last."""

    # The API answers with this very value: its fields and their docstrings are the response
    # schema and its descriptions, so a field added here reaches every display and the API.
    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)

    id: str
    """The rollout's id."""
    name: str
    """The plan's name."""
    version: str
    """The version being rolled out."""
    status: str
    """Where the rollout is in its state machine (pending, gating, ..., rolled_back)."""
    reason: str
    """Why it is there, in plain words."""
    created_by: str
    """Who started it."""
    created_at: datetime
    """When it was started (UTC)."""
    updated_at: datetime
    """When it last changed (UTC)."""
    environment: str
    """The environment it is in ('' before it reaches one)."""
    environment_number: int
    """That environment's number, from 1 (0 before it reaches one)."""
    environment_count: int
    """How many environments the plan has."""
    stage: str
    """The stage running now ('' when none is)."""
    stage_number: int
    """That stage's number, from 1 (0 when none is running)."""
    stage_count: int
    """How many stages the plan has."""
    audience_percent: float
    """The new version's share of everyone in the environment now, in percent (0 once a
    rollback has put the old version back; 0 too while a stage serves only a segment)."""
    time_left: float | None
    """Seconds left of ``waiting_for``; null when nothing is timed."""
    waiting_for: str
    """What is timed: 'bake', 'validation' or 'approval' ('' when nothing is)."""
    criteria: tuple[CriterionView, ...]
    """The criteria as last judged, with their verdicts and reasons."""
    judged_at: float | None
    """When the criteria were judged (seconds since the epoch); null before any judging."""
    hold: str | None
    """Why a paused rollout waits: 'operator', 'failure' or 'trigger'; null otherwise."""
    metrics_problem: str
    """Why metrics could not be read at the last tick ('' when they could)."""
    controller: str | None
    """The controller acting on the rollout; null once it has ended."""
    last_events: tuple[EventRecord, ...]
    """The last audit events, oldest first."""
    audience_segment: str | None = None
    """The segment the running stage opens the new version to; null when it opens it to a
    share of everyone."""
    segment_percent: float | None = None
    """The share of the segment's members served, in percent; null without a segment."""


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
    state = engine_state(stored)
    status = (state.paused_from or state.status) if state.status is Status.PAUSED else state.status
    started = state.status not in (Status.PENDING, Status.GATING)
    env = plan.environments[state.env_index]
    in_stage = started and plan.is_staged(env) and status in (Status.RAMPING, Status.OBSERVING)
    left, what = _time_left(plan, state, status, now)
    segment, within = _segment(plan, state) if in_stage else (None, None)
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
        audience_segment=segment,
        segment_percent=within,
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
    plan, state = stored.plan, engine_state(stored)
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


def _segment(plan: Plan, state: RolloutState) -> tuple[str | None, float | None]:
    """The segment the current stage opens the new version to, with the share of its
    members; (None, None) when the stage has none or the strategy cannot pick people."""
    audience = plan.stages[state.stage_index].audience
    if audience.segment is None or plan.strategy.type not in SEGMENT_STRATEGIES:
        return None, None
    return audience.segment, 100.0 if audience.percent is None else audience.percent


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
        segment, within = _segment(plan, state)
        who = audience(within, segment) if segment else audience(state.traffic_percent, None)
        words += f": stage {state.stage_index + 1} ({stage.name}) at {who}"
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
