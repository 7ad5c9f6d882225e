"""drop audit_log

Revision ID: 1c0000000002
Revises: 1c0000000001
"""

import sqlalchemy as sa
from alembic import op

revision = "1c0000000002"
down_revision = "1c0000000001"


def upgrade() -> None:
    op.drop_table("audit_log")


def downgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("message", sa.Text),
    )
