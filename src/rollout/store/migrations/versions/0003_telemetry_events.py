"""Telemetry batches carry the business events SDKs track per flag arm (``track()``): a JSON
list of ``{name, count, value_sum}``, NULL for batches that tracked none (and older rows).

Revision ID: 0003
Revises: 0002
Create Date: 2026-02-15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("telemetry", sa.Column("events", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    op.drop_column("telemetry", "events")
