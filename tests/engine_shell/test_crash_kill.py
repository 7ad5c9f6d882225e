"""Durability: controllers killed with SIGKILL at many points of a rollout, then restarted.

Each rollout runs its actions as real commands that append their idempotency key to a ledger
(``ledger.txt`` once per key; ``raw.txt`` on every run). A controller process is killed at a
point chosen by counting (after its N-th action intent, action run, recorded end or state
save: the runner's test hook makes it SIGKILL itself there; one or two such points per
controller, 80 or so kills over both databases), a new controller with another id
takes over once the dead one's lease has expired, and so on until the rollout ends. It must
end as an uninterrupted run does, with:

- the same actions, each step under the same single key (no step applied under two keys);
- every command run once, except those whose intent was recorded but not their end at a kill
  (they run again with the same key, which the contract allows: commands are idempotent by
  key, as the ledger script is);
- one ``action.intent`` and one end event per key, the same state changes, an intact chain.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from shell_plans import START, ledger, step_of, write_plan, write_scripts
from shell_worker import Worker

from rollout.engine.controller import start_rollout
from rollout.engine.runner import CRASH_ENV
from rollout.store import ActionStatus, open_store

HERE = Path(__file__).resolve().parent
LEASE_TTL = 30.0

CRASH_PLAN = """\
name: {name}
overview: {{summary: Every action is a command that keeps a ledger., version: "2.0"}}
checklist:
  - item: Tests pass
    run: ./ledger.sh gate-tests
  - item: Audit clean
    run: ./ledger.sh gate-audit
strategy: {{type: canary}}
environments:
  - name: staging
    deploy: {{run: ./ledger.sh deploy}}
    staged: false
    traffic: {{type: command, set: "./ledger.sh weight {{weight}}", get: ./weight.sh}}
  - name: production
    approval: {{required: true, approvers: [bob]}}
    deploy: {{run: ./ledger.sh deploy}}
    traffic: {{type: command, set: "./ledger.sh weight {{weight}}", get: ./weight.sh}}
stages:
  - {{name: Canary, audience: 10%, duration: 5m}}
  - {{name: Everyone, audience: 100%, duration: 5m}}
rollback:
  - traffic: 0
  - run: ./ledger.sh drain
validation:
  window: 2m
  smoke: [{{name: smoke, run: "./ledger.sh smoke-$ROLLOUT_ENVIRONMENT"}}]
  key_flows: [{{name: buy one item, run: ./ledger.sh flow}}]
