"""The real Rollout server (``rollout.server.app.create_app`` under uvicorn, SQLite store) on a
loopback port, restartable on the same port, with a log of the requests it received. It checks
no tokens unless a test asks for ``auth=True``."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from rollout.server.app import create_app
from rollout.server.run import BackgroundServer
from rollout.store import Store, open_store

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


@dataclass(frozen=True)
class Seen:
    """One request the server received, and the status it answered (0 while streaming)."""

    method: str
    path: str
    headers: dict[str, str]
    status: int


class RequestLog:
    """ASGI middleware recording every request; can refuse SSE streams with 503."""

    def __init__(self, app: ASGIApp, log: list[Seen], refuse_streams: bool) -> None:
        self.app = app
        self.log = log
        self.refuse_streams = refuse_streams
        self.lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        status: list[int] = []

        async def watch(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                with self.lock:
                    self.log.append(Seen(scope["method"], scope["path"], headers, status[0]))
            await send(message)

        if self.refuse_streams and scope["path"].endswith("/stream"):
            await watch({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b"streams are down"})
            return
        await self.app(scope, receive, watch)


class ServerStack:
    """A store in ``folder`` and the real server over it; ``start`` again after ``stop`` to
    restart on the same port (same store, so versions carry on)."""

    def __init__(self, folder: Path) -> None:
        self.store: Store = open_store(f"sqlite:///{folder / 'rollout.db'}")
        self.port = 0
        self.url = ""
        self.requests: list[Seen] = []
        self._server: BackgroundServer | None = None

    def start(self, *, refuse_streams: bool = False, **app_options: Any) -> str:
        app = create_app(self.store, **{"auth": False, **app_options})
        app.add_middleware(RequestLog, log=self.requests, refuse_streams=refuse_streams)
        self._server = BackgroundServer(app, port=self.port).start()
        self.url = self._server.url
        self.port = int(self.url.rsplit(":", 1)[1])
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def close(self) -> None:
        self.stop()
        self.store.close()

    def put_flag(self, environment: str, flag: dict[str, Any]) -> int:
        """Create or replace a flag through the HTTP API; returns the new config version."""
        response = httpx.put(
            f"{self.url}/api/v1/environments/{environment}/flags/{flag['key']}",
            json=flag,
            headers={"X-Rollout-Actor": "sdk-tests"},
        )
        response.raise_for_status()
        return self.store.config_version(environment)

    def seen(self, path_end: str) -> list[Seen]:
        return [s for s in list(self.requests) if s.path.endswith(path_end)]
