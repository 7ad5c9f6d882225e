"""Flag and segment routes: CRUD, ramp, kill switch, history. All writes go through
:class:`~rollout.server.flag_service.FlagService` (validated, versioned, audited, announced).

Route functions are plain ``def``: FastAPI runs them in its thread pool, where the blocking
store calls belong.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response

from rollout.server._headers import (
    ActorHeader,
    IfMatchHeader,
    actor_of,
    etag,
    expected_version,
)
from rollout.server.context import ServerContext, server_context
from rollout.server.problems import ENVIRONMENT_MAX_LENGTH, ENVIRONMENT_PATTERN
from rollout.server.schemas import (
    EnvironmentList,
    ErrorBody,
    FlagDefinition,
    FlagList,
    FlagOut,
    History,
    HistoryEntry,
    RolloutRequest,
    SegmentDefinition,
    SegmentList,
    SegmentOut,
    ValidationErrorBody,
)

router = APIRouter(prefix="/api/v1")

EnvPath = Annotated[
    str,
    Path(
        pattern=ENVIRONMENT_PATTERN,
        max_length=ENVIRONMENT_MAX_LENGTH,
        description="Environment name.",
        examples=["production"],
    ),
]
FlagKey = Annotated[str, Path(description="The flag's key.", examples=["new-checkout"])]
SegmentKey = Annotated[str, Path(description="The segment's key.", examples=["beta-testers"])]
Context = Annotated[ServerContext, Depends(server_context)]

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such flag or segment."}
}
_INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": ValidationErrorBody, "description": "Invalid request; `loc` names the field."}
}
_WRITE: dict[int | str, dict[str, Any]] = {
    **_INVALID,
    409: {"model": ErrorBody, "description": "Conflicts with the current state."},
    412: {"model": ErrorBody, "description": "`If-Match` names another version."},
}
_FLAGS = "flags"
_SEGMENTS = "segments"


def _flag_out(response: Response, out: FlagOut) -> FlagOut:
    response.headers["ETag"] = etag(out.version)
    return out


def _segment_out(response: Response, out: SegmentOut) -> SegmentOut:
    response.headers["ETag"] = etag(out.version)
    return out


@router.get(
    "/environments", summary="List environments", tags=[_FLAGS], response_model=EnvironmentList
)
def list_environments(ctx: Context) -> EnvironmentList:
    """Environments that have ever had a flag or segment, by name."""
    return EnvironmentList(environments=ctx.service.list_environments())


# -- flags ---------------------------------------------------------------------------------------


@router.get(
    "/environments/{environment}/flags",
    summary="List flags",
    tags=[_FLAGS],
    response_model=FlagList,
    responses=_INVALID,
)
def list_flags(environment: EnvPath, ctx: Context) -> FlagList:
    """Every flag of the environment, by key."""
    return FlagList(
        environment=environment,
        config_version=ctx.service.config_version(environment),
        flags=[FlagOut.of(record) for record in ctx.service.list_flags(environment)],
    )


@router.get(
    "/environments/{environment}/flags/{key}",
    summary="Get a flag",
    tags=[_FLAGS],
    response_model=FlagOut,
    responses={**_NOT_FOUND, **_INVALID},
)
def get_flag(environment: EnvPath, key: FlagKey, response: Response, ctx: Context) -> FlagOut:
    """The flag's definition; the `ETag` header is its version, for `If-Match`."""
    return _flag_out(response, FlagOut.of(ctx.service.get_flag(environment, key)))


@router.put(
    "/environments/{environment}/flags/{key}",
    summary="Create or replace a flag",
    tags=[_FLAGS],
    response_model=FlagOut,
    responses=_WRITE,
)
def put_flag(
    *,
    environment: EnvPath,
    key: FlagKey,
    body: FlagDefinition,
    response: Response,
    ctx: Context,
    actor: ActorHeader = None,
    if_match: IfMatchHeader = None,
) -> FlagOut:
    """Validated (422 names the field), versioned, audited, and pushed to every SSE client.

    Putting the definition the flag already has changes nothing (same version)."""
    expected = expected_version(if_match, lambda: ctx.service.get_flag(environment, key).version)
    record = ctx.service.put_flag(
        environment, key, body.model_dump(mode="json"), actor_of(actor), expected
    )
    return _flag_out(response, FlagOut.of(record))


@router.delete(
    "/environments/{environment}/flags/{key}",
    summary="Delete a flag",
    tags=[_FLAGS],
    response_model=HistoryEntry,
    responses={**_NOT_FOUND, **_WRITE},
)
def delete_flag(
    *,
    environment: EnvPath,
    key: FlagKey,
    ctx: Context,
    actor: ActorHeader = None,
    if_match: IfMatchHeader = None,
) -> HistoryEntry:
    """Deletes the flag; returns the history entry of the delete. SDKs then serve defaults."""
    expected = expected_version(if_match, lambda: ctx.service.get_flag(environment, key).version)
    return HistoryEntry.of(ctx.service.delete_flag(environment, key, actor_of(actor), expected))


@router.post(
    "/environments/{environment}/flags/{key}/rollout",
    summary="Set a flag's rollout percentage",
    tags=[_FLAGS],
    response_model=FlagOut,
    responses={**_NOT_FOUND, **_WRITE},
)
def set_rollout(
    *,
    environment: EnvPath,
    key: FlagKey,
    body: RolloutRequest,
    response: Response,
    ctx: Context,
    actor: ActorHeader = None,
    if_match: IfMatchHeader = None,
) -> FlagOut:
    """The fallthrough serves `treatment` to `percent` % of subjects (monotone: raising the
    percentage keeps everyone who had the treatment)."""
    expected = expected_version(if_match, lambda: ctx.service.get_flag(environment, key).version)
    record = ctx.service.set_rollout(
        environment,
        key,
        body.percent,
        actor_of(actor),
        treatment=body.treatment,
        rest=body.rest,
        expected_version=expected,
    )
    return _flag_out(response, FlagOut.of(record))


