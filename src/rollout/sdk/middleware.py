"""ASGI and WSGI middleware: each request's outcome, attributed to the flag arms it was served.

Wrap the application once and handlers need no telemetry code::

    app = RolloutASGIMiddleware(app, client)        # FastAPI, Starlette, any ASGI app
    app = RolloutWSGIMiddleware(app, client)        # Flask, Django, any WSGI app

Each HTTP request runs inside a :class:`~rollout.sdk.tracking.RequestScope` of ``client``: the
flags it evaluates are noted, and when the response is complete the request's duration and
outcome are recorded for every arm, with the request's subject: the ``targeting_key`` of the
first context it evaluated (a user who keeps hitting a broken page fails many requests but is
one failing subject per telemetry window; see :mod:`rollout.sdk.tracking`). A request fails
when the application answers 5xx or raises (the exception still propagates). The duration runs
from the call into the application until the response body was fully sent (ASGI) or the server
closed the body iterable (WSGI), in ms.
ASGI ``websocket`` and ``lifespan`` scopes pass through untouched.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from types import TracebackType
from typing import Any, Protocol

from rollout.sdk.client import RolloutClient
from rollout.sdk.tracking import RequestScope

__all__ = ["RolloutASGIMiddleware", "RolloutWSGIMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class StartResponse(Protocol):
    """The WSGI ``start_response`` callable (PEP 3333)."""

    def __call__(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: _ExcInfo | None = None,
        /,
    ) -> Callable[[bytes], object]: ...


WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class RolloutASGIMiddleware:
    """Times each HTTP request of an ASGI app and attributes it to the arms it evaluated."""

    def __init__(self, app: ASGIApp, client: RolloutClient) -> None:
        self.app = app
        self.client = client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        with self.client.request_scope() as request:

            async def send_and_watch(message: Message) -> None:
                started = message.get("type") == "http.response.start"
                if started and int(message.get("status", 200)) >= 500:
                    request.error = True
                await send(message)

            await self.app(scope, receive, send_and_watch)


class RolloutWSGIMiddleware:
    """Times each request of a WSGI app and attributes it to the arms it evaluated.

    The application and the iteration of its body run in one copied context holding the
    request's scope, so flags evaluated while a streamed body is generated count as well.
    """

    def __init__(self, app: WSGIApp, client: RolloutClient) -> None:
        self.app = app
        self.client = client

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        context = contextvars.copy_context()
        request = self.client.request_scope()
        context.run(request.activate)

        def start_and_watch(
            status: str, headers: list[tuple[str, str]], exc_info: _ExcInfo | None = None, /
        ) -> Callable[[bytes], object]:
            if status[:1] == "5":
                request.error = True
            return start_response(status, headers, exc_info)

        try:
            body = context.run(self.app, environ, start_and_watch)
        except BaseException:
            request.finish(error=True)
            raise
        return _WatchedBody(body, context, request)


class _WatchedBody:
    """The application's body iterable, iterated in the request's context; ``close()`` (which
    WSGI servers must call) ends the request."""

    def __init__(
        self, body: Iterable[bytes], context: contextvars.Context, request: RequestScope
    ) -> None:
        self._body = body
        self._context = context
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        iterator = self._context.run(iter, self._body)
        while True:
            try:
                chunk = self._context.run(next, iterator)
            except StopIteration:
                return
            except BaseException:
                self._request.error = True
                raise
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                self._context.run(close)
        except BaseException:
            self._request.error = True
            raise
        finally:
            self._request.finish()
