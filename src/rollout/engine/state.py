"""Where a rollout is: the frozen, JSON-serialisable state that :func:`decide` advances.

The store keeps a rollout's state as JSON (:meth:`RolloutState.to_json`) and hands it back on the
next tick (:meth:`RolloutState.from_json`). Times are seconds since the epoch (floats, the same
clock the caller passes to ``decide`` as ``now``); durations are seconds.

Nothing here decides anything. The ledger of issued actions is what makes ``decide`` idempotent:
an action is issued once per attempt, and its step is marked done or failed only when the shell
reports back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter, ValidationError

from rollout.errors import EngineError

STATE_SCHEMA = 1
"""Version of the JSON layout written by :meth:`RolloutState.to_json`."""


class Status(StrEnum):
    """Where a rollout is in its state machine. The values are the store's status words.

    ``paused`` waits for an operator; :class:`Hold` says why. ``failed`` is an end: the rollout
    was stopped (approval rejected, aborted) before it had changed anything, so there was nothing
    to roll back.
    """

    PENDING = "pending"
    GATING = "gating"
    AWAITING_APPROVAL = "awaiting_approval"
    DEPLOYING = "deploying"
    RAMPING = "ramping"
    OBSERVING = "observing"
    VALIDATING = "validating"
    PAUSED = "paused"
    FAILED = "failed"
    SUCCEEDED = "succeeded"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    ROLLBACK_FAILED = "rollback_failed"

    @property
    def terminal(self) -> bool:
        """True once nothing more will ever happen to the rollout."""
        return self in _TERMINAL


_TERMINAL = frozenset({Status.SUCCEEDED, Status.ROLLED_BACK, Status.ROLLBACK_FAILED, Status.FAILED})


class Hold(StrEnum):
    """Why a rollout is ``paused``: what ``resume`` and ``retry`` mean depends on it."""

    OPERATOR = "operator"
    """Someone paused it; ``resume`` carries on where it was."""
    FAILURE = "failure"
    """A gate, deploy, migration, traffic change or preview check failed after its retries;
    ``retry`` runs it again."""
    TRIGGER = "trigger"
    """A rollback trigger fired under the manual rollback procedure; ``abort`` rolls back,
    ``resume`` carries on and ignores the triggers that fired for the rest of the stage."""


class Outcome(StrEnum):
    """What is known about the latest attempt of a step."""

    ISSUED = "issued"
    """Handed to the shell; no result reported yet."""
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class LedgerEntry:
    """The latest attempt of one step (a place such as ``production/stage-2/traffic``).

    ``attempt`` counts from 1. ``last_attempt`` is the highest attempt that may run before the
    step is given up (1 + its retries; an operator's ``retry`` raises it again). ``message`` is
    the result or error text the shell reported; ``values`` carries measured numbers (for example
    a baseline). ``at`` is when the attempt was issued, then when its result arrived.

    >>> e = LedgerEntry("production/deploy", "deploy", 1, 3, Outcome.FAILED, "exit 1", {}, 10.0)
    >>> e.gave_up
    False
    """

    step: str
    kind: str
    attempt: int
    last_attempt: int
    outcome: Outcome
    message: str = ""
    values: dict[str, float] = field(default_factory=dict)
    at: float = 0.0
    budget: int = 1

    @property
    def gave_up(self) -> bool:
        """Failed on its last allowed attempt."""
        return self.outcome is Outcome.FAILED and self.attempt >= self.last_attempt


@dataclass(frozen=True)
class Vote:
    """An approval or rejection of entering ``environment``, as received."""

    environment: str
    actor: str
    approve: bool
    comment: str = ""
    at: float = 0.0


@dataclass(frozen=True)
class SignOff:
    """A manual checklist gate signed off (or refused) by ``actor`` holding ``roles``."""

    item: int
    actor: str
    roles: tuple[str, ...] = ()
    approve: bool = True
    comment: str = ""
    at: float = 0.0


@dataclass(frozen=True)
class RolloutState:
    """Everything the engine remembers about one rollout between ticks.

    Position: ``env_index`` (into ``plan.environments``), ``stage_index`` (into ``plan.stages``,
    meaningful in staged environments), ``step`` (the rollback step being run while rolling
    back), ``instances_done`` (rolling strategy: how many of the instances, in plan order, run the
    new version in the current environment).

    Clocks: ``status_since`` is when the current status began; ``window_started_at`` is when the
    current stage's (or validation's) metric window opened; the bake clock is
    ``bake_accumulated`` seconds plus ``now - bake_since`` while it runs (``bake_since`` is None
    while paused, which is how a pause stops the bake). ``wait_until`` holds the next step back
    (the rolling strategy's pause between batches); ``approval_since`` is when approval was asked.

    ``paused_from`` is the status a ``paused`` rollout returns to on resume/retry, ``hold`` why it
    is paused and ``fired`` which triggers (criterion texts or check steps) paused it.
    ``rollback_trigger`` says what caused a rollback; ``notes`` keeps non-blocking failures (a
    notification step of the rollback that could not be delivered). ``overridden`` lists the
    rollback triggers an operator resumed past in the current stage (manual rollback procedure).
    ``transitions`` counts status changes; it names notification steps uniquely.
    """

    rollout_id: str
    version: str
    started_by: str
    started_at: float
    status: Status = Status.PENDING
    env_index: int = 0
    stage_index: int = 0
    step: int = 0
    instances_done: int = 0
    traffic_percent: float = 0.0
    status_since: float = 0.0
    window_started_at: float | None = None
    bake_accumulated: float = 0.0
    bake_since: float | None = None
    wait_until: float | None = None
    approval_since: float | None = None
    ledger: tuple[LedgerEntry, ...] = ()
    votes: tuple[Vote, ...] = ()
    sign_offs: tuple[SignOff, ...] = ()
    baselines: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    paused_from: Status | None = None
    paused_by: str | None = None
    hold: Hold | None = None
    fired: tuple[str, ...] = ()
    rollback_trigger: str = ""
    rollback_from: Status | None = None
    overridden: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    transitions: int = 0

    @classmethod
    def new(cls, rollout_id: str, version: str, started_by: str, now: float) -> RolloutState:
        """A rollout that has not started yet; the first ``decide`` starts it.

        >>> RolloutState.new("r1", "v2.4.0", "alice", now=1000.0).status
        <Status.PENDING: 'pending'>
        """
        return cls(
            rollout_id=rollout_id,
            version=version,
            started_by=started_by,
            started_at=now,
            status_since=now,
        )

    def entry(self, step: str) -> LedgerEntry | None:
        """The ledger entry of ``step``, or None if it was never issued."""
        for item in self.ledger:
            if item.step == step:
                return item
        return None

    def bake_elapsed(self, now: float) -> float:
        """Seconds the current stage (or validation window) has baked, pauses excluded.

        >>> s = RolloutState.new("r", "v", "a", 0.0)
        >>> s = RolloutState(**{**s.__dict__, "bake_accumulated": 60.0, "bake_since": 100.0})
        >>> s.bake_elapsed(130.0)
        90.0
        """
        running = max(0.0, now - self.bake_since) if self.bake_since is not None else 0.0
        return self.bake_accumulated + running

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready ``dict`` (plain str/int/float/bool/None/list/dict) with a schema number."""
        data: dict[str, Any] = _ADAPTER.dump_python(self, mode="json")
        return {"schema": STATE_SCHEMA, **data}

    @classmethod
    def from_json(cls, data: Any) -> RolloutState:
        """Read back what :meth:`to_json` wrote; :class:`EngineError` if it is not a state.

        >>> s = RolloutState.new("r1", "v2", "alice", 5.0)
        >>> RolloutState.from_json(s.to_json()) == s
        True
        """
        if not isinstance(data, dict):
            raise EngineError(f"a stored rollout state must be a JSON object, found {data!r}")
        body = dict(data)
        schema = body.pop("schema", STATE_SCHEMA)
        if schema != STATE_SCHEMA:
            raise EngineError(
                f"the stored rollout state has layout {schema!r}; this version reads {STATE_SCHEMA}"
            )
        try:
            return _ADAPTER.validate_python(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "(top)"
            raise EngineError(
                f"the stored rollout state is not valid: {where}: {first['msg']}"
            ) from exc


_ADAPTER: TypeAdapter[RolloutState] = TypeAdapter(RolloutState)
