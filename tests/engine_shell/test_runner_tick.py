"""The runner end to end on SQLite: real command gates, deploys, routers and checks in a work
folder, a fake clock, and the audit trail and ledger they leave."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from shell_plans import FakeClock, approver, canary, drive, ledger, step_of, write_plan

from rollout.engine import actions_exec
from rollout.engine.controller import Controller, rollout_progress, send_verb, start_rollout
from rollout.engine.runner import load_stored
from rollout.plan.render import StageStatus
from rollout.store import ActionStatus, Store

EXPECTED_STEPS = [
    ("gate/1", "gate-tests"),
    ("gate/2", "gate-audit"),
    ("staging/deploy", "deploy"),
    ("staging/full/traffic", "weight 100"),
    ("staging/validation/smoke-1", "smoke"),
    ("staging/validation/flow-1", "flow"),
    ("production/deploy", "deploy"),
    ("production/stage-1/traffic", "weight 10"),
    ("production/stage-2/traffic", "weight 100"),
    ("production/validation/smoke-1", "smoke"),
    ("production/validation/flow-1", "flow"),
]


def test_a_rollout_runs_to_success_through_real_commands(
    work: Path, store: Store, clock: FakeClock, make_controller: Callable[..., Controller]
) -> None:
    record = start_rollout(store, write_plan(work, canary()), None, "alice")
    final = drive(make_controller(), clock, store, record.id, each=approver(store, record.id))

    assert final == "succeeded"
    done = ledger(work)
    assert [(step_of(key), what) for key, what in done] == EXPECTED_STEPS
    assert all(key.startswith(f"{record.id}:") and key.endswith(":1") for key, _ in done)
    assert ledger(work, "raw.txt") == done  # every command ran once
    assert (work / "weight-production.txt").read_text().strip() == "100"
    events = store.list_events(record.id)
    intents = Counter(e.data["key"] for e in events if e.kind == "action.intent")
    ends = Counter(e.data["key"] for e in events if e.kind in ("action.done", "action.failed"))
    assert set(intents.values()) == {1} and intents == ends
    assert store.verify_chain(record.id).ok
    states = [e.data["to"] for e in events if e.kind == "rollout.state"]
    assert states[0] == "gating" and states[-1] == "succeeded"
    assert "awaiting_approval" in states and states.count("observing") == 2


def test_a_failing_gate_holds_until_retry_then_runs_as_a_new_attempt(
    work: Path, store: Store, clock: FakeClock, make_controller: Callable[..., Controller]
) -> None:
    (work / "fail-gate-audit").touch()
    record = start_rollout(store, write_plan(work, canary()), None, "alice")
    controller = make_controller()
    controller.run_once()
    stored = load_stored(store.get_rollout(record.id))
    assert stored.record.status.value == "paused"
    assert stored.engine is not None and stored.engine.hold is not None
    assert "gate 2 (Audit clean) failed after 1 attempt" in stored.engine.reason
    assert "gate-audit fails while fail-gate-audit exists" in stored.engine.reason

    (work / "fail-gate-audit").unlink()
    send_verb(store, record.id, "retry", "alice", "fixed the audit")
    final = drive(controller, clock, store, record.id, each=approver(store, record.id))

    assert final == "succeeded"
    gate_keys = [key for key, _ in ledger(work) if step_of(key) == "gate/2"]
    assert gate_keys == [f"{record.id}:gate/2:1", f"{record.id}:gate/2:2"]
    assert store.get_action(gate_keys[0]).status is ActionStatus.FAILED


def test_a_rollback_trigger_rolls_back_through_the_plans_steps(
    work: Path, store: Store, clock: FakeClock, make_controller: Callable[..., Controller]
) -> None:
    record = start_rollout(store, write_plan(work, canary()), None, "alice")

    def each(status: str) -> None:
        approver(store, record.id)(status)
        if status == "observing":
            (work / "bad").touch()  # the canary starts failing 10 % of its requests

    final = drive(make_controller(), clock, store, record.id, each=each)

    assert final == "rolled_back"
    steps = [(step_of(key), what) for key, what in ledger(work)]
    assert steps[-2:] == [("rollback/1", "weight 0"), ("rollback/2", "drain")]
    assert (work / "weight-production.txt").read_text().strip() == "0"
    progress = rollout_progress(store, record.id)
    assert progress.stages[0].status is StageStatus.ROLLED_BACK
    assert "error_rate > 5%" in progress.stages[0].reason
    assert progress.stages[1].status is StageStatus.NOT_STARTED


def test_an_idle_tick_writes_nothing(
    work: Path, store: Store, clock: FakeClock, make_controller: Callable[..., Controller]
) -> None:
    record = start_rollout(store, write_plan(work, canary()), None, "alice")
    controller = make_controller()
    drive(controller, clock, store, record.id, ticks=3)
    waiting = store.get_rollout(record.id)
    assert waiting.status.value == "awaiting_approval"
    clock.advance(60)
    controller.run_once()
    assert store.get_rollout(record.id).revision == waiting.revision


class Interrupted(BaseException):
    """Stands in for the process dying at that very point."""


def test_an_action_whose_end_was_not_recorded_runs_again_with_the_same_key(
    work: Path,
    store: Store,
    clock: FakeClock,
    make_controller: Callable[..., Controller],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    record = start_rollout(store, write_plan(work, canary()), None, "alice")
    real = actions_exec.ActionExecutor.execute
    crashed: list[str] = []

    def execute(self: actions_exec.ActionExecutor, action, now, stage=""):  # type: ignore[no-untyped-def]
        done = real(self, action, now, stage)
        if action.step == "staging/deploy" and not crashed:
            crashed.append(action.key)
            raise Interrupted  # the deploy ran; its end was never recorded
        return done

    monkeypatch.setattr(actions_exec.ActionExecutor, "execute", execute)
    with pytest.raises(Interrupted):
        make_controller().run_once()
    assert store.get_action(crashed[0]).status is ActionStatus.INTENT

    final = drive(make_controller("c2"), clock, store, record.id, each=approver(store, record.id))

    assert final == "succeeded"
    raw = [key for key, _ in ledger(work, "raw.txt")]
    assert raw.count(crashed[0]) == 2  # run again, with the same key
    assert [k for k, c in Counter(raw).items() if c > 1] == crashed
    assert [step_of(k) for k, _ in ledger(work)] == [s for s, _ in EXPECTED_STEPS]


def test_an_action_recorded_done_is_not_run_again_after_a_lost_save(
    work: Path,
    store: Store,
    clock: FakeClock,
    make_controller: Callable[..., Controller],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    record = start_rollout(store, write_plan(work, canary()), None, "alice")
    real = Store.save_rollout_state
    saves: list[int] = []

    def save(self: Store, *args, **kwargs):  # type: ignore[no-untyped-def]
        saves.append(1)
        if len(saves) == 2:
            raise Interrupted  # the gates ran and are recorded done; the state is not saved
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Store, "save_rollout_state", save)
    with pytest.raises(Interrupted):
        make_controller().run_once()
    assert {a.status for a in store.list_actions(record.id)} == {ActionStatus.DONE}
    monkeypatch.setattr(Store, "save_rollout_state", real)

    final = drive(make_controller("c2"), clock, store, record.id, each=approver(store, record.id))

    assert final == "succeeded"
    assert ledger(work, "raw.txt") == ledger(work)
