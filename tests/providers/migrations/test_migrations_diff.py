"""Schema differences in words, and the pure classification of breaking changes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rollout.providers.migrations import Breaking, SchemaSnapshot, classify, diff
from rollout.providers.migrations.diff import mismatch_problems, restore_problems
from rollout.providers.migrations.schema import (
    ColumnShape,
    ForeignKeyShape,
    IndexShape,
    TableShape,
    TypeShape,
)


def varchar(name: str, length: int | None, *, nullable: bool = True) -> ColumnShape:
    text = f"VARCHAR({length})" if length else "TEXT"
    return ColumnShape(name, text, nullable, None, TypeShape("string", (length,)))


def integer(name: str, width: int = 4, *, nullable: bool = True) -> ColumnShape:
    text = {2: "SMALLINT", 4: "INTEGER", 8: "BIGINT"}[width]
    return ColumnShape(name, text, nullable, None, TypeShape("integer", (width,)))


def schema(*tables: TableShape) -> SchemaSnapshot:
    return SchemaSnapshot(tuple(sorted(tables, key=lambda t: t.name)))


def orders(
    *columns: ColumnShape,
    indexes: tuple[IndexShape, ...] = (),
    foreign_keys: tuple[ForeignKeyShape, ...] = (),
) -> TableShape:
    id_column = integer("id", nullable=False)
    return TableShape(
        "orders", (id_column, *columns), ("id",), indexes=indexes, foreign_keys=foreign_keys
    )


# ----------------------------------------------------------------------------- type widths

lengths = st.integers(min_value=1, max_value=10_000)


@given(lengths, lengths)
def test_a_varchar_narrows_exactly_when_it_gets_shorter(old: int, new: int) -> None:
    assert TypeShape("string", (old,)).narrows_to(TypeShape("string", (new,))) == (new < old)


@given(lengths)
def test_text_to_a_bounded_varchar_narrows_and_back_widens(length: int) -> None:
    text, bounded = TypeShape("string", (None,)), TypeShape("string", (length,))
    assert text.narrows_to(bounded)
    assert not bounded.narrows_to(text)


@given(st.sampled_from([2, 4, 8]), st.sampled_from([2, 4, 8]))
def test_an_integer_narrows_exactly_when_it_gets_smaller(old: int, new: int) -> None:
    assert TypeShape("integer", (old,)).narrows_to(TypeShape("integer", (new,))) == (new < old)


def test_numeric_narrows_when_digits_before_or_after_the_point_are_lost() -> None:
    def numeric(precision: int | None, scale: int | None) -> TypeShape:
        return TypeShape("numeric", (precision, scale))

    assert numeric(12, 2).narrows_to(numeric(8, 2))  # 10 digits before the point -> 6
    assert numeric(12, 2).narrows_to(numeric(12, 1))  # cents get rounded
    assert numeric(12, 2).narrows_to(numeric(11, 3))  # one more decimal, one fewer before
    assert not numeric(12, 2).narrows_to(numeric(14, 4))
    assert numeric(None, None).narrows_to(numeric(20, 4))
    assert not numeric(20, 4).narrows_to(numeric(None, None))


def test_types_of_different_families_are_not_a_narrowing() -> None:
    assert not TypeShape("integer", (8,)).narrows_to(TypeShape("string", (5,)))


# ----------------------------------------------------------------------------- differences


def test_the_same_schema_has_no_difference_whatever_the_constraint_names() -> None:
    named = orders(varchar("status", 20), indexes=(IndexShape("ix_a", ("status",), False),))
    renamed = orders(varchar("status", 20), indexes=(IndexShape("ix_b", ("status",), False),))
    assert diff(schema(named), schema(renamed)) == []


def test_what_a_downgrade_fails_to_restore_is_said_in_words() -> None:
    customers = TableShape("customers", (integer("id", nullable=False),), ("id",))
    by_status = IndexShape("ix_s", ("status",), False)
    status = varchar("status", 20, nullable=False)
    expected = schema(orders(status, indexes=(by_status,)), customers)
    actual = schema(
        orders(
            varchar("status", 30),
            varchar("note", 200),
            foreign_keys=(ForeignKeyShape(None, ("id",), "customers", ("id",)),),
        ),
    )

    assert restore_problems(expected, actual) == [
        "does not restore table customers",
        "leaves column orders.note behind",
        "leaves column orders.status with type VARCHAR(30) instead of VARCHAR(20), NULL "
        "instead of NOT NULL",
        "does not restore index ix_s on orders (status)",
        "leaves foreign key orders (id) -> customers (id) behind",
    ]
    assert mismatch_problems(expected, actual) == [
        "table customers is missing",
        "there is an extra column orders.note",
        "column orders.status has type VARCHAR(30) instead of VARCHAR(20), NULL instead of "
        "NOT NULL",
        "index ix_s on orders (status) is missing",
        "there is an extra foreign key orders (id) -> customers (id)",
    ]


def test_a_changed_default_and_primary_key_are_said_in_words() -> None:
    status = varchar("status", 20)
    with_default = ColumnShape("status", "VARCHAR(20)", True, "'new'", status.type_shape)
    expected = schema(orders(status))
    actual = schema(
        TableShape("orders", (integer("id", nullable=False), with_default), ("id", "status"))
    )
    assert restore_problems(expected, actual) == [
        "leaves column orders.status with default 'new' instead of no default",
        "leaves primary key of orders with columns (id, status) instead of (id)",
    ]


# ----------------------------------------------------------------------------- classification


def test_a_drop_and_an_add_of_the_same_type_is_a_rename() -> None:
    before = schema(orders(varchar("code", 20)))
    after = schema(orders(varchar("reference", 20)))
    assert classify(before, after) == [
        (Breaking.RENAME_COLUMN, "renames column orders.code to reference")
    ]


def test_a_drop_and_an_add_of_another_type_is_a_drop() -> None:
    before = schema(orders(varchar("code", 20)))
    after = schema(orders(integer("reference")))
    assert classify(before, after) == [(Breaking.DROP_COLUMN, "drops column orders.code")]


def test_two_drops_and_two_adds_are_not_guessed_as_renames() -> None:
    before = schema(orders(varchar("a", 20), varchar("b", 20)))
    after = schema(orders(varchar("c", 20), varchar("d", 20)))
    assert classify(before, after) == [
        (Breaking.DROP_COLUMN, "drops column orders.a"),
        (Breaking.DROP_COLUMN, "drops column orders.b"),
    ]


def test_adding_a_table_or_a_nullable_column_or_widening_breaks_nothing() -> None:
    before = schema(orders(varchar("status", 20), integer("qty", 4)))
    after = schema(
        orders(varchar("status", 50), integer("qty", 8), varchar("note", None)),
        TableShape("shipments", (integer("id", nullable=False),), ("id",)),
    )
    assert classify(before, after) == []


def test_a_not_null_column_with_a_server_default_breaks_nothing() -> None:
    tier = ColumnShape("tier", "VARCHAR(20)", False, "'basic'", TypeShape("string", (20,)))
    assert classify(schema(orders()), schema(orders(tier))) == []
    bare = ColumnShape("tier", "VARCHAR(20)", False, None, TypeShape("string", (20,)))
    assert classify(schema(orders()), schema(orders(bare))) == [
        (
            Breaking.ADD_NOT_NULL_COLUMN,
            "adds column orders.tier as NOT NULL without a server default",
        )
    ]
