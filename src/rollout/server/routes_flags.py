"""Flag and segment routes: CRUD, ramp, kill switch, history. All writes go through
:class:`~rollout.server.flag_service.FlagService` (validated, versioned, audited, announced).

Flags and segments are read, written, deleted and audited alike, so one set of route functions
serves both kinds (:func:`_add_definition_routes`, once per row of the small
:class:`_KindRoutes` table); only flags ramp and have a kill switch.

Route functions are plain ``def``: FastAPI runs them in its thread pool, where the blocking
store calls belong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel

from rollout.server._headers import IfMatchHeader, etag, expected_version
from rollout.server.auth import AuditActor
from rollout.server.context import ServerContext, server_context
from rollout.server.flag_service import FLAGS, SEGMENTS, DefinitionKind
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

OutT = TypeVar("OutT", FlagOut, SegmentOut)
BodyT = TypeVar("BodyT", FlagDefinition, SegmentDefinition)
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


@dataclass(frozen=True)
class _KindRoutes(Generic[OutT, BodyT]):
    """How one definition kind appears in the API.

    ``plural`` is its path segment and OpenAPI tag; ``key`` the annotated type of its ``{key}``
    path parameter; ``body``, ``out`` and ``listing`` the models ``PUT`` takes, a single answer
    is and a listing is; ``after_delete`` what the delete route's description adds.
    """

    service: DefinitionKind[Any, Any]
    plural: str
    key: Any
    body: type[BodyT]
    out: type[OutT]
    listing: type[BaseModel]
    after_delete: str


_FLAG_ROUTES = _KindRoutes(
    FLAGS, "flags", FlagKey, FlagDefinition, FlagOut, FlagList,
    "SDKs then serve defaults.",
)  # fmt: skip
_SEGMENT_ROUTES = _KindRoutes(
    SEGMENTS, "segments", SegmentKey, SegmentDefinition, SegmentOut, SegmentList,
    "409 while a flag of the environment still refers to it.",
)  # fmt: skip


def _tagged(response: Response, out: OutT) -> OutT:
    """``out`` with its version as the response's ``ETag``, for a later ``If-Match``."""
    response.headers["ETag"] = etag(out.version)
    return out


def _expected(
    ctx: ServerContext,
    kind: DefinitionKind[Any, Any],
    environment: str,
    key: str,
    if_match: str | None,
) -> int | None:
    """The version an ``If-Match`` header pins the flag (segment) to (see
    :func:`~rollout.server._headers.expected_version`)."""
    return expected_version(
        if_match, lambda: ctx.service.get_definition(kind, environment, key).version
    )


def _typed(**types: object) -> Callable[[Endpoint], Endpoint]:
    """Sets the named parameters' annotations of a route function before it is registered.

    FastAPI reads a parameter's type, location and documentation from its annotation; the
    routes of both kinds share one function body, but not the types of ``key`` and ``body``.
    """

    def annotate(endpoint: Endpoint) -> Endpoint:
        endpoint.__annotations__.update(types)
        return endpoint

    return annotate


@router.get(
    "/environments", summary="List environments", tags=["flags"], response_model=EnvironmentList
)
def list_environments(ctx: Context) -> EnvironmentList:
    """Environments that have ever had a flag or segment, by name."""
    return EnvironmentList(environments=ctx.service.list_environments())


# -- either kind ---------------------------------------------------------------------------------


