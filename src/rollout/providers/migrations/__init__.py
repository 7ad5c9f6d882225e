"""Database migrations (Alembic): tested round trips, compatibility checks, expand and contract.

A plan's ``migrations`` block becomes something that runs:

=================================  ============================================================
``migrations: tested`` (gate)      :func:`run_migrations_gate`: every pending revision upgrades,
                                   downgrades back to the same schema and upgrades again, on a
                                   scratch database; named per revision when it does not
``backwards_compatible: true``     the same gate flags operations that break the old version
                                   (drop, rename, NOT NULL without default, narrowing), with
                                   expand/contract advice; ``allow_incompatible`` makes notes
``contract_revisions``             :func:`plan_phases`: expand before the first stage,
                                   contract only after general availability
``rollback: downgrade-to-start``   :meth:`Migrator.rollback_to`, refusing once a contract
                                   revision ran (its data may be gone)
=================================  ============================================================

The tool behind it is a :class:`MigrationTool` picked by the plan's ``tool:`` from a
:class:`ToolRegistry` (``alembic``: :class:`~rollout.providers.migrations.alembic.AlembicTool`).
Every failure is a :class:`~rollout.errors.MigrationError` naming the revision.
"""

from rollout.providers.migrations.alembic import AlembicTool
from rollout.providers.migrations.compat import (
    Breaking,
    CompatibilityReport,
    Finding,
    Step,
    classify,
    compatibility,
)
from rollout.providers.migrations.diff import SchemaChange, diff
from rollout.providers.migrations.gate import (
    MigrationsReport,
    check_compatibility,
    run_migrations_gate,
    upgrade_steps,
    verify_migrations,
)
from rollout.providers.migrations.migrator import Migrator, Moved
from rollout.providers.migrations.phases import plan_phases
from rollout.providers.migrations.registry import (
    ToolFactory,
    ToolRegistry,
    default_registry,
    tool_for,
)
from rollout.providers.migrations.roundtrip import RevisionResult, RoundTripReport, round_trip
from rollout.providers.migrations.schema import SchemaSnapshot, take_snapshot
from rollout.providers.migrations.scratch import scratch_database
from rollout.providers.migrations.tool import MigrationTool, Revision, Verdict

__all__ = [
    "AlembicTool",
    "Breaking",
    "CompatibilityReport",
    "Finding",
    "MigrationTool",
    "MigrationsReport",
    "Migrator",
    "Moved",
    "Revision",
    "RevisionResult",
    "RoundTripReport",
    "SchemaChange",
    "SchemaSnapshot",
    "Step",
    "ToolFactory",
    "ToolRegistry",
    "Verdict",
    "check_compatibility",
    "classify",
    "compatibility",
    "default_registry",
    "diff",
    "plan_phases",
    "round_trip",
    "run_migrations_gate",
    "scratch_database",
    "take_snapshot",
    "tool_for",
    "upgrade_steps",
    "verify_migrations",
]
