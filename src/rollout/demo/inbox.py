"""The demo team's inbox: where the demo plan's notifications arrive, over real HTTP.

The demo plan's communication rows and rollback steps notify ``json://${ROLLOUT_DEMO_INBOX}/
demo/notifications``; Apprise posts each message as JSON (``{"title": ..., "message": ...}``),
and :func:`mount_inbox` adds the route that receives them to the app the demo serves. The
live view and the report show what arrived, so the notifications are seen to work.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, Response

__all__ = ["INBOX_PATH", "Inbox", "Message", "mount_inbox"]

INBOX_PATH = "/demo/notifications"


@dataclass(frozen=True)
class Message:
    """One notification as received: when (epoch seconds), its title and its text."""

    at: float
    title: str
    text: str


class Inbox:
    """Messages received so far, oldest first (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[Message] = []

    def add(self, body: Any) -> Message:
        """Keep one posted body: Apprise's JSON object, or anything else as text."""
        if isinstance(body, dict):
            message = Message(time.time(), str(body.get("title") or ""), str(body.get("message")))
        else:
            message = Message(time.time(), "", str(body))
        with self._lock:
            self._messages.append(message)
        return message

    def messages(self) -> tuple[Message, ...]:
        with self._lock:
            return tuple(self._messages)


def mount_inbox(app: FastAPI, inbox: Inbox) -> None:
    """Receive notifications on ``POST /demo/notifications`` of ``app`` (left out of its
    OpenAPI document: it belongs to the demo, not to the API)."""

    async def receive(request: Request) -> Response:
        raw = await request.body()
        try:
            body: Any = await request.json()
        except ValueError:
            body = raw.decode("utf-8", "replace")
        inbox.add(body)
        return Response(status_code=204)

    app.add_api_route(INBOX_PATH, receive, methods=["POST"], include_in_schema=False)
