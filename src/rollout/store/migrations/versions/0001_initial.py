"""The store's first schema: rollouts, audit events, actions, approvals, flags, segments,
telemetry, baselines and API tokens.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Frozen copies of the column types as they were at this revision (models.py may move on).
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON(none_as_null=True)
ROLLOUT_STATUSES = (
    "pending", "gating", "awaiting_approval", "deploying", "ramping", "observing", "validating",
    "paused", "succeeded", "rolling_back", "rolled_back", "rollback_failed", "failed",
)  # fmt: skip


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _id(table: str) -> tuple[sa.Column[int], sa.PrimaryKeyConstraint]:
    column = sa.Column("id", BIG_ID, autoincrement=True, nullable=False)
    return column, sa.PrimaryKeyConstraint("id", name=f"pk_{table}")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _definitions(table: str) -> None:
    """flags / segments: the current definition per (environment, key)."""
    op.create_table(
        table,
        *_id(table),
        sa.Column("environment", sa.String(100), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("definition_json", JSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment"], ["environments.name"], name=f"fk_{table}_environment_environments"
        ),
        sa.UniqueConstraint("environment", "key", name=f"uq_{table}_environment_key"),
    )


def _history(table: str) -> None:
    """flag_history / segment_history: every version, who, when, and the diff."""
    op.create_table(
        table,
        *_id(table),
        sa.Column("environment", sa.String(100), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("definition_json", JSON, nullable=True),
        sa.Column("diff_json", JSON, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment"], ["environments.name"], name=f"fk_{table}_environment_environments"
        ),
        sa.UniqueConstraint(
            "environment", "key", "version", name=f"uq_{table}_environment_key_version"
        ),
    )


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.String(200), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("plan_yaml", sa.Text(), nullable=False),
        sa.Column("plan_json", JSON, nullable=False),
        sa.Column("state_json", JSON, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_expires_at", _time(), nullable=True),
        sa.CheckConstraint(_one_of("status", ROLLOUT_STATUSES), name="ck_rollouts_status"),
        sa.CheckConstraint("revision >= 1", name="ck_rollouts_revision"),
        sa.PrimaryKeyConstraint("id", name="pk_rollouts"),
    )
    op.create_index("ix_rollouts_status", "rollouts", ["status"])

    op.create_table(
        "event_chains",
        sa.Column("chain", sa.String(40), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("chain", name="pk_event_chains"),
    )
    op.create_table(
        "events",
        *_id("events"),
        sa.Column("chain", sa.String(40), nullable=False),
        sa.Column("rollout_id", sa.String(40), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data_json", JSON, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["chain"], ["event_chains.chain"], name="fk_events_chain_event_chains"
        ),
        sa.ForeignKeyConstraint(
            ["rollout_id"], ["rollouts.id"], name="fk_events_rollout_id_rollouts"
        ),
        sa.UniqueConstraint("chain", "seq", name="uq_events_chain_seq"),
    )
    op.create_index("ix_events_rollout_id", "events", ["rollout_id"])

    op.create_table(
        "actions",
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("rollout_id", sa.String(40), nullable=False),
        sa.Column("step", sa.String(300), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("payload_json", JSON, nullable=False),
        sa.Column("result_json", JSON, nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("finished_at", _time(), nullable=True),
        sa.CheckConstraint(
            _one_of("status", ("intent", "done", "failed")), name="ck_actions_status"
        ),
        sa.ForeignKeyConstraint(
            ["rollout_id"], ["rollouts.id"], name="fk_actions_rollout_id_rollouts"
        ),
        sa.PrimaryKeyConstraint("key", name="pk_actions"),
    )
    op.create_index("ix_actions_rollout_id", "actions", ["rollout_id"])

    op.create_table(
        "approvals",
        *_id("approvals"),
        sa.Column("rollout_id", sa.String(40), nullable=False),
        sa.Column("environment", sa.String(100), nullable=False),
        sa.Column("approver", sa.String(200), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.CheckConstraint(
            _one_of("decision", ("approve", "reject")), name="ck_approvals_decision"
        ),
        sa.ForeignKeyConstraint(
            ["rollout_id"], ["rollouts.id"], name="fk_approvals_rollout_id_rollouts"
        ),
        sa.UniqueConstraint(
            "rollout_id",
            "environment",
            "approver",
            name="uq_approvals_rollout_id_environment_approver",
        ),
    )

    op.create_table(
        "environments",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("config_version", sa.Integer(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_environments"),
    )
    _definitions("flags")
    _history("flag_history")
    _definitions("segments")
    _history("segment_history")

    op.create_table(
        "telemetry",
        *_id("telemetry"),
        sa.Column("environment", sa.String(100), nullable=False),
        sa.Column("flag_key", sa.String(200), nullable=False),
        sa.Column("variant", sa.String(200), nullable=False),
        sa.Column("window_start", _time(), nullable=False),
        sa.Column("window_end", _time(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("latency_sketch", JSON, nullable=True),
        sa.Column("sdk_instance", sa.String(200), nullable=False),
        sa.Column("received_at", _time(), nullable=False),
        sa.CheckConstraint(
            "requests >= 0 AND errors >= 0 AND errors <= requests", name="ck_telemetry_counts"
        ),
        sa.CheckConstraint("window_start <= window_end", name="ck_telemetry_window"),
    )
    op.create_index(
        "ix_telemetry_environment_flag_key_variant_window_end",
        "telemetry",
        ["environment", "flag_key", "variant", "window_end"],
    )
    op.create_index("ix_telemetry_received_at", "telemetry", ["received_at"])

    op.create_table(
        "baselines",
        *_id("baselines"),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("metric", sa.String(200), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("window_seconds", sa.Float(), nullable=False),
        sa.Column("measured_at", _time(), nullable=False),
        sa.UniqueConstraint("scope", "metric", name="uq_baselines_scope_metric"),
    )

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("revoked_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )


def downgrade() -> None:
    # Children before parents, so foreign keys never dangle; indexes go with their tables.
    for table in (
        "api_tokens", "baselines", "telemetry", "segment_history", "segments", "flag_history",
        "flags", "environments", "approvals", "actions", "events", "event_chains", "rollouts",
    ):  # fmt: skip
        op.drop_table(table)
