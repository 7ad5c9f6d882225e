"""The dashboard: server-rendered pages over the same store, tokens and write paths as the API.

==============================  =================================================================
``/``                           rollouts, newest first: status, where, audience, last reason
``/rollouts/{id}``              one rollout: timeline, audience, time left, criteria with charts,
                                the evidence that ended the last stage, reasons, events, and
                                the verbs that apply now
``/rollouts/{id}/document``     the rollout document (and ``document.md`` to download it)
``/flags``                      flags per environment: kill switch and rollout %
``/login``, ``/logout``         the token cookie (only with authentication on)
``/live``, ``.../live``         server-sent events that keep each page current
==============================  =================================================================

Every page works without JavaScript (forms post and redirect); the small script only keeps
pages live, counts time down and asks before an abort. Nothing here is in the OpenAPI document:
the pages are for people, the API is for programs.

``install(app)`` adds it all to an app made by :func:`rollout.server.create_app`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from rollout.server.dashboard import live, routes_flags, routes_rollouts, routes_session
from rollout.server.dashboard.site import (
    DEFAULT_KEEPALIVE_SECONDS,
    DEFAULT_POLL_SECONDS,
    STATIC_PATH,
    Dashboard,
)

__all__ = ["Dashboard", "install"]


def install(
    app: FastAPI,
    *,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    keepalive_seconds: float = DEFAULT_KEEPALIVE_SECONDS,
    clock: Callable[[], float] = time.time,
) -> Dashboard:
    """Serve the dashboard from ``app`` (``app.state.rollout`` must be set, as ``create_app``
    does). ``poll_seconds``: how often a live page looks for changes; ``keepalive_seconds``:
    idle time before a live stream sends a keep-alive comment; ``clock``: seconds since the
    epoch (inject the controller's clock to replay a rollout)."""
    board = Dashboard(poll_seconds, keepalive_seconds, clock)
    app.state.dashboard = board
    app.include_router(live.router)
    app.include_router(routes_rollouts.router)
    app.include_router(routes_flags.router)
    app.include_router(routes_session.router)
    static = StaticFiles(directory=Path(__file__).parent / "static")
    app.mount(STATIC_PATH, static, name="dashboard-static")
    return board
