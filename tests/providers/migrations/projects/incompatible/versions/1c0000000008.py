"""make customers.score an INTEGER

Revision ID: 1c0000000008
Revises: 1c0000000007
"""

import sqlalchemy as sa
from alembic import op

revision = "1c0000000008"
down_revision = "1c0000000007"


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.alter_column("score", type_=sa.Integer, existing_type=sa.BigInteger)


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.alter_column("score", type_=sa.BigInteger, existing_type=sa.Integer)
