"""A rollout with database migrations through the real controller on a real PostgreSQL: the
expand migrations run before the first stage, and an abort's ``migrate: rollback`` step takes
the schema back to where production was when the rollout started."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from e2e_support import advance_until, at_stage
from shell_plans import FakeClock, write_plan

from rollout.engine.controller import Controller, send_verb, start_rollout
from rollout.providers.migrations import AlembicTool
from rollout.store import Store

pytestmark = pytest.mark.postgres

PROJECT = Path(__file__).resolve().parents[1] / "providers" / "migrations" / "projects" / "good"
START = "b0a5e0000001"
"""The chain's first revision (customers, orders, coupons, audit_log): production's schema."""
HEAD = "600d00000003"
"""After orders.note, the shipments table and customers.tier."""

PLAN = """\
name: orders
overview: {{summary: Ship orders with notes and shipments., version: "2.0"}}
checklist:
  - {{item: Rollback plan documented, rollback: documented}}
strategy: {{type: canary}}
environments:
  - name: production
    traffic: {{type: command, set: "./ledger.sh weight {{weight}}", get: ./weight.sh}}
migrations:
  config: {config}
  database_url: ${{APP_DATABASE_URL}}
stages:
  - {{name: Canary, audience: 10%, duration: 5m}}
  - {{name: Everyone, audience: 100%, duration: 5m}}
rollback:
  - traffic: 0
  - migrate: rollback
"""


@pytest.fixture
def database(pg_url: str) -> Iterator[sa.Engine]:
    """Production's database (fresh, dropped afterwards) at the chain's first revision, with
    one customer in it."""
    AlembicTool(PROJECT / "alembic.ini").upgrade(pg_url, START)
    engine = sa.create_engine(pg_url, poolclass=sa.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO customers (id, email) VALUES (1, 'ann@example.com')"))
    yield engine
    engine.dispose()


def schema(engine: sa.Engine) -> tuple[str | None, set[str], set[str], set[str]]:
    """``(alembic revision, tables, columns of orders, columns of customers)``."""
    inspector = sa.inspect(engine)
    with engine.connect() as conn:
        revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    return (
        revision,
        set(inspector.get_table_names()),
        {column["name"] for column in inspector.get_columns("orders")},
        {column["name"] for column in inspector.get_columns("customers")},
    )


def test_an_abort_downgrades_the_expanded_schema_to_the_start_revision(
    pg_url: str,
    database: sa.Engine,
    work: Path,
    store: Store,
    clock: FakeClock,
    make_controller: Callable[..., Controller],
) -> None:
    plan = write_plan(work, PLAN.format(config=PROJECT / "alembic.ini"))
    controller = make_controller(environ={"APP_DATABASE_URL": pg_url})
    rollout = start_rollout(store, plan, None, "alice").id

    revision, tables, orders, customers = schema(database)
    assert revision == START and "shipments" not in tables
    assert "note" not in orders and "tier" not in customers

    view = advance_until(controller, clock, store, rollout, at_stage(1))
    assert (view.status, view.stage_number) == ("observing", 1), view.reason
    revision, tables, orders, customers = schema(database)
    assert revision == HEAD and "shipments" in tables
    assert "note" in orders and "tier" in customers

    send_verb(store, rollout, "abort", "bob", "orders time out")
    view = advance_until(controller, clock, store, rollout, lambda _v: False)
    assert view.status == "rolled_back", view.reason
    revision, tables, orders, customers = schema(database)
    assert revision == START and "shipments" not in tables
    assert "note" not in orders and "tier" not in customers
    with database.connect() as conn:
        emails = conn.execute(sa.text("SELECT email FROM customers")).scalars().all()
    assert emails == ["ann@example.com"]  # the data of the start schema is still there
    assert (work / "weight-production.txt").read_text().strip() == "0"
