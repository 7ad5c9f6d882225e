"""The FastAPI application: ``create_app(store) -> FastAPI``.

Routes (all JSON under ``/api/v1``; OpenAPI at ``/openapi.json``, docs at ``/docs``):

* SDKs: ``GET /environments/{env}/config`` (ETag / 304), ``GET /environments/{env}/stream``
  (SSE), ``POST /telemetry``;
* flags and segments: list, get, put (``If-Match``), delete, history; a flag's ``rollout``,
  ``kill`` and ``revive``;
* ``GET /healthz`` and ``GET /metrics`` (Prometheus).

Errors: 404 no such flag or segment, 409 a conflict with the current state (a segment still in
use), 412 an ``If-Match`` naming another version, 422 an invalid request with ``loc`` naming the
field (``["body", "rules", 0, "serve", "variant"]``), 503 the database is unavailable.

Who made a change is the ``X-Rollout-Actor`` header (``anonymous`` without it), recorded in the
flag's history and the audit trail.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from rollout import __version__
from rollout.errors import Conflict, FlagError, NotFound, StoreError
from rollout.server import routes_config, routes_flags, routes_telemetry
from rollout.server.broadcast import Broadcaster
from rollout.server.context import Hook, ServerContext, ServerMetrics
from rollout.server.feeds import ChangeFeed, InProcessFeed
from rollout.server.flag_service import FlagService
from rollout.server.problems import (
    FieldProblem,
    PreconditionFailed,
    problem_json,
    problems_from_items,
    problems_of,
)
from rollout.server.relay import DEFAULT_POLL_SECONDS, ConfigRelay
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
) -> FastAPI:
    """The flag service over ``store``.

    ``feed`` carries changes between replicas: default :class:`InProcessFeed` (one process);
    pass ``make_feed(database_url)`` for PostgreSQL LISTEN/NOTIFY or Redis (``rollout server``
    does). ``keepalive_seconds``: idle time before an SSE keep-alive comment. ``poll_seconds``:
    how often each environment with SSE clients is checked for versions no notification
    announced (0: never). ``retry_ms``: the reconnect delay SSE clients are told.
    ``on_startup`` / ``on_shutdown``: async hooks of other parts of the process (also
    appendable later on ``app.state.rollout``; see :mod:`rollout.server.context`).

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
            {"name": "service", "description": "Health and metrics."},
        ],
    )
    app.state.rollout = context
    app.include_router(routes_config.router)
    app.include_router(routes_telemetry.router)
    app.include_router(routes_flags.router)
    _add_service_routes(app)
    _add_error_handlers(app)
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
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    )
    def metrics(request: Request) -> Response:
        """Telemetry rows and batches accepted, SSE clients connected and dropped, config
        versions broadcast."""
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
