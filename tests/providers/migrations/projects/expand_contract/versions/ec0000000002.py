"""add customers.tier

Revision ID: ec0000000002
Revises: ec0000000001
"""

import sqlalchemy as sa
from alembic import op

revision = "ec0000000002"
down_revision = "ec0000000001"


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("tier", sa.String(20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("tier")
