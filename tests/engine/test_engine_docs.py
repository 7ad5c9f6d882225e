"""The worked examples in the engine's docstrings are true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "rollout.engine.state",
    "rollout.engine.actions",
    "rollout.engine._judging",
    "rollout.engine._stages",
    "rollout.engine._strategy",
    "rollout.engine._verbs",
    "rollout.engine._words",
    "rollout.engine.runner_store",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    failed, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert tried > 0, f"{name} has no examples"
    assert failed == 0
