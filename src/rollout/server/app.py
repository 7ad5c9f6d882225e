"""The FastAPI application: ``create_app(store) -> FastAPI``.

Routes (all JSON under ``/api/v1``; OpenAPI at ``/openapi.json``, docs at ``/docs``):

* SDKs: ``GET /environments/{env}/config`` (ETag / 304), ``GET /environments/{env}/stream``
  (SSE), ``POST /telemetry``;
* flags and segments: list, get, put (``If-Match``), delete, history; a flag's ``rollout``,
  ``kill`` and ``revive``;
* rollouts: start, list, status, verbs, approvals, history, document, events
  (:mod:`rollout.server.rollouts_api`);
* ``GET /healthz`` and ``GET /metrics`` (Prometheus).

With ``auth=True`` every route but ``/healthz`` needs an API token with a role that allows it
(:mod:`rollout.server.auth`: 401 without a valid token, 403 for a role without the access), and
the token's name is the actor of every change.

Errors: 404 no such flag or segment, 409 a conflict with the current state (a segment still in
use), 412 an ``If-Match`` naming another version, 422 an invalid request with ``loc`` naming the
field (``["body", "rules", 0, "serve", "variant"]``), 503 the database is unavailable.

Who made a change is the token's name; without authentication, the ``X-Rollout-Actor`` header
(``anonymous`` without it). It is recorded in the flag's history and the audit trail.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from rollout import __version__
from rollout.errors import Conflict, FlagError, NotFound, StoreError
from rollout.server import dashboard, routes_config, routes_flags, routes_telemetry
from rollout.server._api_roles import DEPLOY, METRICS, READ, SDK_READ, TELEMETRY
from rollout.server.auth import AUTH_RESPONSES, install_auth, require_by_method, require_role
from rollout.server.broadcast import Broadcaster
from rollout.server.context import Hook, ServerContext, ServerMetrics
from rollout.server.feeds import ChangeFeed, InProcessFeed
from rollout.server.flag_service import FlagService
from rollout.server.metrics_endpoint import install_rollout_metrics
from rollout.server.problems import (
    FieldProblem,
    PreconditionFailed,
    problem_json,
    problems_from_items,
    problems_of,
)
from rollout.server.relay import DEFAULT_POLL_SECONDS, ConfigRelay
from rollout.server.rollouts_api import install_rollouts_api
from rollout.server.schemas import Health
from rollout.store import Store

log = logging.getLogger(__name__)

DEFAULT_KEEPALIVE_SECONDS = 15.0
DEFAULT_RETRY_MS = 1000


def create_app(
    store: Store,
    *,
    broadcaster: Broadcaster | None = None,
    feed: ChangeFeed | None = None,
    keepalive_seconds: float = DEFAULT_KEEPALIVE_SECONDS,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    retry_ms: int = DEFAULT_RETRY_MS,
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    auth: bool = True,
) -> FastAPI:
    """The flag service over ``store``.

    ``feed`` carries changes between replicas: default :class:`InProcessFeed` (one process);
    pass ``make_feed(database_url)`` for PostgreSQL LISTEN/NOTIFY or Redis (``rollout server``
    does). ``keepalive_seconds``: idle time before an SSE keep-alive comment. ``poll_seconds``:
    how often each environment with SSE clients is checked for versions no notification
    announced (0: never). ``retry_ms``: the reconnect delay SSE clients are told.
    ``on_startup`` / ``on_shutdown``: async hooks of other parts of the process (also
    appendable later on ``app.state.rollout``; see :mod:`rollout.server.context`).
    ``auth``: require API tokens (:mod:`rollout.server.auth`), as ``rollout server`` does unless
    told ``--no-auth``. It is on by default so that an app made here is never open by
    accident; one made for a single trusted caller (a test, a benchmark, the demo) says
    ``auth=False``.

    The fan-out starts and stops with the app's lifespan: run the app under a server that
    runs lifespans (uvicorn, ``rollout.server.run``), or enter ``TestClient(app)`` as a
    context manager.
    """
    broadcaster = broadcaster or Broadcaster()
    service = FlagService(store)
    relay = ConfigRelay(service, broadcaster, feed or InProcessFeed(), poll_seconds=poll_seconds)
    context = ServerContext(
        store=store,
        service=service,
        broadcaster=broadcaster,
        relay=relay,
        metrics=ServerMetrics(broadcaster, relay),
        keepalive_seconds=keepalive_seconds,
        retry_ms=retry_ms,
        on_startup=list(on_startup),
        on_shutdown=list(on_shutdown),
    )
    app = FastAPI(
        title="Rollout",
        version=__version__,
        summary="Feature flags with SSE streaming, outcome telemetry and an audited history.",
        lifespan=_lifespan,
        openapi_tags=[
            {"name": "sdk", "description": "What SDKs call: config, stream, telemetry."},
            {"name": "flags", "description": "Feature flags: define, ramp, kill, audit."},
            {"name": "segments", "description": "Reusable sets of subjects flags target."},
            {"name": "rollouts", "description": "Rollouts: start, watch, steer, approve, audit."},
            {"name": "service", "description": "Health and metrics."},
        ],
    )
    app.state.rollout = context
    install_auth(app, store, enabled=auth)
    app.include_router(
        routes_config.router,
        dependencies=[Depends(require_role(*SDK_READ))],
        responses=AUTH_RESPONSES,
    )
    app.include_router(
        routes_telemetry.router,
        dependencies=[Depends(require_role(*TELEMETRY))],
        responses=AUTH_RESPONSES,
    )
    app.include_router(
        routes_flags.router,
        dependencies=[Depends(require_by_method(read=READ, write=DEPLOY))],
        responses=AUTH_RESPONSES,
    )
    install_rollouts_api(app)
    install_rollout_metrics(context)
    _add_service_routes(app)
    _add_error_handlers(app)
    dashboard.install(app)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    context: ServerContext = app.state.rollout
    await context.relay.start()
    try:
        for hook in list(context.on_startup):
            await hook()
        yield
    finally:
        for hook in reversed(context.on_shutdown):
            try:
                await hook()
            except Exception:
                log.exception("a shutdown hook failed")
        context.broadcaster.close()
        await context.relay.stop()


def _add_service_routes(app: FastAPI) -> None:
    @app.get("/healthz", summary="Liveness", tags=["service"], response_model=Health)
    def healthz() -> Health:
        """200 while the process serves requests."""
        return Health()

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        tags=["service"],
        response_class=Response,
        responses={
            200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
            **AUTH_RESPONSES,
        },
        dependencies=[Depends(require_role(*METRICS))],
    )
    def metrics(request: Request) -> Response:
        """Telemetry rows and batches accepted, SSE clients connected and dropped, config
        versions broadcast; rollouts by status, transitions, rollbacks, decisions and flag
        config versions (:mod:`rollout.server.metrics_endpoint`)."""
        context: ServerContext = request.app.state.rollout
        return Response(generate_latest(context.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _problems_response(problems: Sequence[FieldProblem]) -> JSONResponse:
    return JSONResponse({"detail": [problem_json(p) for p in problems]}, status_code=422)


def _detail(status: int, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=status)


def _add_error_handlers(app: FastAPI) -> None:
    async def request_invalid(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _problems_response(problems_from_items(exc.errors()))

    async def flag_invalid(_request: Request, exc: Exception) -> JSONResponse:
        # Raised for the request body: by the body's own model while FastAPI parses it, or by
        # the write path's cross-checks (segments, variants, percent).
        assert isinstance(exc, FlagError)
        return _problems_response([p.within("body") for p in problems_of(exc)])

    async def not_found(_request: Request, exc: Exception) -> JSONResponse:
        return _detail(404, exc)

    async def precondition_failed(_request: Request, exc: Exception) -> JSONResponse:
        return _detail(412, exc)

    async def conflict(_request: Request, exc: Exception) -> JSONResponse:
        return _detail(409, exc)

    async def store_failed(_request: Request, exc: Exception) -> JSONResponse:
        log.error("store error: %s", exc)
        return _detail(503, exc)

    app.add_exception_handler(RequestValidationError, request_invalid)
    app.add_exception_handler(FlagError, flag_invalid)
    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(PreconditionFailed, precondition_failed)
    app.add_exception_handler(Conflict, conflict)
    app.add_exception_handler(StoreError, store_failed)
