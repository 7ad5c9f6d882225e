"""rename customers.name to full_name

Revision ID: 1c0000000003
Revises: 1c0000000002
"""

import sqlalchemy as sa
from alembic import op

revision = "1c0000000003"
down_revision = "1c0000000002"


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.alter_column("name", new_column_name="full_name", existing_type=sa.String(100))


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.alter_column("full_name", new_column_name="name", existing_type=sa.String(100))
