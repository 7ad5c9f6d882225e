"""Synthetic shoppers: browse -> cart -> checkout -> order flows against the sample shop.

:class:`TrafficGenerator` starts shopping *visits* at random (a Poisson process) so that the
shop sees about ``rate`` requests per second, each visit by one of ``users`` shopper ids, and
runs each visit as a real sequence of HTTP requests with short pauses in between:

1. one product page (a second one 30 % of the time);
2. add to cart;
3. the checkout page (85 % of carts);
4. place the order (80 % of those who saw the checkout page).

A 5xx ends the visit (the shopper gives up). That is 3.8 requests a visit on average, 2.5 of
them to the flag-gated checkout. At most ``concurrency`` visits run at once; a visit that
would exceed it is not started and is counted in ``skipped_visits`` (so a slow shop cannot
pile up unbounded work). Everything is seeded: the same seed makes the same shoppers choose
the same things (the timing of a real network is not seeded, of course).

What the shoppers saw is summed up per checkout release, from the ``X-Checkout-Version``
header of each answer: requests, 5xx errors, declined payments, orders, distinct shoppers,
first and last time seen (:class:`ReleaseTally`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from rollout.demo._http import Answer, HttpError, HttpPool
from rollout.demo.shop import USER_HEADER, VERSION_HEADER

__all__ = [
    "REQUESTS_PER_VISIT",
    "ReleaseTally",
    "TrafficGenerator",
    "TrafficSettings",
    "TrafficSummary",
    "user_id",
]

SECOND_PRODUCT = 0.3
CHECKOUT_SHARE = 0.85
ORDER_SHARE = 0.80
REQUESTS_PER_VISIT = 1 + SECOND_PRODUCT + 1 + CHECKOUT_SHARE + CHECKOUT_SHARE * ORDER_SHARE
"""Requests of an average visit that ends without an error (3.83)."""
PAUSE = (0.05, 0.35)
"""Seconds a shopper pauses between two pages (uniform)."""
SKUS = tuple(f"sku-{n:03d}" for n in range(1, 121))


def user_id(n: int) -> str:
    """The id of shopper number ``n``: ``u-00042``."""
    return f"u-{n:05d}"


@dataclass(frozen=True)
class TrafficSettings:
    """``rate``: requests per second to aim at; ``users``: distinct shopper ids to draw from;
    ``concurrency``: visits in flight at most; ``timeout``: seconds per request."""

    rate: float
    users: int
    seed: int = 0
    concurrency: int = 200
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"rate must be > 0 requests per second, not {self.rate!r}")
        if self.users < 1:
            raise ValueError(f"users must be >= 1, not {self.users!r}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, not {self.concurrency!r}")


@dataclass(frozen=True)
class ReleaseTally:
    """What the shoppers got from one checkout release (times in epoch seconds)."""

    release: str
    requests: int = 0
    errors: int = 0
    declined: int = 0
    orders: int = 0
    users: frozenset[str] = frozenset()
    first_seen: float | None = None
    last_seen: float | None = None


@dataclass(frozen=True)
class TrafficSummary:
    """The traffic so far: requests sent and answered, per release, and what went wrong
    on the way (``transport_errors``: requests that got no HTTP answer at all)."""

    started_at: float
    ended_at: float | None
    visits: int
    skipped_visits: int
    requests: int
    transport_errors: int
    users: frozenset[str]
    releases: dict[str, ReleaseTally] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return max(0.0, (self.ended_at or time.time()) - self.started_at)

    @property
    def rate(self) -> float:
        """Requests answered per second so far."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def of(self, release: str) -> ReleaseTally:
        return self.releases.get(release) or ReleaseTally(release)


class _Counts:
    """One release's running counts (mutable; guarded by the tallies' lock)."""

    __slots__ = ("declined", "errors", "first", "last", "orders", "requests", "users")

    def __init__(self, now: float) -> None:
        self.requests = self.errors = self.declined = self.orders = 0
        self.first = self.last = now
        self.users: set[str] = set()

    def frozen(self, release: str) -> ReleaseTally:
        return ReleaseTally(
            release,
            self.requests,
            self.errors,
            self.declined,
            self.orders,
            frozenset(self.users),
            self.first,
            self.last,
        )


