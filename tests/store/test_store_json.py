"""Canonical JSON and the leaf diff used by flag history (pure, so property-tested)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollout.store import canonical_json, json_diff
from rollout.store._json import json_object

leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
documents = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _apply(document: Any, changes: list[dict[str, Any]]) -> Any:
    """Replay a diff on ``document``; removals go last-index-first so indexes stay valid."""
    root = {"": copy.deepcopy(document)}
    ordered = [c for c in changes if "new" in c] + [c for c in reversed(changes) if "new" not in c]
    for change in ordered:
        tokens = [""] + [_unescape(t) for t in change["path"].split("/")[1:]]
        parent: Any = root
        for token in tokens[:-1]:
            parent = parent[int(token) if isinstance(parent, list) else token]
        last: Any = int(tokens[-1]) if isinstance(parent, list) else tokens[-1]
        if "new" not in change:
            del parent[last]
        elif isinstance(parent, list) and last == len(parent):
            parent.append(change["new"])
        else:
            parent[last] = change["new"]
    return root[""]


@given(documents, documents)
def test_replaying_the_diff_turns_old_into_new(old: Any, new: Any) -> None:
    assert canonical_json(_apply(old, json_diff(old, new))) == canonical_json(new)


@given(documents)
def test_a_document_does_not_differ_from_itself(document: Any) -> None:
    assert json_diff(document, copy.deepcopy(document)) == []


def test_true_and_one_differ_as_json_says() -> None:
    assert json_diff({"a": True}, {"a": 1}) == [{"path": "/a", "old": True, "new": 1}]


def test_keys_with_slashes_and_tildes_are_escaped() -> None:
    assert json_diff({}, {"a/b~c": 1}) == [{"path": "/a~1b~0c", "new": 1}]


def test_canonical_json_ignores_key_order_and_spacing() -> None:
    assert canonical_json({"b": 1, "a": [1, 2]}) == canonical_json({"a": [1, 2], "b": 1})
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'


def test_json_object_copies_as_the_database_returns_it() -> None:
    assert json_object({"steps": (1, 2), 3: "x"}, "state") == {"steps": [1, 2], "3": "x"}
    with pytest.raises(ValueError, match="state is not JSON"):
        json_object({"when": object()}, "state")
    with pytest.raises(ValueError, match="must be a JSON object"):
        json_object([1], "state")  # type: ignore[arg-type]
