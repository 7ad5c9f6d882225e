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
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from rollout.flags import FlagConfig
from rollout.server._headers import etag, etag_matches, parse_version_tag
from rollout.server._sse import FRAMES, ConfigStream, retry_block
from rollout.server.context import ServerContext
from rollout.server.routes_flags import EnvPath
from rollout.server.schemas import ErrorBody, ValidationErrorBody

router = APIRouter(prefix="/api/v1", tags=["sdk"])

_JSON = "application/json"
_NO_STORE = {"Cache-Control": "no-cache"}


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
    response_class=Response,  # for the docs only: the route returns a ConfigStream
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
) -> ConfigStream:
    """Server-sent events: the current config on connect (unless `Last-Event-ID` is current),
    then the full config on every new version, and a keep-alive comment when idle."""
    ctx: ServerContext = request.app.state.rollout
    subscription = ctx.broadcaster.subscribe(environment, keepalive_seconds=ctx.keepalive_seconds)
    try:
        document = await asyncio.to_thread(ctx.service.config_document, environment)
    except BaseException:
        subscription.close()
        raise
    ctx.broadcaster.publish(document)  # others may not have this version yet either
    head = retry_block(ctx.retry_ms)
    if parse_version_tag(last_event_id) != document.version:
        head += FRAMES.frame(document)
    headers = {**_NO_STORE, "X-Accel-Buffering": "no"}  # no proxy buffering of the stream
    return ConfigStream(subscription, head=head, sent=document.version, headers=headers)
