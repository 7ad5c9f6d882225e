"""Where the Alembic test projects are, and the id of the first revision they share."""

from __future__ import annotations

from pathlib import Path

PROJECTS = Path(__file__).resolve().parent / "projects"
BASE = "b0a5e0000001"
"""The shared first revision: customers, orders, coupons and audit_log."""
