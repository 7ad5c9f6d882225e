"""Keeping a controller's lease on a rollout while its actions run, and the crash points the
durability tests kill the process at."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rollout.errors import LeaseLost, StoreError
from rollout.store import Store

CRASH_ENV = "ROLLOUT_TEST_CRASH_AT"
"""Durability testing only: ``intent:3`` makes the process kill itself (SIGKILL) right after
the 3rd action intent it records; the points are ``intent``, ``act`` (the action ran, its end
is not recorded), ``done`` (its end is recorded), ``save`` (a state was saved) and ``final``
(a state that ends the rollout was saved, its last announcements not yet carried out)."""


class LeaseKeeper:
    """Keeps the controller ``owner``'s lease on a rollout while its actions run.

    ``renewed`` is when (``time.monotonic()``) the lease was last taken or renewed, None when
    unknown; ``ttl`` is the lease's length in seconds."""

    def __init__(
        self, store: Store, rollout_id: str, owner: str, ttl: float, renewed: float | None
    ) -> None:
        self.store = store
        self.rollout_id = rollout_id
        self.owner = owner
        self.ttl = ttl
        self.renewed = renewed
        self.lost: LeaseLost | None = None

    def renew(self) -> None:
        """Extend the lease now; ``LeaseLost`` when it is gone (stop acting)."""
        self.store.renew_lease(self.rollout_id, self.owner, self.ttl)
        self.renewed = time.monotonic()

    def ensure(self) -> None:
        """Renew unless that was done less than a third of the TTL ago (the lease then has
        two thirds of its time left: nobody else can have it)."""
        if self.renewed is None or time.monotonic() - self.renewed >= self.ttl / 3.0:
            self.renew()

    def check(self) -> None:
        """Raise the ``LeaseLost`` a background renewal ran into, if any."""
        if self.lost is not None:
            raise self.lost

    @contextmanager
    def held(self) -> Iterator[None]:
        """Renew every third of the TTL while the body runs (a slow deploy keeps its lease)."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.ttl / 3.0):
                try:
                    self.renew()
                except LeaseLost as exc:
                    self.lost = exc
                    return
                except StoreError:
                    continue  # the database hiccupped; the next beat tries again

        thread = threading.Thread(target=beat, name=f"lease-{self.rollout_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


crash_counts: dict[str, int] = {}
"""How often each crash point was passed in this process (a forked test worker clears it)."""


def crash_point(point: str) -> None:
    """Durability testing: SIGKILL this process at the point :data:`CRASH_ENV` names."""
    wanted = os.environ.get(CRASH_ENV)
    if not wanted:
        return
    crash_counts[point] = crash_counts.get(point, 0) + 1
    name, _, count = wanted.partition(":")
    if name == point and count.isdigit() and crash_counts[point] == int(count):
        os.kill(os.getpid(), signal.SIGKILL)
