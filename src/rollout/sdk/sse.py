"""An incremental Server-Sent Events decoder (the WHATWG HTML "event stream" interpretation).

Feed it the stream's lines one at a time, without their line terminators; it returns an
:class:`SSEEvent` when a blank line completes one::

    >>> decoder = SSEDecoder()
    >>> [decoder.feed(line) for line in ("retry: 1000", "id: 7", "event: config",
    ...                                  'data: {"version": 7}', "")][-1]
    SSEEvent(type='config', data='{"version": 7}', id='7')
    >>> decoder.retry_ms, decoder.last_event_id
    (1000, '7')

Rules kept from the specification: a line starting with ``:`` is a comment (the server's
``: keep-alive``); ``field: value`` loses one leading space of the value; a line without a colon
is a field with an empty value; several ``data`` lines join with ``\\n``; an ``id`` containing
NUL is ignored; ``retry`` is honoured only when it is all ASCII digits; an event whose data
buffer is empty is not dispatched (but its ``id`` still becomes the last event id); unknown
fields are ignored. Splitting the byte stream into lines (``\\r\\n``, ``\\n`` or ``\\r``) is the
caller's job -- ``httpx``'s ``aiter_lines`` does exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SSEDecoder", "SSEEvent"]


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event: its type (``"message"`` when the stream named none), its data
    (``data`` lines joined with newlines) and the last event id at dispatch (``""`` if none)."""

    type: str
    data: str
    id: str


class SSEDecoder:
    """Turns lines of an event stream into :class:`SSEEvent` values; one decoder per connection.

    ``last_event_id`` survives dispatches (it is what a reconnect sends as ``Last-Event-ID``);
    ``retry_ms`` is the reconnection delay the server last asked for, or ``None``.
    """

    __slots__ = ("_data", "_type", "last_event_id", "retry_ms")

    def __init__(self, last_event_id: str = "") -> None:
        self._data: list[str] = []
        self._type = ""
        self.last_event_id = last_event_id
        self.retry_ms: int | None = None

    def feed(self, line: str) -> SSEEvent | None:
        """Process one line (without its terminator); return the event it completes, if any."""
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None
        field, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._type = value
        elif field == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif field == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> SSEEvent | None:
        data, event_type = self._data, self._type
        self._data, self._type = [], ""
        if not data:
            return None
        return SSEEvent(event_type or "message", "\n".join(data), self.last_event_id)
