"""rename coupons to vouchers

Revision ID: 1c0000000004
Revises: 1c0000000003
"""

from alembic import op

revision = "1c0000000004"
down_revision = "1c0000000003"


def upgrade() -> None:
    op.rename_table("coupons", "vouchers")


def downgrade() -> None:
    op.rename_table("vouchers", "coupons")
