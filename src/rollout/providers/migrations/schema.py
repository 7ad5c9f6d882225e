"""A database schema as comparable values: what SQLAlchemy's inspector sees, normalised.

:func:`take_snapshot` reads every table of the database's default schema (except the migration
tool's own bookkeeping table) into a frozen :class:`SchemaSnapshot`: columns with their type,
nullability and server default; the primary key; indexes; unique constraints; foreign keys.
Everything is sorted by name, so two snapshots of the same schema are equal however the database
lists them. Constraint and index *names* are kept for messages but are not part of what makes two
schemas "the same" (see :mod:`rollout.providers.migrations.diff`): a database may name an
unnamed constraint differently each time it is created.

Types are kept twice: as the database's own words (``VARCHAR(200)``, ``NUMERIC(12, 2)``) and as
a :class:`TypeShape` that knows how wide the type is, so a narrowing change can be recognised.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import create_engine, inspect, types
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import SQLAlchemyError

from rollout.errors import MigrationError
from rollout.providers.migrations._errors import explain
from rollout.providers.migrations.urls import display, parse

_SEQUENCE_DEFAULT = re.compile(r"nextval\('[^']*'(::regclass)?\)")

BOOKKEEPING_TABLES = frozenset({"alembic_version"})
"""Tables the migration tool keeps for itself; they are not part of the application's schema."""


@dataclass(frozen=True)
class TypeShape:
    """How wide a column type is, for telling widening from narrowing.

    ``family`` is ``string``, ``integer``, ``numeric``, ``float`` or, for any other type, the
    type's own text (``BOOLEAN``, ``TIMESTAMP WITH TIME ZONE``). ``size`` depends on the family:
    string ``(length,)``; integer ``(bytes,)``; float ``(bytes,)``; numeric ``(precision,
    scale)``; ``None`` means unbounded (``TEXT``, ``NUMERIC`` without precision).

    >>> TypeShape("string", (200,)).narrows_to(TypeShape("string", (50,)))
    True
    >>> TypeShape("integer", (4,)).narrows_to(TypeShape("integer", (8,)))
    False
    """

    family: str
    size: tuple[int | None, ...] = ()

    def narrows_to(self, other: TypeShape) -> bool:
        """Whether some value of this type no longer fits ``other`` (same family only)."""
        if self.family != other.family:
            return False
        if self.family == "numeric":
            return _numeric_narrows(self.size, other.size)
        return any(_smaller(new, old) for old, new in zip(self.size, other.size, strict=False))


def _smaller(new: int | None, old: int | None) -> bool:
    """Whether a bound ``new`` admits less than ``old`` (``None`` is unbounded)."""
    return new is not None and (old is None or new < old)


def _numeric_narrows(old: tuple[int | None, ...], new: tuple[int | None, ...]) -> bool:
    (old_precision, old_scale), (new_precision, new_scale) = old, new
    if _smaller(new_scale, old_scale):
        return True  # fewer digits after the point: values get rounded
    if new_precision is None:
        return False
    if old_precision is None:
        return True
    # Digits before the point: NUMERIC(12, 2) holds 10 of them, NUMERIC(8, 2) only 6.
    return new_precision - (new_scale or 0) < old_precision - (old_scale or 0)


@dataclass(frozen=True)
class ColumnShape:
    """A column: ``type`` in the database's words, nullability, and ``default``, the server
    default as the database shows it (an identity or generated column says so here too)."""

    name: str
    type: str
    nullable: bool
    default: str | None
    type_shape: TypeShape

    def describe(self) -> str:
        """``VARCHAR(20) NOT NULL DEFAULT 'new'``."""
        words = [self.type, "NULL" if self.nullable else "NOT NULL"]
        if self.default is not None:
            words.append(f"DEFAULT {self.default}")
        return " ".join(words)


