"""Plans, a fake clock and helpers for the rollout API tests.

The plans ramp a flag in one environment (no commands to run unless a test adds a gate), so a
controller ticked in the test process moves a rollout through its states in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from rollout.cli import main
from rollout.engine.controller import Controller
from rollout.providers.notify import AppriseNotifier
from rollout.server._api_roles import Role
from rollout.store import Store

START = 1_800_000_000.0

# One token per role; the name is what the audit trail shows.
TOKEN_NAMES = {
    Role.ADMIN: "root",
    Role.DEPLOYER: "dee",
    Role.APPROVER: "abe",
    Role.SDK: "sam",
    Role.TELEMETRY: "tim",
}


def make_tokens(store: Store) -> dict[Role, str]:
    """One token per role, named as ``TOKEN_NAMES`` says; returns their secrets."""
    return {role: store.create_token(name, role.value).secret for role, name in TOKEN_NAMES.items()}


PLAN = """\
name: {name}
overview: {{summary: Ramp a flag in production., version: "2.0"}}
checklist:
  - item: Rollback plan documented
    rollback: documented
{gates}strategy: {{type: feature-flag, flag: new-checkout}}
environments:
  - name: production
    approval: {approval}
flags:
  - key: new-checkout
    rollout: 100%
stages:
  - name: Some
    audience: 20%
    duration: 5m
{success}  - name: All
    audience: 100%
    duration: 5m
{success}rollback:
  - flag: {{key: new-checkout, percent: 0}}
validation:
  window: 5m
{extra}"""

MANUAL_GATE = """\
  - item: Security review
    manual: {role: security}
"""
FAILING_GATE = """\
  - item: Tests pass
    run: "exit 1"
"""


JUDGED = """\
monitoring:
  interval: 1m
  source: {type: command, run: ./metrics.py}
"""

METRICS_PY = """\
#!/usr/bin/env python3
import json, os
start, end, step = (float(os.environ[k]) for k in ("ROLLOUT_START", "ROLLOUT_END", "ROLLOUT_STEP"))
intervals = []
t = start
while t + step <= end + 1e-9:
    intervals.append({
        "start": t, "end": t + step,
        "canary": {"requests": 1000, "errors": 5},
        "control": {"requests": 1000, "errors": 5},
    })
    t += step
print(json.dumps({"intervals": intervals}))
"""


def plan(
    name: str = "shop",
    *,
    approval: str = "false",
    gates: str = "",
    extra: str = "",
    judged: bool = False,
) -> str:
    """A flag-ramp plan; ``approval`` is the environment's approval block (YAML flow);
    ``judged``: each stage needs ``error_rate < 2%`` from ``./metrics.py`` (see
    :func:`write_metrics`: 0.5 % errors in both arms)."""
    success = "    success: [error_rate < 2%]\n" if judged else ""
    extra = extra + (JUDGED if judged else "")
    return PLAN.format(name=name, approval=approval, gates=gates, extra=extra, success=success)


def write_metrics(folder: Path) -> None:
    """Put ``metrics.py`` (the command metric source of judged plans) into ``folder``."""
    path = folder / "metrics.py"
    path.write_text(METRICS_PY)
    path.chmod(0o755)


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


def make_controller(store: Store, clock: FakeClock, app: FastAPI) -> Controller:
    """A controller on the test's clock that writes flags through the app's write path and
    tries each notification once, without waiting."""
    notifier = AppriseNotifier(attempts=1, sleep=lambda _s: None, timeout=5.0)
    service = app.state.rollout.service
    return Controller(store, owner="c1", clock=clock, notifier=notifier, flag_store=service)


def tick_until(
    controller: Controller, clock: FakeClock, store: Store, rollout_id: str, status: str
) -> None:
    """Tick this rollout only (a minute apart) until it is in ``status``; fails after 30."""
    for _ in range(30):
        store.acquire_lease(rollout_id, controller.owner, controller.lease_ttl)
        controller.runner.tick(rollout_id)
        now = store.get_rollout(rollout_id).status.value
        if now == status:
            return
        clock.advance(60)
    raise AssertionError(f"{rollout_id} never reached {status}: it is {now}")


def bearer(secret: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"} if secret else {}


def detail(response: httpx.Response) -> str:
    body = response.json()
    return str(body.get("detail", "")) if isinstance(body, dict) else ""


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``rollout ARGS`` through the console script's entry point: (exit code, out, err)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exit_info:
        value = exit_info.code
        code = value if isinstance(value, int) else 1 if value else 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err
