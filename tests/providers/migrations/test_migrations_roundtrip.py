"""The round trip: upgrade, downgrade to the same schema, upgrade again, revision by revision."""

from __future__ import annotations

from collections.abc import Callable

from _migration_projects import BASE
from sqlalchemy import create_engine, text

from rollout.providers.migrations import Verdict, round_trip, scratch_database
from rollout.providers.migrations.alembic import AlembicTool

Project = Callable[[str], AlembicTool]


def test_a_good_chain_passes_every_revision(project: Project, database: str) -> None:
    report = round_trip(project("good"), database, BASE)

    assert report.verdict is Verdict.PASS
    assert [(r.revision.id, r.verdict) for r in report.results] == [
        ("600d00000001", Verdict.PASS),
        ("600d00000002", Verdict.PASS),
        ("600d00000003", Verdict.PASS),
    ]
    assert report.reason == "3 pending revisions upgrade, downgrade and upgrade again cleanly"
    # The snapshots before and after each upgrade are kept for the compatibility check.
    assert [step.revision.id for step in report.steps] == [
        "600d00000001",
        "600d00000002",
        "600d00000003",
    ]
    assert "shipments" not in report.steps[1].before.table_names
    assert "shipments" in report.steps[1].after.table_names


def test_the_round_trip_starts_at_production_s_revision(project: Project) -> None:
    with scratch_database("sqlite://") as url:
        report = round_trip(project("good"), url, "600d00000002")

    assert [r.revision.id for r in report.results] == ["600d00000003"]
    assert report.steps[0].before.table("shipments") is not None


def test_the_round_trip_from_base_checks_the_first_revision_too(project: Project) -> None:
    with scratch_database("sqlite://") as url:
        report = round_trip(project("good"), url, None)
    assert [r.revision.id for r in report.results] == [
        BASE,
        "600d00000001",
        "600d00000002",
        "600d00000003",
    ]
    assert report.verdict is Verdict.PASS


def test_nothing_pending_passes_and_says_so(project: Project) -> None:
    with scratch_database("sqlite://") as url:
        report = round_trip(project("good"), url, "600d00000003")
    assert report.verdict is Verdict.PASS
    assert report.results == ()
    assert report.reason == "no pending revisions after 600d00000003"


def test_a_missing_downgrade_fails_naming_the_revision(project: Project) -> None:
    with scratch_database("sqlite://") as url:
        report = round_trip(project("missing_downgrade"), url, BASE)

    assert report.verdict is Verdict.FAIL
    outcome = {r.revision.id: (r.verdict, r.reason) for r in report.results}
    assert outcome["3155000000a1"] == (
        Verdict.FAIL,
        "revision 3155000000a1 (add orders.note) has no downgrade",
    )
    # A revision that does nothing either way needs no downgrade.
    assert outcome["3155000000a2"][0] is Verdict.PASS
    # `raise NotImplementedError` is a missing downgrade too.
    assert outcome["3155000000a3"] == (
        Verdict.FAIL,
        "revision 3155000000a3 (add orders.shipped_at) has no downgrade",
    )
    assert "3155000000a1" in report.reason and "3155000000a3" in report.reason


def test_a_downgrade_that_does_not_restore_the_schema_fails_in_words(project: Project) -> None:
    with scratch_database("sqlite://") as url:
        report = round_trip(project("leaky"), url, BASE)

    widen, note, priority = report.results
    assert widen.verdict is Verdict.FAIL
    assert widen.problems == (
        "downgrade of 1eaf00000001 (widen orders.status) leaves column orders.status with "
        "type VARCHAR(30) instead of VARCHAR(20)",
    )
    assert note.verdict is Verdict.FAIL
    assert note.problems[0] == (
        "downgrade of 1eaf00000002 (add orders.note) leaves column orders.note behind"
    )
    # Upgrading again then collides with the leftover column; the database's own words follow.
    assert note.problems[1].startswith(
        "after its downgrade, upgrade of 1eaf00000002 (add orders.note) failed: "
    )
    assert "duplicate column" in note.problems[1].lower()
    # Nothing can be said about a revision after the scratch database broke.
    assert priority.verdict is Verdict.SKIPPED
    assert priority.reason == (
        "not checked: the round trip stopped at 1eaf00000002 (add orders.note)"
    )
    assert report.lines()[0].startswith("FAIL: downgrade of 1eaf00000001")


def test_a_scratch_database_that_cannot_reach_the_start_fails_everything(
    project: Project,
) -> None:
    with scratch_database("sqlite://") as url:
        engine = create_engine(url)
        with engine.begin() as connection:  # something in the way of the first revision
            connection.execute(text("CREATE TABLE customers (id INTEGER)"))
        engine.dispose()
        report = round_trip(project("good"), url, BASE)

    assert report.verdict is Verdict.FAIL
    assert report.error is not None
    assert report.error.startswith(
        "cannot bring the scratch database to b0a5e0000001: upgrade of b0a5e0000001 "
        "(create customers, orders, coupons and audit_log) failed: "
    )
    assert {r.verdict for r in report.results} == {Verdict.SKIPPED}
