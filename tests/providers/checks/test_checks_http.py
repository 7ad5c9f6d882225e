"""HTTP checks against a real local HTTP server: status, body, latency, retries, secrets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from checks_http_server import Server, http_server

from rollout.plan.model import HttpCheck
from rollout.providers.checks import CheckContext, run_http
from rollout.providers.checks.http import backoff


@pytest.fixture
def server() -> Iterator[Server]:
    with http_server() as running:
        yield running


@pytest.fixture
def context(tmp_path: Path) -> CheckContext:
    return CheckContext("r-42", "v2.4.0", environment="production", base_dir=tmp_path)


def check(**fields: object) -> HttpCheck:
    return HttpCheck.model_validate(fields)


class Sleeps:
    """Stands in for time.sleep and remembers what it was asked to wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def test_the_expected_status_passes(server: Server, context: CheckContext) -> None:
    result = run_http(check(url=f"{server.base}/health"), context, timeout=5)

    assert result.passed
    assert result.summary.startswith(f"GET {server.base}/health answered 200 in ")
    assert result.details["status"] == 200
    assert "status: ok" in result.output_tail


def test_another_status_fails_with_the_body_as_a_hint(
    server: Server, context: CheckContext
) -> None:
    result = run_http(check(url=f"{server.base}/fail"), context, timeout=5)

    assert not result.passed
    assert result.summary == (
        f"GET {server.base}/fail answered 503, expected 200: upstream unavailable"
    )


def test_a_list_of_statuses_accepts_any_of_them(server: Server, context: CheckContext) -> None:
    passing = run_http(
        check(url=f"{server.base}/fail", expect_status=[200, 503]), context, timeout=5
    )
    failing = run_http(
        check(url=f"{server.base}/health", expect_status=[204, 202]), context, timeout=5
    )

    assert passing.passed
    assert failing.summary.startswith(f"GET {server.base}/health answered 200, expected 204 or 202")


def test_the_body_must_match_the_expected_pattern(server: Server, context: CheckContext) -> None:
    matching = run_http(
        check(url=f"{server.base}/health", expect_body=r"status:\s*ok$"), context, timeout=5
    )
    other = run_http(check(url=f"{server.base}/health", expect_body="ready"), context, timeout=5)

    assert matching.passed, matching.summary
    assert not other.passed
    assert (
        other.summary == f"GET {server.base}/health answered 200 but the body did not match /ready/"
    )


def test_a_slow_answer_fails_the_latency_limit(server: Server, context: CheckContext) -> None:
    slow = run_http(check(url=f"{server.base}/slow?ms=300", max_latency=0.1), context, timeout=5)
    roomy = run_http(check(url=f"{server.base}/slow?ms=50", max_latency=5), context, timeout=5)

    assert not slow.passed
    assert slow.summary.startswith(f"GET {server.base}/slow?ms=300 answered 200 but took ")
    assert slow.summary.endswith(" ms, limit 100 ms")
    assert slow.details["latency_ms"] >= 300  # type: ignore[operator]
    assert roomy.passed


def test_body_and_latency_problems_are_both_told(server: Server, context: CheckContext) -> None:
    result = run_http(
        check(url=f"{server.base}/slow?ms=200", expect_body="fast", max_latency=0.05),
        context,
        timeout=5,
    )

    assert "but the body did not match /fast/ and took " in result.summary


def test_no_answer_within_the_timeout_fails(server: Server, context: CheckContext) -> None:
    result = run_http(check(url=f"{server.base}/slow?ms=2000"), context, timeout=0.2)

    assert not result.passed
    assert result.summary == f"GET {server.base}/slow?ms=2000 got no answer within 200 ms"


def test_a_refused_connection_fails_with_the_reason(context: CheckContext) -> None:
    with http_server() as gone:
        url = f"{gone.base}/health"
    result = run_http(check(url=url), context, timeout=2)

    assert not result.passed
    assert result.summary.startswith(f"GET {url} failed: ")


def test_retries_wait_with_backoff_until_the_check_passes(
    server: Server, context: CheckContext
) -> None:
    sleeps = Sleeps()

    result = run_http(
        check(url=f"{server.base}/flaky?fails=2"), context, timeout=5, retries=3, sleep=sleeps
    )

    assert result.passed
    assert result.summary.endswith("(attempt 3 of 4)")
    assert result.details["attempts"] == 3
    assert sleeps.waits == [1.0, 2.0]
    assert server.counts["/flaky"] == 3


