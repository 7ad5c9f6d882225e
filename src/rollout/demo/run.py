"""Running the demo: the server, the shop, the shoppers, and two rollouts of one plan.

:class:`Demo` sets up, on this machine only (everything on 127.0.0.1):

1. a fresh SQLite store in the work folder, and the Rollout server over it (API, SSE,
   telemetry intake, dashboard) with the rollout controller inside it, under uvicorn on a
   free port; authentication is off (one person, their own machine, loopback only);
2. for each phase, the sample shop in a process of its own (:mod:`rollout.demo.shop`) shipping
   that phase's release behind ``new-checkout``, and synthetic shoppers
   (:mod:`rollout.demo.traffic`) visiting it for as long as the phase lasts;
3. the rollout of the demo plan at that release, started like ``rollout start`` does and then
   left entirely to the controller: it ramps the flag, judges the stages on the shop's
   telemetry and rolls back, or not, by itself.

Phase 1 ships ``2.0.0-bad`` (more failed checkouts, a slower p99, fewer orders) and must end
``rolled_back``; phase 2 ships ``2.0.1`` (as good as the current checkout or a little better)
and must end ``succeeded``. Nothing in the demo knows which verdict is coming: the phases
differ only in the shop's code.

The environment variables the demo plan reads (``ROLLOUT_DEMO_SHOP``, ``ROLLOUT_DEMO_PYTHON``,
``ROLLOUT_DEMO_INBOX``) are set in this process for the controller's metric command and
notifications. Logs of the server, the controller and the shop go to files in the work folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from rollout.demo.behaviour import Quality
from rollout.demo.conversions import SHOP_ENV
from rollout.demo.inbox import Inbox, mount_inbox
from rollout.demo.pace import Pace, paced_plan
from rollout.demo.report import ArmTelemetry, DemoReport, Phase, PhaseResult
from rollout.demo.shop import CURRENT_RELEASE, FLAG
from rollout.demo.shop_process import ShopProcess, ShopUnavailable
from rollout.demo.traffic import TrafficGenerator, TrafficSettings, TrafficSummary
from rollout.demo.view import Snapshot, Watcher
from rollout.engine.controller import (
    RolloutView,
    attach_to_server,
    rollout_progress,
    rollout_status,
    send_verb,
    start_rollout,
)
from rollout.engine.runner import load_stored
from rollout.errors import EngineError, NotFound, RolloutError, TrafficError
from rollout.flags import Flag
from rollout.plan.model import Plan
from rollout.plan.render import render_document
from rollout.providers.traffic.flag import live_percent
from rollout.server.app import create_app
from rollout.server.run import BackgroundServer
from rollout.store import EventRecord, RolloutStatus, Store, open_store

__all__ = [
    "BAD_RELEASE",
    "DEMO_ACTOR",
    "ENVIRONMENT",
    "GOOD_RELEASE",
    "PHASES",
    "Demo",
    "DemoSettings",
]

DEMO_ACTOR = "demo"
ENVIRONMENT = "production"
BAD_RELEASE = "2.0.0-bad"
GOOD_RELEASE = "2.0.1"
PHASES = (
    Phase(1, "a bad release", BAD_RELEASE, Quality.BAD, "rolled_back"),
    Phase(2, "a good release", GOOD_RELEASE, Quality.GOOD, "succeeded"),
)
PYTHON_ENV = "ROLLOUT_DEMO_PYTHON"
INBOX_ENV = "ROLLOUT_DEMO_INBOX"
_DEMO_VARIABLES = (PYTHON_ENV, INBOX_ENV, SHOP_ENV)
LINGER_SECONDS = 1.0
"""Shoppers keep shopping this long after a rollout ends (they meet the outcome)."""


@dataclass(frozen=True)
class DemoSettings:
    """``plan_path``: the demo plan; ``workdir``: where the database and logs go (None: a
    temporary folder, removed afterwards); ``seed``: the randomness of the shop and shoppers;
    ``refresh``: seconds between snapshots shown."""

    plan_path: Path
    pace: Pace
    seed: int = 1
    workdir: Path | None = None
    refresh: float = 0.25


def _phase_budget(plan: Plan) -> float:
    """Seconds a phase may take before the demo calls it stuck: every stage and validation
    holding to their limit for want of data (twice their time, at least two intervals more),
    plus a minute for starting and rolling back."""
    interval = plan.monitoring.interval
    windows = [stage.duration for stage in plan.stages] + [plan.validation.window]
    return sum(w + max(w, 2.0 * interval) for w in windows) + 60.0


@contextlib.contextmanager
def _logs_to(path: Path) -> Iterator[None]:
    """Send every log record of this process to ``path`` while the demo runs (a live view
    and stray log lines do not mix)."""
    root = logging.getLogger()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    saved = root.level, root.handlers[:]
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.handlers[:] = saved[1]
        root.setLevel(saved[0])
        handler.close()


class Demo:
    """The whole demo. Use it as a context manager (it starts the server on entry and stops
    everything on exit); :meth:`run` carries out the phases and returns the report::

        with Demo(settings, watcher) as demo:
            report = demo.run()
            show(report)
            demo.serve_until_interrupted()     # --keep-running: browse the dashboard
    """

    def __init__(self, settings: DemoSettings, watcher: Watcher) -> None:
        self.settings = settings
        self.watcher = watcher
        self.inbox = Inbox()
        self.plan_text, self.plan = paced_plan(
            settings.plan_path.read_text(encoding="utf-8"),
            settings.pace,
            str(settings.plan_path),
        )
        self.dashboard_url = ""
        self.workdir = settings.workdir
        self._stack = contextlib.ExitStack()
        self._store: Store | None = None
        self._server: BackgroundServer | None = None

    def __enter__(self) -> Demo:
        stack = self._stack
        try:
            workdir = self.settings.workdir
            if workdir is None:
                workdir = Path(
                    stack.enter_context(tempfile.TemporaryDirectory(prefix="rollout-demo-"))
                )
            workdir.mkdir(parents=True, exist_ok=True)
            self.workdir = workdir
            stack.enter_context(_logs_to(workdir / "demo.log"))
            self._start_server(workdir, stack)
        except BaseException:
            stack.close()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stack.close()

    def run(self) -> DemoReport:
        """Both phases, then the report."""
        workdir = self.workdir
        assert workdir is not None, "enter the demo first (with Demo(...) as demo)"
        self.watcher.note(f"Rollout server and dashboard: {self.dashboard_url}")
        self.watcher.note(f"Work folder (database, logs): {workdir}")
        results = []
        shop = self._shop(PHASES[0], workdir)
        for index, phase in enumerate(PHASES):
            following = PHASES[index + 1] if index + 1 < len(PHASES) else None
            # The next phase's shop starts up while this phase winds down.
            nxt = self._shop(following, workdir) if following is not None else None
            try:
                result = self._phase(phase, shop, nxt)
            except BaseException:
                if nxt is not None:
                    nxt.stop()
                raise
            self.watcher.phase_ended(result)
            results.append(result)
            if nxt is not None:
                shop = nxt
        return DemoReport(
            tuple(results), self._document(results), self.dashboard_url, self.inbox.messages()
        )

    def serve_until_interrupted(self) -> None:
        """Keep the server (and its dashboard) up until Ctrl-C."""
        self.watcher.note(
            f"The server keeps running for the dashboard at {self.dashboard_url} — Ctrl-C to stop."
        )
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(1.0)

    # ------------------------------------------------------------------ setting up

    def _start_server(self, workdir: Path, stack: contextlib.ExitStack) -> None:
        database = workdir / "rollout.db"
        for stale in workdir.glob("rollout.db*"):
            stale.unlink()  # a fresh database each run: the demo tells one story
        store = open_store(f"sqlite:///{database}")
        stack.callback(store.close)
        self._store = store
        # Loopback only, one person: no API tokens (the SDK and the dashboard need none).
        app = create_app(store, auth=False)
        mount_inbox(app, self.inbox)
        attach_to_server(
            app.state.rollout,
            interval=self.settings.pace.controller_interval,
            owner="demo-controller",
        )
        server = BackgroundServer(app, host="127.0.0.1").start()
        stack.callback(server.stop)
        self._server = server
        address = server.url.removeprefix("http://")
        stack.callback(_restore_environment, {n: os.environ.get(n) for n in _DEMO_VARIABLES})
        os.environ[PYTHON_ENV] = sys.executable
        os.environ[INBOX_ENV] = address
        self.dashboard_url = server.url + ("/" if _has_dashboard(server.url) else "/docs")

    @property
    def store(self) -> Store:
        assert self._store is not None, "the demo has not started"
        return self._store

    @property
    def server_url(self) -> str:
        assert self._server is not None, "the demo has not started"
        return self._server.url

    # ------------------------------------------------------------------ one phase

    def _shop(self, phase: Phase, workdir: Path) -> ShopProcess:
        return ShopProcess(
            release=phase.release,
            quality=phase.quality,
            server_url=self.server_url,
            seed=self.settings.seed * 100 + phase.number,
            workdir=workdir,
            environment=ENVIRONMENT,
        )

    def _phase(self, phase: Phase, shop: ShopProcess, nxt: ShopProcess | None) -> PhaseResult:
        """One phase on ``shop`` (launched); ``nxt`` is launched once the rollout has ended."""
        began = time.time()
        try:
            if not shop.started:
                shop.launch()
            shop.wait_ready()
        except ShopUnavailable as exc:
            shop.stop()
            return self._result(phase, "", began, _empty_traffic(began), problem=str(exc))
        os.environ[SHOP_ENV] = shop.address
        pace = self.settings.pace
        traffic = TrafficGenerator(
            shop.url,
            TrafficSettings(pace.rate, pace.users, seed=self.settings.seed * 100 + phase.number),
        )
        rollout_id = ""
        problem = ""
        try:
            traffic.start()
            self._show(phase, began, None, (), traffic.summary())
            time.sleep(0.5)  # shoppers are already shopping when the rollout starts
            record = start_rollout(
                self.store,
                self.plan_text,
                phase.release,
                DEMO_ACTOR,
                base_dir=self.settings.plan_path.resolve().parent,
            )
            rollout_id = record.id
            problem = self._follow(phase, rollout_id, began, traffic, nxt)
        except RolloutError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        finally:
            summary = traffic.stop()
            shop.stop()
        return self._result(phase, rollout_id, began, summary, problem=problem)

    def _follow(
        self,
        phase: Phase,
        rollout_id: str,
        began: float,
        traffic: TrafficGenerator,
        nxt: ShopProcess | None,
    ) -> str:
        """Show the rollout until it has ended (and :data:`LINGER_SECONDS` more, while the
        shoppers meet the outcome, and ``nxt`` starts up); a problem in words if it does not
        end in time."""
        budget = _phase_budget(self.plan)
        deadline = time.monotonic() + budget
        seen = 0
        ended: float | None = None
        problem = ""
        while True:
            events = self.store.list_events(rollout_id, after_seq=seen)
            if events:
                seen = events[-1].seq
            view = rollout_status(self.store, rollout_id)
            self._show(phase, began, view, tuple(events), traffic.summary())
            now = time.monotonic()
            if ended is None and RolloutStatus(view.status).terminal:
                ended = now
            elif ended is None and now > deadline:
                problem = self._give_up(rollout_id, budget)
                ended = time.monotonic()
            if ended is not None and nxt is not None and not nxt.started:
                with contextlib.suppress(ShopUnavailable):
                    nxt.launch()  # a failure to start shows when its phase waits for it
            if ended is not None and now - ended >= LINGER_SECONDS:
                return problem
            time.sleep(self.settings.refresh)

    def _give_up(self, rollout_id: str, budget: float) -> str:
        with contextlib.suppress(EngineError):
            send_verb(self.store, rollout_id, "abort", DEMO_ACTOR, "the demo ran out of time")
        end = time.monotonic() + 30.0
        while time.monotonic() < end and not self.store.get_rollout(rollout_id).terminal:
            time.sleep(0.5)
        return f"the rollout had not ended after {budget:.0f} s, so the demo aborted it"

    def _show(
        self,
        phase: Phase,
        began: float,
        view: RolloutView | None,
        events: tuple[EventRecord, ...],
        traffic: TrafficSummary,
    ) -> None:
        self.watcher.show(
            Snapshot(
                phase=phase,
                phases=len(PHASES),
                elapsed=time.time() - began,
                dashboard_url=self.dashboard_url,
                view=view,
                new_events=events,
                traffic=traffic,
                current_release=CURRENT_RELEASE,
                notifications=self.inbox.messages(),
                flag_percent=self._flag_percent(),
            )
        )

    def _flag_percent(self) -> float | None:
        """The share of shoppers the flag serves the new checkout, as stored now."""
        try:
            record = self.store.get_flag(ENVIRONMENT, FLAG)
            return live_percent(Flag.model_validate(record.definition))
        except (NotFound, ValueError, TrafficError):
            return None

    # ------------------------------------------------------------------ results

    def _result(
        self,
        phase: Phase,
        rollout_id: str,
        began: float,
        traffic: TrafficSummary,
        *,
        problem: str = "",
    ) -> PhaseResult:
        ended = time.time()
        status = reason = cause = ""
        decided = finished = None
        if rollout_id:
            stored = load_stored(self.store.get_rollout(rollout_id))
            status = stored.record.status.value
            if stored.engine is not None:
                reason, cause = stored.engine.reason, stored.engine.rollback_trigger
            decided, finished = _moments(self.store.list_events(rollout_id))
        return PhaseResult(
            phase=phase,
            rollout_id=rollout_id,
            status=status,
            reason=reason,
            cause=cause,
            started_at=began,
            ended_at=ended,
            decided_at=decided,
            finished_at=finished,
            traffic=traffic,
            current_release=CURRENT_RELEASE,
            telemetry=self._telemetry(began, ended) if rollout_id else (),
            problem=problem,
        )

    def _telemetry(self, since: float, until: float) -> tuple[ArmTelemetry, ...]:
        rows = self.store.query_telemetry(
            ENVIRONMENT,
            FLAG,
            datetime.fromtimestamp(since, UTC),
            datetime.fromtimestamp(until + 5, UTC),
        )
        arms: dict[str, ArmTelemetry] = {}
        for row in rows:
            arm = arms.get(row.variant, ArmTelemetry(row.variant))
            arms[row.variant] = ArmTelemetry(
                row.variant, arm.requests + row.requests, arm.errors + row.errors
            )
        return tuple(arms[v] for v in sorted(arms))

    def _document(self, results: list[PhaseResult]) -> str:
        """The rollout document of the last phase that succeeded (else of the last one)."""
        chosen = [r for r in results if r.status == "succeeded"] or [
            r for r in results if r.rollout_id
        ]
        if not chosen:
            return ""
        rollout_id = chosen[-1].rollout_id
        stored = load_stored(self.store.get_rollout(rollout_id))
        return render_document(stored.plan, rollout_progress(self.store, rollout_id))


def _restore_environment(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _moments(events: list[EventRecord]) -> tuple[float | None, float | None]:
    """When the rollout started rolling back (or succeeded), and when it ended."""
    decided = finished = None
    for event in events:
        if event.kind != "rollout.state":
            continue
        to = event.data.get("to")
        at = event.at.timestamp()
        if to in ("rolling_back", "succeeded") and decided is None:
            decided = at
        if to in ("rolled_back", "succeeded", "rollback_failed", "failed"):
            finished = at
    return decided, finished


def _empty_traffic(at: float) -> TrafficSummary:
    return TrafficSummary(at, at, 0, 0, 0, 0, frozenset())


def _has_dashboard(url: str) -> bool:
    """Whether the server at ``url`` serves the dashboard (else its API docs are shown)."""
    try:
        return httpx.get(url + "/", timeout=5.0).status_code == 200
    except httpx.HTTPError:
        return False
