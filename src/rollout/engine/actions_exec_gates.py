"""Checklist gates the executor runs itself (:func:`run_gate`).

``run``/``http`` items run their check once (the engine re-issues a failed attempt);
``migrations: tested`` runs the round trip on a scratch database; ``rollback: documented``
proves every rollback step can run here (its router, flag, program on ``PATH`` or migration
project is there); ``monitoring: configured`` asks every metric the plan judges for its last
interval (an error fails the gate, no data does not: nothing may flow before the rollout).
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from rollout.engine._judging import spec_for, spike_checks, triggers
from rollout.engine.actions import RunGate
from rollout.engine.actions_exec_world import Done, checked, plan_flag
from rollout.errors import RolloutError
from rollout.plan.model import FlagRouter
from rollout.providers.checks import run_check
from rollout.providers.metrics import ArmSelector, NoData, fetch_metric
from rollout.providers.migrations import Migrator, run_migrations_gate
from rollout.providers.migrations.tool import Verdict as MigrationVerdict
from rollout.providers.traffic import RouterContext, router_for

if TYPE_CHECKING:
    from rollout.engine.actions_exec import ActionExecutor

# Shell words that run without a program on PATH.
_BUILTINS = frozenset(
    {
        ":",
        ".",
        "cd",
        "echo",
        "eval",
        "exec",
        "exit",
        "export",
        "false",
        "printf",
        "set",
        "test",
        "[",
        "true",
        "unset",
    }
)


def run_gate(ex: ActionExecutor, action: RunGate, now: float) -> Done:
    """Prove checklist item ``action.item`` (see the module docstring)."""
    item = action.item
    if item.gate in ("run", "http"):
        return checked(run_check(item, ex.context(action), retries=0))
    if item.gate == "migrations":
        if ex.plan.migrations is None:
            return Done(False, "the plan has no 'migrations' section to test")
        report = run_migrations_gate(ex.plan.migrations, ex.base_dir, ex.world.environ)
        ok = report.verdict is MigrationVerdict.PASS
        return Done(ok, report.reason, {"lines": report.lines()})
    if item.gate == "rollback":
        return _rollback_runnable(ex)
    if item.gate == "monitoring":
        return _monitoring_answers(ex, now)
    return Done(False, f"checklist item '{item.item}' is signed off by a person, not run")


def _rollback_runnable(ex: ActionExecutor) -> Done:
    """Every rollback step could run now: its router, flag, program or project is there."""
    problems: list[str] = []
    for number, step in enumerate(ex.plan.rollback, start=1):
        where = f"rollback step {number}"
        if step.traffic is not None:
            problems += _routers_problems(ex, where)
        elif step.flag is not None:
            problems += _flag_problems(ex, where, step.flag.key)
        elif step.run is not None:
            problems += program_problems(where, step.run, ex.base_dir)
        elif step.migrate is not None:
            problems += _migration_problems(ex, where)
    count = len(ex.plan.rollback)
    if problems:
        return Done(False, "; ".join(problems), {"problems": problems})
    return Done(True, f"all {count} rollback step{'s' if count != 1 else ''} can run")


def _routers_problems(ex: ActionExecutor, where: str) -> list[str]:
    rolling = ex.plan.strategy.rolling
    if rolling is not None:
        if rolling.undeploy is None:
            return [f"{where}: the rolling block has no 'undeploy' command"]
        return program_problems(where, rolling.undeploy, ex.base_dir)
    found = []
    for env in ex.plan.environments:
        spec = env.traffic or FlagRouter(type="flag", flag=ex.plan.strategy.flag)
        try:
            router_for(spec, RouterContext(ex.version, env.name, ex.base_dir), ex.routers)
        except RolloutError as exc:
            found.append(f"{where} in {env.name}: {exc}")
    return found


def _flag_problems(ex: ActionExecutor, where: str, key: str) -> list[str]:
    if plan_flag(ex.plan, key) is not None:
        return []
    missing = []
    for env in ex.plan.environments:
        try:
            ex.flag_store.get_flag(env.name, key)
        except RolloutError:
            missing.append(env.name)
    if missing:
        return [
            f"{where}: flag {key} is not in the plan's flags and does not exist in "
            f"{', '.join(missing)}"
        ]
    return []


def _migration_problems(ex: ActionExecutor, where: str) -> list[str]:
    spec = ex.plan.migrations
    if spec is None:
        return [f"{where}: the plan has no 'migrations' section"]
    try:
        migrator = Migrator.from_plan(spec, ex.base_dir, ex.world.environ)
        if spec.rollback != "downgrade-to-start":
            migrator.tool.revision(spec.rollback)
    except RolloutError as exc:
        return [f"{where}: {exc}"]
    return []


def _monitoring_answers(ex: ActionExecutor, now: float) -> Done:
    """Ask every metric the plan judges for its last interval: an error fails the gate,
    no data does not (nothing may be flowing before the rollout starts)."""
    plan = ex.plan
    names = [c.metric for s in plan.stages for c in s.success]
    names += [c.metric for i in range(len(plan.stages)) for c in triggers(plan, i)]
    names += [metric for metric, _ in spike_checks(plan)]
    interval = plan.monitoring.interval
    said: list[str] = []
    problems: list[str] = []
    for env in plan.environments:
        for name in dict.fromkeys(names):
            spec = spec_for(plan, name)
            if spec is None:
                problems.append(f"{name} is not a metric the plan defines or knows")
                continue
            flag = plan.strategy.flag or plan.stage_flag(plan.stages[0])
            try:
                result = fetch_metric(
                    plan,
                    spec,
                    ex.sources,
                    ArmSelector(env.name, flag),
                    start=now - interval,
                    end=now,
                    step=interval,
                )
            except RolloutError as exc:
                problems.append(f"{name} in {env.name}: {exc}")
                continue
            answer = "no data yet" if isinstance(result, NoData) else "answers"
            said.append(f"{name} in {env.name} {answer}")
    if problems:
        return Done(False, "; ".join(problems), {"problems": problems})
    return Done(True, "; ".join(said) or "the plan judges no metric")


def program_problems(where: str, command: str, base_dir: Path) -> list[str]:
    """Whether the program ``command`` starts with can be found (PATH, or a path relative to
    the plan's directory). Assignments (``A=1 cmd``) and shell builtins are skipped."""
    try:
        words = shlex.split(command)
    except ValueError as exc:
        return [f"{where}: '{command}' cannot be read as a shell command ({exc})"]
    words = [w for w in words if not ("=" in w and w.split("=", 1)[0].isidentifier())]
    if not words or words[0] in _BUILTINS:
        return []
    program = words[0]
    if "/" in program:
        path = Path(program).expanduser()
        path = path if path.is_absolute() else base_dir / path
        if not path.is_file():
            return [f"{where}: {program} does not exist (looked in {base_dir})"]
        if not os.access(path, os.X_OK):
            return [f"{where}: {program} is not executable"]
        return []
    if shutil.which(program) is None:
        return [f"{where}: {program} is not on the PATH"]
    return []
