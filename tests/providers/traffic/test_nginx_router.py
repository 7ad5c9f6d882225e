"""The nginx router against a real nginx proxying to two real upstream apps."""

from __future__ import annotations

import math
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from _traffic_servers import NginxSite, get_once, measure, nginx, write_nginx_config

from rollout.errors import TrafficError
from rollout.plan.model import NginxRouter
from rollout.providers.traffic import RouterContext, router_for
from rollout.providers.traffic._nginx_conf import read_upstream
from rollout.providers.traffic.nginx import NginxTrafficRouter

pytestmark = pytest.mark.nginx

REQUESTS = 2000  # per weight step


def tolerance(percent: float, requests: int) -> float:
    """Four binomial standard deviations of a measured share, in percentage points.

    nginx's smooth weighted round robin is deterministic, so the real spread is far smaller;
    the bound is what a random split would have to meet too. At 5 % and 2,000 requests: 1.95.
    """
    p = percent / 100
    return 400 * math.sqrt(p * (1 - p) / requests)


def initial_upstream(stable: str, canary: str) -> str:
    return (
        "upstream app {\n"
        "    keepalive 8;\n"
        f"    server {stable} max_fails=2;\n"
        f"    server {canary} down;\n"
        "}\n"
    )


@pytest.fixture
def site(nginx_binary: str, apps: tuple[str, str], tmp_path: Path) -> Iterator[NginxSite]:
    with nginx(nginx_binary, tmp_path, initial_upstream(*apps)) as running:
        yield running


def make_router(
    site: NginxSite, apps: tuple[str, str], *, reload_timeout: float = 10.0, **fields: str
) -> NginxTrafficRouter:
    spec = NginxRouter(
        type="nginx",
        config_file=site.upstream_file.name,  # relative: resolved against the plan directory
        upstream="app",
        stable=fields.pop("stable", apps[0]),
        canary=fields.pop("canary", apps[1]),
        nginx=f"{site.binary} -p {site.main_config.parent}",
        nginx_config=str(site.main_config),
        **fields,
    )
    context = RouterContext(version="v2", environment="test", base_dir=site.main_config.parent)
    return NginxTrafficRouter(spec, context, reload_timeout=reload_timeout)


def test_measured_split_follows_each_weight_step(site: NginxSite, apps: tuple[str, str]) -> None:
    router = make_router(site, apps)
    assert router.get_weight() == 0.0  # the user's file: canary down

    for percent in (0, 5, 25, 50, 100):
        applied = router.set_weight(percent, key=f"r1:stage-{percent}:1")

        assert applied.verified
        assert applied.canary_percent == pytest.approx(percent)
        assert router.get_weight() == pytest.approx(percent)
        counts = measure(site.port, REQUESTS)
        assert set(counts) <= {"stable", "canary"}, counts
        share = 100 * counts["canary"] / REQUESTS
        assert abs(share - percent) <= tolerance(percent, REQUESTS), (percent, counts)


def test_router_keeps_the_users_directives_and_writes_down_for_zero(
    site: NginxSite, apps: tuple[str, str]
) -> None:
    router = make_router(site, apps)

    router.set_weight(5, key="r1:stage-1:1")
    text = site.upstream_file.read_text()
    assert "keepalive 8;" in text
    assert f"server {apps[0]} max_fails=2 weight=19;" in text
    assert f"server {apps[1]} weight=1;" in text
    assert "r1:stage-1:1" in text  # which action wrote it

    router.set_weight(0, key="r1:rollback:1")
    assert f"server {apps[1]} down;" in site.upstream_file.read_text()
    assert "weight=0" not in site.upstream_file.read_text()


def test_blue_green_switch_and_back_fails_no_request(
    site: NginxSite, apps: tuple[str, str]
) -> None:
    router = make_router(site, apps)
    seen: list[str] = []
    stop = threading.Event()

    def poll() -> None:
        # A fresh connection per request, so a reload cannot hide behind a client's retry.
        while not stop.is_set() and len(seen) < 20_000:
            seen.append(get_once(site.port))

    def wait_for(body: str, count: int) -> None:
        start = len(seen)
        for _ in range(2000):
            if seen[start:].count(body) >= count or not poller.is_alive():
                return
            stop.wait(0.005)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        wait_for("stable", 50)
        assert router.finalize(promoted=True, key="r1:switch:1").canary_percent == 100.0
        wait_for("canary", 50)
        assert router.set_weight(0, key="r1:switch-back:1").canary_percent == 0.0
        wait_for("stable", 50)
    finally:
        stop.set()
        poller.join(timeout=30)

    failures = Counter(body for body in seen if body.startswith("error"))
    assert not failures, failures
    assert seen.count("canary") >= 50 and seen.count("stable") >= 100
    assert seen[-1] == "stable"


def test_rollback_restores_the_old_weights(site: NginxSite, apps: tuple[str, str]) -> None:
    before = read_upstream(site.upstream_file.read_text(), "app", *apps)
    router = make_router(site, apps)
    router.set_weight(5, key="r1:stage-1:1")
    router.set_weight(25, key="r1:stage-2:1")

    applied = router.finalize(promoted=False, key="r1:rollback:1")

    after = read_upstream(site.upstream_file.read_text(), "app", *apps)
    assert applied.canary_percent == 0.0 and router.get_weight() == 0.0
    assert (after.stable_weight, after.canary_weight) == (before.stable_weight, 0)
    assert after.directives == before.directives
    assert after.server_params == before.server_params
    assert measure(site.port, 200) == Counter({"stable": 200})


