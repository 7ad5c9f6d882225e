"""Durations as people write them in a plan: ``90s``, ``15m``, ``1h30m``, ``1.5h``, ``500ms``.

Units: ``ms`` milliseconds, ``s`` seconds, ``m`` minutes, ``h`` hours, ``d`` days, ``w`` weeks
(case is ignored, except that a lone ``M`` is refused: it may mean months). A compound lists its
parts from the largest unit to the smallest, each unit once. A bare number is seconds, whether
written as text (``"90"``) or read by YAML as a number (``90``, ``1.5``). Zero is accepted; the
caller decides where zero makes no sense.

>>> parse_duration("1h30m")
5400.0
>>> format_duration(5400)
'1h30m'
"""

from __future__ import annotations

import math
from decimal import Decimal

from rollout.errors import CriterionSyntaxError
from rollout.plan._grammar import (
    EXACT,
    SECONDS_PER_UNIT,
    Cursor,
    Kind,
    Token,
    exact,
    format_decimal,
    to_float,
)

_UNITS = ("w", "d", "h", "m", "s", "ms")  # largest first: the order a compound must follow
_UNIT_HINT = "use ms, s, m, h, d or w"
_WEEK = SECONDS_PER_UNIT["w"]
_MS_PER_SECOND = Decimal(1000)


def parse_duration(text: str | int | float) -> float:
    """Seconds in ``text``; raise :class:`CriterionSyntaxError` (with a column) if malformed.

    >>> parse_duration("500ms"), parse_duration("1.5h"), parse_duration(90)
    (0.5, 5400.0, 90.0)
    >>> parse_duration("15 mins")
    Traceback (most recent call last):
    ...
    rollout.errors.CriterionSyntaxError: column 4: unknown unit 'mins' (use ms, s, m, h, d or w)
    """
    if isinstance(text, str):
        return _parse_text(text)
    return _from_number(text)


def format_duration(seconds: float) -> str:
    """Canonical text of a duration that :func:`parse_duration` reads back exactly.

    Whole weeks print as weeks; otherwise days, hours, minutes and seconds, largest first,
    with any fraction of a second as milliseconds.

    >>> [format_duration(s) for s in (0, 90, 3600, 86400, 1209600, 1.5, 0.0001)]
    ['0s', '1m30s', '1h', '1d', '2w', '1s500ms', '0.1ms']

    Raises ValueError for a negative, infinite or NaN number of seconds.
    """
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be a finite number of seconds >= 0, not {seconds!r}")
    rest = exact(float(seconds))
    if rest == 0:
        return "0s"
    weeks, remainder = EXACT.divmod(rest, _WEEK)
    if remainder == 0:
        return f"{format_decimal(weeks)}w"
    parts: list[str] = []
    for unit in ("d", "h", "m", "s"):
        count, rest = EXACT.divmod(rest, SECONDS_PER_UNIT[unit])
        if count:
            parts.append(f"{format_decimal(count)}{unit}")
    if rest:
        parts.append(f"{format_decimal(EXACT.multiply(rest, _MS_PER_SECOND))}ms")
    return "".join(parts)


def _from_number(value: int | float) -> float:
    """A number YAML already read: seconds, if it is a sensible one."""
    shown = str(value).lower()  # YAML's true/false arrive as bool, a subclass of int
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CriterionSyntaxError(f"expected a duration such as '15m', found {shown}", shown, 1)
    try:
        seconds = float(value)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds):
        raise CriterionSyntaxError("a duration must be a finite number", shown, 1)
    if seconds < 0:
        raise CriterionSyntaxError("a duration cannot be negative", shown, 1)
    return seconds


def _parse_text(text: str) -> float:
    cursor = Cursor(text)
    if cursor.at_end():
        cursor.fail("empty duration")
    if cursor.current.is_symbol("-"):
        cursor.fail("a duration cannot be negative")
    first = _number(cursor)
    if cursor.at_end():  # a bare number: seconds
        return to_float(first.number, first, cursor)
    total = Decimal(0)
    previous: Token | None = None
    number = first
    while True:
        unit = _unit(cursor, number)
        if previous is not None and _UNITS.index(_unit_name(unit)) <= _UNITS.index(
            _unit_name(previous)
        ):
            cursor.fail(
                "units must go from the largest to the smallest, each at most once (e.g. 1h30m)",
                unit,
            )
        total = EXACT.fma(number.number, SECONDS_PER_UNIT[_unit_name(unit)], total)
        previous = unit
        if cursor.at_end():
            return to_float(total, number, cursor)
        number = _number(cursor)


def _number(cursor: Cursor) -> Token:
    token = cursor.current
    if token.kind is not Kind.NUMBER:
        what = "a number" if token.kind is not Kind.END else "a number after the last unit"
        cursor.fail(f"expected {what}, found {token.describe()}")
    return cursor.advance()


def _unit(cursor: Cursor, number: Token) -> Token:
    token = cursor.current
    if token.kind is Kind.END:
        cursor.fail(f"missing unit after '{number.text}' ({_UNIT_HINT})", number)
    if token.kind not in (Kind.UNIT, Kind.NAME) or _unit_name(token) not in _UNITS:
        if token.kind is Kind.SYMBOL:
            cursor.fail(f"expected a unit after '{number.text}', found {token.describe()}")
        cursor.fail(f"unknown unit '{token.text}' ({_UNIT_HINT})")
    return cursor.advance()


def _unit_name(token: Token) -> str:
    # A capital M is refused rather than read as minutes: "1M" may well mean a month.
    return token.text if token.text == "M" else token.text.lower()