class _Tallies:
    """The counters the visits update (on the generator's loop), read from other threads."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.started_at = clock()
        self.ended_at: float | None = None
        self.visits = self.skipped = self.requests = self.transport_errors = 0
        self.users: set[str] = set()
        self.releases: dict[str, _Counts] = {}

    def answered(self, user: str, response: Answer, kind: str) -> None:
        release = response.headers.get(VERSION_HEADER.lower())
        now = self.clock()
        with self.lock:
            self.requests += 1
            self.users.add(user)
            if release is None:
                return
            counts = self.releases.get(release)
            if counts is None:
                counts = self.releases[release] = _Counts(now)
            counts.requests += 1
            counts.last = now
            counts.users.add(user)
            if response.status >= 500:
                counts.errors += 1
            elif kind == "order" and response.status == 402:
                counts.declined += 1
            elif kind == "order" and response.ok:
                counts.orders += 1

    def summary(self) -> TrafficSummary:
        with self.lock:
            return TrafficSummary(
                started_at=self.started_at,
                ended_at=self.ended_at,
                visits=self.visits,
                skipped_visits=self.skipped,
                requests=self.requests,
                transport_errors=self.transport_errors,
                users=frozenset(self.users),
                releases={name: c.frozen(name) for name, c in self.releases.items()},
            )


class TrafficGenerator:
    """Shoppers visiting ``shop_url`` in a background thread, from :meth:`start` until
    :meth:`stop` (or ``duration`` seconds, if given). :meth:`summary` may be read at any time.
    """

    def __init__(
        self,
        shop_url: str,
        settings: TrafficSettings,
        *,
        duration: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.shop_url = shop_url.rstrip("/")
        self.settings = settings
        self.duration = duration
        self._rng = random.Random(settings.seed)
        self._tallies = _Tallies(clock)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()

    def start(self) -> TrafficGenerator:
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)
        self._thread.start()
        self._ready.wait(10.0)
        return self

    def stop(self, timeout: float = 15.0) -> TrafficSummary:
        """Stop starting visits, let those in flight finish (bounded), and return the summary."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            # The loop may have ended by itself meanwhile (the duration was over).
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(timeout)
        return self.summary()

    def wait(self, timeout: float | None = None) -> TrafficSummary:
        """Wait (at most ``timeout`` s) for the shoppers to stop by themselves (``duration``)
        and return the summary."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.summary()

    def summary(self) -> TrafficSummary:
        return self._tallies.summary()

    def __enter__(self) -> TrafficGenerator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ the loop

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._ready.set()
        settings = self.settings
        where = urlsplit(self.shop_url)
        http = HttpPool(
            where.hostname or "127.0.0.1",
            where.port or 80,
            size=settings.concurrency,
            timeout=settings.timeout,
        )
        visits: set[asyncio.Task[None]] = set()
        try:
            await self._schedule(http, visits)
            if visits:
                await asyncio.wait(visits, timeout=settings.timeout + 2.0)
                for task in visits:
                    task.cancel()
        finally:
            await http.close()
        with self._tallies.lock:
            self._tallies.ended_at = self._tallies.clock()

    async def _schedule(self, http: HttpPool, visits: set[asyncio.Task[None]]) -> None:
        """Start visits at exponential gaps until stopped or the duration is over."""
        assert self._stopping is not None
        per_second = self.settings.rate / REQUESTS_PER_VISIT
        loop = asyncio.get_running_loop()
        began = next_at = loop.time()
        while not self._stopping.is_set():
            if self.duration is not None and loop.time() - began >= self.duration:
                return
            next_at += self._rng.expovariate(per_second)
            delay = next_at - loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                if self._stopping.is_set():
                    return
            if len(visits) >= self.settings.concurrency:
                with self._tallies.lock:
                    self._tallies.skipped += 1
                continue
            plan = _Visit.draw(self._rng, self.settings.users)
            task = asyncio.create_task(self._visit(http, plan))
            visits.add(task)
            task.add_done_callback(visits.discard)

    async def _visit(self, http: HttpPool, visit: _Visit) -> None:
        with self._tallies.lock:
            self._tallies.visits += 1
        headers = {USER_HEADER: visit.user}
        for kind, method, path, pause in visit.steps:
            await asyncio.sleep(pause)
            try:
                response = await http.request(method, path, headers=headers)
            except HttpError:
                with self._tallies.lock:
                    self._tallies.transport_errors += 1
                return
            self._tallies.answered(visit.user, response, kind)
            if response.status >= 500:
                return


@dataclass(frozen=True)
class _Visit:
    """One shopper's visit, drawn in advance: ``steps`` are (kind, method, path, pause)."""

    user: str
    steps: tuple[tuple[str, str, str, float], ...]

    @classmethod
    def draw(cls, rng: random.Random, users: int) -> _Visit:
        user = user_id(rng.randrange(users))

        def pause() -> float:
            return rng.uniform(*PAUSE)

        steps = [("browse", "GET", f"/products/{rng.choice(SKUS)}", 0.0)]
        if rng.random() < SECOND_PRODUCT:
            steps.append(("browse", "GET", f"/products/{rng.choice(SKUS)}", pause()))
        steps.append(("cart", "POST", "/cart/items", pause()))
        if rng.random() < CHECKOUT_SHARE:
            steps.append(("checkout", "GET", "/checkout", pause()))
            if rng.random() < ORDER_SHARE:
                steps.append(("order", "POST", "/orders", pause()))
        return cls(user, tuple(steps))
