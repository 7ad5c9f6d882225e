"""The values the store hands out and takes in: frozen dataclasses, never ORM objects.

Times are timezone-aware UTC ``datetime`` values. JSON values (``JSONObject``) are plain
``dict``/``list``/``str``/``int``/``float``/``bool``/``None`` trees; the store never interprets
a plan, a state, a flag definition or a latency sketch, it only keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

JSONObject = dict[str, Any]
"""A JSON object as Python sees it after ``json.loads``."""

GLOBAL_CHAIN = "~global"
"""Chain name of the audit events that belong to no rollout (flag and segment changes)."""


class RolloutStatus(StrEnum):
    """Where a rollout is in its state machine (see the architecture's state diagram)."""

    PENDING = "pending"
    GATING = "gating"
    AWAITING_APPROVAL = "awaiting_approval"
    DEPLOYING = "deploying"
    RAMPING = "ramping"
    OBSERVING = "observing"
    VALIDATING = "validating"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    ROLLBACK_FAILED = "rollback_failed"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        """True once nothing more will happen to the rollout (no controller leases it)."""
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {
        RolloutStatus.SUCCEEDED,
        RolloutStatus.ROLLED_BACK,
        RolloutStatus.ROLLBACK_FAILED,
        RolloutStatus.FAILED,
    }
)


@dataclass(frozen=True)
class RolloutRecord:
    """One rollout as stored. ``revision`` starts at 1 and grows by one on every state save;
    ``pending_work`` was saved with the state: actions of it are still to be carried out."""

    id: str
    name: str
    version: str
    status: RolloutStatus
    plan_yaml: str
    plan_json: JSONObject
    state_json: JSONObject
    revision: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    lease_owner: str | None
    lease_expires_at: datetime | None
    pending_work: bool = False

    @property
    def terminal(self) -> bool:
        return self.status.terminal


@dataclass(frozen=True)
class NewEvent:
    """An audit event to append: ``kind`` is a dotted word (``state``, ``action.intent``,
    ``approval``, ``flag.changed``); ``message`` says what happened in plain words."""

    kind: str
    message: str
    data: JSONObject = field(default_factory=dict)
    actor: str = "rollout"


@dataclass(frozen=True)
class EventRecord:
    """One stored audit event.

    ``seq`` counts 1, 2, 3, ... without gaps within its ``chain`` (the rollout id, or
    ``GLOBAL_CHAIN`` for events of no rollout). ``hash`` is the SHA-256 of the event's canonical
    JSON including ``prev_hash``, the previous event's hash (64 zeros for the first event).
    """

    id: int
    chain: str
    rollout_id: str | None
    seq: int
    at: datetime
    actor: str
    kind: str
    message: str
    data: JSONObject
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainReport:
    """The result of re-checking one event chain.

    ``ok`` is True when every event's hash matches its content, every ``prev_hash`` matches the
    event before it, the sequence has no gaps and the chain's recorded head (last seq and hash)
    matches the last event. Otherwise ``first_bad_seq`` names the first place that is wrong and
    ``problem`` says how, in plain words. ``checked`` counts the events found sound before
    that; ``last_hash`` is the hash of the last sound event (keep it elsewhere to anchor the
    chain: a rewrite of the whole chain cannot reproduce it).
    """

    chain: str
    rollout_id: str | None
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str = ""
    last_hash: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"chain {self.chain}: {self.checked} events, intact"
        return f"chain {self.chain}: event {self.first_bad_seq}: {self.problem}"


class ActionStatus(StrEnum):
    INTENT = "intent"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class ActionRecord:
    """One idempotent action. ``key`` is ``f"{rollout_id}:{step}:{attempt}"``."""

    key: str
    rollout_id: str
    step: str
    attempt: int
    kind: str
    status: ActionStatus
    payload: JSONObject
    result: JSONObject | None
    created_at: datetime
    finished_at: datetime | None


class ApprovalDecision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True)
class ApprovalRecord:
    id: int
    rollout_id: str
    environment: str
    approver: str
    decision: ApprovalDecision
    comment: str
    at: datetime


@dataclass(frozen=True)
class VersionedDefinition:
    """A flag or segment definition in one environment. ``version`` counts 1, 2, ... per key and
    keeps counting after a delete and re-create, so every history entry has its own number."""

    environment: str
    key: str
    definition: JSONObject
    version: int
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class FlagRecord(VersionedDefinition):
    """A feature flag's stored definition (the flags package gives it meaning)."""


@dataclass(frozen=True)
class SegmentRecord(VersionedDefinition):
    """A segment's stored definition (a reusable set of targeting conditions)."""


ChangeKind = Literal["created", "updated", "deleted"]


@dataclass(frozen=True)
class DefinitionChange:
    """One entry of a flag's or segment's history.

    ``definition`` is the definition after the change (None for a delete); ``diff`` lists what
    changed, one ``{"path": "/rules/0/percent", "old": 5, "new": 25}`` per leaf, with ``old``
    or ``new`` absent where a value was added or removed.
    """

    kind: Literal["flag", "segment"]
    environment: str
    key: str
    version: int
    change: ChangeKind
    definition: JSONObject | None
    diff: tuple[JSONObject, ...]
    actor: str
    at: datetime


@dataclass(frozen=True)
class ConfigSnapshot:
    """Every flag and segment of one environment, read in one transaction.

    ``version`` is the environment's config version: it grows by one on every flag or segment
    change there, so it serves as an ETag and as the SSE event id. 0 means "never configured".
    """

    environment: str
    version: int
    flags: tuple[FlagRecord, ...]
    segments: tuple[SegmentRecord, ...]


@dataclass(frozen=True)
class EventCount:
    """How often one business event (``track("checkout", ...)``) happened in an arm's window,
    and the sum of the values it was tracked with (``None`` when none carried a value)."""

    name: str
    count: int
    value_sum: float | None = None


@dataclass(frozen=True)
class TelemetryBatch:
    """Outcome counts one SDK instance saw for one flag arm over ``[window_start, window_end]``.

    ``errors`` counts failed requests among ``requests`` (so ``0 <= errors <= requests``);
    ``error_subjects`` the distinct subjects they failed for plus failures without a subject
    (``0 <= error_subjects <= errors``; None from SDKs that do not report it);
    ``latency_sketch`` is the mergeable latency histogram, kept as opaque JSON; ``events`` the
    business events tracked in the arm, one entry per event name.
    """

    environment: str
    flag_key: str
    variant: str
    window_start: datetime
    window_end: datetime
    requests: int
    errors: int
    latency_sketch: Any
    sdk_instance: str
    events: tuple[EventCount, ...] = field(default=(), kw_only=True)
    error_subjects: int | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class TelemetryRecord(TelemetryBatch):
    """A stored telemetry batch, with its row id and the time the store received it."""

    id: int
    received_at: datetime


@dataclass(frozen=True)
class BaselineRecord:
    """A monitoring baseline: ``metric`` measured at ``value`` over ``window_seconds``.

    ``scope`` is what the baseline belongs to: a plan name or a rollout id.
    """

    scope: str
    metric: str
    value: float
    window_seconds: float
    measured_at: datetime


@dataclass(frozen=True)
class TokenRecord:
    """An API token; the secret itself is never stored, only its SHA-256 (``token_hash``)."""

    id: str
    name: str
    role: str
    token_hash: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class IssuedToken:
    """A freshly created token: ``secret`` is shown once and cannot be recovered later."""

    record: TokenRecord
    secret: str
