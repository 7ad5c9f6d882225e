"""Outcome telemetry intake: SDKs post per-arm counts, latency sketches and tracked business
events in batches."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from rollout.server.context import ServerContext, server_context
from rollout.server.schemas import (
    ErrorBody,
    TelemetryAccepted,
    TelemetryBatchIn,
    ValidationErrorBody,
)
from rollout.store import EventCount, TelemetryBatch

router = APIRouter(prefix="/api/v1", tags=["sdk"])


@router.post(
    "/telemetry",
    summary="Report outcome telemetry",
    status_code=202,
    response_model=TelemetryAccepted,
    responses={
        422: {"model": ValidationErrorBody, "description": "Invalid batch; `loc` names the field."},
        503: {"model": ErrorBody, "description": "The database is unavailable."},
    },
)
def post_telemetry(
    body: TelemetryBatchIn, ctx: Annotated[ServerContext, Depends(server_context)]
) -> TelemetryAccepted:
    """Stores one row per arm (flag, variant) of the batch; the rollout controller judges stages
    on them. Unknown flags are kept too: an SDK may run on an older config."""
    start, end = body.window()
    rows = [
        TelemetryBatch(
            environment=body.environment,
            flag_key=arm.flag,
            variant=arm.variant,
            window_start=start,
            window_end=end,
            requests=arm.requests,
            errors=arm.errors,
            error_subjects=arm.error_subjects,
            latency_sketch=arm.latency,
            sdk_instance=body.sdk.instance,
            events=tuple(EventCount(e.name, e.count, e.value_sum) for e in arm.events),
        )
        for arm in body.arms
    ]
    accepted = ctx.store.add_telemetry(rows)
    ctx.metrics.telemetry_batches.inc()
    ctx.metrics.telemetry_rows.inc(accepted)
    for listener in ctx.on_telemetry:
        listener()
    return TelemetryAccepted(accepted=accepted)
