"""``rollout server`` in a real subprocess on a free loopback port (``--port 0``): the URL is
read from the line the command prints when it starts serving."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from types import TracebackType
from typing import Self

ENTRY = "import sys; from rollout.cli import main; main(sys.argv[1:])"
_SERVING = re.compile(r"serving on (http://\S+)")


class ServerProcess:
    """A ``rollout server`` process, spawned at once; :meth:`wait_serving` (or entering the
    ``with`` block) waits for its URL. Its stderr is kept in ``lines``."""

    def __init__(self, database: str, *options: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROLLOUT_")}
        self.process = subprocess.Popen(
            [sys.executable, "-c", ENTRY, "server", "--port", "0", "--database", database,
             "--log-level", "warning", *options],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )  # fmt: skip
        self.lines: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._drain, daemon=True).start()
        self.url = ""

    def _drain(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def wait_serving(self, timeout: float = 60.0) -> Self:
        """Wait until the server prints the URL it serves on (fails the test otherwise)."""
        if not self.url:
            self.url = self._wait_for_url(timeout)
        return self

    def _wait_for_url(self, timeout: float) -> str:
        while True:
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                self.stop()
                raise AssertionError(f"rollout server did not start in {timeout} s") from None
            if line is None:
                self.process.wait(10)
                raise AssertionError("rollout server exited:\n" + "".join(self.lines))
            match = _SERVING.search(line)
            if match:
                return match.group(1)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, as a process manager stops it; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
                raise AssertionError(f"rollout server ignored SIGTERM for {timeout} s") from None
        return self.process.returncode

    def __enter__(self) -> Self:
        return self.wait_serving()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
