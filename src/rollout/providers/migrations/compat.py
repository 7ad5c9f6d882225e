"""Backwards compatibility: does a revision break the old version that is still running?

During a rollout the old and the new version run side by side on one database, and after a
rollback the old version runs alone on the migrated schema (a schema change is not undone when
traffic moves back). So every expand revision must leave a schema the *old* code can still read
and write. :func:`classify` compares the schema before and after one revision
(:mod:`rollout.providers.migrations.diff`) and names each operation that breaks it:

==========================  ==========================================================
drop column / drop table    the old version still reads and writes it
rename column / table       seen as a drop plus an add of the same type; the old name is gone
add NOT NULL column         without a server default: the old version's inserts omit it
set NOT NULL                the old version may still write NULL there
narrow type                 shorter VARCHAR, smaller integer, fewer NUMERIC digits
change type                 a different kind of type (INTEGER -> VARCHAR, ...)
==========================  ==========================================================

Each :class:`Finding` carries expand/contract advice in plain words. A revision the plan declares
deliberate (``allow_incompatible``) or a contract revision (run only after general availability,
when no old version is left) turns its findings into notes: reported, not blocking.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum

from rollout.providers.migrations.diff import SchemaChange, diff
from rollout.providers.migrations.schema import ColumnShape, SchemaSnapshot, TableShape
from rollout.providers.migrations.tool import Revision, Verdict


class Breaking(StrEnum):
    """An operation that breaks the old version of the application."""

    DROP_COLUMN = "drop column"
    DROP_TABLE = "drop table"
    RENAME_COLUMN = "rename column"
    RENAME_TABLE = "rename table"
    ADD_NOT_NULL_COLUMN = "add NOT NULL column without a server default"
    SET_NOT_NULL = "set NOT NULL"
    NARROW_TYPE = "narrow type"
    CHANGE_TYPE = "change type"


ADVICE = {
    Breaking.DROP_COLUMN: (
        "the old version still reads and writes it. Stop using the column in this release, "
        "and drop it in a later contract migration after general availability."
    ),
    Breaking.DROP_TABLE: (
        "the old version still reads and writes it. Stop using the table in this release, "
        "and drop it in a later contract migration after general availability."
    ),
    Breaking.RENAME_COLUMN: (
        "the old version still uses the old name. Add the new column beside the old one, "
        "write both (or sync them with a trigger), backfill, switch reads to the new column, "
        "and drop the old one in a contract migration after general availability."
    ),
    Breaking.RENAME_TABLE: (
        "the old version still uses the old name. Create the new table (or leave a view under "
        "the old name), keep both in step while both versions run, and drop the old one in a "
        "contract migration after general availability."
    ),
    Breaking.ADD_NOT_NULL_COLUMN: (
        "the old version's inserts do not set it and will fail. Add the column as nullable "
        "first (or give it a server default), backfill, then make it NOT NULL in a later "
        "contract migration after general availability."
    ),
    Breaking.SET_NOT_NULL: (
        "the old version may still write NULL there. Make the new version always set it, "
        "backfill, then make it NOT NULL in a later contract migration after general "
        "availability."
    ),
    Breaking.NARROW_TYPE: (
        "values the old version writes may no longer fit. Keep the wider type, or add a new "
        "column of the narrower type, backfill and validate, switch over, and drop the old "
        "column in a contract migration after general availability."
    ),
    Breaking.CHANGE_TYPE: (
        "the old version still writes values of the old type. Add a new column of the new "
        "type, write both, backfill, switch reads over, and drop the old column in a contract "
        "migration after general availability."
    ),
}


@dataclass(frozen=True)
class Finding:
    """One breaking operation of one revision.

    ``operation`` says what the revision does (``drops column orders.legacy_code``);
    ``allowed`` is set (with ``why_allowed``) when it is a note rather than a failure.
    """

    revision: Revision
    kind: Breaking
    operation: str
    allowed: bool = False
    why_allowed: str = ""

    @property
    def advice(self) -> str:
        """Expand/contract advice in plain words."""
        return ADVICE[self.kind]

    def __str__(self) -> str:
        text = f"revision {self.revision.label} {self.operation}: {self.advice}"
        return f"{text} (note: {self.why_allowed})" if self.allowed else text


@dataclass(frozen=True)
class CompatibilityReport:
    """Every finding of the revisions checked: ``findings`` block, ``notes`` do not."""

    revisions: tuple[Revision, ...]
    findings: tuple[Finding, ...] = ()
    notes: tuple[Finding, ...] = ()

    @property
    def verdict(self) -> Verdict:
        return Verdict.FAIL if self.findings else Verdict.PASS

    @property
    def reason(self) -> str:
        """One sentence: how many revisions were checked and what breaks the old version."""
        count = len(self.revisions)
        checked = f"{count} pending revision{'s' if count != 1 else ''}"
        if self.findings:
            first = self.findings[0]
            more = len(self.findings) - 1
            tail = f" (and {more} more finding{'s' if more != 1 else ''})" if more else ""
            return (
                f"{checked} checked; revision {first.revision.label} {first.operation}, which "
                f"breaks the old version{tail}"
            )
        notes = f", {len(self.notes)} deliberate" if self.notes else ""
        return f"{checked} checked: all keep the old version working{notes}"

    def lines(self) -> list[str]:
        """The verdict and every finding and note, one line each."""
        return [f"{self.verdict}: {self.reason}", *(str(f) for f in self.findings)] + [
            str(n) for n in self.notes
        ]


def classify(before: SchemaSnapshot, after: SchemaSnapshot) -> list[tuple[Breaking, str]]:
    """The breaking operations between two schemas, as (kind, what the revision does).

    >>> from rollout.providers.migrations.schema import TypeShape
    >>> code = ColumnShape("code", "VARCHAR(20)", True, None, TypeShape("string", (20,)))
    >>> old = SchemaSnapshot((TableShape("orders", (code,)),))
    >>> classify(old, SchemaSnapshot((TableShape("orders", ()),)))
    [(<Breaking.DROP_COLUMN: 'drop column'>, 'drops column orders.code')]
    """
    changes = diff(before, after)
    found = _tables(changes)
    by_table: dict[str, list[SchemaChange]] = {}
    for change in changes:
        if isinstance(change.part, ColumnShape):
            by_table.setdefault(change.table, []).append(change)
    for table, column_changes in by_table.items():
        found.extend(_columns(table, column_changes))
    return found


def _tables(changes: Iterable[SchemaChange]) -> list[tuple[Breaking, str]]:
    dropped = [c.before for c in changes if isinstance(c.before, TableShape) and c.after is None]
    added = [c.after for c in changes if isinstance(c.after, TableShape) and c.before is None]
    found: list[tuple[Breaking, str]] = []
    for old in dropped:
        assert old is not None
        twin = next((new for new in added if new and _same_columns(old, new)), None)
        if twin is not None:
            added.remove(twin)
            found.append((Breaking.RENAME_TABLE, f"renames table {old.name} to {twin.name}"))
        else:
            found.append((Breaking.DROP_TABLE, f"drops table {old.name}"))
    return found


def _same_columns(old: TableShape, new: TableShape) -> bool:
    return {(c.name, c.type) for c in old.columns} == {(c.name, c.type) for c in new.columns}


def _columns(table: str, changes: list[SchemaChange]) -> list[tuple[Breaking, str]]:
    removed = [c.before for c in changes if c.after is None]
    added = [c.after for c in changes if c.before is None]
    found: list[tuple[Breaking, str]] = []
    for old in removed:
        assert isinstance(old, ColumnShape)
        twins = [new for new in added if isinstance(new, ColumnShape) and new.type == old.type]
        if len(twins) == 1 and len(removed) == len(added) == 1:
            added.remove(twins[0])
            found.append(
                (Breaking.RENAME_COLUMN, f"renames column {table}.{old.name} to {twins[0].name}")
            )
        else:
            found.append((Breaking.DROP_COLUMN, f"drops column {table}.{old.name}"))
    for new in added:
        assert isinstance(new, ColumnShape)
        if not new.nullable and new.default is None:
            found.append(
                (
                    Breaking.ADD_NOT_NULL_COLUMN,
                    f"adds column {table}.{new.name} as NOT NULL without a server default",
                )
            )
    for change in changes:
        was, now = change.before, change.after
        if isinstance(was, ColumnShape) and isinstance(now, ColumnShape):
            found.extend(_altered(table, was, now))
    return found


def _altered(table: str, was: ColumnShape, now: ColumnShape) -> list[tuple[Breaking, str]]:
    where = f"column {table}.{now.name}"
    found: list[tuple[Breaking, str]] = []
    if was.nullable and not now.nullable:
        found.append((Breaking.SET_NOT_NULL, f"makes {where} NOT NULL"))
    if was.type != now.type:
        if was.type_shape.family != now.type_shape.family:
            found.append(
                (Breaking.CHANGE_TYPE, f"changes the type of {where} from {was.type} to {now.type}")
            )
        elif was.type_shape.narrows_to(now.type_shape):
            found.append((Breaking.NARROW_TYPE, f"narrows {where} from {was.type} to {now.type}"))
    return found


@dataclass(frozen=True)
class Step:
    """One revision applied: the schema ``before`` and ``after`` its upgrade."""

    revision: Revision
    before: SchemaSnapshot
    after: SchemaSnapshot


def compatibility(
    steps: Iterable[Step],
    allow_incompatible: Collection[str] = (),
    contract_revisions: Collection[str] = (),
) -> CompatibilityReport:
    """Check every step; findings of revisions in ``allow_incompatible`` (declared deliberate)
    or ``contract_revisions`` (run after general availability) become notes. Both collections
    hold full revision ids."""
    steps = tuple(steps)
    findings: list[Finding] = []
    notes: list[Finding] = []
    for step in steps:
        rev = step.revision
        why = ""
        if rev.id in contract_revisions:
            why = "a contract revision, run only after general availability"
        elif rev.id in allow_incompatible:
            why = "declared deliberate in allow_incompatible"
        for kind, operation in classify(step.before, step.after):
            finding = Finding(rev, kind, operation, allowed=bool(why), why_allowed=why)
            (notes if why else findings).append(finding)
    return CompatibilityReport(tuple(s.revision for s in steps), tuple(findings), tuple(notes))
