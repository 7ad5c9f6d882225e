"""The difference between two schema snapshots, as changes and in plain words.

:func:`diff` lists what differs between ``before`` and ``after`` as :class:`SchemaChange`
values: a whole table, or one part of a table present on both sides (a column, the primary key,
an index, a unique constraint, a foreign key). Parts are matched by what they do, not by name:
an index on ``orders (status)`` is the same index whatever the database called it.

Two wordings serve the round trip: :func:`restore_problems` says what a downgrade failed to put
back, :func:`mismatch_problems` how a schema differs from the one expected.

>>> from rollout.providers.migrations.schema import ColumnShape, TableShape, TypeShape
>>> note = ColumnShape("note", "VARCHAR(200)", True, None, TypeShape("string", (200,)))
>>> before = SchemaSnapshot((TableShape("orders", ()),))
>>> after = SchemaSnapshot((TableShape("orders", (note,)),))
>>> restore_problems(before, after)
['leaves column orders.note behind']
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from rollout.providers.migrations.schema import (
    ColumnShape,
    ForeignKeyShape,
    IndexShape,
    SchemaSnapshot,
    TableShape,
    UniqueShape,
)

PrimaryKey = tuple[str, ...]
Part = TableShape | ColumnShape | IndexShape | UniqueShape | ForeignKeyShape | PrimaryKey
_P = TypeVar("_P", IndexShape, UniqueShape, ForeignKeyShape)


@dataclass(frozen=True)
class SchemaChange:
    """One difference: ``before`` absent means the part was added, ``after`` absent removed;
    both present means it changed (only columns and primary keys change in place)."""

    table: str
    before: Part | None
    after: Part | None

    @property
    def part(self) -> Part:
        """The part as it is after the change, or as it was when it was removed."""
        found = self.after if self.after is not None else self.before
        assert found is not None
        return found

    @property
    def subject(self) -> str:
        """What changed, named for a sentence: ``column orders.note``, ``table orders``."""
        return subject(self.table, self.part)


def subject(table: str, part: Part) -> str:
    """A part of ``table`` named for a sentence."""
    if isinstance(part, TableShape):
        return f"table {part.name}"
    if isinstance(part, ColumnShape):
        return f"column {table}.{part.name}"
    if isinstance(part, IndexShape):
        kind = "unique index" if part.unique else "index"
        named = f" {part.name}" if part.name else ""
        return f"{kind}{named} on {table} ({', '.join(part.columns)})"
    if isinstance(part, UniqueShape):
        return f"unique constraint on {table} ({', '.join(part.columns)})"
    if isinstance(part, ForeignKeyShape):
        return (
            f"foreign key {table} ({', '.join(part.columns)}) -> "
            f"{part.referred_table} ({', '.join(part.referred_columns)})"
        )
    return f"primary key of {table}"


def diff(before: SchemaSnapshot, after: SchemaSnapshot) -> list[SchemaChange]:
    """Every difference from ``before`` to ``after``, tables in name order; an empty list
    means the schemas are the same (constraint and index names aside)."""
    changes: list[SchemaChange] = []
    names = sorted(set(before.table_names) | set(after.table_names))
    for name in names:
        old, new = before.table(name), after.table(name)
        if old is None or new is None:
            changes.append(SchemaChange(name, old, new))
        else:
            changes.extend(_table_changes(old, new))
    return changes


def _table_changes(old: TableShape, new: TableShape) -> list[SchemaChange]:
    name = old.name
    changes: list[SchemaChange] = []
    for column in sorted({c.name for c in old.columns} | {c.name for c in new.columns}):
        was, now = old.column(column), new.column(column)
        if was != now:
            changes.append(SchemaChange(name, was, now))
    if old.primary_key != new.primary_key:
        changes.append(SchemaChange(name, old.primary_key or None, new.primary_key or None))
    changes.extend(_matched(name, old.indexes, new.indexes, lambda i: (i.columns, i.unique)))
    changes.extend(_matched(name, old.uniques, new.uniques, lambda u: u.columns))
    changes.extend(
        _matched(
            name,
            old.foreign_keys,
            new.foreign_keys,
            lambda f: (f.columns, f.referred_table, f.referred_columns, f.options),
        )
    )
    return changes


def _matched(
    table: str, old: Sequence[_P], new: Sequence[_P], key: Callable[[_P], Hashable]
) -> list[SchemaChange]:
    """Removed and added parts, matched by ``key`` (what they do) rather than by name."""
    old_keys = {key(p) for p in old}
    new_keys = {key(p) for p in new}
    removed = [SchemaChange(table, p, None) for p in old if key(p) not in new_keys]
    added = [SchemaChange(table, None, p) for p in new if key(p) not in old_keys]
    return removed + added


def column_differences(expected: ColumnShape, actual: ColumnShape) -> str:
    """How ``actual`` differs from ``expected``: ``type VARCHAR(30) instead of VARCHAR(20)``."""
    parts = []
    if expected.type != actual.type:
        parts.append(f"type {actual.type} instead of {expected.type}")
    if expected.nullable != actual.nullable:
        now, was = ("NULL", "NOT NULL") if actual.nullable else ("NOT NULL", "NULL")
        parts.append(f"{now} instead of {was}")
    if expected.default != actual.default:
        now_default = actual.default or "no default"
        was_default = expected.default or "no default"
        parts.append(f"default {now_default} instead of {was_default}")
    return ", ".join(parts)


def _changed(change: SchemaChange) -> str:
    before, after = change.before, change.after
    if isinstance(before, ColumnShape) and isinstance(after, ColumnShape):
        return column_differences(before, after)
    assert isinstance(before, tuple) and isinstance(after, tuple)
    return f"columns ({', '.join(after)}) instead of ({', '.join(before)})"


def restore_problems(expected: SchemaSnapshot, actual: SchemaSnapshot) -> list[str]:
    """What a downgrade that should have brought back ``expected`` left wrong, in words:
    ``leaves column orders.note behind``, ``does not restore table audit_log``,
    ``leaves column orders.status with type VARCHAR(30) instead of VARCHAR(20)``."""
    words = []
    for change in diff(expected, actual):
        if change.before is None:
            words.append(f"leaves {change.subject} behind")
        elif change.after is None:
            words.append(f"does not restore {change.subject}")
        else:
            words.append(f"leaves {change.subject} with {_changed(change)}")
    return words


def mismatch_problems(expected: SchemaSnapshot, actual: SchemaSnapshot) -> list[str]:
    """How ``actual`` differs from ``expected``, in words: ``column orders.note is missing``,
    ``there is an extra index on orders (note)``, ``column orders.status has type ...``."""
    words = []
    for change in diff(expected, actual):
        if change.before is None:
            words.append(f"there is an extra {change.subject}")
        elif change.after is None:
            words.append(f"{change.subject} is missing")
        else:
            words.append(f"{change.subject} has {_changed(change)}")
    return words
