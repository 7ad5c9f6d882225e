"""shorten customers.email

Revision ID: 1c0000000007
Revises: 1c0000000006
"""

import sqlalchemy as sa
from alembic import op

revision = "1c0000000007"
down_revision = "1c0000000006"


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.alter_column("email", type_=sa.String(100), existing_type=sa.String(200))


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.alter_column("email", type_=sa.String(200), existing_type=sa.String(100))
