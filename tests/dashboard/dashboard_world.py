"""A small world for the dashboard tests: a plan whose stages are judged on a command metric
source, a fake clock shared by the store and the controller, and helpers that drive a rollout
with the real controller to the state a test needs.

``metrics.sh`` answers 1,000 requests per arm and interval; the canary fails 0.5 % of them
(as the control does), or 10 % while a file ``bad`` exists in the work folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI

from rollout.engine.controller import Controller
from rollout.providers.notify import AppriseNotifier
from rollout.server.app import create_app
from rollout.store import Store

START = 1_800_000_000.0

METRICS_SH = """\
#!/bin/sh
# The command metric source's answer for [ROLLOUT_START, ROLLOUT_END) in ROLLOUT_STEP steps.
if [ -e bad ]; then errors=100; else errors=5; fi
exec awk -v start="$ROLLOUT_START" -v end="$ROLLOUT_END" -v step="$ROLLOUT_STEP" \\
    -v errors="$errors" 'BEGIN {
  printf "{\\"intervals\\": ["; sep = ""
  for (t = start; t + step <= end + 1e-9; t += step) {
    printf "%s{\\"start\\": %.3f, \\"end\\": %.3f, ", sep, t, t + step
    printf "\\"canary\\": {\\"requests\\": 1000, \\"errors\\": %d}, ", errors
    printf "\\"control\\": {\\"requests\\": 1000, \\"errors\\": 5}}"
    sep = ", "
  }
  print "]}"
}'
"""

PLAN = """\
name: {name}
overview: {{summary: Ramp the new checkout behind its flag., version: "2.0"}}
checklist:
  - item: Rollback plan documented
    rollback: documented
strategy: {{type: feature-flag, flag: new-checkout}}
environments:
  - name: staging
  - name: production
    approval: {{required: true}}
flags:
  - key: new-checkout
    rollout: 100%
stages:
  - name: Canary
    audience: 10%
    duration: {duration}
    success: [error_rate < 2%]
  - name: Everyone
    audience: 100%
    duration: {duration}
    success: [error_rate < 2%]
monitoring:
  interval: {interval}
  source: {{type: command, run: ./metrics.sh}}
rollback:
  - flag: {{key: new-checkout, percent: 0}}
validation:
  window: {duration}
"""


def plan_text(name: str = "checkout", duration: str = "2m", interval: str = "30s") -> str:
    return PLAN.format(name=name, duration=duration, interval=interval)


def write_world(folder: Path, **plan: str) -> Path:
    """The metric script and ``plan.yaml`` in ``folder``; returns the plan's path."""
    script = folder / "metrics.sh"
    script.write_text(METRICS_SH)
    script.chmod(0o755)
    path = folder / "plan.yaml"
    path.write_text(plan_text(**plan))
    return path


@dataclass
class FakeClock:
    """Seconds since the epoch that move only when told; ``moment()`` for the store."""

    now: float = START

    def __call__(self) -> float:
        return self.now

    def moment(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)

    def advance(self, seconds: float) -> None:
        self.now += seconds


def quiet_notifier() -> AppriseNotifier:
    """One attempt per message and no waiting (the plan names no channel anyway)."""
    return AppriseNotifier(attempts=1, sleep=lambda _s: None, timeout=5.0)


def make_app(store: Store, clock: Callable[[], float], *, auth: bool = False) -> FastAPI:
    """The server's app over ``store``; its dashboard reads time from ``clock``."""
    app = create_app(store, auth=auth)
    app.state.dashboard.clock = clock
    return app


def make_controller(store: Store, clock: FakeClock) -> Controller:
    return Controller(store, owner="controller-1", clock=clock, notifier=quiet_notifier())


def drive_until(
    controller: Controller,
    clock: FakeClock,
    store: Store,
    rollout_id: str,
    done: Callable[[str], bool],
    *,
    step: float = 30.0,
    ticks: int = 40,
) -> str:
    """Tick (advancing the clock ``step`` seconds between ticks) until ``done(status)``."""
    for _ in range(ticks):
        controller.run_once()
        status = store.get_rollout(rollout_id).status.value
        if done(status):
            return status
        clock.advance(step)
    raise AssertionError(f"{rollout_id} never got there; it is {status}")
