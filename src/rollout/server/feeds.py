"""Change feeds: how one replica learns that another one changed an environment's config.

A :class:`ChangeFeed` does two things:

* ``announce(environment, version)`` -- called after a change is committed, from the writing
  thread, to tell the *other* processes;
* ``run(on_change, on_connect)`` -- a task that delivers the other processes' announcements as
  ``on_change(environment, version)`` until cancelled, reconnecting with backoff when its link
  fails, and awaiting ``on_connect()`` after every (re)connection so the caller can catch up on
  whatever was announced while the link was down.

Feeds (``make_feed`` picks one):

* :class:`InProcessFeed` -- one process (SQLite): nothing to announce or listen to; the relay's
  direct path from the write to the broadcaster is all there is.
* :class:`PostgresFeed` -- several replicas on one PostgreSQL: the store itself sends
  ``NOTIFY rollout_config, '{"environment": ..., "version": ...}'`` inside each change's
  transaction (delivered at commit, never for a rolled-back change), so ``announce`` does
  nothing; each replica ``LISTEN``s on a dedicated autocommit connection, with a ``SELECT 1``
  heartbeat so a silently dead link is noticed.
* :class:`RedisFeed` -- ``ROLLOUT_FANOUT=redis://host:6379/0``: ``announce`` publishes the same
  JSON on the ``rollout_config`` channel after the commit; each replica subscribes. A publish
  that fails is logged, not raised (the change is committed): the relay's periodic version check
  heals it within its poll interval.

Payloads are ``{"environment": "production", "version": 42}``; ``production:42`` is accepted too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.engine import make_url

from rollout.store import CONFIG_CHANNEL, canonical_json, resolve_url
from rollout.store.listen import FIRST_BACKOFF_S, HEARTBEAT_S, backoff, libpq_conninfo, listen

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

FANOUT_ENV = "ROLLOUT_FANOUT"
"""Environment variable naming an alternative fan-out (``redis://...``), or ``none``."""

LISTENER_NAME = "rollout-config-listener"
"""``application_name`` of the LISTEN connections (to find them in ``pg_stat_activity``)."""

OnChange = Callable[[str, int], None]
OnConnect = Callable[[], Awaitable[None]]


class ChangeFeed(Protocol):
    """Announces committed changes to other processes and delivers theirs (module docstring)."""

    @property
    def name(self) -> str: ...

    def announce(self, environment: str, version: int) -> None: ...

    async def run(self, on_change: OnChange, on_connect: OnConnect) -> None: ...

    def close(self) -> None: ...


def change_payload(environment: str, version: int) -> str:
    """The announcement text: ``{"environment":"production","version":42}``."""
    return canonical_json({"environment": environment, "version": version})


def parse_change(payload: str | bytes) -> tuple[str, int] | None:
    """``(environment, version)`` from an announcement, ``None`` (logged) if it is malformed.

    >>> parse_change('{"environment": "production", "version": 42}')
    ('production', 42)
    >>> parse_change(b"staging:7")
    ('staging', 7)
    """
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    environment: object = None
    version: object = None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        environment, version = data.get("environment"), data.get("version")
    else:
        name, colon, number = text.rpartition(":")
        if colon and number.isdigit():
            environment, version = name, int(number)
    if (
        isinstance(environment, str)
        and environment
        and isinstance(version, int)
        and not isinstance(version, bool)
    ):
        return environment, version
    log.warning("ignoring a malformed config announcement: %r", text[:200])
    return None


class InProcessFeed:
    """A single process: nothing to announce, nothing to listen to."""

    name = "in-process"

    def announce(self, environment: str, version: int) -> None:
        return None

    async def run(self, on_change: OnChange, on_connect: OnConnect) -> None:
        return None

    def close(self) -> None:
        return None


class PostgresFeed:
    """``LISTEN rollout_config`` on a dedicated connection; the store sends the ``NOTIFY``.

    ``database_url`` is a SQLAlchemy or libpq URL of the store's database (the channel is per
    database, so all replicas of one store hear each other).
    """

    name = "postgresql"

    def __init__(self, database_url: str, *, heartbeat_seconds: float = HEARTBEAT_S) -> None:
        self._conninfo = libpq_conninfo(resolve_url(database_url))
        self._heartbeat = heartbeat_seconds

    def announce(self, environment: str, version: int) -> None:
        return None  # the store's transaction already sent NOTIFY

    async def run(self, on_change: OnChange, on_connect: OnConnect) -> None:
        def delivered(payload: str) -> None:
            change = parse_change(payload)
            if change is not None:
                on_change(*change)

        await listen(
            self._conninfo,
            CONFIG_CHANNEL,
            delivered,
            on_connect,
            application_name=LISTENER_NAME,
            what="config change feed",
            heartbeat_seconds=self._heartbeat,
        )

    def close(self) -> None:
        return None


class RedisFeed:
    """Redis pub/sub on the ``rollout_config`` channel (``ROLLOUT_FANOUT=redis://...``)."""

    name = "redis"

    def __init__(self, url: str, *, heartbeat_seconds: float = HEARTBEAT_S) -> None:
        self._url = url
        self._heartbeat = heartbeat_seconds
        self._publisher: redis.Redis | None = None  # made on the first announcement

    def announce(self, environment: str, version: int) -> None:
        import redis

        try:
            if self._publisher is None:
                self._publisher = redis.Redis.from_url(
                    self._url, socket_timeout=2.0, socket_connect_timeout=2.0
                )
            self._publisher.publish(CONFIG_CHANNEL, change_payload(environment, version))
        except redis.RedisError as exc:
            log.warning(
                "could not announce config %s of %s on Redis: %s", version, environment, exc
            )

    async def run(self, on_change: OnChange, on_connect: OnConnect) -> None:
        import redis
        import redis.asyncio

        delay = FIRST_BACKOFF_S
        while True:
            client = redis.asyncio.Redis.from_url(
                self._url, socket_connect_timeout=10.0, socket_timeout=self._heartbeat + 10.0
            )
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CONFIG_CHANNEL)
                    log.info("listening for config changes on Redis")
                    delay = FIRST_BACKOFF_S
                    await on_connect()
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=self._heartbeat
                        )
                        if message is None:
                            await pubsub.ping()  # notices a dead link
                        elif message.get("type") == "message":
                            change = parse_change(message["data"])
                            if change is not None:
                                on_change(*change)
            except (redis.RedisError, OSError) as exc:
                wait, delay = backoff(delay)
                log.warning("config feed (Redis) lost: %s; retrying in %.1f s", exc, wait)
                await asyncio.sleep(wait)
            finally:
                await client.aclose()

    def close(self) -> None:
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None


def make_feed(database_url: str | None = None, fanout: str | None = None) -> ChangeFeed:
    """The feed for a store at ``database_url`` (resolved as the store does).

    ``fanout`` (default ``$ROLLOUT_FANOUT``): a ``redis://`` / ``rediss://`` / ``unix://`` URL
    picks :class:`RedisFeed`; ``none`` forces :class:`InProcessFeed`; unset means PostgreSQL
    LISTEN/NOTIFY for a PostgreSQL store and in-process otherwise. Raises ``ValueError`` for
    any other ``fanout``.
    """
    chosen = fanout if fanout is not None else os.environ.get(FANOUT_ENV, "")
    chosen = chosen.strip()
    if chosen.startswith(("redis://", "rediss://", "unix://")):
        return RedisFeed(chosen)
    if chosen.lower() == "none":
        return InProcessFeed()
    if chosen:
        raise ValueError(
            f"{FANOUT_ENV}={chosen!r} is not understood: give a redis:// URL, 'none', or leave "
            "it unset (PostgreSQL LISTEN/NOTIFY for a PostgreSQL database)"
        )
    url = resolve_url(database_url)
    if make_url(url).get_backend_name() == "postgresql":
        return PostgresFeed(url)
    return InProcessFeed()
