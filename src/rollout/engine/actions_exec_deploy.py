"""Deploy commands and database migrations (:func:`deploy`, :func:`migrate`).

A deploy runs its command, with ``ROLLOUT_INSTANCE`` set for each instance in turn (a rolling
batch); so does a batch's health check (:func:`on_each_instance`). Migrations run expand /
contract / rollback through :class:`Migrator`; the revision the database was at before the
first expand is appended to the audit trail (``migration.start``) *before* anything is
upgraded, so a rollback finds it even after a crash in the middle of the expand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from rollout.engine.actions import Action, Deploy, Migrate
from rollout.engine.actions_exec_world import Done
from rollout.plan.model import Migrations
from rollout.providers.checks import CheckContext, CheckResult, run_check
from rollout.providers.migrations import Migrator
from rollout.store import NewEvent

if TYPE_CHECKING:
    from rollout.engine.actions_exec import ActionExecutor

MIGRATION_START = "migration.start"
"""Audit event kind recording the revision a database was at before the rollout's first
expand; ``data``: ``database`` (a fingerprint of the URL as written), ``revision``."""


def deploy(ex: ActionExecutor, action: Deploy, stage: str) -> Done:
    """Run the deploy command for the environment, or once per instance of a batch."""

    def run(context: CheckContext) -> CheckResult:
        if action.version:
            context = _with_version(context, action.version)
        return run_check(action.command, context)

    return on_each_instance(
        ex, action, action.environment, stage, instances=action.instances, run=run
    )


def on_each_instance(
    ex: ActionExecutor,
    action: Action,
    environment: str,
    stage: str,
    *,
    instances: tuple[str, ...],
    run: Callable[[CheckContext], CheckResult],
) -> Done:
    """``run`` once per instance in turn, each told its instance (``ROLLOUT_INSTANCE``), or
    once for the environment when there are none; stops at the first failure, which it names."""
    done: list[str] = []
    for instance in instances or ("",):
        result = run(ex.context(action, environment, stage, instance))
        said = f"{instance}: {result.summary}" if instance else result.summary
        if not result.passed:
            return Done(False, said, dict(result.payload()))
        done.append(said)
    return Done(True, "; ".join(done))


def migrate(ex: ActionExecutor, action: Migrate) -> Done:
    """Expand, contract or roll back the database (see the module docstring)."""
    spec = action.migrations
    migrator = Migrator.from_plan(spec, ex.base_dir, ex.world.environ)
    url = spec.database_url
    if action.phase == "expand":
        start = _start_revision(ex, spec)
        if start is None:
            start = (migrator.current(url),)
            ex.world.store.append_event(
                ex.rollout_id,
                NewEvent(
                    kind=MIGRATION_START,
                    message=f"the database was at {start[0] or 'base'} before the expand "
                    f"migrations in {action.environment}",
                    data={"database": _fingerprint(url), "revision": start[0]},
                    actor=ex.actor,
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
    start = _start_revision(ex, spec)
    if start is None and spec.rollback == "downgrade-to-start":
        return Done(True, "no expand migration ran in this rollout, so there is nothing to undo")
    moved = migrator.rollback(url, start[0] if start is not None else None)
    return Done(True, moved.description, {"reached": moved.reached})


def _start_revision(ex: ActionExecutor, spec: Migrations) -> tuple[str | None] | None:
    """``(revision,)`` recorded before this rollout's first expand of the database, or
    None when none was recorded (the tuple tells "at base" from "not recorded")."""
    wanted = _fingerprint(spec.database_url)
    for event in ex.world.store.list_events(ex.rollout_id):
        if event.kind == MIGRATION_START and event.data.get("database") == wanted:
            revision = event.data.get("revision")
            return (revision if isinstance(revision, str) else None,)
    return None


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


def _fingerprint(url: str) -> str:
    """A short digest of a database URL as the plan writes it (never the URL: it may hold a
    password)."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
