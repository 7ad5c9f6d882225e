"""``/metrics`` after real rollouts: rollouts by status, transitions, stages, rollbacks and
decisions read from the store, telemetry rows and flag config versions."""

from __future__ import annotations

import httpx
from api_support import FakeClock, bearer, plan, tick_until
from prometheus_client.parser import text_string_to_metric_families

from rollout.engine.controller import Controller, send_verb, start_rollout
from rollout.server._api_roles import Role
from rollout.store import Store

TELEMETRY = {
    "sdk": {"name": "python", "version": "1", "instance": "i-1"},
    "environment": "production",
    "window_start": 1_800_000_000,
    "window_end": 1_800_000_010,
    "arms": [
        {"flag": "new-checkout", "variant": "on", "requests": 10, "errors": 1},
        {"flag": "new-checkout", "variant": "off", "requests": 90, "errors": 0},
    ],
}


def scrape(http: httpx.Client, secret: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = http.get("/metrics", headers=bearer(secret))
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def transitions(store: Store, rollout_ids: list[str]) -> list[tuple[str, str]]:
    return [
        (e.data["from"], e.data["to"])
        for rid in rollout_ids
        for e in store.list_events(rid)
        if e.kind == "rollout.state"
    ]


def test_metrics_after_a_rollout_that_succeeded_and_one_that_was_aborted(
    http: httpx.Client,
    tokens: dict[Role, str],
    store: Store,
    controller: Controller,
    clock: FakeClock,
) -> None:
    scraper = tokens[Role.TELEMETRY]
    empty = scrape(http, scraper)
    assert empty[("rollout_rollouts", (("status", "succeeded"),))] == 0
    assert empty[("rollout_rollbacks_total", ())] == 0

    done = start_rollout(store, plan("done"), None, "alice").id
    tick_until(controller, clock, store, done, "succeeded")
    aborted = start_rollout(store, plan("aborted"), None, "alice").id
    tick_until(controller, clock, store, aborted, "observing")
    middle = scrape(http, scraper)  # counted once here, then only what is new
    send_verb(store, aborted, "abort", "alice")
    tick_until(controller, clock, store, aborted, "rolled_back")
    assert (
        http.post("/api/v1/telemetry", json=TELEMETRY, headers=bearer(tokens[Role.SDK])).status_code
        == 202
    )

    after = scrape(http, scraper)
    assert after[("rollout_rollouts", (("status", "succeeded"),))] == 1
    assert after[("rollout_rollouts", (("status", "rolled_back"),))] == 1
    assert after[("rollout_rollouts", (("status", "observing"),))] == 0
    moves = transitions(store, [done, aborted])
    for before, to in set(moves):
        key = ("rollout_state_transitions_total", (("from", before), ("to", to)))
        assert after[key] == moves.count((before, to)), (before, to)
    assert after[("rollout_stages_started_total", ())] == [to for _, to in moves].count("ramping")
    assert after[("rollout_stages_started_total", ())] >= 3  # two stages, then one
    assert after[("rollout_rollbacks_total", ())] == 1
    assert middle[("rollout_rollbacks_total", ())] == 0
    reasons = [e for rid in (done, aborted) for e in store.list_events(rid)]
    decisions = sum(1 for e in reasons if e.kind == "rollout.reason")
    assert after[("rollout_decisions_total", ())] == decisions
    assert after[("rollout_telemetry_rows_total", ())] == 2
    flag_version = store.config_version("production")
    assert flag_version > 0  # the controller ramped the flag
    key = ("rollout_flag_config_version", (("environment", "production"),))
    assert after[key] == flag_version
