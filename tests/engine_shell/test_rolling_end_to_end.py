"""The rolling strategy end to end: the real controller replaces eight servers two at a time
with real deploy commands, judged on a command metric source, on SQLite and PostgreSQL.

``fleet.sh`` keeps each server's running version in ``fleet/<server>`` (every one starts on
1.0) and appends one line per thing it does to ``fleet-log.txt``: ``<what> <server>
<version now running> <step>`` (``-`` where none applies). It is idempotent, as the runner
asks of commands: deploying the version a server already runs, or restoring a server that was
never upgraded, changes nothing.
``regression.sh`` is the metric command: the canary fails 10 % of its requests (else 0.5 %, as
the control does) once the server named by ``REGRESSES_ON`` runs the new version.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from e2e_support import advance_until, at_stage
from shell_plans import FakeClock, drive, write_plan

from rollout.engine.controller import (
    Controller,
    rollout_progress,
    rollout_status,
    send_verb,
    start_rollout,
)
from rollout.engine.runner import load_stored
from rollout.engine.state import Hold
from rollout.plan.render import StageStatus
from rollout.store import ActionStatus, Store, open_store

SERVERS = [f"web-{n}" for n in range(1, 9)]

FLEET_SH = """\
#!/bin/sh
# Usage: fleet.sh deploy | restore | <anything else, logged as is>
running="fleet/$ROLLOUT_INSTANCE"
case "$1" in
  deploy)
    if [ -e "broken-$ROLLOUT_INSTANCE" ]; then
      echo "$ROLLOUT_INSTANCE does not start $ROLLOUT_VERSION" >&2
      exit 1
    fi
    [ "$(cat "$running")" = "$ROLLOUT_VERSION" ] && exit 0
    cp "$running" "$running.previous"
    echo "$ROLLOUT_VERSION" > "$running"
    echo "deploy $ROLLOUT_INSTANCE $ROLLOUT_VERSION $ROLLOUT_STEP" >> fleet-log.txt
    ;;
  restore)
    [ -e "$running.previous" ] || exit 0
    mv "$running.previous" "$running"
    echo "restore $ROLLOUT_INSTANCE $(cat "$running") $ROLLOUT_STEP" >> fleet-log.txt
    ;;
  *)
    echo "$1 ${ROLLOUT_INSTANCE:--} - $ROLLOUT_STEP" >> fleet-log.txt
    ;;
esac
"""

REGRESSION_SH = """\
#!/bin/sh
# metrics.sh reports the canary failing 10 % of its requests while the file "bad" exists.
rm -f bad
if [ -n "$REGRESSES_ON" ] && [ "$(cat "fleet/$REGRESSES_ON")" != 1.0 ]; then touch bad; fi
exec ./metrics.sh
"""

ROLLING = """\
name: web
overview: {{summary: Replace the eight web servers two at a time., version: "2.0"}}
checklist:
  - {{item: Rollback plan documented, rollback: documented}}
strategy:
  type: rolling
  rollback_trigger: [error_rate > 5%]
  rolling:
    instances: [{servers}]
    batch_size: 2
    deploy: ./fleet.sh deploy
    undeploy: ./fleet.sh restore
    health_check: {{name: serves requests, run: ./fleet.sh health}}
    pause_between: 2m
environments:
  - name: production
stages:
  - {{name: First batch, audience: 25%, duration: 5m, success: [error_rate < 2%]}}
  - {{name: Three quarters, audience: 75%, duration: 5m, success: [error_rate < 2%]}}
  - {{name: Everyone, audience: 100%, duration: 5m, success: [error_rate < 2%]}}
monitoring:
  interval: 1m
  source: {{type: command, run: REGRESSES_ON={regresses_on} ./regression.sh}}
rollback:
  - {{name: Stop taking jobs, run: ./fleet.sh hold}}
  - {{name: Old version back on the upgraded servers, traffic: 0}}
  - {{name: Take jobs again, run: ./fleet.sh release}}
