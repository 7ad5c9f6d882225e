"""Pydantic validation errors -> plan problems in plain words, at the YAML's line and column.

Pydantic reports each error with a ``loc`` (field path), a ``type`` and an English message
written for programmers ("Input should be a valid integer"). This module

- walks the ``loc`` through the model's annotations, dropping the union-branch labels pydantic
  inserts (``traffic.nginx.upstream`` is the path ``traffic.upstream``);
- words each error type for a person editing YAML ("expected a whole number, found 'abc'",
  "missing required key 'duration'", "unknown key (did you mean 'duration'?)");
- keeps one error per mistake: a value that fails every branch of a union gives one message
  listing what would be accepted, and a list whose items failed does not also report that it is
  "too short";
- places each error: the key for an unknown or missing key, the value for a bad value, and for
  criterion and duration syntax errors the very character within the string.

Paths are code-like and 0-based: ``stages[0].duration`` is the first stage's duration.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from rollout.plan.source import Path, Place, Source
from rollout.plan.wording import closest, describe, did_you_mean, joined, quoted

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Located:
    """One problem, placed: 1-based ``line`` and ``column`` in the YAML, and the field path."""

    path: Path
    line: int
    column: int
    message: str
    missing: str = ""  # the key, for "missing required key" problems (merged per mapping)


def format_path(path: Path) -> str:
    """``("stages", 0, "duration")`` -> ``stages[0].duration``; odd keys are quoted.

    >>> format_path(("monitoring", "metrics", "latency_p99.9", "kind"))
    'monitoring.metrics["latency_p99.9"].kind'
    """
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += f'["{part}"]'
    return text


def locate(source: Source, path: Path, *, at_key: bool = False) -> tuple[int, int]:
    """Line and column to report for ``path``.

    A scalar is pointed at by its value; a mapping or list by its key (where the section
    starts); ``at_key`` prefers the key even for a scalar. A path deeper than the YAML (a
    shorthand such as ``audience: 5%``) points at the nearest value that was written.
    """
    found, place = source.place(path)
    if found != path or (place.is_scalar and not at_key):
        return place.line, place.column
    return place.key_or_value()


def explain(
    errors: Sequence[ErrorDetails], source: Source, model: type[BaseModel]
) -> list[Located]:
    """Turn pydantic's errors for ``source.data`` validated as ``model`` into placed problems."""
    walked = _drop_misspelt_missing([_Walked.of(model, error) for error in errors])
    walked = [item for item in walked if not _about_replaced(item.path, source)]
    kept = _drop_too_short(_pick_union_branches(walked), source)
    located = _merge_missing([_Explainer(source, item).located() for item in kept])
    unique: dict[tuple[Path, str], Located] = {}
    for item in located:
        unique.setdefault((item.path, item.message), item)
    return list(unique.values())


def _merge_missing(located: list[Located]) -> list[Located]:
    """One "missing required keys 'stable' and 'canary'" per mapping, not one per key."""
    keys: dict[Path, list[str]] = {}
    for item in located:
        if item.missing:
            keys.setdefault(item.path, []).append(f"'{item.missing}'")
    result: list[Located] = []
    for item in located:
        if not item.missing:
            result.append(item)
        elif item.path in keys:
            names = keys.pop(item.path)
            noun = "keys" if len(names) > 1 else "key"
            message = f"missing required {noun} {joined(names)}"
            result.append(Located(item.path, item.line, item.column, message))
    return result


# --------------------------------------------------------------------------- walking a loc