def test_retries_that_run_out_report_the_last_failure(
    server: Server, context: CheckContext
) -> None:
    sleeps = Sleeps()

    result = run_http(
        check(url=f"{server.base}/flaky?fails=5"), context, timeout=5, retries=1, sleep=sleeps
    )

    assert not result.passed
    assert result.summary == (
        f"GET {server.base}/flaky?fails=5 answered 500, expected 200: failure number 2 "
        "(attempt 2 of 2)"
    )
    assert sleeps.waits == [1.0]


def test_backoff_doubles_up_to_a_cap() -> None:
    assert [backoff(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_secret_references_are_expanded_for_the_request_only(
    server: Server, context: CheckContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMOKE_TOKEN", server.token)
    spec = check(
        url=f"{server.base}/auth?token=${{SMOKE_TOKEN}}",
        headers={"Authorization": "Bearer ${SMOKE_TOKEN}"},
    )

    result = run_http(spec, context, timeout=5)

    assert result.passed, result.summary
    assert server.requests[-1].headers["Authorization"] == f"Bearer {server.token}"
    assert server.requests[-1].path.endswith(f"token={server.token}")
    assert "${SMOKE_TOKEN}" in result.summary
    assert server.token not in repr(result)


def test_a_secret_echoed_back_by_the_server_is_masked(
    server: Server, context: CheckContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMOKE_TOKEN", "wrong-token-1234")
    spec = check(url=f"{server.base}/auth", headers={"Authorization": "Bearer ${SMOKE_TOKEN}"})

    result = run_http(spec, context, timeout=5)

    assert not result.passed
    assert result.summary.endswith("answered 401, expected 200: bad credentials: Bearer ****")
    assert "wrong-token-1234" not in repr(result)


def test_a_literal_credential_in_the_url_is_masked_in_the_summary(
    server: Server, context: CheckContext
) -> None:
    result = run_http(check(url=f"{server.base}/health?api_key=abc123def456"), context, timeout=5)

    assert result.passed
    assert "abc123def456" not in repr(result)
    assert "api_key=****" in result.summary


def test_an_unset_variable_stops_the_request_before_it_is_sent(
    server: Server, context: CheckContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    spec = check(url=f"{server.base}/health", headers={"X-Key": "${NOT_SET_ANYWHERE}"})

    result = run_http(spec, context, timeout=5, retries=3, sleep=Sleeps())

    assert not result.passed
    assert result.summary == (
        f"GET {server.base}/health was not sent: ${{NOT_SET_ANYWHERE}} is not set in the "
        "environment"
    )
    assert server.requests == []


def test_a_bad_body_pattern_is_a_failed_check_not_a_crash(
    server: Server, context: CheckContext
) -> None:
    result = run_http(
        check(url=f"{server.base}/health", expect_body="(unclosed"), context, timeout=5
    )

    assert not result.passed
    assert "expect_body /(unclosed/ is not a valid regular expression" in result.summary
    assert server.requests == []


def test_method_headers_and_body_are_sent(
    server: Server, context: CheckContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDER_ID", "order-7781")
    spec = check(
        url=f"{server.base}/echo",
        method="POST",
        headers={"Content-Type": "application/json"},
        body='{"order": "${ORDER_ID}"}',
        expect_body='"order": "order-',
    )

    result = run_http(spec, context, timeout=5)

    assert result.passed, result.summary
    seen = server.requests[-1]
    assert (seen.method, seen.body) == ("POST", b'{"order": "order-7781"}')
    assert seen.headers["Content-Type"] == "application/json"
    assert "order-7781" not in result.output_tail  # the echoed value was a secret reference


def test_redirects_are_not_followed(server: Server, context: CheckContext) -> None:
    result = run_http(check(url=f"{server.base}/redirect"), context, timeout=5)

    assert not result.passed
    assert result.summary == f"GET {server.base}/redirect answered 302, expected 200"


def test_a_header_that_cannot_be_sent_is_a_failed_check_not_a_crash(
    server: Server, context: CheckContext
) -> None:
    spec = check(url=f"{server.base}/health", headers={"X-Team": "Zürich"})

    result = run_http(spec, context, timeout=5, retries=2, sleep=Sleeps())

    assert not result.passed
    assert result.summary.startswith(f"GET {server.base}/health was not sent: ")
    assert result.details["attempts"] == 1
    assert server.requests == []
