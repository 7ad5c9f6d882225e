"""The rollout document: a plan rendered as Markdown in the shape of the rollout-plan template.

The document is generated, never edited, so it cannot drift from what runs. It keeps every
heading of the template (``template.md`` beside this module) in order and with the same text,
every table with the template's header row, every checklist and every ``- Label:`` line; the
template's three example stages become one ``### Stage N: <name>`` block per stage of the plan.
Nothing is left blank: an empty optional part reads ``—`` or ``None``. No secret is printed:
channels and URLs pass through :func:`~rollout.plan._markdown.mask_url`.

With a :class:`RolloutProgress` the document also shows how far a rollout got: checklist items
and validation checks are ticked only when they passed, each stage gets an ``Outcome`` line and
each environment its status. The output is a pure function of its inputs (no clock is read).

>>> from rollout.plan.model import Plan
>>> plan = Plan.model_validate({
...     "name": "checkout-v2",
...     "overview": {"summary": "New checkout."},
...     "checklist": [{"item": "All tests passing", "run": "make test"}],
...     "strategy": {"type": "canary"},
...     "environments": [{"name": "production"}],
...     "stages": [{"name": "Everyone", "audience": 100, "duration": "15m"}],
...     "rollback": [{"traffic": 0}],
... })
>>> document = render_document(plan)
>>> document.splitlines()[0]
'# Rollout Plan'
>>> "- [ ] All tests passing — gate: `make test`" in document
True
>>> "- **Duration:** 15 minutes" in document
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from rollout.plan._markdown import (
    EMPTY,
    code,
    describe_approval,
    describe_checks,
    describe_downgrade,
    describe_flag_value,
    describe_gate,
    describe_moment,
    describe_router,
    describe_source,
    describe_spike,
    describe_step,
    duration,
    join_words,
    latency,
    link,
    mask_url,
    number,
    one_line,
    percent,
    plural,
    short_audience,
    strategy_noun,
    table,
)
from rollout.plan.criteria import Criterion
from rollout.plan.model import (
    Announcement,
    Environment,
    Metric,
    Migrations,
    Plan,
    Stage,
)

# --------------------------------------------------------------------------- progress


class StageStatus(StrEnum):
    """Where a stage stands; the value is how the document says it."""

    NOT_STARTED = "not started"
    RUNNING = "running"
    PASSED = "passed"
    ROLLED_BACK = "rolled back"


class ValidationItem(StrEnum):
    """The four checks of the template's Post-Deployment Validation, in its order."""

    SMOKE = "smoke"
    ERROR_SPIKE = "no_error_spike"
    KEY_FLOWS = "key_flows"
    PERFORMANCE = "performance"


@dataclass(frozen=True)
class StageOutcome:
    """A stage's outcome and the verdict's reason in plain words; ``at`` is when it was reached."""

    status: StageStatus
    reason: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class EnvironmentStatus:
    """One environment's status in words (``deployed``, ``awaiting approval``, ...)."""

    name: str
    status: str


@dataclass(frozen=True)
class RolloutProgress:
    """How far a rollout got, for the document.

    ``checklist_passed`` holds the 0-based indexes of checklist items whose gate passed;
    ``stages`` the outcome of the plan's stages by position (stages past its end have not
    started); ``environments`` a status per environment name; ``validation_passed`` the
    validation checks that passed. ``state`` and ``as_of`` head the document when given.
    """

    checklist_passed: frozenset[int] = frozenset()
    stages: tuple[StageOutcome, ...] = ()
    environments: tuple[EnvironmentStatus, ...] = ()
    validation_passed: frozenset[ValidationItem] = frozenset()
    state: str | None = None
    as_of: datetime | None = None


# --------------------------------------------------------------------------- the template's shape

# Header and delimiter rows exactly as the template writes them.
ENVIRONMENT_TABLE = """\
| Environment | Purpose | Approval Required |
|------------|---------|-------------------|"""
FLAG_TABLE = """\
| Flag | Description | Default | Rollout % |
|------|-------------|---------|-----------|"""
COMMUNICATION_TABLE = """\
| Stage | Audience | Channel | Message |
|-------|----------|---------|---------|"""

GENERATED_NOTE = "<!-- Generated from the rollout plan by `rollout render`. Edit the plan. -->"


