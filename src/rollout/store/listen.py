"""Hearing the store's PostgreSQL notifications in another process.

The store sends ``NOTIFY`` inside the transaction of the change it announces (config changes on
``rollout_config``, telemetry on ``rollout_telemetry``), so a notification arrives only once
the change is committed and visible. :func:`listen` is the other end: a ``LISTEN`` on a
dedicated autocommit connection that hands each payload to a callback until cancelled, with a
``SELECT 1`` heartbeat so a silently dead link is noticed, and reconnects with backoff (0.1 s
doubling up to 5 s, jittered) when the link is lost. After every (re)connection it awaits
``on_connect()``: whatever was announced while the link was down is lost, so the caller
catches up there.

:class:`ListenerThread` runs :func:`listen` in a thread of its own, for callers that are not
``asyncio`` code (a standalone controller).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import threading
from collections.abc import Awaitable, Callable

from sqlalchemy.engine import URL, make_url

log = logging.getLogger(__name__)

OnPayload = Callable[[str], None]
OnConnect = Callable[[], Awaitable[None]]

FIRST_BACKOFF_S = 0.1
MAX_BACKOFF_S = 5.0
HEARTBEAT_S = 30.0


def libpq_conninfo(database_url: str | URL) -> str:
    """The libpq URL for a SQLAlchemy URL of a PostgreSQL database, password kept:
    ``postgresql+psycopg://ann:pw@db/rollout`` -> ``postgresql://ann:pw@db/rollout``."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def backoff(delay: float) -> tuple[float, float]:
    """(this wait with jitter, the next delay): 0.1 s doubling up to 5 s, jittered +-50 %."""
    return delay * random.uniform(0.5, 1.5), min(delay * 2, MAX_BACKOFF_S)


async def listen(
    conninfo: str,
    channel: str,
    on_payload: OnPayload,
    on_connect: OnConnect,
    *,
    application_name: str,
    what: str,
    heartbeat_seconds: float = HEARTBEAT_S,
) -> None:
    """``LISTEN channel`` until cancelled (module docstring). ``application_name`` names the
    connection in ``pg_stat_activity``; ``what`` names the link in log messages."""
    import psycopg

    delay = FIRST_BACKOFF_S
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                conninfo, autocommit=True, connect_timeout=10, application_name=application_name
            ) as connection:
                await connection.execute(f"LISTEN {channel}")
                log.info("%s: listening on PostgreSQL", what)
                delay = FIRST_BACKOFF_S
                await on_connect()
                while True:
                    async for notify in connection.notifies(timeout=heartbeat_seconds):
                        on_payload(notify.payload)
                    await connection.execute("SELECT 1")  # notices a dead link
        except (psycopg.Error, OSError) as exc:
            wait, delay = backoff(delay)
            log.warning("%s: PostgreSQL link lost: %s; retrying in %.1f s", what, exc, wait)
            await asyncio.sleep(wait)


class ListenerThread:
    """:func:`listen` in a daemon thread with its own event loop; callbacks run in that thread.

    :meth:`stop` cancels it and closes its connection. :meth:`wait_connected` says when a
    connection (or the ``n``-th one, after reconnections) is listening.
    """

    def __init__(
        self,
        conninfo: str,
        channel: str,
        on_payload: OnPayload,
        on_connect: Callable[[], None] | None = None,
        *,
        application_name: str,
        what: str,
        heartbeat_seconds: float = HEARTBEAT_S,
    ) -> None:
        self._connections = 0
        self._connected = threading.Condition()

        async def connected() -> None:
            if on_connect is not None:
                on_connect()
            with self._connected:
                self._connections += 1
                self._connected.notify_all()

        self._listening = functools.partial(
            listen,
            conninfo,
            channel,
            on_payload,
            connected,
            application_name=application_name,
            what=what,
            heartbeat_seconds=heartbeat_seconds,
        )
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, name=application_name, daemon=True)

    def _run(self) -> None:
        try:
            # Set before the loop runs, so a stop() asked for meanwhile finds the task.
            self._task = self._loop.create_task(self._listening())
            self._loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        finally:
            self._loop.close()

    def start(self) -> ListenerThread:
        self._thread.start()
        return self

    def wait_connected(self, n: int = 1, timeout: float | None = None) -> bool:
        """Wait until the ``n``-th connection since :meth:`start` is listening (``n=2``: the
        first reconnection); ``False`` if it was not within ``timeout`` seconds."""
        with self._connected:
            return self._connected.wait_for(lambda: self._connections >= n, timeout)

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop listening and close the connection (waits up to ``timeout`` seconds)."""
        if self._thread.ident is None:  # never started
            self._loop.close()
            return
        try:
            self._loop.call_soon_threadsafe(self._cancel)
        except RuntimeError:  # the loop is closed: the thread has already ended
            return
        self._thread.join(timeout)

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
