"""Notifications through Apprise, following the plan's communication plan.

The runner turns a ``Notify`` action into messages and sends them::

    rows = [plan.communication[i] for i in action.announcements]
    messages = compose(rows, action.context, message=action.message, channel=action.channel)
    deliveries = send_all(AppriseNotifier(), messages, key=action.key)

:func:`select_announcements` picks the rows a moment calls for (``when`` names it, ``any``, or
``stage:<name>`` when that stage starts); :func:`render_message` fills a template in without
ever raising. A :class:`Notifier` never raises for a delivery problem: each message ends as a
frozen :class:`Delivery` (``ok``, ``attempts``, ``error``, the channel masked), so a channel
that is down cannot stop a rollback. JSON webhooks can be signed
(:mod:`rollout.providers.notify.signing`).
"""

from collections.abc import Iterable

from rollout.providers.notify._base import Delivery, Message, MessageKind, Notifier
from rollout.providers.notify.apprise import AppriseNotifier
from rollout.providers.notify.messages import (
    DEFAULT_MESSAGE,
    compose,
    kind_for,
    render_message,
    select_announcements,
    title_for,
)


def send_all(
    notifier: Notifier, messages: Iterable[Message], *, key: str = ""
) -> tuple[Delivery, ...]:
    """Send every message through ``notifier`` with the action's idempotency ``key``; one
    :class:`Delivery` per message, in order. Never raises for a delivery problem."""
    return tuple(notifier.send(message, key=key) for message in messages)


__all__ = [
    "DEFAULT_MESSAGE",
    "AppriseNotifier",
    "Delivery",
    "Message",
    "MessageKind",
    "Notifier",
    "compose",
    "kind_for",
    "render_message",
    "select_announcements",
    "send_all",
    "title_for",
]
