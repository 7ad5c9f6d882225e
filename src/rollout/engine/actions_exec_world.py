"""What every part of the action executor shares: how an action ended (:class:`Done`) and the
outside systems it works through (:class:`World`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from rollout.plan.model import FlagSpec, Plan
from rollout.providers.checks import CheckResult
from rollout.providers.notify import Notifier
from rollout.providers.secrets import Scrubber
from rollout.providers.traffic.flag import FlagStore
from rollout.store import SegmentRecord, Store

ChangeListener = Callable[[str, int], None]
"""Told ``(environment, config version)`` after the executor changed a flag."""


class AudienceStore(FlagStore, Protocol):
    """Where flags are written, able to say whether a segment exists in an environment (the
    store, or the server's flag service)."""

    def get_segment(self, environment: str, key: str) -> SegmentRecord: ...


@dataclass(frozen=True)
class Done:
    """How an action ended: ``ok`` with its result text, or not ok with the error text.

    ``details`` are the facts behind the message (JSON-ready, kept in the store's action
    record); ``values`` are measured numbers the engine uses (baselines, by metric name, in
    criterion units).
    """

    ok: bool
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)
    values: Mapping[str, float] = field(default_factory=dict)

    def result_json(self) -> dict[str, Any]:
        """The record the store keeps: ``ok``, ``message``, ``values`` and the details."""
        return {
            **dict(self.details),
            "ok": self.ok,
            "message": self.message,
            "values": dict(self.values),
        }

    def masked(self, scrub: Scrubber) -> Done:
        """This end with ``scrub``'s values masked in its message and details (a script may
        print a secret it was given; the record must not keep it). Values are numbers."""
        if not scrub.values:
            return self
        return Done(self.ok, scrub(self.message), scrub.data(dict(self.details)), self.values)


@dataclass(frozen=True)
class World:
    """The outside systems an executor works through, shared by every rollout of a controller.

    ``flag_store`` is where flags are written (the server's ``FlagService`` when the controller
    runs inside the server, so SSE clients hear of a ramp at once; else the store).
    ``environ`` is where ``${VAR}`` references are read (default: the process environment).
    """

    store: Store
    notifier: Notifier
    flag_store: AudienceStore | None = None
    environ: Mapping[str, str] | None = None
    on_flag_change: ChangeListener | None = None


def checked(result: CheckResult) -> Done:
    """A check's result as an action's end."""
    return Done(result.passed, result.summary, dict(result.payload()))


def plan_flag(plan: Plan, key: str) -> FlagSpec | None:
    """The plan's ``flags:`` entry for ``key``, None when it has none."""
    try:
        return plan.flag(key)
    except KeyError:
        return None
