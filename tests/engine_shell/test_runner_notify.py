"""The communication plan end to end: messages reach a real HTTP receiver (Apprise's JSON
webhook), and a channel that is down never holds up a rollback."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from shell_plans import FakeClock, approver, canary, drive, write_plan
from shell_receiver import inbox

from rollout.engine.controller import Controller, start_rollout
from rollout.engine.runner import load_stored
from rollout.store import Store


def with_communication(channel: str) -> str:
    return canary().replace(
        "rollback:\n  - traffic: 0\n  - run: ./ledger.sh drain\n",
        "rollback:\n  - traffic: 0\n  - run: ./ledger.sh drain\n"
        "  - notify: {audience: ops, message: 'rollback step: {rollout} {reason}'}\n",
    ) + (
        "communication:\n"
        f"  - when: [started, rolling_back, rolled_back, succeeded]\n"
        f"    audience: ops\n"
        f"    channel: {channel}\n"
        "    message: '{state}: {reason}'\n"
    )


def test_messages_go_out_at_the_moments_the_plan_names(
    work: Path, store: Store, clock: FakeClock, make_controller: Callable[..., Controller]
) -> None:
    with inbox() as box:
        rid = start_rollout(
            store, write_plan(work, with_communication(box.channel())), None, "a"
        ).id
        final = drive(make_controller(), clock, store, rid, each=approver(store, rid))
        bodies = box.bodies()
    assert final == "succeeded"
    assert [b.split(":")[0] for b in bodies] == ["gating", "succeeded"]
    assert bodies[0] == "gating: rollout of 2.0 started by a: checking the 2 checklist items"
    assert bodies[1].startswith("succeeded: 2.0 is fully rolled out and validated in production")


def test_a_rollback_is_announced_and_its_notify_step_runs(
    work: Path, store: Store, clock: FakeClock, make_controller: Callable[..., Controller]
) -> None:
    with inbox() as box:
        rid = start_rollout(
            store, write_plan(work, with_communication(box.channel())), None, "a"
        ).id

        def each(status: str) -> None:
            approver(store, rid)(status)
            if status == "observing":
                (work / "bad").touch()

        final = drive(make_controller(), clock, store, rid, each=each)
        bodies = box.bodies()
    assert final == "rolled_back"
    states = [b.split(":")[0] for b in bodies]
    assert states == ["gating", "rolling_back", "rollback step", "rolled_back"]
    assert "error_rate > 5%" in bodies[1] and bodies[2].startswith(f"rollback step: {rid} ")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_channel_that_is_down_does_not_hold_up_the_rollback(
    work: Path, store: Store, clock: FakeClock, make_controller: Callable[..., Controller]
) -> None:
    channel = f"json://127.0.0.1:{_closed_port()}/hook"
    rid = start_rollout(store, write_plan(work, with_communication(channel)), None, "a").id

    def each(status: str) -> None:
        approver(store, rid)(status)
        if status == "observing":
            (work / "bad").touch()

    final = drive(make_controller(), clock, store, rid, each=each)

    assert final == "rolled_back"
    assert (work / "weight-production.txt").read_text().strip() == "0"
    state = load_stored(store.get_rollout(rid)).engine
    assert state is not None
    assert [n.split(" failed after ")[0] for n in state.notes] == ["rollback step 3 (notify)"]
    failed = [a for a in store.list_actions(rid) if a.kind == "notify"]
    assert failed and all(a.status.value == "failed" for a in failed)
