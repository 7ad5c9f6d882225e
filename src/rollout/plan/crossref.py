"""Cross-checks: mistakes that pass each section's own rules but would only show mid-rollout.

:func:`cross_check` takes a plan whose sections are each valid and returns every problem found
between them, as ``(field path, message)``; the loader places each at its line and column. The
rules, and the choices behind them:

Names and references
  - environment names, flag keys and stage names are unique;
  - every flag named by the strategy, a stage, a flag router or a rollback step is in ``flags``;
  - a flag's ``default`` and ``serve`` are the same type (both true/false, numbers or text);
  - a stage that ramps through the flag router (the default router) has a flag to ramp: its
    own ``flag``, the router's, or the strategy's;
  - a rollback ``traffic:`` step has a router to act on (an explicit ``traffic`` router, or the
    default flag router with a flag to set);
  - in a rolling rollout a rollback ``traffic:`` step puts instances back with
    ``strategy.rolling.undeploy``, so it needs one; and an ``undeploy`` command only ever runs
    in such a step, so a rollback without one would leave the upgraded instances upgraded;
  - ``migrate: rollback`` steps and ``migrations: tested`` gates need a ``migrations`` section;
  - a ``notify`` step names an audience of the communication plan (or a channel directly);
  - communication ``when`` entries are known moments or ``stage:<a stage's name>``.

Metrics
  - every criterion's metric is known: built in (``error_rate``, ``latency_pNN`` such as
    ``latency_p99`` or ``latency_p99.9``) or defined under ``monitoring.metrics``;
  - a time threshold is not given for a rate and a percentage is not given for a latency;
  - ``monitoring.business_metric`` (and the validation checks' metrics) are known metrics, and a
    ``business_baseline`` has a ``business_metric`` to belong to;
  - a ``conversion`` or ``count`` metric measured by the built-in telemetry names the tracked
    event it counts (``queries: {event: checkout}``, what the SDK's ``track()`` records); a
    ``mean`` metric needs another source (the telemetry does not judge means yet).

Stages
  - audiences do not fall from one stage to the next (per flag) unless the later stage says
    why in ``audience.reason``; equal audiences are allowed (a longer bake). A segment stage
    serves a share of its segment's members and nobody else, so it is compared like with
    like: with an earlier stage of the same segment, and as a narrowing after a share of
    everyone; a share of everyone after a segment stage is not a fall (the rules and their
    reasons: :mod:`rollout.plan.audiences`);
  - the last stage of each flag reaches where the rollout ends — the flag's ``rollout`` %, or
    100 % without a flag, a share of everyone, which a segment stage (even at 100 %) is not —
    and no stage goes beyond it. This is an error, not a warning: whatever lies between the
    last stage and the end would be exposed without being judged;
  - a stage for 0% of a segment is refused: it serves nobody, which its segment hides (a stage
    for nobody is ``audience: 0``);
  - a stage lasts at least one monitoring interval, or it would end before being judged once;
  - a stage at 0% has no success criteria or ``min_requests`` (no data would ever arrive, and
    "no data" holds a stage rather than passing it);
  - a stage names a segment only where it can be applied: a canary or feature-flag rollout
    whose staged environments move traffic with the flag router (an nginx, haproxy or command
    router shifts a share of requests and cannot pick people; a rolling rollout replaces whole
    instances; a blue-green rollout switches everyone at once);
  - a stage that serves everyone (100% with no segment) has no control arm, so its own
    criteria do not compare with the control (``<= control * 1.1``, ``no regression``,
    ``no drop``): such a success criterion could never pass and the stage would end in a
    rollback for want of data, and such a trigger could never fire. Absolute thresholds and
    post-deployment validation against the baselines judge a release everyone already has.
    The strategy's rollback triggers apply in every stage; one that compares with the control
    simply has nothing to compare in a stage that serves everyone;
  - at least one environment runs the stages.

Environments
  - approvers listed on an approval that is not required are an error (nobody would be asked);
    ``required: true`` with no approvers is fine: anyone holding the approver role may approve.

A stage with no criteria of its own is allowed: it passes on time alone, still guarded by the
strategy's rollback triggers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Literal

from rollout.plan.audiences import (
    Groups,
    Reach,
    by_flag,
    falls,
    final_audiences,
    reach,
    zero_segments,
)
from rollout.plan.criteria import Criterion, NoRegression, RelativeToControl, latency_percentile
from rollout.plan.model import MOMENTS, FlagRouter, Plan, Stage
from rollout.plan.wording import did_you_mean, quoted

Path = tuple[str | int, ...]
Finding = tuple[Path, str]

_BUILTIN_METRICS = ("error_rate", "latency_p50", "latency_p95", "latency_p99")
_STAGE_MOMENT = "stage:"
MetricKind = Literal["error_rate", "latency", "conversion", "mean", "count"]


def cross_check(plan: Plan) -> list[Finding]:
    """Every cross-reference problem of ``plan``, as ``(path, message)`` in section order.

    Paths are 0-based like the loader's: ``(("stages", 1, "flag"), "unknown flag 'x' ...")``.
    An empty list means the plan's sections agree with each other.
    """
    checks = (
        _unique_names,
        _flag_values,
        _flag_references,
        _stage_flags,
        _criteria_metrics,
        _monitoring,
        _builtin_metrics,
        _audiences,
        _final_audience,
        zero_segments,
        _stage_durations,
        _stage_segments,
        _environments,
        _rollback_steps,
        _rolling_rollback,
        _communication,
        _checklist,
        _validation,
    )
    return [finding for check in checks for finding in check(plan)]


# --------------------------------------------------------------------------- names


def _unique_names(plan: Plan) -> Iterator[Finding]:
    lists: tuple[tuple[str, str, str, Iterable[str]], ...] = (
        ("environments", "name", "environment", (env.name for env in plan.environments)),
        ("flags", "key", "flag", (flag.key for flag in plan.flags)),
        ("stages", "name", "stage", (stage.name for stage in plan.stages)),
    )
    for section, field, what, names in lists:
        first: dict[str, int] = {}
        for index, name in enumerate(names):
            if name in first:
                yield (
                    (section, index, field),
                    f"{what} '{name}' is already defined at {section}[{first[name]}]",
                )
            else:
                first[name] = index
    if plan.strategy.rolling is not None:
        seen: set[str] = set()
        for index, instance in enumerate(plan.strategy.rolling.instances):
            if instance in seen:
                path: Path = ("strategy", "rolling", "instances", index)
                yield path, f"instance '{instance}' is listed twice"
            seen.add(instance)


def _value_kind(value: object) -> str:
    if isinstance(value, bool):
        return "true or false"
    return "a number" if isinstance(value, int | float) else "text"


def _flag_values(plan: Plan) -> Iterator[Finding]:
    for index, flag in enumerate(plan.flags):
        default, serve = _value_kind(flag.default), _value_kind(flag.serve)
        if default != serve:
            yield (
                ("flags", index, "serve"),
                f"'serve' is {serve} but 'default' is {default}: a flag serves one type of "
                "value, so that every SDK reads it the same way",
            )


def _flag_references(plan: Plan) -> Iterator[Finding]:
    keys = [flag.key for flag in plan.flags]

    def check(path: Path, key: str | None) -> Iterator[Finding]:
        if key is None or key in keys:
            return
        if not keys:
            yield path, f"unknown flag '{key}': define it under 'flags'"
        else:
            yield path, f"unknown flag '{key}'{did_you_mean(key, keys) or _known(keys)}"

    yield from check(("strategy", "flag"), plan.strategy.flag)
    for index, env in enumerate(plan.environments):
        if isinstance(env.traffic, FlagRouter):
            yield from check(("environments", index, "traffic", "flag"), env.traffic.flag)
    for index, stage in enumerate(plan.stages):
        yield from check(("stages", index, "flag"), stage.flag)
    for index, step in enumerate(plan.rollback):
        if step.flag is not None:
            yield from check(("rollback", index, "flag", "key"), step.flag.key)


def _known(names: Iterable[str]) -> str:
    return f" (known: {quoted(names)})"


def _flag_routed(plan: Plan) -> list[tuple[int, FlagRouter | None]]:
    """Staged environments whose traffic moves through the flag router (explicit or default)."""
    return [
        (index, env.traffic)
        for index, env in enumerate(plan.environments)
        if plan.is_staged(env) and (env.traffic is None or isinstance(env.traffic, FlagRouter))
    ]


def _unflagged_environment(plan: Plan) -> str | None:
    """A staged environment using the flag router with no flag to fall back on, if any.

    A stage ramps its own ``flag``, else the router's, else the strategy's. A rolling rollout
    moves instances, not a flag, so it needs none.
    """
    if plan.strategy.flag is not None or plan.strategy.type == "rolling":
        return None
    for index, router in _flag_routed(plan):
        if router is None or not router.flag:
            return plan.environments[index].name
    return None


def _unflagged_stages(plan: Plan) -> tuple[str | None, list[int], bool]:
    """(environment, stages with nothing to ramp, whether that is every ramping stage)."""
    env = _unflagged_environment(plan)
    ramping = [i for i, stage in enumerate(plan.stages) if stage.audience.percent is not None]
    if env is None:
        return None, [], False
    lacking = [i for i in ramping if plan.stages[i].flag is None]
    return env, lacking, bool(lacking) and len(lacking) == len(ramping)


def _stage_flags(plan: Plan) -> Iterator[Finding]:
    env, lacking, every = _unflagged_stages(plan)
    reason = f"environment '{env}' moves traffic with the flag router (the default)"
    if every:
        yield (
            ("strategy",),
            f"no flag to ramp: {reason}; set 'strategy.flag', or give the environment "
            "another 'traffic' router",
        )
        return
    for index in lacking:
        yield (
            ("stages", index),
            f"no flag to ramp: {reason}; set this stage's 'flag' or 'strategy.flag'",
        )


# --------------------------------------------------------------------------- metrics


def _metric_kinds(plan: Plan) -> dict[str, MetricKind]:
    kinds: dict[str, MetricKind] = {
        name: metric.kind for name, metric in plan.monitoring.metrics.items()
    }
    kinds.setdefault("error_rate", "error_rate")
    return kinds


def _kind_of(plan: Plan, name: str) -> MetricKind | None:
    """The kind of metric ``name`` names, or None when the plan does not know it."""
    kinds = _metric_kinds(plan)
    if name in kinds:
        return kinds[name]
    if latency_percentile(name) is not None:
        return "latency"
    return None


def _unknown_metric(plan: Plan, name: str) -> str:
    options = [*_BUILTIN_METRICS, *plan.monitoring.metrics]
    hint = did_you_mean(name, options)
    if hint:
        return f"unknown metric '{name}'{hint}"
    return (
        f"unknown metric '{name}': define it under 'monitoring.metrics' (built in are "
        "error_rate and latency_pNN, such as latency_p99 or latency_p99.9)"
    )


def _criteria(plan: Plan) -> Iterator[tuple[Path, Criterion]]:
    for index, criterion in enumerate(plan.strategy.rollback_trigger):
        yield ("strategy", "rollback_trigger", index), criterion
    for stage_index, stage in enumerate(plan.stages):
        for field in ("success", "rollback_trigger"):
            for index, criterion in enumerate(getattr(stage, field)):
                yield ("stages", stage_index, field, index), criterion


def _criteria_metrics(plan: Plan) -> Iterator[Finding]:
    for path, criterion in _criteria(plan):
        kind = _kind_of(plan, criterion.metric)
        if kind is None:
            yield path, _unknown_metric(plan, criterion.metric)
            continue
        where = path[1] if path[0] == "stages" else None
        stage = plan.stages[where] if isinstance(where, int) else None
        if stage is not None and _serves_everyone(plan, stage) and _against_control(criterion):
            yield (
                path,
                f"'{criterion}' compares with the control, but at 100% everyone has the new "
                "version and there is no control left: use an absolute threshold "
                "(e.g. 'error_rate < 1%') or judge it in an earlier stage",
            )
            continue
        if isinstance(criterion, NoRegression):
            continue
        if criterion.unit == "ms" and kind != "latency":
            yield path, f"'{criterion.metric}' is not a latency: compare it with a %, not a time"
        elif criterion.unit == "ratio" and kind == "latency":
            yield path, f"'{criterion.metric}' is a latency: compare it with a time such as 300ms"


def _monitoring(plan: Plan) -> Iterator[Finding]:
    monitoring = plan.monitoring
    name = monitoring.business_metric
    if name is not None and name not in monitoring.metrics:
        hint = did_you_mean(name, monitoring.metrics) or _known(monitoring.metrics)
        if not monitoring.metrics:
            hint = ""
        yield (
            ("monitoring", "business_metric"),
            f"business metric '{name}' is not defined under 'monitoring.metrics'{hint}",
        )
    if monitoring.business_baseline is not None and name is None:
        yield (
            ("monitoring", "business_baseline"),
            "a business baseline needs 'business_metric': the metric it is the baseline of",
        )


def _builtin_metrics(plan: Plan) -> Iterator[Finding]:
    monitoring = plan.monitoring
    for name, metric in monitoring.metrics.items():
        source = metric.source or monitoring.source
        if source.type != "builtin":
            continue
        where: Path = ("monitoring", "metrics", name)
        if metric.kind == "mean":
            yield (
                (*where, "kind"),
                f"metric '{name}' is a mean, which the built-in telemetry does not measure; "
                "give it a prometheus or command source",
            )
        elif metric.kind in ("conversion", "count") and not metric.queries.get("event"):
            yield (
                (*where, "queries") if metric.queries else where,
                f"metric '{name}' counts a tracked event on the built-in telemetry: name it "
                "with 'queries: {event: <name>}' (the name the application passes to track())",
            )


def _validation(plan: Plan) -> Iterator[Finding]:
    for field in ("no_error_spike", "performance"):
        check = getattr(plan.validation, field)
        if check is not None and _kind_of(plan, check.metric) is None:
            yield ("validation", field, "metric"), _unknown_metric(plan, check.metric)


# --------------------------------------------------------------------------- stages


def _by_flag(plan: Plan) -> Groups:
    groups = by_flag(plan)
    if _unflagged_environment(plan) is not None:
        groups.pop(None, None)  # those stages are reported as having no flag to ramp
    return groups


def _audiences(plan: Plan) -> Iterator[Finding]:
    return falls(_by_flag(plan))


def _final_audience(plan: Plan) -> Iterator[Finding]:
    return final_audiences(plan, _by_flag(plan))


def _against_control(criterion: Criterion) -> bool:
    return isinstance(criterion, RelativeToControl | NoRegression)


def _serves_everyone(plan: Plan, stage: Stage) -> bool:
    return reach(plan, stage) == Reach(100.0)


def _stage_durations(plan: Plan) -> Iterator[Finding]:
    interval = plan.monitoring.interval
    for index, stage in enumerate(plan.stages):
        if reach(plan, stage) == Reach(0.0) and (stage.success or stage.min_requests):
            yield (
                ("stages", index, "audience"),
                "at 0% nobody uses the new version, so this stage's success criteria and "
                "min_requests could never be met: give it an audience or drop them",
            )
        if stage.duration < interval:
            yield (
                ("stages", index, "duration"),
                f"the stage lasts {stage.duration:g}s, less than the monitoring interval "
                f"({interval:g}s): it would end before being judged once",
            )


_NO_SEGMENTS = {
    "rolling": "a rolling rollout replaces whole instances, so everyone reaching one gets the "
    "new version; give this stage a percentage of instances instead",
    "blue-green": "a blue-green rollout switches all traffic at once; drop the segment (a "
    "canary or feature-flag rollout can open a stage to a segment)",
}


def _stage_segments(plan: Plan) -> Iterator[Finding]:
    """A stage's segment is applied through a flag: nowhere else can it pick people."""
    routers = [
        (env.name, env.traffic.type)
        for env in plan.environments
        if plan.is_staged(env)
        and env.traffic is not None
        and not isinstance(env.traffic, FlagRouter)
    ]
    why = _NO_SEGMENTS.get(plan.strategy.type)
    for index, stage in enumerate(plan.stages):
        segment = stage.audience.segment
        if segment is None:
            continue
        path: Path = ("stages", index, "audience", "segment")
        if why is not None:
            yield path, f"segment '{segment}' cannot be applied: {why}"
        elif routers:
            env, kind = routers[0]
            yield (
                path,
                f"segment '{segment}' cannot be applied: environment '{env}' moves traffic with "
                f"the {kind} router, which shifts a share of requests and cannot pick people; "
                "use the flag router there (traffic: {type: flag}) or give this stage a "
                "percentage instead",
            )


