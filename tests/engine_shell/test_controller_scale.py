"""Scale-out: several ``rollout controller`` processes on one PostgreSQL run 100 rollouts.

Short plans (a one-second stage and validation, half-second judging) on the real clock, with
short leases so that leases really expire and change hands under load; in the four-controller
run one
controller is killed (SIGKILL) half way and the others take its rollouts over. Every rollout
must finish, and the audit trail must show that no two controllers ever acted on one rollout
at once: each action's intent and end are recorded by the same controller, with no event of
another controller in between.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from shell_plans import write_plan

from rollout.engine.controller import start_rollout
from rollout.engine.runner import CRASH_ENV
from rollout.store import EventRecord, Store, open_store

ROLLOUTS = 100

SCALE_PLAN = """\
name: scale-{n}
overview: {{summary: A short flag ramp., version: "2.0"}}
checklist:
  - {{item: Rollback plan documented, rollback: documented}}
strategy: {{type: feature-flag, flag: flag-{n}}}
environments:
  - name: production
flags:
  - {{key: flag-{n}, rollout: 100%}}
stages:
  - {{name: All, audience: 100%, duration: 1s}}
monitoring: {{interval: 500ms}}
rollback:
  - flag: {{key: flag-{n}, percent: 0}}
validation: {{window: 1s}}
"""


def overlaps(events: list[EventRecord], dead: dict[str, datetime]) -> list[str]:
    """Actions of one rollout during which another controller wrote to its trail. An action
    left open by a controller that was killed may be finished by another after the kill."""
    problems = []
    open_by: dict[str, str] = {}
    for event in events:
        if event.actor == "alice":
            continue
        for key, owner in list(open_by.items()):
            if owner in dead and event.at >= dead[owner]:
                del open_by[key]  # orphaned by the kill: the next owner runs it again
            elif event.actor != owner:
                problems.append(f"{event.actor} wrote seq {event.seq} while {owner} ran {key}")
        if event.kind == "action.intent":
            open_by[event.data["key"]] = event.actor
        elif event.kind in ("action.done", "action.failed"):
            open_by.pop(event.data["key"], None)
    return problems


def controllers(url: str, folder: Path, count: int) -> list[subprocess.Popen[bytes]]:
    rollout = str(Path(os.environ.get("VIRTUAL_ENV", "")) / "bin" / "rollout")
    if not Path(rollout).exists():
        import sys

        rollout = str(Path(sys.executable).parent / "rollout")
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    return [
        subprocess.Popen(
            [
                rollout,
                "controller",
                "--database",
                url,
                "--id",
                f"ctl-{i}",
                "--interval",
                "0.2",
                "--lease-ttl",
                "3",
                # Exactly a share each: all of them are needed to hold every rollout, so a
                # controller that starts a moment after the others still finds its share.
                "--max-rollouts",
                str(ROLLOUTS // count),
            ],
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i in range(count)
    ]


def run_scale(url: str, folder: Path, count: int, kill_one: bool) -> dict[str, int]:
    with open_store(url) as store:
        ids = [
            start_rollout(
                store, write_plan(folder, SCALE_PLAN.format(n=n), f"p{n}.yaml"), None, "alice"
            ).id
            for n in range(ROLLOUTS)
        ]
        processes = controllers(url, folder, count)
        dead: dict[str, datetime] = {}
        try:
            deadline = time.monotonic() + 110
            while time.monotonic() < deadline:
                active = store.list_rollouts(active_only=True)
                if not active:
                    break
                if kill_one and not dead and len(active) < ROLLOUTS // 2:
                    processes[0].send_signal(signal.SIGKILL)
                    dead["ctl-0"] = datetime.now(UTC)
                time.sleep(0.5)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            logs = [p.communicate(timeout=60)[1].decode(errors="replace") for p in processes]
        return check(store, ids, count, dead, logs)


def check(
    store: Store, ids: list[str], count: int, dead: dict[str, datetime], logs: list[str]
) -> dict[str, int]:
    statuses = {store.get_rollout(rid).status.value for rid in ids}
    assert statuses == {"succeeded"}
    problems: list[str] = []
    shared = 0
    used: set[str] = set()
    for n, rid in enumerate(ids):
        events = store.list_events(rid)
        problems += overlaps(events, dead)
        actors = {e.actor for e in events if e.kind.startswith(("action.", "rollout."))}
        used |= actors
        shared += len(actors) > 1
        flag = store.get_flag("production", f"flag-{n}").definition
        assert flag["fallthrough"]["rollout"]["percent"] == 100.0
    assert problems == []
    # Every controller took part (its log says what it did when it did not).
    assert len(used - {"alice"}) == count, "\n".join(logs)
    return {"handed_over": shared}


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize(("count", "kill_one"), [(2, False), (4, True)])
def test_controllers_share_100_rollouts_and_never_act_on_one_at_once(
    pg_url: str, tmp_path: Path, count: int, kill_one: bool
) -> None:
    found = run_scale(pg_url, tmp_path, count, kill_one)
    if kill_one:
        assert found["handed_over"] > 0  # the killed controller's rollouts were taken over
