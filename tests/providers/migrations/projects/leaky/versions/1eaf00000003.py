"""add orders.priority

Revision ID: 1eaf00000003
Revises: 1eaf00000002
"""

import sqlalchemy as sa
from alembic import op

revision = "1eaf00000003"
down_revision = "1eaf00000002"


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("priority", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("priority")
