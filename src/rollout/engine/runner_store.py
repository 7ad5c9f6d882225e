"""How the runner keeps a rollout in the store: the engine's state plus the runner's own.

A rollout's stored ``state_json`` is the engine's :meth:`RolloutState.to_json` plus a
``runner`` entry (:class:`ShellState`: the actions still to carry out, the audit-trail cursor,
the latest verdicts with the series they rest on, and stage outcomes), which
:func:`load_stored` splits off again. Every field added since the first release has a
default, so a rollout stored by an older release reads as one without them (no charts, for
example). Actions are kept as JSON (:func:`encode_action` / :func:`decode_action`) so that a
controller that takes over after a crash carries out exactly what the last decision issued.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from rollout.analysis import SeriesPoint
from rollout.engine.actions import ACTION_TYPES, Action
from rollout.engine.state import RolloutState
from rollout.errors import EngineError
from rollout.plan.model import Plan
from rollout.store import RolloutRecord

RUNNER_KEY = "runner"
"""The key of :class:`ShellState` inside a rollout's stored ``state_json``."""


@dataclass(frozen=True)
class CriterionView:
    """One criterion as last judged: ``role`` is ``success``, ``rollback`` or ``validation``;
    ``value`` is the canary's figure in criterion units (a fraction for rates, ms for
    latency), ``shown`` the same in words; ``verdict`` a :class:`Verdict` value."""

    text: str
    role: str
    verdict: str
    reason: str
    value: float | None = None
    shown: str = ""


@dataclass(frozen=True)
class JudgedSeries:
    """The chart points a criterion's verdict rested on (``CriterionResult.series``), kept
    column by column so a window of :data:`~rollout.analysis.MAX_SERIES_POINTS` points stays
    a few lists of numbers: point ``i`` is ``times[i]`` (epoch seconds) with ``canary[i]``,
    ``control[i]`` and ``threshold[i]`` in ``unit`` (``ratio``, ``ms`` or ``number``), over the
    window that opened at ``start``.

    >>> point = SeriesPoint(30.0, 0.01, None, 0.02)
    >>> kept = JudgedSeries.of("error_rate < 2%", "ratio", 0.0, [point])
    >>> kept.canary, kept.points() == (point,)
    ((0.01,), True)
    """

    criterion: str
    unit: str
    start: float
    times: tuple[float, ...] = ()
    canary: tuple[float | None, ...] = ()
    control: tuple[float | None, ...] = ()
    threshold: tuple[float | None, ...] = ()

    @classmethod
    def of(
        cls, criterion: str, unit: str, start: float, points: Sequence[SeriesPoint]
    ) -> JudgedSeries:
        return cls(
            criterion,
            unit,
            start,
            tuple(p.time for p in points),
            tuple(_storable(p.canary) for p in points),
            tuple(_storable(p.control) for p in points),
            tuple(_storable(p.threshold) for p in points),
        )

    def points(self) -> tuple[SeriesPoint, ...]:
        """The points, oldest first."""
        # Lists of unequal length are only ever hand-edited state: draw what pairs up.
        columns = zip(self.times, self.canary, self.control, self.threshold, strict=False)
        return tuple(SeriesPoint(*column) for column in columns)


def _storable(value: float | None) -> float | None:
    # JSON has no infinity or NaN (PostgreSQL refuses them): such a figure is not drawn.
    return value if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class StageNote:
    """How a stage of an environment ended (``passed`` or ``rolled back``), why, and when.

    The newest note also keeps the ``criteria`` and ``series`` of the judgement that ended the
    stage (empty when no stage window was judged then, e.g. a trigger fired while ramping);
    older notes drop them, so the stored state holds one ended stage's evidence at most."""

    environment: str
    stage: int
    status: str
    reason: str
    at: float
    criteria: tuple[CriterionView, ...] = ()
    series: tuple[JudgedSeries, ...] = ()


