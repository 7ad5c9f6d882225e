"""The dashboard's pages over a store a real controller drives: what each page shows, which
verbs it offers, and what its forms change."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from dashboard_world import FakeClock, write_world
from fastapi import FastAPI

from rollout.engine.controller import Controller, send_verb, start_rollout
from rollout.store import Store

pytestmark = pytest.mark.anyio

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def buttons(html: str) -> list[str]:
    """The verb buttons the page offers (their form actions' last part)."""
    return re.findall(r'<form method="post" action="/rollouts/[^/"]+/([a-z]+)"', html)


def text(html: str) -> str:
    """The page's words without tags, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


async def test_the_list_shows_each_rollout_with_its_status_and_reason(
    client: httpx.AsyncClient, observing: str
) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert f'href="/rollouts/{observing}"' in page.text
    assert '<span class="badge active">observing</span>' in page.text
    words = text(page.text)
    assert "checkout 2.0" in words
    assert "production · stage 1 of 2 (Canary)" in words
    assert "10%" in words and "alice" in words
    assert "flag new-checkout on for 10%; baking for 2m" in words


async def test_an_empty_list_says_how_to_start(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert "No rollouts yet" in page.text


async def test_a_rollout_awaiting_approval_offers_approve_and_reject(
    client: httpx.AsyncClient, awaiting: str
) -> None:
    page = await client.get(f"/rollouts/{awaiting}")
    assert page.status_code == 200
    assert '<span class="badge big waiting"' in page.text
    words = text(page.text)
    assert "production waits for approval: it needs 1 approval from anyone allowed" in words
    assert "(not alice, who started it)" in words
    assert buttons(page.text) == ["approve", "pause", "abort"]
    assert 'formaction="/rollouts/' + awaiting + '/reject"' in page.text
    assert "staging deployed and validated" in words
    assert "Criteria" not in words  # nothing is judged while waiting


async def test_an_observing_rollout_shows_time_left_criteria_and_a_chart(
    client: httpx.AsyncClient, observing: str
) -> None:
    page = await client.get(f"/rollouts/{observing}")
    html = page.text
    words = text(html)
    assert buttons(html) == ["pause", "promote", "abort"]
    assert 'data-countdown="60"' in html  # 2m bake, one minute in (the fake clock)
    assert "Audience on 2.0 10%" in words
    assert "Canary 10% · 2m running" in words and "Everyone 100% · 2m not started" in words
    assert "error_rate &lt; 2%" in html
    assert "error rate 0.50% is within the limit of 2% over 2,000 canary requests" in words
    chart = re.search(r"<svg class=\"chart\".*?</svg>", html, re.S)
    assert chart is not None
    svg = chart.group(0)
    for line in ("canary", "control", "limit"):
        assert f'class="line {line}"' in svg
    assert "Latest: canary 0.5%, control 0.5%, limit 2%." in svg
    # The event log, newest first, names who did what.
    log = re.search(r'<table class="events">.*?</table>', html, re.S)
    assert log is not None
    rows = text(log.group(0))
    assert rows.index("ramping → observing") < rows.index("bob approved production")
    assert rows.index("bob approved production") < rows.index("alice created rollout checkout")


async def test_approving_from_the_page_reaches_the_controller(
    client: httpx.AsyncClient, awaiting: str, store: Store, controller: Controller
) -> None:
    answer = await client.post(
        f"/rollouts/{awaiting}/approve",
        content="environment=production&comment=ship+it",
        headers=FORM,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/rollouts/{awaiting}?done=approve"
    [approval] = store.list_approvals(awaiting, "production")
    assert (approval.approver, approval.comment) == ("anonymous", "ship it")
    page = await client.get(answer.headers["location"])
    assert "Approval recorded." in page.text
    assert "You have approved production already." in text(page.text)
    controller.run_once()
    assert store.get_rollout(awaiting).status.value == "observing"


async def test_pause_then_resume_changes_which_buttons_show(
    client: httpx.AsyncClient, observing: str, store: Store, controller: Controller
) -> None:
    answer = await client.post(
        f"/rollouts/{observing}/pause", content="comment=%3Cb%3Elook%3C%2Fb%3E", headers=FORM
    )
    assert answer.status_code == 303
    controller.run_once()
    page = await client.get(f"/rollouts/{observing}")
    assert buttons(page.text) == ["resume", "abort"]
    assert "data-paused" in page.text
    # Whatever people type is shown as text, never as markup.
    assert "&lt;b&gt;look&lt;/b&gt;" in page.text and "<b>look</b>" not in page.text
    assert (await client.post(f"/rollouts/{observing}/resume", headers=FORM)).status_code == 303
    controller.run_once()
    assert store.get_rollout(observing).status.value == "observing"


async def test_a_verb_that_no_longer_applies_comes_back_with_the_reason(
    client: httpx.AsyncClient, observing: str
) -> None:
    answer = await client.post(f"/rollouts/{observing}/resume", headers=FORM)
    assert answer.status_code == 409
    assert "the rollout is not paused" in answer.text
    assert 'role="alert"' in answer.text


async def test_a_rejection_needs_a_reason_and_stops_the_rollout(
    client: httpx.AsyncClient, awaiting: str, store: Store, controller: Controller
) -> None:
    empty = await client.post(
        f"/rollouts/{awaiting}/reject", content="environment=production&comment=", headers=FORM
    )
    assert empty.status_code == 422
    assert "Say why you reject it" in empty.text
    answer = await client.post(
        f"/rollouts/{awaiting}/reject",
        content="environment=production&comment=not+during+the+sale",
        headers=FORM,
    )
    assert answer.status_code == 303
    controller.run_once()
    record = store.get_rollout(awaiting)
    assert record.terminal
    page = await client.get(f"/rollouts/{awaiting}")
    assert buttons(page.text) == []
    assert "not during the sale" in page.text


async def test_abort_rolls_back(
    client: httpx.AsyncClient, observing: str, store: Store, controller: Controller
) -> None:
    assert (await client.post(f"/rollouts/{observing}/abort", headers=FORM)).status_code == 303
    controller.run_once()
    assert store.get_rollout(observing).status.value == "rolled_back"
    assert (
        store.get_flag("production", "new-checkout").definition["fallthrough"]["rollout"]["percent"]
        == 0.0
    )


async def test_unknown_rollouts_and_verbs_are_404_pages(
    client: httpx.AsyncClient, observing: str
) -> None:
    for answer in (
        await client.get("/rollouts/ro_nothing"),
        await client.post(f"/rollouts/{observing}/hurry", headers=FORM),
        await client.post("/rollouts/ro_nothing/pause", headers=FORM),
        await client.get("/rollouts/ro_nothing/document"),
    ):
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("text/html")


async def test_a_form_posted_from_another_site_is_refused_even_without_authentication(
    client: httpx.AsyncClient, observing: str, store: Store
) -> None:
    for headers in (
        {**FORM, "Sec-Fetch-Site": "cross-site"},
        {**FORM, "Origin": "https://evil.example"},
    ):
        answer = await client.post(f"/rollouts/{observing}/abort", headers=headers)
        assert answer.status_code == 403
        killed = await client.post("/flags/production/new-checkout/kill", headers=headers)
        assert killed.status_code == 403
    assert not [e for e in store.list_events(observing) if e.kind == "command.abort"]
    assert store.get_flag("production", "new-checkout").definition["on"] is True
    same = await client.post(
        f"/rollouts/{observing}/pause",
        headers={**FORM, "Sec-Fetch-Site": "same-origin", "Origin": "http://dashboard"},
    )
    assert same.status_code == 303


async def test_a_post_that_is_not_a_form_is_refused(
    client: httpx.AsyncClient, observing: str
) -> None:
    answer = await client.post(f"/rollouts/{observing}/pause", json={"comment": "x"})
    assert answer.status_code == 415


async def test_the_document_is_rendered_with_the_rollouts_progress(
    client: httpx.AsyncClient, observing: str
) -> None:
    page = await client.get(f"/rollouts/{observing}/document")
    assert page.status_code == 200
    assert "<h1>Rollout Plan</h1>" in page.text
    assert '<li class="check done">' in page.text  # the passed checklist gate is ticked
    assert "&lt;!--" not in page.text
    assert "running — stage 1 (Canary) of production" in page.text
    markdown = await client.get(f"/rollouts/{observing}/document.md")
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.headers["content-disposition"] == 'attachment; filename="checkout-2.0.md"'
    assert markdown.text.startswith("# Rollout Plan\n")


async def test_the_flags_page_lists_flags_and_changes_them_through_the_flag_service(
    client: httpx.AsyncClient, observing: str, store: Store
) -> None:
    page = await client.get("/flags?env=production")
    words = text(page.text)
    assert "new-checkout" in words and "10% get on, the rest off" in words
    assert f'href="/rollouts/{observing}"' in page.text  # ramped by the rollout
    assert '<a href="/flags?env=staging"' in page.text
    killed = await client.post("/flags/production/new-checkout/kill", headers=FORM)
    assert killed.status_code == 303
    assert store.get_flag("production", "new-checkout").definition["on"] is False
    [*_, change] = store.flag_history("production", "new-checkout")
    assert change.actor == "anonymous"
    ramped = await client.post(
        "/flags/production/new-checkout/rollout", content="percent=25.5", headers=FORM
    )
    assert ramped.status_code == 303
    assert ramped.headers["location"] == "/flags?env=production&done=1"
    page = await client.get(ramped.headers["location"])
    assert "killed: off to everyone (revived: 25.5% get on, the rest off)" in text(page.text)
    assert "Saved." in page.text


async def test_flag_mistakes_are_shown_on_the_flags_page(
    client: httpx.AsyncClient, observing: str
) -> None:
    bad = await client.post(
        "/flags/production/new-checkout/rollout", content="percent=150", headers=FORM
    )
    assert bad.status_code == 422
    assert "new-checkout was not changed" in bad.text and "between 0 and 100" in bad.text
    missing = await client.post("/flags/production/old-checkout/kill", headers=FORM)
    assert missing.status_code == 404
    assert "There is no flag old-checkout in production." in missing.text


async def test_no_dashboard_route_is_in_the_api_document(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
        paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if not p.startswith(("/api/", "/healthz", "/metrics"))]


async def test_time_left_follows_the_clock(
    client: httpx.AsyncClient, observing: str, clock: FakeClock
) -> None:
    clock.advance(45)
    page = await client.get(f"/rollouts/{observing}")
    assert 'data-countdown="15"' in page.text


async def test_verbs_given_elsewhere_show_in_the_event_log_with_who_gave_them(
    client: httpx.AsyncClient, observing: str, store: Store
) -> None:
    send_verb(store, observing, "pause", "carol", "checking dashboards")
    page = await client.get(f"/rollouts/{observing}")
    log = re.search(r'<tbody>\s*<tr class="waiting">(.*?)</tr>', page.text, re.S)
    assert log is not None  # the newest event comes first
    assert text(log.group(1)).endswith(
        "carol pause carol asked to pause the rollout: checking dashboards"
    )


async def test_a_plans_own_words_are_shown_as_text_everywhere(
    client: httpx.AsyncClient, store: Store, tmp_path: Path
) -> None:
    sneaky = "<img src=x onerror=alert(1)> *new* checkout"
    plan = (
        write_world(tmp_path).read_text().replace("Ramp the new checkout behind its flag.", sneaky)
    )
    rollout = start_rollout(store, plan, "2.0<b>", "mallory")
    for path in ("/", f"/rollouts/{rollout.id}", f"/rollouts/{rollout.id}/document"):
        page = await client.get(path)
        assert page.status_code == 200
        assert "<img" not in page.text and "<b>" not in page.text
    document = await client.get(f"/rollouts/{rollout.id}/document")
    assert "&lt;img src=x onerror=alert(1)&gt; <em>new</em> checkout" in document.text
