"""A typed client of the server's flag API: :class:`FlagsClient` offers what
:class:`~rollout.server.flag_service.FlagService` offers locally, over HTTP, and turns the
server's answers back into the same records and errors (422 → ``InvalidDefinition`` with the
fields, 404 → ``NotFound``, 412 → ``PreconditionFailed``, 409 → ``Conflict``, 503 →
``StoreError``, 401/403 → ``AccessDenied``), so ``rollout flags`` behaves the same with or
without ``--server``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self
from urllib.parse import quote

import httpx

from rollout.errors import Conflict, NotFound, ProviderError, RolloutError, StoreError
from rollout.server._headers import etag
from rollout.server.problems import (
    FieldProblem,
    InvalidDefinition,
    PreconditionFailed,
    problems_from_items,
)
from rollout.server.schemas import FlagList, FlagOut, History, HistoryEntry
from rollout.store import DefinitionChange, FlagRecord

SERVER_ENV = "ROLLOUT_SERVER"
"""Environment variable with the server URL ``rollout flags`` talks to."""


class ServerUnavailable(ProviderError):
    """The server could not be reached, or answered something this client does not expect."""


class AccessDenied(RolloutError):
    """The server refused the caller: no valid API token (401), or a role without the access
    (403)."""


def _record(data: Any) -> FlagRecord:
    """The flag record of an answer the server gave as a :class:`FlagOut`."""
    return FlagOut.model_validate(data).record(FlagRecord)


def _change(environment: str, key: str, entry: HistoryEntry) -> DefinitionChange:
    return DefinitionChange(
        kind="flag",
        environment=environment,
        key=key,
        version=entry.version,
        change=entry.change,
        definition=entry.definition,
        diff=tuple(item.model_dump(mode="json") for item in entry.diff),
        actor=entry.actor,
        at=entry.at,
    )


class FlagsClient:
    """Flag operations against the server at ``base_url`` (``http://127.0.0.1:8000``).

    ``token`` is the API token sent as ``Authorization: Bearer``; ``transport`` lets tests
    pass an ``httpx.ASGITransport``. Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        token: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token.strip()}"} if token else {}
        # Loading the CA bundle costs a noticeable part of a CLI call; plain http needs none.
        verify = self.base_url.startswith("https:")
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            verify=verify,
            headers=headers,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- FlagsAPI --------------------------------------------------------------------------------

    def list_flags(self, environment: str) -> list[FlagRecord]:
        data = self._call("GET", self._flags(environment))
        return [out.record(FlagRecord) for out in FlagList.model_validate(data).flags]

    def get_flag(self, environment: str, key: str) -> FlagRecord:
        return _record(self._call("GET", self._flags(environment, key)))

    def put_flag(
        self,
        environment: str,
        key: str,
        definition: Mapping[str, Any],
        actor: str,
        expected_version: int | None = None,
    ) -> FlagRecord:
        path = self._flags(environment, key)
        return _record(self._call("PUT", path, actor, expected_version, dict(definition)))

    def set_rollout(
        self,
        environment: str,
        key: str,
        percent: float,
        actor: str,
        *,
        treatment: str | None = None,
        rest: str | None = None,
        expected_version: int | None = None,
    ) -> FlagRecord:
        body = {"percent": percent, "treatment": treatment, "rest": rest}
        path = self._flags(environment, key) + "/rollout"
        return _record(self._call("POST", path, actor, expected_version, body))

    def set_enabled(
        self,
        environment: str,
        key: str,
        on: bool,
        actor: str,
        *,
        expected_version: int | None = None,
    ) -> FlagRecord:
        path = self._flags(environment, key) + ("/revive" if on else "/kill")
        return _record(self._call("POST", path, actor, expected_version))

    def delete_flag(
        self, environment: str, key: str, actor: str, expected_version: int | None = None
    ) -> DefinitionChange:
        data = self._call("DELETE", self._flags(environment, key), actor, expected_version)
        return _change(environment, key, HistoryEntry.model_validate(data))

    def flag_history(self, environment: str, key: str) -> list[DefinitionChange]:
        data = self._call("GET", self._flags(environment, key) + "/history")
        history = History.model_validate(data)
        return [_change(environment, key, entry) for entry in history.versions]

    # -- internals -------------------------------------------------------------------------------

    @staticmethod
    def _flags(environment: str, key: str | None = None) -> str:
        path = f"/api/v1/environments/{quote(environment, safe='')}/flags"
        return path if key is None else f"{path}/{quote(key, safe='')}"

    def _call(
        self,
        method: str,
        path: str,
        actor: str | None = None,
        expected_version: int | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        headers = {}
        if actor is not None:
            headers["X-Rollout-Actor"] = actor
        if expected_version is not None:
            headers["If-Match"] = etag(expected_version)
        try:
            response = self._http.request(method, path, headers=headers, json=body)
        except httpx.HTTPError as exc:
            raise ServerUnavailable(f"cannot reach the server at {self.base_url}: {exc}") from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.is_success:
            return data
        raise _error(response, data, self.base_url)


def _error(response: httpx.Response, data: Any, base_url: str) -> Exception:
    detail = data.get("detail") if isinstance(data, dict) else None
    status = response.status_code
    if status == 422 and isinstance(detail, list):
        problems = problems_from_items(detail)
        # The CLI talks about the definition, not the request: drop the "body" in front.
        return InvalidDefinition(
            p if p.loc[:1] != ("body",) else FieldProblem(p.loc[1:], p.message, p.type)
            for p in problems
        )
    text = detail if isinstance(detail, str) else response.text[:500]
    errors: dict[int, type[Exception]] = {
        401: AccessDenied,
        403: AccessDenied,
        404: NotFound,
        409: Conflict,
        412: PreconditionFailed,
        503: StoreError,
    }
    if status in errors:
        return errors[status](text)
    return ServerUnavailable(f"the server at {base_url} answered {status}: {text}")
