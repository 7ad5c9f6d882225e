"""What a notifier is given (:class:`Message`), what it reports (:class:`Delivery`), and the
:class:`Notifier` protocol the runner talks to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

MessageKind = Literal["info", "success", "warning", "failure"]
"""How a message is marked where the channel can show it (Apprise's notification types)."""


@dataclass(frozen=True)
class Message:
    """One rendered message for one channel.

    ``channel`` is the Apprise URL *as the plan writes it*: ``${VAR}`` references are filled in
    only by the notifier, at the moment of sending. ``audience`` names who it is for (the
    communication plan's row), for the record.
    """

    channel: str
    body: str
    title: str = ""
    kind: MessageKind = "info"
    audience: str = ""


@dataclass(frozen=True)
class Delivery:
    """How sending one message went.

    ``channel_masked`` is the channel as written with credentials masked (``${VAR}`` shown as
    written, never its value). ``attempts`` counts the tries made (0 when the message could not
    be tried at all: an unset variable, a URL no service understands). ``error`` says in plain
    words why the last try failed ('' when ``ok``).
    """

    channel_masked: str
    ok: bool
    attempts: int
    error: str = ""
    audience: str = ""


@runtime_checkable
class Notifier(Protocol):
    """Sends messages. Never raises for a delivery problem: it reports it as a Delivery, so a
    channel that is down can never stop a rollback."""

    def send(self, message: Message, *, key: str = "") -> Delivery:
        """Deliver ``message``; ``key`` is the action's idempotency key (the same on every
        retry, so a receiver can drop duplicates)."""
        ...
