"""Persistence: SQLAlchemy models and queries, with the store's own Alembic migrations.

``open_store()`` gives a :class:`Store` on SQLite (default ``.rollout/rollout.db``) or on
PostgreSQL (``ROLLOUT_DATABASE_URL=postgresql+psycopg://...``), with the schema migrated.
Everything that crosses this package's border is a frozen record from ``records``.
"""

from rollout.store._db import DATABASE_URL_ENV, resolve_url
from rollout.store._json import canonical_json, json_diff
from rollout.store.actions import action_key
from rollout.store.events import event_hash
from rollout.store.flags import CONFIG_CHANNEL
from rollout.store.migrate import (
    current_revision,
    downgrade_database,
    head_revision,
    upgrade_database,
)
from rollout.store.records import (
    GLOBAL_CHAIN,
    TERMINAL_STATUSES,
    ActionRecord,
    ActionStatus,
    ApprovalDecision,
    ApprovalRecord,
    BaselineRecord,
    ChainReport,
    ConfigSnapshot,
    DefinitionChange,
    EventCount,
    EventRecord,
    FlagRecord,
    IssuedToken,
    JSONObject,
    NewEvent,
    RolloutRecord,
    RolloutStatus,
    SegmentRecord,
    TelemetryBatch,
    TelemetryRecord,
    TokenRecord,
    VersionedDefinition,
)
from rollout.store.store import Store, open_store
from rollout.store.tokens import hash_token

__all__ = [
    "CONFIG_CHANNEL",
    "DATABASE_URL_ENV",
    "GLOBAL_CHAIN",
    "TERMINAL_STATUSES",
    "ActionRecord",
    "ActionStatus",
    "ApprovalDecision",
    "ApprovalRecord",
    "BaselineRecord",
    "ChainReport",
    "ConfigSnapshot",
    "DefinitionChange",
    "EventCount",
    "EventRecord",
    "FlagRecord",
    "IssuedToken",
    "JSONObject",
    "NewEvent",
    "RolloutRecord",
    "RolloutStatus",
    "SegmentRecord",
    "Store",
    "TelemetryBatch",
    "TelemetryRecord",
    "TokenRecord",
    "VersionedDefinition",
    "action_key",
    "canonical_json",
    "current_revision",
    "downgrade_database",
    "event_hash",
    "hash_token",
    "head_revision",
    "json_diff",
    "open_store",
    "resolve_url",
    "upgrade_database",
]