"""


@dataclass
class Run:
    status: str
    done: list[tuple[str, str]]
    raw: list[tuple[str, str]]
    events: list[tuple[str, str, dict[str, object]]]
    kills: int
    in_flight: set[str]


def run_rollout(
    worker: Worker, url: str, folder: Path, name: str, *, failing: bool, seed: int | None
) -> Run:
    """One rollout to its end; with a ``seed``, killing each controller at a random point."""
    folder.mkdir()
    write_scripts(folder)
    if failing:
        (folder / "fail-smoke-production").touch()  # production's smoke check fails: roll back
    clock_file = folder / "clock"
    clock_file.write_text(repr(START))
    rng = random.Random(seed)
    kills, in_flight = 0, set()
    with open_store(url) as store:
        plan = write_plan(folder, CRASH_PLAN.format(name=name))
        rid = start_rollout(store, plan, None, "alice").id
        store.add_approval(rid, "production", "bob", "approve")  # given early, kept till then
        for attempt in range(80):
            point = None
            if seed is not None:
                point = f"{rng.choice(['intent', 'act', 'done', 'save'])}:{rng.randint(1, 2)}"
            result = worker.run(
                url=url,
                cwd=str(folder),
                owner=f"{name}-run-{attempt}",
                rollout=rid,
                clock_file=str(clock_file),
                step=60.0,
                ticks=200,
                crash_at=point,
            )
            if result == {"exit": 0}:
                break
            assert result == {"signal": signal.SIGKILL}, result
            kills += 1
            in_flight |= {a.key for a in store.list_actions(rid) if a.status is ActionStatus.INTENT}
            # The dead controller's lease runs out before the next one may act.
            clock_file.write_text(repr(float(clock_file.read_text()) + LEASE_TTL + 1))
        record = store.get_rollout(rid)
        assert store.verify_chain(rid).ok
        events = [(e.kind, e.actor, e.data) for e in store.list_events(rid)]
    return Run(
        record.status.value, ledger(folder), ledger(folder, "raw.txt"), events, kills, in_flight
    )


def shape(run: Run) -> dict[str, object]:
    """What must not depend on kills: the end, the applied steps, the state changes."""
    keys = [key for key, _ in run.done]
    return {
        "status": run.status,
        "applied": [(step_of(key), key.rsplit(":", 1)[1], what) for key, what in run.done],
        "states": [data["to"] for kind, _, data in run.events if kind == "rollout.state"],
        "keys": len(keys) == len(set(keys)),
    }


def check_durable(reference: Run, crashed: Run) -> None:
    assert shape(crashed) == shape(reference)
    # Only an action whose intent was recorded and whose end was not, at a kill, ran twice.
    counts = Counter(key for key, _ in crashed.raw)
    again = {key for key, count in counts.items() if count > 1}
    assert again <= crashed.in_flight
    # The audit trail has each step once: one intent and one end per key.
    intents = Counter(data["key"] for kind, _, data in crashed.events if kind == "action.intent")
    ends = Counter(
        data["key"] for kind, _, data in crashed.events if kind in ("action.done", "action.failed")
    )
    assert set(intents.values()) == {1} and intents == ends
    commands = {
        data["key"]
        for kind, _, data in crashed.events
        if kind == "action.intent" and data["kind"] != "request_approval"
    }
    assert commands == {key for key, _ in crashed.done}


def scenarios(worker: Worker, url: str, tmp_path: Path, label: str) -> int:
    kills = 0
    for number, failing in enumerate((False, True, False)):
        name = f"{label}-{number}"
        reference = run_rollout(
            worker, url, tmp_path / f"{name}-ref", f"{name}-ref", failing=failing, seed=None
        )
        assert reference.status == ("rolled_back" if failing else "succeeded")
        assert reference.kills == 0 and reference.raw == reference.done
        crashed = run_rollout(
            worker, url, tmp_path / name, name, failing=failing, seed=1000 * number + len(label)
        )
        check_durable(reference, crashed)
        kills += crashed.kills
    return kills


@pytest.mark.slow
def test_kill_9_at_many_points_on_sqlite(worker: Worker, tmp_path: Path) -> None:
    kills = scenarios(worker, f"sqlite:///{tmp_path / 'rollout.db'}", tmp_path, "sqlite")
    assert kills >= 25


@pytest.mark.slow
@pytest.mark.postgres
def test_kill_9_at_many_points_on_postgresql(worker: Worker, pg_url: str, tmp_path: Path) -> None:
    kills = scenarios(worker, pg_url, tmp_path, "postgres")
    assert kills >= 25


FAST_PLAN = (
    CRASH_PLAN.replace("duration: 5m", "duration: 1s").replace("window: 2m", "window: 1s")
    + "monitoring: {{interval: 500ms}}\n"
)


@pytest.mark.slow
def test_the_rollout_controller_command_killed_then_restarted_then_stopped(
    tmp_path: Path,
) -> None:
    folder = write_scripts(tmp_path)
    url = f"sqlite:///{tmp_path / 'rollout.db'}"
    with open_store(url) as store:
        rid = start_rollout(store, write_plan(folder, FAST_PLAN.format(name="cli")), None, "a").id
        store.add_approval(rid, "production", "bob", "approve")
    command = [str(Path(sys.executable).parent / "rollout"), "controller", "--database", url]
    env = {**os.environ, CRASH_ENV: "act:4"}
    first = subprocess.run(
        [*command, "--id", "first", "--interval", "0.1", "--lease-ttl", "2"],
        cwd=folder,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert first.returncode == -signal.SIGKILL
    with open_store(url) as store:
        in_flight = {a.key for a in store.list_actions(rid) if a.status is ActionStatus.INTENT}
        assert len(in_flight) == 1  # killed after the 4th action ran, before its end was recorded
        env.pop(CRASH_ENV)
        second = subprocess.Popen(
            [*command, "--id", "second", "--interval", "0.1"],
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 90
            while not store.get_rollout(rid).terminal and time.monotonic() < deadline:
                time.sleep(0.2)
            assert store.get_rollout(rid).status.value == "succeeded"
        finally:
            second.send_signal(signal.SIGTERM)
            _, err = second.communicate(timeout=60)
        assert second.returncode == 0, err
        assert b"SIGTERM received: finishing the action in hand" in err
        counts = Counter(key for key, _ in ledger(folder, "raw.txt"))
        assert {key for key, count in counts.items() if count > 1} == in_flight
        actors = {e.actor for e in store.list_events(rid) if e.kind.startswith("action.")}
        assert actors == {"first", "second"}
