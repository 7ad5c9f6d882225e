"""The migrations of one plan, run the way a rollout needs them: expand, contract, roll back.

The runner builds one :class:`Migrator` per rollout from the plan's ``migrations`` block and
calls, in order:

1. ``start = migrator.current(url)``, recorded before anything changes;
2. ``migrator.expand(url)`` before the first stage (every pending revision but the contract
   ones);
3. ``migrator.contract(url)`` after general availability (the rest, up to the head);
4. on rollback, ``migrator.rollback(url, start)`` — down to ``start``, or to the revision the
   plan's ``rollback:`` names (:meth:`Migrator.rollback_to` goes to an explicit revision).

``url`` is the database URL as the plan writes it: ``${VAR}`` references are expanded from the
environment at each call and the result is never kept; a ``MigrationError`` a step raises has
the values filled in masked (``****``), whatever the driver or a revision echoed. Every step is
set-to-value (running it again after a crash does nothing more) and returns a :class:`Moved`
saying what it did.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rollout.errors import MigrationError
from rollout.plan.model import Migrations
from rollout.providers.migrations.phases import plan_phases
from rollout.providers.migrations.registry import ToolRegistry, tool_for
from rollout.providers.migrations.tool import MigrationTool, Revision, label_of
from rollout.providers.migrations.urls import expand, expanded


@dataclass(frozen=True)
class Moved:
    """What a migration step did: the database went from ``start`` to ``reached`` (``None``:
    base) by running ``revisions``, in the order they ran (none: it was already there)."""

    start: str | None
    reached: str | None
    revisions: tuple[Revision, ...] = ()

    @property
    def description(self) -> str:
        """``upgraded from a1 to c3 (2 revisions)`` / ``already at c3``."""
        if not self.revisions:
            return f"already at {label_of(self.reached)}"
        count = len(self.revisions)
        verb = "upgraded" if self._upward else "downgraded"
        plural = "s" if count != 1 else ""
        return (
            f"{verb} from {label_of(self.start)} to {label_of(self.reached)} "
            f"({count} revision{plural}: {', '.join(r.id for r in self.revisions)})"
        )

    @property
    def _upward(self) -> bool:
        return self.revisions[-1].id == self.reached


class Migrator:
    """Runs one plan's migrations through its tool. See the module docstring for the order.

    ``environ`` is where ``${VAR}`` references in URLs are looked up (default: the process
    environment, read at each call).
    """

    def __init__(
        self, tool: MigrationTool, spec: Migrations, environ: Mapping[str, str] | None = None
    ) -> None:
        self.tool = tool
        self.spec = spec
        self._environ = environ

    @classmethod
    def from_plan(
        cls,
        spec: Migrations,
        base_dir: Path,
        environ: Mapping[str, str] | None = None,
        registry: ToolRegistry | None = None,
    ) -> Migrator:
        """The migrator for a plan's ``migrations`` block; relative paths resolve against
        ``base_dir``, the plan's directory."""
        return cls(tool_for(spec, base_dir, registry), spec, environ)

    def expanded(self, url: str) -> str:
        """``url`` with its ``${VAR}`` references filled in (for handing on, never keeping)."""
        return expand(url, self._environ)

    @contextmanager
    def _database(self, url: str) -> Iterator[str]:
        """``url`` expanded for the tool; a ``MigrationError`` raised meanwhile comes out with
        the values filled in masked (a driver's message or a revision may quote them)."""
        target = expanded(url, self._environ)
        try:
            yield target.text
        except MigrationError as exc:
            said = str(exc)
            masked = target.scrubber(said)
            if masked == said:
                raise
            # Not chained: the original error, shown in a traceback, would quote the value.
            raise MigrationError(masked) from None

    def resolve(self, refs: Iterable[str], field: str) -> frozenset[str]:
        """Full ids of the revisions the plan's ``field`` lists (ids or unambiguous prefixes);
        ``MigrationError`` naming the field for one this project does not have."""
        ids = set()
        for ref in refs:
            try:
                ids.add(self.tool.revision(ref).id)
            except MigrationError as exc:
                raise MigrationError(f"migrations.{field}: {exc}") from exc
        return frozenset(ids)

    @property
    def contract_ids(self) -> frozenset[str]:
        """The plan's contract revisions, as full ids."""
        return self.resolve(self.spec.contract_revisions, "contract_revisions")

    def current(self, url: str) -> str | None:
        """The revision the database is at (record it as the start before expanding)."""
        with self._database(url) as target:
            return self.tool.current(target)

    def phases(self, url: str) -> tuple[list[Revision], list[Revision]]:
        """The database's pending revisions split into (expand, contract)."""
        with self._database(url) as target:
            pending = self.tool.pending(target)
        return plan_phases(pending, self.contract_ids)

    def expand(self, url: str) -> Moved:
        """Run the expand revisions (every pending one up to the first contract revision)."""
        with self._database(url) as target:
            start = self.tool.current(target)
            expand, _ = plan_phases(self.tool.revisions(start), self.contract_ids)
            if expand:
                self.tool.upgrade(target, expand[-1].id)
        return Moved(start, expand[-1].id if expand else start, tuple(expand))

    def contract(self, url: str) -> Moved:
        """Run everything still pending, contract revisions included (after general
        availability only)."""
        with self._database(url) as target:
            start = self.tool.current(target)
            pending = self.tool.revisions(start)
            plan_phases(pending, self.contract_ids)  # refuses a contract revision out of order
            if pending:
                self.tool.upgrade(target, pending[-1].id)
        return Moved(start, pending[-1].id if pending else start, tuple(pending))

    def rollback(self, url: str, start_revision: str | None) -> Moved:
        """The plan's rollback migration: down to ``start_revision`` (``downgrade-to-start``)
        or to the revision the plan's ``rollback:`` names."""
        if self.spec.rollback == "downgrade-to-start":
            return self.rollback_to(url, start_revision)
        return self.rollback_to(url, self.tool.revision(self.spec.rollback).id)

    def rollback_to(self, url: str, start_revision: str | None) -> Moved:
        """Downgrade the database to ``start_revision`` (``None``: base), newest first.

        Refuses, before changing anything, when a contract revision is among those to undo
        (the data it removed may be gone; a downgrade brings back the column, not the values),
        when one of them has no downgrade, or when the database is not above the start at all.
        """
        start = None if start_revision is None else self.tool.revision(start_revision).id
        with self._database(url) as target:
            current = self.tool.current(target)
        if current == start:
            return Moved(current, current)
        applied = {rev.id for rev in self.tool.revisions(None, current)} if current else set()
        if start is not None and start not in applied:
            raise MigrationError(
                f"the database is at {label_of(current)}, which is not after the start "
                f"revision {start}; a rollback migration only goes down, so nothing was changed"
            )
        undo = self.tool.revisions(start, current)
        contract = [rev for rev in undo if rev.id in self.contract_ids]
        if contract:
            raise MigrationError(
                f"refusing to roll back to {label_of(start)}: contract revision "
                f"{contract[0].label} already ran, and the data it removed may be gone — a "
                "downgrade would bring back the schema but not the values. Restore from a "
                "backup, or roll forward with a fix instead; nothing was changed"
            )
        missing = [rev.label for rev in undo if not rev.has_downgrade]
        if missing:
            which = (
                f"revision {missing[0]} has"
                if len(missing) == 1
                else f"revisions {', '.join(missing)} have"
            )
            raise MigrationError(
                f"cannot roll back to {label_of(start)}: {which} no downgrade; nothing was changed"
            )
        with self._database(url) as target:
            self.tool.downgrade(target, start)
        return Moved(current, start, tuple(reversed(undo)))
