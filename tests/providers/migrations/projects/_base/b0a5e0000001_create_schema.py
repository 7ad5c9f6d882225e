"""create customers, orders, coupons and audit_log

Revision ID: b0a5e0000001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "b0a5e0000001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(200), nullable=False, unique=True),
        sa.Column("name", sa.String(100)),
        sa.Column("phone", sa.String(40)),
        sa.Column("age", sa.Integer),
        sa.Column("score", sa.BigInteger),
        sa.Column("balance", sa.Numeric(12, 2)),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="new"),
        sa.Column("legacy_code", sa.String(20)),
    )
    op.create_index("ix_orders_status", "orders", ["status"])
    op.create_table(
        "coupons",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(40), nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("message", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("coupons")
    op.drop_index("ix_orders_status", table_name="orders")
    op.drop_table("orders")
    op.drop_table("customers")
