"""make customers.phone NOT NULL

Revision ID: 1c0000000006
Revises: 1c0000000005
"""

import sqlalchemy as sa
from alembic import op

revision = "1c0000000006"
down_revision = "1c0000000005"


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.alter_column("phone", nullable=False, existing_type=sa.String(40))


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.alter_column("phone", nullable=True, existing_type=sa.String(40))
