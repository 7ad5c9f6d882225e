"""What the runner observes for a decision, and what it notes for status displays.

- :func:`measure`: the metric data of the window the engine judges, through the plan's sources;
- :func:`operator_input`: approvals, sign-offs and verbs found in the audit trail;
- :func:`result_of`: a stored action record as the engine's :class:`ActionResult`;
- :func:`judge_view` and :func:`note_stages`: the verdicts and stage outcomes kept for displays.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rollout.analysis import MetricSeries, Verdict, judge
from rollout.engine._judging import (
    judge_spikes,
    metric_request,
    spec_for,
    triggers,
    validation_window,
)
from rollout.engine.actions_exec import ActionExecutor
from rollout.engine.observation import (
    ActionResult,
    Command,
    MetricWindow,
    Observation,
    SignOff,
    Verb,
    Vote,
)
from rollout.engine.runner_store import CriterionView, JudgedSeries, StageNote
from rollout.engine.state import RolloutState, Status
from rollout.errors import RolloutError
from rollout.plan.model import Plan
from rollout.providers.metrics import ArmSelector, fetch_metric
from rollout.store import ActionStatus, EventRecord

COMMAND_PREFIX = "command."
"""Audit events of this kind carry operator verbs (``command.pause``) and sign-offs
(``command.sign_off``); ``approval`` events carry approvals and rejections."""
SIGN_OFF = "command.sign_off"


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


Judged = tuple[tuple[CriterionView, ...], tuple[JudgedSeries, ...]]
"""The criteria of a window as judged, and the chart series of those that had data."""


def judge_view(plan: Plan, state: RolloutState, window: MetricWindow, now: float) -> Judged:
    """Every criterion of the open window with its current value and verdict, for status
    displays (the engine judges the same data to decide), and the series each stage verdict
    rested on, for charts (validation checks have none)."""
    status = state.paused_from if state.status is Status.PAUSED else state.status
    if status is Status.VALIDATING and window.window == validation_window(plan, state):
        final = state.bake_elapsed(now) >= plan.validation.window
        observation = Observation(metrics=window)
        spikes = judge_spikes(plan, observation, window.window, state.baselines, final)
        return tuple(
            CriterionView(j.text, "validation", j.verdict.value, j.reason) for j in spikes
        ), ()
    request = metric_request(plan, state)
    if status not in (Status.OBSERVING, Status.RAMPING) or request is None:
        return (), ()
    stage = plan.stages[state.stage_index]
    views: list[CriterionView] = []
    charts: list[JudgedSeries] = []
    # While the audience is being set only the triggers are judged (on the ramp window).
    ramping = status is Status.RAMPING
    final = not ramping and state.bake_elapsed(now) >= stage.duration
    roles = [] if ramping else [(c, "success") for c in stage.success]
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
        charts.append(JudgedSeries.of(text, spec.unit, request.since, result.series))
    return tuple(views), tuple(charts)


def _shown(unit: str, value: float) -> str:
    if unit == "ratio":
        return f"{value * 100:.2f}%"
    if unit == "ms":
        return f"{value:.0f} ms"
    return f"{value:.4g}"


def operator_input(
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


def result_of(key: str, status: ActionStatus, result: dict[str, Any] | None) -> ActionResult:
    """A stored action record (its key, status and result JSON) as the engine reads it."""
    body = result or {}
    message = str(body.get("message") or body.get("error") or "")
    raw = body.get("values")
    values = (
        {str(k): float(v) for k, v in raw.items() if isinstance(v, int | float)}
        if isinstance(raw, dict)
        else {}
    )
    return ActionResult(key, status is ActionStatus.DONE, message, values)


_IN_STAGE = (Status.RAMPING, Status.OBSERVING)


def stage_name(plan: Plan, state: RolloutState | None) -> str:
    """The name of the stage the rollout is in ('' outside a stage), for ``ROLLOUT_STAGE``."""
    if state is None or not plan.is_staged(plan.environments[state.env_index]):
        return ""
    status = state.paused_from if state.status is Status.PAUSED else state.status
    if status in _IN_STAGE:
        return plan.stages[state.stage_index].name
    return ""


def note_stages(
    plan: Plan,
    before: RolloutState,
    after: RolloutState,
    notes: dict[str, StageNote],
    now: float,
    *,
    window: MetricWindow | None,
) -> dict[str, StageNote]:
    """``notes`` with the outcome of the stage ``before`` was in, if this decision ended it.

    The new note keeps the criteria and series of ``window`` (the data this decision judged)
    as ``before`` saw them: the evidence that ended the stage. Older notes drop theirs."""
    was = before.paused_from if before.status is Status.PAUSED else before.status
    env = plan.environments[before.env_index]
    if was not in _IN_STAGE or not plan.is_staged(env):
        return notes
    key = f"{env.name}/{before.stage_index + 1}"
    if after.status in (Status.ROLLING_BACK, Status.ROLLED_BACK, Status.ROLLBACK_FAILED):
        status, reason = "rolled back", after.rollback_trigger
    elif (after.env_index, after.stage_index) != (before.env_index, before.stage_index) or (
        after.status in (Status.VALIDATING, Status.SUCCEEDED)
    ):
        status, reason = "passed", after.reason
    else:
        return notes
    request = metric_request(plan, before)
    judged = (
        judge_view(plan, before, window, now)
        if window is not None and request is not None and request.window == window.window
        else ((), ())
    )
    kept = {k: replace(n, criteria=(), series=()) for k, n in notes.items()}
    return {**kept, key: StageNote(env.name, before.stage_index, status, reason, now, *judged)}
