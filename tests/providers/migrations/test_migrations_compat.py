"""Backwards compatibility: each operation that breaks the old version is flagged, with advice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _migration_projects import BASE, PROJECTS

from rollout.providers.migrations import (
    Breaking,
    CompatibilityReport,
    Step,
    Verdict,
    check_compatibility,
    compatibility,
    scratch_database,
    upgrade_steps,
)
from rollout.providers.migrations.alembic import AlembicTool

# revision -> (what it breaks, how the finding words it)
EXPECTED = {
    "1c0000000001": (Breaking.DROP_COLUMN, "drops column orders.legacy_code"),
    "1c0000000002": (Breaking.DROP_TABLE, "drops table audit_log"),
    "1c0000000003": (Breaking.RENAME_COLUMN, "renames column customers.name to full_name"),
    "1c0000000004": (Breaking.RENAME_TABLE, "renames table coupons to vouchers"),
    "1c0000000005": (
        Breaking.ADD_NOT_NULL_COLUMN,
        "adds column orders.channel as NOT NULL without a server default",
    ),
    "1c0000000006": (Breaking.SET_NOT_NULL, "makes column customers.phone NOT NULL"),
    "1c0000000007": (
        Breaking.NARROW_TYPE,
        "narrows column customers.email from VARCHAR(200) to VARCHAR(100)",
    ),
    "1c0000000008": (
        Breaking.NARROW_TYPE,
        "narrows column customers.score from BIGINT to INTEGER",
    ),
    "1c0000000009": (
        Breaking.NARROW_TYPE,
        "narrows column customers.balance from NUMERIC(12, 2) to NUMERIC(8, 2)",
    ),
    "1c0000000010": (
        Breaking.CHANGE_TYPE,
        "changes the type of column customers.age from INTEGER to VARCHAR(10)",
    ),
}
ADVICE_WORDS = {
    Breaking.DROP_COLUMN: "drop it in a later contract migration after general availability",
    Breaking.DROP_TABLE: "Stop using the table in this release",
    Breaking.RENAME_COLUMN: "Add the new column beside the old one",
    Breaking.RENAME_TABLE: "leave a view under the old name",
    Breaking.ADD_NOT_NULL_COLUMN: (
        "Add the column as nullable first (or give it a server default), backfill, then make "
        "it NOT NULL in a later contract migration after general availability."
    ),
    Breaking.SET_NOT_NULL: "backfill, then make it NOT NULL in a later contract migration",
    Breaking.NARROW_TYPE: "Keep the wider type",
    Breaking.CHANGE_TYPE: "Add a new column of the new type",
}


def _steps(server: str) -> list[Step]:
    tool = AlembicTool(PROJECTS / "incompatible" / "alembic.ini")
    with scratch_database(server) as url:
        return upgrade_steps(tool, url, BASE)


@pytest.fixture(scope="module")
def sqlite_steps() -> list[Step]:
    """The incompatible project's schema before and after each revision, on SQLite."""
    return _steps("sqlite://")


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def report(request: pytest.FixtureRequest) -> Iterator[CompatibilityReport]:
    """The incompatible project checked once per database kind."""
    if request.param == "sqlite":
        yield compatibility(request.getfixturevalue("sqlite_steps"))
    else:
        yield compatibility(_steps(request.getfixturevalue("postgres_url")))


@pytest.mark.parametrize("revision", sorted(EXPECTED))
def test_each_breaking_operation_is_flagged_with_its_advice(
    report: CompatibilityReport, revision: str
) -> None:
    kind, operation = EXPECTED[revision]
    findings = [f for f in report.findings if f.revision.id == revision]

    assert [(f.kind, f.operation) for f in findings] == [(kind, operation)]
    assert ADVICE_WORDS[kind] in findings[0].advice
    assert str(findings[0]).startswith(f"revision {revision} (")
    assert operation + ": " + findings[0].advice in str(findings[0])


def test_a_compatible_revision_is_not_flagged(report: CompatibilityReport) -> None:
    # A NOT NULL column with a server default and a wider VARCHAR keep the old version working.
    assert [f for f in report.findings if f.revision.id == "1c0000000011"] == []
    assert len(report.revisions) == 11


def test_the_report_fails_and_names_the_first_finding(report: CompatibilityReport) -> None:
    assert report.verdict is Verdict.FAIL
    assert report.reason == (
        "11 pending revisions checked; revision 1c0000000001 (drop orders.legacy_code) drops "
        "column orders.legacy_code, which breaks the old version (and 9 more findings)"
    )
    assert report.notes == ()


def test_allow_incompatible_turns_a_finding_into_a_note(sqlite_steps: list[Step]) -> None:
    allowed = frozenset(rev for rev in EXPECTED if rev != "1c0000000005")
    report = compatibility(sqlite_steps, allow_incompatible=allowed)

    assert [f.revision.id for f in report.findings] == ["1c0000000005"]
    assert len(report.notes) == 9
    assert all(n.allowed for n in report.notes)
    assert str(report.notes[0]).endswith("(note: declared deliberate in allow_incompatible)")

    everything = compatibility(sqlite_steps, allow_incompatible=frozenset(EXPECTED))
    assert everything.verdict is Verdict.PASS
    assert everything.reason == (
        "11 pending revisions checked: all keep the old version working, 10 deliberate"
    )


def test_a_contract_revision_s_findings_are_notes() -> None:
    tool = AlembicTool(PROJECTS / "expand_contract" / "alembic.ini")
    with scratch_database("sqlite://") as url:
        as_expand = check_compatibility(tool, url, BASE)
    with scratch_database("sqlite://") as url:
        as_contract = check_compatibility(
            tool, url, BASE, contract_revisions=frozenset({"ec0000000003"})
        )

    assert [f.operation for f in as_expand.findings] == ["drops column orders.legacy_code"]
    assert as_contract.verdict is Verdict.PASS
    assert [n.why_allowed for n in as_contract.notes] == [
        "a contract revision, run only after general availability"
    ]
