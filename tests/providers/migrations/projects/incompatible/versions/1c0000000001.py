"""drop orders.legacy_code

Revision ID: 1c0000000001
Revises: b0a5e0000001
"""

import sqlalchemy as sa
from alembic import op

revision = "1c0000000001"
down_revision = "b0a5e0000001"


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("legacy_code")


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("legacy_code", sa.String(20), nullable=True))
