"""What the demo shows while it runs: the live screen and the plain log."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console

from rollout.demo.behaviour import Quality
from rollout.demo.inbox import Message
from rollout.demo.report import Phase
from rollout.demo.traffic import ReleaseTally, TrafficSummary
from rollout.demo.view import LiveView, LogView, Snapshot
from rollout.engine.controller import RolloutView
from rollout.engine.runner import CriterionView
from rollout.store import EventRecord

PHASE = Phase(1, "a bad release", "2.0.0-bad", Quality.BAD, "rolled_back")
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _event(seq: int, kind: str, message: str) -> EventRecord:
    return EventRecord(seq, "ro_1", "ro_1", seq, NOW, "ctl", kind, message, {}, "0" * 64, "1" * 64)


def _snapshot(events: tuple[EventRecord, ...]) -> Snapshot:
    view = RolloutView(
        id="ro_1",
        name="demo-checkout",
        version="2.0.0-bad",
        status="observing",
        reason="stage 1 (Canary) of production: 10% of traffic on 2.0.0-bad; baking for 20s",
        created_by="demo",
        created_at=NOW,
        updated_at=NOW,
        environment="production",
        environment_number=1,
        environment_count=1,
        stage="Canary",
        stage_number=1,
        stage_count=3,
        audience_percent=10.0,
        time_left=12.0,
        waiting_for="bake",
        criteria=(
            CriterionView(
                "latency_p99 > control * 1.5", "rollback", "inconclusive", "not enough data", 412.0,
                "412 ms",
            ),
        ),
        judged_at=None,
        hold=None,
        metrics_problem="",
        controller="demo-controller",
        last_events=(),
    )  # fmt: skip
    traffic = TrafficSummary(
        started_at=0.0,
        ended_at=10.0,
        visits=10,
        skipped_visits=0,
        requests=2000,
        transport_errors=0,
        users=frozenset({"u1", "u2", "u3"}),
        releases={"2.0.0-bad": ReleaseTally("2.0.0-bad", 100, 5, 1, 20, frozenset({"u1"}))},
    )
    return Snapshot(
        phase=PHASE,
        phases=2,
        elapsed=9.5,
        dashboard_url="http://127.0.0.1:1/",
        view=view,
        new_events=events,
        traffic=traffic,
        current_release="1.4.2",
        notifications=(Message(0.0, "", "Demo checkout rolled back"),),
        flag_percent=10.0,
    )


def test_the_live_screen_shows_stage_flag_criteria_events_and_traffic() -> None:
    out = io.StringIO()
    view = LiveView(Console(file=out, width=160, force_terminal=False))
    events = (
        _event(1, "action.intent", "about to set_traffic"),
        _event(2, "rollout.reason", "stage 1 began"),
    )
    view.show(_snapshot(events))
    view.close()
    screen = out.getvalue()
    for shown in (
        "Phase 1 of 2: a bad release — release 2.0.0-bad",
        "Canary (1 of 3)",
        "new-checkout serves 2.0.0-bad to 10% of shoppers",
        "latency_p99 > control * 1.5",
        "412 ms",
        "stage 1 began",
        "2.0.0-bad: 1 shoppers, 100 answers, 5 errors (5.0%)",
        "Demo checkout rolled back",
        "http://127.0.0.1:1/",
    ):
        assert shown in screen, screen
    assert "about to set_traffic" not in screen  # each action's bookkeeping is left out


def test_the_plain_log_prints_each_event_once() -> None:
    out = io.StringIO()
    view = LogView(Console(file=out, width=200), every=3600)
    events = (_event(1, "rollout.reason", "stage 1 began"), _event(2, "action.done", "done"))
    view.show(_snapshot(events))
    view.show(_snapshot(()))
    lines = out.getvalue().splitlines()
    assert sum("stage 1 began" in line for line in lines) == 1
    assert sum("rollout ro_1 is observing, flag at 10%" in line for line in lines) == 1
    assert not any(line.endswith(" done") for line in lines)
