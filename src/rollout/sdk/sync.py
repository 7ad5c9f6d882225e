"""Keeping a client's config current: the SSE stream, with polling as the fallback.

:class:`ConfigSync` runs on an asyncio loop (the client's background thread; the propagation
benchmark runs a thousand of them on one loop) and hands every config it receives to a
:class:`ConfigSink`. What it does:

* **Stream** ``GET /api/v1/environments/{env}/stream`` with ``Accept: text/event-stream`` and,
  once a config from the server is installed, ``Last-Event-ID: <its version>`` so a reconnect
  does not resend what the client already has. Each ``config`` event carries the full config.
* **Dead links**: the read timeout is ``stream_read_timeout`` (45 s against the server's 15 s
  keep-alive comments), so a link that went silent is noticed and reopened.
* **Reconnect** with exponential backoff and jitter (:mod:`rollout.sdk.backoff`), based on the
  server's ``retry:`` hint (1 s); the backoff restarts after a connection that was healthy
  (delivered a config, or stayed open ``healthy_after`` seconds).
* **Fallback**: after ``failures_before_polling`` consecutive attempts that did not even open a
  stream, poll ``GET /config`` with ``If-None-Match`` every ``poll_interval`` seconds, and try the
  stream again after ``stream_retry_interval`` seconds. With ``streaming=False`` it only polls.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol
from urllib.parse import quote

import httpx

from rollout.errors import FlagError, ProviderError
from rollout.sdk.backoff import Backoff
from rollout.sdk.sse import SSEDecoder

__all__ = ["ConfigSink", "ConfigSync", "SyncMode", "SyncSettings", "config_path", "stream_path"]

log = logging.getLogger("rollout.sdk")


def config_path(environment: str) -> str:
    """``/api/v1/environments/{env}/config`` with the environment percent-encoded."""
    return f"/api/v1/environments/{quote(environment, safe='')}/config"


def stream_path(environment: str) -> str:
    """``/api/v1/environments/{env}/stream`` with the environment percent-encoded."""
    return f"/api/v1/environments/{quote(environment, safe='')}/stream"


class SyncMode(StrEnum):
    """How the client currently gets its updates."""

    CONNECTING = "connecting"  # opening the stream, or waiting to retry it
    STREAMING = "streaming"  # an SSE stream is open
    POLLING = "polling"  # polling GET /config (streaming=False, or the stream keeps failing)
    OFFLINE = "offline"  # no server: the config came from a file or object
    CLOSED = "closed"  # close() was called


@dataclass(frozen=True)
class SyncSettings:
    """Timing of :class:`ConfigSync`; every duration is in seconds."""

    environment: str
    streaming: bool = True
    poll_interval: float = 30.0
    stream_read_timeout: float = 45.0
    failures_before_polling: int = 3
    stream_retry_interval: float = 300.0
    healthy_after: float = 5.0
    backoff_base: float = 1.0
    backoff_cap: float = 30.0

    def __post_init__(self) -> None:
        for name in ("poll_interval", "stream_read_timeout", "stream_retry_interval"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 seconds, not {getattr(self, name)!r}")
        if self.failures_before_polling < 1:
            raise ValueError("failures_before_polling must be >= 1")


class ConfigSink(Protocol):
    """Where :class:`ConfigSync` delivers; implemented by the client (and the benchmark)."""

    def server_version(self) -> int | None:
        """The version of the config installed from this server, if any (for Last-Event-ID
        and If-None-Match)."""

    def apply(self, text: str) -> None:
        """Parse, compile and install a config; raise :class:`rollout.errors.FlagError` if it
        is not a valid config."""

    def failed(self, message: str) -> None:
        """An attempt failed (the server unreachable, a bad answer, an invalid config)."""

    def mode_changed(self, mode: SyncMode) -> None:
        """The way updates arrive changed."""


class _StreamClosed(ProviderError):
    """The server ended the stream (a restart, a deploy, a dropped slow client)."""


class ConfigSync:
    """Stream (or poll) one environment's config into a sink until cancelled."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: SyncSettings,
        sink: ConfigSink,
        rng: random.Random | None = None,
    ) -> None:
        self._http = http
        self._settings = settings
        self._sink = sink
        self._backoff = Backoff(settings.backoff_base, settings.backoff_cap, rng)
        self._mode = SyncMode.CONNECTING
        self._connected = False
        self._delivered = False

    @property
    def mode(self) -> SyncMode:
        """The current :class:`SyncMode`."""
        return self._mode

    def _set_mode(self, mode: SyncMode) -> None:
        if mode is not self._mode:
            self._mode = mode
            self._sink.mode_changed(mode)

    async def run(self) -> None:
        """Keep the sink current until the task is cancelled; never raises otherwise."""
        settings = self._settings
        if not settings.streaming:
            self._set_mode(SyncMode.POLLING)
            await self._poll_for(None)
            return
        failures = 0
        while True:
            started = time.monotonic()
            self._connected = self._delivered = False
            try:
                await self.stream_once()
            except (ProviderError, httpx.HTTPError) as exc:
                self._sink.failed(_describe(exc, settings.stream_read_timeout))
            except Exception as exc:  # a bug must not end the updates for good
                log.exception("rollout: unexpected error in the config stream")
                self._sink.failed(f"unexpected {type(exc).__name__}: {exc}")
            if self._connected:
                failures = 0
                if self._delivered or time.monotonic() - started >= settings.healthy_after:
                    self._backoff.reset()
            else:
                failures += 1
            self._set_mode(SyncMode.CONNECTING)
            if failures >= settings.failures_before_polling:
                log.warning(
                    "rollout: the config stream failed %d times; polling every %.0f s",
                    failures,
                    settings.poll_interval,
                )
                self._set_mode(SyncMode.POLLING)
                await self._poll_for(settings.stream_retry_interval)
                self._set_mode(SyncMode.CONNECTING)
                failures = 0
                self._backoff.reset()
                continue
            await asyncio.sleep(self._backoff.next_delay())

    async def stream_once(self) -> None:
        """Open the stream and deliver its config events until it ends; raises
        :class:`rollout.errors.ProviderError` or ``httpx.HTTPError`` when it fails or ends."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        version = self._sink.server_version()
        if version is not None:
            headers["Last-Event-ID"] = str(version)
        timeout = httpx.Timeout(self._http.timeout.connect, read=self._settings.stream_read_timeout)
        path = stream_path(self._settings.environment)
        async with self._http.stream("GET", path, headers=headers, timeout=timeout) as response:
            if response.status_code != 200:
                await response.aread()
                raise ProviderError(f"the stream answered HTTP {response.status_code}")
            content_type = response.headers.get("content-type", "")
            if not content_type.startswith("text/event-stream"):
                raise ProviderError(f"the stream answered {content_type!r}, not an event stream")
            self._connected = True
            self._set_mode(SyncMode.STREAMING)
            decoder = SSEDecoder()
            async for line in response.aiter_lines():
                event = decoder.feed(line)
                if decoder.retry_ms is not None:
                    self._backoff.base = min(max(decoder.retry_ms / 1000, 0.1), self._backoff.cap)
                    decoder.retry_ms = None
                if event is not None and event.type == "config":
                    self._deliver(event.data)
        raise _StreamClosed("the server closed the stream")

    def _deliver(self, text: str) -> None:
        try:
            self._sink.apply(text)
        except FlagError as exc:
            self._sink.failed(f"the server sent an invalid config: {exc}")
            return
        self._delivered = True

    async def poll_once(self) -> None:
        """One ``GET /config`` (conditional when a server config is installed)."""
        headers = {}
        version = self._sink.server_version()
        if version is not None:
            headers["If-None-Match"] = f'"{version}"'
        response = await self._http.get(config_path(self._settings.environment), headers=headers)
        if response.status_code == 304:  # the installed config is the server's current one
            return
        if response.status_code != 200:
            raise ProviderError(f"GET config answered HTTP {response.status_code}")
        self._deliver(response.text)

    async def _poll_for(self, duration: float | None) -> None:
        """Poll every ``poll_interval`` seconds for ``duration`` seconds (forever if None)."""
        deadline = None if duration is None else time.monotonic() + duration
        while True:
            try:
                await self.poll_once()
            except (ProviderError, httpx.HTTPError) as exc:
                self._sink.failed(_describe(exc, None))
            wait = self._settings.poll_interval
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                wait = min(wait, left)
            await asyncio.sleep(wait)


def _describe(exc: BaseException, read_timeout: float | None) -> str:
    if isinstance(exc, httpx.ReadTimeout) and read_timeout is not None:
        return f"no data from the stream for {read_timeout:g} s (not even a keep-alive)"
    if isinstance(exc, httpx.HTTPError):
        return f"the server is unreachable: {type(exc).__name__}: {exc}"
    return str(exc)
