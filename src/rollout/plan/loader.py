"""Load a rollout plan from YAML, reporting every problem at once with its line and column.

A plan with mistakes raises :class:`rollout.errors.PlanError`; its ``problems`` are all the
problems found, each rendered as ``file:line:column: field.path: what is wrong``::

    rollout.yaml:14:17: stages[1].duration: unknown unit 'mins' (use ms, s, m, h, d or w)
    rollout.yaml:21:5: stages[2].durration: unknown key (did you mean 'duration'?)
    rollout.yaml:30:10: strategy.type: expected one of 'canary', 'blue-green', 'rolling',
        'feature-flag', found 'canery' (did you mean 'canary'?)

Lines and columns are 1-based (as editors show them); field paths are 0-based
(``stages[0]`` is the first stage). A criterion or duration that does not parse is located at
the offending character inside the string. Problems come in three layers, and every layer that
can run does: reading the YAML (syntax, duplicate keys), each section's own rules (types,
required and unknown keys), then the cross-checks between sections
(:mod:`rollout.plan.crossref`), which need every section valid first.

Values are kept exactly as written: ``${DATABASE_URL}`` stays that text (secrets are expanded
only by the part that uses them, at the moment it uses them).
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import ValidationError

from rollout.errors import PlanError, Problem
from rollout.plan.crossref import cross_check
from rollout.plan.model import Plan
from rollout.plan.problems import explain, format_path, locate
from rollout.plan.source import Source, read_yaml


def load_plan(path: str | os.PathLike[str]) -> Plan:
    """Read and validate the plan at ``path``; raise :class:`PlanError` listing every problem.

    A file that cannot be read (missing, a directory, not UTF-8) is a ``PlanError`` too, with
    one problem at line 0 (no line).
    """
    name = os.fspath(path)
    try:
        text = Path(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError([Problem(name, 0, 0, "", "no such file")]) from None
    except IsADirectoryError:
        raise PlanError([Problem(name, 0, 0, "", "is a directory, not a plan file")]) from None
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text (byte {exc.start} cannot be decoded); save the plan as UTF-8"
        raise PlanError([Problem(name, 0, 0, "", message)]) from None
    except OSError as exc:
        raise PlanError([Problem(name, 0, 0, "", f"cannot read: {exc.strerror}")]) from None
    return load_plan_text(text, name)


def load_plan_text(text: str, filename: str = "<plan>") -> Plan:
    """Validate the plan in ``text``; ``filename`` only names it in problems.

    Raises :class:`PlanError` with every problem found, sorted by line and column.
    """
    source = read_yaml(text)
    problems = [
        Problem(filename, found.line, found.column, format_path(found.path), found.message)
        for found in source.problems
    ]
    if source.data is None:
        raise PlanError(problems)
    try:
        plan = Plan.model_validate(source.data)
    except ValidationError as exc:
        for item in explain(exc.errors(include_url=False), source, Plan):
            problems.append(
                Problem(filename, item.line, item.column, format_path(item.path), item.message)
            )
        raise PlanError(problems) from None
    problems.extend(_cross_problems(plan, source, filename))
    if problems:
        raise PlanError(problems)
    return plan


def _cross_problems(plan: Plan, source: Source, filename: str) -> list[Problem]:
    problems = []
    for path, message in cross_check(plan):
        line, column = locate(source, path)
        problems.append(Problem(filename, line, column, format_path(path), message))
    return problems
