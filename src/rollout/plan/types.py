"""Value types shared by the plan's sections: percentages, durations, criteria, names.

Each is an ``Annotated`` type that pydantic validates from what people write in YAML and dumps
back to a form that validates again, so a plan snapshot stored as JSON loads unchanged:

- ``Percent``: ``25``, ``25%``, ``"0.5 %"`` -> ``25.0`` / ``0.5`` (a percentage, 0..100).
- ``Seconds``: ``90``, ``"90s"``, ``"15m"``, ``"1h30m"`` -> seconds as a float.
- ``CriterionField``: ``"error_rate < 1%"`` -> a typed criterion; dumps as its canonical text.
- ``Name``: a short identifier (``production``, ``new-checkout``) used for cross-references.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from rollout.errors import CriterionSyntaxError
from rollout.plan.criteria import Criterion, criterion_text, parse_criterion
from rollout.plan.durations import parse_duration
from rollout.plan.wording import describe

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$", re.IGNORECASE)
_PERCENT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%?\s*$")
# A duration starts with its number ("15m", ".5h", "-5s" is refused later with its own reason).
_NUMBER_START = re.compile(r"^\s*[-+.0-9]")


def _percent(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str) and (match := _PERCENT.match(value)):
        number = float(match.group(1))
    else:
        raise PydanticCustomError(
            "percent", "expected a percentage like 25 or 25%, found {found}",
            {"found": describe(value)},
        )  # fmt: skip
    if not 0.0 <= number <= 100.0:
        raise PydanticCustomError(
            "percent",
            "a percentage must be between 0 and 100, found {found}",
            {"found": describe(value) if not isinstance(value, str) else value.strip()},
        )
    return number


def _seconds(value: Any) -> float:
    not_a_number = isinstance(value, str) and not _NUMBER_START.match(value)
    if not_a_number or isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PydanticCustomError(
            "duration", "expected a duration like 90s, 15m, 2h or 1d, found {found}",
            {"found": describe(value)},
        )  # fmt: skip
    try:
        seconds = parse_duration(value)
    except CriterionSyntaxError as exc:
        raise PydanticCustomError(
            "duration", "{message}", {"message": exc.message, "column": exc.column}
        ) from exc
    if seconds < 0:
        raise PydanticCustomError("duration", "a duration cannot be negative")
    return seconds


def _criterion(value: Any) -> Criterion:
    if isinstance(value, Criterion.__args__):
        return value  # type: ignore[no-any-return]
    if not isinstance(value, str) and not _is_criterion_mapping(value):
        raise PydanticCustomError(
            "criterion",
            "expected a criterion like 'error_rate < 1%' or 'error_rate: no regression', "
            "found {found}",
            {"found": describe(value)},
        )
    try:
        return parse_criterion(criterion_text(value))
    except CriterionSyntaxError as exc:
        raise PydanticCustomError(
            "criterion", "{message}", {"message": exc.message, "column": exc.column}
        ) from exc


def _is_criterion_mapping(value: Any) -> bool:
    # YAML reads an unquoted `- error_rate: no regression` as a one-key mapping.
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((key, text),) = value.items()
    return isinstance(key, str) and isinstance(text, str)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise PydanticCustomError(
            "name",
            "expected a name of letters, digits, '-', '_' or '.', starting with a letter or "
            "digit, found {found}",
            {"found": describe(value)},
        )
    return value


Percent = Annotated[
    float,
    BeforeValidator(_percent),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": 100},
                {"type": "string", "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*%?\s*$"},
            ],
            "description": "A percentage, 0 to 100: 25 or '25%'.",
        }
    ),
]

Seconds = Annotated[
    float,
    BeforeValidator(_seconds),
    WithJsonSchema(
        {
            "anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}],
            "description": "A duration: seconds as a number, or text like 90s, 15m, 2h, 1d, 1h30m.",
        }
    ),
]

CriterionField = Annotated[
    Criterion,
    PlainValidator(_criterion),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string"},
                # An unquoted `- error_rate: no regression` reads as a one-key mapping.
                {
                    "type": "object",
                    "minProperties": 1,
                    "maxProperties": 1,
                    "additionalProperties": {"type": "string"},
                },
            ],
            "description": (
                "A criterion: 'error_rate < 1%', 'latency_p99 < 300ms', "
                "'latency_p99 <= control * 1.10', 'error_rate: no regression', "
                "'checkout_conversion: no drop > 2%'."
            ),
            "examples": ["error_rate < 1%", "latency_p99 <= control * 1.10"],
        }
    ),
]

Name = Annotated[
    str,
    BeforeValidator(_name),
    WithJsonSchema({"type": "string", "pattern": _NAME.pattern}),
]
