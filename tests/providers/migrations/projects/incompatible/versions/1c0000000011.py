"""add orders.priority NOT NULL with a default, widen coupons

Revision ID: 1c0000000011
Revises: 1c0000000010
"""

import sqlalchemy as sa
from alembic import op

revision = "1c0000000011"
down_revision = "1c0000000010"


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("priority", sa.Integer, nullable=False, server_default="0"))
    with op.batch_alter_table("vouchers") as batch:
        batch.alter_column("code", type_=sa.String(80), existing_type=sa.String(40))


def downgrade() -> None:
    with op.batch_alter_table("vouchers") as batch:
        batch.alter_column("code", type_=sa.String(40), existing_type=sa.String(80))
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("priority")
