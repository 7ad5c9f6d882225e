"""marker revision that changes nothing

Revision ID: 3155000000a2
Revises: 3155000000a1
"""

revision = "3155000000a2"
down_revision = "3155000000a1"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
