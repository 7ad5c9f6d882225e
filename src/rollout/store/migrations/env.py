"""Alembic environment of the store.

``rollout.store.migrate`` opens the connection, takes the migration lock, starts the
transaction and passes the connection in ``config.attributes["connection"]``; this script only
runs the migrations on it, so every revision applies in that one transaction.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext

from rollout.errors import StoreError
from rollout.store.migrate import VERSION_TABLE
from rollout.store.models import Base, UTCDateTime

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise StoreError("the store's migrations run only through rollout.store.migrate")


def render_item(type_: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Write UTCDateTime into new revisions as the plain column type it stores."""
    if type_ == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    # SQLite cannot ALTER most things in place; batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    render_item=render_item,
)
with context.begin_transaction():
    context.run_migrations()
