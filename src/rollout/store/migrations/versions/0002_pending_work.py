"""Rollouts remember whether their saved state still has actions to carry out, so an ended
rollout whose last announcements were not sent yet is leased and finished.

Revision ID: 0002
Revises: 0001
Create Date: 2026-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column(
        "rollouts",
        sa.Column("pending_work", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # In place on both backends (SQLite has dropped columns since 3.35): rebuilding the table,
    # as batch mode would, trips the foreign keys that point at it.
    op.drop_column("rollouts", "pending_work")
