"""The HAProxy router against a real haproxy (runtime API on a UNIX socket) and two apps."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from _traffic_servers import HaproxySite, free_port, haproxy, measure, runtime_api, wait_until

from rollout.errors import TrafficError
from rollout.plan.model import HaproxyRouter
from rollout.providers.traffic import RouterContext, router_for
from rollout.providers.traffic.haproxy import HaproxyTrafficRouter

pytestmark = pytest.mark.haproxy

REQUESTS = 2000  # per weight step


def tolerance(percent: float, requests: int) -> float:
    """Four binomial standard deviations of a measured share, in percentage points."""
    p = percent / 100
    return 400 * math.sqrt(p * (1 - p) / requests)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # A UNIX socket path must stay under ~100 bytes; pytest's tmp_path can be longer.
    with tempfile.TemporaryDirectory(prefix="hap") as directory:
        yield Path(directory)


@pytest.fixture
def site(haproxy_binary: str, apps: tuple[str, str], short_dir: Path) -> Iterator[HaproxySite]:
    with haproxy(haproxy_binary, short_dir, *apps) as running:
        yield running


def make_router(site: HaproxySite, **fields: str) -> HaproxyTrafficRouter:
    spec = HaproxyRouter(
        type="haproxy",
        socket=fields.pop("socket", str(site.socket)),
        backend=fields.pop("backend", "app"),
        stable=fields.pop("stable", "stable"),
        canary=fields.pop("canary", "canary"),
    )
    return HaproxyTrafficRouter(spec, RouterContext(version="v2", environment="test"))


def server_state(site: HaproxySite, server: str) -> tuple[int, int]:
    """(srv_op_state, srv_admin_state) of ``server``, read straight from HAProxy."""
    lines = runtime_api(site.socket, "show servers state app").splitlines()
    columns = lines[1].lstrip("# ").split()
    for line in lines[2:]:
        fields = line.split()
        if fields[columns.index("srv_name")] == server:
            return (
                int(fields[columns.index("srv_op_state")]),
                int(fields[columns.index("srv_admin_state")]),
            )
    raise AssertionError(f"no server {server}")


def test_measured_split_follows_each_weight_step(site: HaproxySite) -> None:
    router = make_router(site)
    assert router.get_weight() == 50.0  # both servers start at weight 100

    for percent in (0, 5, 25, 50, 100):
        applied = router.set_weight(percent, key=f"r1:stage-{percent}:1")

        assert applied.verified
        assert applied.canary_percent == pytest.approx(percent)
        counts = measure(site.port, REQUESTS)
        assert set(counts) <= {"stable", "canary"}, counts
        share = 100 * counts["canary"] / REQUESTS
        assert abs(share - percent) <= tolerance(percent, REQUESTS), (percent, counts)


def test_set_weight_reads_back_haproxys_own_numbers(site: HaproxySite) -> None:
    router = make_router(site)

    applied = router.set_weight(5, key="r1:stage-1:1")

    assert runtime_api(site.socket, "get weight app/stable").startswith("19 ")
    assert runtime_api(site.socket, "get weight app/canary").startswith("1 ")
    assert "weight 19" in applied.detail and "weight 1" in applied.detail
    # Someone changes a weight behind the router's back: the read-back sees it.
    assert runtime_api(site.socket, "set weight app/canary 19") == ""
    assert router.get_weight() == 50.0


def test_zero_drains_the_server_and_a_new_weight_makes_it_ready(site: HaproxySite) -> None:
    router = make_router(site)

    applied = router.set_weight(0, key="r1:rollback:1")

    assert applied.canary_percent == 0.0 and "drained" in applied.detail
    assert server_state(site, "canary")[1] & 0x08  # forced drain
    assert runtime_api(site.socket, "get weight app/canary").startswith("0 ")
    assert measure(site.port, 200)["canary"] == 0

    router.set_weight(25, key="r1:stage-2:1")
    assert server_state(site, "canary")[1] == 0  # ready again
    assert router.get_weight() == 25.0

    router.finalize(promoted=True, key="r1:done:1")
    assert server_state(site, "stable")[1] & 0x08
    assert measure(site.port, 200)["canary"] == 200


def test_a_tiny_percentage_reports_what_haproxy_can_do(site: HaproxySite) -> None:
    applied = make_router(site).set_weight(0.1, key="r1:stage-0:1")

    assert applied.requested_percent == 0.1
    assert applied.canary_percent == pytest.approx(100 / 257)  # 1:256, HAProxy's limit


def test_an_unreachable_socket_is_a_traffic_error(site: HaproxySite, short_dir: Path) -> None:
    router = make_router(site, socket=str(short_dir / "nobody-listens.sock"))

    with pytest.raises(TrafficError, match="cannot talk to HAProxy"):
        router.set_weight(5, key="r1:stage-1:1")
    with pytest.raises(TrafficError, match="cannot talk to HAProxy"):
        router.get_weight()


def test_haproxy_refusing_a_command_is_a_traffic_error_with_its_words(site: HaproxySite) -> None:
    with pytest.raises(TrafficError, match="No such server"):
        make_router(site, canary="canary-typo").set_weight(5, key="r1:stage-1:1")


def test_a_static_balance_cannot_take_a_partial_weight(
    haproxy_binary: str, apps: tuple[str, str], short_dir: Path
) -> None:
    with (
        haproxy(haproxy_binary, short_dir, *apps, balance="static-rr") as running,
        pytest.raises(TrafficError, match="static"),
    ):
        make_router(running).set_weight(25, key="r1:stage-2:1")


def test_a_canary_that_is_down_is_not_reported_as_taking_traffic(
    haproxy_binary: str, apps: tuple[str, str], short_dir: Path
) -> None:
    closed = f"127.0.0.1:{free_port()}"  # nothing listens: the health check fails
    check = "check inter 100ms fall 1 rise 1"
    with haproxy(haproxy_binary, short_dir, apps[0], closed, check=check) as running:
        wait_until(lambda: server_state(running, "canary")[0] == 0, "the canary marked down")

        with pytest.raises(TrafficError, match=r"live split is 0% canary, not 25%.*down"):
            make_router(running).set_weight(25, key="r1:stage-2:1")


def test_registry_builds_the_haproxy_router(site: HaproxySite) -> None:
    spec = HaproxyRouter(
        type="haproxy", socket=str(site.socket), backend="app", stable="stable", canary="canary"
    )
    router = router_for(spec, RouterContext(version="v2", environment="test"))
    assert isinstance(router, HaproxyTrafficRouter)
    assert router.set_weight(50, key="r1:stage-3:1").canary_percent == 50.0