def _switch(
    *,
    environment: str,
    key: str,
    on: bool,
    response: Response,
    ctx: ServerContext,
    actor: str | None,
    if_match: str | None,
) -> FlagOut:
    expected = expected_version(if_match, lambda: ctx.service.get_flag(environment, key).version)
    record = ctx.service.set_enabled(
        environment, key, on, actor_of(actor), expected_version=expected
    )
    return _flag_out(response, FlagOut.of(record))


@router.post(
    "/environments/{environment}/flags/{key}/kill",
    summary="Switch a flag off (kill switch)",
    tags=[_FLAGS],
    response_model=FlagOut,
    responses={**_NOT_FOUND, **_WRITE},
)
def kill_flag(
    *,
    environment: EnvPath,
    key: FlagKey,
    response: Response,
    ctx: Context,
    actor: ActorHeader = None,
    if_match: IfMatchHeader = None,
) -> FlagOut:
    """Everyone gets the flag's off variant (or their default) until it is revived."""
    return _switch(
        environment=environment,
        key=key,
        on=False,
        response=response,
        ctx=ctx,
        actor=actor,
        if_match=if_match,
    )


@router.post(
    "/environments/{environment}/flags/{key}/revive",
    summary="Switch a flag back on",
    tags=[_FLAGS],
    response_model=FlagOut,
    responses={**_NOT_FOUND, **_WRITE},
)
def revive_flag(
    *,
    environment: EnvPath,
    key: FlagKey,
    response: Response,
    ctx: Context,
    actor: ActorHeader = None,
    if_match: IfMatchHeader = None,
) -> FlagOut:
    """Rules and rollout apply again, exactly as before the kill."""
    return _switch(
        environment=environment,
        key=key,
        on=True,
        response=response,
        ctx=ctx,
        actor=actor,
        if_match=if_match,
    )


@router.get(
    "/environments/{environment}/flags/{key}/history",
    summary="A flag's history",
    tags=[_FLAGS],
    response_model=History,
    responses={**_NOT_FOUND, **_INVALID},
)
def flag_history(environment: EnvPath, key: FlagKey, ctx: Context) -> History:
    """Every version, oldest first: who, when, the definition, and a leaf-by-leaf diff."""
    versions = [HistoryEntry.of(c) for c in ctx.service.flag_history(environment, key)]
    return History(environment=environment, kind="flag", key=key, versions=versions)


# -- segments ------------------------------------------------------------------------------------


@router.get(
    "/environments/{environment}/segments",
    summary="List segments",
    tags=[_SEGMENTS],
    response_model=SegmentList,
    responses=_INVALID,
)
def list_segments(environment: EnvPath, ctx: Context) -> SegmentList:
    """Every segment of the environment, by key."""
    return SegmentList(
        environment=environment,
        config_version=ctx.service.config_version(environment),
        segments=[SegmentOut.of(record) for record in ctx.service.list_segments(environment)],
    )


@router.get(
    "/environments/{environment}/segments/{key}",
    summary="Get a segment",
    tags=[_SEGMENTS],
    response_model=SegmentOut,
    responses={**_NOT_FOUND, **_INVALID},
)
def get_segment(
    environment: EnvPath, key: SegmentKey, response: Response, ctx: Context
) -> SegmentOut:
    """The segment's definition; the `ETag` header is its version."""
    return _segment_out(response, SegmentOut.of(ctx.service.get_segment(environment, key)))


@router.put(
    "/environments/{environment}/segments/{key}",
    summary="Create or replace a segment",
    tags=[_SEGMENTS],
    response_model=SegmentOut,
    responses=_WRITE,
)
def put_segment(
    *,
    environment: EnvPath,
    key: SegmentKey,
    body: SegmentDefinition,
    response: Response,
    ctx: Context,
    actor: ActorHeader = None,
    if_match: IfMatchHeader = None,
) -> SegmentOut:
    """Validated, versioned, audited, and pushed to every SSE client."""
    expected = expected_version(if_match, lambda: ctx.service.get_segment(environment, key).version)
    record = ctx.service.put_segment(
        environment, key, body.model_dump(mode="json"), actor_of(actor), expected
    )
    return _segment_out(response, SegmentOut.of(record))


@router.delete(
    "/environments/{environment}/segments/{key}",
    summary="Delete a segment",
    tags=[_SEGMENTS],
    response_model=HistoryEntry,
    responses={**_NOT_FOUND, **_WRITE},
)
def delete_segment(
    *,
    environment: EnvPath,
    key: SegmentKey,
    ctx: Context,
    actor: ActorHeader = None,
    if_match: IfMatchHeader = None,
) -> HistoryEntry:
    """Deletes the segment; 409 while a flag of the environment still refers to it."""
    expected = expected_version(if_match, lambda: ctx.service.get_segment(environment, key).version)
    return HistoryEntry.of(ctx.service.delete_segment(environment, key, actor_of(actor), expected))


@router.get(
    "/environments/{environment}/segments/{key}/history",
    summary="A segment's history",
    tags=[_SEGMENTS],
    response_model=History,
    responses={**_NOT_FOUND, **_INVALID},
)
def segment_history(environment: EnvPath, key: SegmentKey, ctx: Context) -> History:
    """Every version, oldest first, with who, when and the diff."""
    versions = [HistoryEntry.of(c) for c in ctx.service.segment_history(environment, key)]
    return History(environment=environment, kind="segment", key=key, versions=versions)