def test_config_nginx_rejects_is_rolled_back_with_nginx_message(
    nginx_binary: str, apps: tuple[str, str], tmp_path: Path
) -> None:
    stable_only = f"upstream app {{\n    server {apps[0]};\n}}\n"
    with nginx(nginx_binary, tmp_path, stable_only) as running:
        # The canary is not in the file yet; the router adds it, and nginx rejects its port.
        router = make_router(running, apps, canary="127.0.0.1:99999")

        with pytest.raises(TrafficError, match=r"nginx rejected[^\n]*\n.*invalid port") as caught:
            router.set_weight(50, key="r1:stage-3:1")

        assert "previous file is restored" in str(caught.value)
        assert running.upstream_file.read_text() == stable_only
        assert measure(running.port, 200) == Counter({"stable": 200})


def test_a_reload_the_master_refuses_is_an_error_not_a_success(
    site: NginxSite, apps: tuple[str, str]
) -> None:
    router = make_router(site, apps, reload_timeout=1.5)
    router.set_weight(5, key="r1:stage-1:1")
    accepted = site.upstream_file.read_text()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        # `nginx -t` does not bind ports, so this passes the test but fails in the master.
        port = taken.getsockname()[1]
        write_nginx_config(site, extra=f"server {{ listen 127.0.0.1:{port}; }}")

        with pytest.raises(TrafficError, match="did not start new workers"):
            router.set_weight(50, key="r1:stage-3:1")

    assert site.upstream_file.read_text() == accepted
    counts = measure(site.port, 200)
    assert counts["stable"] + counts["canary"] == 200
    assert abs(100 * counts["canary"] / 200 - 5) <= tolerance(5, 200)


def test_status_url_proves_which_write_is_live(
    nginx_binary: str, apps: tuple[str, str], tmp_path: Path
) -> None:
    upstream = 'map $remote_addr $rollout_version_app { default "none"; }\n' + initial_upstream(
        *apps
    )
    with nginx(nginx_binary, tmp_path, upstream, status=True) as running:
        router = make_router(running, apps, status_url=running.status_url)
        router.set_weight(25, key="r1:stage-2:1")
        token = read_upstream(running.upstream_file.read_text(), "app", *apps).token
        assert token and token != "none"
        assert get_status(running) == token
        assert router.get_weight() == 25.0

        wrong = make_router(
            running,
            apps,
            reload_timeout=0.5,
            status_url=f"http://127.0.0.1:{running.port}/not-the-status",
        )
        with pytest.raises(TrafficError, match="did not report version"):
            wrong.set_weight(50, key="r1:stage-3:1")


def get_status(site: NginxSite) -> str:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=5)
    try:
        conn.request("GET", "/rollout-status")
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def test_a_file_the_router_does_not_own_is_left_alone(
    site: NginxSite, apps: tuple[str, str]
) -> None:
    foreign = f"upstream app {{ server {apps[0]}; server 127.0.0.1:1; }}\n"
    site.upstream_file.write_text(foreign)
    router = make_router(site, apps)

    with pytest.raises(TrafficError, match="neither the stable"):
        router.set_weight(5, key="r1:stage-1:1")
    assert site.upstream_file.read_text() == foreign


def test_without_a_running_nginx_nothing_is_reported_applied(
    nginx_binary: str, apps: tuple[str, str], tmp_path: Path
) -> None:
    with nginx(nginx_binary, tmp_path, initial_upstream(*apps)) as stopped_later:
        pass  # started once for its files, now stopped
    original = stopped_later.upstream_file.read_text()
    router = make_router(stopped_later, apps)

    with pytest.raises(TrafficError, match="nginx"):
        router.set_weight(5, key="r1:stage-1:1")
    assert stopped_later.upstream_file.read_text() == original


def test_registry_builds_the_nginx_router(site: NginxSite, apps: tuple[str, str]) -> None:
    spec = NginxRouter(
        type="nginx",
        config_file=str(site.upstream_file),
        upstream="app",
        stable=apps[0],
        canary=apps[1],
        nginx=site.binary,
        nginx_config=str(site.main_config),
    )
    router = router_for(spec, RouterContext(version="v2", environment="test"))
    assert isinstance(router, NginxTrafficRouter)
    assert router.set_weight(50, key="r1:stage-3:1").canary_percent == 50.0


@pytest.mark.parametrize("bad", ["127.0.0.1:80; include /etc/passwd", "a b", "x{"])
def test_a_server_address_that_would_change_the_config_is_refused(bad: str, tmp_path: Path) -> None:
    spec = NginxRouter(
        type="nginx", config_file="up.conf", upstream="app", stable=bad, canary="127.0.0.1:2"
    )
    with pytest.raises(TrafficError, match="cannot go into an nginx config"):
        NginxTrafficRouter(spec, RouterContext(version="v2", environment="t", base_dir=tmp_path))


def test_an_nginx_that_cannot_be_started_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    upstream = tmp_path / "upstream.conf"
    upstream.write_text("upstream app { server 127.0.0.1:1; }\n")
    spec = NginxRouter(
        type="nginx",
        config_file=str(upstream),
        upstream="app",
        stable="127.0.0.1:1",
        canary="127.0.0.1:2",
        nginx=str(tmp_path / "no-nginx-here"),
    )
    router = NginxTrafficRouter(spec, RouterContext(version="v2", environment="t"))

    with pytest.raises(TrafficError, match="could not be started"):
        router.set_weight(5, key="r1:stage-1:1")
    assert upstream.read_text() == "upstream app { server 127.0.0.1:1; }\n"
