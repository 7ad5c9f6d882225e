"""What the dashboard keeps per app (templates, its timings), and the shared
answers every page gives: an HTML page, an error page, a redirect to sign in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment

from rollout.server.context import ServerContext
from rollout.server.dashboard.access import NotSignedIn, Viewer, viewer_of
from rollout.server.dashboard.templating import make_environment

STATIC_PATH = "/static/dashboard"
DEFAULT_POLL_SECONDS = 1.0
DEFAULT_KEEPALIVE_SECONDS = 15.0
NO_STORE = {"Cache-Control": "no-store"}
"""Pages show live state and who is signed in: never cached."""


@dataclass
class Dashboard:
    """The dashboard of one app (``app.state.dashboard``).

    ``poll_seconds``: how often a live page checks the store for a change of what it shows;
    ``keepalive_seconds``: idle time before a live stream sends a keep-alive comment;
    ``clock``: seconds since the epoch, for the time left (the controller's clock, in a replay).
    """

    poll_seconds: float = DEFAULT_POLL_SECONDS
    keepalive_seconds: float = DEFAULT_KEEPALIVE_SECONDS
    clock: Callable[[], float] = time.time
    templates: Environment = field(default_factory=make_environment)

    def render(self, template: str, viewer: Viewer | None, **values: Any) -> str:
        """The ``template`` filled with ``values`` and what every page shows."""
        found = self.templates.get_template(template)
        return found.render({"section": "", **values}, viewer=viewer, static=STATIC_PATH)

    def page(
        self, template: str, viewer: Viewer | None, *, status: int = 200, **values: Any
    ) -> HTMLResponse:
        """An HTML response of the ``template``."""
        return HTMLResponse(
            self.render(template, viewer, **values), status_code=status, headers=NO_STORE
        )

    def error(
        self,
        viewer: Viewer | None,
        status: int,
        heading: str,
        message: str,
        *,
        back: str = "/",
        section: str = "",
    ) -> HTMLResponse:
        """An error page: what went wrong in words, and a way back."""
        return self.page(
            "error.html",
            viewer,
            status=status,
            heading=heading,
            message=message,
            back=back,
            section=section,
        )


def dashboard_of(request: Request) -> Dashboard:
    found: Dashboard = request.app.state.dashboard
    return found


def context_of(request: Request) -> ServerContext:
    found: ServerContext = request.app.state.rollout
    return found


def sign_in_redirect(request: Request) -> RedirectResponse:
    """Off to the sign-in form, coming back here afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(here, safe='')}", status_code=303)


def who(request: Request) -> Viewer | Response:
    """The viewer, or the answer to give instead: a redirect to sign in when auth is on and
    no valid token for people came with the request, or 403 when auth refuses the request
    outright (a change from another site riding on the cookie)."""
    try:
        return viewer_of(request)
    except NotSignedIn as exc:
        if exc.status == 401:
            return sign_in_redirect(request)
        return dashboard_of(request).error(None, exc.status, "Refused", exc.message)
