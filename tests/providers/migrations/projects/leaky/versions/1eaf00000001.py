"""widen orders.status

Revision ID: 1eaf00000001
Revises: b0a5e0000001
"""

import sqlalchemy as sa
from alembic import op

revision = "1eaf00000001"
down_revision = "b0a5e0000001"


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.alter_column("status", type_=sa.String(50), existing_type=sa.String(20))


def downgrade() -> None:
    # Wrong on purpose: the status was VARCHAR(20) before.
    with op.batch_alter_table("orders") as batch:
        batch.alter_column("status", type_=sa.String(30), existing_type=sa.String(50))
