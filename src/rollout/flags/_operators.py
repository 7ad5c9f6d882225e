"""Clauses, rules and segments compiled into closures ``test(context) -> bool``.

Each closure does one ``context.get`` for its attribute (a clause on the targeting key reads
``key`` too when ``targeting_key`` is absent); regular expressions, value sets and semver
literals are prepared here, once. The semantics are documented in :mod:`rollout.flags.clauses`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rollout.flags import semver
from rollout.flags.clauses import Clause, Op
from rollout.flags.model import Segment, SegmentRule

Context = Mapping[str, Any]
Test = Callable[[Context], bool]
Predicate = Callable[[Any], bool]

TARGETING_KEY = "targeting_key"
"""OpenFeature's name for the targeting key; ``key`` is accepted as well."""
KEY_ALIASES = frozenset({TARGETING_KEY, "key"})

_NEGATED = {
    Op.NOT_EQUALS: Op.EQUALS,
    Op.NOT_IN: Op.IN,
    Op.NOT_CONTAINS: Op.CONTAINS,
    Op.NOT_IN_SEGMENT: Op.IN_SEGMENT,
}
_ORDER: dict[Op, Callable[[Any, Any], bool]] = {
    Op.LT: operator.lt,
    Op.LTE: operator.le,
    Op.GT: operator.gt,
    Op.GTE: operator.ge,
    Op.SEMVER_EQ: operator.eq,
    Op.SEMVER_LT: operator.lt,
    Op.SEMVER_LTE: operator.le,
    Op.SEMVER_GT: operator.gt,
    Op.SEMVER_GTE: operator.ge,
}
_STRING_METHOD = {
    Op.CONTAINS: "__contains__",
    Op.STARTS_WITH: "startswith",
    Op.ENDS_WITH: "endswith",
}


def targeting_key(context: Context) -> Any:
    """The context's targeting key: ``targeting_key``, else ``key``, else ``None``."""
    value = context.get(TARGETING_KEY)
    return context.get("key") if value is None else value


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fold(text: str, case_insensitive: bool) -> str:
    return text.casefold() if case_insensitive else text


def _equals(value: Any, case_insensitive: bool) -> Predicate:
    if isinstance(value, bool):
        return lambda v: v is value
    if isinstance(value, str):
        if case_insensitive:
            folded = value.casefold()
            return lambda v: isinstance(v, str) and v.casefold() == folded
        return lambda v: isinstance(v, str) and v == value
    return lambda v: _is_number(v) and v == value


def _member(values: Sequence[Any], case_insensitive: bool) -> Predicate:
    # One set per type, so that True never matches 1 and "1" never matches 1.
    texts = frozenset(_fold(v, case_insensitive) for v in values if isinstance(v, str))
    flags = frozenset(v for v in values if isinstance(v, bool))
    numbers = frozenset(v for v in values if _is_number(v))

    def member(v: Any) -> bool:
        if isinstance(v, str):
            return (v.casefold() if case_insensitive else v) in texts
        if isinstance(v, bool):
            return v in flags
        return _is_number(v) and v in numbers

    return member


def _text(op: Op, value: str, case_insensitive: bool) -> Predicate:
    method = getattr(str, _STRING_METHOD[op])
    needle = _fold(value, case_insensitive)
    if case_insensitive:
        return lambda v: isinstance(v, str) and bool(method(v.casefold(), needle))
    return lambda v: isinstance(v, str) and bool(method(v, needle))


def _semver(op: Op, literal: str) -> Predicate:
    target = semver.parse(literal)
    compare = _ORDER[op]
    parse = semver.parse_or_none

    def test(v: Any) -> bool:
        if not isinstance(v, str):
            return False
        version = parse(v)
        return version is not None and compare(version, target)

    return test


def _predicate(op: Op, clause: Clause) -> Predicate:
    """The positive test of one non-null scalar attribute value."""
    value, ci = clause.value, clause.case_insensitive
    if op is Op.EQUALS:
        return _equals(value, ci)
    if op is Op.IN:
        return _member(clause.values or (), ci)
    if op in _STRING_METHOD:
        assert isinstance(value, str)
        return _text(op, value, ci)
    if op is Op.MATCHES:
        assert isinstance(value, str)
        search = re.compile(value).search
        return lambda v: isinstance(v, str) and search(v) is not None
    if op in (Op.LT, Op.LTE, Op.GT, Op.GTE):
        compare = _ORDER[op]
        return lambda v: _is_number(v) and compare(v, value)
    assert isinstance(value, str)
    return _semver(op, value)


def _attribute_test(attribute: str, predicate: Predicate, negate: bool) -> Test:
    is_key = attribute in KEY_ALIASES

    def test(context: Context) -> bool:
        v = targeting_key(context) if is_key else context.get(attribute)
        if v is None:  # a missing attribute matches nothing, negated operators included
            return False
        if isinstance(v, list | tuple):
            return any(map(predicate, v)) is not negate
        return predicate(v) is not negate

    return test


def _plain_string_equals(attribute: str, value: str, negate: bool) -> Test:
    # The most common clause by far (country == "NL"): a specialised closure, one dict lookup.
    def equals(context: Context) -> bool:
        v = context.get(attribute)
        if v.__class__ is str:
            return (v == value) is not negate
        if v is None:
            return False
        if isinstance(v, list | tuple):
            return any(isinstance(x, str) and x == value for x in v) is not negate
        return (isinstance(v, str) and v == value) is not negate

    return equals


def compile_clause(clause: Clause, segments: Mapping[str, Test]) -> Test:
    """The clause as a closure; ``segments`` maps segment keys to their compiled tests."""
    negate = clause.op in _NEGATED
    op = _NEGATED.get(clause.op, clause.op)
    if op is Op.IN_SEGMENT:
        tests = tuple(segments[str(key)] for key in clause.values or ())
        if len(tests) == 1 and not negate:
            return tests[0]
        return lambda context: any(t(context) for t in tests) is not negate
    assert clause.attribute is not None
    if (
        op is Op.EQUALS
        and isinstance(clause.value, str)
        and not clause.case_insensitive
        and clause.attribute not in KEY_ALIASES
    ):
        return _plain_string_equals(clause.attribute, clause.value, negate)
    return _attribute_test(clause.attribute, _predicate(op, clause), negate)


def all_of(tests: Sequence[Test]) -> Test:
    """A test that passes when every one of ``tests`` does (short-circuits in order)."""
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda context: first(context) and second(context)
    frozen = tuple(tests)
    return lambda context: all(t(context) for t in frozen)


def _rule_test(rule: SegmentRule) -> Test:
    return all_of([compile_clause(c, {}) for c in rule.clauses])


def compile_segment(segment: Segment) -> Test:
    """A segment as a closure: included keys, then excluded keys, then any rule."""
    included = frozenset(segment.included)
    excluded = frozenset(segment.excluded)
    rules = tuple(_rule_test(r) for r in segment.rules)

    def in_segment(context: Context) -> bool:
        key = targeting_key(context)
        if isinstance(key, str | int) and not isinstance(key, bool):
            text = key if isinstance(key, str) else str(key)
            if text in included:
                return True
            if text in excluded:
                return False
        return any(rule(context) for rule in rules)

    return in_segment
