"""The Prometheus source's reading of answers a real server gives rarely or never on demand:
several steps, missing series, odd JSON, errors, timeouts; and the checks on a plan's queries.

A fake Prometheus (httpx.MockTransport) answers each query from a table keyed by the query
text after its placeholders are filled in; everything it was asked is recorded.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from rollout.analysis import MetricSeries, MetricSpec, infer_metric_spec, metric_spec
from rollout.errors import MetricsError
from rollout.plan.model import Metric, PrometheusSource
from rollout.providers.metrics import DEFAULT_QUERIES, ArmSelector, NoData, PrometheusMetricSource

T0 = 1_767_225_600.0
ERROR_RATE = infer_metric_spec("error_rate")
LATENCY = infer_metric_spec("latency_p99")
assert ERROR_RATE is not None and LATENCY is not None
ARMS = ArmSelector("production", "new-checkout")
REQUESTS = 'sum(increase(http_requests_total{version="%s"}[30s]))'
ERRORS = 'sum(increase(http_requests_total{version="%s",code=~"5.."}[30s]))'
BUCKETS = 'sum by (le) (increase(http_request_duration_seconds_bucket{version="%s"}[30s]))'


def series(points: dict[float, float | str], **labels: str) -> dict[str, Any]:
    """One matrix series with values at ``T0 + offset``."""
    return {"metric": labels, "values": [[T0 + t, str(v)] for t, v in points.items()]}


def matrix(*items: dict[str, Any]) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "matrix", "result": list(items)}}


class FakePrometheus:
    """Answers from ``table`` (query -> body, or a callable raising); records each form."""

    def __init__(self, table: dict[str, Any], status: int = 200) -> None:
        self.table, self.status = table, status
        self.asked: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = dict(httpx.QueryParams(request.content.decode()))
        self.asked.append({**form, "url": str(request.url), "method": request.method})
        answer = self.table.get(form["query"], matrix())
        if callable(answer):
            answer(request)
        if isinstance(answer, str):
            return httpx.Response(self.status, text=answer)
        return httpx.Response(self.status, json=answer)


def fetch(
    fake: FakePrometheus,
    spec: MetricSpec = ERROR_RATE,
    metric_def: Metric | None = None,
    arms: ArmSelector = ARMS,
    end: float = T0 + 100,
) -> MetricSeries | NoData:
    source = PrometheusMetricSource(
        PrometheusSource(type="prometheus", url="http://prom.test/prefix/", timeout=3),
        transport=httpx.MockTransport(fake),
    )
    return source.fetch(spec.name, spec, metric_def, arms, start=T0, end=end, step=30)


def test_each_step_is_read_from_the_point_at_its_end() -> None:
    fake = FakePrometheus(
        {
            REQUESTS % "canary": matrix(series({30: 10, 60: "NaN", 90: 12, 120: 99})),
            ERRORS % "canary": matrix(series({30: 1, 90: 2})),
            REQUESTS % "stable": matrix(series({30: 100, 60: 100, 90: 100})),
            ERRORS % "stable": matrix(),  # no 5xx series yet: nothing failed
        }
    )

    result = fetch(fake)

    assert isinstance(result, MetricSeries)
    got = [
        (i.start - T0, i.canary.requests, i.canary.errors, i.control.requests, i.control.errors)
        for i in result.intervals
    ]
    assert got == [(0, 10, 1, 100, 0), (30, 0, 0, 100, 0), (60, 12, 2, 100, 0)]
    first = fake.asked[0]
    assert (first["method"], first["url"]) == ("POST", "http://prom.test/prefix/api/v1/query_range")
    assert (first["start"], first["end"]) == ("1767225630", "1767225690")
    assert (first["step"], first["timeout"]) == ("30", "3s")
    assert [form["query"] for form in fake.asked] == [
        REQUESTS % "canary", ERRORS % "canary", REQUESTS % "stable", ERRORS % "stable",
    ]  # fmt: skip


def test_placeholders_are_filled_and_escaped() -> None:
    template = 'sum(increase(reqs{arm="{arm}",flag="{flag}",env="{environment}"}[{window}]))'
    fake = FakePrometheus({})
    arms = ArmSelector("prod", 'a"b', canary="v2", control="v1")

    fetch(fake, metric_def=Metric(kind="error_rate", queries={"requests": template}), arms=arms)

    assert fake.asked[0]["query"] == 'sum(increase(reqs{arm="v2",flag="a\\"b",env="prod"}[30s]))'
    assert fake.asked[2]["query"].startswith('sum(increase(reqs{arm="v1"')


def test_nothing_in_any_query_is_no_data() -> None:
    result = fetch(FakePrometheus({}))

    assert isinstance(result, NoData)
    assert "no samples for error_rate" in result.reason
    assert REQUESTS % "canary" in result.reason


def test_no_whole_step_asks_nothing() -> None:
    fake = FakePrometheus({})

    assert isinstance(fetch(fake, end=T0 + 29), NoData)
    assert fake.asked == []


def test_histogram_buckets_become_a_sketch() -> None:
    buckets = [series({30: n}, le=le) for le, n in (("0.1", 60), ("0.25", 95), ("+Inf", 100))]
    fake = FakePrometheus({BUCKETS % "canary": matrix(*buckets)})

    result = fetch(fake, LATENCY)

    assert isinstance(result, MetricSeries)
    [interval] = result.intervals
    assert interval.canary.requests == 100
    assert interval.canary.latency is not None
    assert interval.canary.latency.count_above(100.0 * 1.01) == 40  # above 100 ms: 35 + 5
    assert interval.control.latency is None


def test_latency_unit_ms_reads_bounds_as_milliseconds() -> None:
    query = "sum by (le) (increase(rpc_ms_bucket[{window}]))"
    fake = FakePrometheus({query.replace("{window}", "30s"): matrix(series({30: 7}, le="250"))})
    metric = Metric(kind="latency", percentile=99, queries={"latency": query, "latency_unit": "ms"})

    result = fetch(fake, LATENCY, metric)

    assert isinstance(result, MetricSeries)
    sketch = result.intervals[0].canary.latency
    assert sketch is not None and 200 < sketch.quantile(1.0) < 250  # not 250,000 ms


def test_conversions_and_means_read_their_own_keys() -> None:
    conversion = Metric(
        kind="conversion",
        queries={"exposures": "sum(increase(sessions[{window}]))", "conversions": "orders"},
    )
    fake = FakePrometheus(
        {
            "sum(increase(sessions[30s]))": matrix(series({30: 200})),
            "orders": matrix(series({30: 7})),
        }
    )
    result = fetch(fake, metric_spec("checkout", "conversion"), conversion)
    assert isinstance(result, MetricSeries)
    assert (result.intervals[0].canary.requests, result.intervals[0].canary.conversions) == (200, 7)

    mean = Metric(
        kind="mean", higher_is_better=True, queries={"count": "n", "sum": "s", "sum_sq": "q"}
    )
    fake = FakePrometheus(
        {
            "n": matrix(series({30: 4})),
            "s": matrix(series({30: -6.5})),
            "q": matrix(series({30: 20})),
        }
    )
    result = fetch(fake, metric_spec("margin", "mean", higher_is_better=True), mean)
    assert isinstance(result, MetricSeries)
    canary = result.intervals[0].canary
    assert (canary.value_count, canary.value_sum, canary.value_sum_sq) == (4, -6.5, 20.0)


def test_extrapolation_noise_is_capped_but_a_real_excess_is_an_error() -> None:
    noisy = FakePrometheus(
        {
            REQUESTS % "canary": matrix(series({30: 100.2})),
            ERRORS % "canary": matrix(series({30: 101.4})),
        }
    )
    result = fetch(noisy)
    assert isinstance(result, MetricSeries)
    assert result.intervals[0].canary.errors == 100

    wrong = FakePrometheus(
        {
            REQUESTS % "canary": matrix(series({30: 100})),
            ERRORS % "canary": matrix(series({30: 150})),
        }
    )
    with pytest.raises(
        MetricsError, match="errors query counts 150 but the requests query only 100"
    ):
        fetch(wrong)


def _raise(error: Exception) -> Callable[[httpx.Request], None]:
    def go(request: httpx.Request) -> None:
        raise error

    return go


@pytest.mark.parametrize(
    ("answer", "status", "problem"),
    [
        (
            {
                "status": "error",
                "errorType": "execution",
                "error": "query timed out in expression evaluation",
            },
            503,
            r"refused the query \(HTTP 503, execution\): query timed out in expression evaluation; "
            r"query: sum\(increase",
        ),
        ("<html>502 Bad Gateway</html>", 502, r"answered HTTP 502 with something that is not JSON"),
        (
            {"status": "success", "data": {"resultType": "vector", "result": []}},
            200,
            "a vector result instead of a matrix",
        ),
        (
            matrix(series({30: 1}, version="a"), series({30: 2}, version="b")),
            200,
            r"returned 2 series .*sum\(\.\.\.\)",
        ),
        (matrix(series({30: -3})), 200, "gave -3 for a count"),
        (matrix(series({30: "+Inf"})), 200, "gave inf for a count"),
        (matrix({"metric": {}, "values": [[T0 + 30]]}), 200, "malformed sample"),
        (_raise(httpx.ReadTimeout("slow")), 200, r"did not answer within 3 s; query: sum"),
        (
            _raise(httpx.ConnectError("refused")),
            200,
            r"cannot reach Prometheus at http://prom.test/prefix/: refused",
        ),
    ],
)
def test_failures_name_the_problem_and_the_query(answer: Any, status: int, problem: str) -> None:
    with pytest.raises(MetricsError, match=problem):
        fetch(FakePrometheus({REQUESTS % "canary": answer}, status=status))


def test_a_latency_query_must_return_buckets() -> None:
    fake = FakePrometheus({BUCKETS % "canary": matrix(series({30: 0.3}))})

    with pytest.raises(MetricsError, match=r"histogram buckets by their 'le' label"):
        fetch(fake, LATENCY)


@pytest.mark.parametrize(
    ("metric", "problem"),
    [
        (
            Metric(kind="conversion", queries={"conversions": "a", "visits": "b"}),
            r"unknown Prometheus query 'visits'; "
            r"a conversion metric takes 'exposures' and 'conversions'",
        ),
        (
            Metric(kind="conversion", queries={"conversions": "a"}),
            r"needs the query 'exposures' under 'queries' \(there is no default for it\)",
        ),
        (
            Metric(kind="mean", higher_is_better=True),
            r"needs the queries 'count', 'sum' and 'sum_sq'",
        ),
        (
            Metric(kind="latency", percentile=99, queries={"latency_unit": "us"}),
            "latency_unit is 'us'",
        ),
        (
            Metric(kind="error_rate", queries={"requests": "sum(rate(http_requests_total[1m]))"}),
            r"the requests query uses rate\(\), which gives a rate per second; .*increase",
        ),
        (
            Metric(kind="error_rate", queries={"errors": "sum(irate (x[1m]))"}),
            r"the errors query uses irate\(\)",
        ),
        (
            Metric(kind="error_rate", queries={"errors": 'x{v="{version}"}'}),
            r"unknown placeholder \{version\} in the errors query; known: \{arm\}",
        ),
    ],
)
def test_queries_are_checked_before_anything_is_asked(metric: Metric, problem: str) -> None:
    fake = FakePrometheus({})
    spec = metric_spec("m", metric.kind, metric.higher_is_better, metric.percentile)

    with pytest.raises(MetricsError, match=problem):
        fetch(fake, spec, metric)

    assert fake.asked == []


def test_a_flag_placeholder_needs_a_flag() -> None:
    metric = Metric(kind="error_rate", queries={"requests": 'x{flag="{flag}"}'})

    with pytest.raises(MetricsError, match=r"uses \{flag\}, but there is no flag"):
        fetch(FakePrometheus({}), metric_def=metric, arms=ArmSelector("production"))


def test_defaults_fill_what_a_metric_leaves_out() -> None:
    fake = FakePrometheus({})

    fetch(fake, metric_def=Metric(kind="error_rate", queries={"errors": "my_errors"}))

    assert [form["query"] for form in fake.asked[:2]] == [REQUESTS % "canary", "my_errors"]
    assert set(DEFAULT_QUERIES) == {"requests", "errors", "latency"}


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_a_server_that_never_answers_times_out(silent_server: str) -> None:
    source = PrometheusMetricSource(
        PrometheusSource(type="prometheus", url=silent_server, timeout=0.3)
    )

    with pytest.raises(MetricsError, match=r"did not answer within 0.3 s"):
        source.fetch("error_rate", ERROR_RATE, None, ARMS, start=T0, end=T0 + 30, step=30)
