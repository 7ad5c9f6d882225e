"""Support for the end-to-end rollouts: real routers and upstream apps, plans that use them, and
a loop that ticks a rollout until it reaches a given point.

The process helpers (upstream apps, nginx, HAProxy, request counting) are the traffic router
tests' own, loaded from their folder by file path: a test folder's helper modules are only
importable by bare name from inside that folder.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from shell_plans import FakeClock

from rollout.engine.controller import Controller, RolloutView, rollout_status
from rollout.store import Store

TRAFFIC_TESTS = Path(__file__).resolve().parents[1] / "providers" / "traffic"
ENDED = {"succeeded", "rolled_back", "rollback_failed", "failed"}


def _traffic_servers() -> ModuleType:
    name = "_traffic_servers"
    loaded = sys.modules.get(name)
    if loaded is not None:  # the traffic tests ran first in this session: the same module
        return loaded
    spec = importlib.util.spec_from_file_location(name, TRAFFIC_TESTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


servers = _traffic_servers()


def tolerance(percent: float, requests: int) -> float:
    """Four binomial standard deviations of a measured canary share, in percentage points.

    >>> round(tolerance(10, 400), 2)
    6.0
    """
    p = percent / 100
    return 400 * math.sqrt(p * (1 - p) / requests)


def canary_share(port: int, requests: int) -> float:
    """Send ``requests`` through the proxy on ``port``; the share (%) the canary answered.

    Any answer other than "stable" or "canary" (an error) fails the test."""
    counts = servers.measure(port, requests)
    assert set(counts) <= {"stable", "canary"}, counts
    return 100.0 * counts["canary"] / requests


def advance_until(
    controller: Controller,
    clock: FakeClock,
    store: Store,
    rollout_id: str,
    reached: Callable[[RolloutView], bool],
    *,
    step: float = 60.0,
    ticks: int = 40,
) -> RolloutView:
    """Tick (``step`` fake seconds apart) until ``reached(view)`` or the rollout ends; fails
    the test naming where it stopped when neither happens within ``ticks`` ticks."""
    view = rollout_status(store, rollout_id, now=clock())
    for _ in range(ticks):
        controller.run_once()
        view = rollout_status(store, rollout_id, now=clock())
        if reached(view) or view.status in ENDED:
            return view
        clock.advance(step)
    raise AssertionError(f"still {view.status} at stage {view.stage_number}: {view.reason}")


def at_stage(number: int) -> Callable[[RolloutView], bool]:
    """Reached once stage ``number`` (1-based) bakes, its audience set."""
    return lambda view: view.status == "observing" and view.stage_number == number


NGINX_UPSTREAM = """\
upstream app {{
    keepalive 8;
    server {stable};
    server {canary} down;
}}
"""


def nginx_traffic(site: Any, stable: str, canary: str) -> str:
    """The plan's ``traffic`` block for a running nginx site (flow style, one line); the
    upstream file is named relative to the plan, which sits beside it."""
    main = site.main_config
    binary = site.binary
    return (
        f"{{type: nginx, config_file: {site.upstream_file.name}, upstream: app, "
        f'stable: "{stable}", canary: "{canary}", nginx: "{binary} -p {main.parent}", '
        f'nginx_config: "{main}"}}'
    )


def haproxy_traffic(site: Any) -> str:
    """The plan's ``traffic`` block for a running HAProxy site."""
    return (
        f'{{type: haproxy, socket: "{site.socket}", backend: app, stable: stable, canary: canary}}'
    )


PLAN = """\
name: {name}
overview: {{summary: {summary}, version: "2.0"}}
checklist:
  - {{item: Rollback plan documented, rollback: documented}}
strategy: {{type: {strategy}}}
environments:
  - name: production
    traffic: {traffic}
stages:
{stages}
rollback:
  - traffic: 0
"""


def stages(*percents: float, duration: str = "5m") -> str:
    """Stages with no criteria (each passes when its bake time is over)."""
    return "\n".join(
        f"  - {{name: At {p:g}, audience: {p:g}%, duration: {duration}}}" for p in percents
    )


def router_plan(name: str, strategy: str, traffic: str, percents: tuple[float, ...]) -> str:
    return PLAN.format(
        name=name,
        summary=f"A {strategy} rollout through a real proxy.",
        strategy=strategy,
        traffic=traffic,
        stages=stages(*percents),
    )
