"""add orders.note

Revision ID: ec0000000001
Revises: b0a5e0000001
"""

import sqlalchemy as sa
from alembic import op

revision = "ec0000000001"
down_revision = "b0a5e0000001"


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("note", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("note")
