"""The `migrations: tested` gate from a plan's migrations block, end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from _migration_projects import BASE, PROJECTS

from rollout.errors import MigrationError
from rollout.plan.model import Migrations
from rollout.providers.migrations import (
    AlembicTool,
    Verdict,
    run_migrations_gate,
)


def production_at(tmp_path: Path, project: str, revision: str) -> str:
    """A SQLite 'production' database of ``project`` at ``revision``."""
    url = f"sqlite:///{tmp_path / 'production.db'}"
    AlembicTool(PROJECTS / project / "alembic.ini").upgrade(url, revision)
    return url


def migrations(project: str, **changes: object) -> Migrations:
    return Migrations.model_validate(
        {"config": f"{project}/alembic.ini", "database_url": "${SHOP_DATABASE_URL}", **changes}
    )


def test_the_gate_passes_a_good_chain_from_production_s_revision(tmp_path: Path) -> None:
    environ = {"SHOP_DATABASE_URL": production_at(tmp_path, "good", "600d00000001")}
    report = run_migrations_gate(migrations("good"), PROJECTS, environ)

    assert report.verdict is Verdict.PASS
    assert report.start == "600d00000001"
    assert [r.revision.id for r in report.round_trip.results] == ["600d00000002", "600d00000003"]
    assert report.reason == (
        "from 600d00000001: round trip 2 pending revisions upgrade, downgrade and upgrade again "
        "cleanly; compatibility: 2 pending revisions checked: all keep the old version working"
    )
    # Production itself is only read.
    assert (
        AlembicTool(PROJECTS / "good" / "alembic.ini").current(environ["SHOP_DATABASE_URL"])
        == "600d00000001"
    )


def test_the_gate_fails_on_a_breaking_expand_revision_unless_declared(tmp_path: Path) -> None:
    environ = {"SHOP_DATABASE_URL": production_at(tmp_path, "expand_contract", BASE)}

    report = run_migrations_gate(migrations("expand_contract"), PROJECTS, environ)
    assert report.verdict is Verdict.FAIL
    assert report.round_trip.verdict is Verdict.PASS
    assert "revision ec0000000003 (drop orders.legacy_code) drops column orders.legacy_code" in (
        report.reason
    )
    assert any("drop it in a later contract migration" in line for line in report.lines())

    # Declared deliberate by a prefix of its id: a note, not a failure.
    declared = migrations("expand_contract", allow_incompatible=("ec00000000",))
    with pytest.raises(
        MigrationError, match="allow_incompatible: revision 'ec00000000' is ambiguous"
    ):
        run_migrations_gate(declared, PROJECTS, environ)
    declared = migrations("expand_contract", allow_incompatible=("ec0000000003",))
    assert run_migrations_gate(declared, PROJECTS, environ).verdict is Verdict.PASS

    # As a contract revision it runs after general availability: a note as well.
    contract = migrations("expand_contract", contract_revisions=("ec0000000003",))
    report = run_migrations_gate(contract, PROJECTS, environ)
    assert report.verdict is Verdict.PASS
    assert report.compatibility is not None
    assert len(report.compatibility.notes) == 1


def test_without_backwards_compatible_only_the_round_trip_counts(tmp_path: Path) -> None:
    environ = {"SHOP_DATABASE_URL": production_at(tmp_path, "expand_contract", BASE)}
    spec = migrations("expand_contract", backwards_compatible=False)
    report = run_migrations_gate(spec, PROJECTS, environ)
    assert report.verdict is Verdict.PASS
    assert report.compatibility is None


def test_a_contract_revision_out_of_order_fails_the_gate_before_any_work(tmp_path: Path) -> None:
    environ = {"SHOP_DATABASE_URL": production_at(tmp_path, "expand_contract", BASE)}
    spec = migrations("expand_contract", contract_revisions=("ec0000000001",))
    with pytest.raises(
        MigrationError,
        match=r"contract revision ec0000000001 \(add orders.note\) "
        r"comes before expand revision ec0000000002",
    ):
        run_migrations_gate(spec, PROJECTS, environ)


def test_an_unset_database_variable_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        MigrationError,
        match=r"refers to \$\{SHOP_DATABASE_URL\}, which is not "
        r"set in the environment",
    ):
        run_migrations_gate(migrations("good"), PROJECTS, environ={})


def test_the_gate_makes_its_scratch_database_on_the_scratch_server(tmp_path: Path) -> None:
    environ = {
        "SHOP_DATABASE_URL": production_at(tmp_path, "good", BASE),
        "SCRATCH_URL": "postgresql+psycopg://ci:pw@127.0.0.1:1/scratch",
    }
    spec = migrations("good", scratch_database_url="${SCRATCH_URL}")
    with pytest.raises(
        MigrationError,
        match=r"^cannot create a scratch database on "
        r"postgresql\+psycopg://ci:\*\*\*@127.0.0.1:1/scratch",
    ):
        run_migrations_gate(spec, PROJECTS, environ)
