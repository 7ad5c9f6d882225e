"""Outcome telemetry: per flag arm, how many requests, how many failed, who they failed for and
how long they took.

An *arm* is one (flag, variant) pair. :class:`OutcomeRecorder` adds each request's outcome to
its arm (thread-safe; a lock held for a dict update and a sketch insert). Every
``flush_interval`` -- and, once a request has failed, as soon as ``error_flush_interval`` has
passed since the last cut -- the client *cuts* a window: the arms recorded since the last cut
become one batch, the body of ``POST /api/v1/telemetry`` (the server's OpenAPI document,
``/openapi.json``, has its schema)::

    {"sdk": {"name": "rollout-python", "version": "0.1.0", "instance": "<uuid>"},
     "environment": "production", "window_start": 1767225600.0, "window_end": 1767225610.0,
     "arms": [{"flag": "new-checkout", "variant": "on", "requests": 120, "errors": 7,
               "error_subjects": 2,
               "latency": {"v": 1, "a": 0.01, "z": 0, "o": 280, "c": [3, 0, 7]},
               "events": [{"name": "checkout", "count": 9, "value_sum": 412.5}]}]}

``error_subjects`` counts the distinct subjects (targeting keys) whose requests failed in the
window, plus the failures that named no subject: above, one user retried a broken page six
times and another failed once. The server judges "no regression" of the error rate on these, so
one client retrying in a loop weighs as one failing user, not as a regression; the error rate
shown stays ``errors / requests``. The recorder keeps a hash of each failing subject, at most
:data:`MAX_ERROR_SUBJECTS` per arm and window; beyond that, each failure of a subject not yet
seen counts as a subject of its own (more, never fewer, so a bound never hides a regression).

``events`` holds the business events tracked (``client.track``) for subjects the arm served:
per event name, how many and, when values were tracked with it, their sum (for means);
``value_sum`` is left out when no value was given. An arm may carry events and no request
(a subject served ``on`` earlier converts in a request that evaluated no flag).

:class:`TelemetrySender` keeps unsent batches in a bounded queue (oldest dropped first, counted
in ``dropped_batches``) and sends them oldest first; a failure (network, 5xx, 429) stops the
round and the next attempt waits an exponential backoff. A batch the server refuses with any
other 4xx is dropped (``rejected_batches``): sending it again cannot succeed.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from rollout import __version__
from rollout.analysis.sketch import LatencySketch
from rollout.errors import ProviderError
from rollout.sdk.backoff import Backoff

__all__ = [
    "MAX_ERROR_SUBJECTS",
    "MAX_EVENT_NAMES",
    "MAX_EVENT_NAME_LENGTH",
    "SDK_NAME",
    "TELEMETRY_PATH",
    "ArmOutcome",
    "OutcomeRecorder",
    "TelemetrySender",
    "TelemetryStats",
    "TelemetryWindow",
    "TrackedEvent",
]

SDK_NAME = "rollout-python"
TELEMETRY_PATH = "/api/v1/telemetry"


@dataclass(frozen=True)
class TrackedEvent:
    """How often one business event was tracked in an arm over a window, and the sum of the
    values tracked with it (``None`` when none came with a value)."""

    name: str
    count: int
    value_sum: float | None = None

    def to_wire(self) -> dict[str, Any]:
        """The event as it appears in an arm of the telemetry body."""
        wire: dict[str, Any] = {"name": self.name, "count": self.count}
        if self.value_sum is not None:
            wire["value_sum"] = self.value_sum
        return wire


@dataclass(frozen=True)
class ArmOutcome:
    """Outcomes of one arm over a window; ``latency`` is the sketch of request durations (ms),
    ``events`` the business events tracked for subjects the arm served, by name;
    ``error_subjects`` the distinct failing subjects plus the failures without one (see the
    module docstring)."""

    flag: str
    variant: str
    requests: int
    errors: int
    latency: LatencySketch
    events: tuple[TrackedEvent, ...] = ()
    error_subjects: int = 0

    def to_wire(self) -> dict[str, Any]:
        """The arm as it appears in the telemetry body."""
        wire: dict[str, Any] = {
            "flag": self.flag,
            "variant": self.variant,
            "requests": self.requests,
            "errors": self.errors,
            "error_subjects": self.error_subjects,
            "latency": self.latency.to_dict() if self.latency.count else None,
        }
        if self.events:
            wire["events"] = [event.to_wire() for event in self.events]
        return wire


@dataclass(frozen=True)
class TelemetryWindow:
    """The arms recorded between ``window_start`` and ``window_end`` (epoch seconds)."""

    window_start: float
    window_end: float
    arms: tuple[ArmOutcome, ...]


@dataclass(frozen=True)
class TelemetryStats:
    """Counters of the telemetry pipeline since the client started."""

    sent_batches: int  # accepted by the server (202)
    failed_attempts: int  # sending rounds that failed and will be retried
    dropped_batches: int  # dropped unsent because the queue was full (oldest first)
    rejected_batches: int  # refused by the server with a 4xx other than 429; not retried
    pending_batches: int  # waiting to be sent


class _Tally:
    __slots__ = ("count", "value_sum")

    def __init__(self) -> None:
        self.count = 0
        self.value_sum: float | None = None


class _Arm:
    __slots__ = ("errors", "events", "failing", "latency", "requests", "unnamed_failures")

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.latency = LatencySketch()
        self.events: dict[str, _Tally] = {}
        self.failing: set[int] = set()  # hashes of the subjects whose requests failed
        self.unnamed_failures = 0  # failures without a subject, or beyond the bound

    def add_failure(self, subject: str | None) -> None:
        if subject is not None:
            # A process-local hash: the set lives one window in one process, and keeping
            # hashes rather than keys holds no user id in memory longer than needed.
            key = hash(subject)
            if key in self.failing:
                return
            if len(self.failing) < MAX_ERROR_SUBJECTS:
                self.failing.add(key)
                return
        self.unnamed_failures += 1

    def outcome(self, flag: str, variant: str, latency: LatencySketch) -> ArmOutcome:
        events = tuple(TrackedEvent(n, t.count, t.value_sum) for n, t in self.events.items())
        subjects = len(self.failing) + self.unnamed_failures
        return ArmOutcome(flag, variant, self.requests, self.errors, latency, events, subjects)


MAX_EVENT_NAMES = 100
"""Distinct event names one window keeps; the server refuses batches with more. Later names
are dropped (counted in ``OutcomeRecorder.dropped_events``) until the window is cut."""
MAX_EVENT_NAME_LENGTH = 200
"""The longest event name the server accepts."""
MAX_ERROR_SUBJECTS = 1000
"""Distinct failing subjects one arm remembers per window; each failure of a further subject
counts as one more subject (see the module docstring)."""


class OutcomeRecorder:
    """Accumulates request outcomes and tracked events per arm until the next :meth:`cut`."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._arms: dict[tuple[str, str], _Arm] = {}
        self._event_names: set[str] = set()
        self._window_start = clock()
        self._errors = 0
        self.dropped_events = 0

    @property
    def has_errors(self) -> bool:
        """Whether a request of the window in progress has failed (read without the lock:
        an int read is atomic, and a stale answer only moves a cut by one check)."""
        return self._errors > 0

    def record(
        self,
        flag: str,
        variant: str,
        latency_ms: float,
        error: bool,
        subject: str | None = None,
    ) -> None:
        """Count one request served by ``flag``'s ``variant`` that took ``latency_ms``
        milliseconds and failed when ``error``, made by ``subject`` (None when unknown: the
        failure then counts as a failing subject of its own). ``ValueError`` for a negative or
        non-finite latency."""
        if not math.isfinite(latency_ms) or latency_ms < 0:
            raise ValueError(f"latency_ms must be a finite number >= 0, not {latency_ms!r}")
        with self._lock:
            arm = self._arm((flag, variant))
            arm.requests += 1
            if error:
                arm.errors += 1
                self._errors += 1
                arm.add_failure(subject)
            arm.latency.add(latency_ms)

    def _arm(self, key: tuple[str, str]) -> _Arm:
        """The window's tally of arm ``key``, started on first use (call with the lock held)."""
        arm = self._arms.get(key)
        if arm is None:
            arm = self._arms[key] = _Arm()
        return arm

    def track(self, arms: Iterable[tuple[str, str]], event: str, value: float | None) -> None:
        """Count one ``event`` (with ``value`` added to its sum when given) in each of ``arms``,
        ``(flag, variant)`` pairs. The caller checks the name and the value."""
        with self._lock:
            if event not in self._event_names:
                if len(self._event_names) >= MAX_EVENT_NAMES:
                    self.dropped_events += 1
                    return
                self._event_names.add(event)
            for key in arms:
                arm = self._arm(key)
                tally = arm.events.get(event)
                if tally is None:
                    tally = arm.events[event] = _Tally()
                tally.count += 1
                if value is not None:
                    tally.value_sum = (tally.value_sum or 0.0) + value

    def peek(self) -> tuple[ArmOutcome, ...]:
        """The arms of the window in progress (copies; recording goes on)."""
        with self._lock:
            return tuple(a.outcome(f, v, a.latency.copy()) for (f, v), a in self._arms.items())

    def cut(self) -> TelemetryWindow:
        """End the window in progress and return it; a new one starts now."""
        now = self._clock()
        with self._lock:
            arms, self._arms = self._arms, {}
            self._event_names = set()
            self._errors = 0
            start, self._window_start = self._window_start, now
        return TelemetryWindow(
            start, max(now, start), tuple(a.outcome(f, v, a.latency) for (f, v), a in arms.items())
        )


