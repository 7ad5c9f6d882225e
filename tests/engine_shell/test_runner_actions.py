"""Carrying out single actions through the real providers: results in words, failures as
results (never exceptions), keys handed to commands, flags, migrations, notifications."""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import pytest
from shell_plans import FakeClock, canary, feature_flag, write_plan
from shell_receiver import inbox

from rollout.engine.actions import (
    Action,
    Deploy,
    Migrate,
    Notify,
    NotifyContext,
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
from rollout.engine.actions_exec import MIGRATION_START, ActionExecutor, World
from rollout.engine.controller import start_rollout
from rollout.engine.runner import decode_action, encode_action
from rollout.plan import load_plan_text
from rollout.plan.model import (
    Check,
    ChecklistItem,
    CommandCheck,
    CommandRouter,
    FlagRouter,
    Migrations,
    Plan,
)
from rollout.providers.notify import AppriseNotifier
from rollout.server.flag_service import FlagService
from rollout.store import Store

RID = "ro_test"


def executor(store: Store, work: Path, plan_text: str) -> ActionExecutor:
    """An executor for a rollout of ``plan_text`` stored in ``store``."""
    record = start_rollout(store, write_plan(work, plan_text), None, "alice")
    plan = Plan.model_validate(record.plan_json)
    notifier = AppriseNotifier(attempts=1, sleep=lambda _s: None, timeout=5.0)
    return ActionExecutor(plan, record.id, record.version, work, World(store, notifier))


def every_kind() -> list[Action]:
    migrations = Migrations(database_url="${DB}", contract_revisions=("abc",))
    router = CommandRouter(type="command", set="./set {weight}")
    check = Check(name="smoke", run="./smoke.sh", retries=2)
    context = NotifyContext("r", "2.0", "production", "Canary", "observing", "why")
    common = {"rollout_id": RID, "step": "s/1", "attempt": 2, "description": "does it"}
    inner = [
        SetTraffic(**common, environment="production", percent=0.0, router=router),
        SetFlag(**common, environment="production", flag="f", percent=0.0, enabled=False),
        RunCommand(**common, environment="production", command="./drain.sh", timeout=60.0),
        Migrate(**common, environment="production", phase="rollback", migrations=migrations),
        Deploy(
            **common,
            environment="production",
            command=CommandCheck(run="./undeploy"),
            target="instances",
            instances=("a", "b"),
        ),
        Notify(**common, moment="rollback_step", announcements=(), context=context, channel="x"),
    ]
    return [
        RunGate(**common, index=0, item=ChecklistItem(item="tests", run="make test")),
        RequestSignOff(**common, index=1, item="docs", role="writer", people=("ann",)),
        RecordBaseline(**common, metrics=("error_rate",), window=3600.0),
        RequestApproval(**common, environment="production", approvers=("bob",), min_approvals=1),
        RunCheck(**common, environment="production", check=check, purpose="validation"),
        SetTraffic(**common, environment="staging", percent=5.0, router=FlagRouter(type="flag")),
        *inner,
        *(
            RunRollbackStep(**common, index=i, name="step", action=action)
            for i, action in enumerate(inner)
        ),
    ]


@pytest.mark.parametrize("action", every_kind(), ids=lambda a: type(a).__name__)
def test_every_action_survives_its_stored_form(action: Action) -> None:
    decoded = decode_action(RID, encode_action(action))
    assert decoded == action and type(decoded) is type(action)
    if isinstance(action, RunRollbackStep):
        assert isinstance(decoded, RunRollbackStep)
        assert type(decoded.action) is type(action.action)


def test_commands_see_the_idempotency_key_and_failures_come_back_as_text(
    store: Store, work: Path, clock: FakeClock
) -> None:
    run = executor(store, work, canary())
    action = RunCommand(
        rollout_id=run.rollout_id,
        step="rollback/2",
        attempt=3,
        environment="production",
        command='echo "$ROLLOUT_IDEMPOTENCY_KEY $ROLLOUT_ENVIRONMENT" > seen.txt',
        timeout=30.0,
    )
    done = run.execute(action, clock())
    assert done.ok
    seen = (work / "seen.txt").read_text().split()
    assert seen == [f"{run.rollout_id}:rollback/2:3", "production"]

    failing = RunCommand(
        rollout_id=run.rollout_id,
        step="rollback/2",
        environment="production",
        command="echo broken pipe >&2; exit 3",
        timeout=30.0,
    )
    done = run.execute(failing, clock())
    assert not done.ok
    assert "exited 3" in done.message and "broken pipe" in done.message


def test_a_router_that_fails_is_a_failed_result_with_its_output(
    store: Store, work: Path, clock: FakeClock
) -> None:
    run = executor(store, work, canary())
    router = CommandRouter(type="command", set="./ledger.sh fail {weight}")
    action = SetTraffic(
        rollout_id=run.rollout_id,
        step="production/stage-1/traffic",
        environment="production",
        percent=10.0,
        router=router,
    )
    done = run.execute(action, clock())
    assert not done.ok
    assert "this check fails on purpose" in done.message


def test_deploy_runs_once_per_instance_and_stops_at_the_first_failure(
    store: Store, work: Path, clock: FakeClock
) -> None:
    run = executor(store, work, canary())
    command = CommandCheck(
        run='echo "$ROLLOUT_INSTANCE $ROLLOUT_VERSION" >> instances.txt; '
        '[ "$ROLLOUT_INSTANCE" != web-3 ]'
    )
    ok = Deploy(
        rollout_id=run.rollout_id,
        step="production/full/batch-1-2/deploy",
        environment="production",
        command=command,
        target="instances",
        instances=("web-1", "web-2"),
        version="2.0",
    )
    assert run.execute(ok, clock()).ok
    bad = Deploy(
        rollout_id=run.rollout_id,
        step="production/full/batch-3-4/deploy",
        environment="production",
        command=command,
        target="instances",
        instances=("web-3", "web-4"),
        version="2.0",
    )
    done = run.execute(bad, clock())
    assert not done.ok and done.message.startswith("web-3: ")
    lines = (work / "instances.txt").read_text().splitlines()
    assert lines == ["web-1 2.0", "web-2 2.0", "web-3 2.0"]


def test_a_ramp_never_switches_a_killed_flag_back_on(
    store: Store, work: Path, clock: FakeClock
) -> None:
    run = executor(store, work, feature_flag())

    def flag(percent: float | None, enabled: bool | None) -> SetFlag:
        return SetFlag(
            rollout_id=run.rollout_id,
            step="production/stage-1/flag",
            environment="production",
            flag="new-checkout",
            percent=percent,
            enabled=enabled,
        )

    assert run.execute(flag(20.0, True), clock()).ok
    stored = store.get_flag("production", "new-checkout")
    assert stored.definition["fallthrough"]["rollout"]["percent"] == 20.0
    assert stored.updated_by == f"rollout:{run.rollout_id}"

    FlagService(store).set_enabled("production", "new-checkout", False, actor="oncall")
    done = run.execute(flag(50.0, True), clock())
    assert not done.ok and "switched off" in done.message and "kill switch" in done.message
    assert run.execute(flag(0.0, None), clock()).ok  # going back always works
    assert run.execute(flag(None, True), clock()).ok  # an explicit enable step does
    assert store.get_flag("production", "new-checkout").definition["on"] is True


def test_the_rollback_gate_names_each_step_that_could_not_run(
    store: Store, work: Path, clock: FakeClock
) -> None:
    text = feature_flag().replace(
        "rollback:\n  - flag: {key: new-checkout, percent: 0}",
        "rollback:\n  - flag: {key: new-checkout, percent: 0}\n  - run: ./drain.sh --now\n"
        "  - run: missing-tool-xyz stop\n  - run: FORCE=1 ./ledger.sh drain",
    )
    run = executor(store, work, text)
    gate = RunGate(
        rollout_id=run.rollout_id,
        step="gate/1",
        index=0,
        item=ChecklistItem(item="Rollback plan documented", rollback="documented"),
    )
    done = run.execute(gate, clock())
    assert not done.ok
    assert "rollback step 2: ./drain.sh does not exist" in done.message
    assert "rollback step 3: missing-tool-xyz is not on the PATH" in done.message
    assert "step 4" not in done.message and "step 1" not in done.message

    (work / "drain.sh").write_text("#!/bin/sh\n")
    (work / "drain.sh").chmod(0o755)
    done = run.execute(gate, clock())
    assert done.message == "rollback step 3: missing-tool-xyz is not on the PATH"


def test_the_monitoring_gate_fails_on_a_broken_source_not_on_missing_data(
    store: Store, work: Path, clock: FakeClock
) -> None:
    gate_item = ChecklistItem(item="Monitoring configured", monitoring="configured")
    run = executor(store, work, canary())
    gate = RunGate(rollout_id=run.rollout_id, step="gate/3", index=2, item=gate_item)
    done = run.execute(gate, clock())
    assert (
        done.ok
        and done.message == "error_rate in staging answers; error_rate in production answers"
    )

    (work / "metrics.sh").write_text("#!/bin/sh\necho 'not json'\n")
    done = run.execute(gate, clock())
    assert not done.ok and done.message.startswith("error_rate in staging: ")

    flags = executor(
        store,
        work,
        feature_flag(name="quiet").replace(
            "    duration: 5m\n  - name: All",
            "    duration: 5m\n    success: [error_rate < 1%]\n  - name: All",
        ),
    )
    done = flags.execute(gate, clock())
    assert done.ok and done.message == "error_rate in production no data yet"


def test_baselines_are_measured_and_kept(store: Store, work: Path, clock: FakeClock) -> None:
    run = executor(store, work, canary())
    action = RecordBaseline(
        rollout_id=run.rollout_id, step="baseline", metrics=("error_rate",), window=600.0
    )
    done = run.execute(action, clock())
    assert done.ok and done.values == {"error_rate": pytest.approx(0.005)}
    assert store.get_baseline(run.rollout_id, "error_rate").value == pytest.approx(0.005)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_notifications_report_delivery_and_never_raise(
    store: Store, work: Path, clock: FakeClock
) -> None:
    run = executor(store, work, canary())
    context = NotifyContext(
        run.rollout_id, "2.0", "production", "", "rolled_back", "too many errors"
    )
    with inbox() as box:
        sent = Notify(
            rollout_id=run.rollout_id,
            step="rollback/3",
            moment="rollback_step",
            announcements=(),
            context=context,
            channel=box.channel(),
            message="{rollout} {state}: {reason}",
        )
        done = run.execute(sent, clock())
    assert done.ok and box.bodies() == [f"{run.rollout_id} rolled_back: too many errors"]

    down = Notify(
        rollout_id=run.rollout_id,
        step="rollback/3",
        attempt=2,
        moment="rollback_step",
        announcements=(),
        context=context,
        channel=f"json://127.0.0.1:{_closed_port()}/hook",
    )
    done = run.execute(down, clock())
    assert not done.ok and done.details["deliveries"][0]["ok"] is False


ALEMBIC_INI = """\
[alembic]
script_location = .
path_separator = os
version_locations = versions
"""
ENV_PY = """\
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
engine = engine_from_config(config.get_section(config.config_ini_section, {}),
                            prefix="sqlalchemy.", poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
"""
REVISION = """\
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = {down!r}

def upgrade():
    op.create_table("{table}", sa.Column("id", sa.Integer, primary_key=True))

def downgrade():
    op.drop_table("{table}")
"""


def alembic_project(folder: Path) -> None:
    (folder / "versions").mkdir()
    (folder / "alembic.ini").write_text(ALEMBIC_INI)
    (folder / "env.py").write_text(ENV_PY)
    chain = [("a1", None, "orders"), ("b2", "a1", "coupons"), ("c3", "b2", "notes")]
    for rev, down, table in chain:
        (folder / "versions" / f"{rev}.py").write_text(
            REVISION.format(rev=rev, down=down, table=table)
        )


def test_the_rollback_migration_returns_to_the_revision_recorded_before_the_expand(
    store: Store, work: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rollout.providers.migrations import AlembicTool

    alembic_project(work)
    database = f"sqlite:///{work / 'app.db'}"
    monkeypatch.setenv("APP_DATABASE_URL", database)
    tool = AlembicTool(work / "alembic.ini")
    tool.upgrade(database, "a1")  # production is at a1 before the rollout

    run = executor(store, work, canary())
    spec = Migrations(database_url="${APP_DATABASE_URL}", contract_revisions=())

    def migrate(phase: str, step: str) -> Migrate:
        return Migrate(
            rollout_id=run.rollout_id,
            step=step,
            environment="production",
            phase=phase,
            migrations=spec,  # type: ignore[arg-type]
        )

    done = run.execute(migrate("rollback", "rollback/3"), clock())
    assert done.ok and "nothing to undo" in done.message

    done = run.execute(migrate("expand", "production/migrate-expand"), clock())
    assert done.ok and "from a1 to c3" in done.message and "start revision a1" in done.message
    assert tool.current(database) == "c3"
    # Run again (as after a crash before its end was recorded): the start stays a1.
    done = run.execute(migrate("expand", "production/migrate-expand"), clock())
    assert done.ok and done.details["start_revision"] == "a1"
    starts = [e for e in store.list_events(run.rollout_id) if e.kind == MIGRATION_START]
    assert len(starts) == 1 and starts[0].data["revision"] == "a1"
    assert "APP_DATABASE_URL" not in str(starts[0].data) and "app.db" not in str(starts[0].data)

    done = run.execute(migrate("rollback", "rollback/3"), clock())
    assert done.ok and "downgraded from c3 to a1" in done.message
    assert tool.current(database) == "a1"


def test_a_plan_text_without_a_version_is_refused(store: Store) -> None:
    from rollout.errors import PlanError

    text = textwrap.dedent(canary()).replace(', version: "2.0"', "")
    load_plan_text(text)
    with pytest.raises(PlanError, match="no version to roll out: pass --version"):
        start_rollout(store, text, None, "alice")
