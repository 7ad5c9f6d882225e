"""Rollouts: creation, atomic state saves with revision checks, and leases."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from store_fakes import FakeClock

from rollout.errors import Conflict, LeaseLost, NotFound, StoreError
from rollout.store import NewEvent, RolloutStatus, Store


def test_created_rollout_reads_back_as_given(store: Store, clock: FakeClock) -> None:
    created = store.create_rollout(
        name="checkout",
        version="2.4.0",
        plan_yaml="name: checkout\n# comment kept\n",
        plan_json={"name": "checkout", "stages": [{"percent": 5}]},
        created_by="ann",
    )

    got = store.get_rollout(created.id)
    assert got == created
    assert got.id.startswith("ro_") and len(got.id) == 13
    assert got.plan_yaml == "name: checkout\n# comment kept\n"
    assert got.plan_json == {"name": "checkout", "stages": [{"percent": 5}]}
    assert (got.status, got.revision, got.state_json) == (RolloutStatus.PENDING, 1, {})
    assert got.created_at == got.updated_at == clock.now
    assert (got.lease_owner, got.lease_expires_at) == (None, None)


def test_unknown_rollout_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="ro_nothing"):
        store.get_rollout("ro_nothing")


def test_unknown_status_is_refused(store: Store, new_rollout: Callable[..., str]) -> None:
    rollout_id = new_rollout()
    with pytest.raises(StoreError, match="unknown rollout status 'exploded'"):
        store.save_rollout_state(rollout_id, 1, "exploded", {})
    assert store.get_rollout(rollout_id).revision == 1


def test_list_filters_by_status_name_and_activity(
    store: Store, new_rollout: Callable[..., str], clock: FakeClock
) -> None:
    first = new_rollout("web")
    clock.advance(1)
    second = new_rollout("api")
    clock.advance(1)
    third = new_rollout("web")
    store.save_rollout_state(second, 1, RolloutStatus.SUCCEEDED, {})

    assert [r.id for r in store.list_rollouts()] == [third, second, first]
    assert [r.id for r in store.list_rollouts(name="web")] == [third, first]
    assert [r.id for r in store.list_rollouts("succeeded")] == [second]
    assert [r.id for r in store.list_rollouts(active_only=True)] == [third, first]
    assert [r.id for r in store.list_rollouts(limit=1)] == [third]


def test_state_save_bumps_revision_and_appends_events_together(
    store: Store, new_rollout: Callable[..., str], clock: FakeClock
) -> None:
    rollout_id = new_rollout()
    clock.advance(5)

    saved = store.save_rollout_state(
        rollout_id,
        expected_revision=1,
        status=RolloutStatus.GATING,
        state_json={"gate": "tests", "attempt": 1},
        events=[NewEvent("state", "checking the gates"), NewEvent("gate", "tests passed")],
    )

    assert (saved.revision, saved.status, saved.state_json) == (
        2,
        RolloutStatus.GATING,
        {"gate": "tests", "attempt": 1},
    )
    assert saved.updated_at == clock.now
    assert store.get_rollout(rollout_id) == saved
    kinds = [(e.seq, e.kind) for e in store.list_events(rollout_id)]
    assert kinds == [(1, "rollout.created"), (2, "state"), (3, "gate")]


def test_stale_revision_conflicts_and_writes_nothing(
    store: Store, new_rollout: Callable[..., str]
) -> None:
    rollout_id = new_rollout()
    store.save_rollout_state(rollout_id, 1, "gating", {"n": 1}, [NewEvent("state", "one")])

    with pytest.raises(Conflict, match="at revision 2, not 1"):
        store.save_rollout_state(rollout_id, 1, "ramping", {"n": 2}, [NewEvent("state", "two")])

    after = store.get_rollout(rollout_id)
    assert (after.revision, after.status, after.state_json) == (2, "gating", {"n": 1})
    assert [e.message for e in store.list_events(rollout_id)][-1] == "one"


def test_saving_an_unknown_rollout_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.save_rollout_state("ro_missing", 1, "gating", {})


def test_concurrent_saves_of_one_revision_let_exactly_one_through(
    store: Store, new_rollout: Callable[..., str]
) -> None:
    rollout_id = new_rollout()
    start = threading.Barrier(4)

    def save(n: int) -> str:
        start.wait(timeout=10)
        try:
            store.save_rollout_state(rollout_id, 1, "gating", {"by": n}, [NewEvent("s", f"{n}")])
        except Conflict:
            return "conflict"
        return "saved"

    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(save, range(4)))

    assert outcomes == ["conflict", "conflict", "conflict", "saved"]
    assert store.get_rollout(rollout_id).revision == 2
    assert [e.seq for e in store.list_events(rollout_id)] == [1, 2]


def test_state_that_is_not_json_is_refused(store: Store, new_rollout: Callable[..., str]) -> None:
    rollout_id = new_rollout()
    with pytest.raises(ValueError, match="state_json is not JSON"):
        store.save_rollout_state(rollout_id, 1, "gating", {"ratio": float("nan")})
    assert store.get_rollout(rollout_id).revision == 1


# -- leases ------------------------------------------------------------------------------------


def test_a_held_lease_is_refused_to_others_until_it_expires(
    store: Store, new_rollout: Callable[..., str], clock: FakeClock
) -> None:
    rollout_id = new_rollout()
    start = clock.now

    assert store.acquire_lease(rollout_id, "controller-a", 30) == [rollout_id]
    assert store.acquire_lease(rollout_id, "controller-b", 30, start + timedelta(seconds=20)) == []
    # Exactly at expiry the lease still holds; one microsecond later it is free.
    assert store.acquire_lease(rollout_id, "controller-b", 30, start + timedelta(seconds=30)) == []
    later = start + timedelta(seconds=30, microseconds=1)
    assert store.acquire_lease(rollout_id, "controller-b", 30, later) == [rollout_id]

    record = store.get_rollout(rollout_id)
    assert (record.lease_owner, record.lease_expires_at) == (
        "controller-b",
        later + timedelta(seconds=30),
    )


def test_reacquiring_ones_own_lease_extends_it(
    store: Store, new_rollout: Callable[..., str], clock: FakeClock
) -> None:
    rollout_id = new_rollout()
    store.acquire_lease(rollout_id, "a", 30)
    later = clock.advance(10)

    assert store.acquire_lease(rollout_id, "a", 30) == [rollout_id]
    assert store.get_rollout(rollout_id).lease_expires_at == later + timedelta(seconds=30)


def test_acquiring_without_an_id_takes_every_free_active_rollout(
    store: Store, new_rollout: Callable[..., str], clock: FakeClock
) -> None:
    first, second, held, done = (new_rollout(f"r{i}") for i in range(4))
    store.acquire_lease(held, "other", 60)
    store.save_rollout_state(done, 1, RolloutStatus.ROLLED_BACK, {})

    assert store.acquire_lease(None, "me", 60) == sorted([first, second])
    assert store.acquire_lease(None, "newcomer", 60, limit=1) == []


def test_limit_caps_what_one_controller_holds_keeping_its_own_first(
    store: Store, new_rollout: Callable[..., str], clock: FakeClock
) -> None:
    ids = []
    for i in range(4):
        ids.append(new_rollout(f"r{i}"))
        clock.advance(1)
    store.acquire_lease(ids[2], "a", 60)

    assert store.acquire_lease(None, "a", 60, limit=2) == sorted([ids[0], ids[2]])
    assert store.acquire_lease(None, "b", 60, limit=3) == sorted([ids[1], ids[3]])
    assert store.acquire_lease(None, "a", 60, limit=2) == sorted([ids[0], ids[2]])


def test_terminal_rollouts_are_never_leased(store: Store, new_rollout: Callable[..., str]) -> None:
    rollout_id = new_rollout()
    store.save_rollout_state(rollout_id, 1, RolloutStatus.SUCCEEDED, {})
    assert store.acquire_lease(rollout_id, "a", 30) == []


def test_renew_extends_only_the_holders_unexpired_lease(
    store: Store, new_rollout: Callable[..., str], clock: FakeClock
) -> None:
    rollout_id = new_rollout()
    store.acquire_lease(rollout_id, "a", 30)
    clock.advance(20)

    assert store.renew_lease(rollout_id, "a", 30) == clock.now + timedelta(seconds=30)
    with pytest.raises(LeaseLost):
        store.renew_lease(rollout_id, "b", 30)
    clock.advance(31)
    with pytest.raises(LeaseLost):
        store.renew_lease(rollout_id, "a", 30)
    with pytest.raises(NotFound):
        store.renew_lease("ro_missing", "a", 30)


def test_release_frees_the_lease_at_once(store: Store, new_rollout: Callable[..., str]) -> None:
    rollout_id = new_rollout()
    store.acquire_lease(rollout_id, "a", 300)

    assert store.release_lease(rollout_id, "b") is False
    assert store.release_lease(rollout_id, "a") is True
    assert store.acquire_lease(rollout_id, "b", 300) == [rollout_id]


def test_a_save_by_a_controller_that_lost_its_lease_is_refused(
    store: Store, new_rollout: Callable[..., str], clock: FakeClock
) -> None:
    rollout_id = new_rollout()
    store.acquire_lease(rollout_id, "a", 30)
    saved = store.save_rollout_state(rollout_id, 1, "gating", {}, lease_owner="a")
    clock.advance(31)
    store.acquire_lease(rollout_id, "b", 30)

    with pytest.raises(LeaseLost, match="a no longer holds"):
        store.save_rollout_state(rollout_id, saved.revision, "ramping", {}, lease_owner="a")
    assert store.save_rollout_state(rollout_id, 2, "ramping", {}, lease_owner="b").revision == 3


def test_lease_durations_must_be_positive(store: Store, new_rollout: Callable[..., str]) -> None:
    with pytest.raises(ValueError, match="positive"):
        store.acquire_lease(new_rollout(), "a", 0)


@pytest.mark.parametrize("round_", range(5))
def test_racing_controllers_never_share_a_rollout(
    store: Store, new_rollout: Callable[..., str], round_: int
) -> None:
    rollout_id = new_rollout()
    owners = [f"controller-{n}" for n in range(4)]
    start = threading.Barrier(len(owners))

    def race(owner: str) -> list[str]:
        start.wait(timeout=10)
        return store.acquire_lease(rollout_id, owner, 30)

    with ThreadPoolExecutor(len(owners)) as pool:
        won = dict(zip(owners, pool.map(race, owners), strict=True))

    winners = [owner for owner, ids in won.items() if ids == [rollout_id]]
    assert len(winners) == 1
    assert all(ids == [] for owner, ids in won.items() if owner not in winners)
    assert store.get_rollout(rollout_id).lease_owner == winners[0]


def test_controllers_with_a_capacity_share_out_the_rollouts_without_overlap(
    store: Store, new_rollout: Callable[..., str]
) -> None:
    ids = {new_rollout(f"r{i}") for i in range(12)}
    owners = ["a", "b", "c"]
    start = threading.Barrier(len(owners))

    def take_four(owner: str) -> list[str]:
        start.wait(timeout=10)
        return store.acquire_lease(None, owner, 60, limit=4)

    with ThreadPoolExecutor(len(owners)) as pool:
        shares = list(pool.map(take_four, owners))

    assert [len(share) for share in shares] == [4, 4, 4]
    assert set().union(*shares) == ids
    for owner, share in zip(owners, shares, strict=True):
        assert {store.get_rollout(i).lease_owner for i in share} == {owner}
