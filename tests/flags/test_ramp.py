from __future__ import annotations

import pytest

from rollout.errors import FlagError
from rollout.flags import Flag, with_enabled, with_rollout_percent

BOOLEAN = Flag.model_validate(
    {
        "key": "b",
        "rules": [
            {
                "clauses": [{"attribute": "c", "op": "equals", "value": "NL"}],
                "serve": {"variant": "on"},
            }
        ],
        "fallthrough": {"variant": "off"},
        "salt": "s",
    }
)
COLOURS = Flag.model_validate(
    {
        "key": "c",
        "variants": {"red": "r", "blue": "b", "green": "g"},
        "fallthrough": {"variant": "red"},
    }
)


def test_a_boolean_flag_ramps_its_true_variant() -> None:
    ramped = with_rollout_percent(BOOLEAN, 12.5)
    assert ramped.fallthrough.weights() == (("on", 12_500), ("off", 87_500))
    assert (ramped.rules, ramped.salt, ramped.key) == (BOOLEAN.rules, "s", "b")
    assert BOOLEAN.fallthrough.variant == "off"  # the original is untouched


def test_a_ramped_flag_keeps_its_variants_on_the_next_step() -> None:
    first = with_rollout_percent(COLOURS, 5, treatment="green", rest="red")
    second = with_rollout_percent(first, 50)
    assert second.fallthrough.weights() == (("green", 50_000), ("red", 50_000))


def test_a_multi_variant_flag_must_name_its_variants() -> None:
    with pytest.raises(FlagError) as info:
        with_rollout_percent(COLOURS, 10)
    assert info.value.field == "fallthrough.rollout"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"treatment": "purple", "rest": "red"}, "treatment"),
        ({"treatment": "blue", "rest": "purple"}, "rest"),
        ({"treatment": "blue", "rest": "blue"}, "rest"),
    ],
)
def test_unknown_or_equal_variants(kwargs: dict[str, str], field: str) -> None:
    with pytest.raises(FlagError) as info:
        with_rollout_percent(COLOURS, 10, **kwargs)
    assert info.value.field == field


@pytest.mark.parametrize("percent", [-1, 100.5, float("nan"), float("inf")])
def test_the_percent_must_be_0_to_100(percent: float) -> None:
    with pytest.raises(FlagError) as info:
        with_rollout_percent(BOOLEAN, percent)
    assert info.value.field == "percent"


def test_with_enabled_flips_only_the_switch() -> None:
    off = with_enabled(BOOLEAN, False)
    assert off.on is False and BOOLEAN.on is True
    assert with_enabled(off, True) == BOOLEAN
