"""Running the app under uvicorn: in the foreground (``rollout server``) or in a background
thread (embedding, tests, benchmarks).

SSE streams never end on their own, and uvicorn waits for open responses before it runs the
app's shutdown, so a plain uvicorn would hang on stop until its grace timeout. The
:class:`RolloutServer` ends every stream first (the broadcaster closes each subscription; the
clients see a clean end of stream and reconnect elsewhere), then shuts down as usual.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Self

import uvicorn
from fastapi import FastAPI

from rollout.server.context import ServerContext

GRACE_SECONDS = 5.0
"""How long a stopping server waits for requests in flight before cancelling them."""


class RolloutServer(uvicorn.Server):
    """A uvicorn server that ends the app's SSE streams as soon as it starts shutting down."""

    def __init__(self, app: FastAPI, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._context: ServerContext = app.state.rollout

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._context.broadcaster.close()
        await super().shutdown(sockets)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port); ``OSError`` if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def make_server(
    app: FastAPI, *, log_level: str = "warning", access_log: bool = False
) -> RolloutServer:
    """A :class:`RolloutServer` for ``app``; serve it with ``server.run(sockets=[bind(...)])``."""
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=int(GRACE_SECONDS),
        lifespan="on",
    )
    return RolloutServer(app, config)


def url_of(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class BackgroundServer:
    """``app`` served by uvicorn in a daemon thread, for as long as the ``with`` block lasts.

    >>> from rollout.server.app import create_app      # doctest: +SKIP
    >>> with BackgroundServer(create_app(store, auth=False)) as server:   # doctest: +SKIP
    ...     httpx.get(server.url + "/healthz")
    """

    def __init__(
        self,
        app: FastAPI,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        start_timeout: float = 10.0,
        log_level: str = "warning",
    ) -> None:
        self.app = app
        self._host, self._port = host, port
        self._start_timeout = start_timeout
        self._server = make_server(app, log_level=log_level)
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.url = ""

    def start(self) -> Self:
        """Bind, start serving in a thread, and wait (bounded) until the app has started."""
        self._socket = bind(self._host, self._port)
        self.url = url_of(self._socket)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"rollout-server-{self.url}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + self._start_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server at {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = GRACE_SECONDS + 5.0) -> None:
        """Ask the server to stop (streams end first) and wait for its thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
