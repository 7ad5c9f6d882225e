"""Tokenizer and parsing helpers shared by the criteria and duration languages.

Both languages are tiny, so the tokenizer is hand-written: it walks the text once and yields
tokens that remember their 1-based column, which every syntax error reports. Numbers are kept as
:class:`~decimal.Decimal` until the last step so that ``1%`` becomes exactly ``0.01`` and a value
formatted by :func:`format_decimal` parses back to the very same float.

Token kinds:

``NUMBER``  ``300``, ``0.3``, ``.5``, ``1_000``, ``1,000``, ``1e-3`` (value in ``Token.number``)
``UNIT``    letters glued to a number: the ``ms`` of ``300ms``, the ``h`` and ``m`` of ``1h30m``
``NAME``    ``error_rate``, ``latency_p99.9``, ``canary.error_rate``, ``control``, ``no``
``SYMBOL``  ``< <= > >= : * + - %`` and any other single character (the parser rejects those)
``END``     after the last token; its column is just past the last non-blank character
"""

from __future__ import annotations

import decimal
import enum
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import NoReturn

from rollout.errors import CriterionSyntaxError

# Arithmetic on the decimal form of numbers goes through this context: it has enough digits that
# every sum, product, division by 100 or 1000 and division into units we do is exact (a float
# needs at most 17 significant digits, but 1e308 has 309 integer digits). Exactness is what lets
# a formatted value parse back to the very same float.
EXACT = decimal.Context(prec=1000, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)

