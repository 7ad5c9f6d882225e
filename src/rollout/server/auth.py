"""Who is calling, and may they: API tokens, roles, and the FastAPI dependencies that check them.

A client presents an API token (``rollout tokens create NAME --role ROLE``) as
``Authorization: Bearer rot_...``; a browser (the dashboard) may present it instead as the
HttpOnly cookie :data:`TOKEN_COOKIE` (set with :func:`set_token_cookie`). The store keeps only
each token's SHA-256, and a revoked token stops working on the next request.

Every route but ``/healthz`` needs a valid token: none (or an unknown or revoked one) is
**401**; a valid token whose role lacks the access is **403**. The roles and their accesses
are listed in :mod:`rollout.server._api_roles`; ``admin`` may do everything.

The name of the token is the actor of every audited change made with it; a request cannot
choose another actor (``X-Rollout-Actor`` is ignored while authentication is on). An approval
from the person who started a rollout therefore really comes from them.

Authentication is off only when the app is made with ``auth=False`` (``rollout server
--no-auth`` or ``ROLLOUT_AUTH=off``), for one person on their own machine: then every caller
is an admin named by ``X-Rollout-Actor`` (``anonymous`` without it).

Cookies ride along on requests other sites make, so a change (any method but GET, HEAD or
OPTIONS) authenticated by the cookie is refused (403) unless the browser says it comes from
the same origin (``Sec-Fetch-Site``, ``Origin``); the cookie is ``SameSite=Strict`` as well.

For other parts of the server (the dashboard): :func:`current_principal` (the caller of a
request, or 401), :func:`require_role` (a dependency factory), :func:`principal_for_secret`
(check a token someone pasted into a login form) and the cookie helpers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from rollout.errors import NotFound
from rollout.server._api_roles import Role, allows, parse_role
from rollout.server._headers import ANONYMOUS
from rollout.server.problems import ACTOR_MAX_LENGTH
from rollout.server.schemas import ErrorBody
from rollout.store import Store, hash_token

TOKEN_COOKIE = "rollout_token"
"""The cookie a browser may carry the token in (HttpOnly, SameSite=Strict)."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token: `Authorization: Bearer rot_...` (rollout tokens create).",
)
_COOKIE = APIKeyCookie(
    name=TOKEN_COOKIE,
    auto_error=False,
    scheme_name="cookie",
    description="The same token in an HttpOnly cookie, for the dashboard.",
)

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No API token, or an unknown or revoked one."},
    403: {"model": ErrorBody, "description": "The token's role does not allow this."},
}
"""OpenAPI responses every authenticated route adds."""


@dataclass(frozen=True)
class Principal:
    """The caller: ``name`` (the token's name: the actor in the audit trail) and ``role``.

    ``token_id`` is the token's id, None when authentication is off."""

    name: str
    role: Role
    token_id: str | None = None


class Authenticator:
    """Turns presented secrets into principals, by the store's token table."""

    def __init__(self, store: Store, *, enabled: bool) -> None:
        self.store = store
        self.enabled = enabled

    def principal(self, secret: str) -> Principal | None:
        """The principal of an active token with this secret; None for an unknown or revoked
        one (or one whose stored role this server does not know)."""
        try:
            record = self.store.get_token_by_hash(hash_token(secret))
        except NotFound:
            return None
        try:
            role = parse_role(record.role)
        except ValueError:
            return None
        return Principal(record.name, role, record.id)


def install_auth(app: FastAPI, store: Store, *, enabled: bool) -> Authenticator:
    """Make ``app`` check tokens against ``store`` (or, with ``enabled=False``, let everyone
    in as an admin). :func:`create_app` calls it."""
    authenticator = Authenticator(store, enabled=enabled)
    app.state.auth = authenticator
    return authenticator


def _authenticator(request: Request) -> Authenticator:
    found = getattr(request.app.state, "auth", None)
    if not isinstance(found, Authenticator):
        raise RuntimeError("this app has no authenticator: call install_auth(app, ...) first")
    return found


# --------------------------------------------------------------------------- the caller