def render_document(plan: Plan, progress: RolloutProgress | None = None) -> str:
    """The rollout document of ``plan`` as Markdown (ends with one newline).

    Raises ValueError when ``progress`` does not fit the plan (more stage outcomes than
    stages, a checklist index out of range, an unknown environment): that is a caller's bug.
    """
    if progress is not None:
        _check_progress(plan, progress)
    sections = [
        ["# Rollout Plan", GENERATED_NOTE],
        _overview(plan, progress),
        _checklist(plan, progress),
        _strategy(plan),
        _environments(plan, progress),
        _flags(plan),
        _migrations(plan.migrations),
        _stages(plan, progress),
        _monitoring(plan),
        _rollback(plan),
        _communication(plan.communication),
        _validation(plan, progress),
        _related(plan),
    ]
    return "\n\n".join("\n".join(lines) for lines in sections) + "\n"


def _check_progress(plan: Plan, progress: RolloutProgress) -> None:
    if len(progress.stages) > len(plan.stages):
        raise ValueError(f"{len(progress.stages)} stage outcomes for {len(plan.stages)} stages")
    if any(not 0 <= index < len(plan.checklist) for index in progress.checklist_passed):
        raise ValueError("a passed checklist index is outside the plan's checklist")
    names = {env.name for env in plan.environments}
    unknown = [status.name for status in progress.environments if status.name not in names]
    if unknown:
        raise ValueError(f"progress names unknown environments: {', '.join(unknown)}")


def _when(at: datetime | None) -> str:
    return f" (as of {at.isoformat(sep=' ', timespec='seconds')})" if at else ""


def _criteria(criteria: Sequence[Criterion], last: str) -> str:
    return join_words([code(str(criterion)) for criterion in criteria], last)


def _checkbox(done: bool, text: str) -> str:
    return f"- [{'x' if done else ' '}] {text}"


# --------------------------------------------------------------------------- sections


def _overview(plan: Plan, progress: RolloutProgress | None) -> list[str]:
    overview = plan.overview
    what = " ".join(one_line(part) for part in (overview.service, overview.version) if part)
    of = f" of {what}" if what else ""
    route = " → ".join(code(env.name) for env in plan.environments)
    staged = join_words([code(env.name) for env in plan.environments if plan.is_staged(env)])
    ramp = " → ".join(short_audience(stage.audience) for stage in plan.stages)
    sentence = (
        f"Rollout {code(plan.name)}{of}: {strategy_noun(plan.strategy)} through {route}, "
        f"with {plural(len(plan.stages), 'stage')} ({ramp}) in {staged}."
    )
    if overview.owner:
        sentence += f" Owner: {one_line(overview.owner)}."
    lines = ["## Overview", overview.summary.strip(), "", sentence]
    if progress is not None and (progress.state or progress.as_of):
        state = one_line(progress.state or "in progress")
        lines += ["", f"**Status:** {state}{_when(progress.as_of)}."]
    return lines


def _checklist(plan: Plan, progress: RolloutProgress | None) -> list[str]:
    passed = progress.checklist_passed if progress else frozenset()
    lines = ["## Pre-Deployment Checklist"]
    for index, item in enumerate(plan.checklist):
        lines.append(_checkbox(index in passed, f"{one_line(item.item)} — {describe_gate(item)}"))
    return lines


def _strategy_line(plan: Plan) -> str:
    strategy = plan.strategy
    if strategy.type == "rolling" and strategy.rolling is not None:
        rolling = strategy.rolling
        text = (
            f"rolling, {plural(rolling.batch_size, 'instance')} at a time over "
            f"{plural(len(rolling.instances), 'instance')}, deployed by {code(rolling.deploy)}; "
            f"health check {code(rolling.health_check.name)} between batches"
        )
        if rolling.pause_between:
            text += f", then a pause of {duration(rolling.pause_between)}"
        return text
    routes = []
    for env in plan.environments:
        if plan.is_staged(env):
            route = describe_router(env.traffic, strategy)
            if route not in routes:
                routes.append(route)
    text = f"{strategy.type} via {join_words(routes)}"
    if strategy.type == "blue-green":
        blue_green = strategy.blue_green
        window = blue_green.rollback_window if blue_green else 3600.0
        text += f"; the old colour stays up for {duration(window)}, ready to switch back"
        if blue_green and blue_green.preview_checks:
            names = join_words([code(check.name) for check in blue_green.preview_checks])
            text += f"; preview checks {names} before the switch"
    return text


def _strategy(plan: Plan) -> list[str]:
    strategy = plan.strategy
    own = any(stage.rollback_trigger for stage in plan.stages)
    if strategy.rollback_trigger:
        trigger = f"{_criteria(strategy.rollback_trigger, 'or')}, judged in every stage"
        if own:
            trigger += ", besides each stage's own triggers"
    else:
        trigger = "each stage's own triggers (see Rollout Stages)" if own else "None"
    steps = plural(len(plan.rollback), "step")
    pointer = link("Rollback Plan", "#rollback-plan")
    if strategy.rollback == "automatic":
        procedure = f"automatic — the {pointer} ({steps}) runs as soon as a trigger fires"
    else:
        procedure = (
            f"manual — the rollout pauses and notifies when a trigger fires; an operator "
            f"starts the {pointer} ({steps})"
        )
    return [
        "## Deployment Strategy",
        f"- Strategy: {_strategy_line(plan)}",
        f"- Rollback trigger: {trigger}",
        f"- Rollback procedure: {procedure}",
    ]


