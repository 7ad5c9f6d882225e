"""The communication plan in words: which announcements a moment calls for, and their text.

Templates see ``{rollout} {version} {environment} {stage} {state} {reason}``::

    >>> from rollout.engine.actions import NotifyContext
    >>> context = NotifyContext("r-42", "v2.4.0", "production", "canary", "rolling_back",
    ...                         "error_rate 3.1% >= 2%")
    >>> render_message("{rollout} ({version}) in {environment}: {state}. {reason}", context)
    'r-42 (v2.4.0) in production: rolling_back. error_rate 3.1% >= 2%'

A template is the user's text, so it must never break a notification: an unknown name renders
as ``[unknown: name]``, and anything else that is not a plain ``{name}`` (attribute access,
indexes, stray braces) renders as written. ``{{`` and ``}}`` are literal braces.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from string import Formatter

from rollout.engine.actions import NotifyContext
from rollout.plan.model import Announcement
from rollout.plan.model import Notify as NotifyStep
from rollout.providers.notify._base import Message, MessageKind

DEFAULT_MESSAGE: str = NotifyStep.model_fields["message"].default
"""The text a rollback step's notification sends when it names no message."""

_KINDS: dict[str, MessageKind] = {
    "succeeded": "success",
    "paused": "warning",
    "awaiting_approval": "warning",
    "rolling_back": "failure",
    "rolled_back": "failure",
    "rollback_failed": "failure",
    "failed": "failure",
}


def render_message(template: str, context: NotifyContext | Mapping[str, object]) -> str:
    """``template`` with ``{name}`` filled in from ``context``; never raises (see the module
    docstring for how unknown and unusual fields render)."""
    values = asdict(context) if isinstance(context, NotifyContext) else dict(context)
    try:
        parts = list(Formatter().parse(template))
    except ValueError:  # a stray "{" or "}": the text goes out as written
        return template
    out: list[str] = []
    for literal, name, spec, conversion in parts:
        out.append(literal)
        if name is None:
            continue
        written = (
            "{"
            + name
            + (f"!{conversion}" if conversion else "")
            + (f":{spec}" if spec else "")
            + "}"
        )
        if not name.isidentifier():
            out.append(written)  # positional, attribute or index access: not ours to resolve
        elif name not in values:
            out.append(f"[unknown: {name}]")
        else:
            out.append(_field(values[name], conversion, spec, written))
    return "".join(out)


def _field(value: object, conversion: str | None, spec: str | None, written: str) -> str:
    converted = {"r": repr, "a": ascii}.get(conversion or "", str)(value)
    try:
        return format(converted, spec or "")
    except (ValueError, TypeError):
        return written


def _fold(moment: str) -> str:
    # "Stage: Limited  Release" and "stage:limited release" name the same moment.
    head, colon, tail = moment.partition(":")
    if not colon:
        return moment.strip().lower()
    return f"{head.strip().lower()}:{' '.join(tail.split()).lower()}"


def select_announcements(
    announcements: Iterable[Announcement], moment: str, stage: str = ""
) -> tuple[Announcement, ...]:
    """The announcements to send at ``moment``, in plan order: those whose ``when`` names the
    moment or ``any``, and, when a stage starts (``moment == "stage_started"``), those naming
    ``stage:<stage>``. Moments compare without regard to case or repeated spaces."""
    wanted = {_fold(moment), "any"}
    if _fold(moment) == "stage_started" and stage:
        wanted.add(_fold(f"stage:{stage}"))
    return tuple(a for a in announcements if wanted & {_fold(when) for when in a.when})


def kind_for(state: str) -> MessageKind:
    """How a message about a rollout in ``state`` is marked: success, warning, failure, info."""
    return _KINDS.get(state, "info")


def title_for(context: NotifyContext) -> str:
    """A short title: ``Rollout r-42 (v2.4.0): rolling_back``."""
    return f"Rollout {context.rollout} ({context.version}): {context.state}"


def compose(
    announcements: Sequence[Announcement],
    context: NotifyContext,
    *,
    message: str | None = None,
    channel: str | None = None,
) -> tuple[Message, ...]:
    """The messages to send: one per announcement (its template, or ``message`` when given),
    or, when ``channel`` is given, ``message`` (default :data:`DEFAULT_MESSAGE`) to that
    channel alone. The same text to the same channel goes out once."""
    title, kind = title_for(context), kind_for(context.state)
    if channel is not None:
        body = render_message(message or DEFAULT_MESSAGE, context)
        return (Message(channel, body, title, kind),)
    seen: dict[tuple[str, str], Message] = {}
    for row in announcements:
        body = render_message(message or row.message, context)
        seen.setdefault((row.channel, body), Message(row.channel, body, title, kind, row.audience))
    return tuple(seen.values())
