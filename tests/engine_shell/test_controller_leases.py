"""Leases between controllers on one database, graceful stops, and the controller inside the
server writing flags through the server's write path."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from shell_plans import FakeClock, canary, drive, feature_flag, ledger, write_plan

from rollout.engine.controller import (
    BackgroundController,
    Controller,
    TickReport,
    attach_to_server,
    start_rollout,
)
from rollout.server.app import create_app
from rollout.server.run import BackgroundServer
from rollout.store import Store, open_store


def test_only_the_lease_holder_acts_and_another_takes_over_when_it_expires(
    work: Path, store: Store, clock: FakeClock, make_controller: Callable[..., Controller]
) -> None:
    rid = start_rollout(store, write_plan(work, feature_flag()), None, "alice").id
    first, second = make_controller("first"), make_controller("second")
    first.run_once()
    assert store.get_rollout(rid).lease_owner == "first"
    assert second.run_once() == []  # held: the second controller leaves it alone
    clock.advance(29)
    assert second.run_once() == []

    clock.advance(2)  # the first controller went quiet for longer than its lease
    reports = second.run_once()
    assert [r.rollout_id for r in reports] == [rid]
    assert store.get_rollout(rid).lease_owner == "second"
    assert first.run_once() == []

    assert drive(second, clock, store, rid) == "succeeded"
    actors = {e.actor for e in store.list_events(rid) if e.kind.startswith(("action.", "rollout."))}
    assert actors == {"alice", "first", "second"}


def test_a_controller_that_lost_its_lease_stops_acting_at_once(
    work: Path, store: Store, clock: FakeClock, make_controller: Callable[..., Controller]
) -> None:
    rid = start_rollout(store, write_plan(work, canary()), None, "alice").id
    slow = make_controller("slow")
    store.acquire_lease(rid, "slow", 30)
    clock.advance(31)
    store.acquire_lease(rid, "fast", 30)  # the lease expired and another controller took it

    report = slow.runner.tick(rid)

    assert report.stopped == f"slow no longer holds the lease on rollout {rid}"
    assert report.saves == 0 and report.actions == ()
    assert ledger(work) == []
    assert store.get_rollout(rid).revision == 1


SLOW_DEPLOY = """\
#!/bin/sh
touch deploying
while [ ! -e go ]; do sleep 0.05; done
"""


def test_a_long_action_keeps_its_lease(tmp_path: Path, work: Path) -> None:
    (work / "slow.sh").write_text(SLOW_DEPLOY)
    (work / "slow.sh").chmod(0o755)
    text = canary().replace(
        "deploy: {run: ./ledger.sh deploy}\n    staged: false",
        "deploy: {run: ./slow.sh}\n    staged: false",
    )
    with open_store(f"sqlite:///{tmp_path / 'real.db'}") as store:  # real time: leases expire
        rid = start_rollout(store, write_plan(work, text), None, "alice").id
        holder = Controller(store, owner="holder", lease_ttl=1.0)
        thread = threading.Thread(target=holder.run_once)
        thread.start()
        deadline = time.monotonic() + 30
        while not (work / "deploying").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(2.5)  # well past the 1 s lease: only renewals keep it
        taken = store.acquire_lease(rid, "intruder", 1.0)
        (work / "go").touch()
        thread.join(30)
        assert taken == []
        assert store.get_action(f"{rid}:staging/deploy:1").status.value == "done"


def test_a_background_controller_stops_after_the_tick_in_hand(
    work: Path, store: Store, clock: FakeClock
) -> None:
    rid = start_rollout(store, write_plan(work, feature_flag()), None, "alice").id
    background = BackgroundController(Controller(store, owner="bg", clock=clock), interval=0.01)
    background.start()
    deadline = time.monotonic() + 30
    while store.get_rollout(rid).status.value != "observing" and time.monotonic() < deadline:
        time.sleep(0.02)
    background.stop(timeout=30)
    assert background._thread is not None and not background._thread.is_alive()
    assert store.get_rollout(rid).lease_owner is None  # given back on the way out


def test_inside_the_server_a_ramp_reaches_sse_clients_through_the_flag_service(
    work: Path, store: Store, clock: FakeClock
) -> None:
    # poll_seconds=0: the stream only hears of changes made through the server's write path.
    app = create_app(store, poll_seconds=0, auth=False)
    attach_to_server(app.state.rollout, interval=0.02, clock=clock, owner="in-server")
    with BackgroundServer(app) as server:
        seen: list[float] = []
        with httpx.stream(
            "GET", f"{server.url}/api/v1/environments/production/stream", timeout=30
        ) as response:
            start_rollout(store, write_plan(work, feature_flag()), None, "alice")
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                for flag in json.loads(line[len("data: ") :])["flags"]:
                    seen.append(flag["fallthrough"]["rollout"]["percent"])
                if seen:
                    break
    assert seen == [20.0]


class CountingController(Controller):
    """A controller that says when it has done a round."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.rounds = 0
        self.round_done = threading.Event()
        self.started: list[float] = []  # time.monotonic() at the start of each round

    def run_once(self, now: float | None = None) -> list[TickReport]:
        self.started.append(time.monotonic())
        reports = super().run_once(now)
        self.rounds += 1
        self.round_done.set()
        return reports


