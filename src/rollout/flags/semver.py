"""A small, strict Semantic Versioning 2.0.0 parser with semver.org precedence.

Strict means exactly the grammar of https://semver.org/spec/v2.0.0.html: ``MAJOR.MINOR.PATCH``
with no leading ``v``, no missing parts and no leading zeros in numeric identifiers, an optional
pre-release (``-`` then dot-separated identifiers of ``[0-9A-Za-z-]``, numeric ones without
leading zeros) and optional build metadata (``+`` then dot-separated ``[0-9A-Za-z-]``
identifiers, leading zeros allowed).

Precedence (semver.org §11): major, minor and patch compare numerically; a version with a
pre-release ranks below the same version without one; pre-releases compare identifier by
identifier, numeric identifiers numerically and below alphanumeric ones, alphanumeric ones in
ASCII order, and a longer list wins when all shared identifiers are equal. Build metadata is
ignored, so ``1.0.0+a`` and ``1.0.0+b`` have equal precedence.

Example::

    >>> parse("1.0.0-alpha") < parse("1.0.0-alpha.1") < parse("1.0.0-beta") < parse("1.0.0")
    True
    >>> parse("1.0.0+build.7") == parse("1.0.0")
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

_IDENT_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-")

# A pre-release identifier's sort key: numeric identifiers sort before alphanumeric ones
# (semver.org §11.4.3), so the first element is 0 for numeric and 1 for alphanumeric.
_PreKey = tuple[int, int, str]


@dataclass(frozen=True, slots=True, eq=False)
class Version:
    """A parsed semantic version; compares and hashes by precedence (build metadata ignored)."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: tuple[str, ...] = ()
    _key: tuple[int, int, int, int, tuple[_PreKey, ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        # A release (no pre-release) outranks every pre-release of the same version: 1 > 0.
        object.__setattr__(self, "_key", (self.major, self.minor, self.patch, 0 if pre else 1, pre))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __lt__(self, other: Version) -> bool:
        return self._key < other._key

    def __le__(self, other: Version) -> bool:
        return self._key <= other._key

    def __gt__(self, other: Version) -> bool:
        return self._key > other._key

    def __ge__(self, other: Version) -> bool:
        return self._key >= other._key

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text


class SemverError(ValueError):
    """The text is not a strict semantic version; the message says what is wrong."""


def _identifiers(text: str, what: str, *, numeric_strict: bool) -> tuple[str, ...]:
    parts = tuple(text.split("."))
    for part in parts:
        if not part:
            raise SemverError(f"empty {what} identifier")
        if not _IDENT_CHARS.issuperset(part):
            raise SemverError(f"{what} identifier {part!r} may only use [0-9A-Za-z-]")
        if numeric_strict and part.isdigit() and len(part) > 1 and part[0] == "0":
            raise SemverError(f"numeric {what} identifier {part!r} has a leading zero")
    return parts


def _number(text: str, what: str) -> int:
    if not text or not text.isascii() or not text.isdigit():
        raise SemverError(f"{what} must be a non-negative integer, got {text!r}")
    if len(text) > 1 and text[0] == "0":
        raise SemverError(f"{what} {text!r} has a leading zero")
    return int(text)


def parse(text: str) -> Version:
    """Parse ``text`` as a strict semantic version, or raise :class:`SemverError`."""
    core, plus, build_text = text.partition("+")
    core, dash, pre_text = core.partition("-")
    numbers = core.split(".")
    if len(numbers) != 3:
        raise SemverError(f"{text!r} is not MAJOR.MINOR.PATCH")
    major, minor, patch = (
        _number(n, what) for n, what in zip(numbers, ("major", "minor", "patch"), strict=True)
    )
    prerelease = _identifiers(pre_text, "pre-release", numeric_strict=True) if dash else ()
    build = _identifiers(build_text, "build", numeric_strict=False) if plus else ()
    return Version(major, minor, patch, prerelease, build)


@lru_cache(maxsize=4096)
def parse_or_none(text: str) -> Version | None:
    """Like :func:`parse`, but ``None`` for text that is not a version (cached: the evaluator
    parses the same few context values over and over)."""
    try:
        return parse(text)
    except SemverError:
        return None
