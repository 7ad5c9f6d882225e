from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from rollout.errors import FlagError
from rollout.flags import Flag, FlagConfig, FlagKind, Serve


def flag(**overrides: Any) -> dict[str, Any]:
    return {"key": "f", "fallthrough": {"variant": "on"}, **overrides}


def config(*flags: dict[str, Any], segments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"environment": "prod", "version": 3, "flags": list(flags), "segments": segments or []}


def rule(*clauses: dict[str, Any], serve: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"clauses": list(clauses), "serve": serve or {"variant": "on"}}


def validation_error(data: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(ValidationError) as info:
        FlagConfig.model_validate_json(json.dumps(data))
    return [(tuple(e["loc"]), e["msg"]) for e in info.value.errors()]


def flag_error(data: dict[str, Any]) -> FlagError:
    with pytest.raises(FlagError) as info:
        FlagConfig.model_validate_json(json.dumps(data))
    return info.value


def clause_errors(clause: dict[str, Any]) -> dict[tuple[str | int, ...], str]:
    return dict(validation_error(config(flag(rules=[rule(clause)]))))


# --- defaults and the round trip -------------------------------------------------------------


def test_a_minimal_flag_is_a_boolean_with_an_off_variant() -> None:
    f = Flag.model_validate(flag())
    assert f.on is True
    assert f.variants == {"on": True, "off": False}
    assert f.off_variant == "off"
    assert f.kind is FlagKind.BOOLEAN
    assert f.bucket_by is None and f.salt is None


def test_an_explicit_null_off_variant_stays_null_through_json() -> None:
    cfg = FlagConfig.model_validate(config(flag(off_variant=None)))
    again = FlagConfig.model_validate_json(cfg.to_json())
    assert again == cfg
    assert again.flags[0].off_variant is None


def test_a_full_config_round_trips() -> None:
    data = config(
        flag(
            key="checkout",
            variants={"a": {"x": [1, 2]}, "b": [3]},
            rules=[
                rule(
                    {"attribute": "country", "op": "in", "values": ["NL", 1, True]},
                    {"op": "in_segment", "values": ["beta"]},
                    serve={
                        "split": [{"variant": "a", "weight": 1}, {"variant": "b", "weight": 99_999}]
                    },
                )
            ],
            fallthrough={"rollout": {"variant": "b", "percent": 12.5, "rest": "a"}},
            bucket_by="org",
            salt="s",
        ),
        segments=[
            {
                "key": "beta",
                "included": ["u1"],
                "rules": [{"clauses": [{"attribute": "a", "op": "gt", "value": 1}]}],
            }
        ],
    )
    cfg = FlagConfig.model_validate(data)
    assert FlagConfig.model_validate_json(cfg.to_json()) == cfg
    assert cfg.flags[0].kind is FlagKind.OBJECT
    assert cfg.flag("checkout") is cfg.flags[0] and cfg.flag("nope") is None
    assert cfg.flags[0].referenced_segments() == frozenset({"beta"})


def test_models_are_frozen() -> None:
    f = Flag.model_validate(flag())
    with pytest.raises(ValidationError, match="frozen"):
        f.on = False  # type: ignore[misc]


@given(st.integers(0, 100_000))
def test_rollout_weights_put_the_variant_first(thousandths: int) -> None:
    serve = Serve.model_validate(
        {"rollout": {"variant": "on", "percent": thousandths / 1000, "rest": "off"}}
    )
    assert serve.weights() == (("on", thousandths), ("off", 100_000 - thousandths))


# --- ValidationError, located at the field -----------------------------------------------------


def test_unknown_fields_are_rejected_where_they_are() -> None:
    errors = validation_error(config(flag(colour="red")))
    assert errors == [(("flags", 0, "colour"), "Extra inputs are not permitted")]


def test_a_bad_regex_is_located_at_the_clause_value() -> None:
    errors = clause_errors({"attribute": "email", "op": "matches", "value": "(unclosed"})
    assert list(errors) == [("flags", 0, "rules", 0, "clauses", 0, "value")]
    assert "regular expression" in next(iter(errors.values()))


@pytest.mark.parametrize("literal", ["1.2", "v1.2.3", "1.02.3", "1.0.0-"])
def test_a_bad_semver_literal_is_located_at_the_clause_value(literal: str) -> None:
    errors = clause_errors({"attribute": "version", "op": "semver_gte", "value": literal})
    assert "semantic version" in errors[("flags", 0, "rules", 0, "clauses", 0, "value")]


def test_weights_must_sum_to_100000() -> None:
    errors = validation_error(
        config(
            flag(
                fallthrough={
                    "split": [
                        {"variant": "on", "weight": 60_000},
                        {"variant": "off", "weight": 30_000},
                    ]
                }
            )
        )
    )
    assert errors == [
        (
            ("flags", 0, "fallthrough", "split"),
            "Value error, weights are thousandths of a percent and must sum to 100000 (100 %), "
            "not 90000",
        )
    ]


def test_a_variant_may_appear_once_in_a_split() -> None:
    ((loc, msg),) = validation_error(
        config(
            flag(
                fallthrough={
                    "split": [
                        {"variant": "on", "weight": 50_000},
                        {"variant": "on", "weight": 50_000},
                    ]
                }
            )
        )
    )
    assert loc == ("flags", 0, "fallthrough", "split") and "more than once" in msg


@pytest.mark.parametrize(
    ("serve", "field", "words"),
    [
        (
            {"rollout": {"variant": "on", "percent": 101, "rest": "off"}},
            ("rollout", "percent"),
            "less than or equal to 100",
        ),
        (
            {"rollout": {"variant": "on", "percent": 5, "rest": "on"}},
            ("rollout", "rest"),
            "different variant",
        ),
        (
            {"variant": "on", "rollout": {"variant": "on", "percent": 5, "rest": "off"}},
            (),
            "exactly one",
        ),
        ({}, (), "exactly one"),
        ({"split": []}, ("split",), "at least one"),
    ],
)
def test_serve_mistakes(serve: dict[str, Any], field: tuple[str, ...], words: str) -> None:
    ((loc, msg),) = validation_error(config(flag(fallthrough=serve)))
    assert loc == ("flags", 0, "fallthrough", *field)
    assert words in msg


@pytest.mark.parametrize(
    ("clause", "field", "words"),
    [
        ({"op": "equals", "value": "x"}, "attribute", "needs the name of a context attribute"),
        ({"attribute": "a", "op": "equals"}, "value", "needs a 'value'"),
        ({"attribute": "a", "op": "in", "value": "x"}, "value", "takes a list in 'values'"),
        ({"attribute": "a", "op": "in", "values": []}, "values", "non-empty list"),
        ({"attribute": "a", "op": "equals", "value": "x", "values": ["x"]}, "values", "not a list"),
        ({"attribute": "a", "op": "lt", "value": "10"}, "value", "not a number"),
        ({"attribute": "a", "op": "lt", "value": True}, "value", "not a number"),
        ({"attribute": "a", "op": "contains", "value": 3}, "value", "needs a string"),
        (
            {"attribute": "a", "op": "gt", "value": 1, "case_insensitive": True},
            "case_insensitive",
            "string operators only",
        ),
        (
            {"attribute": "a", "op": "in_segment", "values": ["s"]},
            "attribute",
            "takes no attribute",
        ),
        ({"op": "in_segment", "values": [1]}, "values", "segment keys"),
        ({"attribute": "a", "op": "between", "value": 1}, "op", "Input should be"),
    ],
)
def test_clause_mistakes_name_their_field(clause: dict[str, Any], field: str, words: str) -> None:
    errors = clause_errors(clause)
    assert words in errors[("flags", 0, "rules", 0, "clauses", 0, field)]


def test_a_rule_needs_a_clause() -> None:
    assert validation_error(config(flag(rules=[rule()]))) == [
        (("flags", 0, "rules", 0, "clauses"), "Value error, a rule needs at least one clause")
    ]


def test_variants_share_one_kind_and_are_never_null() -> None:
    ((loc, msg),) = validation_error(config(flag(variants={"on": True, "off": 0})))
    assert loc == ("flags", 0, "variants") and "one type" in msg
    ((loc, msg),) = validation_error(config(flag(variants={"on": True, "off": None})))
    assert loc == ("flags", 0, "variants", "off") and "null" in msg


def test_numbers_of_either_kind_make_one_number_flag() -> None:
    f = Flag.model_validate(flag(variants={"on": 1, "half": 0.5}))
    assert f.kind is FlagKind.NUMBER


def test_keys_are_checked() -> None:
    ((loc, _),) = validation_error(config(flag(key="has space")))
    assert loc == ("flags", 0, "key")


def test_a_segment_rule_cannot_refer_to_segments() -> None:
    ((loc, msg),) = validation_error(
        config(
            segments=[{"key": "s", "rules": [{"clauses": [{"op": "in_segment", "values": ["s"]}]}]}]
        )
    )
    assert loc == ("segments", 0, "rules", 0, "clauses") and "cannot refer to segments" in msg


# --- FlagError, with the dotted path -----------------------------------------------------------


def test_a_missing_variant_names_the_full_path() -> None:
    error = flag_error(
        config(
            flag(key="a"),
            flag(
                key="b",
                rules=[
                    rule({"attribute": "x", "op": "equals", "value": 1}, serve={"variant": "maybe"})
                ],
            ),
        )
    )
    assert error.field == "flags[1].rules[0].serve.variant"
    assert "no variant named 'maybe'" in error.message


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"off_variant": "gone"}, "flags[0].off_variant"),
        (
            {"fallthrough": {"rollout": {"variant": "on", "percent": 1, "rest": "gone"}}},
            "flags[0].fallthrough.rollout.rest",
        ),
        (
            {
                "fallthrough": {
                    "split": [
                        {"variant": "on", "weight": 100_000},
                        {"variant": "gone", "weight": 0},
                    ]
                }
            },
            "flags[0].fallthrough.split[1].variant",
        ),
    ],
)
def test_every_variant_reference_is_checked(overrides: dict[str, Any], field: str) -> None:
    assert flag_error(config(flag(**overrides))).field == field


