"""add orders.note

Revision ID: 1eaf00000002
Revises: 1eaf00000001
"""

import sqlalchemy as sa
from alembic import op

revision = "1eaf00000002"
down_revision = "1eaf00000001"


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("note", sa.String(200), nullable=True))
    op.create_index("ix_orders_note", "orders", ["note"])


def downgrade() -> None:
    # Wrong on purpose: the column stays behind.
    op.drop_index("ix_orders_note", table_name="orders")
