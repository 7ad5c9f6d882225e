"""The sample shop in a process of its own, as a real service would be.

:class:`ShopProcess` binds a free loopback port, starts ``python -m rollout.demo.shop`` on that
socket (inherited, so the port is never free for someone else in between) and waits until the
shop answers and its SDK holds a flag config. Stopping it sends SIGTERM: uvicorn finishes the
requests in flight and the SDK sends its last telemetry. Its output goes to a log file.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from rollout.demo.behaviour import Quality
from rollout.errors import RolloutError
from rollout.server.run import bind

__all__ = ["ShopProcess", "ShopUnavailable"]


class ShopUnavailable(RolloutError):
    """The shop did not start, or did not get its flag config in time."""


class ShopProcess:
    """One shop process serving ``release`` (of ``quality``) until :meth:`stop`."""

    def __init__(
        self,
        *,
        release: str,
        quality: Quality,
        server_url: str,
        seed: int,
        workdir: Path,
        environment: str = "production",
    ) -> None:
        self.release = release
        self.quality = quality
        self.server_url = server_url
        self.seed = seed
        self.workdir = workdir
        self.environment = environment
        self.log_path = workdir / f"shop-{release}.log"
        self.address = ""
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def started(self) -> bool:
        """Whether :meth:`launch` has started the process (and it was not stopped since)."""
        return self._process is not None

    def start(self, timeout: float = 30.0) -> Self:
        """Start the shop and wait (at most ``timeout`` s) until it serves with a flag config;
        :class:`ShopUnavailable` otherwise."""
        self.launch()
        self.wait_ready(timeout)
        return self

    def launch(self) -> Self:
        """Start the shop's process without waiting for it (see :meth:`wait_ready`)."""
        sock = bind("127.0.0.1", 0)
        host, port = sock.getsockname()[:2]
        self.address = f"{host}:{port}"
        command = [
            sys.executable,
            "-m",
            "rollout.demo.shop",
            "--fd",
            str(sock.fileno()),
            "--server",
            self.server_url,
            "--environment",
            self.environment,
            "--release",
            self.release,
            "--quality",
            self.quality.value,
            "--seed",
            str(self.seed),
            "--cache-dir",
            str(self.workdir / "sdk-cache"),
            "--exit-with-parent",
        ]
        with self.log_path.open("ab") as log:
            try:
                # Its stdin is a pipe this process holds open: when we end, however we end,
                # the shop sees the pipe close and stops (--exit-with-parent).
                self._process = subprocess.Popen(
                    command,
                    stdin=subprocess.PIPE,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    pass_fds=[sock.fileno()],
                )
            except OSError as exc:
                raise ShopUnavailable(f"the shop could not be started: {exc}") from exc
            finally:
                sock.close()
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait (at most ``timeout`` s) until the launched shop serves with a flag config;
        :class:`ShopUnavailable` otherwise."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        with httpx.Client(base_url=self.url, timeout=2.0) as http:
            while time.monotonic() < deadline:
                process = self._process
                if process is not None and process.poll() is not None:
                    self._process = None
                    raise ShopUnavailable(
                        f"the shop exited with {process.returncode}; see {self.log_path}"
                    )
                try:
                    health = http.get("/healthz").json()
                    if health.get("ready"):
                        return
                    last = "its SDK has no flag config yet"
                except (httpx.HTTPError, ValueError) as exc:
                    last = f"{type(exc).__name__}"
                time.sleep(0.1)
        self.stop()
        raise ShopUnavailable(
            f"the shop was not ready after {timeout:g} s ({last}); see {self.log_path}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5.0)
        finally:
            if process.stdin is not None:
                process.stdin.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