# --------------------------------------------------------------------------- environments


def _environments(plan: Plan) -> Iterator[Finding]:
    if not any(plan.is_staged(env) for env in plan.environments):
        yield (
            ("environments",),
            "no environment runs the rollout stages (every one has 'staged: false')",
        )
    for index, env in enumerate(plan.environments):
        approval = env.approval
        if approval.approvers and not approval.required:
            yield (
                ("environments", index, "approval", "approvers"),
                "approvers are listed but approval is not required: add 'required: true'",
            )


# --------------------------------------------------------------------------- rollback


def _rollback_steps(plan: Plan) -> Iterator[Finding]:
    audiences = [row.audience for row in plan.communication]
    for index, step in enumerate(plan.rollback):
        path: Path = ("rollback", index)
        if step.migrate is not None and plan.migrations is None:
            yield (
                (*path, "migrate"),
                "a migration rollback needs a 'migrations' section (tool, database_url, ...)",
            )
        # With no flag anywhere, the strategy-level "no flag to ramp" already says it all; a
        # rolling rollout's traffic step puts instances back instead (_rolling_rollback).
        if (
            step.traffic is not None
            and plan.strategy.type != "rolling"
            and not _has_router(plan)
            and not _unflagged_stages(plan)[2]
        ):
            yield (
                (*path, "traffic"),
                "no traffic router to act on: give an environment a 'traffic' router, or set "
                "'strategy.flag' for the default flag router",
            )
        notify = step.notify
        if notify is None:
            continue
        if notify.audience is None and notify.channel is None:
            yield (
                (*path, "notify"),
                "a notify step needs an 'audience' from the communication plan or a 'channel'",
            )
        elif notify.audience is not None and notify.audience not in audiences:
            hint = did_you_mean(notify.audience, audiences) or (
                _known(dict.fromkeys(audiences)) if audiences else ""
            )
            yield (
                (*path, "notify", "audience"),
                f"audience '{notify.audience}' is not in the communication plan{hint}",
            )