def _environments(plan: Plan, progress: RolloutProgress | None) -> list[str]:
    statuses = {status.name: status.status for status in progress.environments} if progress else {}
    rows = []
    for env in plan.environments:
        name = env.name
        if progress is not None:
            name += f" ({one_line(statuses.get(env.name, 'not started'))})"
        rows.append([name, _purpose(plan, env), describe_approval(env.approval)])
    return ["## Environment Progression", *table(ENVIRONMENT_TABLE, rows)]


def _purpose(plan: Plan, env: Environment) -> str:
    purpose = one_line(env.purpose)
    if len(plan.environments) == 1 or not plan.is_staged(env):
        return purpose or EMPTY
    if purpose.endswith((".", "!", "?")):
        return f"{purpose} Rollout stages run here."
    return f"{purpose} (rollout stages run here)" if purpose else "Rollout stages run here"


def _flags(plan: Plan) -> list[str]:
    rows = [
        [
            code(spec.key),
            spec.description,
            describe_flag_value(spec.default),
            f"{percent(spec.rollout)} (serves {describe_flag_value(spec.serve)})",
        ]
        for spec in plan.flags
    ]
    if not rows:
        rows = [["None", EMPTY, EMPTY, EMPTY]]
    return ["## Feature Flags", *table(FLAG_TABLE, rows)]


def _migrations(migrations: Migrations | None) -> list[str]:
    heading = "## Database Migrations"
    if migrations is None:
        return [
            heading,
            "- Migration tool: None (this rollout changes no database schema)",
            f"- Backwards compatible: {EMPTY}",
            f"- Rollback migration: {EMPTY}",
        ]
    tool = f"Alembic ({code(migrations.config)})"
    if migrations.scratch_database_url:
        tool += "; the upgrade and downgrade are tried on a scratch database first"
    if migrations.backwards_compatible:
        compatible = "Yes — the current version keeps working on the new schema"
        if migrations.allow_incompatible:
            revisions = join_words([code(rev) for rev in migrations.allow_incompatible])
            compatible += f", except the deliberately breaking {revisions}"
    else:
        compatible = "No — the current version does not work on the new schema"
    if migrations.contract_revisions:
        contract = migrations.contract_revisions
        revisions = join_words([code(rev) for rev in contract])
        runs = "runs" if len(contract) == 1 else "run"
        noun = "revision" if len(contract) == 1 else "revisions"
        compatible += f"; contract {noun} {revisions} {runs} only after general availability"
    return [
        heading,
        f"- Migration tool: {tool}",
        f"- Backwards compatible: {compatible}",
        f"- Rollback migration: {describe_downgrade(migrations)}",
    ]


def _audience(plan: Plan, stage: Stage) -> str:
    """``5% of users``, ``segment `beta```, ``5% of segment `beta``` (the segment is who the
    stage opens to; the percentage is taken of it). A rolling update counts instances."""
    audience = stage.audience
    whole = "instances" if plan.strategy.type == "rolling" else "users"
    if audience.segment is None:
        text = f"{percent(audience.percent or 0.0)} of {whole}"
    elif audience.percent is None:
        text = f"segment {code(audience.segment)}"
    else:
        text = f"{percent(audience.percent)} of segment {code(audience.segment)}"
    if stage.flag is not None and stage.flag != plan.strategy.flag:
        text += f", via flag {code(stage.flag)}"
    if audience.reason:
        text += f" (lower than the previous stage: {one_line(audience.reason)})"
    return text


def _success(stage: Stage) -> str:
    if stage.success:
        text = _criteria(stage.success, "and")
    else:
        text = "None — the stage passes when its duration ends without a rollback trigger firing"
    if stage.min_requests:
        requests = "canary request" if stage.min_requests == 1 else "canary requests"
        text += f", with at least {stage.min_requests:,} {requests}"
    return text


def _trigger(plan: Plan, stage: Stage) -> str:
    plan_wide = "the plan-wide triggers (see Deployment Strategy)"
    if stage.rollback_trigger:
        text = _criteria(stage.rollback_trigger, "or")
        return f"{text}, or {plan_wide}" if plan.strategy.rollback_trigger else text
    return plan_wide[0].upper() + plan_wide[1:] if plan.strategy.rollback_trigger else "None"


