"""Per-process fan-out of config versions to SSE clients.

The :class:`Broadcaster` keeps, per environment, the newest :class:`ConfigDocument` it has
published and one :class:`Subscription` per connected client. Publishing a version appends the
same document (shared, never copied) to every subscription of its environment and wakes the
ones waiting; a version that is not newer than the last one published is ignored, so the same
change arriving twice (from this process's write path and from the database's notification)
reaches each client once, and an older reload finishing late never goes out after a newer one.

What one version costs per client is what decides how fast a change reaches 1,000 of them, so
a subscription is a plain ``deque`` and at most one waiting future: publishing is an append and,
for a waiting client, one future resolved. No task, queue or timer is made per client per
version. Keep-alives come from one :class:`Heartbeat` per interval for all the subscriptions
that asked for them, not from a timeout per client.

A slow client must not hold up the others, and must not make the server hoard versions for it.
A stream takes the newest pending version and skips the older ones (:meth:`Subscription.newest`;
every config event is the full config, so nothing is lost), so versions pile up only for a
client whose writer is stuck, its socket buffer full. Once ``queue_size`` versions wait for it,
it is dropped (its stream ends) and it reconnects with ``Last-Event-ID`` to get the newest
config in one event.

Everything here runs on the event loop's thread; nothing blocks.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from enum import StrEnum

from rollout.server.flag_service import ConfigDocument

DEFAULT_QUEUE_SIZE = 32
"""Undelivered versions a client may fall behind by before it is dropped."""


class CloseReason(StrEnum):
    """Why a subscription ended."""

    CLIENT_LEFT = "client_left"  # the client disconnected (or the stream ended normally)
    TOO_SLOW = "too_slow"  # too many versions waited for it: dropped, it reconnects to the newest
    SHUTDOWN = "shutdown"  # the server is stopping


class SubscriptionClosed(Exception):
    """The subscription ended; ``reason`` says why. Not an error: the stream just ends."""

    def __init__(self, reason: CloseReason) -> None:
        self.reason = reason
        super().__init__(reason.value)


class Subscription:
    """One client's pending config documents for one environment, read by one consumer.

    Read it either version by version (:meth:`next`, each new version once, in order) or, for a
    stream that only needs the newest config, with :meth:`newest`.
    """

    __slots__ = (
        "_beat_due",
        "_broadcaster",
        "_heartbeat",
        "_limit",
        "_pending",
        "_quiet_ticks",
        "_reason",
        "_waiter",
        "environment",
    )

    def __init__(
        self,
        broadcaster: Broadcaster,
        environment: str,
        queue_size: int,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self.environment = environment
        self._broadcaster = broadcaster
        self._pending: deque[ConfigDocument] = deque()
        self._limit = queue_size
        self._waiter: asyncio.Future[None] | None = None
        self._reason: CloseReason | None = None
        self._heartbeat = heartbeat
        self._quiet_ticks = 0  # heartbeat ticks since the consumer last took something
        self._beat_due = False

    @property
    def closed(self) -> bool:
        return self._reason is not None

    @property
    def reason(self) -> CloseReason | None:
        return self._reason

    async def next(self, timeout: float | None) -> ConfigDocument | None:
        """The oldest version not taken yet, or ``None`` after ``timeout`` seconds without one
        (at once for ``timeout <= 0``) or when a keep-alive is due.

        Raises :class:`SubscriptionClosed` once the subscription is closed, even if documents
        are still pending (a dropped client must reconnect, not drain a stale backlog).
        """
        self._raise_if_closed()
        if not self._pending and not self._beat_due:
            if timeout is not None and timeout <= 0:
                return None
            await self._wait(timeout)
            self._raise_if_closed()
        self._quiet_ticks = 0
        self._beat_due = False
        return self._pending.popleft() if self._pending else None

    async def newest(self) -> ConfigDocument | None:
        """Wait until a version is pending or a keep-alive is due; then the newest pending
        version (the older ones are skipped: each is a full config), or ``None`` for a
        keep-alive (only for a subscription made with ``keepalive_seconds``).

        Raises :class:`SubscriptionClosed` once the subscription is closed.
        """
        self._raise_if_closed()
        if not self._pending and not self._beat_due:
            await self._wait(None)
            self._raise_if_closed()
        self._quiet_ticks = 0
        self._beat_due = False
        pending = self._pending
        if not pending:
            return None
        document = pending[-1]
        pending.clear()
        return document

    def close(self, reason: CloseReason = CloseReason.CLIENT_LEFT) -> None:
        """End the subscription (idempotent); a waiting consumer wakes up and raises."""
        if self._reason is not None:
            return
        self._reason = reason
        self._broadcaster._forget(self)
        self._wake()

    def _raise_if_closed(self) -> None:
        if self._reason is not None:
            raise SubscriptionClosed(self._reason)

    async def _wait(self, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiter = waiter
        timer = None if timeout is None else loop.call_later(timeout, _resolve, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            _resolve(waiter)

    def _offer(self, document: ConfigDocument) -> bool:
        if len(self._pending) >= self._limit:
            return False
        self._pending.append(document)
        self._wake()
        return True

    def _tick(self) -> None:
        self._quiet_ticks += 1
        if self._quiet_ticks >= Heartbeat.TICKS:
            self._beat_due = True
            self._wake()


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Heartbeat:
    """One timer that tells every member subscription when a keep-alive is due.

    It ticks every ``interval / TICKS`` seconds; a member whose consumer has taken nothing for
    ``TICKS`` ticks in a row gets a keep-alive. So a quiet stream hears one after between
    3/4 and 1 times ``interval`` of silence, and then every ``interval``, however many streams
    there are: with ``interval`` 15 s, one timer every 3.75 s serves 1,000 clients.
    """

    TICKS = 4

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        if interval <= 0:
            raise ValueError(f"a keep-alive interval must be positive, not {interval}")
        self.loop = loop
        self.interval = interval
        self.members: set[Subscription] = set()
        self._timer: asyncio.TimerHandle | None = None

    def join(self, subscription: Subscription) -> None:
        self.members.add(subscription)
        if self._timer is None:
            self._timer = self.loop.call_later(self.interval / self.TICKS, self._tick)

    def leave(self, subscription: Subscription) -> None:
        self.members.discard(subscription)
        if not self.members:
            self.stop()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        # Members only note the tick and resolve futures here: none leaves during the loop.
        for subscription in self.members:
            subscription._tick()
        self._timer = self.loop.call_later(self.interval / self.TICKS, self._tick)


class Broadcaster:
    """Holds the subscriptions per environment and pushes each new config version.

    ``on_drop`` (optional) is called with each subscription dropped for being too slow.

    >>> async def demo() -> list[int]:
    ...     from rollout.flags import FlagConfig
    ...     hub = Broadcaster(queue_size=4)
    ...     sub = hub.subscribe("production")
    ...     for version in (1, 2, 2, 1, 3):        # duplicates and stale versions are ignored
    ...         config = FlagConfig(environment="production", version=version)
    ...         hub.publish(ConfigDocument("production", version, config, config.to_json()))
    ...     return [(await sub.next(0)).version for _ in range(3)]
    >>> asyncio.run(demo())
    [1, 2, 3]
    """

    def __init__(
        self,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        *,
        on_drop: Callable[[Subscription], None] | None = None,
    ) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, not {queue_size}")
        self._queue_size = queue_size
        self._on_drop = on_drop
        self._subscribers: dict[str, set[Subscription]] = {}
        self._latest: dict[str, ConfigDocument] = {}
        self._heartbeats: dict[tuple[asyncio.AbstractEventLoop, float], Heartbeat] = {}
        self._closed = False
        self.dropped = 0
        """How many subscriptions were dropped for being too slow, since start."""

    def subscribe(
        self, environment: str, *, keepalive_seconds: float | None = None
    ) -> Subscription:
        """A new subscription; after :meth:`close` it is born closed (the stream ends at once).

        With ``keepalive_seconds`` (> 0) it also wakes its consumer for a keep-alive after that
        long without a version (see :class:`Heartbeat`); this needs a running event loop.
        """
        heartbeat = None
        if keepalive_seconds is not None and not self._closed:
            key = (asyncio.get_running_loop(), keepalive_seconds)
            heartbeat = self._heartbeats.get(key)
            if heartbeat is None:
                heartbeat = self._heartbeats[key] = Heartbeat(*key)
        subscription = Subscription(self, environment, self._queue_size, heartbeat)
        if self._closed:
            subscription.close(CloseReason.SHUTDOWN)
            return subscription
        self._subscribers.setdefault(environment, set()).add(subscription)
        if heartbeat is not None:
            heartbeat.join(subscription)
        return subscription

    def publish(self, document: ConfigDocument) -> int:
        """Push ``document`` to its environment's subscribers if it is newer than the last one
        published there; returns how many subscribers got it (0 for a stale version)."""
        latest = self._latest.get(document.environment)
        if latest is not None and document.version <= latest.version:
            return 0
        self._latest[document.environment] = document
        subscriptions = self._subscribers.get(document.environment)
        if not subscriptions:
            return 0
        too_slow: list[Subscription] = []
        for subscription in subscriptions:
            if not subscription._offer(document):
                too_slow.append(subscription)
        delivered = len(subscriptions) - len(too_slow)
        for subscription in too_slow:  # closing one changes the set: not inside the loop
            self.dropped += 1
            subscription.close(CloseReason.TOO_SLOW)
            if self._on_drop is not None:
                self._on_drop(subscription)
        return delivered

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran: the server is stopping."""
        return self._closed

    def latest_version(self, environment: str) -> int:
        """The newest version published for ``environment``; -1 if none yet."""
        latest = self._latest.get(environment)
        return -1 if latest is None else latest.version

    def environments(self) -> list[str]:
        """Environments that have at least one subscriber, by name."""
        return sorted(env for env, subs in self._subscribers.items() if subs)

    def subscriber_count(self, environment: str | None = None) -> int:
        """Subscribers of ``environment``, or of all environments."""
        if environment is not None:
            return len(self._subscribers.get(environment, ()))
        return sum(len(subs) for subs in self._subscribers.values())

    def close(self) -> None:
        """End every subscription (their streams finish) and refuse new ones: a stopping server
        must not wait for clients that would otherwise stay connected forever."""
        self._closed = True
        for subscriptions in list(self._subscribers.values()):
            for subscription in list(subscriptions):
                subscription.close(CloseReason.SHUTDOWN)
        for heartbeat in self._heartbeats.values():
            heartbeat.stop()
        self._heartbeats.clear()

    def _forget(self, subscription: Subscription) -> None:
        subscriptions = self._subscribers.get(subscription.environment)
        if subscriptions is not None:
            subscriptions.discard(subscription)
            if not subscriptions:
                del self._subscribers[subscription.environment]
        heartbeat = subscription._heartbeat
        if heartbeat is not None:
            heartbeat.leave(subscription)
            if not heartbeat.members:
                self._heartbeats.pop((heartbeat.loop, heartbeat.interval), None)
