"""The worked examples in the dry run's docstrings are true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "rollout.simulate.behaviour",
    "rollout.simulate.loader",
    "rollout.simulate.scenario",
    "rollout.simulate.traffic",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    failed, tried = doctest.testmod(module)
    assert tried > 0, f"{name} has no examples"
    assert failed == 0
