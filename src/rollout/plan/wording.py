"""Small helpers that word plan problems the same way everywhere.

>>> did_you_mean("durration", ["name", "duration", "audience"])
" (did you mean 'duration'?)"
>>> quoted(["canary", "rolling"])
"'canary', 'rolling'"
>>> joined(["a", "b", "c"], "or")
'a, b or c'
>>> describe([1, 2]), describe(None), describe("abc"), describe(True)
('a list', 'nothing (the value is empty)', "'abc'", 'true')
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

# difflib's default cutoff (0.6) pairs 'error_rate' with 'eror_rate' and 'canery' with 'canary'
# but not unrelated words; lower values start suggesting nonsense.
_CUTOFF = 0.6


def closest(word: str, options: Iterable[str]) -> str | None:
    """The option most like ``word`` (ignoring case), or None when none is close."""
    choices = {option.lower(): option for option in options}
    found = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=_CUTOFF)
    if found:
        return choices[found[0]]
    # An abbreviation ('prom' for 'prometheus') is too short for difflib to pair up.
    starting = [option for lowered, option in choices.items() if lowered.startswith(word.lower())]
    return starting[0] if len(word) >= 3 and len(starting) == 1 else None


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when an option is close to ``word``, else the empty string."""
    match = closest(word, options)
    return f" (did you mean '{match}'?)" if match is not None and match != word else ""


def quoted(options: Iterable[object]) -> str:
    """Options as a comma-separated list of quoted words: ``'a', 'b', 'c'``."""
    return ", ".join(f"'{option}'" for option in options)


def joined(words: Sequence[str], last: str = "and") -> str:
    """``a, b and c`` (or ``a, b or c``)."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {last} {words[-1]}"


def describe(value: Any) -> str:
    """How a value the user wrote reads back in a message (YAML words, not Python's)."""
    if value is None:
        return "nothing (the value is empty)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value)
