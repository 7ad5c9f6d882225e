"""ASGI and WSGI middleware: every request's outcome lands on the arms it evaluated, with no
telemetry code in the handlers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx
import pytest
from sdk_support import boolean_flag, config_dict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from rollout.flags import FlagConfig
from rollout.sdk import RolloutASGIMiddleware, RolloutClient, RolloutWSGIMiddleware

CONFIG = FlagConfig.model_validate(
    config_dict(
        1,
        boolean_flag("checkout", 50),
        {"key": "theme", "variants": {"dark": "dark"}, "fallthrough": {"variant": "dark"}},
    )
)


@pytest.fixture
def client() -> RolloutClient:
    return RolloutClient(None, "test", offline_config=CONFIG)


def _arms(client: RolloutClient) -> dict[tuple[str, str], tuple[int, int]]:
    return {(a.flag, a.variant): (a.requests, a.errors) for a in client.telemetry_snapshot()}


def _users_by_variant(client: RolloutClient) -> tuple[str, str]:
    """A user in the checkout rollout and one outside it."""
    on = next(
        f"u{i}" for i in range(100) if client.bool_value("checkout", {"targeting_key": f"u{i}"})
    )
    off = next(
        f"u{i}" for i in range(100) if not client.bool_value("checkout", {"targeting_key": f"u{i}"})
    )
    return on, off


def _asgi_app(client: RolloutClient) -> Starlette:
    def user(request: Request) -> dict[str, Any]:
        return {"targeting_key": request.query_params.get("user", "")}

    async def page(request: Request) -> Response:
        checkout = client.bool_value("checkout", user(request), False)
        return PlainTextResponse("new" if checkout else "old")

    async def failing(request: Request) -> Response:
        client.string_value("theme", user(request), "")
        return PlainTextResponse("oops", status_code=503)

    async def crashing(request: Request) -> Response:
        client.bool_value("checkout", user(request), False)
        raise RuntimeError("bug in the handler")

    def threaded(request: Request) -> Response:  # Starlette runs it in its thread pool
        client.string_value("theme", user(request), "")
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/page", page),
            Route("/failing", failing),
            Route("/crashing", crashing),
            Route("/threaded", threaded),
        ]
    )


def test_asgi_requests_are_attributed_to_the_arms_they_were_served(
    client: RolloutClient,
) -> None:
    app = RolloutASGIMiddleware(_asgi_app(client), client)
    on_user, off_user = _users_by_variant(client)
    before = _arms(client)
    assert before == {}

    async def traffic() -> None:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            answers = await asyncio.gather(
                *(http.get("/page", params={"user": on_user}) for _ in range(3)),
                http.get("/page", params={"user": off_user}),
                http.get("/failing", params={"user": on_user}),
                http.get("/crashing", params={"user": on_user}),
                http.get("/threaded", params={"user": off_user}),
            )
            assert [r.status_code for r in answers] == [200, 200, 200, 200, 503, 500, 200]
            assert [r.text for r in answers[:4]] == ["new", "new", "new", "old"]

    asyncio.run(traffic())
    assert _arms(client) == {
        ("checkout", "on"): (4, 1),  # three pages and the crash
        ("checkout", "off"): (1, 0),
        ("theme", "dark"): (2, 1),  # the 503 and the threaded handler
    }
    latencies = {(a.flag, a.variant): a.latency for a in client.telemetry_snapshot()}
    assert latencies["checkout", "on"].count == 4
    assert latencies["checkout", "on"].quantile(0.0) > 0


def test_asgi_exceptions_propagate(client: RolloutClient) -> None:
    app = RolloutASGIMiddleware(_asgi_app(client), client)

    async def crash() -> None:
        transport = httpx.ASGITransport(app=app)  # re-raises the application's exception
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            await http.get("/crashing", params={"user": "u1"})

    with pytest.raises(RuntimeError, match="bug in the handler"):
        asyncio.run(crash())
    assert sorted(_arms(client).values()) == [(1, 1)]


@pytest.mark.parametrize("kind", ["websocket", "lifespan"])
def test_asgi_scopes_other_than_http_pass_through_unmeasured(
    client: RolloutClient, kind: str
) -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        client.string_value("theme", {"targeting_key": "u"}, "")
        seen.append(scope["type"])

    async def receive() -> dict[str, Any]:
        return {}

    async def send(message: Any) -> None:
        return None

    asyncio.run(RolloutASGIMiddleware(inner, client)({"type": kind}, receive, send))
    assert seen == [kind]
    assert _arms(client) == {}


StartResponse = Callable[..., Any]


def _wsgi_app(client: RolloutClient) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        user = {"targeting_key": environ.get("QUERY_STRING", "").removeprefix("user=")}
        if path == "/page":
            checkout = client.bool_value("checkout", user, False)
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"new" if checkout else b"old"]
        if path == "/failing":
            client.string_value("theme", user, "")
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [b"oops"]
        if path == "/crashing":
            client.bool_value("checkout", user, False)
            raise RuntimeError("bug in the handler")
        if path == "/streamed":

            def body() -> Iterator[bytes]:
                yield b"a"
                # Evaluated while the server iterates the body, after the app returned.
                yield client.string_value("theme", user, "").encode()

            start_response("200 OK", [("Content-Type", "text/plain")])
            return body()
        start_response("404 Not Found", [])
        return [b""]

    return app


def test_wsgi_requests_are_attributed_to_the_arms_they_were_served(
    client: RolloutClient,
) -> None:
    app = RolloutWSGIMiddleware(_wsgi_app(client), client)
    on_user, off_user = _users_by_variant(client)
    http = httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://app")
    assert http.get("/page", params={"user": on_user}).text == "new"
    assert http.get("/page", params={"user": off_user}).text == "old"
    assert http.get("/failing", params={"user": on_user}).status_code == 500
    assert http.get("/streamed", params={"user": on_user}).text == "adark"
    with pytest.raises(RuntimeError, match="bug in the handler"):
        http.get("/crashing", params={"user": off_user})
    assert _arms(client) == {
        ("checkout", "on"): (1, 0),
        ("checkout", "off"): (2, 1),  # the page and the crash
        ("theme", "dark"): (2, 1),  # the 500 and the streamed body
    }


def test_wsgi_close_is_passed_on_and_ends_the_request(client: RolloutClient) -> None:
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield client.string_value("theme", {"targeting_key": "u"}, "").encode()

        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [])
        return Body()

    statuses: list[str] = []
    body = RolloutWSGIMiddleware(app, client)({}, lambda s, h, e=None: statuses.append(s))
    assert b"".join(body) == b"dark"
    assert _arms(client) == {}  # not finished until the server closes the body
    body.close()  # type: ignore[attr-defined]
    assert closed == [True]
    assert statuses == ["200 OK"]
    assert _arms(client) == {("theme", "dark"): (1, 0)}
