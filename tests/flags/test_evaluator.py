"""Evaluator behaviour beyond the shared cases: never raising, preallocated results, the
distribution of splits and the monotonicity of ramps."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import mmh3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from rollout.flags import (
    CompiledConfig,
    ErrorCode,
    Flag,
    FlagConfig,
    Reason,
    compile_config,
    with_enabled,
    with_rollout_percent,
)


def compiled(
    *flags: dict[str, Any], segments: list[dict[str, Any]] | None = None
) -> CompiledConfig:
    return compile_config(
        FlagConfig.model_validate(
            {"environment": "test", "version": 1, "flags": list(flags), "segments": segments or []}
        )
    )


SPLIT_3 = {
    "key": "three",
    "variants": {"a": "A", "b": "B", "c": "C"},
    "fallthrough": {
        "split": [
            {"variant": "a", "weight": 25_000},
            {"variant": "b", "weight": 25_000},
            {"variant": "c", "weight": 50_000},
        ]
    },
}
NL_THEN_25 = {
    "key": "nl",
    "rules": [
        {
            "clauses": [{"attribute": "country", "op": "equals", "value": "NL"}],
            "serve": {"variant": "on"},
        }
    ],
    "fallthrough": {"rollout": {"variant": "on", "percent": 25, "rest": "off"}},
}


def test_the_architecture_example() -> None:
    result = compiled(NL_THEN_25).evaluate(
        "nl", {"targeting_key": "user-42", "country": "NL"}, False
    )
    assert (result.value, result.variant, result.reason, result.rule_index) == (
        True,
        "on",
        Reason.TARGETING_MATCH,
        0,
    )


def test_static_results_are_shared_not_allocated() -> None:
    config = compiled(NL_THEN_25, {"key": "static", "fallthrough": {"variant": "on"}})
    nl = config.evaluate("nl", {"targeting_key": "a", "country": "NL"}, False)
    assert config.evaluate("nl", {"targeting_key": "b", "country": "NL"}, False) is nl
    assert config.evaluate("static", {}, False) is config.evaluate("static", {"x": 1}, True)


def test_split_results_are_preallocated_per_variant() -> None:
    config = compiled(SPLIT_3)
    results = [config.evaluate("three", {"targeting_key": f"u{i}"}, "") for i in range(300)]
    assert len({id(r) for r in results}) == 3


class Exploding(Mapping[str, Any]):
    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("boom")

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


@pytest.mark.parametrize(
    ("context", "code"),
    [
        (None, ErrorCode.INVALID_CONTEXT),
        (["targeting_key", "u1"], ErrorCode.INVALID_CONTEXT),
        (Exploding(), ErrorCode.GENERAL),
    ],
)
def test_a_broken_context_never_raises(context: Any, code: ErrorCode) -> None:
    result = compiled(NL_THEN_25).evaluate("nl", context, False)
    assert (result.value, result.reason, result.error_code) == (False, Reason.ERROR, code)
    assert result.error_message


def test_an_unhashable_flag_key_never_raises() -> None:
    result = compiled(NL_THEN_25).evaluate(["nl"], {}, True)  # type: ignore[arg-type]
    assert (result.value, result.reason, result.error_code) == (
        True,
        Reason.ERROR,
        ErrorCode.GENERAL,
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
EVERYTHING = compiled(
    SPLIT_3,
    NL_THEN_25,
    {
        "key": "ops",
        "rules": [
            {"clauses": [{"attribute": attr, "op": op, "value": value}], "serve": {"variant": "on"}}
            for attr, op, value in [
                ("a", "contains", "x"),
                ("a", "matches", "^x"),
                ("a", "lt", 3),
                ("a", "semver_gt", "1.0.0"),
                ("a", "not_equals", 2),
                ("a", "equals", True),
            ]
        ]
        + [{"clauses": [{"op": "in_segment", "values": ["s"]}], "serve": {"variant": "on"}}],
        "fallthrough": {"variant": "off"},
    },
    segments=[
        {
            "key": "s",
            "included": ["k"],
            "rules": [{"clauses": [{"attribute": "b", "op": "in", "values": [1, "1"]}]}],
        }
    ],
)


@settings(max_examples=300)
@given(
    st.sampled_from(["three", "nl", "ops", "missing"]),
    st.dictionaries(st.sampled_from(["targeting_key", "key", "country", "a", "b"]), json_values),
    json_values,
)
def test_evaluate_never_raises(flag: str, context: dict[str, Any], default: Any) -> None:
    result = EVERYTHING.evaluate(flag, context, default)
    if result.reason is Reason.ERROR:
        assert result.value is default and result.error_code is not None
    else:
        assert result.variant is not None and result.error_code is None


def test_a_split_follows_the_bucket_formula() -> None:
    config = compiled(SPLIT_3)
    for i in range(2000):
        key = f"user-{i}"
        bucket = (mmh3.hash(f"three/{key}", 0, False) * 100_000) >> 32
        expected = "a" if bucket < 25_000 else "b" if bucket < 50_000 else "c"
        assert config.evaluate("three", {"targeting_key": key}, "").variant == expected


def test_a_25_25_50_split_is_distributed_as_configured() -> None:
    config = compiled(SPLIT_3)
    counts = Counter(
        config.evaluate("three", {"targeting_key": f"id-{i}"}, "").variant for i in range(100_000)
    )
    observed = [counts["a"], counts["b"], counts["c"]]
    assert sum(observed) == 100_000
    assert chisquare(observed, [25_000, 25_000, 50_000]).pvalue > 0.001


def test_disabling_serves_the_off_variant_to_everyone() -> None:
    flag = with_enabled(Flag.model_validate(NL_THEN_25), False)
    config = compile_config(FlagConfig(environment="t", version=1, flags=(flag,)))
    for context in ({"targeting_key": "u1", "country": "NL"}, {"targeting_key": "u2"}, {}):
        result = config.evaluate("nl", context, True)
        assert (result.value, result.reason) == (False, Reason.DISABLED)


def _treated(flag: Flag, users: list[str]) -> set[str]:
    config = compile_config(FlagConfig(environment="t", version=1, flags=(flag,)))
    return {u for u in users if config.evaluate(flag.key, {"targeting_key": u}, False).value}


BASE = Flag.model_validate({"key": "ramp", "fallthrough": {"variant": "off"}})
USERS = [f"user-{i}" for i in range(400)]


@settings(max_examples=60)
@given(st.lists(st.integers(0, 100_000).map(lambda k: k / 1000), min_size=2, max_size=5))
def test_raising_the_rollout_never_removes_anyone(percents: list[float]) -> None:
    previous: set[str] = set()
    for percent in sorted(percents):
        treated = _treated(with_rollout_percent(BASE, percent), USERS)
        assert previous <= treated
        previous = treated


@given(st.floats(0, 100))
def test_the_rollout_treats_exactly_the_buckets_below_p_times_1000(percent: float) -> None:
    treated = _treated(with_rollout_percent(BASE, percent), USERS)
    for user in USERS:
        bucket = (mmh3.hash(f"ramp/{user}", 0, False) * 100_000) >> 32
        assert (user in treated) == (bucket < round(percent * 1000, 6))


def test_rollback_to_zero_removes_everyone_and_100_includes_everyone() -> None:
    ramped = with_rollout_percent(BASE, 60)
    assert _treated(with_rollout_percent(ramped, 0), USERS) == set()
    assert _treated(with_rollout_percent(ramped, 100), USERS) == set(USERS)


def test_a_failing_config_serves_defaults_with_its_code() -> None:
    config = CompiledConfig.failing(ErrorCode.PARSE_ERROR, "bad JSON")
    result = config.evaluate("anything", {"targeting_key": "u"}, 7)
    assert (result.value, result.reason, result.error_code, result.error_message) == (
        7,
        Reason.ERROR,
        ErrorCode.PARSE_ERROR,
        "bad JSON",
    )


def test_evaluate_all_and_introspection() -> None:
    config = compiled(SPLIT_3, NL_THEN_25)
    assert set(config) == {"three", "nl"} and len(config) == 2 and "nl" in config
    assert config.kind("three") == "string" and config.kind("nope") is None
    everything = config.evaluate_all({"targeting_key": "u1", "country": "NL"})
    assert everything["nl"].value is True and everything["three"].reason is Reason.SPLIT
    assert (config.environment, config.version) == ("test", 1)


def test_segment_rules_and_keys() -> None:
    config = compiled(
        {
            "key": "seg",
            "rules": [
                {
                    "clauses": [{"op": "in_segment", "values": ["a", "b"]}],
                    "serve": {"variant": "on"},
                }
            ],
            "fallthrough": {"variant": "off"},
        },
        segments=[
            {"key": "a", "included": ["42"]},
            {
                "key": "b",
                "rules": [{"clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}]}],
            },
        ],
    )
    assert config.evaluate("seg", {"targeting_key": 42}, False).value is True  # an integer key
    assert config.evaluate("seg", {"plan": "pro"}, False).value is True  # any listed segment
    assert config.evaluate("seg", {"targeting_key": "41"}, False).value is False


def test_a_custom_salt_and_bucket_by_change_the_hashed_text() -> None:
    config = compiled({**SPLIT_3, "salt": "exp-7", "bucket_by": "device"})
    for i in range(500):
        bucket = (mmh3.hash(f"exp-7/dev{i}", 0, False) * 100_000) >> 32
        expected = "a" if bucket < 25_000 else "b" if bucket < 50_000 else "c"
        assert (
            config.evaluate("three", {"targeting_key": "same", "device": f"dev{i}"}, "").variant
            == expected
        )
