"""The demo plan's conversion metric command, run as the controller runs it."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from rollout.demo.conversions import SHOP_ENV

ANSWER = {"intervals": [{"start": 10, "end": 12, "canary": {"requests": 3, "conversions": 2}}]}


@pytest.fixture
def shop() -> Iterator[tuple[str, list[str]]]:
    """A stand-in shop answering /_demo/conversions; yields its address and the paths asked."""
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            body = json.dumps(ANSWER).encode()
            self.send_response(200 if self.path.startswith("/_demo/conversions?") else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    yield f"{host}:{port}", asked
    server.shutdown()
    server.server_close()


def _run(args: list[str], shop: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != SHOP_ENV}
    if shop is not None:
        env[SHOP_ENV] = shop
    return subprocess.run(
        [sys.executable, "-m", "rollout.demo.conversions", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )


def test_it_prints_what_the_shop_answers(shop: tuple[str, list[str]]) -> None:
    address, asked = shop
    done = _run(["--start", "10", "--end", "12", "--step", "2"], address)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ANSWER
    assert asked == ["/_demo/conversions?start=10&end=12&step=2"]


def test_without_the_shop_it_fails_with_the_reason() -> None:
    done = _run(["--start", "10", "--end", "12", "--step", "2"], None)
    assert done.returncode == 1
    assert f"${SHOP_ENV} is not set" in done.stderr
    refused = _run(["--start", "10", "--end", "12", "--step", "2"], "127.0.0.1:1")
    assert refused.returncode == 1
    assert "cannot read conversions from the shop at 127.0.0.1:1" in refused.stderr


def test_bad_arguments_are_a_usage_error(shop: tuple[str, list[str]]) -> None:
    done = _run(["--start", "ten", "--end", "12", "--step", "2"], shop[0])
    assert done.returncode == 2
    assert "usage:" in done.stderr
    assert shop[1] == []
