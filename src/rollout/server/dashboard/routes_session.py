"""Signing in and out: an API token pasted once, kept in the HttpOnly, SameSite=Strict cookie.

The token is checked before the cookie is set (an unknown, revoked or program-only token is
refused with the reason), and the cookie is only ever sent back to this server: page scripts
cannot read it, and other sites' pages cannot make the browser send it. With authentication
off there is nothing to sign in to, and both routes lead back to the dashboard.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from rollout.errors import StoreError
from rollout.server.auth import clear_token_cookie, principal_for_secret, set_token_cookie
from rollout.server.dashboard.access import NotSignedIn, auth_enabled, viewer_from
from rollout.server.dashboard.forms import FormProblem, check_same_site, read_form, safe_next
from rollout.server.dashboard.site import dashboard_of

router = APIRouter(include_in_schema=False)

MAX_TOKEN = 200


@router.get("/login", response_class=Response)
def login_form(request: Request, next: str = "/") -> Response:
    """The sign-in form."""
    if not auth_enabled(request):
        return RedirectResponse(safe_next(next), status_code=303)
    return dashboard_of(request).page("login.html", None, next=safe_next(next), problem="")


@router.post("/login", response_class=Response)
async def login(request: Request) -> Response:
    """Check the pasted token; on success keep it in the cookie and go where the viewer was."""
    board = dashboard_of(request)
    try:  # (also refuses a form from another site: it must not sign this browser in)
        form = await read_form(request)
    except FormProblem as exc:
        return board.error(None, exc.status, "That form cannot be read", exc.message)
    target = safe_next(form.get("next"))
    if not auth_enabled(request):
        return RedirectResponse(target, status_code=303)
    secret = form.get("token", "").strip()

    def refuse(problem: str, status: int = 401) -> Response:
        return board.page("login.html", None, status=status, next=target, problem=problem)

    if not secret or len(secret) > MAX_TOKEN:
        return refuse("Paste the API token (it starts with rot_).")
    try:
        principal = await run_in_threadpool(principal_for_secret, request, secret)
    except StoreError as exc:
        return refuse(f"The database is unavailable: {exc}", status=503)
    if principal is None:
        return refuse("That token is not valid: it is unknown, or it was revoked.")
    try:
        viewer_from(principal, signed_in=True)
    except NotSignedIn as exc:
        return refuse(exc.message[:1].upper() + exc.message[1:] + ".", status=403)
    response = RedirectResponse(target, status_code=303)
    set_token_cookie(response, secret, secure=request.url.scheme == "https")
    return response


@router.post("/logout", response_class=Response)
def logout(request: Request) -> Response:
    """Forget the token cookie."""
    try:
        check_same_site(request)
    except FormProblem as exc:
        return dashboard_of(request).error(None, exc.status, "Refused", exc.message)
    response = RedirectResponse("/login" if auth_enabled(request) else "/", status_code=303)
    clear_token_cookie(response)
    return response
