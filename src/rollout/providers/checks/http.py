"""HTTP checks: a smoke request that passes when status, body and latency are as expected.

Plan form::

    http:
      url: https://shop.example/health
      method: GET                      # GET HEAD POST PUT PATCH DELETE
      headers: {Authorization: "Bearer ${SMOKE_TOKEN}"}
      body: null
      expect_status: 200               # or a list: [200, 204]
      expect_body: '"status":\\s*"ok"'  # a regular expression, searched in the body
      max_latency: 300ms

``${VAR}`` references in the URL, the headers and the body are filled in from the environment
when the request is made and never appear in a summary: summaries show the URL as written, with
anything that looks like a credential masked, and any expanded value a server echoes back is
masked too. Redirects are not followed, so a redirect answers with its own status (a check on
``http://`` that is sent to ``https://`` says so instead of quietly passing).

Latency is the time from sending the request to having read the body (at most
``BODY_LIMIT`` bytes of it are read and matched). With ``retries: N`` a failed request is
repeated up to N more times, waiting 1 s, 2 s, 4 s, ... (at most 30 s) in between; the result
is the last attempt's, saying how many there were. Summaries::

    GET https://shop.example/health answered 200 in 41 ms
    GET https://shop.example/health answered 503, expected 200: upstream unavailable
    GET https://shop.example/health answered 200 but the body did not match /ok/
    GET https://shop.example/health answered 200 but took 812 ms, limit 300 ms
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from rollout.plan import mask_url
from rollout.plan.model import HttpCheck
from rollout.providers.checks._result import (
    CheckContext,
    CheckResult,
    DetailValue,
    last_line,
    seconds,
)
from rollout.providers.secrets import MissingVariable, Scrubber, expand, expand_all

BODY_LIMIT = 1024 * 1024
"""Bytes of a response body read and matched against ``expect_body`` (the first 1 MiB)."""
TAIL_LIMIT = 4000
"""Characters of the body kept as the result's ``output_tail``."""
BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0

Sleep = Callable[[float], None]


@dataclass(frozen=True)
class _Request:
    url: str
    headers: dict[str, str]
    body: str | None
    scrub: Scrubber


@dataclass(frozen=True)
class _Attempt:
    result: CheckResult
    retryable: bool = True


def backoff(attempt: int, base: float = BACKOFF_S) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): 1, 2, 4, ... at most 30.

    >>> [backoff(n) for n in (1, 2, 3, 7)]
    [1.0, 2.0, 4.0, 30.0]
    """
    return float(min(base * 2.0 ** (attempt - 1), MAX_BACKOFF_S))


def run_http(
    spec: HttpCheck,
    context: CheckContext,
    *,
    timeout: float,
    retries: int = 0,
    sleep: Sleep = time.sleep,
    transport: httpx.BaseTransport | None = None,
) -> CheckResult:
    """Make the request ``spec`` describes, up to ``1 + retries`` times, and judge the answer.

    ``timeout`` (seconds) bounds each attempt's request. ``sleep`` waits between attempts
    (inject a fake one in tests). ``context`` is not used by the request itself; it is here so
    every check kind takes the same arguments.
    """
    shown = f"{spec.method} {mask_url(spec.url)}"
    started = time.monotonic()
    try:
        request = _expand(spec)
    except MissingVariable as exc:
        return CheckResult(False, f"{shown} was not sent: {exc}", 0.0)
    try:
        pattern = re.compile(spec.expect_body) if spec.expect_body is not None else None
    except re.error as exc:
        summary = f"{shown} was not sent: expect_body /{spec.expect_body}/ is not a valid "
        return CheckResult(False, summary + f"regular expression ({exc})", 0.0)
    total = 1 + retries
    with httpx.Client(timeout=timeout, follow_redirects=False, transport=transport) as client:
        for attempt in range(1, total + 1):
            outcome = _attempt(client, spec, request, pattern, shown)
            if outcome.result.passed or not outcome.retryable or attempt == total:
                break
            sleep(backoff(attempt))
    result = outcome.result
    summary = result.summary if attempt == 1 else f"{result.summary} (attempt {attempt} of {total})"
    return CheckResult(
        result.passed,
        summary,
        time.monotonic() - started,
        result.output_tail,
        {**result.details, "attempts": attempt},
    )


def _expand(spec: HttpCheck) -> _Request:
    url = expand(spec.url)
    headers, header_scrub = expand_all(spec.headers)
    body = expand(spec.body) if spec.body is not None else None
    scrub = url.scrubber + header_scrub + (body.scrubber if body else Scrubber())
    return _Request(url.text, headers, body.text if body else None, scrub)


def _attempt(
    client: httpx.Client,
    spec: HttpCheck,
    request: _Request,
    pattern: re.Pattern[str] | None,
    shown: str,
) -> _Attempt:
    details: dict[str, DetailValue] = {"method": spec.method, "url": mask_url(spec.url)}
    began = time.perf_counter()
    try:
        with client.stream(
            spec.method, request.url, headers=request.headers, content=request.body
        ) as response:
            raw = _read_limited(response)
            latency = time.perf_counter() - began
            status = response.status_code
            encoding = response.encoding or "utf-8"
    except httpx.TimeoutException:
        took = time.perf_counter() - began
        summary = f"{shown} got no answer within {seconds(client.timeout.read or took)}"
        return _Attempt(CheckResult(False, summary, took, details=details))
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        summary = f"{shown} was not sent: {request.scrub(str(exc))}"
        return _Attempt(CheckResult(False, summary, 0.0, details=details), retryable=False)
    except httpx.HTTPError as exc:
        took = time.perf_counter() - began
        why = request.scrub(str(exc)) or type(exc).__name__
        return _Attempt(CheckResult(False, f"{shown} failed: {why}", took, details=details))
    except (ValueError, TypeError, UnicodeError) as exc:  # e.g. a header httpx cannot encode
        why = request.scrub(str(exc)) or type(exc).__name__
        summary = f"{shown} was not sent: {why}"
        return _Attempt(CheckResult(False, summary, 0.0, details=details), retryable=False)
    received = raw.decode(encoding, errors="replace")
    # Judge what was received; show people only the masked form.
    text = request.scrub(received)
    tail = text if len(text) <= TAIL_LIMIT else "…" + text[-TAIL_LIMIT:]
    details.update(status=status, latency_ms=round(latency * 1000, 1))
    expected = (spec.expect_status,) if isinstance(spec.expect_status, int) else spec.expect_status
    if status not in expected:
        wanted = " or ".join(str(code) for code in expected)
        hint = last_line(text, limit=120)
        summary = f"{shown} answered {status}, expected {wanted}" + (f": {hint}" if hint else "")
        return _Attempt(CheckResult(False, summary, latency, tail, details))
    problems = []
    if pattern is not None and not pattern.search(received):
        problems.append(f"the body did not match /{spec.expect_body}/")
    if spec.max_latency is not None and latency > spec.max_latency:
        problems.append(f"took {seconds(latency)}, limit {seconds(spec.max_latency)}")
    if problems:
        summary = f"{shown} answered {status} but {' and '.join(problems)}"
        return _Attempt(CheckResult(False, summary, latency, tail, details))
    summary = f"{shown} answered {status} in {seconds(latency)}"
    return _Attempt(CheckResult(True, summary, latency, tail, details))


def _read_limited(response: httpx.Response) -> bytes:
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) >= BODY_LIMIT:
            del data[BODY_LIMIT:]
            break
    return bytes(data)
