"""Load a scenario from YAML with the plan loader's care: every problem at once, at its line and
column, worded for the person editing the file.

Two layers, like a plan: the scenario's own rules (types, required and unknown keys), then,
when a plan is given, the checks between the two: every environment, checklist item, check,
segment and metric the scenario names exists in the plan, every segment a stage opens to has a
size, and every count or mean metric the plan judges has a value to simulate::

    slow.yaml:12:5: world.approvals.prodution: the plan has no environment 'prodution'
        (did you mean 'production'?)

Problems are raised as :class:`rollout.errors.PlanError` (the input files of a rollout are the
plan and, for a dry run, its scenario), so the CLI reports them like a plan's, with exit code 2.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from pydantic import ValidationError

from rollout.errors import PlanError, Problem
from rollout.plan.model import Plan
from rollout.plan.problems import explain, format_path, locate
from rollout.plan.source import Path as FieldPath
from rollout.plan.source import read_yaml
from rollout.plan.wording import did_you_mean
from rollout.simulate.behaviour import metric_kinds
from rollout.simulate.scenario import MeanValue, Scenario

Finding = tuple[FieldPath, str, bool]
"""A mismatch: the field path, the message, and whether the key (a name) is at fault rather
than the value."""


def load_scenario(path: str | os.PathLike[str], plan: Plan | None = None) -> Scenario:
    """Read and validate the scenario at ``path`` (against ``plan`` when given).

    Raises :class:`PlanError` listing every problem; a file that cannot be read is one problem
    without a line.
    """
    name = os.fspath(path)
    try:
        text = Path(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError([Problem(name, 0, 0, "", "no such file")]) from None
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text (byte {exc.start} cannot be decoded); save it as UTF-8"
        raise PlanError([Problem(name, 0, 0, "", message)]) from None
    except OSError as exc:
        raise PlanError([Problem(name, 0, 0, "", f"cannot read: {exc.strerror}")]) from None
    return load_scenario_text(text, name, plan)


def load_scenario_text(
    text: str, filename: str = "<scenario>", plan: Plan | None = None
) -> Scenario:
    """Validate the scenario in ``text``; ``filename`` only names it in problems.

    >>> load_scenario_text("traffic: {requests_per_second: 5}").traffic.users
    100000
    >>> load_scenario_text("traffic: {requests_per_second: five}", "s.yaml")
    Traceback (most recent call last):
    ...
    rollout.errors.PlanError: s.yaml:1:32: traffic.requests_per_second: expected a number, \
