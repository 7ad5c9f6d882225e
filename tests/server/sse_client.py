"""A minimal SSE reader for tests: a real HTTP client reading a real stream in a thread.

Every block (event, comment, bare ``retry``) lands on a queue; tests wait on it with a bound,
never by sleeping. The thread ends when the server ends the stream (a stopping server does) or
the connection drops.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

import httpx

from rollout.flags import FlagConfig


@dataclass(frozen=True)
class Block:
    """One SSE block: fields as received (``None`` when absent)."""

    id: str | None = None
    event: str | None = None
    data: str | None = None
    retry: int | None = None
    comment: str | None = None

    @property
    def is_config(self) -> bool:
        return self.event == "config" and self.data is not None

    def config(self) -> FlagConfig:
        assert self.data is not None
        return FlagConfig.model_validate_json(self.data)


END = Block(comment="<end of stream>")


class SseReader:
    """Connects at once; ``connected`` is set when the response headers arrived."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.blocks: queue.Queue[Block] = queue.Queue()
        self.status = 0
        self.content_type = ""
        self.connected = threading.Event()
        self._headers = headers or {}
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self.connected.wait(15), f"no response from {url}"

    def _read(self) -> None:
        try:
            timeout = httpx.Timeout(10.0, read=None)
            with httpx.stream("GET", self.url, headers=self._headers, timeout=timeout) as response:
                self.status = response.status_code
                self.content_type = response.headers.get("content-type", "")
                self.connected.set()
                fields: dict[str, str] = {}
                for line in response.iter_lines():
                    if line:
                        name, _, value = line.partition(":")
                        fields[name] = fields.get(name, "") + value.removeprefix(" ")
                        continue
                    if fields:
                        self.blocks.put(_block(fields))
                    fields = {}
        except httpx.HTTPError:
            pass
        finally:
            self.connected.set()
            self.blocks.put(END)

    def next(self, timeout: float = 10.0) -> Block:
        """The next block; fails the test after ``timeout`` seconds without one."""
        try:
            return self.blocks.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no SSE block from {self.url} within {timeout} s") from None

    def next_config(self, timeout: float = 10.0) -> Block:
        """The next config event (skipping keep-alives and the retry block)."""
        while True:
            block = self.next(timeout)
            assert block is not END, "the stream ended before a config event"
            if block.is_config:
                return block

    def config_with_version(self, version: int, timeout: float = 10.0) -> FlagConfig:
        """Config events until one has ``version`` (later versions fail the test)."""
        while True:
            config = self.next_config(timeout).config()
            assert config.version <= version, f"skipped past version {version}: {config.version}"
            if config.version == version:
                return config

    def wait_closed(self, timeout: float = 10.0) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the stream is still open"


def _block(fields: dict[str, str]) -> Block:
    retry = fields.get("retry")
    return Block(
        id=fields.get("id"),
        event=fields.get("event"),
        data=fields.get("data"),
        retry=int(retry) if retry is not None else None,
        comment=fields.get(""),
    )