@dataclass(frozen=True)
class IndexShape:
    """An index on ``columns`` (an expression index shows its expressions), unique or not."""

    name: str | None
    columns: tuple[str, ...]
    unique: bool


@dataclass(frozen=True)
class UniqueShape:
    """A unique constraint over ``columns``."""

    name: str | None
    columns: tuple[str, ...]


@dataclass(frozen=True)
class ForeignKeyShape:
    """A foreign key from ``columns`` to ``referred_table`` (``referred_columns``);
    ``options`` holds ``ondelete`` / ``onupdate`` and the like, sorted."""

    name: str | None
    columns: tuple[str, ...]
    referred_table: str
    referred_columns: tuple[str, ...]
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TableShape:
    """A table and everything on it, each part sorted."""

    name: str
    columns: tuple[ColumnShape, ...]
    primary_key: tuple[str, ...] = ()
    indexes: tuple[IndexShape, ...] = ()
    uniques: tuple[UniqueShape, ...] = ()
    foreign_keys: tuple[ForeignKeyShape, ...] = ()

    def column(self, name: str) -> ColumnShape | None:
        """The column called ``name``, if the table has one."""
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class SchemaSnapshot:
    """Every table of a schema, sorted by name."""

    tables: tuple[TableShape, ...] = ()

    def table(self, name: str) -> TableShape | None:
        """The table called ``name``, if there is one."""
        return next((t for t in self.tables if t.name == name), None)

    @property
    def table_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tables)


class SchemaReader:
    """Takes snapshots of one database (``url``, expanded), again and again.

    It keeps one connection open between snapshots: a fresh PostgreSQL connection reads the
    catalog several times slower than a warm one, and a round trip takes many snapshots. Use it
    as a context manager, or call :meth:`close`; ``exclude`` names tables left out.
    """

    def __init__(self, url: str, exclude: Iterable[str] = BOOKKEEPING_TABLES) -> None:
        self._url = url
        self._skipped = frozenset(exclude)
        self._engine = create_engine(parse(url), pool_size=1, max_overflow=0)

    def snapshot(self) -> SchemaSnapshot:
        """The schema as it is now; ``MigrationError`` when the database cannot be read."""
        try:
            with self._engine.connect() as connection:
                return _read(inspect(connection), connection.dialect, self._skipped)
        except SQLAlchemyError as exc:
            raise MigrationError(
                f"cannot inspect the schema of {display(self._url)}: {explain(exc)}"
            ) from exc

    def close(self) -> None:
        """Close the kept connection (before the database is dropped, say)."""
        self._engine.dispose()

    def __enter__(self) -> SchemaReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def take_snapshot(url: str, exclude: Iterable[str] = BOOKKEEPING_TABLES) -> SchemaSnapshot:
    """The schema of the database at ``url`` (expanded), without the ``exclude`` tables.

    A database that cannot be reached or inspected is a ``MigrationError``.
    """
    with SchemaReader(url, exclude) as reader:
        return reader.snapshot()


def _read(inspector: Any, dialect: Dialect, skipped: frozenset[str]) -> SchemaSnapshot:
    # One query per kind of part for all tables at once: on PostgreSQL this is several times
    # faster than asking table by table.
    columns = inspector.get_multi_columns()
    pks = inspector.get_multi_pk_constraint()
    indexes = inspector.get_multi_indexes()
    uniques = inspector.get_multi_unique_constraints()
    foreign_keys = inspector.get_multi_foreign_keys()
    tables = []
    for key in sorted(columns, key=lambda k: k[1]):
        name = key[1]
        if name in skipped:
            continue
        tables.append(
            _table(
                name,
                [_column(dialect, info) for info in columns[key]],
                pks.get(key) or {},
                indexes=indexes.get(key, []),
                uniques=uniques.get(key, []),
                foreign_keys=foreign_keys.get(key, []),
            )
        )
    return SchemaSnapshot(tuple(tables))


