"""Expand before the first stage, contract after general availability, and the way back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _migration_projects import BASE, PROJECTS
from hypothesis import given
from hypothesis import strategies as st

from rollout.errors import MigrationError
from rollout.plan.model import Migrations
from rollout.providers.migrations import (
    Migrator,
    Revision,
    diff,
    plan_phases,
    scratch_database,
    take_snapshot,
)


def chain(*ids: str) -> list[Revision]:
    return [Revision(rev, ids[i - 1] if i else None, f"step {rev}") for i, rev in enumerate(ids)]


# ----------------------------------------------------------------------------- plan_phases


def test_contract_revisions_run_last() -> None:
    expand, contract = plan_phases(chain("a1", "b2", "c3", "d4"), {"c3", "d4"})
    assert [r.id for r in expand] == ["a1", "b2"]
    assert [r.id for r in contract] == ["c3", "d4"]


def test_contract_revisions_already_run_play_no_part() -> None:
    expand, contract = plan_phases(chain("c3", "d4"), {"a1", "b2"})
    assert ([r.id for r in expand], contract) == (["c3", "d4"], [])


def test_a_contract_revision_before_an_expand_one_is_an_error() -> None:
    with pytest.raises(MigrationError) as caught:
        plan_phases(chain("a1", "b2", "c3"), {"b2"})
    assert str(caught.value).startswith(
        "contract revision b2 (step b2) comes before expand revision c3 (step c3) in the chain; "
        "contract revisions run only after general availability"
    )


@given(st.lists(st.booleans(), max_size=12))
def test_phases_keep_the_chain_in_order_and_split_it_at_one_point(flags: list[bool]) -> None:
    ids = [f"r{i:02d}" for i in range(len(flags))]
    contract_ids = {rev for rev, is_contract in zip(ids, flags, strict=True) if is_contract}
    in_order = flags == sorted(flags)  # every False (expand) before every True (contract)
    try:
        expand, contract = plan_phases(chain(*ids), contract_ids)
    except MigrationError:
        assert not in_order
        return
    assert in_order
    assert [r.id for r in expand + contract] == ids
    assert {r.id for r in contract} == contract_ids


# ----------------------------------------------------------------------------- the migrator


def spec(**changes: object) -> Migrations:
    values: dict[str, object] = {
        "config": "expand_contract/alembic.ini",
        "database_url": "${SHOP_DATABASE_URL}",
        "contract_revisions": ("ec0000000003",),
    }
    values.update(changes)
    return Migrations.model_validate(values)


@pytest.fixture
def production(database: str) -> Iterator[tuple[Migrator, str]]:
    """A migrator for the expand/contract project and a 'production' database at BASE."""
    migrator = Migrator.from_plan(spec(), PROJECTS, environ={"SHOP_DATABASE_URL": database})
    migrator.tool.upgrade(database, BASE)
    yield migrator, database


@pytest.mark.postgres
@pytest.mark.parametrize("server_url", ["postgresql"], indirect=True)
def test_rollback_to_restores_the_start_schema_after_an_expand_migration(
    production: tuple[Migrator, str],
) -> None:
    migrator, database = production
    start = migrator.current("${SHOP_DATABASE_URL}")
    assert start == BASE
    before = take_snapshot(database)

    moved = migrator.expand("${SHOP_DATABASE_URL}")
    assert [r.id for r in moved.revisions] == ["ec0000000001", "ec0000000002"]
    assert moved.description == (
        "upgraded from b0a5e0000001 to ec0000000002 (2 revisions: ec0000000001, ec0000000002)"
    )
    orders = take_snapshot(database).table("orders")
    assert orders is not None and orders.column("note") is not None

    back = migrator.rollback_to("${SHOP_DATABASE_URL}", start)
    assert back.description == (
        "downgraded from ec0000000002 to b0a5e0000001 (2 revisions: ec0000000002, ec0000000001)"
    )
    assert migrator.current("${SHOP_DATABASE_URL}") == BASE
    assert diff(before, take_snapshot(database)) == []
    # Again: nothing left to do.
    assert migrator.rollback_to("${SHOP_DATABASE_URL}", start).description == (
        "already at b0a5e0000001"
    )


@pytest.mark.parametrize("server_url", ["sqlite"], indirect=True)
def test_expand_stops_before_the_contract_revisions_and_runs_once(
    production: tuple[Migrator, str],
) -> None:
    migrator, _ = production
    url = "${SHOP_DATABASE_URL}"
    expand, contract = migrator.phases(url)
    assert ([r.id for r in expand], [r.id for r in contract]) == (
        ["ec0000000001", "ec0000000002"],
        ["ec0000000003"],
    )
    migrator.expand(url)
    assert migrator.current(url) == "ec0000000002"
    assert migrator.expand(url).description == "already at ec0000000002"

    moved = migrator.contract(url)
    assert [r.id for r in moved.revisions] == ["ec0000000003"]
    assert migrator.current(url) == "ec0000000003"


@pytest.mark.parametrize("server_url", ["sqlite"], indirect=True)
def test_rollback_is_refused_once_a_contract_revision_ran(
    production: tuple[Migrator, str],
) -> None:
    migrator, _ = production
    url = "${SHOP_DATABASE_URL}"
    migrator.expand(url)
    migrator.contract(url)
    with pytest.raises(MigrationError) as caught:
        migrator.rollback_to(url, BASE)
    assert str(caught.value) == (
        "refusing to roll back to b0a5e0000001: contract revision ec0000000003 (drop "
        "orders.legacy_code) already ran, and the data it removed may be gone — a downgrade "
        "would bring back the schema but not the values. Restore from a backup, or roll "
        "forward with a fix instead; nothing was changed"
    )
    assert migrator.current(url) == "ec0000000003"


@pytest.mark.parametrize("server_url", ["sqlite"], indirect=True)
def test_the_plan_may_name_the_rollback_revision(database: str) -> None:
    migrator = Migrator.from_plan(
        spec(rollback="ec0000000001"), PROJECTS, environ={"SHOP_DATABASE_URL": database}
    )
    migrator.tool.upgrade(database, BASE)
    migrator.expand("${SHOP_DATABASE_URL}")
    moved = migrator.rollback("${SHOP_DATABASE_URL}", BASE)
    assert moved.reached == "ec0000000001"
    assert migrator.current("${SHOP_DATABASE_URL}") == "ec0000000001"


def test_rollback_refuses_a_missing_downgrade_without_changing_anything() -> None:
    migrations = spec(config="missing_downgrade/alembic.ini", contract_revisions=())
    with scratch_database("sqlite://") as url:
        migrator = Migrator.from_plan(migrations, PROJECTS, environ={"SHOP_DATABASE_URL": url})
        migrator.tool.upgrade(url, "head")
        with pytest.raises(
            MigrationError,
            match=r"^cannot roll back to b0a5e0000001: revisions 3155000000a1 \(add "
            r"orders.note\), 3155000000a3 \(add orders.shipped_at\) have no downgrade; "
            r"nothing was changed$",
        ):
            migrator.rollback_to(url, BASE)
        assert migrator.current(url) == "3155000000a3"


def test_rollback_only_goes_down() -> None:
    with scratch_database("sqlite://") as url:
        migrator = Migrator.from_plan(spec(), PROJECTS, environ={"SHOP_DATABASE_URL": url})
        migrator.tool.upgrade(url, BASE)
        with pytest.raises(
            MigrationError,
            match=r"the database is at b0a5e0000001, which is not "
            r"after the start revision ec0000000002",
        ):
            migrator.rollback_to(url, "ec0000000002")


def test_an_unknown_contract_revision_names_the_plan_field() -> None:
    migrator = Migrator.from_plan(spec(contract_revisions=("nope",)), PROJECTS)
    with pytest.raises(
        MigrationError,
        match=r"^migrations.contract_revisions: there is no "
        r"revision 'nope'",
    ):
        _ = migrator.contract_ids
