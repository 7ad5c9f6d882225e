"""The SSE decoder against the event-stream rules, and the backoff schedule."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollout.sdk.backoff import Backoff
from rollout.sdk.sse import SSEDecoder, SSEEvent


def _feed(decoder: SSEDecoder, text: str) -> list[SSEEvent]:
    events = [decoder.feed(line) for line in text.split("\n")]
    return [e for e in events if e is not None]


def test_the_servers_stream_decodes_to_config_events() -> None:
    decoder = SSEDecoder()
    stream = (
        "retry: 1000\n\n"
        'id: 41\nevent: config\ndata: {"version":41}\n\n'
        ": keep-alive\n\n"
        'id: 42\nevent: config\ndata: {"version":42}\n\n'
    )
    events = _feed(decoder, stream)
    assert events == [
        SSEEvent("config", '{"version":41}', "41"),
        SSEEvent("config", '{"version":42}', "42"),
    ]
    assert decoder.retry_ms == 1000
    assert decoder.last_event_id == "42"


def test_field_parsing_follows_the_specification() -> None:
    decoder = SSEDecoder()
    # One leading space is dropped, not two; several data lines join with a newline; a line
    # without a colon is a field with an empty value; unknown fields are ignored.
    events = _feed(decoder, "data:  two spaces\ndata:x\ndata\nfoo: bar\n\n")
    assert events == [SSEEvent("message", " two spaces\nx\n", "")]


def test_an_event_without_data_is_not_dispatched_but_its_id_is_kept() -> None:
    decoder = SSEDecoder()
    assert _feed(decoder, "id: 9\nevent: config\n\n") == []
    assert decoder.last_event_id == "9"
    # The type does not leak into the next event.
    assert _feed(decoder, "data: x\n\n") == [SSEEvent("message", "x", "9")]


@pytest.mark.parametrize("line", ["retry: 10s", "retry: -5", "retry: ", "retry: ١٢"])
def test_a_retry_that_is_not_ascii_digits_is_ignored(line: str) -> None:
    decoder = SSEDecoder()
    decoder.feed(line)
    assert decoder.retry_ms is None


def test_an_id_with_nul_is_ignored() -> None:
    decoder = SSEDecoder(last_event_id="3")
    decoder.feed("id: 4\0")
    assert decoder.last_event_id == "3"


_payload = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\0"),
    max_size=40,
)


@given(st.lists(st.tuples(st.integers(0, 10**6), st.lists(_payload, min_size=1, max_size=3))))
def test_any_sequence_of_events_round_trips(events: list[tuple[int, list[str]]]) -> None:
    text = "".join(
        f"id: {ident}\nevent: config\n" + "".join(f"data: {line}\n" for line in lines) + "\n"
        for ident, lines in events
    )
    decoded = _feed(SSEDecoder(), text)
    assert decoded == [SSEEvent("config", "\n".join(lines), str(i)) for i, lines in events]


def test_backoff_grows_doubling_with_jitter_up_to_the_cap() -> None:
    backoff = Backoff(1.0, 8.0, random.Random(7))
    delays = [backoff.next_delay() for _ in range(6)]
    ceilings = [1, 2, 4, 8, 8, 8]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert len(set(delays)) == len(delays)  # jittered, not lock-step
    backoff.reset()
    assert 0.5 <= backoff.next_delay() <= 1.0


def test_backoff_refuses_a_base_above_the_cap() -> None:
    with pytest.raises(ValueError, match="base <= cap"):
        Backoff(10.0, 1.0)
