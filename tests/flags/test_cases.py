"""The shared evaluation cases (cases.json) against the compiled evaluator, plus checks that the
file itself keeps to the bucketing formula."""

from __future__ import annotations

import json
from functools import cache

import mmh3
import pytest
from flag_cases import FlagCase, load_cases
from pydantic import ValidationError

from rollout.errors import FlagError
from rollout.flags import CompiledConfig, ErrorCode, FlagConfig, compile_config

CASES = load_cases()


@cache
def _compiled(config_text: str) -> CompiledConfig:
    try:
        return compile_config(FlagConfig.model_validate_json(config_text))
    except (ValidationError, FlagError) as exc:
        return CompiledConfig.failing(ErrorCode.PARSE_ERROR, str(exc))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case: FlagCase) -> None:
    result = _compiled(case.config_text).evaluate(case.flag, case.context, case.default)
    expect = case.expect
    assert (result.value, result.variant, result.reason, result.error_code) == (
        expect.value,
        expect.variant,
        expect.reason,
        expect.error_code,
    )
    # Type too: 1 == True and 2.5 == 2.5 are not enough for a flag value.
    assert type(result.value) is type(expect.value)
    if expect.rule_index is not None:
        assert result.rule_index == expect.rule_index
    if expect.error_code is not None:
        assert result.error_message


def _independent_bucket(salt: str, value: str) -> int:
    # The formula from ARCHITECTURE.md, computed here without rollout.flags.
    return (mmh3.hash(f"{salt}/{value}", 0, False) * 100_000) >> 32


def _split_ranges(flag: dict[str, object]) -> list[tuple[str, int]]:
    serve = flag["fallthrough"]
    for rule in flag.get("rules", []):  # type: ignore[attr-defined]
        if "split" in rule["serve"]:
            serve = rule["serve"]
    assert isinstance(serve, dict)
    if "rollout" in serve:
        r = serve["rollout"]
        return [
            (r["variant"], round(r["percent"] * 1000)),
            (r["rest"], 100_000 - round(r["percent"] * 1000)),
        ]
    return [(w["variant"], w["weight"]) for w in serve["split"]]


@pytest.mark.parametrize("case", [c for c in CASES if c.expect.bucket is not None], ids=str)
def test_pinned_buckets_follow_the_formula(case: FlagCase) -> None:
    config = json.loads(case.config_text)
    flag = next(f for f in config["flags"] if f["key"] == case.flag)
    attribute = flag.get("bucket_by") or "targeting_key"
    value = case.context.get(attribute, case.context.get("key"))
    bucket = _independent_bucket(flag.get("salt") or flag["key"], str(value))
    assert bucket == case.expect.bucket
    start = 0
    for variant, weight in _split_ranges(flag):
        if start <= bucket < start + weight:
            assert variant == case.expect.variant
        start += weight


def test_the_file_covers_every_reason_error_and_operator() -> None:
    reasons = {c.expect.reason for c in CASES}
    assert {"STATIC", "DEFAULT", "TARGETING_MATCH", "SPLIT", "DISABLED", "ERROR"} <= reasons
    codes = {c.expect.error_code for c in CASES} - {None}
    assert {
        "FLAG_NOT_FOUND",
        "TYPE_MISMATCH",
        "TARGETING_KEY_MISSING",
        "INVALID_CONTEXT",
        "PARSE_ERROR",
    } <= codes
    from rollout.flags import Op

    used = {
        clause["op"]
        for text in {c.config_text for c in CASES}
        if text.startswith("{") and text.endswith("}")
        for flag in json.loads(text)["flags"]
        for rule in flag.get("rules", [])
        for clause in rule["clauses"]
    }
    assert used >= {op.value for op in Op}
    assert len(CASES) >= 60
