"""Request and response bodies of the HTTP API (pydantic models, so OpenAPI documents them).

Flag and segment bodies *are* the :mod:`rollout.flags` models, so the API validates exactly what
SDKs will load; the only difference is that ``key`` may be left out of a ``PUT`` body (the path
names it). Error bodies: ``{"detail": "..."}`` for 404/409/412/503, and for 422 the list
FastAPI uses, ``{"detail": [{"loc": ["body", "fallthrough", "rollout", "percent"], "msg":
"...", "type": "..."}]}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
)

from rollout.analysis.sketch import LatencySketch
from rollout.flags import Flag, Segment
from rollout.flags.clauses import Key
from rollout.server.problems import ENVIRONMENT_MAX_LENGTH, ENVIRONMENT_PATTERN
from rollout.store import DefinitionChange, VersionedDefinition

EnvironmentName = Annotated[
    str, Field(pattern=ENVIRONMENT_PATTERN, max_length=ENVIRONMENT_MAX_LENGTH)
]
_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)
# Latest epoch second a datetime can hold (9999-12-31T23:59:59Z): later ones cannot be stored.
_MAX_EPOCH_S = 253_402_300_799
MAX_ARMS_PER_BATCH = 10_000
MAX_EVENT_NAME_LENGTH = 200
MAX_EVENTS_PER_ARM = 100
MAX_EVENT_NAMES_PER_BATCH = 100
D = TypeVar("D", Flag, Segment)
R = TypeVar("R", bound=VersionedDefinition)

# -- errors ------------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    """A plain error: what went wrong, in words."""

    detail: str


class FieldErrorItem(BaseModel):
    """One located mistake: ``loc`` starts with where it was (``body``, ``path``, ``header``)."""

    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    """Every mistake found in the request."""

    detail: list[FieldErrorItem]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


# -- flags and segments ------------------------------------------------------------------------


class FlagDefinition(Flag):
    """A flag as ``PUT`` takes it: the :class:`rollout.flags.Flag` JSON; ``key`` may be left
    out, and if given must equal the key in the path."""

    key: Key | None = None  # type: ignore[assignment]


class SegmentDefinition(Segment):
    """A segment as ``PUT`` takes it (``key`` optional, as for flags)."""

    key: Key | None = None  # type: ignore[assignment]


class DefinitionOut(BaseModel, Generic[D]):
    """A flag's or segment's current definition; ``version`` counts its changes (use it for
    ``If-Match``). :meth:`of` and :meth:`record` convert from and to the store's records."""

    environment: str
    key: str
    version: int
    updated_at: datetime
    updated_by: str
    definition: D

    @classmethod
    def of(cls, record: VersionedDefinition) -> Self:
        return cls.model_validate(record, from_attributes=True)

    def record(self, kind: type[R]) -> R:
        """The store's record of this answer (``kind``: ``FlagRecord`` or ``SegmentRecord``)."""
        return kind(
            environment=self.environment,
            key=self.key,
            definition=self.definition.model_dump(mode="json"),
            version=self.version,
            updated_at=self.updated_at,
            updated_by=self.updated_by,
        )


class FlagOut(DefinitionOut[Flag]):
    """A flag's current definition; ``version`` counts its changes (use it for ``If-Match``)."""


class FlagList(BaseModel):
    """Every flag of an environment, by key, with the environment's config version."""

    environment: str
    config_version: int
    flags: list[FlagOut]


class SegmentOut(DefinitionOut[Segment]):
    """A segment's current definition and version."""


class SegmentList(BaseModel):
    environment: str
    config_version: int
    segments: list[SegmentOut]


class EnvironmentList(BaseModel):
    """Environments that have ever had a flag or segment."""

    environments: list[str]


class DiffEntry(BaseModel):
    """One changed leaf: a JSON pointer ``path`` with its ``old`` and ``new`` value; ``old`` is
    absent for an added leaf and ``new`` for a removed one (so a JSON ``null`` stays visible)."""

    path: str
    old: JsonValue = None
    new: JsonValue = None

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if k == "path" or k in self.model_fields_set}


class HistoryEntry(BaseModel):
    """One version: who changed what, when. ``definition`` is null for a delete."""

    version: int
    change: Literal["created", "updated", "deleted"]
    actor: str
    at: datetime
    definition: dict[str, JsonValue] | None
    diff: list[DiffEntry]

    @classmethod
    def of(cls, change: DefinitionChange) -> HistoryEntry:
        return cls(
            version=change.version,
            change=change.change,
            actor=change.actor,
            at=change.at,
            definition=change.definition,
            diff=[DiffEntry.model_validate(entry) for entry in change.diff],
        )


class History(BaseModel):
    """Every version of one flag or segment, oldest first, deletes included."""

    environment: str
    kind: Literal["flag", "segment"]
    key: str
    versions: list[HistoryEntry]


