"""A real HTTP server on a free loopback port for the HTTP check tests.

Routes: ``/health`` 200 "status: ok"; ``/fail`` 503; ``/slow?ms=N`` answers after N ms (at most
5 s); ``/flaky?fails=N`` answers 500 to its first N requests, then 200; ``/auth`` 200 when the
Authorization header is ``Bearer <token>``, else 401 echoing what it got; ``/redirect`` 302;
``/echo`` answers with the request body. Every request is recorded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_DELAY_S = 5.0


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    base: str
    token: str = "expected-token-value"
    requests: list[Seen] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

        def _answer(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            query = {key: values[0] for key, values in parse_qs(parts.query).items()}
            with server.lock:
                server.requests.append(Seen(self.command, self.path, dict(self.headers), body))
                server.counts[parts.path] = server.counts.get(parts.path, 0) + 1
                count = server.counts[parts.path]
            if parts.path == "/health":
                self._answer(200, "checking database\nstatus: ok\n")
            elif parts.path == "/fail":
                self._answer(503, "upstream unavailable\n")
            elif parts.path == "/slow":
                time.sleep(min(int(query.get("ms", "0")) / 1000, MAX_DELAY_S))
                self._answer(200, "status: ok, slowly\n")
            elif parts.path == "/flaky":
                if count <= int(query.get("fails", "0")):
                    self._answer(500, f"failure number {count}\n")
                else:
                    self._answer(200, "status: ok at last\n")
            elif parts.path == "/auth":
                got = self.headers.get("Authorization", "")
                if got == f"Bearer {server.token}":
                    self._answer(200, "status: ok, authorised\n")
                else:
                    self._answer(401, f"bad credentials: {got}\n")
            elif parts.path == "/redirect":
                self._answer(302, "", {"Location": "/health"})
            elif parts.path == "/echo":
                self._answer(200, body.decode())
            else:
                self._answer(404, "no such page\n")

        do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = do_PATCH = _handle

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that gave up (a timeout test) closes the socket before the answer is written.
        pass


@contextmanager
def http_server() -> Iterator[Server]:
    """A running server; yields its state with ``base`` = ``http://127.0.0.1:PORT``."""
    state = Server(base="")
    httpd = _QuietServer(("127.0.0.1", 0), _handler(state))
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