# Length of one unit of time, in seconds. Each language picks the subset it accepts.
SECONDS_PER_UNIT: dict[str, Decimal] = {
    "us": Decimal("0.000001"),
    "µs": Decimal("0.000001"),  # micro sign
    "μs": Decimal("0.000001"),  # Greek mu
    "ms": Decimal("0.001"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
    "d": Decimal(86400),
    "w": Decimal(604800),
}

# Symbols of more than one character, longest first. The mistyped ones (``=<``, ``==``...) are
# tokens too, so the parser can name them whole in its message.
_MULTI_SYMBOLS = ("<=", ">=", "==", "!=", "=<", "=>")
# Unicode spellings people paste from documents, mapped to their ASCII form.
_SYMBOL_ALIASES = {"≤": "<=", "≥": ">=", "×": "*", "−": "-"}


class Kind(enum.Enum):
    NUMBER = "number"
    UNIT = "unit"
    NAME = "name"
    SYMBOL = "symbol"
    END = "end"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, the text exactly as written, and its 1-based column.

    ``symbol`` is the normalised spelling of a SYMBOL (``≤`` -> ``<=``); ``number`` the exact
    value of a NUMBER.
    """

    kind: Kind
    text: str
    column: int
    symbol: str = ""
    number: Decimal = Decimal(0)

    def is_word(self, *words: str) -> bool:
        """True if this is a NAME or UNIT spelling one of ``words``, ignoring case."""
        return self.kind in (Kind.NAME, Kind.UNIT) and self.text.lower() in words

    def is_symbol(self, *symbols: str) -> bool:
        return self.kind is Kind.SYMBOL and self.symbol in symbols

    def describe(self) -> str:
        """How an error message names this token: ``'='`` or ``the end``."""
        return "the end" if self.kind is Kind.END else f"'{self.text}'"


def _is_name_start(char: str) -> bool:
    return char == "_" or ("a" <= char.lower() <= "z")


def _is_name_char(char: str) -> bool:
    return _is_name_start(char) or _is_digit(char)


def _is_digit(char: str) -> bool:
    return char != "" and char in "0123456789"


class _Scanner:
    """Splits one text into tokens; raises CriterionSyntaxError for malformed numbers."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def char(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def fail(self, message: str, index: int) -> NoReturn:
        raise CriterionSyntaxError(message, self.text, index + 1)

    def tokens(self) -> list[Token]:
        found: list[Token] = []
        while True:
            while self.char().isspace():
                self.pos += 1
            if not self.char():
                found.append(Token(Kind.END, "", len(self.text.rstrip()) + 1))
                return found
            if _is_digit(self.char()) or (self.char() == "." and _is_digit(self.char(1))):
                found.append(self.number())
                unit_start = self.pos
                while self.char().isalpha():  # a unit glued to its number: 300ms, 1h30m
                    self.pos += 1
                if self.pos > unit_start:
                    found.append(Token(Kind.UNIT, self.text[unit_start : self.pos], unit_start + 1))
            elif _is_name_start(self.char()):
                found.append(self.name())
            else:
                found.append(self.symbol())

    def name(self) -> Token:
        start = self.pos
        while _is_name_char(self.char()) or (self.char() == "." and _is_name_char(self.char(1))):
            self.pos += 1
        return Token(Kind.NAME, self.text[start : self.pos], start + 1)

    def symbol(self) -> Token:
        start = self.pos
        for multi in _MULTI_SYMBOLS:
            if self.text.startswith(multi, start):
                self.pos += len(multi)
                return Token(Kind.SYMBOL, multi, start + 1, symbol=multi)
        char = self.char()
        self.pos += 1
        return Token(Kind.SYMBOL, char, start + 1, symbol=_SYMBOL_ALIASES.get(char, char))

    def digits(self) -> str:
        """Digits with single underscores between them (``1_000``); returns them without ``_``."""
        start = self.pos
        while _is_digit(self.char()) or (self.char() == "_" and _is_digit(self.char(1))):
            self.pos += 1
        if self.char() == "_":
            self.fail("'_' in a number must sit between two digits", self.pos)
        return self.text[start : self.pos].replace("_", "")

    def number(self) -> Token:
        start = self.pos
        whole = self.digits()
        if self.char() == "," and _is_digit(self.char(1)):
            whole += self.thousands(start, whole)
        fraction = ""
        if self.char() == "." and _is_digit(self.char(1)):
            self.pos += 1
            fraction = self.digits()
        exponent = ""
        if self.char() in ("e", "E"):
            offset = 2 if self.char(1) in ("+", "-") else 1
            if _is_digit(self.char(offset)):
                sign = self.text[self.pos + 1 : self.pos + offset]
                self.pos += offset
                exponent = sign + self.digits()
        literal = f"{whole or '0'}.{fraction or '0'}e{exponent or '0'}"
        return Token(Kind.NUMBER, self.text[start : self.pos], start + 1, number=Decimal(literal))

    def thousands(self, start: int, first_group: str) -> str:
        """The ``,000`` groups after ``first_group``; each must have exactly three digits."""
        message = "',' in a number must separate groups of three digits (use '.' for decimals)"
        if len(first_group) > 3 or "_" in self.text[start : self.pos]:
            self.fail(message, self.pos)
        groups = ""
        while self.char() == "," and _is_digit(self.char(1)):
            comma = self.pos
            self.pos += 1
            group_start = self.pos
            while _is_digit(self.char()):
                self.pos += 1
            if self.pos - group_start != 3 or self.char() == "_":
                self.fail(message, comma)
            groups += self.text[group_start : self.pos]
        return groups


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, always ending with an END token.

    >>> [t.text for t in tokenize("latency_p99<=300ms")]
    ['latency_p99', '<=', '300', 'ms', '']
    """
    return _Scanner(text).tokens()


class Cursor:
    """A position in a token list, with the error helper every parser step uses."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def at_end(self) -> bool:
        return self.current.kind is Kind.END

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.current
        if token.kind is not Kind.END:
            self.index += 1
        return token

    def fail(self, message: str, token: Token | None = None) -> NoReturn:
        """Raise a syntax error at ``token`` (default: the current one)."""
        raise CriterionSyntaxError(message, self.text, (token or self.current).column)


def to_float(value: Decimal, token: Token, cursor: Cursor) -> float:
    """``value`` as a float, or a syntax error at ``token`` if it is too large for one."""
    result = float(value)
    if math.isinf(result):
        cursor.fail(f"{token.text} is too large", token)
    return result


def exact(value: float) -> Decimal:
    """The shortest decimal that reads back as ``value`` (``0.1`` -> ``Decimal('0.1')``)."""
    return Decimal(repr(value))


def format_decimal(value: Decimal) -> str:
    """Canonical text of a non-negative decimal that the tokenizer reads back exactly.

    Plain notation for everyday sizes, exponent notation for extreme ones:
    ``Decimal('1.10')`` -> ``1.1``, ``Decimal('300')`` -> ``300``, ``Decimal('1E-9')`` -> ``1e-9``.
    """
    value = EXACT.plus(value).normalize(EXACT)
    if value == 0:
        return "0"
    if -7 <= value.adjusted() < 16:
        return format(value, "f")
    return format(value, "e")
