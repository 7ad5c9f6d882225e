"""drop orders.legacy_code

Revision ID: ec0000000003
Revises: ec0000000002
"""

import sqlalchemy as sa
from alembic import op

revision = "ec0000000003"
down_revision = "ec0000000002"


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("legacy_code")


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("legacy_code", sa.String(20), nullable=True))
