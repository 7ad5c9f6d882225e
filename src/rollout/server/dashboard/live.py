"""Live pages: server-sent events that carry freshly rendered parts of a page.

A page names its stream in ``data-live`` (with the fingerprint of what it shows as
``since``); the stream sends, whenever what the page shows has changed::

    retry: 2000

    id: 14.38
    event: update
    data: {"regions": {"live-head": "<div ...>", "live-body": "..."}}

and the page's script swaps each region in (``id`` is the new fingerprint; a reconnecting
browser sends it back as ``Last-Event-ID``, so it gets only what changed meanwhile). A rollout
page and the rollouts list check the store every ``poll_seconds`` (one row and the new audit
events: cheap); the flags page is woken by the server's own config fan-out, as SDKs are. An idle
stream sends a keep-alive comment every ``keepalive_seconds``; a rollout that disappears ends
its stream with ``event: gone``.

A stopping server ends its SSE streams by closing the config fan-out's subscriptions
(:mod:`rollout.server.run`), so that it need not wait for clients that would stay forever. A live
page therefore holds a subscription to an environment it shows (:class:`StopWatch`) and ends
its stream when that closes, instead of holding up the shutdown.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse

from rollout.engine.runner import load_stored
from rollout.errors import FlagError, NotFound, RolloutError
from rollout.server.broadcast import Broadcaster, CloseReason, SubscriptionClosed
from rollout.server.dashboard.access import NotSignedIn, Viewer, viewer_of
from rollout.server.dashboard.flag_views import flags_page
from rollout.server.dashboard.routes_flags import flag_table_values
from rollout.server.dashboard.routes_rollouts import WAITING_WORDS
from rollout.server.dashboard.site import Dashboard, context_of, dashboard_of
from rollout.server.dashboard.views import (
    Fingerprint,
    engine_state,
    list_fingerprint,
    rollout_page,
    rollout_rows,
)
from rollout.store import Store

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

RETRY_MS = 2000
_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID")]

Regions = dict[str, str]


def update_event(fingerprint: str, regions: Regions) -> str:
    """One ``update`` event (JSON has no raw line breaks, so one ``data`` line)."""
    return f"id: {fingerprint}\nevent: update\ndata: {json.dumps({'regions': regions})}\n\n"


def _stream(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream", headers=_STREAM_HEADERS)


def _viewer(request: Request) -> Viewer | Response:
    # A stream answers 401/403 rather than redirecting: EventSource stops on an error status,
    # and the page says the viewer is signed out.
    try:
        return viewer_of(request)
    except NotSignedIn as exc:
        return PlainTextResponse(exc.message, status_code=exc.status)


class StopWatch:
    """Knows when the server stops: it holds a fan-out subscription to ``environment`` (None:
    nothing to hold, and so no early end), which the server closes when it stops."""

    def __init__(self, broadcaster: Broadcaster, environment: str | None) -> None:
        self._broadcaster = broadcaster
        self._environment = environment
        self._subscription = broadcaster.subscribe(environment) if environment else None

    async def stopping(self) -> bool:
        """True once the server is stopping. Config versions published meanwhile are let go
        (the page's own look finds what changed)."""
        subscription = self._subscription
        if subscription is None:
            return False
        try:
            while await subscription.next(0) is not None:
                pass
        except SubscriptionClosed as closed:
            if closed.reason is CloseReason.SHUTDOWN:
                return True
            # Dropped as a slow reader (it never is while drained): hold a new one.
            self._subscription = self._broadcaster.subscribe(subscription.environment)
        return False

    def close(self) -> None:
        if self._subscription is not None:
            self._subscription.close()


async def polled(
    board: Dashboard,
    watch: StopWatch,
    since: str | None,
    look: Callable[[str | None], str],
    render: Callable[[], tuple[str, Regions]],
) -> AsyncIterator[str]:
    """Updates whenever ``look(last fingerprint)`` differs from the last one sent; ``render``
    gives the regions and the fingerprint they were built from (read first, so a change made
    while rendering shows up on the next look). Ends when the server stops."""
    try:
        yield f"retry: {RETRY_MS}\n\n"
        last = since
        quiet = 0.0
        while not await watch.stopping():
            try:
                current = await asyncio.to_thread(look, last)
                if current != last:
                    built, regions = await asyncio.to_thread(render)
                    yield update_event(built, regions)
                    last, quiet = built, 0.0
            except NotFound:
                yield "event: gone\ndata: {}\n\n"
                return
            except RolloutError as exc:  # the database, or a rollout it cannot read
                log.warning("a live page could not be brought up to date: %s", exc)
            if quiet >= board.keepalive_seconds:
                yield ": keep-alive\n\n"
                quiet = 0.0
            await asyncio.sleep(board.poll_seconds)
            quiet += board.poll_seconds
    finally:
        watch.close()


def _shown_environment(store: Store) -> str | None:
    """An environment the rollouts list shows: one with flags, else the newest rollout's
    first environment; None when there is neither."""
    with_flags = store.list_environments()
    if with_flags:
        return with_flags[0]
    newest = store.list_rollouts(limit=1)
    return load_stored(newest[0]).plan.environments[0].name if newest else None


def _rollout_environment(store: Store, rollout_id: str) -> str:
    """The environment the rollout is in (its first before it starts)."""
    stored = load_stored(store.get_rollout(rollout_id))
    return stored.plan.environments[engine_state(stored).env_index].name


@router.get("/live", response_class=Response)
async def rollouts_live(
    request: Request, since: str | None = None, last_event_id: LastEventId = None
) -> Response:
    """The rollouts list's updates."""
    viewer = _viewer(request)
    if not isinstance(viewer, Viewer):
        return viewer
    board, context = dashboard_of(request), context_of(request)
    store = context.store
    try:
        environment = await asyncio.to_thread(_shown_environment, store)
    except RolloutError as exc:
        return PlainTextResponse(str(exc), status_code=503)
    watch = StopWatch(context.broadcaster, environment)

    def render() -> tuple[str, Regions]:
        fingerprint = list_fingerprint(store)
        rows = rollout_rows(store, board.clock())
        return fingerprint, {"live-list": board.render("_rollout_table.html", viewer, rows=rows)}

    def look(_last: str | None) -> str:
        return list_fingerprint(store)

    return _stream(polled(board, watch, last_event_id or since, look, render))


@router.get("/rollouts/{rollout_id}/live", response_class=Response)
async def rollout_live(
    request: Request, rollout_id: str, since: str | None = None, last_event_id: LastEventId = None
) -> Response:
    """One rollout page's updates: its head, its actions and its body."""
    viewer = _viewer(request)
    if not isinstance(viewer, Viewer):
        return viewer
    board, context = dashboard_of(request), context_of(request)
    store = context.store
    try:
        environment = await asyncio.to_thread(_rollout_environment, store, rollout_id)
    except NotFound:
        return PlainTextResponse(f"no rollout {rollout_id}", status_code=404)
    except RolloutError as exc:
        return PlainTextResponse(str(exc), status_code=503)
    watch = StopWatch(context.broadcaster, environment)

    def look(last: str | None) -> str:
        known = Fingerprint.parse(last or "") or Fingerprint(0, 0)
        return str(known.now(store, rollout_id))

    def render() -> tuple[str, Regions]:
        page = rollout_page(store, rollout_id, viewer, board.clock())
        values = {"page": page, "waiting_words": WAITING_WORDS}
        return str(page.fingerprint), {
            "live-head": board.render("_rollout_head.html", viewer, **values),
            "live-actions": board.render("_rollout_actions.html", viewer, **values),
            "live-body": board.render("_rollout_body.html", viewer, **values),
        }

    return _stream(polled(board, watch, last_event_id or since, look, render))


@router.get("/flags/live", response_class=Response)
async def flags_live(
    request: Request, env: str, since: str | None = None, last_event_id: LastEventId = None
) -> Response:
    """The flags table of ``env``, again after every config version the server publishes."""
    viewer = _viewer(request)
    if not isinstance(viewer, Viewer):
        return viewer
    board, context = dashboard_of(request), context_of(request)
    try:
        await asyncio.to_thread(context.service.config_version, env)
    except FlagError as exc:
        return PlainTextResponse(str(exc), status_code=404)
    # Subscribed before the first look, so a change in between is never missed.
    subscription = context.broadcaster.subscribe(env)

    def render() -> tuple[str, Regions]:
        page = flags_page(context.service, env)
        html = board.render("_flag_table.html", viewer, **flag_table_values(viewer, page))
        return str(page.version), {"live-flags": html}

    async def events() -> AsyncIterator[str]:
        try:
            yield f"retry: {RETRY_MS}\n\n"
            sent = last_event_id or since
            current = str(await asyncio.to_thread(context.service.config_version, env))
            while True:
                if current != sent:
                    built, regions = await asyncio.to_thread(render)
                    yield update_event(built, regions)
                    sent = built
                try:
                    document = await subscription.next(board.keepalive_seconds)
                except SubscriptionClosed:
                    return
                if document is None:
                    yield ": keep-alive\n\n"
                else:
                    current = str(document.version)
        finally:
            subscription.close()

    return _stream(events())