def test_a_telemetry_batch_wakes_the_controller_inside_the_server(
    store: Store, clock: FakeClock
) -> None:
    """Triggers are judged as the data lands: a stored batch starts a round at once, although
    the controller's own interval is an hour."""
    app = create_app(store, poll_seconds=0, auth=False)
    background = BackgroundController(CountingController(store, owner="woken", clock=clock), 3600)
    app.state.rollout.on_telemetry.append(background.controller.wake)
    controller = background.controller
    assert isinstance(controller, CountingController)
    with BackgroundServer(app) as server:
        background.start()
        assert controller.round_done.wait(30), "the first round never ran"
        controller.round_done.clear()
        assert controller.rounds == 1
        body = {
            "sdk": {"name": "rollout-python", "version": "0.1.0", "instance": "i-1"},
            "environment": "production",
            "window_start": clock.now - 5,
            "window_end": clock.now,
            "arms": [{"flag": "checkout", "variant": "on", "requests": 5, "errors": 1}],
        }
        response = httpx.post(f"{server.url}/api/v1/telemetry", json=body, timeout=30)
        assert response.status_code == 202
        woke = controller.round_done.wait(30)
        background.stop(timeout=30)
    assert woke, "the stored batch did not wake the controller"
    assert controller.rounds == 2


def test_wakes_start_rounds_at_most_once_per_minimum_gap(store: Store, clock: FakeClock) -> None:
    """Many SDKs report every second: however often the controller is woken, its rounds
    start at least ``min_gap`` apart."""
    gap = 0.2
    controller = CountingController(store, owner="coalesced", clock=clock)
    thread = threading.Thread(
        target=lambda: controller.run_forever(3600, handle_signals=False, min_gap=gap)
    )
    thread.start()
    deadline = time.monotonic() + 30
    while controller.rounds < 4 and time.monotonic() < deadline:
        controller.wake()  # a wake-up far more often than the gap allows rounds
        time.sleep(0.001)
    controller.stop()
    thread.join(30)
    assert controller.rounds >= 4, "wake-ups did not start rounds"
    spacing = [b - a for a, b in zip(controller.started, controller.started[1:], strict=False)]
    assert min(spacing) >= gap * 0.99, spacing


def test_stopping_ends_the_wait_for_the_minimum_gap(store: Store, clock: FakeClock) -> None:
    controller = CountingController(store, owner="gapped", clock=clock)
    thread = threading.Thread(
        target=lambda: controller.run_forever(3600, handle_signals=False, min_gap=3600)
    )
    thread.start()
    assert controller.round_done.wait(30)
    controller.wake()  # the next round may not start for an hour
    controller.stop()
    thread.join(30)
    assert not thread.is_alive()
    assert controller.rounds == 1
