"""Persistence: SQLAlchemy models and queries, with the store's own Alembic migrations."""