def _rolling_rollback(plan: Plan) -> Iterator[Finding]:
    rolling = plan.strategy.rolling
    if plan.strategy.type != "rolling" or rolling is None:
        return
    steps = [index for index, step in enumerate(plan.rollback) if step.traffic is not None]
    if rolling.undeploy is None:
        for index in steps:
            yield (
                ("rollback", index, "traffic"),
                "a rolling rollout puts instances back with 'strategy.rolling.undeploy', which "
                "is not set: add it, or restore the instances with a 'run' step",
            )
    elif not steps:
        yield (
            ("strategy", "rolling", "undeploy"),
            "'undeploy' only runs in a rollback 'traffic' step, and the rollback has none, so "
            "upgraded instances would stay upgraded: add '- traffic: 0' to 'rollback' (it puts "
            "every upgraded instance back, newest first), or drop 'undeploy' if a 'run' step "
            "restores them",
        )


def _has_router(plan: Plan) -> bool:
    for env in plan.environments:
        if env.traffic is not None and not isinstance(env.traffic, FlagRouter):
            return True
        router_flag = env.traffic.flag if env.traffic is not None else None
        if router_flag or plan.strategy.flag:
            return True
    return False


# --------------------------------------------------------------------------- communication


def _communication(plan: Plan) -> Iterator[Finding]:
    stages = [stage.name for stage in plan.stages]
    for row_index, row in enumerate(plan.communication):
        for index, moment in enumerate(row.when):
            path: Path = ("communication", row_index, "when", index)
            if moment.startswith(_STAGE_MOMENT):
                name = moment.removeprefix(_STAGE_MOMENT).strip()
                if name not in stages:
                    hint = did_you_mean(name, stages) or _known(stages)
                    yield path, f"no stage is called '{name}'{hint}"
            elif moment not in MOMENTS:
                hint = did_you_mean(moment, MOMENTS) or (
                    f": expected one of {quoted(MOMENTS)} or 'stage:<stage name>'"
                )
                yield path, f"unknown moment '{moment}'{hint}"


# --------------------------------------------------------------------------- checklist


def _checklist(plan: Plan) -> Iterator[Finding]:
    for index, item in enumerate(plan.checklist):
        if item.migrations is not None and plan.migrations is None:
            yield (
                ("checklist", index, "migrations"),
                "nothing to test: the plan has no 'migrations' section",
            )
