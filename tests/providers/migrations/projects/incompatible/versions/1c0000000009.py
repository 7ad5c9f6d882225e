"""fewer digits for customers.balance

Revision ID: 1c0000000009
Revises: 1c0000000008
"""

import sqlalchemy as sa
from alembic import op

revision = "1c0000000009"
down_revision = "1c0000000008"


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.alter_column("balance", type_=sa.Numeric(8, 2), existing_type=sa.Numeric(12, 2))


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.alter_column("balance", type_=sa.Numeric(12, 2), existing_type=sa.Numeric(8, 2))
