"""The ``Store`` (every query the engine, server and flag service need) and ``open_store``."""

from __future__ import annotations

from rollout.store._db import Clock, make_engine
from rollout.store.actions import ActionsMixin
from rollout.store.events import EventsMixin
from rollout.store.flags import FlagsMixin
from rollout.store.migrate import upgrade_engine
from rollout.store.rollouts import RolloutsMixin
from rollout.store.telemetry import TelemetryMixin
from rollout.store.tokens import TokensMixin


class Store(RolloutsMixin, EventsMixin, ActionsMixin, FlagsMixin, TelemetryMixin, TokensMixin):
    """Rollout's persistence, safe to share between threads (each call is its own
    transaction on a pooled connection) and between processes on one database.

    Every method returns frozen records, never live database objects, and raises only
    ``rollout.errors.StoreError`` and its subclasses (``NotFound``, ``Conflict``,
    ``LeaseLost``) for database trouble, or ``ValueError`` when called against its contract
    (a naive datetime, a negative lease). Use it as a context manager, or call ``close()``.
    """


def open_store(url: str | None = None, *, clock: Clock | None = None) -> Store:
    """Open the store, first upgrading its schema to the newest revision.

    ``url`` defaults to ``$ROLLOUT_DATABASE_URL``, else ``sqlite:///.rollout/rollout.db`` under
    the current directory. ``clock`` (default: the system clock, UTC) stamps every record; pass
    a fake one to replay a rollout at chosen times.

    >>> store = open_store("sqlite:///:memory:")
    >>> store.config_version("production")
    0
    """
    engine = make_engine(url)
    try:
        upgrade_engine(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, clock)
