"""The config stream's wire format and the response that writes it.

SSE framing (``text/event-stream``)::

    retry: 1000

    id: 41
    event: config
    data: {"environment":"production","version":41,"flags":[...],"segments":[...]}

    : keep-alive

A flag change reaches every connected client, so whatever a stream does per event is paid once
per client: 1,000 times per change on a busy server. :class:`ConfigStream` therefore writes
bytes straight to the ASGI ``send``: a new version costs each stream one wake-up of its task
and one ``send`` of a bytes object that every stream shares (:class:`EventFrames` encodes an
event once per version). A ``StreamingResponse`` would add an async generator step and a str to
bytes copy per event, and the task group it runs for ASGI servers older than spec 2.4.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from rollout.server.broadcast import Subscription, SubscriptionClosed
from rollout.server.flag_service import ConfigDocument

MEDIA_TYPE = "text/event-stream"
KEEPALIVE = b": keep-alive\n\n"


def retry_block(retry_ms: int) -> bytes:
    """The block telling a client how long to wait before reconnecting, in milliseconds."""
    return f"retry: {retry_ms}\n\n".encode()


def config_event(document: ConfigDocument) -> bytes:
    """One config event (the JSON has no line breaks, so it is one ``data`` line).

    >>> from rollout.flags import FlagConfig
    >>> config = FlagConfig(environment="production", version=7)
    >>> config_event(ConfigDocument("production", 7, config, '{"version":7}'))
    b'id: 7\\nevent: config\\ndata: {"version":7}\\n\\n'
    """
    return f"id: {document.version}\nevent: config\ndata: {document.json}\n\n".encode()


class EventFrames:
    """The newest config event of each environment, encoded once and shared by all streams.

    The broadcaster hands every subscriber the same document object, so the cache is checked
    by identity: a document of another app (another store) with the same environment and
    version is never mistaken for it. Only the newest version per environment is kept.
    """

    def __init__(self) -> None:
        self._newest: dict[str, tuple[ConfigDocument, bytes]] = {}

    def frame(self, document: ConfigDocument) -> bytes:
        """``config_event(document)``, encoded at most once while it is the newest."""
        cached = self._newest.get(document.environment)
        if cached is not None and cached[0] is document:
            return cached[1]
        frame = config_event(document)
        if cached is None or document.version >= cached[0].version:
            self._newest[document.environment] = (document, frame)
        return frame


FRAMES = EventFrames()
"""Shared by every stream of the process (entries are checked by identity, so apps cannot mix
them up; reads and writes are single dict operations, safe from several event loops)."""


class ConfigStream(Response):
    """An endless ``text/event-stream`` response fed by ``subscription``.

    It sends ``head`` (the retry block and, unless the client is up to date, the current config)
    at once; then, each time the subscription wakes, the newest version if it is newer than
    ``sent``, or a keep-alive comment. It ends when the subscription is closed: the client
    disconnected (noticed by a watcher of ``receive``), it was dropped as too slow, or the
    server is stopping. The subscription is closed when the response ends, however it ends.
    """

    media_type = MEDIA_TYPE

    def __init__(
        self,
        subscription: Subscription,
        *,
        head: bytes,
        sent: int,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        # Not Response.__init__: it would add "content-length: 0" for the empty body.
        self.status_code = 200
        self.background = None
        self.init_headers(headers)
        self._subscription = subscription
        self._head = head
        self._sent = sent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        subscription = self._subscription
        watcher = asyncio.create_task(_close_on_disconnect(receive, subscription))
        # The writer gets a task of its own: a wake-up of the request's task would resume the
        # whole chain of middleware and routing coroutines it awaits in (about 25 frames),
        # once per client per version; the writer's task resumes three.
        writer = asyncio.create_task(self._write(send))
        try:
            await writer
        except OSError:
            return  # an ASGI server of spec 2.4 or later says "client gone" this way
        finally:
            subscription.close()
            watcher.cancel()
            writer.cancel()
            await asyncio.wait((watcher, writer))
        if self.background is not None:
            await self.background()

    async def _write(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self._head, "more_body": True})
        subscription, sent = self._subscription, self._sent
        while True:
            try:
                document = await subscription.newest()
            except SubscriptionClosed:
                break
            if document is None:
                chunk = KEEPALIVE
            elif document.version > sent:
                chunk = FRAMES.frame(document)
                sent = document.version
            else:
                continue
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _close_on_disconnect(receive: Receive, subscription: Subscription) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    subscription.close()
