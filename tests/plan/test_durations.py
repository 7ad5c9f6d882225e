"""Durations: every accepted spelling, every error with its column, format/parse round trips."""

from __future__ import annotations

import doctest
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollout.errors import CriterionSyntaxError
from rollout.plan import durations
from rollout.plan.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("15m", 900.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1w", 604800.0),
        ("500ms", 0.5),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        (" 1 h 30 m ", 5400.0),
        ("1.5h", 5400.0),
        ("0.1s", 0.1),
        ("1d12h", 129600.0),
        ("1w2d3h4m5s6ms", 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5 + 0.006),
        ("90", 90.0),
        ("2.5", 2.5),
        ("0", 0.0),
        ("0s", 0.0),
        ("1_000s", 1000.0),
        ("1,000s", 1000.0),
        ("2H", 7200.0),
        ("500MS", 0.5),
        ("1m90s", 150.0),
        (90, 90.0),
        (1.5, 1.5),
        (0, 0.0),
    ],
)
def test_parses(text: str | int | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("", 1, "empty duration"),
        ("  ", 1, "empty duration"),
        ("15 mins", 4, "unknown unit 'mins' (use ms, s, m, h, d or w)"),
        ("15min", 3, "unknown unit 'min' (use ms, s, m, h, d or w)"),
        ("5 us", 3, "unknown unit 'us' (use ms, s, m, h, d or w)"),
        ("1M", 2, "unknown unit 'M' (use ms, s, m, h, d or w)"),
        ("1y", 2, "unknown unit 'y' (use ms, s, m, h, d or w)"),
        ("-5m", 1, "a duration cannot be negative"),
        ("1h30", 3, "missing unit after '30' (use ms, s, m, h, d or w)"),
        ("1h 30 ", 4, "missing unit after '30' (use ms, s, m, h, d or w)"),
        (
            "30m1h",
            5,
            "units must go from the largest to the smallest, each at most once (e.g. 1h30m)",
        ),
        (
            "1h1h",
            4,
            "units must go from the largest to the smallest, each at most once (e.g. 1h30m)",
        ),
        ("1h-5m", 3, "expected a number, found '-'"),
        ("1h+", 3, "expected a number, found '+'"),
        ("m", 1, "expected a number, found 'm'"),
        ("PT15M", 1, "expected a number, found 'PT15M'"),
        ("1.5.h", 4, "expected a unit after '1.5', found '.'"),
        ("15m!", 4, "expected a number, found '!'"),
        ("1,5h", 2, "',' in a number must separate groups of three digits (use '.' for decimals)"),
        ("1e999h", 1, "1e999 is too large"),
        ("1e400", 1, "1e400 is too large"),
    ],
)
def test_errors_say_what_and_where(text: str, column: int, message: str) -> None:
    with pytest.raises(CriterionSyntaxError) as caught:
        parse_duration(text)
    assert (caught.value.message, caught.value.column) == (message, column)
    assert caught.value.text == text


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "expected a duration such as '15m', found true"),
        (-3, "a duration cannot be negative"),
        (-0.5, "a duration cannot be negative"),
        (math.nan, "a duration must be a finite number"),
        (math.inf, "a duration must be a finite number"),
        (10**400, "a duration must be a finite number"),
    ],
)
def test_numbers_from_yaml_are_checked(value: int | float, message: str) -> None:
    with pytest.raises(CriterionSyntaxError) as caught:
        parse_duration(value)
    assert (caught.value.message, caught.value.column) == (message, 1)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (90, "1m30s"),
        (3600, "1h"),
        (5400, "1h30m"),
        (86400, "1d"),
        (604800, "1w"),
        (1209600, "2w"),
        (8 * 86400, "8d"),
        (86400 + 1, "1d1s"),
        (1.5, "1s500ms"),
        (0.5, "500ms"),
        (0.0001, "0.1ms"),
        (59.999, "59s999ms"),
    ],
)
def test_formats_canonically(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("seconds", [-1.0, math.nan, math.inf])
def test_format_refuses_what_is_not_a_duration(seconds: float) -> None:
    with pytest.raises(ValueError, match="finite number of seconds"):
        format_duration(seconds)


@given(st.floats(min_value=0.0, allow_infinity=False, allow_nan=False))
def test_format_then_parse_gives_back_the_same_seconds(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.integers(min_value=0, max_value=10**9))
def test_whole_seconds_format_without_fractions(seconds: int) -> None:
    text = format_duration(seconds)
    assert "ms" not in text
    assert parse_duration(text) == seconds


@given(
    st.lists(st.integers(min_value=0, max_value=999), min_size=6, max_size=6),
    st.sets(st.sampled_from(range(6)), min_size=1),
)
def test_compounds_add_their_parts(counts: list[int], used: set[int]) -> None:
    units = [("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1), ("ms", 0.001)]
    chosen = sorted(used)
    text = "".join(f"{counts[i]}{units[i][0]}" for i in chosen)
    whole_ms = sum(counts[i] * round(units[i][1] * 1000) for i in chosen)
    assert parse_duration(text) == whole_ms / 1000


@given(st.text(alphabet=st.sampled_from(list("0159.,_ smhdwMµ-+:")), max_size=20))
def test_any_text_parses_or_fails_with_a_column_inside_the_text(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except CriterionSyntaxError as error:
        assert 1 <= error.column <= len(text) + 1
    else:
        assert seconds >= 0
        assert math.isfinite(seconds)


def test_docstring_examples_hold() -> None:
    result = doctest.testmod(durations)
    assert result.attempted > 0
    assert result.failed == 0
