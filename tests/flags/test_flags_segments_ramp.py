"""A rollout stage opened to a segment: members get the treatment (all, or a share bucketed as
the rollout buckets everyone), nobody else does, and the next stage replaces the rule."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.errors import FlagError
from rollout.flags import (
    STAGE_RULE,
    Flag,
    FlagConfig,
    Segment,
    compile_config,
    stage_segment,
    with_rollout_percent,
    with_stage_audience,
)

MEMBERS = tuple(f"staff-{n}" for n in range(300))
OTHERS = tuple(f"user-{n}" for n in range(300))
SEGMENTS = (
    Segment(key="internal-staff", included=MEMBERS),
    Segment(key="beta", included=MEMBERS[:100] + OTHERS[:100]),
)
NEW_CHECKOUT = Flag.model_validate(
    {
        "key": "new-checkout",
        "rules": [
            {
                "clauses": [{"attribute": "country", "op": "equals", "value": "NL"}],
                "serve": {"variant": "off"},
                "description": "not in the Netherlands yet",
            }
        ],
        "fallthrough": {"rollout": {"variant": "on", "percent": 0, "rest": "off"}},
    }
)

percents = st.floats(min_value=0, max_value=100, allow_nan=False)


def served(flag: Flag, keys: tuple[str, ...], **context: str) -> set[str]:
    """The targeting keys ``flag`` serves its ``on`` variant, as an SDK evaluates it."""
    config = compile_config(
        FlagConfig(environment="production", version=1, flags=(flag,), segments=SEGMENTS)
    )
    return {key for key in keys if config.evaluate(flag.key, {"key": key, **context}, False).value}


def test_a_segment_only_stage_serves_every_member_and_nobody_else() -> None:
    flag = with_stage_audience(NEW_CHECKOUT, None, "internal-staff")
    assert served(flag, MEMBERS) == set(MEMBERS)
    assert served(flag, OTHERS) == set()
    assert stage_segment(flag) == ("internal-staff", 100.0)
    assert flag.fallthrough.rollout is not None and flag.fallthrough.rollout.percent == 0


def test_the_flags_own_rules_keep_deciding_first() -> None:
    flag = with_stage_audience(NEW_CHECKOUT, None, "internal-staff")
    assert [r.description for r in flag.rules] == ["not in the Netherlands yet", STAGE_RULE]
    assert served(flag, MEMBERS, country="NL") == set()


@settings(max_examples=40, deadline=None)
@given(low=percents, high=percents)
def test_a_share_of_a_segment_only_grows_as_the_percent_rises(low: float, high: float) -> None:
    low, high = sorted((low, high))
    before = served(with_stage_audience(NEW_CHECKOUT, low, "beta"), MEMBERS + OTHERS)
    after = served(with_stage_audience(NEW_CHECKOUT, high, "beta"), MEMBERS + OTHERS)
    assert before <= after
    beta = set(SEGMENTS[1].included)
    assert after <= beta  # never anyone outside the segment


@settings(max_examples=40, deadline=None)
@given(share=percents)
def test_members_inside_a_share_of_the_segment_stay_in_when_everyone_gets_as_much(
    share: float,
) -> None:
    segment_stage = with_stage_audience(NEW_CHECKOUT, share, "beta")
    everyone_stage = with_stage_audience(segment_stage, share, None)
    keys = MEMBERS + OTHERS
    assert served(segment_stage, keys) <= served(everyone_stage, keys)


@settings(max_examples=30, deadline=None)
@given(first=st.sampled_from(["internal-staff", "beta"]), share=percents)
def test_the_next_stage_replaces_the_segment_rule(first: str, share: float) -> None:
    flag = with_stage_audience(NEW_CHECKOUT, share, first)
    again = with_stage_audience(flag, None, "internal-staff")
    assert [r.description for r in again.rules].count(STAGE_RULE) == 1
    assert served(again, OTHERS) == set()  # beta's non-staff members are out again
    assert stage_segment(again) == ("internal-staff", 100.0)


def test_a_percentage_of_everyone_removes_the_segment_rule() -> None:
    flag = with_stage_audience(NEW_CHECKOUT, None, "internal-staff")
    ramped = with_rollout_percent(flag, 50)
    assert stage_segment(ramped) is None
    assert [r.description for r in ramped.rules] == ["not in the Netherlands yet"]
    staff = served(ramped, MEMBERS)
    assert 0 < len(staff) < len(MEMBERS)  # now they are in by their bucket only


def test_rolling_back_to_zero_removes_everyone() -> None:
    flag = with_stage_audience(NEW_CHECKOUT, 30, "beta")
    back = with_stage_audience(flag, 0, None)
    assert served(back, MEMBERS + OTHERS) == set()
    assert stage_segment(back) is None


def test_a_boolean_flag_without_a_rollout_takes_its_true_variant() -> None:
    flag = Flag.model_validate({"key": "b", "fallthrough": {"variant": "off"}})
    opened = with_stage_audience(flag, None, "internal-staff")
    assert served(opened, MEMBERS[:5]) == set(MEMBERS[:5])


@pytest.mark.parametrize(
    ("percent", "segment", "field"),
    [(None, None, "percent"), (101.0, "beta", "percent"), (-1.0, None, "percent")],
)
def test_mistakes_name_their_field(percent: float | None, segment: str | None, field: str) -> None:
    with pytest.raises(FlagError) as info:
        with_stage_audience(NEW_CHECKOUT, percent, segment)
    assert info.value.field == field
