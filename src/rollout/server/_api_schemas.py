"""Request and response bodies of the rollout API, shared by the server and ``rollout --server``.

Each answer converts from the engine's and store's frozen values (:meth:`RolloutStatusOut.of`,
:meth:`EventOut.of`) and back (:meth:`RolloutStatusOut.view`, :meth:`EventOut.record`), so the
command line shows a rollout fetched over HTTP with the very code that shows a local one. A
rollout's status is the engine's view itself, so the two cannot drift apart.
Times are UTC ISO-8601; ``judged_at`` and ``time_left`` are seconds (since the epoch, and left).
No web framework is imported here.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, RootModel

from rollout.engine.controller import RolloutView
from rollout.errors import PlanError, Problem
from rollout.store import ApprovalRecord, ChainReport, EventRecord

_STRICT = ConfigDict(extra="forbid")
PLAN_MAX_CHARACTERS = 1_000_000
COMMENT_MAX_CHARACTERS = 2_000
ENVIRONMENT_NAME_MAX = 100


class QueuedVerb(StrEnum):
    """Operator verbs the controller applies on its next tick."""

    PAUSE = "pause"
    RESUME = "resume"
    PROMOTE = "promote"
    ABORT = "abort"
    RETRY = "retry"


# --------------------------------------------------------------------------- requests


class StartRequest(BaseModel):
    """A rollout to start: the plan's YAML text and the version (default: the plan's
    ``overview.version``). Relative paths in the plan resolve against the server's working
    directory."""

    model_config = _STRICT

    plan: str = Field(min_length=1, max_length=PLAN_MAX_CHARACTERS, examples=["name: shop\n..."])
    version: str | None = Field(default=None, min_length=1, max_length=200, examples=["2.4.1"])


class VerbRequest(BaseModel):
    """Why, in a few words (kept in the audit trail)."""

    model_config = _STRICT

    comment: str = Field(default="", max_length=COMMENT_MAX_CHARACTERS)


class DecisionRequest(BaseModel):
    """An approval or rejection of ``environment`` (default: the one the rollout waits for)."""

    model_config = _STRICT

    environment: str | None = Field(
        default=None, min_length=1, max_length=ENVIRONMENT_NAME_MAX, examples=["production"]
    )
    comment: str = Field(default="", max_length=COMMENT_MAX_CHARACTERS)


class SignOffRequest(BaseModel):
    """A sign-off (or refusal, ``approve: false``) of a manual checklist gate by someone
    holding ``roles`` (the plan's roles, such as ``security``)."""

    model_config = _STRICT

    roles: list[str] = Field(max_length=50, examples=[["security"]])
    approve: bool = True
    comment: str = Field(default="", max_length=COMMENT_MAX_CHARACTERS)


# --------------------------------------------------------------------------- answers


class PlanProblemOut(BaseModel):
    """One thing wrong with the plan; ``line`` and ``column`` are 1-based (0: unknown)."""

    line: int
    column: int
    path: str
    message: str


class PlanProblemsBody(BaseModel):
    """A plan that cannot run, with every problem found, in order."""

    detail: str
    problems: list[PlanProblemOut]

    @classmethod
    def of(cls, error: PlanError) -> PlanProblemsBody:
        count = len(error.problems)
        return cls(
            detail=f"the plan has {count} problem{'s' if count != 1 else ''}",
            problems=[
                PlanProblemOut(line=p.line, column=p.column, path=p.path, message=p.message)
                for p in error.problems
            ],
        )

    def error(self) -> PlanError:
        """The :class:`PlanError` this answer reports (for the command line)."""
        return PlanError(
            [Problem("<plan>", p.line, p.column, p.path, p.message) for p in self.problems]
        )


class EventOut(BaseModel):
    """One audit event; ``hash`` chains it to ``prev_hash`` (see ``rollout audit verify``)."""

    id: int
    chain: str
    rollout_id: str | None
    seq: int
    at: datetime
    actor: str
    kind: str
    message: str
    data: dict[str, JsonValue]
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, event: EventRecord) -> EventOut:
        return cls.model_validate(event, from_attributes=True)

    def record(self) -> EventRecord:
        return EventRecord(**self.model_dump())


class RolloutStatusOut(RootModel[RolloutView]):
    """Where a rollout is: environment and stage, the new version's share, the time left of
    what it waits for, the criteria as last judged, and the last audit events."""

    # The engine's status view is the answer, field for field: nothing here to keep in step.

    @classmethod
    def of(cls, view: RolloutView) -> RolloutStatusOut:
        return cls(view)

    def view(self) -> RolloutView:
        """The engine's view of this answer (for the command line's displays)."""
        return self.root


class RolloutList(BaseModel):
    """Rollouts, newest first (without their events)."""

    rollouts: list[RolloutStatusOut]


class VerbAccepted(BaseModel):
    """A verb queued for the controller, as recorded in the audit trail."""

    rollout_id: str
    verb: str
    actor: str
    event: EventOut


class DecisionOut(BaseModel):
    """An approval or rejection as recorded; the controller counts it on its next tick."""

    rollout_id: str
    environment: str
    approver: str
    decision: Literal["approve", "reject"]
    comment: str
    at: datetime

    @classmethod
    def of(cls, record: ApprovalRecord) -> DecisionOut:
        return cls(
            rollout_id=record.rollout_id,
            environment=record.environment,
            approver=record.approver,
            decision=record.decision.value,
            comment=record.comment,
            at=record.at,
        )


class ChainOut(BaseModel):
    """The re-check of the rollout's hash chain: ``intact``, or the first bad event and why."""

    intact: bool
    checked: int
    first_bad_seq: int | None
    problem: str
    last_hash: str

    @classmethod
    def of(cls, report: ChainReport) -> ChainOut:
        return cls(
            intact=report.ok,
            checked=report.checked,
            first_bad_seq=report.first_bad_seq,
            problem=report.problem,
            last_hash=report.last_hash,
        )

    def report(self, chain: str, rollout_id: str | None) -> ChainReport:
        return ChainReport(
            chain,
            rollout_id,
            self.intact,
            self.checked,
            self.first_bad_seq,
            self.problem,
            self.last_hash,
        )


class HistoryOut(BaseModel):
    """A rollout's audit trail, oldest first, and whether its hash chain is intact."""

    rollout_id: str
    chain: ChainOut
    events: list[EventOut]