def _outcome(outcome: StageOutcome) -> str:
    reason = f" — {one_line(outcome.reason)}" if outcome.reason else ""
    return f"- **Outcome:** {outcome.status.value}{reason}{_when(outcome.at)}"


def _stages(plan: Plan, progress: RolloutProgress | None) -> list[str]:
    lines = ["## Rollout Stages"]
    last = len(plan.stages) - 1
    for index, stage in enumerate(plan.stages):
        lines += [
            "",
            f"### Stage {index + 1}: {one_line(stage.name)}",
            f"- **Audience:** {_audience(plan, stage)}",
            f"- **Duration:** {duration(stage.duration)}",
            f"- **Success Criteria:** {_success(stage)}",
        ]
        # The template's last stage (general availability) has no trigger line; a plan that
        # gives its last stage triggers of its own still shows them.
        if index < last or stage.rollback_trigger:
            lines.append(f"- **Rollback Trigger:** {_trigger(plan, stage)}")
        if progress is not None:
            if index < len(progress.stages):
                lines.append(_outcome(progress.stages[index]))
            else:
                lines.append(_outcome(StageOutcome(StageStatus.NOT_STARTED)))
    return lines


def _baseline(value: str | None, metric: Metric | None, plan: Plan) -> str:
    """``value, from <source>``; without a value, how the baseline will be measured."""
    monitoring = plan.monitoring
    where = describe_source((metric.source if metric else None) or monitoring.source)
    if value is None and metric is not None and metric.baseline is not None:
        value = number(metric.baseline)
    if value is None:
        window = duration(monitoring.baseline_window)
        return f"measured over the {window} before the start, from {where}"
    return f"{value}, from {where}"


def _monitoring(plan: Plan) -> list[str]:
    monitoring = plan.monitoring
    metrics = monitoring.metrics
    error_rate = monitoring.error_rate_baseline
    latency_metric = next((m for m in metrics.values() if m.kind == "latency"), None)
    latency_value = monitoring.latency_baseline
    error_line = _baseline(
        percent(error_rate) if error_rate is not None else None, metrics.get("error_rate"), plan
    )
    latency_line = _baseline(
        latency(latency_value) if latency_value is not None else None, latency_metric, plan
    )
    business = monitoring.business_metric
    if business is None:
        business_line = "None"
    else:
        value = monitoring.business_baseline
        shown = number(value) if value is not None else None
        business_line = f"{code(business)}: {_baseline(shown, metrics.get(business), plan)}"
    return [
        "## Monitoring During Rollout",
        f"- Error rate baseline: {error_line}",
        f"- Latency baseline: {latency_line}",
        f"- Key business metric baseline: {business_line}",
    ]


def _rollback(plan: Plan) -> list[str]:
    steps = [f"{index}. {describe_step(plan, step)}" for index, step in enumerate(plan.rollback, 1)]
    return ["## Rollback Plan", *steps]


def _communication(announcements: Sequence[Announcement]) -> list[str]:
    rows = [
        [
            ", ".join(describe_moment(moment) for moment in row.when),
            row.audience,
            code(mask_url(row.channel)),
            row.message,
        ]
        for row in announcements
    ]
    if not rows:
        rows = [["None", EMPTY, EMPTY, EMPTY]]
    return ["## Communication Plan", *table(COMMUNICATION_TABLE, rows)]


def _validation(plan: Plan, progress: RolloutProgress | None) -> list[str]:
    validation = plan.validation
    passed = progress.validation_passed if progress else frozenset()
    window = validation.window
    items = [
        (ValidationItem.SMOKE, "Smoke tests passing", describe_checks(validation.smoke)),
        (
            ValidationItem.ERROR_SPIKE,
            "No error rate spike",
            describe_spike(validation.no_error_spike, window),
        ),
        (
            ValidationItem.KEY_FLOWS,
            "Key user flows verified",
            describe_checks(validation.key_flows),
        ),
        (
            ValidationItem.PERFORMANCE,
            "Performance within baseline",
            describe_spike(validation.performance, window),
        ),
    ]
    lines = ["## Post-Deployment Validation"]
    lines += [_checkbox(item in passed, f"{label} — {detail}") for item, label, detail in items]
    return lines


_RELATIONS = (("informed_by", "Informed by"), ("informs", "Informs"), ("related", "Related"))


def _related(plan: Plan) -> list[str]:
    lines = ["## Related Documents"]
    for relation, label in _RELATIONS:
        links = [link(doc.title, doc.path) for doc in plan.related if doc.relation == relation]
        # The template always has the "Informed by" line; the others appear when used.
        if links or relation == "informed_by":
            lines.append(f"- **{label}:** {', '.join(links) or 'None'}")
    return lines
