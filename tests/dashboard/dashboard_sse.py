"""Reading a dashboard page's live stream in a test: a real HTTP client in a thread, every
event put on a queue, and bounded waits for the one a test expects (never sleeps)."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Event:
    """One SSE event (comments and bare ``retry`` blocks are skipped)."""

    event: str
    id: str | None
    data: str

    @property
    def regions(self) -> dict[str, str]:
        found: dict[str, str] = json.loads(self.data)["regions"]
        return found


class LiveStream:
    """Connects to ``url`` at once; ``status`` is the response's status once connected."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.events: queue.Queue[Event | None] = queue.Queue()
        self.status = 0
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url, headers or {}), daemon=True)
        self._thread.start()
        assert self._connected.wait(10), f"no answer from {url}"

    def _read(self, url: str, headers: dict[str, str]) -> None:
        try:
            timeout = httpx.Timeout(10.0, read=None)
            with httpx.stream("GET", url, headers=headers, timeout=timeout) as response:
                self.status = response.status_code
                self._connected.set()
                fields: dict[str, str] = {}
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if line:
                        name, _, value = line.partition(":")
                        if name:
                            fields[name] = value.removeprefix(" ")
                        continue
                    if "event" in fields:
                        self.events.put(Event(fields["event"], fields.get("id"), fields["data"]))
                    fields = {}
        except httpx.HTTPError:
            pass
        finally:
            self._connected.set()
            self.events.put(None)

    def wait_for(self, wanted: Callable[[Event], bool], timeout: float = 10.0) -> Event:
        """The first event ``wanted`` accepts; fails after ``timeout`` seconds without it."""
        while True:
            try:
                event = self.events.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no such event within {timeout} s") from None
            if event is None:
                raise AssertionError("the stream ended first")
            if wanted(event):
                return event

    def wait_end(self, timeout: float = 10.0) -> None:
        """Wait until the server ends the stream (events before the end are let go)."""
        while True:
            try:
                event = self.events.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"the stream did not end within {timeout} s") from None
            if event is None:
                return

    def close(self) -> None:
        """Stop reading (the connection closes at the next line the server sends)."""
        self._stop.set()
