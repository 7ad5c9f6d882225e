"""An asyncio event loop in a daemon thread: where an online client's background work runs."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

_T = TypeVar("_T")


class LoopThread:
    """Starts a loop in a daemon thread (so a client the application never closes does not
    keep the interpreter alive) and runs coroutines on it from other threads."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.call_soon(started.set)
            try:
                self.loop.run_forever()
            finally:
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
                self.loop.close()

        self.thread = threading.Thread(target=run, name=name, daemon=True)
        self.thread.start()
        started.wait()

    def is_current(self) -> bool:
        """Whether the caller runs on the loop's own thread."""
        return threading.current_thread() is self.thread

    def call(self, coro: Coroutine[Any, Any, _T], timeout: float | None) -> _T:
        """Run ``coro`` on the loop and wait for its result (``TimeoutError`` after
        ``timeout`` seconds; the coroutine then goes on)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self, timeout: float) -> None:
        """Stop the loop and wait up to ``timeout`` seconds for the thread to end."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)