class RolloutRequest(BaseModel):
    """Serve ``treatment`` to ``percent`` % of subjects (0.001 % steps), ``rest`` to the others.

    ``treatment`` and ``rest`` default to the flag's current rollout, else, for a boolean flag,
    its ``true`` and ``false`` variants.
    """

    model_config = _STRICT

    percent: float = Field(ge=0, le=100, examples=[25])
    treatment: Key | None = None
    rest: Key | None = None


# -- telemetry ---------------------------------------------------------------------------------


class SdkInfo(BaseModel):
    """Which SDK sent a batch; ``instance`` identifies one running client (a UUID)."""

    name: str = Field(min_length=1, max_length=100)
    version: str = Field(min_length=1, max_length=100)
    instance: str = Field(min_length=1, max_length=200)


class TelemetryEvent(BaseModel):
    """How often one business event was tracked in an arm's window (``client.track``), and the
    sum of the values tracked with it (left out when none carried a value)."""

    model_config = _STRICT

    name: str = Field(min_length=1, max_length=MAX_EVENT_NAME_LENGTH)
    count: int = Field(ge=0, strict=True)
    value_sum: float | None = None


class TelemetryArm(BaseModel):
    """What one SDK instance saw for one flag arm: requests, failed requests, the distinct
    subjects those failures were for (plus failures without a subject; left out by older SDKs),
    latency sketch (:meth:`rollout.analysis.sketch.LatencySketch.to_dict`'s object, or null),
    and the business events tracked for subjects the arm served."""

    model_config = _STRICT

    flag: Key
    variant: Key
    requests: int = Field(ge=0, strict=True)
    errors: int = Field(ge=0, strict=True)
    error_subjects: int | None = Field(default=None, ge=0, strict=True)
    latency: dict[str, JsonValue] | None = None
    events: list[TelemetryEvent] = Field(default_factory=list, max_length=MAX_EVENTS_PER_ARM)

    @field_validator("events")
    @classmethod
    def _names_unique(cls, events: list[TelemetryEvent]) -> list[TelemetryEvent]:
        names = [event.name for event in events]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"event {repeated[0]!r} appears more than once in the arm")
        return events

    @field_validator("errors")
    @classmethod
    def _errors_within_requests(cls, errors: int, info: ValidationInfo) -> int:
        requests = info.data.get("requests")
        if isinstance(requests, int) and errors > requests:
            raise ValueError(f"errors ({errors}) cannot exceed requests ({requests})")
        return errors

    @field_validator("error_subjects")
    @classmethod
    def _subjects_within_errors(cls, subjects: int | None, info: ValidationInfo) -> int | None:
        errors = info.data.get("errors")
        if subjects is not None and isinstance(errors, int) and subjects > errors:
            raise ValueError(
                f"error_subjects ({subjects}) cannot exceed errors ({errors}): each failing "
                "subject failed at least once"
            )
        return subjects

    @field_validator("latency")
    @classmethod
    def _a_sketch(cls, latency: dict[str, JsonValue] | None) -> dict[str, JsonValue] | None:
        if latency is not None:
            LatencySketch.from_dict(latency)  # ValueError says what is wrong
        return latency


class TelemetryBatchIn(BaseModel):
    """One batch of outcome telemetry; windows are epoch seconds, ``window_start <= window_end``."""

    model_config = _STRICT

    sdk: SdkInfo
    environment: EnvironmentName
    window_start: float = Field(ge=0, le=_MAX_EPOCH_S)
    window_end: float = Field(ge=0, le=_MAX_EPOCH_S)
    arms: list[TelemetryArm] = Field(max_length=MAX_ARMS_PER_BATCH)

    @field_validator("arms")
    @classmethod
    def _few_event_names(cls, arms: list[TelemetryArm]) -> list[TelemetryArm]:
        names = {event.name for arm in arms for event in arm.events}
        if len(names) > MAX_EVENT_NAMES_PER_BATCH:
            raise ValueError(
                f"{len(names)} different event names in one batch; at most "
                f"{MAX_EVENT_NAMES_PER_BATCH} (track a few business events, not one per user)"
            )
        return arms

    @field_validator("window_end")
    @classmethod
    def _window_in_order(cls, window_end: float, info: ValidationInfo) -> float:
        start = info.data.get("window_start")
        if isinstance(start, float) and window_end < start:
            raise ValueError(f"the window ends ({window_end}) before it starts ({start})")
        return window_end

    def window(self) -> tuple[datetime, datetime]:
        """The window as UTC datetimes."""
        return (
            datetime.fromtimestamp(self.window_start, UTC),
            datetime.fromtimestamp(self.window_end, UTC),
        )


class TelemetryAccepted(BaseModel):
    """How many arm rows were stored."""

    accepted: int