@dataclass(frozen=True)
class _Walked:
    """An error with its loc resolved against the model.

    ``path`` holds only real steps (keys and indexes). ``annotation`` is the type expected at
    the end of the path; ``owner`` the model that owns the last key (for suggestions).
    ``branch`` is set when the loc ended inside a union: (path of the union, branch label).
    """

    error: ErrorDetails
    path: Path
    annotation: Any
    owner: type[BaseModel] | None
    branch: tuple[Path, str] | None
    union: Any
    at_dict_key: bool

    @classmethod
    def of(cls, model: type[BaseModel], error: ErrorDetails) -> _Walked:
        annotation: Any = model
        owner: type[BaseModel] | None = None
        path: list[str | int] = []
        branch: tuple[Path, str] | None = None
        union: Any = None
        at_dict_key = False
        for step in error["loc"]:
            annotation = _unwrap(annotation)
            members = _union_members(annotation)
            if members:
                branch, union = (tuple(path), str(step)), annotation
                annotation = _branch(members, step)
                continue
            if step == "[key]":
                at_dict_key = True
                continue
            path.append(step)
            owner = None
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                owner = annotation
                field = annotation.model_fields.get(str(step))
                annotation = field.annotation if field is not None else Any
            elif get_origin(annotation) is dict:
                annotation = get_args(annotation)[1]
            elif get_origin(annotation) in (tuple, list):
                annotation = get_args(annotation)[0]
            else:
                annotation = Any
        return cls(error, tuple(path), _unwrap(annotation), owner, branch, union, at_dict_key)


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated[...]`` and ``| None`` down to the type that validates."""
    while True:
        if get_origin(annotation) is typing.Annotated:
            annotation = get_args(annotation)[0]
            continue
        if _is_union(annotation):
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType)


def _union_members(annotation: Any) -> tuple[Any, ...]:
    if not _is_union(annotation):
        return ()
    return tuple(_unwrap(arg) for arg in get_args(annotation) if arg is not type(None))


def _branch(members: Iterable[Any], label: str | int) -> Any:
    """The union member pydantic's branch ``label`` stands for (a tag or a type's name)."""
    for member in members:
        if label in _tags(member) or getattr(member, "__name__", None) == label:
            return member
    return Any


def _tags(member: Any) -> tuple[Any, ...]:
    """The values of a model's ``type`` discriminator (``("nginx",)`` for NginxRouter)."""
    if isinstance(member, type) and issubclass(member, BaseModel) and "type" in member.model_fields:
        kind = _unwrap(member.model_fields["type"].annotation)
        if get_origin(kind) is Literal:
            return get_args(kind)
    return ()


# --------------------------------------------------------------------------- one error per mistake


def _about_replaced(path: Path, source: Source) -> bool:
    """Whether an error concerns a value already reported while reading and replaced by a
    stand-in (or the list holding it): the model's complaint would only repeat that problem."""
    for problem in source.problems:
        if problem.replaced and (
            path[: len(problem.path)] == problem.path or path == problem.path[:-1]
        ):
            return True
    return False


def _drop_misspelt_missing(walked: list[_Walked]) -> list[_Walked]:
    """Drop "missing required key 'duration'" when 'durration' is reported beside it.

    The unknown key's "did you mean 'duration'?" already names the fix; one typo is one problem.
    """
    misspelt: set[Path] = set()
    for item in walked:
        if item.error["type"] == "extra_forbidden" and item.owner is not None:
            match = closest(str(item.path[-1]), item.owner.model_fields)
            if match is not None:
                misspelt.add((*item.path[:-1], match))
    return [
        item for item in walked if not (item.error["type"] == "missing" and item.path in misspelt)
    ]


def _pick_union_branches(walked: list[_Walked]) -> list[_Walked | list[_Walked]]:
    """Group errors from the branches of one union; keep the branch that fits the value.

    A value that failed every branch at its own level (a list given for ``true``/number/text)
    becomes one group, worded as one message. When one branch got further (it accepted the
    value's shape and failed deeper inside), only that branch's errors are kept.
    """
    groups: dict[Path, list[_Walked]] = {}
    result: list[_Walked | list[_Walked]] = []
    for item in walked:
        if item.branch is None:
            result.append(item)
            continue
        union_path = item.branch[0]
        if union_path not in groups:
            groups[union_path] = []
            result.append(groups[union_path])
        groups[union_path].append(item)
    picked: list[_Walked | list[_Walked]] = []
    for entry in result:
        if isinstance(entry, _Walked):
            picked.append(entry)
            continue
        labels = {item.branch[1] for item in entry if item.branch is not None}
        if len(labels) == 1:
            picked.extend(entry)
            continue
        deepest = max(entry, key=lambda item: len(item.path))
        if deepest.branch is not None and len(deepest.path) > len(deepest.branch[0]):
            picked.extend(item for item in entry if item.branch == deepest.branch)
        else:
            picked.append(entry)
    return picked


def _drop_too_short(
    items: list[_Walked | list[_Walked]], source: Source
) -> list[_Walked | list[_Walked]]:
    """Drop "too short" for a list that has enough entries but whose entries failed.

    Pydantic validates a tuple's items first and then its length, counting only the items that
    validated, so one bad stage would also report "stages should have at least 1 item".
    """
    kept: list[_Walked | list[_Walked]] = []
    for item in items:
        if isinstance(item, _Walked) and item.error["type"] == "too_short":
            written = _value_at(source.data, item.path)
            ctx = item.error.get("ctx") or {}
            if isinstance(written, list) and len(written) >= int(ctx.get("min_length", 1)):
                continue
        kept.append(item)
    return kept


