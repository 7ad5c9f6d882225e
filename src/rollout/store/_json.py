"""Canonical JSON (for hashing and equality) and a leaf-by-leaf JSON diff."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

_MISSING = object()


def canonical_json(value: Any) -> str:
    """One fixed text per JSON value: keys sorted, no spaces, UTF-8 kept, no NaN.

    >>> canonical_json({"b": [1, 2.5], "a": "é"})
    '{"a":"é","b":[1,2.5]}'
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def json_object(value: Mapping[str, Any], what: str) -> dict[str, Any]:
    """A fresh copy of ``value`` exactly as it will read back from the database (tuples become
    lists, keys strings); ``ValueError`` naming ``what`` if it is not JSON.

    >>> json_object({"steps": (1, 2)}, "state")
    {'steps': [1, 2]}
    """
    try:
        copy = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not JSON: {exc}") from exc
    if not isinstance(copy, dict):
        raise ValueError(f"{what} must be a JSON object, not {type(value).__name__}")
    return copy


def json_value(value: Any, what: str) -> Any:
    """Like :func:`json_object` for any JSON value (an opaque sketch, say)."""
    return json_object({"v": value}, what)["v"]


def _pointer(path: str, token: str | int) -> str:
    # RFC 6901: "~" and "/" inside a key are escaped as "~0" and "~1".
    return f"{path}/{str(token).replace('~', '~0').replace('/', '~1')}"


def json_diff(old: Any, new: Any, path: str = "") -> list[dict[str, Any]]:
    """What changed from ``old`` to ``new``, one entry per changed leaf, in document order.

    Each entry has ``path`` (an RFC 6901 JSON pointer) and ``old`` and/or ``new``: a value that
    appeared has only ``new``, one that disappeared only ``old``. Objects are compared key by
    key and arrays index by index; anything else that differs is one change.

    >>> json_diff({"on": True, "rules": [{"pct": 5}]}, {"on": True, "rules": [{"pct": 25}]})
    [{'path': '/rules/0/pct', 'old': 5, 'new': 25}]
    >>> json_diff({"a": 1}, {"b": 2})
    [{'path': '/a', 'old': 1}, {'path': '/b', 'new': 2}]
    """
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[dict[str, Any]] = []
        for key in sorted(old.keys() | new.keys()):
            changes += _diff_member(old.get(key, _MISSING), new.get(key, _MISSING), path, key)
        return changes
    if isinstance(old, list) and isinstance(new, list):
        changes = []
        for index in range(max(len(old), len(new))):
            left = old[index] if index < len(old) else _MISSING
            right = new[index] if index < len(new) else _MISSING
            changes += _diff_member(left, right, path, index)
        return changes
    # Compare the JSON texts, not the Python values: Python holds True == 1, JSON does not.
    if canonical_json(old) == canonical_json(new):
        return []
    return [{"path": path, "old": old, "new": new}]


def _diff_member(old: Any, new: Any, path: str, token: str | int) -> list[dict[str, Any]]:
    where = _pointer(path, token)
    if old is _MISSING:
        return [{"path": where, "new": new}]
    if new is _MISSING:
        return [{"path": where, "old": old}]
    return json_diff(old, new, where)
