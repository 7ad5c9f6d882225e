"""add orders.channel NOT NULL without a default

Revision ID: 1c0000000005
Revises: 1c0000000004
"""

import sqlalchemy as sa
from alembic import op

revision = "1c0000000005"
down_revision = "1c0000000004"


def upgrade() -> None:
    # SQLite cannot ALTER TABLE ... ADD a NOT NULL column without a default: rebuild the table.
    with op.batch_alter_table("orders", recreate="always") as batch:
        batch.add_column(sa.Column("channel", sa.String(20), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("channel")
