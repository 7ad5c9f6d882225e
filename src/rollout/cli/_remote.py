"""The command line against a Rollout server: ``--server URL`` (``$ROLLOUT_SERVER``) with
``--token`` (``$ROLLOUT_TOKEN``), both defined in :mod:`rollout.cli._options`, make the rollout
and flag commands call the server's API instead of opening the local database.

:class:`RolloutsClient` offers the rollout service calls over HTTP and hands back the engine's
own values (a :class:`~rollout.engine.controller.RolloutView`, :class:`EventRecord` values), so a
command shows a remote rollout with the code that shows a local one; the server's refusals come
back as the errors the local calls raise (404 ``NotFound``, 409 ``EngineError``, a plan's 422
``PlanError`` with every problem), and 401/403 as
:class:`~rollout.server.client.AccessDenied`. :func:`flags_client` is the flag API's client
with the same token.

With a server that checks tokens the token's name is the actor of every change, whatever
``--actor`` says; ``--actor`` names the actor only for a server run with ``--no-auth``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self
from urllib.parse import quote

if TYPE_CHECKING:
    import httpx

    from rollout.engine.controller import RolloutView
    from rollout.server import DecisionOut, HistoryOut, VerbAccepted
    from rollout.server.client import FlagsClient


def auth_headers(token: str | None, actor: str | None) -> dict[str, str]:
    """The headers that say who calls: the token, and the actor for a server without auth."""
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token.strip()}"
    if actor:
        headers["X-Rollout-Actor"] = actor
    return headers


def flags_client(server: str, token: str | None) -> FlagsClient:
    """The flag API's client for ``server``, presenting ``token``."""
    from rollout.server.client import FlagsClient

    return FlagsClient(server, token=token)


class RolloutsClient:
    """Rollout service calls against the server at ``base_url``; a context manager.

    ``actor`` is sent as ``X-Rollout-Actor`` (heeded only by a server without authentication);
    ``transport`` lets tests pass an ``httpx.ASGITransport``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        actor: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers=auth_headers(token, actor),
            # Loading the CA bundle costs a noticeable part of a CLI call; plain http needs none.
            verify=self.base_url.startswith("https:"),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the service calls -----------------------------------------------------------------------

    def start(self, plan_text: str, version: str | None) -> RolloutView:
        """Start a rollout of the plan (its YAML text) at ``version``."""
        body = {"plan": plan_text, "version": version}
        return self._view(self._call("POST", "", body))

    def views(self, status: str | None = None, limit: int = 50) -> list[RolloutView]:
        """Status views of the newest rollouts (in ``status`` only, when given)."""
        from rollout.server import RolloutList

        params: dict[str, Any] = {"limit": limit}
        if status is not None:
            params["status"] = status
        listing = RolloutList.model_validate(self._call("GET", "", params=params))
        return [out.view() for out in listing.rollouts]

    def view(self, rollout_id: str, events: int = 8) -> RolloutView:
        """The status view of one rollout with its last ``events`` audit events."""
        return self._view(self._call("GET", _path(rollout_id), params={"events": events}))

    def verb(self, rollout_id: str, verb: str, comment: str = "") -> VerbAccepted:
        """Queue ``pause``, ``resume``, ``promote``, ``abort`` or ``retry``."""
        from rollout.server import VerbAccepted

        data = self._call("POST", _path(rollout_id, verb), {"comment": comment})
        return VerbAccepted.model_validate(data)

    def decide(
        self, rollout_id: str, approve: bool, environment: str | None, comment: str = ""
    ) -> DecisionOut:
        """Approve or reject ``environment`` (default: the one the rollout waits for)."""
        from rollout.server import DecisionOut

        word = "approve" if approve else "reject"
        body = {"environment": environment, "comment": comment}
        return DecisionOut.model_validate(self._call("POST", _path(rollout_id, word), body))

    def sign_off(
        self, rollout_id: str, gate: int, roles: tuple[str, ...], approve: bool, comment: str
    ) -> VerbAccepted:
        """Sign off (or refuse) manual checklist gate ``gate`` holding ``roles``."""
        from rollout.server import VerbAccepted

        body = {"roles": list(roles), "approve": approve, "comment": comment}
        path = _path(rollout_id, f"gates/{gate}/sign-off")
        return VerbAccepted.model_validate(self._call("POST", path, body))

    def history(self, rollout_id: str) -> HistoryOut:
        """The audit trail and the re-check of its hash chain."""
        from rollout.server import HistoryOut

        return HistoryOut.model_validate(self._call("GET", _path(rollout_id, "history")))

    # -- internals -------------------------------------------------------------------------------

    @staticmethod
    def _view(data: Any) -> RolloutView:
        from rollout.server import RolloutStatusOut

        return RolloutStatusOut.model_validate(data).view()

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        params: dict[str, Any] | None = None,
    ) -> Any:
        import httpx

        from rollout.server.client import ServerUnavailable

        try:
            response = self._http.request(
                method, f"/api/v1/rollouts{path}", json=body, params=params
            )
        except httpx.HTTPError as exc:
            raise ServerUnavailable(f"cannot reach the server at {self.base_url}: {exc}") from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.is_success:
            return data
        raise _error(response.status_code, data, response.text, self.base_url)


def _path(rollout_id: str, *rest: str) -> str:
    return "/" + "/".join([quote(rollout_id, safe=""), *rest])


def _error(status: int, data: Any, text: str, base_url: str) -> Exception:
    from rollout.errors import EngineError, NotFound, StoreError
    from rollout.server import PlanProblemsBody
    from rollout.server.client import AccessDenied, ServerUnavailable

    detail = data.get("detail") if isinstance(data, dict) else None
    if status == 422 and isinstance(data, dict) and "problems" in data:
        return PlanProblemsBody.model_validate(data).error()
    if status == 422 and isinstance(detail, list):
        fields = "; ".join(
            f"{'.'.join(str(part) for part in item.get('loc', ()))}: {item.get('msg', '')}"
            for item in detail
            if isinstance(item, dict)
        )
        return EngineError(f"the server refused the request: {fields}")
    said = detail if isinstance(detail, str) else text[:500]
    if status in (401, 403):
        return AccessDenied(f"the server at {base_url} refused: {said}")
    errors: dict[int, type[Exception]] = {404: NotFound, 409: EngineError, 503: StoreError}
    if status in errors:
        return errors[status](said)
    return ServerUnavailable(f"the server at {base_url} answered {status}: {said}")
