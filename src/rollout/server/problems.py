"""What went wrong with a request, located at the field, in one shape for the API and the CLI.

A flag or segment definition can be wrong in two ways (see :mod:`rollout.flags.model`): pydantic
finds shape and type mistakes (``ValidationError``, many at once, each with a ``loc``), and the
cross-checks raise :class:`~rollout.errors.FlagError` with one dotted ``field``
(``rules[0].serve.variant``). Both become :class:`FieldProblem` values here, so the HTTP API
answers 422 with ``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}`` and the CLI prints
``rules[0].serve.variant: no variant named 'blue'`` from the very same values.

The write path's own errors also live here: :class:`InvalidDefinition` (a ``FlagError`` with
every problem of one definition), :class:`PreconditionFailed` (a conditional write lost: HTTP
412) and :class:`SegmentInUse` (a segment that flags still refer to: HTTP 409), as do the checks
of the two names every change carries (:func:`check_environment`, :func:`check_actor`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from rollout.errors import Conflict, FlagError

Loc = tuple[str | int, ...]

# pydantic prefixes messages of errors raised in validators; the user only needs the message.
_PREFIXES = ("Value error, ", "Assertion failed, ")
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")

ENVIRONMENT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
"""Environment names: letters, digits, ``.``, ``_``, ``-``, starting alphanumeric."""
ENVIRONMENT_MAX_LENGTH = 100
ACTOR_MAX_LENGTH = 200


def parse_field(field: str) -> Loc:
    """The dotted field path of a ``FlagError`` as a ``loc`` tuple.

    >>> parse_field("flags[3].rules[0].serve.variant")
    ('flags', 3, 'rules', 0, 'serve', 'variant')
    >>> parse_field("")
    ()
    """
    return tuple(
        int(index) if index else name for name, index in _PART.findall(field) if name or index
    )


def format_loc(loc: Sequence[str | int]) -> str:
    """A ``loc`` tuple as the dotted path users read.

    >>> format_loc(("body", "rules", 0, "serve", "variant"))
    'body.rules[0].serve.variant'
    """
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


@dataclass(frozen=True)
class FieldProblem:
    """One mistake: where (``loc``), what (``message``), and pydantic's error ``type``."""

    loc: Loc
    message: str
    type: str = "value_error"

    @property
    def field(self) -> str:
        """``loc`` as a dotted path (``rules[0].serve.variant``)."""
        return format_loc(self.loc)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.loc else self.message

    def within(self, *prefix: str | int) -> FieldProblem:
        """The same problem with ``prefix`` put in front of its ``loc`` (``"body"``)."""
        return FieldProblem((*prefix, *self.loc), self.message, self.type)


def _clean(message: str) -> str:
    for prefix in _PREFIXES:
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def problems_of(error: ValidationError | FlagError) -> tuple[FieldProblem, ...]:
    """Every problem an error reports, in the order found."""
    if isinstance(error, InvalidDefinition):
        return error.problems
    if isinstance(error, FlagError):
        return (FieldProblem(parse_field(error.field), error.message, "flag_error"),)
    return problems_from_items(error.errors(include_url=False, include_input=False))


def problems_from_items(items: Iterable[Mapping[str, Any]]) -> tuple[FieldProblem, ...]:
    """Problems from pydantic's (or FastAPI's) error items: ``{"loc", "msg", "type"}``."""
    return tuple(
        FieldProblem(tuple(item["loc"]), _clean(str(item["msg"])), str(item["type"]))
        for item in items
    )


class InvalidDefinition(FlagError):
    """A definition with one or more problems; ``problems`` lists them all, ``field`` names the
    first. Raised by the write path for anything the caller sent."""

    def __init__(self, problems: Iterable[FieldProblem]) -> None:
        self.problems: tuple[FieldProblem, ...] = tuple(problems)
        first = self.problems[0] if self.problems else FieldProblem((), "invalid definition")
        super().__init__(first.message, first.field)

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)

    @classmethod
    def from_error(cls, error: ValidationError | FlagError) -> InvalidDefinition:
        return cls(problems_of(error))


def as_invalid_definition(error: ValidationError | FlagError) -> InvalidDefinition:
    """``error`` as an :class:`InvalidDefinition` (itself, if it already is one)."""
    return error if isinstance(error, InvalidDefinition) else InvalidDefinition.from_error(error)


def check_environment(environment: str) -> str:
    """``environment`` if it is a valid name, else :class:`InvalidDefinition` at ``environment``."""
    if len(environment) > ENVIRONMENT_MAX_LENGTH or not re.match(ENVIRONMENT_PATTERN, environment):
        raise InvalidDefinition(
            [
                FieldProblem(
                    ("environment",),
                    f"{environment!r} is not an environment name: use at most "
                    f"{ENVIRONMENT_MAX_LENGTH} letters, digits, '.', '_' or '-', starting with a "
                    "letter or digit",
                )
            ]
        )
    return environment


def check_actor(actor: str) -> str:
    """The actor name stripped; :class:`InvalidDefinition` at ``actor`` if empty or too long."""
    name = actor.strip()
    if not name or len(name) > ACTOR_MAX_LENGTH:
        raise InvalidDefinition(
            [FieldProblem(("actor",), f"an actor name has 1 to {ACTOR_MAX_LENGTH} characters")]
        )
    return name


class PreconditionFailed(Conflict):
    """A conditional write (``If-Match`` / ``expected_version``) found another version."""


class SegmentInUse(Conflict):
    """A segment cannot be deleted while flags of its environment still refer to it."""


def problem_json(problem: FieldProblem) -> dict[str, Any]:
    """The JSON of one problem as the API sends it (FastAPI's 422 item shape, minus input)."""
    return {"loc": list(problem.loc), "msg": problem.message, "type": problem.type}
