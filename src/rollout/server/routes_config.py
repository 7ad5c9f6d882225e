"""What SDKs read: the config document (with ETag) and its SSE stream.

The stream (``text/event-stream``)::

    retry: 1000

    id: 41
    event: config
    data: {"environment":"production","version":41,"flags":[...],"segments":[...]}

    : keep-alive

    id: 42
    event: config
    data: {...}

The first config event is skipped when the request's ``Last-Event-ID`` equals the current
version (a reconnecting client that is up to date). A client is subscribed *before* the current
config is read, so a change committed in between is never missed; versions not newer than the
one last sent are never sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import StreamingResponse

from rollout.flags import FlagConfig
from rollout.server._headers import etag, etag_matches, parse_version_tag
from rollout.server.broadcast import Subscription, SubscriptionClosed
from rollout.server.context import ServerContext
from rollout.server.flag_service import ConfigDocument
from rollout.server.routes_flags import EnvPath
from rollout.server.schemas import ErrorBody, ValidationErrorBody

router = APIRouter(prefix="/api/v1", tags=["sdk"])

_JSON = "application/json"
_NO_STORE = {"Cache-Control": "no-cache"}


def sse_event(document: ConfigDocument) -> str:
    """One config event in SSE framing (the JSON has no line breaks, so one ``data`` line)."""
    return f"id: {document.version}\nevent: config\ndata: {document.json}\n\n"


@router.get(
    "/environments/{environment}/config",
    summary="Get the flag config",
    response_class=Response,
    responses={
        200: {
            "model": FlagConfig,
            "description": "The config; `ETag` is its version.",
            "headers": {"ETag": {"description": 'The config version, quoted: `"42"`.'}},
        },
        304: {"description": "`If-None-Match` names the current version: nothing changed."},
        422: {"model": ValidationErrorBody, "description": "Not an environment name."},
        503: {"model": ErrorBody, "description": "The database is unavailable."},
    },
)
def get_config(
    environment: EnvPath,
    request: Request,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    """Everything an SDK needs to evaluate the environment's flags locally (`FlagConfig`).

    An environment nobody configured yet is version 0 with no flags."""
    ctx: ServerContext = request.app.state.rollout
    if if_none_match is not None:
        version = ctx.service.config_version(environment)
        if etag_matches(if_none_match, version):
            return Response(status_code=304, headers={"ETag": etag(version), **_NO_STORE})
    document = ctx.service.config_document(environment)
    headers = {"ETag": etag(document.version), **_NO_STORE}
    return Response(document.json, media_type=_JSON, headers=headers)


@router.get(
    "/environments/{environment}/stream",
    summary="Stream config versions (SSE)",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "`config` events (id = version, data = the FlagConfig JSON) and "
            "`: keep-alive` comments.",
        },
        422: {"model": ValidationErrorBody, "description": "Not an environment name."},
        503: {"model": ErrorBody, "description": "The database is unavailable."},
    },
)
async def stream_config(
    environment: EnvPath,
    request: Request,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """Server-sent events: the current config on connect (unless `Last-Event-ID` is current),
    then the full config on every new version, and a keep-alive comment when idle."""
    ctx: ServerContext = request.app.state.rollout
    subscription = ctx.broadcaster.subscribe(environment)
    try:
        document = await asyncio.to_thread(ctx.service.config_document, environment)
    except BaseException:
        subscription.close()
        raise
    ctx.broadcaster.publish(document)  # others may not have this version yet either
    events = _events(ctx, subscription, document, parse_version_tag(last_event_id))
    headers = {**_NO_STORE, "X-Accel-Buffering": "no"}  # no proxy buffering of the stream
    return StreamingResponse(events, media_type="text/event-stream", headers=headers)


async def _events(
    ctx: ServerContext,
    subscription: Subscription,
    current: ConfigDocument,
    last_event_id: int | None,
) -> AsyncIterator[str]:
    try:
        head = f"retry: {ctx.retry_ms}\n\n"
        yield head if last_event_id == current.version else head + sse_event(current)
        sent = current.version
        while True:
            try:
                document = await subscription.next(ctx.keepalive_seconds)
            except SubscriptionClosed:
                return
            if document is None:
                yield ": keep-alive\n\n"
            elif document.version > sent:
                yield sse_event(document)
                sent = document.version
    finally:
        subscription.close()
