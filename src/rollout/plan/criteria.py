"""Success criteria and rollback triggers, written the way people say them.

Grammar (keywords and units ignore case, blanks are free)::

    criterion  := metric comparison right
                | metric ':' 'no' ('regression' | 'drop' | 'increase') ['>' NUMBER '%']
    metric     := ['canary.'] NAME                 error_rate, latency_p99.9, canary.error_rate
    comparison := '<' | '<=' | '>' | '>='           (≤ and ≥ are read as <= and >=)
    right      := quantity
                | control [times NUMBER] [('+' | '-') quantity]
                | NUMBER times control [('+' | '-') quantity]
    control    := 'control' | 'control.' metric     (the same metric as on the left)
    times      := '*' | 'x' | '×'
    quantity   := NUMBER ['%' | 'us' | 'ms' | 's' | 'm']

Values are normalised: a percentage becomes a fraction (``1%`` -> ``0.01``, unit ``ratio``), a
time becomes milliseconds (``0.3s`` -> ``300.0``, unit ``ms``), a bare number stays as written
(unit ``number``). Numbers may use ``_`` or ``,`` between groups of three digits (``1,000``).

>>> parse_criterion("latency_p95 <= 0.3s")
Threshold(metric='latency_p95', op='<=', value=300.0, unit='ms', text='latency_p95 <= 0.3s')
>>> str(parse_criterion("canary.latency_p99 <= CONTROL * 1.10"))
'latency_p99 <= control * 1.1'
>>> parse_criterion("checkout_conversion: No Drop > 2%").tolerance
0.02

Whether "worse" means up or down for a ``no regression`` criterion is not the parser's business:
the plan's monitoring section defines each metric's direction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, TypeAlias

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

Comparison = Literal["<", "<=", ">", ">="]
Unit = Literal["ratio", "ms", "number"]
Direction = Literal["auto", "up", "down"]

_COMPARISONS: dict[str, Comparison] = {"<": "<", "<=": "<=", ">": ">", ">=": ">="}
_MISTYPED_COMPARISONS = {"=<": "<=", "=>": ">="}
_TIME_UNITS = ("us", "µs", "μs", "ms", "s", "m")
_UNIT_HINT = "use us, ms, s, m or %"
_DIRECTIONS: dict[str, Direction] = {"regression": "auto", "increase": "up", "drop": "down"}
_MS_PER_SECOND = Decimal(1000)
_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class Threshold:
    """``metric op value``, judged on the canary's figure over the stage window.

    ``value`` is in ``unit``: a fraction for ``ratio`` (``1%`` -> 0.01), milliseconds for ``ms``.

    >>> str(Threshold("error_rate", "<", 0.01, "ratio"))
    'error_rate < 1%'
    """

    metric: str
    op: Comparison
    value: float
    unit: Unit
    text: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {_format_quantity(self.value, self.unit)}"


@dataclass(frozen=True, slots=True)
class RelativeToControl:
    """``canary op control * factor + offset``: the canary against the control arm, measured
    over the same window. ``offset`` is in ``unit`` (a fraction for ``ratio``: ``+ 0.5%`` is
    0.005 absolute, i.e. half a percentage point). Without a factor it is 1.0; without an offset
    it is 0 and ``unit`` is ``number``.

    >>> c = parse_criterion("error_rate <= control * 2 + 0.5%")
    >>> (c.factor, c.offset, c.unit)
    (2.0, 0.005, 'ratio')
    """

    metric: str
    op: Comparison
    factor: float
    offset: float
    unit: Unit
    text: str = field(default="", compare=False)

    def __str__(self) -> str:
        right = "control"
        if self.factor != 1.0:
            right += f" * {format_decimal(exact(self.factor))}"
        # A zero offset with a unit still prints, so that the text reads back to an equal value.
        if self.offset != 0 or self.unit != "number":
            sign = "-" if self.offset < 0 else "+"
            right += f" {sign} {_format_quantity(abs(self.offset), self.unit)}"
        return f"{self.metric} {self.op} {right}"


@dataclass(frozen=True, slots=True)
class NoRegression:
    """The canary must not be worse than the control, judged by a sequential test.

    ``direction``: ``auto`` (``no regression``: worse is whatever the metric's definition says),
    ``up`` (``no increase``), ``down`` (``no drop``). ``tolerance`` is relative: 0.05 means
    "flag only if worse by more than 5 %"; 0 when absent.

    >>> str(NoRegression("checkout_conversion", 0.02, "down"))
    'checkout_conversion: no drop > 2%'
    """

    metric: str
    tolerance: float
    direction: Direction
    text: str = field(default="", compare=False)

    def __str__(self) -> str:
        word = {"auto": "regression", "up": "increase", "down": "drop"}[self.direction]
        tail = f" > {_format_quantity(self.tolerance, 'ratio')}" if self.tolerance else ""
        return f"{self.metric}: no {word}{tail}"


Criterion: TypeAlias = Threshold | RelativeToControl | NoRegression


def latency_percentile(name: str) -> float | None:
    """The percentile a latency metric name stands for, or None if it names no latency.

    ``latency_p99`` -> 99.0, ``latency_p99.9`` -> 99.9, ``latency_p50`` -> 50.0; the common
    shorthand with the point left out reads as 99.something: ``latency_p999`` -> 99.9.
    Percentiles run from 0 to 100; anything else (``latency_p``, ``latency_p120``) is None.
    """
    prefix = "latency_p"
    lowered = name.lower()
    if not lowered.startswith(prefix):
        return None
    whole, dot, fraction = lowered[len(prefix) :].partition(".")
    if not _all_digits(whole) or (dot and not _all_digits(fraction)):
        return None
    if not dot and len(whole) > 2 and whole.startswith("99"):
        whole, fraction = "99", whole[2:]
    value = float(f"{whole}.{fraction or '0'}")
    return value if value <= 100 else None


def _all_digits(text: str) -> bool:
    return text != "" and all(char in "0123456789" for char in text)


def parse_criterion(text: str) -> Criterion:
    """Parse one criterion; raise :class:`CriterionSyntaxError` with the column of the mistake.

    >>> parse_criterion("error_rate < 1%")
    Threshold(metric='error_rate', op='<', value=0.01, unit='ratio', text='error_rate < 1%')
    >>> parse_criterion("error_rate = 1%")
    Traceback (most recent call last):
    ...
    rollout.errors.CriterionSyntaxError: column 12: expected a comparison (<, <=, >, >=) or ':' \
after 'error_rate', found '='
    """
    return _Parser(text).criterion()


def criterion_text(entry: object) -> str:
    """The criterion text of one YAML list entry.

    YAML reads ``- error_rate: no regression`` as a one-key mapping, not a string; this turns
    it back into ``"error_rate: no regression"``. Strings pass through unchanged; anything else
    raises :class:`CriterionSyntaxError` (column 1).
    """
    if isinstance(entry, str):
        return entry
    if isinstance(entry, Mapping) and len(entry) == 1:
        ((key, value),) = entry.items()
        if isinstance(key, str) and isinstance(value, str):
            return f"{key}: {value}"
    shown = repr(entry)  # the YAML value as Python sees it, e.g. {'error_rate': 5}
    raise CriterionSyntaxError(
        f"expected a criterion such as 'error_rate < 1%' or 'error_rate: no regression', "
        f"found {shown}",
        shown,
        1,
    )


def _format_quantity(value: float, unit: Unit) -> str:
    if unit == "ratio":
        return f"{format_decimal(EXACT.multiply(exact(value), _HUNDRED))}%"
    if unit == "ms":
        return f"{format_decimal(exact(value))}ms"
    return format_decimal(exact(value))


def _is_control(token: Token) -> bool:
    """``control`` or ``control.<metric>``, in any case."""
    return token.kind is Kind.NAME and token.text.partition(".")[0].lower() == "control"


@dataclass(frozen=True, slots=True)
class _Quantity:
    value: float
    unit: Unit


class _Parser:
    """Recursive descent over the tokens of one criterion; one method per grammar rule."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.cursor = Cursor(text)

    # criterion := metric (comparison right | ':' no-clause) END
    def criterion(self) -> Criterion:
        cursor = self.cursor
        if cursor.at_end():
            cursor.fail("empty criterion")
        metric_token = cursor.current
        metric = self.metric()
        after = cursor.current
        result: Criterion
        if after.is_symbol(":"):
            cursor.advance()
            result = self.no_clause(metric)
        elif after.symbol in _COMPARISONS:
            cursor.advance()
            result = self.right(metric, _COMPARISONS[after.symbol], after)
        else:
            cursor.fail(self.after_metric_message(metric_token, after), after)
        self.end()
        return result

    def metric(self) -> str:
        token = self.cursor.current
        if token.kind is not Kind.NAME:
            hint = " (put the metric on the left)" if token.kind is Kind.NUMBER else ""
            self.cursor.fail(f"expected a metric name, found {token.describe()}{hint}", token)
        self.cursor.advance()
        side, dot, rest = token.text.partition(".")
        side = side.lower()
        if side == "control":
            self.cursor.fail(
                f"the left side must be the canary's metric, found '{token.text}' "
                "(compare with 'control' on the right)",
                token,
            )
        if side == "canary":
            if not dot:
                self.cursor.fail("expected a metric name after 'canary.'", token)
            return rest
        return token.text

    def after_metric_message(self, metric: Token, found: Token) -> str:
        message = (
            f"expected a comparison (<, <=, >, >=) or ':' after '{metric.text}', "
            f"found {found.describe()}"
        )
        if found.symbol in _MISTYPED_COMPARISONS:
            message += f" (did you mean '{_MISTYPED_COMPARISONS[found.symbol]}'?)"
        elif found.is_word("no"):
            message += f" (did you mean '{metric.text}: no ...'?)"
        elif found.kind is Kind.NAME:
            message += " (metric names have no spaces; use '_')"
        return message

    # right := quantity | control [times NUMBER] [offset] | NUMBER times control [offset]
    def right(self, metric: str, op: Comparison, op_token: Token) -> Criterion:
        cursor = self.cursor
        token = cursor.current
        if _is_control(token):
            self.control(metric)
            factor = self.factor() if self.at_times() else 1.0
            return self.relative(metric, op, factor)
        if token.kind is Kind.NUMBER and self.at_times(ahead=1):
            factor = self.factor_value(cursor.advance())
            times = cursor.advance()
            if not _is_control(cursor.current):
                gap = "" if times.column == token.column + len(token.text) else " "
                cursor.fail(
                    f"expected 'control' after '{token.text}{gap}{times.text}', "
                    f"found {cursor.current.describe()}"
                )
            self.control(metric)
            return self.relative(metric, op, factor)
        quantity = self.quantity(metric, after=op_token)
        return Threshold(metric, op, quantity.value, quantity.unit, self.text)

    def control(self, metric: str) -> None:
        token = self.cursor.advance()
        _, dot, other = token.text.partition(".")
        if dot and other != metric:
            self.cursor.fail(
                f"both sides must be the same metric: '{metric}' is compared with "
                f"'{token.text}' (write 'control.{metric}' or just 'control')",
                token,
            )
        if self.cursor.current.kind is Kind.NUMBER:
            self.cursor.fail(
                f"unexpected '{self.cursor.current.text}' after 'control' "
                f"(did you mean 'control * {self.cursor.current.text}'?)"
            )

    def at_times(self, ahead: int = 0) -> bool:
        token = self.cursor.peek(ahead)
        return token.is_symbol("*") or token.is_word("x")

    def factor(self) -> float:
        times = self.cursor.advance()
        token = self.cursor.current
        if token.kind is not Kind.NUMBER:
            self.cursor.fail(f"expected a number after '{times.text}', found {token.describe()}")
        self.cursor.advance()
        return self.factor_value(token)

    def factor_value(self, token: Token) -> float:
        after = self.cursor.current
        if after.is_symbol("%"):
            as_factor = format_decimal(EXACT.divide(token.number, _HUNDRED))
            self.cursor.fail(
                f"a factor is a plain number: write {as_factor} rather than {token.text}%",
                after,
            )
        if token.number <= 0:
            self.cursor.fail("the factor must be greater than 0", token)
        return to_float(token.number, token, self.cursor)

    def relative(self, metric: str, op: Comparison, factor: float) -> RelativeToControl:
        sign_token = self.cursor.current
        if not sign_token.is_symbol("+", "-"):
            return RelativeToControl(metric, op, factor, 0.0, "number", self.text)
        self.cursor.advance()
        quantity = self.quantity(metric, after=sign_token)
        offset = -quantity.value if sign_token.symbol == "-" else quantity.value
        return RelativeToControl(metric, op, factor, offset, quantity.unit, self.text)

    # quantity := NUMBER ['%' | time unit]
    def quantity(self, metric: str, after: Token) -> _Quantity:
        cursor = self.cursor
        token = cursor.current
        if token.kind is not Kind.NUMBER:
            expected = "a number or 'control'" if after.symbol in _COMPARISONS else "a number"
            hint = " (values cannot be negative)" if token.is_symbol("-") else ""
            cursor.fail(f"expected {expected} after '{after.text}', found {token.describe()}{hint}")
        cursor.advance()
        unit = cursor.current
        if unit.is_symbol("%"):
            self.require_not_latency(metric, after, unit)
            if token.number > 100:
                cursor.fail("a percentage must be between 0% and 100%", token)
            cursor.advance()
            return _Quantity(to_float(EXACT.divide(token.number, _HUNDRED), token, cursor), "ratio")
        if unit.kind is Kind.UNIT or (unit.kind is Kind.NAME and not unit.is_word("and", "or")):
            cursor.advance()
            name = "M" if unit.text == "M" else unit.text.lower()  # 'M' could mean months
            if name not in _TIME_UNITS:
                cursor.fail(f"unknown unit '{unit.text}' ({_UNIT_HINT})", unit)
            millis = EXACT.multiply(token.number, SECONDS_PER_UNIT[name] * _MS_PER_SECOND)
            return _Quantity(to_float(millis, token, cursor), "ms")
        return _Quantity(to_float(token.number, token, cursor), "number")

    def require_not_latency(self, metric: str, after: Token, percent: Token) -> None:
        if latency_percentile(metric) is None:
            return
        if after.symbol in ("+", "-"):
            self.cursor.fail(
                f"'{metric}' is a latency: add a time such as '+ 20ms', or scale it "
                f"('control * 1.1' allows 10% more)",
                percent,
            )
        self.cursor.fail(f"'{metric}' is a latency: give a time such as 300ms, not a %", percent)

    # no-clause := 'no' ('regression' | 'drop' | 'increase') ['>' NUMBER '%']
    def no_clause(self, metric: str) -> NoRegression:
        cursor = self.cursor
        token = cursor.current
        if not token.is_word("no"):
            hint = ""
            if token.kind is Kind.NAME and token.text.lower().replace("-", "_").startswith("no_"):
                hint = " (write it as two words: 'no regression')"
            cursor.fail(
                "expected 'no regression', 'no drop' or 'no increase' after ':', "
                f"found {token.describe()}{hint}"
            )
        cursor.advance()
        if cursor.current.is_symbol("-"):  # 'no-regression' reads the same
            cursor.advance()
        word = cursor.current
        direction = _DIRECTIONS.get(word.text.lower()) if word.kind is Kind.NAME else None
        if direction is None:
            cursor.fail(
                f"expected 'regression', 'drop' or 'increase' after 'no', found {word.describe()}"
            )
        cursor.advance()
        tolerance = 0.0
        if not cursor.at_end():
            tolerance = self.tolerance(
                f"no {word.text.lower()}", allow_over_100=direction != "down"
            )
        return NoRegression(metric, tolerance, direction, self.text)

    def tolerance(self, clause: str, allow_over_100: bool) -> float:
        cursor = self.cursor
        op = cursor.current
        if not op.is_symbol(">"):
            if op.kind is Kind.SYMBOL or op.kind is Kind.NUMBER:
                cursor.fail(
                    f"expected '>' before the tolerance (e.g. '{clause} > 5%'), "
                    f"found {op.describe()}"
                )
            return 0.0  # anything else is reported as trailing text by end()
        cursor.advance()
        number = cursor.current
        if number.kind is not Kind.NUMBER:
            cursor.fail(f"expected a percentage after '>', found {number.describe()}")
        cursor.advance()
        if not cursor.current.is_symbol("%"):
            cursor.fail(f"write the tolerance as a percentage, e.g. '> {number.text}%'", number)
        cursor.advance()
        if not allow_over_100 and number.number > 100:
            cursor.fail("a percentage must be between 0% and 100%", number)
        return to_float(EXACT.divide(number.number, _HUNDRED), number, cursor)

    def end(self) -> None:
        token = self.cursor.current
        if token.kind is Kind.END:
            return
        message = f"unexpected {token.describe()} after the end of the criterion"
        if token.is_word("and", "or") or token.is_symbol(",", ";", "&", "|"):
            message += " (write one condition per criterion, as separate list entries)"
        self.cursor.fail(message, token)
