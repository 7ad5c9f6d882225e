"""A tiny service running two versions at once, for the Prometheus tests.

Run as ``python _two_version_app.py PORT``. ``GET /serve/stable`` and ``GET /serve/canary``
serve one request of that version; ``GET /metrics`` exposes, labelled ``version``:

- ``http_requests_total{version, code}``: every 50th stable request and every 5th canary
  request answers 500 (2 % and 20 %, exactly, counted from the first);
- ``http_request_duration_seconds{version}``: a histogram of the real time each request took
  (the stable version works 2 ms per request, the canary 20 ms).

Every label combination is exported from the start (at 0), so Prometheus sees each counter
before it moves and ``increase()`` counts the very first requests.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

VERSIONS = {"stable": (50, 0.002), "canary": (5, 0.020)}  # version -> (every Nth fails, work s)
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

registry = CollectorRegistry()
requests = Counter("http_requests", "Requests served.", ["version", "code"], registry=registry)
duration = Histogram(
    "http_request_duration_seconds",
    "Time to serve a request.",
    ["version"],
    buckets=BUCKETS,
    registry=registry,
)
for version in VERSIONS:
    duration.labels(version)
    for code in ("200", "500"):
        requests.labels(version, code)
served = {version: itertools.count(1) for version in VERSIONS}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/metrics":
            self.reply(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            return
        version = self.path.removeprefix("/serve/")
        if version not in VERSIONS:
            self.reply(404, b"no such version\n")
            return
        began = time.perf_counter()
        every, work = VERSIONS[version]
        with lock:
            n = next(served[version])
        time.sleep(work)
        code = 500 if n % every == 0 else 200
        requests.labels(version, str(code)).inc()
        duration.labels(version).observe(time.perf_counter() - began)
        self.reply(code, f"{version} #{n}\n".encode())

    def reply(self, code: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
