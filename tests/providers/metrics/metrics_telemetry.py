"""Telemetry as SDKs send it, for the built-in source and baseline tests."""

from __future__ import annotations

from datetime import UTC, datetime

from rollout.analysis import LatencySketch
from rollout.store import Store, TelemetryBatch

T0 = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC
ENV, FLAG = "production", "new-checkout"


def sketch(*ms: float) -> LatencySketch:
    made = LatencySketch()
    for value in ms:
        made.add(value)
    return made


def batch(
    ends_at: float,
    variant: str,
    requests: int,
    errors: int = 0,
    latency: LatencySketch | None = None,
    *,
    flag: str = FLAG,
    environment: str = ENV,
    instance: str = "web-1",
) -> TelemetryBatch:
    """A 10-second SDK batch whose window ends ``ends_at`` seconds after T0."""
    return TelemetryBatch(
        environment=environment,
        flag_key=flag,
        variant=variant,
        window_start=datetime.fromtimestamp(T0 + ends_at - 10, UTC),
        window_end=datetime.fromtimestamp(T0 + ends_at, UTC),
        requests=requests,
        errors=errors,
        latency_sketch=latency.to_dict() if latency is not None else None,
        sdk_instance=instance,
    )


def boolean_flag(store: Store, percent: float = 10.0) -> None:
    store.put_flag(
        ENV,
        FLAG,
        {
            "key": FLAG,
            "fallthrough": {"rollout": {"variant": "on", "percent": percent, "rest": "off"}},
        },
        actor="ann",
    )
