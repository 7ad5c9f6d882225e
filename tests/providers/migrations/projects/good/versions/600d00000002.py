"""create shipments

Revision ID: 600d00000002
Revises: 600d00000001
"""

import sqlalchemy as sa
from alembic import op

revision = "600d00000002"
down_revision = "600d00000001"


def upgrade() -> None:
    op.create_table(
        "shipments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("order_id", sa.Integer, sa.ForeignKey("orders.id"), nullable=False),
        sa.Column("shipped_at", sa.DateTime, nullable=True),
    )
    op.create_index("ix_shipments_order_id", "shipments", ["order_id"])


def downgrade() -> None:
    op.drop_index("ix_shipments_order_id", table_name="shipments")
    op.drop_table("shipments")
