"""add customers.tier with a default

Revision ID: 600d00000003
Revises: 600d00000002
"""

import sqlalchemy as sa
from alembic import op

revision = "600d00000003"
down_revision = "600d00000002"


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("tier", sa.String(20), nullable=False, server_default="basic"))


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("tier")