"""


def rolling_plan(regresses_on: str = "") -> str:
    return ROLLING.format(servers=", ".join(SERVERS), regresses_on=regresses_on)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    """The store on SQLite, then on a fresh PostgreSQL database (replaces the folder's own)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'rollout.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    with open_store(url, clock=clock.moment) as opened:
        yield opened


@pytest.fixture
def fleet(work: Path) -> Path:
    """The work folder with the fleet's scripts and every server on 1.0."""
    for name, text in (("fleet.sh", FLEET_SH), ("regression.sh", REGRESSION_SH)):
        (work / name).write_text(text)
        (work / name).chmod(0o755)
    (work / "fleet").mkdir()
    for server in SERVERS:
        (work / "fleet" / server).write_text("1.0\n")
    return work


def fleet_log(folder: Path) -> list[tuple[str, str, str, str]]:
    """``(what, server, version, step)`` for each line of the log, in order."""
    path = folder / "fleet-log.txt"
    lines = path.read_text().splitlines() if path.exists() else []
    return [(what, server, version, step) for what, server, version, step in map(str.split, lines)]


def running(folder: Path) -> dict[str, str]:
    return {server: (folder / "fleet" / server).read_text().strip() for server in SERVERS}


def reasons(store: Store, rollout_id: str) -> list[str]:
    return [e.message for e in store.list_events(rollout_id) if e.kind == "rollout.reason"]


def when(store: Store, rollout_id: str, kind: str, step: str) -> datetime:
    """When the action event ``kind`` of ``step``'s first attempt was recorded."""
    key = f"{rollout_id}:{step}:1"
    found = [e.at for e in store.list_events(rollout_id) if e.kind == kind and e.data["key"] == key]
    assert len(found) == 1, (kind, step, found)
    return found[0]


def batch(stage: int, first: int) -> str:
    return f"production/stage-{stage}/batch-{first}-{first + 1}"


def rolled_out(stage: int, first: int) -> list[tuple[str, str, str, str]]:
    """What the log shows for one batch going out: both servers, then each one's health."""
    return [
        ("deploy", f"web-{first}", "2.0", f"{batch(stage, first)}/deploy"),
        ("deploy", f"web-{first + 1}", "2.0", f"{batch(stage, first)}/deploy"),
        ("health", f"web-{first}", "-", f"{batch(stage, first)}/health"),
        ("health", f"web-{first + 1}", "-", f"{batch(stage, first)}/health"),
    ]


GOOD_RELEASE = [*rolled_out(1, 1), *rolled_out(2, 3), *rolled_out(2, 5), *rolled_out(3, 7)]


def test_a_good_release_replaces_every_batch_once_in_order_and_succeeds(
    fleet: Path, store: Store, clock: FakeClock, make_controller: Callable[..., Controller]
) -> None:
    record = start_rollout(store, write_plan(fleet, rolling_plan()), None, "alice")

    final = drive(make_controller(), clock, store, record.id)

    assert final == "succeeded", rollout_status(store, record.id, now=clock()).reason
    assert fleet_log(fleet) == GOOD_RELEASE
    assert set(running(fleet).values()) == {"2.0"}
    progress = rollout_progress(store, record.id)
    assert [stage.status for stage in progress.stages] == [StageStatus.PASSED] * 3
    said = reasons(store, record.id)
    assert (
        "stage 2 (Three quarters) of production: 6 of 8 instances (75%) run 2.0; baking for 5m"
        in said
    )
    # Within a stage, the next batch waits for the plan's pause after the last one's check.
    checked = when(store, record.id, "action.done", f"{batch(2, 3)}/health")
    next_batch = when(store, record.id, "action.intent", f"{batch(2, 5)}/deploy")
    assert (next_batch - checked).total_seconds() >= 120


def test_a_regression_from_the_second_batch_puts_the_upgraded_servers_back_in_order(
    fleet: Path, store: Store, clock: FakeClock, make_controller: Callable[..., Controller]
) -> None:
    plan = write_plan(fleet, rolling_plan(regresses_on="web-3"))
    record = start_rollout(store, plan, None, "alice")

    final = drive(make_controller(), clock, store, record.id)

    assert final == "rolled_back", rollout_status(store, record.id, now=clock()).reason
    log = fleet_log(fleet)
    # Triggers are judged while a stage ramps too: the regression web-3 brought is seen in
    # the pause after its batch, so the next batch (web-5, web-6) never goes out.
    going_out = [line for line in log if line[0] in ("deploy", "health")]
    assert going_out == GOOD_RELEASE[: len(going_out)]
    upgraded = [server for what, server, _, _ in going_out if what == "deploy"]
    assert upgraded == ["web-1", "web-2", "web-3", "web-4"]
    # The plan's rollback steps in order; step 2 puts the upgraded servers back, newest first.
    assert log[len(going_out) :] == [
        ("hold", "-", "-", "rollback/1"),
        *[("restore", server, "1.0", "rollback/2") for server in reversed(upgraded)],
        ("release", "-", "-", "rollback/3"),
    ]
    assert set(running(fleet).values()) == {"1.0"}

    cause = (
        "stage 2 (Three quarters): rollback trigger fired while ramping: error_rate > 5%: error "
        "rate 10.0% is above the rollback trigger of 5% over 1,000 canary requests"
    )
    said = reasons(store, record.id)
    assert any(r.startswith(f"rolling back production: {cause}") for r in said), said
    assert said[-1].startswith(f"rolled back production: all 3 rollback steps done (cause: {cause}")
    states = [e.data["to"] for e in store.list_events(record.id) if e.kind == "rollout.state"]
    assert states[-2:] == ["rolling_back", "rolled_back"]
    progress = rollout_progress(store, record.id)
    assert [stage.status for stage in progress.stages] == [
        StageStatus.PASSED,
        StageStatus.ROLLED_BACK,
        StageStatus.NOT_STARTED,
    ]
    assert store.verify_chain(record.id).ok


def test_a_deploy_that_fails_on_one_batch_pauses_and_retry_carries_on_from_that_batch(
    fleet: Path, store: Store, clock: FakeClock, make_controller: Callable[..., Controller]
) -> None:
    (fleet / "broken-web-4").touch()
    record = start_rollout(store, write_plan(fleet, rolling_plan()), None, "alice")
    controller = make_controller()

    view = advance_until(controller, clock, store, record.id, lambda v: v.status == "paused")

    assert view.status == "paused", view.reason
    assert re.fullmatch(
        r"deploying web-3, web-4 failed after 2 attempts: web-4: `./fleet.sh deploy` exited 1 "
        r"after \d+ ms: web-4 does not start 2.0; fix the cause, then retry \(or abort to roll "
        r"back\)",
        view.reason,
    ), view.reason
    stored = load_stored(store.get_rollout(record.id))
    assert stored.engine is not None and stored.engine.hold is Hold.FAILURE
    stopped_at = [*rolled_out(1, 1), ("deploy", "web-3", "2.0", f"{batch(2, 3)}/deploy")]
    assert fleet_log(fleet) == stopped_at
    clock.advance(3600)  # it holds, however long nobody looks
    controller.run_once()
    assert store.get_rollout(record.id).status.value == "paused"
    assert fleet_log(fleet) == stopped_at

    (fleet / "broken-web-4").unlink()
    send_verb(store, record.id, "retry", "alice", "web-4 has its disk back")
    final = drive(controller, clock, store, record.id)

    assert final == "succeeded", rollout_status(store, record.id, now=clock()).reason
    # Batch 1 is not deployed again; batch 2 finishes on web-4 (web-3 already runs 2.0).
    assert fleet_log(fleet) == [
        *stopped_at,
        *rolled_out(2, 3)[1:],
        *rolled_out(2, 5),
        *rolled_out(3, 7),
    ]
    deploys = {
        a.attempt: a.status
        for a in store.list_actions(record.id)
        if a.step == f"{batch(2, 3)}/deploy"
    }
    assert deploys == {1: ActionStatus.FAILED, 2: ActionStatus.FAILED, 3: ActionStatus.DONE}
    said = reasons(store, record.id)
    assert f"retry by alice (web-4 has its disk back): running {batch(2, 3)}/deploy again" in said


def test_a_batch_health_check_is_told_each_server_it_checks(
    fleet: Path, store: Store, clock: FakeClock, make_controller: Callable[..., Controller]
) -> None:
    record = start_rollout(store, write_plan(fleet, rolling_plan()), None, "alice")
    advance_until(make_controller(), clock, store, record.id, at_stage(1))

    checked = [server for what, server, _, _ in fleet_log(fleet) if what == "health"]
    assert checked == ["web-1", "web-2"]


def test_while_a_stage_ramps_its_status_shows_the_triggers_being_judged(
    fleet: Path, store: Store, clock: FakeClock, make_controller: Callable[..., Controller]
) -> None:
    record = start_rollout(store, write_plan(fleet, rolling_plan()), None, "alice")
    controller = make_controller()
    # Stage 2's first batch is out and the two-minute pause before its second has begun.
    view = advance_until(
        controller,
        clock,
        store,
        record.id,
        lambda v: (
            v.status == "ramping"
            and v.stage_number == 2
            and any(c.reason != "no data yet" for c in v.criteria)
        ),
        step=30.0,
    )
    [trigger] = view.criteria
    assert (trigger.text, trigger.role, trigger.verdict) == (
        "error_rate > 5%",
        "rollback",
        "pass",  # the batches out so far are healthy: the ramp carries on
    )
    assert trigger.reason == (
        "error rate 0.50% is below the rollback trigger of 5% over 1,000 canary requests"
    )
