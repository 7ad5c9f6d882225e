"""Database migrations (Alembic): tested round trips and compatibility checks."""
