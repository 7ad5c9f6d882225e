"""YAML text -> plain Python data, plus where every key and value was written.

The plan is read with ruamel.yaml's composer, which keeps the line and column of every node; the
node graph is then turned into plain ``dict``/``list``/``str``/``int``/``float``/``bool``/``None``
by this module rather than by ruamel's constructor, because the loader needs more than data:

- every key and value's place (:class:`Place`, 1-based line and column) under its field path
  (``("stages", 0, "duration")``: keys are strings, list indexes 0-based integers);
- the scalar's style (plain, quoted, block) and source text, so a message can point *inside* a
  quoted string or quote ``1.10`` exactly as written;
- every duplicate key and unsupported tag, reported together instead of stopping at the first.

Choices, so that YAML surprises do not reach the plan:

- mapping keys are always text (``200: ...`` gives the key ``"200"``): every key in a plan is a
  name;
- a timestamp (``version: 2024-05-01``) stays the text it was written as;
- for a duplicate key the first value is kept and the second is reported;
- merge keys (``<<: *defaults``) are honoured; keys written next to them win.

A syntax error stops reading (YAML cannot be resynchronised reliably) and is returned as the only
problem, at ruamel's line and column.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

Path = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
# Fewer nodes than this cannot be a rollout plan written by hand; more is an alias bomb.
_MAX_NODES = 200_000


@dataclass(frozen=True)
class Place:
    """Where a value was written. Lines and columns are 1-based.

    ``key_line``/``key_column`` locate the key of a mapping entry (0 for list items and the
    top level); ``line``/``column`` the value. ``style`` is the scalar style (``""`` plain,
    ``'"'`` or ``"'"`` quoted, ``"|"`` or ``">"`` block) or ``"mapping"``/``"sequence"``.
    ``text`` is a scalar's source text (unquoted); ``one_line`` says the value fits on one line.
    """

    line: int
    column: int
    key_line: int = 0
    key_column: int = 0
    style: str = ""
    text: str = ""
    one_line: bool = True

    @property
    def is_scalar(self) -> bool:
        return self.style not in ("mapping", "sequence")

    def key_or_value(self) -> tuple[int, int]:
        """The key's position when there is a key, else the value's."""
        if self.key_line:
            return self.key_line, self.key_column
        return self.line, self.column


@dataclass(frozen=True)
class SourceProblem:
    """A problem found while reading YAML, before the plan's own rules apply.

    ``replaced`` says the value at ``path`` was replaced by a stand-in (None, or the text
    without its tag), so the model's complaints about that value would only repeat this one.
    """

    line: int
    column: int
    path: Path
    message: str
    replaced: bool = False


@dataclass(frozen=True)
class Source:
    """The plain data of a YAML document, where each part was written, and reading problems."""

    data: Any
    places: Mapping[Path, Place]
    problems: tuple[SourceProblem, ...] = ()

    def place(self, path: Path) -> tuple[Path, Place]:
        """The place of ``path``, or of its longest prefix that was written in the YAML.

        A field path can run deeper than the YAML when a shorthand was used (``audience: 5%``
        is validated as ``audience.percent``) or a key is missing; the nearest written
        ancestor is then the best place to point at.
        """
        for end in range(len(path), -1, -1):
            found = self.places.get(path[:end])
            if found is not None:
                return path[:end], found
        return (), Place(1, 1)


_TOO_DEEP = "the YAML is nested too deeply to be a plan"
# No plan nests [..] or {..} this deep; ruamel's scanner slows down sharply with flow depth,
# so deeper text is refused before it is parsed.
_MAX_FLOW_DEPTH = 50


def read_yaml(text: str) -> Source:
    """Read one YAML document. The data is None with a problem when the text is not usable."""
    too_deep = _flow_too_deep(text)
    if too_deep is not None:
        return _unreadable(SourceProblem(*too_deep, (), _TOO_DEEP))
    yaml = YAML(typ="rt")
    try:
        with warnings.catch_warnings():
            # A reused anchor is legal YAML (the later one wins); ruamel warns on stderr.
            warnings.simplefilter("ignore")
            root = yaml.compose(text)
    except MarkedYAMLError as exc:
        return _unreadable(_syntax_problem(exc))
    except ReaderError as exc:
        line, column = _line_column(text, exc.position)
        character = f"U+{exc.character:04X}" if isinstance(exc.character, int) else "?"
        message = f"the file contains a character YAML does not allow ({character})"
        return _unreadable(SourceProblem(line, column, (), message))
    except RecursionError:
        return _unreadable(SourceProblem(1, 1, (), _TOO_DEEP))
    except YAMLError as exc:  # pragma: no cover - every ruamel error we know is marked
        return _unreadable(SourceProblem(1, 1, (), f"not valid YAML: {exc}"))
    if root is None:
        message = "the plan is empty (`rollout init` prints a starter plan)"
        return _unreadable(SourceProblem(1, 1, (), message))
    builder = _Builder(yaml)
    try:
        data = builder.build(root, (), None)
    except RecursionError:
        return _unreadable(SourceProblem(1, 1, (), _TOO_DEEP))
    if not isinstance(data, dict):
        line, column = _mark(root)
        message = (
            f"the plan must be a mapping of sections (name:, overview:, ...), found {_kind(root)}"
        )
        return _unreadable(SourceProblem(line, column, (), message))
    return Source(data, builder.places, tuple(builder.problems))


def _flow_too_deep(text: str) -> tuple[int, int] | None:
    """Where brackets first nest deeper than any plan would, or None.

    An approximation that errs towards allowing: quoted text is skipped, and a bracket inside
    a plain value (a PromQL query) counts, which only matters past the generous limit.
    """
    depth, quote, line, column = 0, "", 1, 0
    for char in text:
        column += 1
        if char == "\n":
            line, column = line + 1, 0
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{":
            depth += 1
            if depth > _MAX_FLOW_DEPTH:
                return line, column
        elif char in "]}":
            depth = max(depth - 1, 0)
    return None


def _unreadable(problem: SourceProblem) -> Source:
    return Source(None, {}, (problem,))


# ruamel's wording for the syntax errors people make most, in plain words.
_SYNTAX_HINTS = (
    (
        "mapping values are not allowed here",
        "unexpected ':' (quote a value that contains ': ', or check the indentation)",
    ),
    ("found character '\\t'", "a tab character; YAML indents with spaces only"),
    ("could not find expected ':'", "expected 'key: value' here (is a ':' missing?)"),
    ("found undefined alias", "this alias (*name) refers to no anchor (&name) defined above it"),
    (
        "expected a single document",
        "the file holds more than one YAML document ('---'); a plan is one document",
    ),
    ("found unexpected end of stream", "this quoted string is never closed"),
    ("found duplicate anchor", "this anchor (&name) is already defined above"),
)


def _syntax_problem(exc: MarkedYAMLError) -> SourceProblem:
    mark = exc.problem_mark or exc.context_mark
    problem = str(exc.problem or exc.context or "not valid YAML")
    if "end of stream" in problem and "quoted" in str(exc.context) and exc.context_mark:
        mark = exc.context_mark  # where the unclosed string opens, not the end of the file
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    for needle, plain in _SYNTAX_HINTS:
        if needle in problem or needle in str(exc.context):
            return SourceProblem(line, column, (), f"YAML syntax: {plain}")
    if "expected <block end>" in problem:
        message = "bad indentation: this line does not line up with the lines above it"
        return SourceProblem(line, column, (), f"YAML syntax: {message}")
    context = f" {exc.context}" if exc.context else ""
    return SourceProblem(line, column, (), f"YAML syntax: {problem}{context}")


def _line_column(text: str, index: int) -> tuple[int, int]:
    before = text[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1


def _mark(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _kind(node: Node) -> str:
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, MappingNode):
        return "a mapping"
    return f"the text '{node.value}'"


def _scalar_text(node: Node) -> str:
    # ruamel's scanner marks where a folded (>) scalar was folded with BEL characters, for
    # round-tripping; they are not part of the value.
    text = str(node.value)
    return text.replace("\a", "") if getattr(node, "style", None) == ">" else text


@dataclass
class _Builder:
    """Walks the composed node graph once, building data and recording places and problems."""

    yaml: YAML
    places: dict[Path, Place] = field(default_factory=dict)
    problems: list[SourceProblem] = field(default_factory=list)
    count: int = 0
    # Nodes being built right now: an alias to one of them would recurse forever.
    active: set[int] = field(default_factory=set)

    def build(self, node: Node, path: Path, key: Node | None) -> Any:
        self.count += 1
        if self.count > _MAX_NODES:
            if self.count == _MAX_NODES + 1:
                line, column = _mark(node)
                message = "the plan expands to too many values (aliases inside aliases?)"
                self.problems.append(SourceProblem(line, column, path, message, replaced=True))
            return None
        if id(node) in self.active:
            line, column = _mark(node)
            message = "this alias refers to a value that contains it"
            self.problems.append(SourceProblem(line, column, path, message, replaced=True))
            return None
        self.record(node, path, key)
        self.active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self.mapping(node, path)
            if isinstance(node, SequenceNode):
                return [self.build(item, (*path, i), None) for i, item in enumerate(node.value)]
            if isinstance(node, ScalarNode):
                return self.scalar(node, path)
            return None  # pragma: no cover - the composer makes only these three kinds
        finally:
            self.active.discard(id(node))

    def record(self, node: Node, path: Path, key: Node | None) -> None:
        line, column = _mark(node)
        key_line, key_column = _mark(key) if key is not None else (0, 0)
        if isinstance(node, MappingNode):
            style, text = "mapping", ""
        elif isinstance(node, SequenceNode):
            style, text = "sequence", ""
        else:
            style, text = getattr(node, "style", None) or "", _scalar_text(node)
            if key is not None and node.tag == _TAG + "null" and text == "":
                # An empty value has no place of its own (ruamel puts it on the next line);
                # the key is where the user will look.
                line, column = key_line, key_column
        one_line = node.start_mark.line == node.end_mark.line
        self.places[path] = Place(line, column, key_line, key_column, style, text, one_line)

    def mapping(self, node: MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, int] = {}
        merged: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                merged.extend(self.merge_entries(value_node, path))
                continue
            key = self.key(key_node, path)
            if key in result:
                line, column = _mark(key_node)
                message = f"duplicate key '{key}' (first written on line {first_seen[key]})"
                self.problems.append(SourceProblem(line, column, (*path, key), message))
                continue
            first_seen[key] = key_node.start_mark.line + 1
            result[key] = self.build(value_node, (*path, key), key_node)
        for key_node, value_node in merged:
            key = self.key(key_node, path)
            if key not in result:
                result[key] = self.build(value_node, (*path, key), key_node)
        return result

    def merge_entries(self, node: Node, path: Path) -> list[tuple[Node, Node]]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        entries: list[tuple[Node, Node]] = []
        for source in sources:
            if not isinstance(source, MappingNode):
                line, column = _mark(source)
                message = "a merge key (<<) takes a mapping or a list of mappings"
                self.problems.append(SourceProblem(line, column, path, message))
                continue
            entries.extend(source.value)
        return entries

    def key(self, node: Node, path: Path) -> str:
        if isinstance(node, ScalarNode):
            return str(node.value)
        line, column = _mark(node)
        message = "a key must be a plain name, not a list or a mapping"
        self.problems.append(SourceProblem(line, column, path, message))
        return f"<{_kind(node)} at line {line}>"

    def scalar(self, node: ScalarNode, path: Path) -> Any:
        tag = str(node.tag)
        text = _scalar_text(node)
        if tag in (_TAG + "str", _TAG + "timestamp"):
            return text
        if tag == _TAG + "null":
            return None
        if tag == _TAG + "bool":
            return text.lower() == "true"
        if tag in (_TAG + "int", _TAG + "float"):
            value = self.yaml.constructor.construct_object(node, deep=True)
            return int(value) if tag == _TAG + "int" else float(value)
        line, column = _mark(node)
        shown = tag.replace(_TAG, "!!")
        message = f"unsupported YAML tag '{shown}'; write the value without a tag"
        self.problems.append(SourceProblem(line, column, path, message, replaced=True))
        return text
