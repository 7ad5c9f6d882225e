"""From "a config changed" to "every SSE client of this replica has it".

The :class:`ConfigRelay` listens to three sources of changes and turns each into a reload of
the environment's config from the store and a :meth:`Broadcaster.publish`:

1. this process's write path (a :class:`FlagService` listener): after the commit it announces
   the change on the feed (for the other replicas) and, without waiting for any round trip,
   schedules the reload here;
2. the feed (other replicas' changes: PostgreSQL NOTIFY or Redis pub/sub);
3. a periodic version check of every environment that has SSE clients (``poll_seconds``; 0
   turns it off). It costs one tiny query per environment and catches what the other two
   cannot: a change written straight to the database by ``rollout flags`` on a SQLite file the
   server also uses, an announcement lost while a feed was reconnecting, a failed Redis publish.

Reloads are coalesced per environment: while one is running, further notices only mark the
environment dirty, and one more reload follows. Stale notices (a version the broadcaster has
already published) and environments nobody is subscribed to cost nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from rollout.server.broadcast import Broadcaster
from rollout.server.feeds import ChangeFeed
from rollout.server.flag_service import FlagService

log = logging.getLogger(__name__)

DEFAULT_POLL_SECONDS = 5.0


class ConfigRelay:
    """Keeps a :class:`Broadcaster` fed with the newest configs (see the module docstring).

    :meth:`start` and :meth:`stop` run on the server's event loop (the app's lifespan calls
    them); :meth:`committed` may be called from any thread.
    """

    def __init__(
        self,
        service: FlagService,
        broadcaster: Broadcaster,
        feed: ChangeFeed,
        *,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
    ) -> None:
        self._service = service
        self._broadcaster = broadcaster
        self._feed = feed
        self._poll_seconds = poll_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._background: list[asyncio.Task[None]] = []
        self._reloads: dict[str, asyncio.Task[None]] = {}
        self._dirty: set[str] = set()
        self.broadcasts = 0
        """How many config versions this relay has published, since start."""

    @property
    def feed(self) -> ChangeFeed:
        return self._feed

    async def start(self) -> None:
        """Hook into the write path and start the feed and the periodic check."""
        self._loop = asyncio.get_running_loop()
        self._service.add_listener(self.committed)
        self._background.append(asyncio.create_task(self._run_feed(), name="rollout-feed"))
        if self._poll_seconds > 0:
            self._background.append(asyncio.create_task(self._poll(), name="rollout-poll"))

    async def stop(self) -> None:
        """Unhook and cancel everything started; reloads in flight are abandoned."""
        self._service.remove_listener(self.committed)
        tasks = [*self._background, *self._reloads.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._background.clear()
        self._reloads.clear()
        self._loop = None
        self._feed.close()

    def committed(self, environment: str, version: int) -> None:
        """A change was committed in this process (any thread): tell the others, reload here."""
        try:
            self._feed.announce(environment, version)
        finally:
            loop = self._loop
            if loop is not None:
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(self.changed, environment, version)

    def changed(self, environment: str, version: int) -> None:
        """``environment`` reached ``version`` (event loop thread): reload it if it matters."""
        if version <= self._broadcaster.latest_version(environment):
            return
        if not self._broadcaster.subscriber_count(environment):
            return
        self._dirty.add(environment)
        if environment not in self._reloads:
            self._reloads[environment] = asyncio.create_task(
                self._reload(environment), name=f"rollout-reload-{environment}"
            )

    async def catch_up(self) -> None:
        """Compare every subscribed environment's version with the store's; reload the behind."""
        for environment in self._broadcaster.environments():
            try:
                version = await asyncio.to_thread(self._service.config_version, environment)
            except Exception as exc:
                log.warning("checking the config version of %s failed: %s", environment, exc)
                continue
            self.changed(environment, version)

    async def _reload(self, environment: str) -> None:
        try:
            while environment in self._dirty:
                self._dirty.discard(environment)
                document = await asyncio.to_thread(self._service.config_document, environment)
                if document.version > self._broadcaster.latest_version(environment):
                    self._broadcaster.publish(document)
                    self.broadcasts += 1
        except Exception as exc:
            # The next notice or periodic check tries again; clients keep the config they have.
            log.warning("reloading the config of %s failed: %s", environment, exc)
        finally:
            self._dirty.discard(environment)
            self._reloads.pop(environment, None)

    async def _run_feed(self) -> None:
        try:
            await self._feed.run(self.changed, self.catch_up)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the config change feed (%s) stopped", self._feed.name)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_seconds)
            await self.catch_up()
