"""Telemetry batches carry how many distinct subjects their failed requests were for (plus
failures without a subject), so one client retrying in a loop counts once: an integer, NULL
from SDKs that do not report it (and older rows).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("telemetry", sa.Column("error_subjects", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("telemetry", "error_subjects")
