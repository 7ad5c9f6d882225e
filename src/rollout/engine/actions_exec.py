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

Whatever an action prints or an outside system answers may hold a secret the plan names as
``${VAR}``: every :class:`Done` comes back with those values masked (``****``), so neither the
action record nor the audit trail ever holds one.

The work is spread over :mod:`~rollout.engine.actions_exec_gates` (checklist gates),
:mod:`~rollout.engine.actions_exec_deploy` (deploys, migrations) and
:mod:`~rollout.engine.actions_exec_traffic` (routers, flags); :class:`Done` and :class:`World`
live in :mod:`~rollout.engine.actions_exec_world`.
"""

from __future__ import annotations

from pathlib import Path

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
from rollout.engine.actions_exec_deploy import MIGRATION_START, deploy, migrate, on_each_instance
from rollout.engine.actions_exec_gates import run_gate
from rollout.engine.actions_exec_traffic import set_flag, set_traffic
from rollout.engine.actions_exec_world import (
    AudienceStore,
    ChangeListener,
    Done,
    World,
    checked,
)
from rollout.errors import RolloutError
from rollout.plan.model import CommandCheck, Plan
from rollout.providers.checks import CheckContext, run_check
from rollout.providers.metrics import SourceRegistry, measure_baselines
from rollout.providers.metrics import default_registry as default_sources
from rollout.providers.notify import compose, send_all
from rollout.providers.secrets import Scrubber, scrubber_for
from rollout.providers.traffic import RouterRegistry
from rollout.providers.traffic import default_registry as default_routers
from rollout.providers.traffic.flag import register_flag_router


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
        self._written = plan.model_dump_json()

    @property
    def flag_store(self) -> AudienceStore:
        return self.world.flag_store if self.world.flag_store is not None else self.world.store

    @property
    def scrub(self) -> Scrubber:
        """Masks the values of every ``${VAR}`` the plan names, read now: as the commands see
        them (the process environment) and as references are filled in (the world's
        ``environ``, when it has one). A script may print any variable it inherits, not only
        those its own command line names."""
        found = scrubber_for(self._written)
        if self.world.environ is not None:
            found = found + scrubber_for(self._written, self.world.environ)
        return found

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
        belongs to, for ``ROLLOUT_STAGE``). Never raises an ``Exception``. The values of the
        plan's ``${VAR}`` references are masked in what it returns (:attr:`scrub`)."""
        try:
            done = self._dispatch(action, now, stage)
        except RolloutError as exc:
            done = Done(False, str(exc) or type(exc).__name__)
        except Exception as exc:  # a provider bug must not stop the rollout's bookkeeping
            done = Done(False, f"unexpected {type(exc).__name__}: {exc}")
        return done.masked(self.scrub)

    def _dispatch(self, action: Action, now: float, stage: str) -> Done:
        if isinstance(action, RunRollbackStep):
            return self._dispatch(action.action, now, stage)
        if isinstance(action, RunGate):
            return run_gate(self, action, now)
        if isinstance(action, RequestApproval):
            who = ", ".join(action.approvers) or "anyone allowed"
            return Done(True, f"waiting for {action.min_approvals} approval(s) from {who}")
        if isinstance(action, RequestSignOff):
            return Done(True, f"waiting for a sign-off by someone with the role '{action.role}'")
        if isinstance(action, RecordBaseline):
            return self._baseline(action, now)
        if isinstance(action, Deploy):
            return deploy(self, action, stage)
        if isinstance(action, Migrate):
            return migrate(self, action)
        if isinstance(action, SetTraffic):
            return set_traffic(self, action)
        if isinstance(action, SetFlag):
            return set_flag(self, action)
        if isinstance(action, RunCheck):
            planned = action.check
            return on_each_instance(
                self,
                action,
                action.environment,
                stage,
                instances=action.instances,
                run=lambda context: run_check(planned, context, retries=0),
            )
        if isinstance(action, RunCommand):
            check = CommandCheck(run=action.command)
            context = self.context(action, action.environment, stage)
            return checked(run_check(check, context, timeout=action.timeout))
        if isinstance(action, Notify):
            return self._notify(action)
        return Done(False, f"this controller does not know how to carry out '{action.kind}'")

    def context(
        self, action: Action, environment: str = "", stage: str = "", instance: str = ""
    ) -> CheckContext:
        """What a command of ``action`` is told (its key, environment, stage, instance)."""
        return CheckContext(
            rollout_id=self.rollout_id,
            version=self.version,
            environment=environment,
            stage=stage,
            key=action.key,
            instance=instance,
            base_dir=self.base_dir,
        )

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


__all__ = [
    "MIGRATION_START",
    "ActionExecutor",
    "AudienceStore",
    "ChangeListener",
    "Done",
    "World",
]
