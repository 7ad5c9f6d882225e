"""The store's Alembic migrations (run through ``rollout.store.migrate``, never an alembic.ini)."""
