"""Idempotent actions (intent, then done or failed) and approvals."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from store_fakes import FakeClock

from rollout.errors import Conflict, NotFound
from rollout.store import ActionStatus, ApprovalDecision, Store, action_key


@pytest.fixture
def rollout_id(new_rollout: Callable[..., str]) -> str:
    return new_rollout()


def test_intent_then_done_records_the_outcome_and_times(
    store: Store, rollout_id: str, clock: FakeClock
) -> None:
    started = clock.now
    intent = store.record_action_intent(rollout_id, "stage-1.ramp", 1, "flag.set", {"pct": 5})
    assert intent.key == f"{rollout_id}:stage-1.ramp:1" == action_key(rollout_id, "stage-1.ramp", 1)
    assert (intent.status, intent.payload, intent.result) == (ActionStatus.INTENT, {"pct": 5}, None)
    assert (intent.created_at, intent.finished_at) == (started, None)

    clock.advance(2)
    done = store.record_action_done(intent.key, {"applied": 5})

    assert (done.status, done.result, done.finished_at) == (
        ActionStatus.DONE,
        {"applied": 5},
        clock.now,
    )
    assert store.get_action(intent.key) == done
    assert [e.kind for e in store.list_events(rollout_id)][-2:] == ["action.intent", "action.done"]


def test_repeating_an_intent_after_a_crash_returns_what_is_stored(
    store: Store, rollout_id: str
) -> None:
    first = store.record_action_intent(rollout_id, "ramp", 1, "flag.set", {"pct": 5})
    store.record_action_done(first.key, {"applied": 5})

    again = store.record_action_intent(rollout_id, "ramp", 1, "flag.set", {"pct": 5})

    assert again.status is ActionStatus.DONE  # the runner skips it
    assert len([e for e in store.list_events(rollout_id) if e.kind == "action.intent"]) == 1


def test_the_same_key_with_another_payload_is_a_conflict(store: Store, rollout_id: str) -> None:
    store.record_action_intent(rollout_id, "ramp", 1, "flag.set", {"pct": 5})
    with pytest.raises(Conflict, match="another kind or payload"):
        store.record_action_intent(rollout_id, "ramp", 1, "flag.set", {"pct": 50})


def test_done_twice_is_harmless_but_done_after_failed_is_a_conflict(
    store: Store, rollout_id: str
) -> None:
    ok = store.record_action_intent(rollout_id, "notify", 1, "notify", {})
    first = store.record_action_done(ok.key, {"sent": 1})
    assert store.record_action_done(ok.key, {"sent": 2}) == first

    bad = store.record_action_intent(rollout_id, "ramp", 1, "traffic.set", {"weight": 10})
    failed = store.record_action_failed(bad.key, "nginx reload failed", {"exit": 1})
    assert (failed.status, failed.result) == (
        ActionStatus.FAILED,
        {"exit": 1, "error": "nginx reload failed"},
    )
    assert store.list_events(rollout_id)[-1].message.endswith("failed: nginx reload failed")
    with pytest.raises(Conflict, match="already failed"):
        store.record_action_done(bad.key)


def test_a_retry_is_a_new_attempt(store: Store, rollout_id: str) -> None:
    first = store.record_action_intent(rollout_id, "ramp", 1, "traffic.set", {"weight": 10})
    store.record_action_failed(first.key, "timeout")
    second = store.record_action_intent(rollout_id, "ramp", 2, "traffic.set", {"weight": 10})

    assert second.status is ActionStatus.INTENT
    assert [a.key for a in store.list_actions(rollout_id)] == [first.key, second.key]


def test_unknown_actions_and_rollouts_are_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.get_action("ro_x:ramp:1")
    with pytest.raises(NotFound):
        store.record_action_done("ro_x:ramp:1")
    with pytest.raises(NotFound):
        store.record_action_intent("ro_x", "ramp", 1, "flag.set")


def test_approvals_are_recorded_once_per_person_and_environment(
    store: Store, rollout_id: str, clock: FakeClock
) -> None:
    approved = store.add_approval(rollout_id, "production", "bob", "approve", "looks good")
    rejected = store.add_approval(rollout_id, "production", "eve", ApprovalDecision.REJECT)
    store.add_approval(rollout_id, "staging", "bob", "approve")

    assert (approved.decision, approved.comment, approved.at) == (
        ApprovalDecision.APPROVE,
        "looks good",
        clock.now,
    )
    assert store.list_approvals(rollout_id, "production") == [approved, rejected]
    assert len(store.list_approvals(rollout_id)) == 3
    with pytest.raises(Conflict, match="bob already decided 'approve' for production"):
        store.add_approval(rollout_id, "production", "bob", "reject")

    messages = [e.message for e in store.list_events(rollout_id) if e.kind == "approval"]
    assert messages == [
        "bob approved production: looks good",
        "eve rejected production",
        "bob approved staging",
    ]


def test_approving_an_unknown_rollout_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.add_approval("ro_x", "production", "bob", "approve")
