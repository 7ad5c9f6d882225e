"""Every route × every role, against a real server with authentication on: no token is 401, a
token whose role lacks the access is 403 (and changes nothing), and each role that has the
access gets the route's success answer. Admin may do everything."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from api_support import (
    FAILING_GATE,
    MANUAL_GATE,
    FakeClock,
    bearer,
    make_controller,
    make_tokens,
    plan,
    tick_until,
)

from rollout.engine.controller import Controller, send_verb, start_rollout
from rollout.server._api_roles import Role
from rollout.server.app import create_app
from rollout.server.run import BackgroundServer
from rollout.store import Store, open_store

R = "/api/v1/rollouts"
F = "/api/v1/environments/production"
TELEMETRY_BATCH = {
    "sdk": {"name": "python", "version": "1", "instance": "i-1"},
    "environment": "production",
    "window_start": 1_800_000_000,
    "window_end": 1_800_000_010,
    "arms": [{"flag": "f", "variant": "on", "requests": 10, "errors": 0}],
}


@dataclass
class Scene:
    """Makes what a route needs, fresh each time (``n`` keeps names apart)."""

    store: Store
    controller: Controller
    clock: FakeClock
    http: httpx.Client
    tokens: dict[Role, str]
    made: int = 0

    @property
    def admin(self) -> str:
        return self.tokens[Role.ADMIN]

    def rollout(self, status: str, **plan_options: str) -> str:
        self.made += 1
        text = plan(f"p{self.made}", **plan_options)
        rollout_id = start_rollout(self.store, text, None, "alice").id
        tick_until(self.controller, self.clock, self.store, rollout_id, status)
        return rollout_id

    def running(self) -> dict[str, str]:
        return {"rollout": self.rollout("observing")}

    def paused(self) -> dict[str, str]:
        rollout_id = self.rollout("observing")
        send_verb(self.store, rollout_id, "pause", "alice")
        tick_until(self.controller, self.clock, self.store, rollout_id, "paused")
        return {"rollout": rollout_id}

    def failed(self) -> dict[str, str]:
        return {"rollout": self.rollout("paused", gates=FAILING_GATE)}

    def awaiting(self) -> dict[str, str]:
        return {"rollout": self.rollout("awaiting_approval", approval="{required: true}")}

    def gating(self) -> dict[str, str]:
        return {"rollout": self.rollout("gating", gates=MANUAL_GATE)}

    def flag(self) -> dict[str, str]:
        self.made += 1
        key = f"f{self.made}"
        body = {"fallthrough": {"variant": "on"}}
        put = self.http.put(f"{F}/flags/{key}", json=body, headers=bearer(self.admin))
        assert put.status_code == 200, put.text
        return {"flag": key}

    def segment(self) -> dict[str, str]:
        self.made += 1
        key = f"s{self.made}"
        body = {"included": ["user-1"]}
        put = self.http.put(f"{F}/segments/{key}", json=body, headers=bearer(self.admin))
        assert put.status_code == 200, put.text
        return {"segment": key}

    def nothing(self) -> dict[str, str]:
        self.made += 1
        return {"n": str(self.made)}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    roles: tuple[Role, ...]  # besides admin
    ok: int
    needs: Callable[[Scene], dict[str, str]] = Scene.nothing
    body: Callable[[dict[str, str]], Any] | None = None
    stream: bool = field(default=False)


READ = (Role.DEPLOYER, Role.APPROVER)
DEPLOY = (Role.DEPLOYER,)
APPROVE = (Role.APPROVER,)

ROUTES = {
    # rollouts
    "start": Route("POST", R, DEPLOY, 201, body=lambda v: {"plan": plan(f"new{v['n']}")}),
    "list": Route("GET", R, READ, 200),
    "status": Route("GET", R + "/{rollout}", READ, 200, Scene.running),
    "pause": Route("POST", R + "/{rollout}/pause", DEPLOY, 202, Scene.running),
    "resume": Route("POST", R + "/{rollout}/resume", DEPLOY, 202, Scene.paused),
    "promote": Route("POST", R + "/{rollout}/promote", DEPLOY, 202, Scene.running),
    "abort": Route("POST", R + "/{rollout}/abort", DEPLOY, 202, Scene.running),
    "retry": Route("POST", R + "/{rollout}/retry", DEPLOY, 202, Scene.failed),
    "approve": Route("POST", R + "/{rollout}/approve", APPROVE, 202, Scene.awaiting),
    "reject": Route("POST", R + "/{rollout}/reject", APPROVE, 202, Scene.awaiting),
    "sign-off": Route(
        "POST",
        R + "/{rollout}/gates/2/sign-off",
        APPROVE,
        202,
        Scene.gating,
        body=lambda _v: {"roles": ["security"]},
    ),
    "history": Route("GET", R + "/{rollout}/history", READ, 200, Scene.running),
    "document": Route("GET", R + "/{rollout}/document", READ, 200, Scene.running),
    "events": Route("GET", R + "/{rollout}/events", READ, 200, Scene.running, stream=True),
    # flags and segments
    "environments": Route("GET", "/api/v1/environments", READ, 200),
    "list-flags": Route("GET", F + "/flags", READ, 200),
    "get-flag": Route("GET", F + "/flags/{flag}", READ, 200, Scene.flag),
    "put-flag": Route(
        "PUT", F + "/flags/new{n}", DEPLOY, 200, body=lambda _v: {"fallthrough": {"variant": "on"}}
    ),
    "delete-flag": Route("DELETE", F + "/flags/{flag}", DEPLOY, 200, Scene.flag),
    "flag-history": Route("GET", F + "/flags/{flag}/history", READ, 200, Scene.flag),
    "ramp-flag": Route(
        "POST", F + "/flags/{flag}/rollout", DEPLOY, 200, Scene.flag, lambda _v: {"percent": 5}
    ),
    "kill-flag": Route("POST", F + "/flags/{flag}/kill", DEPLOY, 200, Scene.flag),
    "revive-flag": Route("POST", F + "/flags/{flag}/revive", DEPLOY, 200, Scene.flag),
    "list-segments": Route("GET", F + "/segments", READ, 200),
    "get-segment": Route("GET", F + "/segments/{segment}", READ, 200, Scene.segment),
    "put-segment": Route(
        "PUT", F + "/segments/new{n}", DEPLOY, 200, body=lambda _v: {"included": ["u"]}
    ),
    "delete-segment": Route("DELETE", F + "/segments/{segment}", DEPLOY, 200, Scene.segment),
    "segment-history": Route("GET", F + "/segments/{segment}/history", READ, 200, Scene.segment),
    # what SDKs and monitoring call
    "config": Route("GET", F + "/config", (Role.SDK, *READ), 200),
    "stream": Route("GET", F + "/stream", (Role.SDK, *READ), 200, stream=True),
    "telemetry": Route(
        "POST",
        "/api/v1/telemetry",
        (Role.TELEMETRY, Role.SDK),
        202,
        body=lambda _v: TELEMETRY_BATCH,
    ),
    "metrics": Route("GET", "/metrics", (Role.TELEMETRY, *READ), 200),
}


def send(http: httpx.Client, route: Route, values: dict[str, str], secret: str | None) -> int:
    path = route.path.format(**values)
    body = route.body(values) if route.body is not None else None
    if route.stream:
        with http.stream(route.method, path, headers=bearer(secret), json=body) as response:
            return response.status_code
    return http.request(route.method, path, headers=bearer(secret), json=body).status_code


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    """One server for the whole table (each route makes fresh things to act on)."""
    clock = FakeClock()
    path = tmp_path_factory.mktemp("roles") / "rollout.db"
    with open_store(f"sqlite:///{path}", clock=clock.moment) as store:
        tokens = make_tokens(store)
        app = create_app(store, auth=True, poll_seconds=0, keepalive_seconds=30)
        app.state.rollouts_api.clock = clock
        controller = make_controller(store, clock, app)
        with BackgroundServer(app) as server, httpx.Client(base_url=server.url) as http:
            yield Scene(store, controller, clock, http, tokens)


@pytest.mark.parametrize("name", list(ROUTES))
def test_every_route_needs_a_token_with_a_role_that_allows_it(name: str, scene: Scene) -> None:
    route = ROUTES[name]
    values = route.needs(scene)
    values.setdefault("n", "0")
    http, tokens = scene.http, scene.tokens

    assert send(http, route, values, None) == 401
    assert send(http, route, values, "rot_not-a-token") == 401
    allowed = (Role.ADMIN, *route.roles)
    for role in Role:
        if role not in allowed:
            assert send(http, route, values, tokens[role]) == 403, role

    # The refusals changed nothing: the first allowed role succeeds on the very same scene;
    # every other allowed role on a fresh one.
    for index, role in enumerate(allowed):
        fresh = values if index == 0 else {"n": str(index), **route.needs(scene)}
        assert send(http, route, fresh, tokens[role]) == route.ok, role


def test_health_needs_no_token(scene: Scene) -> None:
    assert scene.http.get("/healthz").status_code == 200


def test_every_route_of_the_api_is_in_the_table(scene: Scene) -> None:
    spec = scene.http.get("/openapi.json").json()
    operations = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if not path.startswith("/dashboard") and path not in ("/healthz", "/")
    }
    covered = {(route.method, _template(route.path)) for route in ROUTES.values()}
    assert operations - covered == set()


def _template(path: str) -> str:
    """``/flags/{flag}`` as the OpenAPI document names it (``/flags/{key}``)."""
    return (
        path.replace("/production/", "/{environment}/")
        .replace("{rollout}", "{rollout_id}")
        .replace("{flag}", "{key}")
        .replace("{segment}", "{key}")
        .replace("new{n}", "{key}")
        .replace("/gates/2/", "/gates/{gate}/")
    )
