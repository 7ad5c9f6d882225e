"""Rollout routes: start, list, status, operator verbs, approvals, history, the rendered document
and a live stream of audit events. Everything goes through the engine's service calls
(:mod:`rollout.engine.controller`), exactly as ``rollout`` on the command line does; the
controller carries out what is asked on its next tick.

=======================================================  ===========================  =========
``POST /api/v1/rollouts``                                start (plan YAML + version)   deployer
``GET  /api/v1/rollouts?status=``                        list, newest first            reader
``GET  /api/v1/rollouts/{id}``                           status view                   reader
``POST /api/v1/rollouts/{id}/pause|resume|promote|...``  operator verbs (queued)       deployer
``POST /api/v1/rollouts/{id}/approve|reject``            decide an environment         approver
``POST /api/v1/rollouts/{id}/gates/{n}/sign-off``        sign off a manual gate        approver
``GET  /api/v1/rollouts/{id}/history``                   audit trail + chain check     reader
``GET  /api/v1/rollouts/{id}/document``                  rendered Markdown             reader
``GET  /api/v1/rollouts/{id}/events``                    SSE of new audit events       reader
=======================================================  ===========================  =========

Errors: 404 unknown rollout, 409 a verb that does not apply now (the engine's reason), 422 an
invalid request or plan (a plan's problems as ``{line, column, path, message}``), 401/403 see
:mod:`rollout.server.auth`. The actor of every change is the caller's token name.

Secrets: a plan names them as ``${VAR}`` and keeps them so; as a second line of defence every
answer about a rollout has the values of the variables its plan names (as set in the server's
environment) masked, should an outside system have echoed one into a check's output.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Depends, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel

from rollout.engine.controller import (
    rollout_progress,
    rollout_status,
    send_verb,
    sign_off,
    start_rollout,
)
from rollout.engine.runner import load_stored
from rollout.engine.state import Status
from rollout.errors import EngineError, PlanError, StoreError
from rollout.plan.render import render_document
from rollout.providers.secrets import Scrubber, scrubber_for
from rollout.server._api_roles import APPROVE, DEPLOY, READ
from rollout.server._api_schemas import (
    ChainOut,
    DecisionOut,
    DecisionRequest,
    EventOut,
    HistoryOut,
    PlanProblemsBody,
    QueuedVerb,
    RolloutList,
    RolloutStatusOut,
    SignOffRequest,
    StartRequest,
    VerbAccepted,
    VerbRequest,
)
from rollout.server._headers import parse_version_tag
from rollout.server.auth import AUTH_RESPONSES, Principal, require_role
from rollout.server.context import ServerContext, server_context
from rollout.server.schemas import ErrorBody, ValidationErrorBody
from rollout.store import ApprovalRecord, EventRecord, RolloutRecord, RolloutStatus, Store

log = logging.getLogger(__name__)

PREFIX = "/api/v1/rollouts"
DEFAULT_EVENTS_POLL_SECONDS = 1.0
EVENTS_BATCH = 500

router = APIRouter(prefix=PREFIX, tags=["rollouts"], responses=AUTH_RESPONSES)

Context = Annotated[ServerContext, Depends(server_context)]
Reader = Annotated[Principal, Depends(require_role(*READ))]
Deployer = Annotated[Principal, Depends(require_role(*DEPLOY))]
Approver = Annotated[Principal, Depends(require_role(*APPROVE))]
RolloutId = Annotated[
    str, Path(max_length=100, description="The rollout's id.", examples=["ro_7k2m9x"])
]

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such rollout."},
    422: {"model": ValidationErrorBody, "description": "Invalid request; `loc` names the field."},
}
_VERB: dict[int | str, dict[str, Any]] = {
    **_NOT_FOUND,
    409: {"model": ErrorBody, "description": "It does not apply now; `detail` says why."},
}

M = TypeVar("M", bound=BaseModel)


@dataclass
class ApiSettings:
    """``events_poll_seconds``: how often the events stream looks for new audit events;
    ``clock``: seconds since the epoch, for the time left in status views (a test replaying a
    rollout on a fake clock gives the controller's clock here too)."""

    events_poll_seconds: float = DEFAULT_EVENTS_POLL_SECONDS
    clock: Callable[[], float] = time.time


def install_rollouts_api(
    app: FastAPI, *, events_poll_seconds: float = DEFAULT_EVENTS_POLL_SECONDS
) -> ApiSettings:
    """Mount the routes on ``app`` and answer :class:`PlanError` with 422 and
    :class:`EngineError` with 409; the settings are ``app.state.rollouts_api``.
    :func:`~rollout.server.app.create_app` calls it."""
    settings = ApiSettings(events_poll_seconds)
    app.state.rollouts_api = settings
    app.include_router(router)

    async def plan_invalid(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, PlanError)
        return JSONResponse(PlanProblemsBody.of(exc).model_dump(), status_code=422)

    async def not_applicable(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    app.add_exception_handler(PlanError, plan_invalid)
    app.add_exception_handler(EngineError, not_applicable)
    return settings


def _settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.rollouts_api
    return settings


Settings = Annotated[ApiSettings, Depends(_settings)]


# --------------------------------------------------------------------------- secrets


def _scrubber(record: RolloutRecord) -> Scrubber:
    """Masks the values, as set here, of the ``${VAR}`` references of the rollout's plan."""
    return scrubber_for(record.plan_yaml)


def _scrubbed(model: M, scrub: Scrubber) -> M:
    if not scrub.values:
        return model
    return type(model).model_validate(scrub.data(model.model_dump(mode="json")))


def _status_out(
    store: Store, record: RolloutRecord, now: float, events: int = 8
) -> RolloutStatusOut:
    view = rollout_status(store, record.id, now=now, events=events)
    return _scrubbed(RolloutStatusOut.of(view), _scrubber(record))


# --------------------------------------------------------------------------- start, list, status


@router.post(
    "",
    summary="Start a rollout",
    status_code=201,
    response_model=RolloutStatusOut,
    responses={
        409: {"model": ErrorBody, "description": "Another rollout of the plan is running."},
        422: {"model": PlanProblemsBody, "description": "The plan has problems (all listed)."},
    },
)
def start(
    body: StartRequest,
    principal: Deployer,
    ctx: Context,
    settings: Settings,
    response: Response,
) -> RolloutStatusOut:
    """Validates the plan and creates a rollout of it, started by the caller; a controller
    runs it. The answer is the new rollout's status, with `Location` naming it."""
    record = start_rollout(ctx.store, body.plan, body.version, principal.name)
    response.headers["Location"] = f"{PREFIX}/{record.id}"
    return _status_out(ctx.store, record, settings.clock())


@router.get("", summary="List rollouts", response_model=RolloutList, responses=_NOT_FOUND)
def list_rollouts(
    _principal: Reader,
    ctx: Context,
    settings: Settings,
    status: Annotated[RolloutStatus | None, Query(description="Only rollouts in it.")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many.")] = 50,
) -> RolloutList:
    """Rollouts, newest first, each with its status view (without events)."""
    records = ctx.store.list_rollouts(status, limit=limit)
    now = settings.clock()
    return RolloutList(rollouts=[_status_out(ctx.store, r, now, events=0) for r in records])


@router.get(
    "/{rollout_id}",
    summary="A rollout's status",
    response_model=RolloutStatusOut,
    responses=_NOT_FOUND,
)
def get_rollout(
    rollout_id: RolloutId,
    _principal: Reader,
    ctx: Context,
    settings: Settings,
    events: Annotated[int, Query(ge=0, le=200, description="Last audit events to include.")] = 8,
) -> RolloutStatusOut:
    """Environment, stage, audience, each criterion's value, verdict and reason, time left,
    and the last audit events."""
    return _status_out(ctx.store, ctx.store.get_rollout(rollout_id), settings.clock(), events)


# --------------------------------------------------------------------------- verbs

_VERB_HELP = {
    QueuedVerb.PAUSE: ("Pause a rollout", "The bake clock stops and nothing moves until resume."),
    QueuedVerb.RESUME: ("Resume a rollout", "Carries on where it was paused."),
    QueuedVerb.PROMOTE: (
        "Promote a rollout",
        "Ends the current stage's (or validation's) bake early, unless it fails.",
    ),
    QueuedVerb.ABORT: ("Abort a rollout", "Rolls back now: the plan's rollback steps, in order."),
    QueuedVerb.RETRY: ("Retry what failed", "Runs again the gate, deploy or check that failed."),
}

OptionalVerbBody = Annotated[VerbRequest | None, Body()]


def _add_verb_route(verb: QueuedVerb) -> None:
    summary, description = _VERB_HELP[verb]

    @router.post(
        f"/{{rollout_id}}/{verb.value}",
        name=f"{verb.value}_rollout",
        summary=summary,
        description=description + " Queued for the controller's next tick (202).",
        status_code=202,
        response_model=VerbAccepted,
        responses=_VERB,
    )
    def give(
        rollout_id: RolloutId,
        principal: Deployer,
        ctx: Context,
        body: OptionalVerbBody = None,
    ) -> VerbAccepted:
        comment = body.comment if body is not None else ""
        event = send_verb(ctx.store, rollout_id, verb.value, principal.name, comment)
        assert isinstance(event, EventRecord)  # queued verbs are audit events
        answer = VerbAccepted(
            rollout_id=rollout_id, verb=verb.value, actor=principal.name, event=EventOut.of(event)
        )
        return _scrubbed(answer, _scrubber(ctx.store.get_rollout(rollout_id)))


for _verb in QueuedVerb:
    _add_verb_route(_verb)


def _check_decider(store: Store, rollout_id: str, who: str, env: str | None, approve: bool) -> None:
    """Refuse (403) a decision the engine would not count, so the caller learns it now rather
    than from an "ignored" line in the audit trail. The rule is the engine's
    (:func:`rollout.engine._environments.record_votes`): the person who started the rollout
    may reject but not approve, unless the environment allows self-approval; only the listed
    approvers decide when the plan lists them. Anything else wrong is for ``send_verb`` to say."""
    stored = load_stored(store.get_rollout(rollout_id))
    plan, state = stored.plan, stored.engine
    if env is None and state is not None and state.status is Status.AWAITING_APPROVAL:
        env = plan.environments[state.env_index].name
    named = [e for e in plan.environments if e.name == env]
    if not named or not named[0].approval.required:
        return
    approval = named[0].approval
    starter = who == stored.record.created_by
    if approve and starter and not approval.allow_self_approval:
        raise HTTPException(
            403,
            f"{who} started rollout {rollout_id}, and {env} does not allow self-approval: "
            "someone else must approve it",
        )
    listed = not approval.approvers or who in approval.approvers
    if not listed and not (starter and not approve):
        raise HTTPException(403, f"only {', '.join(approval.approvers)} may decide on {env}")


OptionalDecision = Annotated[DecisionRequest | None, Body()]


def _add_decision_route(approve: bool) -> None:
    word = "approve" if approve else "reject"

    @router.post(
        f"/{{rollout_id}}/{word}",
        name=f"{word}_rollout",
        summary="Approve an environment" if approve else "Reject an environment",
        description=(
            "Counts towards the environment's approvals on the controller's next tick. "
            if approve
            else "Stops the rollout on the controller's next tick. "
        )
        + "The environment defaults to the one the rollout waits for. 403 when the caller "
        "started the rollout and the environment does not allow self-approval, or is not "
        "one of its listed approvers.",
        status_code=202,
        response_model=DecisionOut,
        responses=_VERB,
    )
    def decide(
        rollout_id: RolloutId,
        principal: Approver,
        ctx: Context,
        body: OptionalDecision = None,
    ) -> DecisionOut:
        asked = body or DecisionRequest()
        _check_decider(ctx.store, rollout_id, principal.name, asked.environment, approve)
        record = send_verb(
            ctx.store, rollout_id, word, principal.name, asked.comment, asked.environment
        )
        assert isinstance(record, ApprovalRecord)
        return _scrubbed(DecisionOut.of(record), _scrubber(ctx.store.get_rollout(rollout_id)))


_add_decision_route(approve=True)
_add_decision_route(approve=False)


@router.post(
    "/{rollout_id}/gates/{gate}/sign-off",
    summary="Sign off a manual checklist gate",
    status_code=202,
    response_model=VerbAccepted,
    responses=_VERB,
)
def sign_off_gate(
    rollout_id: RolloutId,
    gate: Annotated[int, Path(ge=1, le=10_000, description="The gate's number, from 1.")],
    body: SignOffRequest,
    principal: Approver,
    ctx: Context,
) -> VerbAccepted:
    """Signs off (or refuses, `approve: false`) manual gate number `gate` as someone holding
    `roles`; 409 when the gate is not a manual one or needs another role or person."""
    roles = tuple(role.strip() for role in body.roles if role.strip())
    event = sign_off(
        ctx.store,
        rollout_id,
        gate,
        principal.name,
        roles,
        approve=body.approve,
        comment=body.comment,
    )
    answer = VerbAccepted(
        rollout_id=rollout_id, verb="sign_off", actor=principal.name, event=EventOut.of(event)
    )
    return _scrubbed(answer, _scrubber(ctx.store.get_rollout(rollout_id)))


# --------------------------------------------------------------------------- history, document


@router.get(
    "/{rollout_id}/history",
    summary="A rollout's audit trail",
    response_model=HistoryOut,
    responses=_NOT_FOUND,
)
def history(rollout_id: RolloutId, _principal: Reader, ctx: Context) -> HistoryOut:
    """Every event, oldest first, and the re-check of the rollout's hash chain."""
    record = ctx.store.get_rollout(rollout_id)
    events = ctx.store.list_events(rollout_id)
    report = ctx.store.verify_chain(rollout_id)
    answer = HistoryOut(
        rollout_id=rollout_id,
        chain=ChainOut.of(report),
        events=[EventOut.of(event) for event in events],
    )
    return _scrubbed(answer, _scrubber(record))


@router.get(
    "/{rollout_id}/document",
    summary="The rollout document (Markdown)",
    response_class=Response,
    responses={
        200: {"content": {"text/markdown": {"schema": {"type": "string"}}}},
        **_NOT_FOUND,
    },
)
def document(rollout_id: RolloutId, _principal: Reader, ctx: Context) -> Response:
    """The plan in the rollout-plan template's shape, with how far the rollout got: gates and
    checks ticked when passed, each stage's outcome, each environment's status."""
    record = ctx.store.get_rollout(rollout_id)
    text = render_document(load_stored(record).plan, rollout_progress(ctx.store, rollout_id))
    return Response(_scrubber(record)(text), media_type="text/markdown; charset=utf-8")


# --------------------------------------------------------------------------- events (SSE)


def _frame(event: EventRecord, scrub: Scrubber) -> str:
    data = _scrubbed(EventOut.of(event), scrub).model_dump_json()
    return f"id: {event.seq}\ndata: {data}\n\n"


@router.get(
    "/{rollout_id}/events",
    summary="Stream a rollout's new audit events (SSE)",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "One message per audit event (id = its seq, data = the event JSON), "
            "and `: keep-alive` comments while idle.",
        },
        **_NOT_FOUND,
    },
)
async def stream_events(
    rollout_id: RolloutId,
    request: Request,
    _principal: Reader,
    after: Annotated[
        int | None, Query(ge=0, description="Start after this seq (default: the newest).")
    ] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """Events appended after `after` (or after `Last-Event-ID`, for a reconnecting client;
    by default after the newest one now), as they are appended."""
    ctx: ServerContext = request.app.state.rollout
    record = await asyncio.to_thread(ctx.store.get_rollout, rollout_id)
    start = parse_version_tag(last_event_id)
    if start is None:
        start = after
    if start is None:
        existing = await asyncio.to_thread(ctx.store.list_events, rollout_id)
        start = existing[-1].seq if existing else 0
    settings = _settings(request)
    events = _events(ctx, rollout_id, start, _scrubber(record), settings.events_poll_seconds)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events, media_type="text/event-stream", headers=headers)


async def _events(
    ctx: ServerContext, rollout_id: str, after: int, scrub: Scrubber, poll: float
) -> AsyncIterator[str]:
    yield f"retry: {ctx.retry_ms}\n\n"
    idle = 0.0
    while not ctx.broadcaster.closed:  # the server is stopping: end the stream
        try:
            fresh = await asyncio.to_thread(ctx.store.list_events, rollout_id, after, EVENTS_BATCH)
        except StoreError as exc:
            log.warning("events of %s: %s", rollout_id, exc)
            return
        for event in fresh:
            yield _frame(event, scrub)
            after = event.seq
        if len(fresh) == EVENTS_BATCH:
            continue
        if fresh:
            idle = 0.0
        elif idle >= ctx.keepalive_seconds:
            yield ": keep-alive\n\n"
            idle = 0.0
        await asyncio.sleep(poll)
        idle += poll
