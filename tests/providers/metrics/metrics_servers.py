"""Real processes for the Prometheus tests: the two-version app and a Prometheus scraping it.

Each function here is a context manager that starts its process on a free loopback port, waits (by
polling, with a deadline) until it answers, and stops it on the way out.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
STARTUP_TIMEOUT = 20.0

PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
scrape_configs:
  - job_name: app
    static_configs:
      - targets: ["{target}"]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], Any], what: str, timeout: float = STARTUP_TIMEOUT) -> Any:
    """Poll ``condition()`` until it returns something true and return that; fail the test
    naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def two_version_app() -> Iterator[str]:
    """The app of ``_two_version_app.py``; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(HERE / "_two_version_app.py"), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: process.poll() is not None or _answers(f"{url}/metrics"), "the app to answer"
        )
        assert process.poll() is None, f"the app exited with {process.returncode}"
        yield url
    finally:
        _stop(process)


@contextlib.contextmanager
def prometheus(binary: str, target: str, workdir: Path) -> Iterator[str]:
    """A Prometheus scraping ``target`` (``host:port``) every second, its data in
    ``workdir``; yields its base URL once it is ready."""
    config = workdir / "prometheus.yml"
    config.write_text(PROMETHEUS_CONFIG.format(target=target))
    port = free_port()
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: process.poll() is not None or _answers(f"{url}/-/ready"),
            "Prometheus to be ready",
        )
        assert process.poll() is None, (
            f"Prometheus exited with {process.returncode}: "
            f"{(workdir / 'prometheus.log').read_text()[-2000:]}"
        )
        yield url
    finally:
        _stop(process)
        log.close()


def instant(url: str, query: str) -> list[dict[str, Any]]:
    """The result of an instant query (an empty list when Prometheus has no sample)."""
    body = httpx.get(f"{url}/api/v1/query", params={"query": query}, timeout=5.0).json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result
