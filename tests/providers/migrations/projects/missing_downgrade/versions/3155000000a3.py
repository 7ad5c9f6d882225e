"""add orders.shipped_at

Revision ID: 3155000000a3
Revises: 3155000000a2
"""

import sqlalchemy as sa
from alembic import op

revision = "3155000000a3"
down_revision = "3155000000a2"


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("shipped_at", sa.DateTime, nullable=True))


def downgrade() -> None:
    raise NotImplementedError("shipped_at cannot be removed")
