"""End to end in real headless Chromium: a server with its controller in one process, a
rollout started through the API, watched advancing on pages that update themselves, approved
with a click, and seen to succeed.

Screenshots land in ``test-artifacts/dashboard/`` (git-ignored) for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dashboard_world import plan_text, write_world

from rollout.engine.controller import attach_to_server
from rollout.server.app import create_app
from rollout.server.run import BackgroundServer
from rollout.store import Store, open_store

pytestmark = [pytest.mark.chromium, pytest.mark.slow]

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
WAIT_MS = 30_000
"""The longest any one thing may take to show up (the whole plan runs in about 15 s)."""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:  # the real clock, unlike the other tests
    with open_store(f"sqlite:///{tmp_path / 'rollout.db'}") as opened:
        yield opened


@pytest.fixture
def server(store: Store) -> Iterator[BackgroundServer]:
    """The server as ``rollout server`` runs it: tokens required, controller inside."""
    app = create_app(store, auth=True)
    attach_to_server(app.state.rollout, interval=0.25)
    app.state.dashboard.poll_seconds = 0.25
    with BackgroundServer(app) as running:
        yield running


def test_a_rollout_watched_approved_and_finished_in_the_browser(
    chromium: str, server: BackgroundServer, store: Store, tmp_path: Path
) -> None:
    from playwright import sync_api

    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()
    deployer = store.create_token("dana", "deployer").secret
    approver = store.create_token("erin", "approver").secret
    plan = write_world(tmp_path, duration="4s", interval="1s")
    text = plan_text(duration="4s", interval="1s").replace(
        "run: ./metrics.sh", f"run: {plan.parent / 'metrics.sh'}"
    )

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(WAIT_MS)
            expect = sync_api.expect
            expect.set_options(timeout=WAIT_MS)

            page.goto(server.url + "/")
            expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
            page.get_by_label("API token").fill(approver)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Rollouts")).to_be_visible()
            expect(page.get_by_text("No rollouts yet")).to_be_visible()
            expect(page.locator("[data-live-state]")).to_have_text("live")

            started = httpx.post(
                f"{server.url}/api/v1/rollouts",
                json={"plan": text},
                headers={"Authorization": f"Bearer {deployer}"},
                timeout=10,
            )
            assert started.status_code == 201, started.text
            rollout_id = started.json()["id"]

            # The list shows the new rollout by itself, then its progress.
            row = page.locator("tr", has=page.get_by_role("link", name="checkout"))
            expect(row).to_be_visible()
            expect(row.locator(".badge")).to_have_text("awaiting approval")
            page.screenshot(path=SHOTS / "01-list-awaiting-approval.png", full_page=True)

            page.get_by_role("link", name="checkout").click()
            expect(page).to_have_url(f"{server.url}/rollouts/{rollout_id}")
            status = page.locator("[data-status]")
            expect(status).to_have_text("awaiting approval")
            expect(page.get_by_text("production waits for approval")).to_be_visible()
            page.screenshot(path=SHOTS / "02-rollout-awaiting-approval.png", full_page=True)

            page.get_by_label("Comment").fill("checked the staging numbers")
            page.get_by_role("button", name="Approve production").click()
            expect(page.get_by_role("status").filter(has_text="Approval recorded")).to_be_visible()

            # Nothing reloads the page from here on: what changes arrives over SSE.
            expect(status).to_have_text("observing")
            expect(page.locator("svg.chart").first).to_be_visible()
            # A flat line has no height, so it counts as hidden: check it is drawn instead.
            canary = page.locator("svg.chart polyline.canary").first
            expect(canary).to_have_attribute("points", re.compile(r"\d+\.\d,\d+\.\d \d"))
            expect(page.locator(".criterion .badge").first).to_have_text(
                re.compile("inconclusive|pass")
            )
            page.screenshot(path=SHOTS / "03-rollout-observing.png", full_page=True)
            # (clipped from the page: the live update may swap the card in the meantime)
            card = page.locator(".criterion").first.bounding_box()
            assert card is not None
            page.screenshot(path=SHOTS / "03-criterion-chart.png", clip=card, full_page=True)

            expect(status).to_have_text("succeeded", timeout=WAIT_MS * 2)
            expect(page.get_by_text("erin approved production: checked the staging numbers"))
            expect(page.locator(".actions")).to_have_count(0)  # nothing left to do
            page.screenshot(path=SHOTS / "04-rollout-succeeded.png", full_page=True)

            page.get_by_role("link", name="Rollout document").click()
            expect(page.get_by_role("heading", name="Rollout Plan")).to_be_visible()
            page.screenshot(path=SHOTS / "05-document.png", full_page=True)

            page.get_by_role("link", name="Flags").click()
            expect(page.get_by_text("100% get on, the rest off").first).to_be_visible()
            expect(page.get_by_role("button", name="Kill switch")).to_have_count(0)  # approver
            page.screenshot(path=SHOTS / "06-flags.png", full_page=True)
        finally:
            browser.close()

    record = store.get_rollout(rollout_id)
    assert record.status.value == "succeeded"
    approvals = store.list_approvals(rollout_id, "production")
    assert [(a.approver, a.comment) for a in approvals] == [("erin", "checked the staging numbers")]
