"""The ``migrations: tested`` checklist gate: round trip and compatibility on a scratch database.

:func:`run_migrations_gate` is what the gate runs: it reads the revision production is at, makes
a scratch database (:mod:`~rollout.providers.migrations.scratch`), runs every pending revision's
round trip (:mod:`~rollout.providers.migrations.roundtrip`) and, when the plan says
``backwards_compatible: true``, checks that no expand revision breaks the old version
(:mod:`~rollout.providers.migrations.compat`), from the same schema snapshots. It also checks
the phases are in order (contract revisions last). The scratch database is dropped afterwards.

:func:`check_compatibility` runs the compatibility check alone (upgrades only, through
:func:`upgrade_steps`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rollout.plan.model import Migrations
from rollout.providers.migrations.compat import CompatibilityReport, Step, compatibility
from rollout.providers.migrations.migrator import Migrator
from rollout.providers.migrations.phases import plan_phases
from rollout.providers.migrations.registry import ToolRegistry
from rollout.providers.migrations.roundtrip import RoundTripReport, round_trip
from rollout.providers.migrations.schema import SchemaReader
from rollout.providers.migrations.scratch import scratch_database
from rollout.providers.migrations.tool import MigrationTool, Revision, Verdict, label_of


@dataclass(frozen=True)
class MigrationsReport:
    """The gate's outcome: the round trip and, when the plan asks for it, compatibility."""

    start: str | None
    round_trip: RoundTripReport
    compatibility: CompatibilityReport | None = None

    @property
    def verdict(self) -> Verdict:
        parts = [self.round_trip.verdict]
        if self.compatibility is not None:
            parts.append(self.compatibility.verdict)
        return Verdict.FAIL if Verdict.FAIL in parts else Verdict.PASS

    @property
    def reason(self) -> str:
        """One or two sentences, in plain words, for the checklist and the audit trail."""
        text = f"from {label_of(self.start)}: round trip {self.round_trip.reason}"
        if self.compatibility is not None:
            text += f"; compatibility: {self.compatibility.reason}"
            unchecked = len(self.round_trip.results) - len(self.compatibility.revisions)
            if unchecked > 0:
                text += f" ({unchecked} not checked because the round trip stopped)"
        return text

    def lines(self) -> list[str]:
        """The verdict, the round trip per revision, then compatibility findings and notes."""
        lines = [f"{self.verdict}: {self.reason}", *(str(r) for r in self.round_trip.results)]
        if self.compatibility is not None:
            lines.extend(str(f) for f in self.compatibility.findings)
            lines.extend(str(n) for n in self.compatibility.notes)
        return lines


def verify_migrations(migrator: Migrator, start: str | None) -> MigrationsReport:
    """Round trip (and, if the plan asks, compatibility) of every revision after ``start``,
    on a scratch database beside the plan's ``scratch_database_url`` (else its
    ``database_url``). ``MigrationError`` for a plan that names unknown revisions, puts a
    contract revision before an expand one, or when no scratch database can be made."""
    spec = migrator.spec
    contract = migrator.contract_ids
    allowed = migrator.resolve(spec.allow_incompatible, "allow_incompatible")
    pending = migrator.tool.revisions(start)
    plan_phases(pending, contract)
    server = migrator.expanded(spec.scratch_database_url or spec.database_url)
    with scratch_database(server) as scratch:
        trip = round_trip(migrator.tool, scratch, start, pending)
    compat = compatibility(trip.steps, allowed, contract) if spec.backwards_compatible else None
    return MigrationsReport(start, trip, compat)


def run_migrations_gate(
    spec: Migrations,
    base_dir: Path,
    environ: Mapping[str, str] | None = None,
    registry: ToolRegistry | None = None,
) -> MigrationsReport:
    """The ``migrations: tested`` gate for a plan: reads the revision the production database
    (``spec.database_url``) is at and verifies every revision after it."""
    migrator = Migrator.from_plan(spec, base_dir, environ, registry)
    return verify_migrations(migrator, migrator.current(spec.database_url))


def upgrade_steps(
    tool: MigrationTool,
    scratch_url: str,
    start: str | None,
    revisions: Sequence[Revision] | None = None,
) -> list[Step]:
    """Upgrade an empty scratch database (``scratch_url``, expanded) to ``start``, then through
    ``revisions`` (default: all after ``start``) one by one, snapshotting the schema around
    each. ``MigrationError`` when an upgrade fails."""
    pending = tuple(tool.revisions(start) if revisions is None else revisions)
    if start is not None:
        tool.upgrade(scratch_url, start)
    steps = []
    with SchemaReader(scratch_url) as reader:
        before = reader.snapshot()
        for rev in pending:
            tool.upgrade(scratch_url, rev.id)
            after = reader.snapshot()
            steps.append(Step(rev, before, after))
            before = after
    return steps


def check_compatibility(
    tool: MigrationTool,
    scratch_url: str,
    start: str | None,
    revisions: Sequence[Revision] | None = None,
    *,
    allow_incompatible: Collection[str] = (),
    contract_revisions: Collection[str] = (),
) -> CompatibilityReport:
    """The compatibility check alone, without the round trip: :func:`upgrade_steps`, judged
    by :func:`~rollout.providers.migrations.compat.compatibility`."""
    steps = upgrade_steps(tool, scratch_url, start, revisions)
    return compatibility(steps, allow_incompatible, contract_revisions)