def _table(
    name: str,
    columns: list[ColumnShape],
    pk: Mapping[str, Any],
    *,
    indexes: list[dict[str, Any]],
    uniques: list[dict[str, Any]],
    foreign_keys: list[dict[str, Any]],
) -> TableShape:
    return TableShape(
        name=name,
        columns=tuple(sorted(columns, key=_by_name)),
        primary_key=tuple(pk.get("constrained_columns") or ()),
        indexes=tuple(
            sorted(
                (
                    IndexShape(info.get("name"), _index_columns(info), bool(info.get("unique")))
                    for info in indexes
                    # A unique constraint is also an index on some databases; count it once.
                    if not info.get("duplicates_constraint")
                ),
                key=lambda i: (i.columns, i.unique, i.name or ""),
            )
        ),
        uniques=tuple(
            sorted(
                (UniqueShape(info.get("name"), tuple(info["column_names"])) for info in uniques),
                key=lambda u: (u.columns, u.name or ""),
            )
        ),
        foreign_keys=tuple(
            sorted(
                (_foreign_key(info) for info in foreign_keys),
                key=lambda f: (f.columns, f.referred_table, f.referred_columns),
            )
        ),
    )


def _by_name(column: ColumnShape) -> str:
    return column.name


def _column(dialect: Dialect, info: Mapping[str, Any]) -> ColumnShape:
    sa_type = info["type"]
    try:
        text = str(sa_type.compile(dialect=dialect))
    except Exception:  # a type the dialect cannot render back (rare reflection gaps)
        text = repr(sa_type)
    default = info.get("default")
    if info.get("identity"):
        always = "ALWAYS" if info["identity"].get("always") else "BY DEFAULT"
        default = f"GENERATED {always} AS IDENTITY"
    elif info.get("computed"):
        default = f"GENERATED ALWAYS AS ({info['computed'].get('sqltext')})"
    elif isinstance(default, str):
        # A serial column's sequence is named after the table it was created with; a table
        # rebuilt by a batch migration gets a new one. Same behaviour, so the name is dropped.
        default = _SEQUENCE_DEFAULT.sub("nextval(<sequence>)", default)
    return ColumnShape(
        name=info["name"],
        type=text,
        nullable=bool(info.get("nullable", True)),
        default=None if default is None else str(default),
        type_shape=type_shape(sa_type, text),
    )


def type_shape(sa_type: Any, text: str) -> TypeShape:
    """The :class:`TypeShape` of a SQLAlchemy type whose database text is ``text``."""
    if isinstance(sa_type, types.String):
        return TypeShape("string", (sa_type.length,))
    if isinstance(sa_type, types.Integer):
        width = 8 if isinstance(sa_type, types.BigInteger) else 4
        if isinstance(sa_type, types.SmallInteger):
            width = 2
        return TypeShape("integer", (width,))
    if isinstance(sa_type, types.Float | types.REAL):
        precision = getattr(sa_type, "precision", None)
        single = "REAL" in text.upper() or (precision is not None and precision <= 24)
        return TypeShape("float", (4 if single else 8,))
    if isinstance(sa_type, types.Numeric):
        return TypeShape("numeric", (sa_type.precision, sa_type.scale))
    return TypeShape(text.upper())


def _index_columns(info: Mapping[str, Any]) -> tuple[str, ...]:
    names = list(info.get("column_names") or ())
    expressions = list(info.get("expressions") or ())
    return tuple(
        name if name is not None else (expressions[i] if i < len(expressions) else "<expr>")
        for i, name in enumerate(names)
    )


def _foreign_key(info: Mapping[str, Any]) -> ForeignKeyShape:
    options = info.get("options") or {}
    return ForeignKeyShape(
        name=info.get("name"),
        columns=tuple(info["constrained_columns"]),
        referred_table=str(info["referred_table"]),
        referred_columns=tuple(info["referred_columns"]),
        options=tuple(sorted((str(k), str(v)) for k, v in options.items() if v is not None)),
    )