def _value_at(data: Any, path: Path) -> Any:
    for part in path:
        in_mapping = isinstance(data, dict) and part in data
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if not (in_mapping or in_list):
            return None
        data = data[part]
    return data


# --------------------------------------------------------------------------- wording


_WHOLE = "a whole number"
_TYPE_WORDS = {
    bool: "true or false",
    int: _WHOLE,
    float: "a number",
    str: "text",
    dict: "a mapping",
}
_ROUTER_WORDS = {"traffic": "traffic router", "source": "metric source"}


def _type_words(annotation: Any) -> str:
    annotation = _unwrap(annotation)
    if annotation in _TYPE_WORDS:
        return _TYPE_WORDS[annotation]
    origin = get_origin(annotation)
    if origin is Literal:
        return quoted(get_args(annotation))
    if origin in (tuple, list):
        inner = _type_words(get_args(annotation)[0])
        return f"a list of {inner.removeprefix('a ')}s" if inner == _WHOLE else "a list"
    if origin is dict or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return "a mapping"
    if _is_union(annotation):
        return _alternatives(_union_members(annotation))
    return getattr(annotation, "__name__", str(annotation))


def _alternatives(members: Sequence[Any]) -> str:
    if float in members:  # "a number" already covers whole numbers
        members = [member for member in members if member is not int]
    return joined(list(dict.fromkeys(_type_words(member) for member in members)), "or")


