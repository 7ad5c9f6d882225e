"""Flags and segments: versions, history with diffs, config versions, audit, notification."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from sqlalchemy.engine import make_url
from store_fakes import FakeClock

from rollout.errors import Conflict, FlagError, NotFound
from rollout.store import CONFIG_CHANNEL, GLOBAL_CHAIN, Store

ON = {"enabled": True, "rollout": {"percent": 5}}
RAMPED = {"enabled": True, "rollout": {"percent": 25}}


def test_put_creates_then_each_change_adds_a_version(store: Store, clock: FakeClock) -> None:
    created = store.put_flag("production", "new-checkout", ON, actor="ann")
    clock.advance(60)
    ramped = store.put_flag("production", "new-checkout", RAMPED, actor="bob")

    assert (created.version, created.definition, created.updated_by) == (1, ON, "ann")
    assert (ramped.version, ramped.definition, ramped.updated_by) == (2, RAMPED, "bob")
    assert ramped.updated_at == clock.now
    assert store.get_flag("production", "new-checkout") == ramped


def test_history_keeps_every_version_with_who_when_and_the_diff(
    store: Store, clock: FakeClock
) -> None:
    store.put_flag("production", "new-checkout", ON, actor="ann")
    created_at = clock.now
    clock.advance(60)
    store.put_flag("production", "new-checkout", RAMPED, actor="bob")

    history = store.flag_history("production", "new-checkout")
    assert [(h.version, h.change, h.actor, h.at) for h in history] == [
        (1, "created", "ann", created_at),
        (2, "updated", "bob", clock.now),
    ]
    assert history[0].diff == (
        {"path": "/enabled", "new": True},
        {"path": "/rollout", "new": {"percent": 5}},
    )
    assert history[1].diff == ({"path": "/rollout/percent", "old": 5, "new": 25},)
    assert history[1].definition == RAMPED


def test_every_change_bumps_the_environments_config_version_only(store: Store) -> None:
    assert store.config_version("production") == 0
    store.put_flag("production", "a", ON, actor="ann")
    store.put_flag("production", "b", ON, actor="ann")
    store.put_segment("production", "beta-users", {"rules": []}, actor="ann")
    store.put_flag("staging", "a", ON, actor="ann")
    store.delete_flag("production", "b", actor="ann")

    assert store.config_version("production") == 4
    assert store.config_version("staging") == 1
    assert store.list_environments() == ["production", "staging"]


def test_putting_the_same_definition_again_changes_nothing(store: Store) -> None:
    first = store.put_flag("production", "a", {"enabled": True, "n": 1}, actor="ann")
    again = store.put_flag("production", "a", {"n": 1, "enabled": True}, actor="bob")

    assert again == first
    assert store.config_version("production") == 1
    assert len(store.flag_history("production", "a")) == 1


def test_expected_version_stops_lost_updates(store: Store) -> None:
    with pytest.raises(Conflict, match="does not exist, not version 1"):
        store.put_flag("production", "a", ON, actor="ann", expected_version=1)
    store.put_flag("production", "a", ON, actor="ann", expected_version=0)
    store.put_flag("production", "a", RAMPED, actor="bob", expected_version=1)

    with pytest.raises(Conflict, match="is at version 2, not version 1"):
        store.put_flag("production", "a", {"enabled": False}, actor="eve", expected_version=1)
    with pytest.raises(Conflict):
        store.put_flag("production", "a", {"enabled": False}, actor="eve", expected_version=0)
    with pytest.raises(Conflict):
        store.delete_flag("production", "a", actor="eve", expected_version=1)
    assert store.get_flag("production", "a").definition == RAMPED


def test_delete_then_recreate_keeps_counting_versions(store: Store) -> None:
    store.put_flag("production", "a", ON, actor="ann")
    deleted = store.delete_flag("production", "a", actor="bob")
    recreated = store.put_flag("production", "a", RAMPED, actor="ann")

    assert (deleted.version, deleted.change, deleted.definition) == (2, "deleted", None)
    assert deleted.diff == (
        {"path": "/enabled", "old": True},
        {"path": "/rollout", "old": {"percent": 5}},
    )
    assert recreated.version == 3
    history = store.flag_history("production", "a")
    assert [(h.version, h.change) for h in history] == [
        (1, "created"),
        (2, "deleted"),
        (3, "created"),
    ]


def test_missing_flags_are_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="no flag 'a' in 'production'"):
        store.get_flag("production", "a")
    with pytest.raises(NotFound):
        store.delete_flag("production", "a", actor="ann")


@pytest.mark.parametrize(
    ("environment", "key", "field"),
    [("production", "", "key"), ("", "a", "environment"), ("production", "k" * 201, "key")],
)
def test_bad_names_are_flag_errors(store: Store, environment: str, key: str, field: str) -> None:
    with pytest.raises(FlagError) as caught:
        store.put_flag(environment, key, ON, actor="ann")
    assert caught.value.field == field


def test_segments_are_versioned_the_same_way(store: Store) -> None:
    store.put_segment("production", "beta", {"in": ["a"]}, actor="ann")
    updated = store.put_segment("production", "beta", {"in": ["a", "b"]}, actor="ann")

    assert updated.version == 2
    assert store.get_segment("production", "beta") == updated
    assert store.list_segments("production") == [updated]
    history = store.segment_history("production", "beta")
    assert history[1].diff == ({"path": "/in/1", "new": "b"},)
    assert history[1].kind == "segment"
    store.delete_segment("production", "beta", actor="ann")
    with pytest.raises(NotFound):
        store.get_segment("production", "beta")


def test_config_snapshot_holds_everything_of_one_environment(store: Store) -> None:
    b = store.put_flag("production", "b", ON, actor="ann")
    a = store.put_flag("production", "a", RAMPED, actor="ann")
    beta = store.put_segment("production", "beta", {"in": []}, actor="ann")
    store.put_flag("staging", "c", ON, actor="ann")

    snapshot = store.get_config("production")

    assert (snapshot.environment, snapshot.version) == ("production", 3)
    assert snapshot.flags == (a, b)
    assert snapshot.segments == (beta,)
    assert store.list_flags("production") == [a, b]
    empty = store.get_config("nowhere")
    assert (empty.version, empty.flags, empty.segments) == (0, (), ())


def test_each_change_is_audited_on_the_global_chain(store: Store) -> None:
    store.put_flag("production", "a", ON, actor="ann")
    store.put_flag("production", "a", RAMPED, actor="bob")

    events = store.list_events(None)
    assert [(e.chain, e.kind, e.actor) for e in events] == [
        (GLOBAL_CHAIN, "flag.changed", "ann"),
        (GLOBAL_CHAIN, "flag.changed", "bob"),
    ]
    assert events[1].message == "bob updated flag a in production (version 2)"
    assert events[1].data["diff"] == [{"path": "/rollout/percent", "old": 5, "new": 25}]
    assert events[1].data["config_version"] == 2


def test_concurrent_editors_each_get_their_own_config_version(store: Store) -> None:
    editors = 4
    start = threading.Barrier(editors)

    def edit(n: int) -> list[int]:
        start.wait(timeout=10)
        return [
            store.put_flag("production", f"flag-{n}", {"step": step}, actor=f"e{n}").version
            for step in range(5)
        ]

    with ThreadPoolExecutor(editors) as pool:
        versions = list(pool.map(edit, range(editors)))

    assert versions == [[1, 2, 3, 4, 5]] * editors
    assert store.config_version("production") == editors * 5
    numbers = [e.data["config_version"] for e in store.list_events(None)]
    assert sorted(numbers) == list(range(1, editors * 5 + 1))
    assert store.verify_chain(None).ok


@pytest.mark.postgres
def test_postgres_notifies_listeners_of_each_committed_change(pg_schema_url: str) -> None:
    from rollout.store import open_store

    conninfo = make_url(pg_schema_url).set(drivername="postgresql")
    with (
        psycopg.connect(conninfo.render_as_string(hide_password=False), autocommit=True) as pg,
        open_store(pg_schema_url) as store,
    ):
        pg.execute(f"LISTEN {CONFIG_CHANNEL}")
        store.put_flag("production", "a", ON, actor="ann")
        store.put_flag("production", "a", RAMPED, actor="ann")

        received = [n.payload for n in pg.notifies(timeout=5, stop_after=2)]

    assert received == [
        '{"environment":"production","version":1}',
        '{"environment":"production","version":2}',
    ]
