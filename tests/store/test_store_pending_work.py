"""Ended rollouts whose state was saved with actions still to carry out (their last
announcements) are leased when a controller asks for them, and only then."""

from __future__ import annotations

from collections.abc import Callable

from store_fakes import FakeClock

from rollout.store import RolloutStatus, Store


def test_pending_work_is_saved_with_the_state(
    store: Store, new_rollout: Callable[..., str]
) -> None:
    rollout_id = new_rollout()
    assert store.get_rollout(rollout_id).pending_work is False
    saved = store.save_rollout_state(rollout_id, 1, "gating", {}, pending_work=True)
    assert saved.pending_work is True
    assert store.get_rollout(rollout_id).pending_work is True
    store.save_rollout_state(rollout_id, 2, "deploying", {})
    assert store.get_rollout(rollout_id).pending_work is False


def test_an_ended_rollout_with_pending_work_is_leased_only_when_asked_for(
    store: Store, new_rollout: Callable[..., str], clock: FakeClock
) -> None:
    ended, finished, active = (new_rollout(f"r{i}") for i in range(3))
    store.save_rollout_state(ended, 1, RolloutStatus.SUCCEEDED, {}, pending_work=True)
    store.save_rollout_state(finished, 1, RolloutStatus.ROLLED_BACK, {})

    assert store.acquire_lease(None, "old", 30) == [active]
    assert store.acquire_lease(ended, "old", 30) == []
    clock.advance(31)
    held = store.acquire_lease(None, "new", 30, include_pending_terminal=True)
    assert held == sorted([ended, active])
    # Held like any lease: nobody else gets it until it expires or is given back.
    assert store.acquire_lease(ended, "other", 30, include_pending_terminal=True) == []

    # Once its last actions are done, the state is saved without pending work: never again.
    store.save_rollout_state(ended, 2, RolloutStatus.SUCCEEDED, {}, lease_owner="new")
    store.release_lease(ended, "new")
    assert store.acquire_lease(ended, "other", 30, include_pending_terminal=True) == []


def test_limit_counts_ended_rollouts_with_pending_work_too(
    store: Store, new_rollout: Callable[..., str], clock: FakeClock
) -> None:
    first = new_rollout("first")
    clock.advance(1)
    second = new_rollout("second")
    store.save_rollout_state(first, 1, RolloutStatus.FAILED, {}, pending_work=True)

    assert store.acquire_lease(None, "a", 60, limit=1, include_pending_terminal=True) == [first]
    assert store.acquire_lease(None, "b", 60, limit=1, include_pending_terminal=True) == [second]