@dataclass(frozen=True)
class ShellState:
    """What the runner keeps beside the engine's state (see the module docstring).

    ``pending`` are the actions of the last decision, encoded by :func:`encode_action`;
    ``events_seen`` the last audit-trail seq scanned for operator input; ``criteria`` the
    verdicts of the last judged tick (``judged_at``) and ``series`` the chart points each
    verdict rested on (one per criterion that had data); ``stages`` the stage outcomes by
    ``"<environment>/<stage number>"``; ``metrics_problem`` the last metric source failure.
    """

    base_dir: str = ""
    pending: tuple[dict[str, Any], ...] = ()
    events_seen: int = 0
    criteria: tuple[CriterionView, ...] = ()
    judged_at: float | None = None
    stages: dict[str, StageNote] = field(default_factory=dict)
    metrics_problem: str = ""
    series: tuple[JudgedSeries, ...] = ()


_SHELL: TypeAdapter[ShellState] = TypeAdapter(ShellState)


@dataclass(frozen=True)
class StoredRollout:
    """A rollout as read from the store: its record, plan, engine state and runner state.

    ``engine`` is None before the first tick (the controller starts the rollout then)."""

    record: RolloutRecord
    plan: Plan
    engine: RolloutState | None
    shell: ShellState

    @property
    def base_dir(self) -> Path:
        return Path(self.shell.base_dir) if self.shell.base_dir else Path.cwd()


def load_stored(record: RolloutRecord, plan: Plan | None = None) -> StoredRollout:
    """Split a rollout record into plan, engine state and runner state (``plan``: the
    record's plan, already read; a plan never changes once a rollout started).

    Raises :class:`EngineError` when the stored plan or state cannot be read."""
    if plan is None:
        try:
            plan = Plan.model_validate(record.plan_json)
        except ValueError as exc:
            raise EngineError(
                f"rollout {record.id}: its stored plan cannot be read: {exc}"
            ) from exc
    data = dict(record.state_json)
    try:
        shell = _SHELL.validate_python(data.pop(RUNNER_KEY, {}))
    except ValueError as exc:
        raise EngineError(f"rollout {record.id}: its runner state cannot be read: {exc}") from exc
    engine = RolloutState.from_json(data) if "rollout_id" in data else None
    return StoredRollout(record, plan, engine, shell)


def engine_state(stored: StoredRollout) -> RolloutState:
    """The stored engine state, or the state a rollout not yet started begins in."""
    record = stored.record
    if stored.engine is not None:
        return stored.engine
    return RolloutState.new(
        record.id, record.version, record.created_by, record.created_at.timestamp()
    )


def state_json(engine: RolloutState | None, shell: ShellState) -> dict[str, Any]:
    """The ``state_json`` to store for ``engine`` and ``shell``."""
    body = engine.to_json() if engine is not None else {}
    return {**body, RUNNER_KEY: _SHELL.dump_python(shell, mode="json")}


_ACTION_CLASSES: dict[str, type[Action]] = {cls.kind: cls for cls in ACTION_TYPES}
_DECODERS: dict[type[Action], TypeAdapter[Any]] = {}


def encode_action(action: Action) -> dict[str, Any]:
    """An action as JSON: its kind, step, attempt, description and every field.

    >>> from rollout.engine.actions import RunCommand
    >>> a = RunCommand(rollout_id="r", step="rollback/2", environment="production",
    ...                command="./drain.sh", timeout=60.0)
    >>> encode_action(a)["kind"], decode_action("r", encode_action(a)) == a
    ('run_command', True)
    """
    return {
        "step": action.step,
        "attempt": action.attempt,
        "description": action.description,
        **action.payload(),
    }


def decode_action(rollout_id: str, data: dict[str, Any]) -> Action:
    """The action :func:`encode_action` encoded; :class:`EngineError` for an unknown kind."""
    body = dict(data)
    kind = body.pop("kind", None)
    cls = _ACTION_CLASSES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise EngineError(f"rollout {rollout_id}: a pending action of unknown kind {kind!r}")
    adapter = _DECODERS.get(cls)
    if adapter is None:
        adapter = _DECODERS[cls] = TypeAdapter(cls)
    action: Action = adapter.validate_python({**body, "rollout_id": rollout_id})
    return action


__all__ = [
    "RUNNER_KEY",
    "CriterionView",
    "JudgedSeries",
    "ShellState",
    "StageNote",
    "StoredRollout",
    "decode_action",
    "encode_action",
    "engine_state",
    "load_stored",
    "state_json",
]