def current_principal(request: Request) -> Principal:
    """The caller of ``request``; raises the 401 ``HTTPException`` when authentication is on
    and the request carries no valid token (or a cookie-borne change comes from another site).

    Looked up once per request (kept in ``request.state``)."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    principal = _authenticate(request)
    request.state.principal = principal
    return principal


def principal_for_secret(request: Request, secret: str) -> Principal | None:
    """The principal a token secret stands for (for a login form), None if it is not valid."""
    return _authenticator(request).principal(secret.strip())


def _authenticate(request: Request) -> Principal:
    authenticator = _authenticator(request)
    if not authenticator.enabled:
        named = (request.headers.get("X-Rollout-Actor") or "").strip()
        name = named if 0 < len(named) <= ACTOR_MAX_LENGTH else ANONYMOUS
        return Principal(name, Role.ADMIN)
    secret, from_cookie = _presented(request)
    if not secret:
        raise _unauthorized(
            "this needs an API token: send `Authorization: Bearer <token>` "
            "(create one with `rollout tokens create NAME --role ROLE`)"
        )
    principal = authenticator.principal(secret)
    if principal is None:
        raise _unauthorized("the API token is not valid: unknown, or revoked")
    if from_cookie and request.method not in SAFE_METHODS and not from_this_site(request):
        raise _cross_site()
    return principal


def _presented(request: Request) -> tuple[str | None, bool]:
    """The secret the request presents, and whether it came in the cookie. An Authorization
    header wins over the cookie; one that is not ``Bearer`` presents nothing."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        return (value.strip() or None) if scheme.lower() == "bearer" else None, False
    cookie = request.cookies.get(TOKEN_COOKIE)
    return (cookie.strip() or None) if cookie else None, True


def from_this_site(request: Request) -> bool:
    """False when the browser says the request comes from another site's page: a
    ``Sec-Fetch-Site`` other than ``same-origin``/``none``, or an ``Origin`` that is not this
    host. A request without either header (not from a browser) is taken as from this site."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("Host")


def _cross_site() -> HTTPException:
    return HTTPException(
        403, "a change authenticated by the cookie must come from the dashboard's own pages"
    )


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def _forbidden(principal: Principal, roles: tuple[Role, ...]) -> HTTPException:
    wanted = " or ".join(role.value for role in (Role.ADMIN, *roles))
    return HTTPException(
        403, f"{principal.name} holds the {principal.role.value} role; this needs {wanted}"
    )


# --------------------------------------------------------------------------- dependencies

NoAuthActor = Annotated[
    str | None,
    Header(
        alias="X-Rollout-Actor",
        max_length=ACTOR_MAX_LENGTH,
        pattern=r"\S",
        description="Who acts, only while the server runs without authentication "
        "(`--no-auth`); otherwise the token's name is the actor and this is ignored.",
    ),
]


def authenticated(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    _cookie: Annotated[str | None, Depends(_COOKIE)],
    _actor: NoAuthActor = None,
) -> Principal:
    """Dependency: the caller, with any valid token (401 otherwise). The unused parameters
    put the token schemes and the header into the OpenAPI document."""
    return current_principal(request)


Caller = Annotated[Principal, Depends(authenticated)]
"""A route parameter of this type is the authenticated caller."""


def require_role(*roles: Role | str) -> Callable[..., Principal]:
    """Dependency factory: the caller, if their role is one of ``roles`` or admin; 401 or 403
    otherwise. Use as ``dependencies=[Depends(require_role("deployer"))]`` or as a parameter
    ``principal: Annotated[Principal, Depends(require_role(Role.APPROVER))]``."""
    wanted = tuple(role if isinstance(role, Role) else parse_role(role) for role in roles)

    def dependency(principal: Caller) -> Principal:
        if not allows(principal.role, wanted):
            raise _forbidden(principal, wanted)
        return principal

    return dependency


def require_by_method(
    *, read: tuple[Role, ...], write: tuple[Role, ...]
) -> Callable[..., Principal]:
    """Dependency factory for a router that reads and writes: GET/HEAD/OPTIONS need ``read``,
    every other method ``write``."""

    def dependency(request: Request, principal: Caller) -> Principal:
        wanted = read if request.method in SAFE_METHODS else write
        if not allows(principal.role, wanted):
            raise _forbidden(principal, wanted)
        return principal

    return dependency


def audit_actor(principal: Caller) -> str:
    """Dependency: the name recorded as the actor of a change (the token's name)."""
    return principal.name


AuditActor = Annotated[str, Depends(audit_actor)]
"""A route parameter of this type is the actor to record."""


# --------------------------------------------------------------------------- the cookie


def set_token_cookie(
    response: Response, secret: str, *, secure: bool, max_age: int | None = None
) -> None:
    """Put the token in the HttpOnly, SameSite=Strict cookie (``secure``: HTTPS only;
    ``max_age`` in seconds, None: until the browser closes)."""
    response.set_cookie(
        TOKEN_COOKIE,
        secret,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )


def clear_token_cookie(response: Response) -> None:
    """Remove the token cookie (log out)."""
    response.delete_cookie(TOKEN_COOKIE, path="/", httponly=True, samesite="strict")
