"""Carrying out one engine action against the outside world, through the providers.

:class:`ActionExecutor` turns an :class:`~rollout.engine.actions.Action` into what the world
does and reports how it ended as a :class:`Done`: ``ok`` and a message in plain words, with
the details kept in the store's action record. It never raises for the action's sake: a
provider error, a command that cannot start, a router that cannot read back, even a bug in a
provider, all end as ``Done(ok=False, message=<the error text>)``, which the engine retries or
gives up on. Only ``BaseException`` (an interrupt) passes through.

What each action means here:

==================  ===========================================================================
run_gate            ``run``/``http``: the check, once (the engine re-issues a failed attempt);
                    ``migrations: tested``: the round trip on a scratch database;
                    ``rollback: documented``: every rollback step can run here (router, flag,
                    program on ``PATH``, migration project); ``monitoring: configured``: every
                    metric the plan judges has a source that answers (no data is an answer)
deploy              the command, with ``ROLLOUT_INSTANCE`` set for each instance in turn
migrate             expand / contract / rollback through :class:`Migrator`; the revision the
                    database was at before the first expand is appended to the audit trail
                    (``migration.start``) *before* anything is upgraded, so a rollback finds
                    it even after a crash in the middle of the expand
set_traffic         the environment's router, set-to-value, read back
set_flag            the built-in flag router: enable, set the percentage, or disable
run_check           the check, once; ``run_command``: the rollback command with its timeout
notify              the communication plan's messages through the notifier; delivery problems
                    are reported, never raised
record_baseline     :func:`measure_baselines` over the window before now
request_approval,   nothing to run: approvals and sign-offs arrive through the store
request_sign_off
==================  ===========================================================================

A flag switched off by someone (its kill switch) is not switched back on by a ramp: the ramp
fails and says so, and the operator decides. Commands see ``ROLLOUT_IDEMPOTENCY_KEY`` and must
be idempotent by it: after a crash, an action whose intent was recorded but whose end was not is
run again with the same key.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollout.engine._judging import spec_for, spike_checks, triggers
from rollout.engine.actions import (
    Action,
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
)
from rollout.errors import RolloutError
from rollout.plan.model import CommandCheck, FlagRouter, FlagSpec, Migrations, Plan
from rollout.providers.checks import CheckContext, CheckResult, run_check
from rollout.providers.metrics import NoData, SourceRegistry, fetch_metric, measure_baselines
from rollout.providers.metrics import default_registry as default_sources
from rollout.providers.metrics._base import ArmSelector
from rollout.providers.migrations import Migrator, run_migrations_gate
from rollout.providers.migrations.tool import Verdict as MigrationVerdict
from rollout.providers.notify import Notifier, compose, send_all
from rollout.providers.traffic import RouterContext, RouterRegistry, router_for
from rollout.providers.traffic import default_registry as default_routers
from rollout.providers.traffic.flag import FlagStore, FlagTrafficRouter, register_flag_router
from rollout.store import NewEvent, Store

MIGRATION_START = "migration.start"
"""Audit event kind recording the revision a database was at before the rollout's first
expand; ``data``: ``database`` (a fingerprint of the URL as written), ``revision``."""

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

ChangeListener = Callable[[str, int], None]


@dataclass(frozen=True)
class Done:
    """How an action ended: ``ok`` with its result text, or not ok with the error text.

    ``details`` are the facts behind the message (JSON-ready, kept in the store's action
    record); ``values`` are measured numbers the engine uses (baselines, by metric name, in
    criterion units).
    """

    ok: bool
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)
    values: Mapping[str, float] = field(default_factory=dict)

    def result_json(self) -> dict[str, Any]:
        """The record the store keeps: ``ok``, ``message``, ``values`` and the details."""
        return {
            **dict(self.details),
            "ok": self.ok,
            "message": self.message,
            "values": dict(self.values),
        }


@dataclass(frozen=True)
class World:
    """The outside systems an executor works through, shared by every rollout of a controller.

    ``flag_store`` is where the flag router writes (the server's ``FlagService`` when the
    controller runs inside the server, so SSE clients hear of a ramp at once; else the store).
    ``environ`` is where ``${VAR}`` references are read (default: the process environment).
    """

    store: Store
    notifier: Notifier
    flag_store: FlagStore | None = None
    environ: Mapping[str, str] | None = None
    on_flag_change: ChangeListener | None = None


class ActionExecutor:
    """Carries out the actions of one rollout (see the module docstring)."""

    def __init__(
        self, plan: Plan, rollout_id: str, version: str, base_dir: Path, world: World
    ) -> None:
        self.plan = plan
        self.rollout_id = rollout_id
        self.version = version
        self.base_dir = base_dir
        self.world = world
        self.actor = f"rollout:{rollout_id}"
        self._routers: RouterRegistry | None = None
        self._sources: SourceRegistry | None = None

    @property
    def flag_store(self) -> FlagStore:
        return self.world.flag_store if self.world.flag_store is not None else self.world.store

    @property
    def sources(self) -> SourceRegistry:
        """The metric sources of this plan (built-in telemetry from the store)."""
        if self._sources is None:
            self._sources = default_sources(store=self.world.store, base_dir=self.base_dir)
        return self._sources

    @property
    def routers(self) -> RouterRegistry:
        if self._routers is None:
            registry = default_routers()
            register_flag_router(
                registry,
                self.flag_store,
                self.actor,
                plan=self.plan,
                on_change=self.world.on_flag_change,
            )
            self._routers = registry
        return self._routers

    # ------------------------------------------------------------------ entry

    def execute(self, action: Action, now: float, stage: str = "") -> Done:
        """Carry out ``action`` (``now``: seconds since the epoch; ``stage``: the stage it
        belongs to, for ``ROLLOUT_STAGE``). Never raises an ``Exception``."""
        try:
            return self._dispatch(action, now, stage)
        except RolloutError as exc:
            return Done(False, str(exc) or type(exc).__name__)
        except Exception as exc:  # a provider bug must not stop the rollout's bookkeeping
            return Done(False, f"unexpected {type(exc).__name__}: {exc}")

    def _dispatch(self, action: Action, now: float, stage: str) -> Done:
        if isinstance(action, RunRollbackStep):
            return self._dispatch(action.action, now, stage)
        if isinstance(action, RunGate):
            return self._gate(action, now)
        if isinstance(action, RequestApproval):
            who = ", ".join(action.approvers) or "anyone allowed"
            return Done(True, f"waiting for {action.min_approvals} approval(s) from {who}")
        if isinstance(action, RequestSignOff):
            return Done(True, f"waiting for a sign-off by someone with the role '{action.role}'")
        if isinstance(action, RecordBaseline):
            return self._baseline(action, now)
        if isinstance(action, Deploy):
            return self._deploy(action, stage)
        if isinstance(action, Migrate):
            return self._migrate(action)
        if isinstance(action, SetTraffic):
            return self._traffic(action)
        if isinstance(action, SetFlag):
            return self._flag(action)
        if isinstance(action, RunCheck):
            return _checked(
                run_check(action.check, self._context(action, action.environment, stage), retries=0)
            )
        if isinstance(action, RunCommand):
            check = CommandCheck(run=action.command)
            context = self._context(action, action.environment, stage)
            return _checked(run_check(check, context, timeout=action.timeout))
        if isinstance(action, Notify):
            return self._notify(action)
        return Done(False, f"this controller does not know how to carry out '{action.kind}'")

    def _context(
        self, action: Action, environment: str = "", stage: str = "", instance: str = ""
    ) -> CheckContext:
        return CheckContext(
            rollout_id=self.rollout_id,
            version=self.version,
            environment=environment,
            stage=stage,
            key=action.key,
            instance=instance,
            base_dir=self.base_dir,
        )

    # ------------------------------------------------------------------ gates

    def _gate(self, action: RunGate, now: float) -> Done:
        item = action.item
        if item.gate in ("run", "http"):
            return _checked(run_check(item, self._context(action), retries=0))
        if item.gate == "migrations":
            if self.plan.migrations is None:
                return Done(False, "the plan has no 'migrations' section to test")
            report = run_migrations_gate(self.plan.migrations, self.base_dir, self.world.environ)
            ok = report.verdict is MigrationVerdict.PASS
            return Done(ok, report.reason, {"lines": report.lines()})
        if item.gate == "rollback":
            return self._rollback_runnable()
        if item.gate == "monitoring":
            return self._monitoring_answers(now)
        return Done(False, f"checklist item '{item.item}' is signed off by a person, not run")

    def _rollback_runnable(self) -> Done:
        """Every rollback step could run now: its router, flag, program or project is there."""
        problems: list[str] = []
        for number, step in enumerate(self.plan.rollback, start=1):
            where = f"rollback step {number}"
            if step.traffic is not None:
                problems += self._routers_problems(where)
            elif step.flag is not None:
                problems += self._flag_problems(where, step.flag.key)
            elif step.run is not None:
                problems += _program_problems(where, step.run, self.base_dir)
            elif step.migrate is not None:
                problems += self._migration_problems(where)
        count = len(self.plan.rollback)
        if problems:
            return Done(False, "; ".join(problems), {"problems": problems})
        return Done(True, f"all {count} rollback step{'s' if count != 1 else ''} can run")

    def _routers_problems(self, where: str) -> list[str]:
        rolling = self.plan.strategy.rolling
        if rolling is not None:
            if rolling.undeploy is None:
                return [f"{where}: the rolling block has no 'undeploy' command"]
            return _program_problems(where, rolling.undeploy, self.base_dir)
        found = []
        for env in self.plan.environments:
            spec = env.traffic or FlagRouter(type="flag", flag=self.plan.strategy.flag)
            try:
                router_for(spec, RouterContext(self.version, env.name, self.base_dir), self.routers)
            except RolloutError as exc:
                found.append(f"{where} in {env.name}: {exc}")
        return found

    def _flag_problems(self, where: str, key: str) -> list[str]:
        if _plan_flag(self.plan, key) is not None:
            return []
        missing = []
        for env in self.plan.environments:
            try:
                self.flag_store.get_flag(env.name, key)
            except RolloutError:
                missing.append(env.name)
        if missing:
            return [
                f"{where}: flag {key} is not in the plan's flags and does not exist in "
                f"{', '.join(missing)}"
            ]
        return []

    def _migration_problems(self, where: str) -> list[str]:
        spec = self.plan.migrations
        if spec is None:
            return [f"{where}: the plan has no 'migrations' section"]
        try:
            migrator = Migrator.from_plan(spec, self.base_dir, self.world.environ)
            if spec.rollback != "downgrade-to-start":
                migrator.tool.revision(spec.rollback)
        except RolloutError as exc:
            return [f"{where}: {exc}"]
        return []

    def _monitoring_answers(self, now: float) -> Done:
        """Ask every metric the plan judges for its last interval: an error fails the gate,
        no data does not (nothing may be flowing before the rollout starts)."""
        plan = self.plan
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
                        self.sources,
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

    # ------------------------------------------------------------------ deploy, migrate

    def _deploy(self, action: Deploy, stage: str) -> Done:
        done: list[str] = []
        for instance in action.instances or ("",):
            context = self._context(action, action.environment, stage, instance)
            if action.version:
                context = _with_version(context, action.version)
            result = run_check(action.command, context)
            said = f"{instance}: {result.summary}" if instance else result.summary
            if not result.passed:
                return Done(False, said, dict(result.payload()))
            done.append(said)
        return Done(True, "; ".join(done))

    def _migrate(self, action: Migrate) -> Done:
        spec = action.migrations
        migrator = Migrator.from_plan(spec, self.base_dir, self.world.environ)
        url = spec.database_url
        if action.phase == "expand":
            start = self._start_revision(spec)
            if start is None:
                start = (migrator.current(url),)
                self.world.store.append_event(
                    self.rollout_id,
                    NewEvent(
                        kind=MIGRATION_START,
                        message=f"the database was at {start[0] or 'base'} before the expand "
                        f"migrations in {action.environment}",
                        data={"database": _fingerprint(url), "revision": start[0]},
                        actor=self.actor,
                    ),
                )
            moved = migrator.expand(url)
            return Done(
                True,
                f"{moved.description} (start revision {start[0] or 'base'})",
                {"start_revision": start[0], "reached": moved.reached},
            )
        if action.phase == "contract":
            moved = migrator.contract(url)
            return Done(True, moved.description, {"reached": moved.reached})
        start = self._start_revision(spec)
        if start is None and spec.rollback == "downgrade-to-start":
            return Done(
                True, "no expand migration ran in this rollout, so there is nothing to undo"
            )
        moved = migrator.rollback(url, start[0] if start is not None else None)
        return Done(True, moved.description, {"reached": moved.reached})

    def _start_revision(self, spec: Migrations) -> tuple[str | None] | None:
        """``(revision,)`` recorded before this rollout's first expand of the database, or
        None when none was recorded (the tuple tells "at base" from "not recorded")."""
        wanted = _fingerprint(spec.database_url)
        for event in self.world.store.list_events(self.rollout_id):
            if event.kind == MIGRATION_START and event.data.get("database") == wanted:
                revision = event.data.get("revision")
                return (revision if isinstance(revision, str) else None,)
        return None

    # ------------------------------------------------------------------ traffic, flags

    def _traffic(self, action: SetTraffic) -> Done:
        spec = action.router or FlagRouter(type="flag", flag=self.plan.strategy.flag)
        context = RouterContext(self.version, action.environment, self.base_dir)
        applied = router_for(spec, context, self.routers).set_weight(action.percent, action.key)
        message = applied.detail
        if not applied.verified:
            message += " (not verified: the router has no way to read the weight back)"
        if action.segment:
            message += f"; the {spec.type} router moves a percentage, not segment {action.segment}"
        details = {
            "requested_percent": applied.requested_percent,
            "live_percent": applied.canary_percent,
            "verified": applied.verified,
        }
        return Done(True, message, details)

    def _flag(self, action: SetFlag) -> Done:
        router = FlagTrafficRouter(
            self.flag_store,
            action.environment,
            action.flag,
            self.actor,
            _plan_flag(self.plan, action.flag),
            on_change=self.world.on_flag_change,
        )
        said: list[str] = []
        # A ramp (a percentage) never switches a killed flag back on: someone switched it off
        # on purpose, so the ramp fails and says so. Only a plain "enable" step does.
        if action.enabled is True and action.percent is None:
            said.append(router.set_enabled(True, action.key).detail)
        if action.percent is not None:
            said.append(router.set_weight(action.percent, action.key).detail)
        if action.enabled is False:
            said.append(router.set_enabled(False, action.key).detail)
        if action.segment:
            said.append(f"segment {action.segment} is opened by the percentage only")
        return Done(True, "; ".join(said) or "nothing to change")

    # ------------------------------------------------------------------ notify, baselines

    def _notify(self, action: Notify) -> Done:
        rows = [
            self.plan.communication[i]
            for i in action.announcements
            if 0 <= i < len(self.plan.communication)
        ]
        messages = compose(rows, action.context, message=action.message, channel=action.channel)
        if not messages:
            return Done(True, "nobody to tell")
        deliveries = send_all(self.world.notifier, messages, key=action.key)
        parts = [
            f"{d.audience or d.channel_masked}: " + ("sent" if d.ok else d.error or "not delivered")
            for d in deliveries
        ]
        details = {
            "deliveries": [
                {
                    "channel": d.channel_masked,
                    "audience": d.audience,
                    "ok": d.ok,
                    "attempts": d.attempts,
                    "error": d.error,
                }
                for d in deliveries
            ]
        }
        return Done(all(d.ok for d in deliveries), "; ".join(parts), details)

    def _baseline(self, action: RecordBaseline, now: float) -> Done:
        found = measure_baselines(
            self.plan,
            self.sources,
            now,
            metrics=action.metrics,
            store=self.world.store,
            scope=self.rollout_id,
        )
        values = {b.metric: b.value for b in found if b.value is not None}
        notes = "; ".join(b.note for b in found)
        missing = [m for m in action.metrics if m not in values]
        if missing:
            return Done(False, f"no baseline for {', '.join(missing)}: {notes}")
        return Done(True, notes, values=values)


# --------------------------------------------------------------------------- helpers


def _checked(result: CheckResult) -> Done:
    return Done(result.passed, result.summary, dict(result.payload()))


def _with_version(context: CheckContext, version: str) -> CheckContext:
    return CheckContext(
        rollout_id=context.rollout_id,
        version=version,
        environment=context.environment,
        stage=context.stage,
        key=context.key,
        instance=context.instance,
        base_dir=context.base_dir,
        env=context.env,
    )


def _plan_flag(plan: Plan, key: str) -> FlagSpec | None:
    try:
        return plan.flag(key)
    except KeyError:
        return None


def _fingerprint(url: str) -> str:
    """A short digest of a database URL as the plan writes it (never the URL: it may hold a
    password)."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def _program_problems(where: str, command: str, base_dir: Path) -> list[str]:
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
