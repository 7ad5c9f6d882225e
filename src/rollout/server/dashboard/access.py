"""Who is looking at the dashboard, and what their token's role lets them do.

The dashboard asks for an API token once (the sign-in form) and keeps it in the HttpOnly,
SameSite=Strict cookie of :mod:`rollout.server.auth`, which reads it like an ``Authorization``
header; so pages and buttons go through the same tokens and role checks as the API: any token
for people (``deployer``, ``approver``, ``admin``) to look, ``approver`` to approve or reject,
``deployer`` to pause, resume, promote, abort, retry and change flags, ``admin`` for all of it.
``sdk`` and ``telemetry`` tokens are for programs and cannot sign in.

With authentication off (``rollout server --no-auth``: one person on their own machine) nobody
signs in and every viewer is an admin, named as :mod:`rollout.server.auth` names them.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException, Request

from rollout.server._api_roles import APPROVE, DEPLOY, READ, Role, allows
from rollout.server.auth import Authenticator, Principal, current_principal


@dataclass(frozen=True)
class Permission:
    """What a dashboard page or button needs: the roles granted it (besides admin)."""

    what: str
    roles: tuple[Role, ...]


VIEW = Permission("look at rollouts and flags", READ)
DECIDE = Permission("approve or reject an environment", APPROVE)
OPERATE = Permission("pause, resume, promote, abort or retry a rollout", DEPLOY)
CHANGE_FLAGS = Permission("change flags", DEPLOY)


@dataclass(frozen=True)
class Viewer:
    """The person behind a request: their token's ``name`` (the actor of what they do) and
    ``role``; ``signed_in`` is False when authentication is off."""

    name: str
    role: Role
    signed_in: bool = True

    def may(self, permission: Permission) -> bool:
        """Whether the role allows ``permission`` (``admin`` allows everything)."""
        return allows(self.role, permission.roles)

    def refusal(self, permission: Permission) -> str:
        """Why :meth:`may` says no, in words."""
        wanted = " or ".join(r.value for r in (*permission.roles, Role.ADMIN))
        return f"{self.name} is signed in as {self.role.value}: to {permission.what} needs {wanted}"


class NotSignedIn(Exception):
    """No valid token for people came with the request (or auth refused it): ``status`` is 401
    (sign in) or 403 (refused outright, such as a cookie-borne change from another site)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


def auth_enabled(request: Request) -> bool:
    """Whether the app checks tokens (``create_app(auth=True)``)."""
    found = getattr(request.app.state, "auth", None)
    return isinstance(found, Authenticator) and found.enabled


def viewer_of(request: Request) -> Viewer:
    """The viewer of ``request``; :class:`NotSignedIn` when auth is on and the request has no
    valid token, or one only programs use."""
    try:
        principal = current_principal(request)
    except HTTPException as exc:
        raise NotSignedIn(exc.status_code, str(exc.detail)) from None
    return viewer_from(principal, signed_in=auth_enabled(request))


def viewer_from(principal: Principal, *, signed_in: bool) -> Viewer:
    """The viewer a principal stands for; :class:`NotSignedIn` for a program's token."""
    viewer = Viewer(principal.name, principal.role, signed_in)
    if not viewer.may(VIEW):
        raise NotSignedIn(
            401,
            f"the token {principal.name} has the {principal.role.value} role, which is for "
            "programs; sign in with a deployer, approver or admin token",
        )
    return viewer
