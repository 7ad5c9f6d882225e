"""How a token is presented and when it stops working: the Bearer header, the dashboard's
HttpOnly cookie (refused for changes coming from another site), revocation, other schemes."""

from __future__ import annotations

import httpx
from api_support import TOKEN_NAMES, bearer, detail, plan
from fastapi import FastAPI, Response

from rollout.server._api_roles import Role
from rollout.server.auth import TOKEN_COOKIE, clear_token_cookie, set_token_cookie
from rollout.store import Store

R = "/api/v1/rollouts"


def test_a_revoked_token_stops_working_at_once(
    http: httpx.Client, tokens: dict[Role, str], store: Store
) -> None:
    secret = tokens[Role.DEPLOYER]
    assert http.get(R, headers=bearer(secret)).status_code == 200
    [record] = [t for t in store.list_tokens() if t.name == TOKEN_NAMES[Role.DEPLOYER]]
    store.revoke_token(record.id)
    refused = http.get(R, headers=bearer(secret))
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert detail(refused) == "the API token is not valid: unknown, or revoked"


def test_only_the_bearer_scheme_presents_a_token(
    http: httpx.Client, tokens: dict[Role, str]
) -> None:
    secret = tokens[Role.ADMIN]
    assert http.get(R, headers={"Authorization": f"bearer  {secret}"}).status_code == 200
    assert http.get(R, headers={"Authorization": f"Basic {secret}"}).status_code == 401
    assert http.get(R, headers={"Authorization": "Bearer"}).status_code == 401
    missing = http.get(R)
    assert "this needs an API token" in detail(missing)


def test_a_wrong_role_is_told_what_is_needed(http: httpx.Client, tokens: dict[Role, str]) -> None:
    refused = http.post(R, json={"plan": plan()}, headers=bearer(tokens[Role.APPROVER]))
    assert refused.status_code == 403
    assert detail(refused) == "abe holds the approver role; this needs admin or deployer"


def test_the_cookie_serves_reads_and_same_origin_changes_only(
    http: httpx.Client, tokens: dict[Role, str]
) -> None:
    cookie = {"Cookie": f"{TOKEN_COOKIE}={tokens[Role.DEPLOYER]}"}
    host = http.base_url.netloc.decode()
    body = {"plan": plan("shop")}
    assert http.get(R, headers=cookie).status_code == 200

    cross = http.post(R, json=body, headers={**cookie, "Origin": "https://evil.example"})
    assert cross.status_code == 403
    assert "must come from the dashboard's own pages" in detail(cross)
    fetched = http.post(R, json=body, headers={**cookie, "Sec-Fetch-Site": "cross-site"})
    assert fetched.status_code == 403
    same = http.post(
        R,
        json=body,
        headers={**cookie, "Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"},
    )
    assert same.status_code == 201

    # The header wins over the cookie, and a program's header needs no origin.
    approver = bearer(tokens[Role.APPROVER])
    assert http.post(R, json=body, headers={**cookie, **approver}).status_code == 403


def test_the_cookie_helpers_set_an_httponly_strict_cookie() -> None:
    response = Response()
    set_token_cookie(response, "rot_x", secure=True, max_age=3600)
    header = response.headers["set-cookie"]
    assert header.startswith(f"{TOKEN_COOKIE}=rot_x;")
    for part in ("HttpOnly", "Max-Age=3600", "Path=/", "SameSite=strict", "Secure"):
        assert part in header
    cleared = Response()
    clear_token_cookie(cleared)
    assert 'rollout_token="";' in cleared.headers["set-cookie"]
    assert "Max-Age=0" in cleared.headers["set-cookie"]


def test_without_authentication_everyone_is_an_admin_named_by_the_header(store: Store) -> None:
    from rollout.server.app import create_app
    from rollout.server.run import BackgroundServer

    app: FastAPI = create_app(store, auth=False, poll_seconds=0)
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url) as client:
        started = client.post(R, json={"plan": plan()}, headers={"X-Rollout-Actor": "ann"})
        assert started.status_code == 201
        assert started.json()["created_by"] == "ann"
        anonymous = client.post(R, json={"plan": plan("other")})
        assert anonymous.json()["created_by"] == "anonymous"
        assert client.get("/metrics").status_code == 200


def test_an_app_checks_tokens_unless_told_otherwise(store: Store) -> None:
    from rollout.server.app import create_app
    from rollout.server.run import BackgroundServer

    app: FastAPI = create_app(store, poll_seconds=0)
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url) as client:
        refused = client.get(R, headers={"X-Rollout-Actor": "ann"})
        assert refused.status_code == 401
        assert "this needs an API token" in detail(refused)