def telemetry_body(window: TelemetryWindow, environment: str, instance: str) -> dict[str, Any]:
    """The JSON body of ``POST /api/v1/telemetry`` for one window."""
    return {
        "sdk": {"name": SDK_NAME, "version": __version__, "instance": instance},
        "environment": environment,
        "window_start": window.window_start,
        "window_end": window.window_end,
        "arms": [arm.to_wire() for arm in window.arms],
    }


class _Rejected(ProviderError):
    """The server refused a batch for good (a 4xx other than 429)."""


class TelemetrySender:
    """The queue of unsent batches and the code that sends them (on the client's event loop).

    ``enqueue`` may be called from any thread; ``send_pending`` runs on the loop that owns
    ``http``.
    """

    def __init__(self, environment: str, instance: str, max_pending: int) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, not {max_pending}")
        self.environment = environment
        self.instance = instance
        self._pending: deque[Mapping[str, Any]] = deque()
        self._max_pending = max_pending
        self._lock = threading.Lock()
        self._sent = self._failed = self._dropped = self._rejected = 0
        # One sending round at a time: the periodic flush and an explicit flush() both run on
        # the loop and would otherwise post the same head-of-queue batch twice.
        self._round = asyncio.Lock()

    def enqueue(self, window: TelemetryWindow) -> None:
        """Queue a window for sending (nothing when it holds no arm); drops the oldest queued
        batch when the queue is full."""
        if not window.arms:
            return
        body = telemetry_body(window, self.environment, self.instance)
        with self._lock:
            if len(self._pending) >= self._max_pending:
                self._pending.popleft()
                self._dropped += 1
            self._pending.append(body)

    @property
    def pending(self) -> int:
        """How many batches wait to be sent."""
        return len(self._pending)

    def stats(self) -> TelemetryStats:
        """The pipeline's counters."""
        with self._lock:
            return TelemetryStats(
                self._sent, self._failed, self._dropped, self._rejected, len(self._pending)
            )

    async def send_pending(self, http: httpx.AsyncClient) -> bool:
        """Send queued batches oldest first; ``True`` when the queue was emptied, ``False`` when
        a failure stopped the round (the failed batch stays queued)."""
        async with self._round:
            return await self._send_all(http)

    async def _send_all(self, http: httpx.AsyncClient) -> bool:
        while True:
            with self._lock:
                if not self._pending:
                    return True
                body = self._pending[0]
            try:
                await self._post(http, body)
            except _Rejected:
                with self._lock:
                    self._discard(body)
                    self._rejected += 1
                continue
            except ProviderError:
                with self._lock:
                    self._failed += 1
                return False
            with self._lock:
                self._discard(body)
                self._sent += 1

    async def flush(self, http: httpx.AsyncClient, recorder: OutcomeRecorder) -> bool:
        """Cut ``recorder``'s window, queue it and send everything queued; see
        :meth:`send_pending`."""
        self.enqueue(recorder.cut())
        return await self.send_pending(http)

    async def run(
        self,
        http: httpx.AsyncClient,
        recorder: OutcomeRecorder,
        flush_interval: float,
        error_flush_interval: float | None = None,
    ) -> None:
        """Every ``flush_interval`` seconds cut a window and queue it; send the queue, and
        after a failed round retry with backoff (1 s doubling to 60 s, or to the window when
        longer) while new windows keep being cut on time. Runs until cancelled.

        With ``error_flush_interval``, a window in which a request failed is cut as soon as
        that many seconds have passed since the last cut: the server judges rollback
        triggers on each batch as it lands, so errors reach it within about that time
        instead of ``flush_interval``, while a healthy service sends no more than before."""
        retry_delays = Backoff(min(1.0, flush_interval), max(60.0, flush_interval))
        retry_at = 0.0
        last_cut = time.monotonic()
        next_cut = last_cut + flush_interval
        early = error_flush_interval if error_flush_interval is not None else flush_interval
        while True:
            now = time.monotonic()
            # Look for failed requests every `early` seconds (a cheap read, no lock).
            due = min(next_cut, max(last_cut + early, now + early))
            wake = min(due, max(retry_at, now)) if self.pending else due
            await asyncio.sleep(max(0.0, wake - now))
            now = time.monotonic()
            if now >= next_cut or (now - last_cut >= early and recorder.has_errors):
                self.enqueue(recorder.cut())
                last_cut, next_cut = now, now + flush_interval
            if self.pending and now >= retry_at:
                if await self.send_pending(http):
                    retry_delays.reset()
                else:
                    retry_at = time.monotonic() + retry_delays.next_delay()

    def _discard(self, body: Mapping[str, Any]) -> None:
        # The batch may have been dropped meanwhile to make room; only remove it if present.
        if self._pending and self._pending[0] is body:
            self._pending.popleft()

    @staticmethod
    async def _post(http: httpx.AsyncClient, body: Mapping[str, Any]) -> None:
        try:
            response = await http.post(TELEMETRY_PATH, json=body)
        except httpx.HTTPError as exc:
            raise ProviderError(f"telemetry not sent: {exc!r}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        message = f"telemetry refused: HTTP {status} {response.text[:200]}"
        if 400 <= status < 500 and status != 429:
            raise _Rejected(message)
        raise ProviderError(message)