found 'five'
    """
    source = read_yaml(text)
    problems = [
        Problem(filename, p.line, p.column, format_path(p.path), _reword(p.message))
        for p in source.problems
    ]
    if source.data is None:
        raise PlanError(problems)
    try:
        scenario = Scenario.model_validate(source.data)
    except ValidationError as exc:
        for item in explain(exc.errors(include_url=False), source, Scenario):
            problems.append(
                Problem(filename, item.line, item.column, format_path(item.path), item.message)
            )
        raise PlanError(problems) from None
    if plan is not None:
        for path, message, at_key in cross_check(scenario, plan):
            line, column = locate(source, path, at_key=at_key)
            problems.append(Problem(filename, line, column, format_path(path), message))
    if problems:
        raise PlanError(problems)
    return scenario


def _reword(message: str) -> str:
    # The YAML reader speaks of plans; the few messages about the whole file say "scenario".
    if message.startswith("the plan is empty"):
        return "the scenario is empty (see examples/scenarios/ for a start)"
    return message.replace("the plan must be a mapping of sections (name:, overview:, ...)",
                           "a scenario must be a mapping (traffic:, control:, ...)")  # fmt: skip


# --------------------------------------------------------------------------- cross-checks


def cross_check(scenario: Scenario, plan: Plan) -> list[Finding]:
    """Every mismatch between ``scenario`` and ``plan``."""
    return [
        *_environments(scenario, plan),
        *_names(scenario, plan),
        *_segments(scenario, plan),
        *_metrics(scenario, plan),
    ]


def _unknown(
    path: FieldPath, what: str, name: str, known: Iterable[str], *, at_key: bool = True
) -> Finding:
    return path, f"the plan has no {what} '{name}'{did_you_mean(name, known)}", at_key


def _environments(scenario: Scenario, plan: Plan) -> Iterator[Finding]:
    names = [env.name for env in plan.environments]
    keyed: tuple[tuple[FieldPath, Iterable[str]], ...] = (
        (("traffic", "environments"), scenario.traffic.environments),
        (("world", "approvals"), scenario.world.approvals),
        (("world", "deploys"), scenario.world.deploys),
    )
    for where, mapping in keyed:
        for key in mapping:
            if key != "default" and key not in names:
                yield _unknown((*where, key), "environment", key, names)
    for index, regression in enumerate(scenario.regressions):
        env = regression.environment
        if env is not None and env not in names:
            where = ("regressions", index, "environment")
            yield _unknown(where, "environment", env, names, at_key=False)


def _names(scenario: Scenario, plan: Plan) -> Iterator[Finding]:
    automatic = [item.item for item in plan.checklist if item.manual is None]
    manual = [item.item for item in plan.checklist if item.manual is not None]
    checks = [check.name for check in (*plan.validation.smoke, *plan.validation.key_flows)]
    if plan.strategy.blue_green is not None:
        checks.extend(check.name for check in plan.strategy.blue_green.preview_checks)
    if plan.strategy.rolling is not None:
        checks.append(plan.strategy.rolling.health_check.name)
    keyed = (
        (("world", "gates"), scenario.world.gates, automatic, "checklist item that runs"),
        (("world", "sign_offs"), scenario.world.sign_offs, manual, "manual checklist item"),
        (("world", "checks"), scenario.world.checks, checks, "check"),
    )
    for where, mapping, known, what in keyed:
        for key in mapping:
            if key != "default" and key not in known:
                yield _unknown((*where, key), what, key, known)


def _segments(scenario: Scenario, plan: Plan) -> Iterator[Finding]:
    used = {stage.audience.segment: stage for stage in plan.stages if stage.audience.segment}
    for segment, stage in used.items():
        if segment not in scenario.segments:
            yield (
                ("segments",),
                f"the stage '{stage.name}' opens to the segment '{segment}': say what share of "
                f"users it holds (segments: {{{segment}: 2%}})",
                True,
            )
    for segment in scenario.segments:
        if segment not in used:
            yield _unknown(("segments", segment), "segment", segment, used)


def _metrics(scenario: Scenario, plan: Plan) -> Iterator[Finding]:
    kinds = metric_kinds(plan)
    custom = {name: kind for name, kind in kinds.items() if kind in ("conversion", "count", "mean")}
    for arm in ("control", "canary"):
        values = getattr(scenario, arm).metrics
        for name, value in values.items():
            path: FieldPath = (arm, "metrics", name)
            if name not in custom:
                yield _unknown(path, "conversion, count or mean metric", name, custom)
            elif (custom[name] == "mean") != isinstance(value, MeanValue):
                wanted = "{mean: ..., sd: ...}" if custom[name] == "mean" else "a rate like 0.5%"
                yield path, f"'{name}' is a {custom[name]} metric: give it as {wanted}", False
    for index, regression in enumerate(scenario.regressions):
        for name in regression.metrics:
            if name not in custom:
                path = ("regressions", index, "metrics", name)
                yield _unknown(path, "conversion, count or mean metric", name, custom)
    for name, kind in custom.items():
        if kind != "conversion" and name not in scenario.control.metrics:
            example = "{mean: 50, sd: 10}" if kind == "mean" else "0.1%"
            yield (
                ("control", "metrics"),
                f"the plan judges '{name}', a {kind} metric: give its value under "
                f"control.metrics ({name}: {example})",
                True,
            )