class _Explainer:
    """Words and places one error (or one group of union-branch errors)."""

    def __init__(self, source: Source, item: _Walked | list[_Walked]) -> None:
        self.source = source
        self.group = item if isinstance(item, list) else [item]
        self.item = self.group[0]
        self.error = self.item.error
        self.kind = self.error["type"]
        self.value = self.error.get("input")
        self.ctx: dict[str, Any] = dict(self.error.get("ctx") or {})

    def located(self) -> Located:
        if len(self.group) > 1:
            assert self.item.branch is not None
            path = self.item.branch[0]
            wanted = _alternatives(_union_members(self.item.union))
            line, column = locate(self.source, path)
            return Located(path, line, column, f"expected {wanted}, found {self.found(path)}")
        path = self.item.path
        if self.kind == "missing":
            line, column = locate(self.source, path[:-1], at_key=True)
            name = str(path[-1])
            return Located(path[:-1], line, column, f"missing required key '{name}'", name)
        if self.kind in ("union_tag_invalid", "union_tag_not_found"):
            return self.bad_tag(path)
        if self.kind == "extra_forbidden" or self.item.at_dict_key:
            line, column = locate(self.source, path, at_key=True)
        else:
            line, column = self.value_place(path)
        return Located(path, line, column, self.message(path))

    def found(self, path: Path) -> str:
        """The value as the user wrote it: ``1.10`` stays ``1.10``, text is quoted."""
        found, place = self.source.place(path)
        if found == path and place.is_scalar and isinstance(self.value, int | float) and place.text:
            return place.text
        return describe(self.value)

    def value_place(self, path: Path) -> tuple[int, int]:
        line, column = locate(self.source, path)
        offset = self.ctx.get("column")
        if self.kind not in ("criterion", "duration") or not isinstance(offset, int):
            return line, column
        found, place = self.source.place(path)
        if found != path:
            return line, column
        if place.style == "mapping" and isinstance(self.value, dict) and len(self.value) == 1:
            # `- error_rate: no regresion` was read as {key: value} and parsed as "key: value".
            key = str(next(iter(self.value)))
            value_place = self.source.places.get((*path, key))
            if offset <= len(key) + 1 or value_place is None:
                return place.line, place.column + offset - 1
            return _inside(value_place, offset - len(key) - 2)
        return _inside(place, offset)

    def message(self, path: Path) -> str:
        kind, found = self.kind, self.found(path)
        if kind == "extra_forbidden":
            return self.unknown_key(path)
        if kind == "literal_error":
            return self.literal(found)
        if kind in ("int_type", "int_parsing", "int_from_float"):
            return f"expected a whole number, found {found}"
        if kind in ("float_type", "float_parsing", "finite_number"):
            return f"expected a number, found {found}"
        if kind in ("bool_type", "bool_parsing"):
            return f"expected true or false, found {found}"
        if kind == "string_type":
            return self.not_text(found)
        if kind in ("string_too_short", "too_short"):
            return self.too_short()
        if kind in ("list_type", "tuple_type", "set_type", "iterable_type"):
            hint = ""
            if isinstance(self.value, str | int | float) and not isinstance(self.value, bool):
                hint = " (write each entry on its own line, starting with '- ')"
            return f"expected a list, found {found}{hint}"
        if kind in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
            return self.not_mapping(found)
        if kind in _BOUNDS:
            return f"{_BOUNDS[kind]} {describe(next(iter(self.ctx.values())))}, found {found}"
        if kind == "value_error":
            return self.error["msg"].removeprefix("Value error, ")
        if kind == "assertion_error":
            return self.error["msg"].removeprefix("Assertion failed, ")
        return self.error["msg"]

    def unknown_key(self, path: Path) -> str:
        owner = self.item.owner
        if owner is None:
            return "unknown key"
        fields = list(owner.model_fields)
        hint = did_you_mean(str(path[-1]), fields) or f" (allowed here: {', '.join(fields)})"
        return f"unknown key{hint}"

    def literal(self, found: str) -> str:
        annotation = self.item.annotation
        if get_origin(annotation) is Literal:
            choices = [str(choice) for choice in get_args(annotation)]
        else:
            choices = re.findall(r"'([^']*)'", str(self.ctx.get("expected", "")))
        hint = did_you_mean(self.value, choices) if isinstance(self.value, str) else ""
        if len(choices) == 1:
            return f"expected '{choices[0]}', found {found}{hint}"
        return f"expected one of {quoted(choices)}, found {found}{hint}"

    def not_text(self, found: str) -> str:
        if isinstance(self.value, int | float) and found:
            return (
                f'expected text, found {found} (write it in quotes, "{found}", to keep it as text)'
            )
        return f"expected text, found {found}"

    def too_short(self) -> str:
        least = int(self.ctx.get("min_length", 1))
        if isinstance(self.value, str):
            return "must not be empty"
        if least == 1:
            return "must not be empty: it needs at least one entry"
        return f"needs at least {least} entries, found {len(self.value or ())}"

    def not_mapping(self, found: str) -> str:
        annotation = self.item.annotation
        is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if is_model and isinstance(self.value, str) and "type" in annotation.model_fields:
            return f"expected a mapping, found {found} (did you mean 'type: {self.value}'?)"
        members = _union_members(annotation)
        tags = [tag for member in members for tag in _tags(member)]
        if tags and isinstance(self.value, str):
            return (
                f"expected a mapping with a 'type' ({quoted(tags)}) and its settings, "
                f"found {found}{_type_hint(self.value, tags)}"
            )
        return f"expected a mapping (indented 'key: value' lines), found {found}"

    def bad_tag(self, path: Path) -> Located:
        members = _union_members(self.item.annotation)
        tags = [str(tag) for member in members for tag in _tags(member)]
        what = _ROUTER_WORDS.get(str(path[-1]) if path else "", "type")
        if self.kind == "union_tag_not_found":
            line, column = locate(self.source, path, at_key=True)
            message = f"missing required key 'type': which {what} ({quoted(tags)})"
            return Located(path, line, column, message)
        tag = str(self.ctx.get("tag", ""))
        type_path = (*path, "type")
        line, column = locate(self.source, type_path)
        hint = did_you_mean(tag, tags)
        message = f"unknown {what} '{tag}': expected one of {quoted(tags)}{hint}"
        return Located(type_path, line, column, message)


_BOUNDS = {
    "greater_than_equal": "must be at least",
    "greater_than": "must be greater than",
    "less_than_equal": "must be at most",
    "less_than": "must be less than",
}


def _type_hint(value: str, tags: Sequence[object]) -> str:
    return f" (did you mean 'type: {value}'?)" if value in tags else ""


def _inside(place: Place, offset: int) -> tuple[int, int]:
    """The position of the ``offset``-th character (1-based) of a scalar's text."""
    if not place.one_line or place.style in ("|", ">"):
        return place.line, place.column  # a multi-line value: its start is the best we know
    quote = 1 if place.style in ('"', "'") else 0
    return place.line, place.column + quote + offset - 1
