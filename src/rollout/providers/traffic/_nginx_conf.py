"""Reading and writing the upstream file the nginx router owns (pure text work, no I/O).

The user's nginx config includes one file, inside ``http { }`` (or ``stream { }``), that holds
just the upstream the rollout moves::

    upstream app {
        keepalive 16;
        server 10.0.0.1:8080 weight=19 max_fails=3;
        server 10.0.0.2:8080 weight=1;
    }

The router rewrites that file on every weight change. It keeps the upstream's other directives
(``keepalive``, ``zone``, ...) and the servers' other parameters (``max_fails=3``), and sets only
``weight=`` and ``down`` (nginx refuses ``weight=0``; a server at 0 % is marked ``down``).
``backup`` is dropped, as a backup server would not follow its weight. Anything else in the file
(another block, a third server) means the file is not the router's to rewrite, and it refuses.

With a ``status_url`` the file also carries a ``map`` that sets ``$rollout_version_<upstream>``
to a fresh token on each write, so an nginx location that returns the variable proves which
write is live (see :mod:`rollout.providers.traffic.nginx`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MANAGED_HEADER = "# Written by Rollout's nginx traffic router; each weight change rewrites it."
_SAFE_WORD = re.compile(r"^[A-Za-z0-9_.:/\[\]@-]+$")


class ConfError(ValueError):
    """The upstream file cannot be parsed, or holds something the router must not rewrite."""


@dataclass(frozen=True)
class Statement:
    """One nginx directive: its words (quotes kept), its block if any, and its 1-based line."""

    words: tuple[str, ...]
    block: tuple[Statement, ...] | None
    line: int


@dataclass(frozen=True)
class UpstreamFile:
    """What the router needs from its file.

    ``stable_weight`` / ``canary_weight`` are the effective weights (0 when the server is
    ``down`` or absent). ``directives`` are the upstream's other directives, rendered;
    ``server_params`` the kept parameters of each of the two servers; ``token`` the value of the
    status map, if the file has one.
    """

    stable_weight: int
    canary_weight: int
    directives: tuple[str, ...] = ()
    server_params: tuple[tuple[str, tuple[str, ...]], ...] = ()
    token: str | None = None

    def params_of(self, address: str) -> tuple[str, ...]:
        return dict(self.server_params).get(address, ())


def check_word(value: str, what: str) -> str:
    """``value`` when it is safe to write into nginx config unquoted, else ``ConfError``.

    Guards against a plan value that would change the config's structure (``;``, braces,
    spaces, quotes, ``#``).
    """
    if not _SAFE_WORD.match(value):
        raise ConfError(f"{what} {value!r} cannot go into an nginx config as it is")
    return value


def version_variable(upstream: str) -> str:
    """The nginx variable the status map sets: ``app-v2`` -> ``$rollout_version_app_v2``."""
    return "$rollout_version_" + re.sub(r"[^A-Za-z0-9_]", "_", upstream)


def parse(text: str) -> tuple[Statement, ...]:
    """Parse nginx config text into statements. ``ConfError`` on unbalanced braces or quotes."""
    statements, _ = _parse_block(_tokens(text), 0, top=True)
    return statements


def read_upstream(text: str, upstream: str, stable: str, canary: str) -> UpstreamFile:
    """The upstream ``upstream`` in ``text`` with servers ``stable`` and ``canary``.

    An empty file reads as "no servers yet" (both weights 0). ``ConfError`` when the file
    holds anything but that upstream (and the router's own status map), or when the upstream
    has a server other than the two.
    """
    found: UpstreamFile | None = None
    token: str | None = None
    for statement in parse(text):
        words = statement.words
        if words[0] == "map" and len(words) == 3 and words[2] == version_variable(upstream):
            token = _map_default(statement)
        elif words[0] == "upstream" and len(words) == 2 and statement.block is not None:
            if words[1] != upstream:
                raise ConfError(
                    f"line {statement.line}: the file defines upstream {words[1]!r}, but the "
                    f"plan names upstream {upstream!r}"
                )
            if found is not None:
                raise ConfError(f"line {statement.line}: upstream {upstream!r} is defined twice")
            found = _read_block(statement.block, upstream, stable, canary)
        else:
            raise ConfError(
                f"line {statement.line}: the file holds '{' '.join(words)}'; the router "
                f"rewrites this file, so it must hold only 'upstream {upstream} {{ ... }}'"
            )
    if found is None:
        if token is not None:
            raise ConfError(f"the file has no 'upstream {upstream} {{ ... }}' block")
        return UpstreamFile(0, 0)  # an empty file: no servers yet
    return UpstreamFile(
        found.stable_weight, found.canary_weight, found.directives, found.server_params, token
    )


def render_upstream(
    upstream: str,
    stable: str,
    canary: str,
    weights: tuple[int, int],
    *,
    kept: UpstreamFile,
    token: str | None,
    note: str,
) -> str:
    """The file's new text: ``kept``'s directives and server parameters, the new ``weights``.

    A weight of 0 is written as ``down`` (nginx rejects ``weight=0``). ``note`` becomes a
    comment line (which action wrote the file). With a ``token`` the status map is written too.
    """
    lines = [MANAGED_HEADER]
    lines.extend(f"# {line}" for line in note.splitlines() if line.strip())
    if token is not None:
        lines.append(f'map $remote_addr {version_variable(upstream)} {{ default "{token}"; }}')
    lines.append(f"upstream {upstream} {{")
    lines.extend(f"    {directive}" for directive in kept.directives)
    for address, weight in ((stable, weights[0]), (canary, weights[1])):
        state = "down" if weight == 0 else f"weight={weight}"
        params = " ".join((*kept.params_of(address), state))
        lines.append(f"    server {address} {params};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- internals


def _read_block(
    block: tuple[Statement, ...], upstream: str, stable: str, canary: str
) -> UpstreamFile:
    weights = {stable: 0, canary: 0}
    params: dict[str, tuple[str, ...]] = {}
    directives: list[str] = []
    for statement in block:
        words = statement.words
        if statement.block is not None:
            raise ConfError(f"line {statement.line}: unexpected block '{words[0]}' in an upstream")
        if words[0] != "server":
            directives.append(" ".join(words) + ";")
            continue
        if len(words) < 2 or words[1] not in weights:
            raise ConfError(
                f"line {statement.line}: upstream {upstream!r} has server "
                f"{words[1] if len(words) > 1 else '(none)'!r}, which is neither the stable "
                f"({stable}) nor the canary ({canary}); the router splits traffic between "
                "exactly those two"
            )
        address = words[1]
        if address in params:
            raise ConfError(f"line {statement.line}: server {address} is listed twice")
        weight, kept = _server_weight(words[2:], statement.line)
        weights[address] = weight
        params[address] = kept
    return UpstreamFile(
        weights[stable],
        weights[canary],
        tuple(directives),
        tuple(params.items()),
    )


def _server_weight(params: tuple[str, ...], line: int) -> tuple[int, tuple[str, ...]]:
    weight, down, kept = 1, False, []
    for param in params:
        if param.startswith("weight="):
            try:
                weight = int(param.removeprefix("weight="))
            except ValueError:
                raise ConfError(f"line {line}: {param!r} is not a whole-number weight") from None
        elif param == "down":
            down = True
        elif param != "backup":
            kept.append(param)
    return (0 if down else weight), tuple(kept)


def _map_default(statement: Statement) -> str | None:
    for entry in statement.block or ():
        if entry.words[0] == "default" and len(entry.words) == 2:
            return entry.words[1].strip("\"'")
    return None


_Token = tuple[str, int]  # text, line


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, line, n = 0, 1, len(text)
    while i < n:
        char = text[i]
        if char == "\n":
            line += 1
            i += 1
        elif char.isspace():
            i += 1
        elif char == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif char in ";{}":
            tokens.append((char, line))
            i += 1
        elif char in "\"'":
            start, start_line, i = i, line, i + 1
            while i < n and text[i] != char:
                if text[i] == "\\":
                    i += 1
                elif text[i] == "\n":
                    line += 1
                i += 1
            if i >= n:
                raise ConfError(f"line {start_line}: unterminated quote")
            i += 1
            tokens.append((text[start:i], start_line))
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in ";{}#\"'":
                i += 1
            tokens.append((text[start:i], line))
    return tokens


def _parse_block(
    tokens: list[_Token], position: int, *, top: bool
) -> tuple[tuple[Statement, ...], int]:
    statements: list[Statement] = []
    words: list[str] = []
    first_line = 0
    while position < len(tokens):
        text, line = tokens[position]
        position += 1
        if text == ";":
            if not words:
                raise ConfError(f"line {line}: stray ';'")
            statements.append(Statement(tuple(words), None, first_line))
            words = []
        elif text == "{":
            if not words:
                raise ConfError(f"line {line}: a block without a directive name")
            block, position = _parse_block(tokens, position, top=False)
            statements.append(Statement(tuple(words), block, first_line))
            words = []
        elif text == "}":
            if top:
                raise ConfError(f"line {line}: unexpected '}}'")
            if words:
                raise ConfError(f"line {line}: '{' '.join(words)}' lacks its ';'")
            return tuple(statements), position
        else:
            if not words:
                first_line = line
            words.append(text)
    if words:
        raise ConfError(f"line {first_line}: '{' '.join(words)}' lacks its ';'")
    if not top:
        raise ConfError("a block is not closed: a '}' is missing")
    return tuple(statements), position
