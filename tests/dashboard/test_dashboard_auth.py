"""With authentication on: the sign-in form, the token cookie, and the same role checks as
the API behind every page and button."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from dashboard_world import FakeClock, make_app
from fastapi import FastAPI

from rollout.server.auth import TOKEN_COOKIE
from rollout.store import Store

pytestmark = pytest.mark.anyio

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
SAME_SITE = {**FORM, "Sec-Fetch-Site": "same-origin"}

SignIn = Callable[[str, str], "AsyncIterator[httpx.AsyncClient]"]


@pytest.fixture
def secured(store: Store, clock: FakeClock) -> FastAPI:
    return make_app(store, clock, auth=True)


@pytest.fixture
async def anonymous(secured: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=secured)
    async with httpx.AsyncClient(transport=transport, base_url="http://dashboard") as client:
        yield client


async def signed_in(client: httpx.AsyncClient, store: Store, name: str, role: str) -> None:
    """Sign ``client`` in through the form with a fresh token of ``role``."""
    secret = store.create_token(name, role).secret
    answer = await client.post("/login", data={"token": secret, "next": "/"}, headers=SAME_SITE)
    assert answer.status_code == 303, answer.text
    assert TOKEN_COOKIE in client.cookies


async def test_pages_ask_for_a_token_first(anonymous: httpx.AsyncClient, observing: str) -> None:
    for path in ("/", f"/rollouts/{observing}", "/flags", f"/rollouts/{observing}/document"):
        answer = await anonymous.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login?next=%2F")
    form = await anonymous.get("/login?next=/flags")
    assert form.status_code == 200
    assert 'name="token" type="password"' in form.text
    assert 'name="next" value="/flags"' in form.text
    refused = await anonymous.post(f"/rollouts/{observing}/pause", headers=SAME_SITE)
    assert refused.status_code == 303  # to the sign-in form: nothing was queued
    live = await anonymous.get(f"/rollouts/{observing}/live")
    assert live.status_code == 401


async def test_signing_in_keeps_the_token_in_a_strict_httponly_cookie(
    anonymous: httpx.AsyncClient, store: Store
) -> None:
    secret = store.create_token("dana", "deployer").secret
    answer = await anonymous.post(
        "/login", data={"token": secret, "next": "/flags"}, headers=SAME_SITE
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/flags"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{TOKEN_COOKIE}={secret};")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    page = await anonymous.get("/")
    assert page.status_code == 200
    assert 'dana <span class="role">deployer</span>' in page.text
    out = await anonymous.post("/logout", headers=SAME_SITE)
    assert out.headers["location"] == "/login"
    assert (await anonymous.get("/")).status_code == 303


async def test_bad_tokens_and_program_tokens_cannot_sign_in(
    anonymous: httpx.AsyncClient, store: Store
) -> None:
    wrong = await anonymous.post("/login", data={"token": "rot_nope"}, headers=SAME_SITE)
    assert wrong.status_code == 401
    assert "That token is not valid" in wrong.text
    sdk = store.create_token("checkout-sdk", "sdk").secret
    program = await anonymous.post("/login", data={"token": sdk}, headers=SAME_SITE)
    assert program.status_code == 403
    assert "which is for programs" in program.text
    revoked = store.create_token("old", "admin")
    store.revoke_token(revoked.record.id)
    gone = await anonymous.post("/login", data={"token": revoked.secret}, headers=SAME_SITE)
    assert gone.status_code == 401
    assert TOKEN_COOKIE not in anonymous.cookies


async def test_sign_in_only_returns_to_this_site(
    anonymous: httpx.AsyncClient, store: Store
) -> None:
    secret = store.create_token("dana", "deployer").secret
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        answer = await anonymous.post(
            "/login", data={"token": secret, "next": target}, headers=SAME_SITE
        )
        assert answer.headers["location"] == "/"
    another_site = await anonymous.post(
        "/login", data={"token": secret}, headers={**FORM, "Sec-Fetch-Site": "cross-site"}
    )
    assert another_site.status_code == 403


@pytest.mark.parametrize(
    ("role", "verb", "allowed"),
    [
        ("approver", "approve", True),
        ("deployer", "approve", False),
        ("approver", "pause", False),
        ("deployer", "pause", True),
        ("admin", "approve", True),
        ("admin", "abort", True),
    ],
)
async def test_each_button_needs_its_role(
    anonymous: httpx.AsyncClient, store: Store, awaiting: str, role: str, verb: str, allowed: bool
) -> None:
    await signed_in(anonymous, store, f"{role}-person", role)
    answer = await anonymous.post(
        f"/rollouts/{awaiting}/{verb}", data={"environment": "production"}, headers=SAME_SITE
    )
    if allowed:
        assert answer.status_code == 303
        actors = [e.actor for e in store.list_events(awaiting)]
        assert actors[-1] == f"{role}-person"  # the token's name is the actor
    else:
        assert answer.status_code == 403
        assert f"{role}-person is signed in as {role}" in answer.text
        assert store.list_events(awaiting)[-1].actor != f"{role}-person"


async def test_buttons_a_role_cannot_use_are_shown_disabled_with_the_reason(
    anonymous: httpx.AsyncClient, store: Store, awaiting: str
) -> None:
    await signed_in(anonymous, store, "dana", "deployer")
    page = await anonymous.get(f"/rollouts/{awaiting}")
    assert "dana is signed in as deployer: to approve or reject an environment needs" in page.text
    assert 'name="comment"' not in page.text  # no approval form for a deployer
    await signed_in(anonymous, store, "erin", "approver")
    page = await anonymous.get(f"/rollouts/{awaiting}")
    assert 'name="comment"' in page.text
    assert page.text.count("disabled>") == 2  # pause and abort


async def test_flag_changes_need_the_deployer_role(
    anonymous: httpx.AsyncClient, store: Store, observing: str
) -> None:
    await signed_in(anonymous, store, "erin", "approver")
    page = await anonymous.get("/flags?env=production")
    assert "Kill switch" not in page.text
    refused = await anonymous.post("/flags/production/new-checkout/kill", headers=SAME_SITE)
    assert refused.status_code == 403
    assert store.get_flag("production", "new-checkout").definition["on"] is True
    await signed_in(anonymous, store, "dana", "deployer")
    done = await anonymous.post("/flags/production/new-checkout/kill", headers=SAME_SITE)
    assert done.status_code == 303
    assert store.flag_history("production", "new-checkout")[-1].actor == "dana"


async def test_a_change_from_another_site_riding_on_the_cookie_is_refused(
    anonymous: httpx.AsyncClient, store: Store, observing: str
) -> None:
    await signed_in(anonymous, store, "dana", "deployer")
    answer = await anonymous.post(
        f"/rollouts/{observing}/abort",
        headers={**FORM, "Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    assert store.get_rollout(observing).status.value == "observing"
    assert not [e for e in store.list_events(observing) if e.kind == "command.abort"]
