"""Targeting clauses: one attribute, one operator, and the value(s) it is compared with.

A clause is ``{"attribute": "country", "op": "in", "values": ["NL", "BE"]}``. Which of
``value`` / ``values`` an operator takes, and what they must be:

=====================================  ===========  ===============================================
op                                     takes        matches when the attribute ...
=====================================  ===========  ===============================================
equals, not_equals                     ``value``    equals (does not equal) it; str, number or bool
in, not_in                             ``values``   equals one (none) of them
contains, not_contains                 ``value``    is a string containing (not containing) it
starts_with, ends_with                 ``value``    is a string starting / ending with it
matches                                ``value``    is a string the regular expression finds a match
                                                    in (``re.search``; anchor with ``^...$``)
lt, lte, gt, gte                       ``value``    is a number ``<``, ``<=``, ``>``, ``>=`` it
semver_eq/_lt/_lte/_gt/_gte            ``value``    is a strict semver string comparing so with it
in_segment, not_in_segment             ``values``   (no attribute) the subject is in one (none) of
                                                    the named segments
=====================================  ===========  ===============================================

Rules every user should know (the same as LaunchDarkly's clause semantics):

* A clause on an attribute the context lacks (or holds as ``null``) never matches, negated
  operators included: ``plan not_equals "free"`` does not pick up anonymous traffic.
* A value of the wrong type never matches (``lt 5`` against ``"4"``); nothing is coerced, and
  ``true`` is not the number 1.
* A list attribute matches a positive operator when any element does; a negated operator matches
  when no element matches its positive twin.
* ``case_insensitive: true`` (string operators only) compares after ``str.casefold``.
* The attribute ``targeting_key`` (or ``key``) reads the targeting key, whichever of the two
  names the context uses.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
)

from rollout.flags import semver

FROZEN = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

Key = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=128)]
"""A flag, segment or variant key: letters, digits, ``.``, ``_``, ``-``; starts alphanumeric."""

Scalar = StrictBool | StrictInt | StrictFloat | StrictStr
"""A clause operand: bool, int, float or str, never coerced from one another."""


class Op(StrEnum):
    """Clause operators; see the module docstring for what each matches."""

    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    IN = "in"
    NOT_IN = "not_in"
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"
    STARTS_WITH = "starts_with"
    ENDS_WITH = "ends_with"
    MATCHES = "matches"
    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"
    SEMVER_EQ = "semver_eq"
    SEMVER_LT = "semver_lt"
    SEMVER_LTE = "semver_lte"
    SEMVER_GT = "semver_gt"
    SEMVER_GTE = "semver_gte"
    IN_SEGMENT = "in_segment"
    NOT_IN_SEGMENT = "not_in_segment"


SEGMENT_OPS = frozenset({Op.IN_SEGMENT, Op.NOT_IN_SEGMENT})
LIST_OPS = frozenset({Op.IN, Op.NOT_IN}) | SEGMENT_OPS
TEXT_OPS = frozenset({Op.CONTAINS, Op.NOT_CONTAINS, Op.STARTS_WITH, Op.ENDS_WITH})
NUMBER_OPS = frozenset({Op.LT, Op.LTE, Op.GT, Op.GTE})
SEMVER_OPS = frozenset({Op.SEMVER_EQ, Op.SEMVER_LT, Op.SEMVER_LTE, Op.SEMVER_GT, Op.SEMVER_GTE})
CASE_OPS = frozenset({Op.EQUALS, Op.NOT_EQUALS, Op.IN, Op.NOT_IN}) | TEXT_OPS
"""Operators that accept ``case_insensitive``."""


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Clause(BaseModel):
    """One condition on the evaluation context. Invalid combinations are pydantic validation
    errors located at the offending field (``attribute``, ``value``, ``values`` or
    ``case_insensitive``)."""

    model_config = FROZEN

    op: Op
    attribute: str | None = Field(default=None, validate_default=True)
    value: Scalar | None = Field(default=None, validate_default=True)
    values: tuple[Scalar, ...] | None = Field(default=None, validate_default=True)
    case_insensitive: bool = False

    @field_validator("attribute")
    @classmethod
    def _check_attribute(cls, attribute: str | None, info: ValidationInfo) -> str | None:
        op = info.data.get("op")
        if op is None:
            return attribute
        if op in SEGMENT_OPS:
            if attribute is not None:
                raise ValueError(f"{op} takes no attribute: segments decide for themselves")
        elif not attribute:
            raise ValueError(f"{op} needs the name of a context attribute")
        return attribute

    @field_validator("value")
    @classmethod
    def _check_value(cls, value: object, info: ValidationInfo) -> object:
        op = info.data.get("op")
        if op is None:
            return value
        if op in LIST_OPS:
            if value is not None:
                raise ValueError(f"{op} takes a list in 'values', not 'value'")
            return value
        if value is None:
            raise ValueError(f"{op} needs a 'value'")
        if op in NUMBER_OPS and not _is_number(value):
            raise ValueError(f"{op} compares numbers; {value!r} is not a number")
        if (op in TEXT_OPS or op is Op.MATCHES or op in SEMVER_OPS) and not isinstance(value, str):
            raise ValueError(f"{op} needs a string value, got {value!r}")
        if op is Op.MATCHES:
            assert isinstance(value, str)
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        if op in SEMVER_OPS:
            assert isinstance(value, str)
            try:
                semver.parse(value)
            except semver.SemverError as exc:
                raise ValueError(f"not a strict semantic version (semver.org 2.0): {exc}") from None
        return value

    @field_validator("values")
    @classmethod
    def _check_values(
        cls, values: tuple[Scalar, ...] | None, info: ValidationInfo
    ) -> tuple[Scalar, ...] | None:
        op = info.data.get("op")
        if op is None:
            return values
        if op not in LIST_OPS:
            if values is not None:
                raise ValueError(f"{op} takes one 'value', not a list in 'values'")
            return values
        if not values:
            raise ValueError(f"{op} needs a non-empty list in 'values'")
        if op in SEGMENT_OPS:
            bad = [v for v in values if not isinstance(v, str)]
            if bad:
                raise ValueError(f"{op} lists segment keys (strings), got {bad[0]!r}")
        return values

    @field_validator("case_insensitive")
    @classmethod
    def _check_case(cls, case_insensitive: bool, info: ValidationInfo) -> bool:
        op = info.data.get("op")
        if case_insensitive and op is not None and op not in CASE_OPS:
            raise ValueError(f"case_insensitive applies to string operators only, not {op}")
        return case_insensitive
