"""The sample shop: a small ASGI service whose checkout runs two versions behind a flag.

Routes (every shopper names themselves with the ``X-User-Id`` header):

=============================  ==============================================================
``GET /products/{sku}``        a product page (browsing; no flag involved)
``POST /cart/items``           add to cart                      \\
``GET /checkout``              the checkout page (an exposure)   } the checkout, flag-gated
``POST /orders``               place the order (a conversion)   /
``GET /healthz``               the release and the flag config version the SDK holds
``GET /_demo/conversions``     exposures and orders per arm (``start``, ``end``, ``step``)
=============================  ==============================================================

The checkout handlers ask the Rollout SDK, per shopper, which checkout to run
(``new-checkout``: true runs the new version, false the current one) and behave as that
version's :class:`~rollout.demo.behaviour.Behaviour` says: they take its service time, fail
with a 500 as often as it fails, and decline payments as often as it declines. The SDK's ASGI
middleware times every request and reports it, per flag arm, to the Rollout server: the
rollout is judged on exactly what the shop served. Each checkout answer names the version
that served it in the ``X-Checkout-Version`` header.

Run it as ``python -m rollout.demo.shop --server URL --release 2.0.1 --quality good`` (see
:func:`main`); ``rollout demo`` starts it for each phase of the demo.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rollout.demo.behaviour import CURRENT, Behaviour, Quality, behaviour_of
from rollout.demo.ledger import ConversionLedger
from rollout.sdk import RolloutASGIMiddleware, RolloutClient
from rollout.sdk.middleware import ASGIApp

__all__ = [
    "CURRENT_RELEASE",
    "FLAG",
    "USER_HEADER",
    "VERSION_HEADER",
    "ShopSettings",
    "create_shop",
    "main",
]

FLAG = "new-checkout"
"""The flag the checkout is gated behind (the demo plan's ``strategy.flag``)."""
CURRENT_RELEASE = "1.4.2"
"""The release of the current checkout, served to everyone outside the rollout."""
USER_HEADER = "X-User-Id"
VERSION_HEADER = "X-Checkout-Version"
BROWSE_MS = 6.0
"""Service time of a product page (ms): browsing is not what is being rolled out."""


@dataclass(frozen=True)
class ShopSettings:
    """One shop process: the ``release`` of the new checkout and its ``quality``, where the
    flags come from, and the seed of its randomness."""

    release: str
    quality: Quality
    server_url: str
    environment: str = "production"
    seed: int = 0
    flush_interval: float = 1.0
    cache_dir: Path | None = None


class _Shop:
    """The handlers, with what they share: the SDK client, the versions and the ledger."""

    def __init__(
        self, client: RolloutClient, settings: ShopSettings, clock: Callable[[], float]
    ) -> None:
        self.client = client
        self.clock = clock
        self.release = settings.release
        self.new: Behaviour = behaviour_of(settings.quality)
        self.rng = random.Random(settings.seed)
        self.ledger = ConversionLedger()

    def _version(self, user: str) -> tuple[Behaviour, str, str | None]:
        """The checkout this shopper gets: behaviour, release, and the flag variant served
        (None when the flag could not be evaluated: the current checkout, counted in no arm)."""
        served = self.client.evaluate(FLAG, {"targeting_key": user}, False)
        if served.value is True:
            return self.new, self.release, served.variant
        return CURRENT, CURRENT_RELEASE, served.variant

    async def product(self, request: Request) -> Response:
        await asyncio.sleep(BROWSE_MS * self.rng.uniform(0.5, 1.5) / 1000.0)
        sku = request.path_params["sku"]
        return JSONResponse({"sku": sku, "price": 10 + sum(map(ord, sku)) % 90})

    async def _checkout_step(
        self, request: Request, step: str
    ) -> tuple[Response | None, str, str | None, Behaviour]:
        user = request.headers.get(USER_HEADER) or "anonymous"
        behaviour, release, variant = self._version(user)
        outcome = behaviour.draw(self.rng)
        await asyncio.sleep(outcome.service_ms / 1000.0)
        if outcome.fails:
            body = {"error": f"{step} failed", "version": release}
            return JSONResponse(body, 500, {VERSION_HEADER: release}), release, variant, behaviour
        return None, release, variant, behaviour

    async def add_to_cart(self, request: Request) -> Response:
        failed, release, _, _ = await self._checkout_step(request, "adding to the cart")
        return failed or JSONResponse({"cart": "updated"}, 200, {VERSION_HEADER: release})

    async def checkout(self, request: Request) -> Response:
        failed, release, variant, _ = await self._checkout_step(request, "the checkout page")
        user = request.headers.get(USER_HEADER) or "anonymous"
        if variant is not None:
            self.ledger.expose(user, variant, at=self.clock())
        return failed or JSONResponse({"checkout": release}, 200, {VERSION_HEADER: release})

    async def order(self, request: Request) -> Response:
        failed, release, _, behaviour = await self._checkout_step(request, "placing the order")
        if failed is not None:
            return failed
        if behaviour.declines(self.rng):
            body = {"error": "payment declined", "version": release}
            return JSONResponse(body, 402, {VERSION_HEADER: release})
        self.ledger.convert(request.headers.get(USER_HEADER) or "anonymous")
        return JSONResponse({"order": "placed"}, 201, {VERSION_HEADER: release})

    async def health(self, _request: Request) -> Response:
        return JSONResponse(
            {
                "release": self.release,
                "ready": self.client.version is not None,
                "config_version": self.client.version,
            }
        )

    async def conversions(self, request: Request) -> Response:
        query = request.query_params
        try:
            start, end, step = (float(query[name]) for name in ("start", "end", "step"))
            found = self.ledger.intervals(
                start,
                end,
                step,
                canary=query.get("canary", "on"),
                control=query.get("control", "off"),
                now=self.clock(),
            )
        except (KeyError, ValueError) as exc:
            return JSONResponse({"error": f"bad query: {exc}"}, 400)
        return JSONResponse({"intervals": found})


def create_shop(
    settings: ShopSettings,
    client: RolloutClient | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> ASGIApp:
    """The shop's ASGI app, wrapped in the SDK's middleware. ``client`` defaults to a
    streaming client of ``settings.server_url``; the app closes it when it shuts down (which
    sends the last telemetry). ``clock`` (epoch seconds) times the exposures."""
    sdk = client or RolloutClient(
        settings.server_url,
        settings.environment,
        flush_interval=settings.flush_interval,
        cache_dir=settings.cache_dir,
        disk_cache=settings.cache_dir is not None,
    )
    shop = _Shop(sdk, settings, clock)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await asyncio.to_thread(sdk.close)

    app = Starlette(
        routes=[
            Route("/products/{sku}", shop.product, methods=["GET"]),
            Route("/cart/items", shop.add_to_cart, methods=["POST"]),
            Route("/checkout", shop.checkout, methods=["GET"]),
            Route("/orders", shop.order, methods=["POST"]),
            Route("/healthz", shop.health, methods=["GET"]),
            Route("/_demo/conversions", shop.conversions, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    return RolloutASGIMiddleware(app, sdk)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m rollout.demo.shop", description=__doc__)
    parser.add_argument("--server", required=True, help="the Rollout server's URL")
    parser.add_argument("--release", required=True, help="the new checkout's release name")
    parser.add_argument("--quality", choices=[q.value for q in Quality], required=True)
    parser.add_argument("--environment", default="production")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flush-interval", type=float, default=1.0)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop when standard input closes (the process that started the shop has ended)",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", type=int, help="listen on 127.0.0.1:PORT")
    where.add_argument("--fd", type=int, help="serve on this inherited listening socket")
    return parser.parse_args(argv)


def _exit_with_parent() -> None:
    """SIGTERM this process once standard input reaches its end: the parent holds the other
    end of the pipe, so even a parent killed outright does not leave the shop running."""

    def watch() -> None:
        with contextlib.suppress(OSError, ValueError):
            while sys.stdin.buffer.read(4096):
                pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the shop until SIGTERM/SIGINT (then the SDK sends its last telemetry)."""
    import uvicorn

    args = _arguments(argv)
    if args.exit_with_parent:
        _exit_with_parent()
    settings = ShopSettings(
        release=args.release,
        quality=Quality(args.quality),
        server_url=args.server,
        environment=args.environment,
        seed=args.seed,
        flush_interval=args.flush_interval,
        cache_dir=args.cache_dir,
    )
    if args.fd is not None:
        sock = socket.socket(fileno=args.fd)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", args.port))
        sock.listen(1024)
    config = uvicorn.Config(
        create_shop(settings),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(config).run(sockets=[sock])
    sys.exit(0)


if __name__ == "__main__":
    main()
