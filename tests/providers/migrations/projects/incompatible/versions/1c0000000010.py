"""store customers.age as text

Revision ID: 1c0000000010
Revises: 1c0000000009
"""

import sqlalchemy as sa
from alembic import op

revision = "1c0000000010"
down_revision = "1c0000000009"


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.alter_column(
            "age",
            type_=sa.String(10),
            existing_type=sa.Integer,
            postgresql_using="age::varchar(10)",
        )


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.alter_column(
            "age",
            type_=sa.Integer,
            existing_type=sa.String(10),
            postgresql_using="age::integer",
        )
