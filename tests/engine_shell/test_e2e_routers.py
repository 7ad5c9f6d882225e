"""Rollouts through the real controller on real proxies: nginx and HAProxy in front of two apps
answering "stable" and "canary". Every audience a stage sets is measured with real requests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e_support import (
    NGINX_UPSTREAM,
    advance_until,
    at_stage,
    canary_share,
    haproxy_traffic,
    nginx_traffic,
    router_plan,
    servers,
    tolerance,
)
from shell_plans import FakeClock, write_plan

from rollout.engine.controller import Controller, send_verb, start_rollout
from rollout.store import Store

REQUESTS = 400  # per measurement


@pytest.fixture(scope="module")
def apps() -> Iterator[tuple[str, str]]:
    """Two running apps, ``(stable, canary)`` addresses, answering their names."""
    with servers.upstream_app("stable") as stable, servers.upstream_app("canary") as canary:
        yield stable, canary


def _binary(request: pytest.FixtureRequest, name: str) -> str:
    # Every conftest.py outside a package is module "conftest"; find the root one by path.
    root = Path(__file__).resolve().parents[1] / "conftest.py"
    module = request.config.pluginmanager.get_plugin(str(root))
    assert module is not None, "tests/conftest.py is not loaded"
    return str(module.require_binary(name))


@pytest.mark.nginx
def test_canary_on_nginx_ramps_succeeds_and_an_abort_sends_everyone_back(
    request: pytest.FixtureRequest,
    apps: tuple[str, str],
    tmp_path: Path,
    store: Store,
    clock: FakeClock,
    make_controller: Callable[..., Controller],
) -> None:
    binary = _binary(request, "nginx")
    stable, canary = apps
    upstream = NGINX_UPSTREAM.format(stable=stable, canary=canary)
    with servers.nginx(binary, tmp_path, upstream) as site:
        assert canary_share(site.port, REQUESTS) == 0.0
        traffic = nginx_traffic(site, stable, canary)
        plan = write_plan(tmp_path, router_plan("web", "canary", traffic, (10, 50, 100)))
        controller = make_controller()

        first = start_rollout(store, plan, None, "alice").id
        for number, weight in enumerate((10.0, 50.0, 100.0), start=1):
            view = advance_until(controller, clock, store, first, at_stage(number))
            assert (view.status, view.stage_number) == ("observing", number), view.reason
            assert view.audience_percent == weight
            share = canary_share(site.port, REQUESTS)
            assert abs(share - weight) <= tolerance(weight, REQUESTS), (weight, share)
        view = advance_until(controller, clock, store, first, lambda _v: False)
        assert view.status == "succeeded", view.reason
        assert canary_share(site.port, REQUESTS) == 100.0

        # The second rollout's first stage moves the proxy down from 100 % again.
        second = start_rollout(store, plan, "3.0", "alice").id
        view = advance_until(controller, clock, store, second, at_stage(2))
        assert (view.status, view.stage_number) == ("observing", 2), view.reason
        share = canary_share(site.port, REQUESTS)
        assert abs(share - 50.0) <= tolerance(50.0, REQUESTS), share
        send_verb(store, second, "abort", "bob", "checkout is broken")
        view = advance_until(controller, clock, store, second, lambda _v: False)
        assert view.status == "rolled_back", view.reason
        assert canary_share(site.port, REQUESTS) == 0.0


@pytest.mark.haproxy
def test_blue_green_on_haproxy_switches_at_the_full_stage_and_an_abort_switches_back(
    request: pytest.FixtureRequest,
    apps: tuple[str, str],
    tmp_path: Path,
    store: Store,
    clock: FakeClock,
    make_controller: Callable[..., Controller],
) -> None:
    binary = _binary(request, "haproxy")
    with servers.haproxy(binary, tmp_path, *apps) as site:
        # Blue is live, green idle: everyone on the stable server before the rollout.
        assert servers.runtime_api(site.socket, "set weight app/canary 0") == ""
        assert canary_share(site.port, REQUESTS) == 0.0
        plan = write_plan(
            tmp_path, router_plan("shop", "blue-green", haproxy_traffic(site), (10, 100))
        )
        controller = make_controller()
        rollout = start_rollout(store, plan, None, "alice").id

        # Before the switch stage the new colour is on preview only: no production traffic.
        view = advance_until(controller, clock, store, rollout, at_stage(1))
        assert (view.status, view.stage_number) == ("observing", 1), view.reason
        assert canary_share(site.port, REQUESTS) == 0.0

        view = advance_until(controller, clock, store, rollout, at_stage(2))
        assert (view.status, view.stage_number) == ("observing", 2), view.reason
        assert view.audience_percent == 100.0
        assert canary_share(site.port, REQUESTS) == 100.0

        send_verb(store, rollout, "abort", "bob", "payments fail on the new colour")
        view = advance_until(controller, clock, store, rollout, lambda _v: False)
        assert view.status == "rolled_back", view.reason
        assert canary_share(site.port, REQUESTS) == 0.0
