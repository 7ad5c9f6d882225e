"""A webhook receiver on a free loopback port for Apprise ``json://`` channels: it keeps every
JSON body it is sent (``{"version", "title", "message", "type", ...}``) and, for signed
channels, the delivery's idempotency key (the ``X-Rollout-Delivery`` header)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Inbox:
    port: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def channel(self, path: str = "/hook") -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    def bodies(self) -> list[str]:
        with self.lock:
            return [str(m.get("message", "")) for m in self.messages]

    def keyed(self) -> list[tuple[str, str]]:
        """``(idempotency key, message)`` of every delivery, in the order they came."""
        with self.lock:
            return [
                (key, str(m.get("message", "")))
                for key, m in zip(self.deliveries, self.messages, strict=True)
            ]


@contextmanager
def inbox() -> Iterator[Inbox]:
    box = Inbox()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with box.lock:
                box.messages.append(json.loads(body))
                box.deliveries.append(self.headers.get("X-Rollout-Delivery") or "")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