def _add_definition_routes(routes: _KindRoutes[OutT, BodyT]) -> None:
    """Registers list, get, put (create or replace), delete and history of one kind; the route
    names (so the OpenAPI operation ids) are ``list_flags``, ``get_flag``, ... as for a
    hand-written route per routes."""
    service, name, plural = routes.service, routes.service.name, routes.plural
    collection = f"/environments/{{environment}}/{plural}"
    item = f"{collection}/{{key}}"

    @router.get(
        collection,
        name=f"list_{plural}",
        summary=f"List {plural}",
        description=f"Every {name} of the environment, by key.",
        tags=[plural],
        response_model=routes.listing,
        responses=_INVALID,
    )
    def list_all(environment: EnvPath, ctx: Context) -> BaseModel:
        version = ctx.service.config_version(environment)
        records = ctx.service.list_definitions(service, environment)
        return routes.listing.model_validate(
            {
                "environment": environment,
                "config_version": version,
                plural: [routes.out.of(record) for record in records],
            }
        )

    @router.get(
        item,
        name=f"get_{name}",
        summary=f"Get a {name}",
        description=f"The {name}'s definition; the `ETag` header is its version, for `If-Match`.",
        tags=[plural],
        response_model=routes.out,
        responses={**_NOT_FOUND, **_INVALID},
    )
    @_typed(key=routes.key)
    def get_one(environment: EnvPath, key: str, response: Response, ctx: Context) -> OutT:
        record = ctx.service.get_definition(service, environment, key)
        return _tagged(response, routes.out.of(record))

    @router.put(
        item,
        name=f"put_{name}",
        summary=f"Create or replace a {name}",
        description="Validated (422 names the field), versioned, audited, and pushed to every "
        f"SSE client.\n\nPutting the definition the {name} already has changes nothing (same "
        "version).",
        tags=[plural],
        response_model=routes.out,
        responses=_WRITE,
    )
    @_typed(key=routes.key, body=routes.body)
    def put(
        *,
        environment: EnvPath,
        key: str,
        body: BodyT,
        response: Response,
        ctx: Context,
        actor: AuditActor,
        if_match: IfMatchHeader = None,
    ) -> OutT:
        expected = _expected(ctx, service, environment, key, if_match)
        record = ctx.service.put_definition(
            service,
            environment,
            key,
            body.model_dump(mode="json"),
            actor=actor,
            expected_version=expected,
        )
        return _tagged(response, routes.out.of(record))

    @router.delete(
        item,
        name=f"delete_{name}",
        summary=f"Delete a {name}",
        description=f"Deletes the {name}; returns the history entry of the delete. "
        + routes.after_delete,
        tags=[plural],
        response_model=HistoryEntry,
        responses={**_NOT_FOUND, **_WRITE},
    )
    @_typed(key=routes.key)
    def delete(
        *,
        environment: EnvPath,
        key: str,
        ctx: Context,
        actor: AuditActor,
        if_match: IfMatchHeader = None,
    ) -> HistoryEntry:
        expected = _expected(ctx, service, environment, key, if_match)
        change = ctx.service.delete_definition(
            service, environment, key, actor=actor, expected_version=expected
        )
        return HistoryEntry.of(change)

    @router.get(
        f"{item}/history",
        name=f"{name}_history",
        summary=f"A {name}'s history",
        description="Every version, oldest first: who, when, the definition, and a leaf-by-leaf "
        "diff.",
        tags=[plural],
        response_model=History,
        responses={**_NOT_FOUND, **_INVALID},
    )
    @_typed(key=routes.key)
    def history(environment: EnvPath, key: str, ctx: Context) -> History:
        changes = ctx.service.definition_history(service, environment, key)
        versions = [HistoryEntry.of(change) for change in changes]
        return History(environment=environment, kind=name, key=key, versions=versions)


# -- flags: the routes of either kind, a rollout percentage and a kill switch --------------------

_add_definition_routes(_FLAG_ROUTES)


@router.post(
    "/environments/{environment}/flags/{key}/rollout",
    summary="Set a flag's rollout percentage",
    tags=["flags"],
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
    actor: AuditActor,
    if_match: IfMatchHeader = None,
) -> FlagOut:
    """The fallthrough serves `treatment` to `percent` % of subjects (monotone: raising the
    percentage keeps everyone who had the treatment)."""
    record = ctx.service.set_rollout(
        environment,
        key,
        body.percent,
        actor,
        treatment=body.treatment,
        rest=body.rest,
        expected_version=_expected(ctx, FLAGS, environment, key, if_match),
    )
    return _tagged(response, FlagOut.of(record))


def _add_switch_route(verb: str, on: bool, summary: str, description: str) -> None:
    """Registers ``POST .../flags/{key}/{verb}``, which switches the flag ``on`` or off."""

    @router.post(
        f"/environments/{{environment}}/flags/{{key}}/{verb}",
        name=f"{verb}_flag",
        summary=summary,
        description=description,
        tags=["flags"],
        response_model=FlagOut,
        responses={**_NOT_FOUND, **_WRITE},
    )
    def switch(
        *,
        environment: EnvPath,
        key: FlagKey,
        response: Response,
        ctx: Context,
        actor: AuditActor,
        if_match: IfMatchHeader = None,
    ) -> FlagOut:
        expected = _expected(ctx, FLAGS, environment, key, if_match)
        record = ctx.service.set_enabled(environment, key, on, actor, expected_version=expected)
        return _tagged(response, FlagOut.of(record))


_add_switch_route(
    "kill",
    on=False,
    summary="Switch a flag off (kill switch)",
    description="Everyone gets the flag's off variant (or their default) until it is revived.",
)
_add_switch_route(
    "revive",
    on=True,
    summary="Switch a flag back on",
    description="Rules and rollout apply again, exactly as before the kill.",
)


# -- segments: the routes of either kind ---------------------------------------------------------

_add_definition_routes(_SEGMENT_ROUTES)
