"""Per-process fan-out of config versions to SSE clients.

The :class:`Broadcaster` keeps, per environment, the newest :class:`ConfigDocument` it has
published and one bounded queue per connected client (a :class:`Subscription`). Publishing a
version puts the same document (shared, never copied) on every queue of its environment; a
version that is not newer than the last one published is ignored, so the same change arriving
twice (from this process's write path and from the database's notification) reaches each client
once, and an older reload finishing late never goes out after a newer one.

A slow client must not hold up the others, and must not make the server hoard versions for it:
when its queue is full it is dropped (its stream ends), and it reconnects with ``Last-Event-ID``
to get the newest config in one event. Every config event is the full config, so nothing is lost
by skipping the versions in between.

Everything here runs on the event loop's thread; nothing blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from enum import StrEnum

from rollout.server.flag_service import ConfigDocument

DEFAULT_QUEUE_SIZE = 32
"""Undelivered versions a client may fall behind by before it is dropped."""


class CloseReason(StrEnum):
    """Why a subscription ended."""

    CLIENT_LEFT = "client_left"  # the client disconnected (or the stream ended normally)
    TOO_SLOW = "too_slow"  # its queue was full: dropped so it reconnects to the newest config
    SHUTDOWN = "shutdown"  # the server is stopping


class SubscriptionClosed(Exception):
    """The subscription ended; ``reason`` says why. Not an error: the stream just ends."""

    def __init__(self, reason: CloseReason) -> None:
        self.reason = reason
        super().__init__(reason.value)


class Subscription:
    """One client's bounded queue of config documents for one environment."""

    def __init__(self, broadcaster: Broadcaster, environment: str, queue_size: int) -> None:
        self.environment = environment
        self._broadcaster = broadcaster
        self._queue: asyncio.Queue[ConfigDocument | None] = asyncio.Queue(maxsize=queue_size)
        self._reason: CloseReason | None = None

    @property
    def closed(self) -> bool:
        return self._reason is not None

    @property
    def reason(self) -> CloseReason | None:
        return self._reason

    async def next(self, timeout: float | None) -> ConfigDocument | None:
        """The next published document, or ``None`` after ``timeout`` seconds without one.

        Raises :class:`SubscriptionClosed` once the subscription is closed, even if documents
        are still queued (a dropped client must reconnect, not drain a stale backlog).
        """
        if self._reason is not None:
            raise SubscriptionClosed(self._reason)
        if not self._queue.empty():
            item = self._queue.get_nowait()
        else:
            try:
                item = await asyncio.wait_for(self._queue.get(), timeout)
            except TimeoutError:
                return None
        if self._reason is not None or item is None:
            raise SubscriptionClosed(self._reason or CloseReason.SHUTDOWN)
        return item

    def close(self, reason: CloseReason = CloseReason.CLIENT_LEFT) -> None:
        """End the subscription (idempotent); a waiting :meth:`next` wakes up and raises."""
        if self._reason is not None:
            return
        self._reason = reason
        self._broadcaster._forget(self)
        # Wakes a consumer blocked in next(); one with a full queue is not blocked and sees
        # the reason on its next call.
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    def _offer(self, document: ConfigDocument) -> bool:
        try:
            self._queue.put_nowait(document)
        except asyncio.QueueFull:
            return False
        return True


class Broadcaster:
    """Holds the subscriber queues per environment and pushes each new config version.

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
        self._closed = False
        self.dropped = 0
        """How many subscriptions were dropped for being too slow, since start."""

    def subscribe(self, environment: str) -> Subscription:
        """A new subscription; after :meth:`close` it is born closed (the stream ends at once)."""
        subscription = Subscription(self, environment, self._queue_size)
        if self._closed:
            subscription.close(CloseReason.SHUTDOWN)
        else:
            self._subscribers.setdefault(environment, set()).add(subscription)
        return subscription

    def publish(self, document: ConfigDocument) -> int:
        """Push ``document`` to its environment's subscribers if it is newer than the last one
        published there; returns how many subscribers got it (0 for a stale version)."""
        latest = self._latest.get(document.environment)
        if latest is not None and document.version <= latest.version:
            return 0
        self._latest[document.environment] = document
        delivered = 0
        for subscription in list(self._subscribers.get(document.environment, ())):
            if subscription._offer(document):
                delivered += 1
            else:
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

    def _forget(self, subscription: Subscription) -> None:
        subscriptions = self._subscribers.get(subscription.environment)
        if subscriptions is not None:
            subscriptions.discard(subscription)
            if not subscriptions:
                del self._subscribers[subscription.environment]
