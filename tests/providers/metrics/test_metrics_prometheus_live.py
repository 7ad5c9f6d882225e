"""The Prometheus source against a real Prometheus scraping a real two-version app.

One Prometheus (scraping every second, data in a temporary folder) and one app serve the whole
module. The traffic is bounded and its truth known exactly: 400 stable requests of which 8
fail (2 %), 100 canary requests of which 20 fail (20 %), the canary ten times slower.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from metrics_servers import free_port, instant, prometheus, two_version_app, wait_until

from rollout.analysis import MetricSeries, infer_metric_spec
from rollout.errors import MetricsError
from rollout.plan.model import Metric, PrometheusSource
from rollout.providers.metrics import ArmSelector, NoData, PrometheusMetricSource

pytestmark = pytest.mark.prometheus

STABLE, CANARY = 400, 100
TRUE_RATE = {"stable": 8 / 400, "canary": 20 / 100}
ARMS = ArmSelector("production", "new-checkout")
ERROR_RATE = infer_metric_spec("error_rate")
LATENCY = infer_metric_spec("latency_p50")
assert ERROR_RATE is not None and LATENCY is not None


@dataclass(frozen=True)
class Scraped:
    """The running Prometheus and a window holding all of the traffic: one step, so that no
    request falls between two steps' samples (``increase`` only sees within its range)."""

    url: str
    start: float
    end: float

    @property
    def step(self) -> float:
        return self.end - self.start


def latest_scrape(url: str) -> float:
    """When Prometheus last scraped the app (seconds since the epoch; 0 before it has)."""
    found = instant(url, 'max(timestamp(http_requests_total{job="app"}))')
    return float(found[0]["value"][1]) if found else 0.0


def served(url: str) -> float:
    found = instant(url, 'sum(http_requests_total{job="app"})')
    return float(found[0]["value"][1]) if found else -1.0


@pytest.fixture(scope="module")
def scraped(prometheus_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    workdir: Path = tmp_path_factory.mktemp("prometheus")
    with (
        two_version_app() as app,
        prometheus(prometheus_binary, app.removeprefix("http://"), workdir) as url,
    ):
        # Every series is exported at 0 from the start; the window opens before a scrape that
        # sees them so, so increase() counts the very first request.
        wait_until(lambda: latest_scrape(url) > 0, "Prometheus to scrape the app")
        start = round(time.time(), 3)
        wait_until(lambda: latest_scrape(url) > start, "a scrape inside the window")
        assert served(url) == 0
        with httpx.Client(base_url=app, timeout=10) as client, ThreadPoolExecutor(8) as workers:
            paths = ["/serve/stable"] * STABLE + ["/serve/canary"] * CANARY
            codes = list(workers.map(lambda path: client.get(path).status_code, paths))
        assert codes.count(500) == 28, "the app fails exactly 8 + 20 requests"
        wait_until(lambda: served(url) == STABLE + CANARY, "a scrape of the final counts")
        yield Scraped(url, start, round(latest_scrape(url) + 0.1, 3))


def source(url: str, timeout: float = 10.0) -> PrometheusMetricSource:
    return PrometheusMetricSource(PrometheusSource(type="prometheus", url=url, timeout=timeout))


def test_error_rates_match_the_truth_and_the_canary_is_worse(scraped: Scraped) -> None:
    result = source(scraped.url).fetch(
        "error_rate",
        ERROR_RATE,
        None,
        ARMS,
        start=scraped.start,
        end=scraped.end,
        step=scraped.step,
    )

    assert isinstance(result, MetricSeries)
    [interval] = result.intervals
    assert (interval.start, interval.end) == (scraped.start, scraped.end)
    canary, control = interval.canary, interval.control
    # increase() extrapolates up to half a scrape interval past the last sample: counts within
    # 20 %; rates within 0.03 (requests and errors are scraped together, so extrapolated alike).
    assert canary.requests == pytest.approx(CANARY, rel=0.2)
    assert control.requests == pytest.approx(STABLE, rel=0.2)
    canary_rate, control_rate = canary.errors / canary.requests, control.errors / control.requests
    assert canary_rate > control_rate
    assert canary_rate == pytest.approx(TRUE_RATE["canary"], abs=0.03)
    assert control_rate == pytest.approx(TRUE_RATE["stable"], abs=0.03)


def test_latency_comes_from_the_histogram_buckets(scraped: Scraped) -> None:
    result = source(scraped.url).fetch(
        "latency_p50", LATENCY, None, ARMS, start=scraped.start, end=scraped.end, step=scraped.step
    )

    assert isinstance(result, MetricSeries)
    [interval] = result.intervals
    canary, control = interval.canary, interval.control
    assert canary.latency is not None and control.latency is not None
    assert canary.latency_count == pytest.approx(CANARY, rel=0.2)
    # The canary works 20 ms per request, the stable version 2 ms.
    assert canary.latency.quantile(0.5) >= 10.0
    assert control.latency.quantile(0.5) < 10.0
    # What the latency test counts: canary requests slower than the control's quantile.
    median_edge = control.latency.upper_edge(control.latency.quantile(0.5))
    assert canary.latency.count_above(median_edge) > 0.9 * canary.latency_count


def test_a_bad_query_is_an_error_with_prometheus_message(scraped: Scraped) -> None:
    bad = Metric(
        kind="error_rate", queries={"requests": "sum(increase(http_requests_total[{window}])"}
    )

    with pytest.raises(
        MetricsError, match=r"Prometheus refused the query \(HTTP 400, bad_data\).*parse error"
    ):
        source(scraped.url).fetch(
            "error_rate",
            ERROR_RATE,
            bad,
            ARMS,
            start=scraped.start,
            end=scraped.end,
            step=scraped.step,
        )


def test_a_selector_that_matches_nothing_is_no_data(scraped: Scraped) -> None:
    empty = Metric(
        kind="error_rate",
        queries={
            "requests": 'sum(increase(checkout_requests_total{version="{arm}"}[{window}]))',
            "errors": 'sum(increase(checkout_errors_total{version="{arm}"}[{window}]))',
        },
    )

    result = source(scraped.url).fetch(
        "error_rate",
        ERROR_RATE,
        empty,
        ARMS,
        start=scraped.start,
        end=scraped.end,
        step=scraped.step,
    )

    assert isinstance(result, NoData)
    assert "checkout_requests_total" in result.reason


def test_an_unreachable_server_is_an_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(MetricsError, match=f"cannot reach Prometheus at {url}"):
        source(url).fetch("error_rate", ERROR_RATE, None, ARMS, start=0, end=60, step=30)