def test_a_lone_flag_reports_paths_within_itself() -> None:
    with pytest.raises(FlagError) as info:
        Flag.model_validate(flag(off_variant="gone"))
    assert info.value.field == "off_variant"


def test_a_missing_segment_names_the_full_path() -> None:
    error = flag_error(
        config(
            flag(rules=[rule({"op": "not_in_segment", "values": ["known", "unknown"]})]),
            segments=[{"key": "known"}],
        )
    )
    assert error.field == "flags[0].rules[0].clauses[0].values[1]"
    assert "no segment named 'unknown'" in error.message


def test_duplicate_keys() -> None:
    assert flag_error(config(flag(key="a"), flag(key="b"), flag(key="a"))).field == "flags[2].key"
    assert flag_error(config(segments=[{"key": "s"}, {"key": "s"}])).field == "segments[1].key"


def test_the_documented_example_is_a_valid_config() -> None:
    from rollout.flags import model

    doc = model.__doc__ or ""
    block = doc.split("::\n", 1)[1].split("\nDefaults:", 1)[0]
    text = "\n".join(line.split("//")[0] for line in block.splitlines())
    cfg = FlagConfig.model_validate_json(text)
    assert [f.key for f in cfg.flags] == ["new-checkout"]
    assert cfg.flags[0].referenced_segments() == {"beta-testers"}
