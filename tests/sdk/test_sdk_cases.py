"""The shared evaluation cases (tests/flags/cases.json) through the SDK: the client offline, and
the OpenFeature client API over the Rollout provider. Both must give what the server's
evaluator gives."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path
from typing import Any

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import OpenFeatureError
from openfeature.flag_evaluation import FlagEvaluationDetails
from sdk_support import flag_cases

from rollout.sdk import RolloutClient, RolloutProvider

CASES = flag_cases().load_cases()


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RolloutClient]:
    """One offline client per config of the file, loaded from a file as an application would."""
    folder = tmp_path_factory.mktemp("configs")
    made: dict[str, RolloutClient] = {}
    for case in CASES:
        if case.config_name not in made:
            path = folder / f"{case.config_name}.json"
            path.write_text(case.config_text, encoding="utf-8")
            made[case.config_name] = RolloutClient(None, "test", offline_config=path)
    return made


def _check(case: Any, value: Any, variant: Any, reason: Any, error_code: Any) -> None:
    expect = case.expect
    assert (value, variant, reason, error_code) == (
        expect.value,
        expect.variant,
        expect.reason,
        expect.error_code,
    )
    assert type(value) is type(expect.value)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case_through_the_client(case: Any, clients: dict[str, RolloutClient]) -> None:
    result = clients[case.config_name].evaluate(case.flag, case.context, case.default)
    _check(case, result.value, result.variant, result.reason, result.error_code)
    if case.expect.rule_index is not None:
        assert result.rule_index == case.expect.rule_index
    if case.expect.error_code is not None:
        assert result.error_message


def _openfeature_details(
    domain: str, case: Any, context: EvaluationContext
) -> FlagEvaluationDetails[Any]:
    of_client = api.get_client(domain)
    default = case.default
    if isinstance(default, bool):
        return of_client.get_boolean_details(case.flag, default, context)
    if isinstance(default, str):
        return of_client.get_string_details(case.flag, default, context)
    if isinstance(default, int | float):
        # The float getter takes every number flag; integers are checked in
        # test_sdk_openfeature.py.
        return of_client.get_float_details(case.flag, float(default), context)
    return of_client.get_object_details(case.flag, default, context)


def _of_context(context: dict[str, Any]) -> EvaluationContext | None:
    """The case's context the OpenFeature way: ``targeting_key`` apart, the rest attributes.
    ``None`` for the cases whose context is deliberately not a mapping."""
    if not isinstance(context, dict):
        return None
    attributes = dict(context)
    key = attributes.pop("targeting_key", None)
    if key is not None and not isinstance(key, str):
        return None  # OpenFeature's targeting key is a string; the case tests another type
    return EvaluationContext(key, attributes)


def _openfeature_comparable(case: Any) -> bool:
    """Cases OpenFeature's typed API can express: a None default has no typed getter, and
    a non-mapping context or a non-string targeting key cannot be an EvaluationContext."""
    return case.default is not None and _of_context(case.context) is not None


@pytest.fixture(scope="module")
def domains(clients: dict[str, RolloutClient]) -> dict[str, str]:
    """One OpenFeature domain per config, each served by a Rollout provider."""
    named: dict[str, str] = {}
    for name, client in clients.items():
        domain = f"cases-{name}-{uuid.uuid4().hex[:8]}"
        # A config that does not parse leaves the provider in ERROR; evaluations go on.
        with contextlib.suppress(OpenFeatureError):
            api.set_provider_and_wait(RolloutProvider(client, ready_timeout=0.1), domain)
        named[name] = domain
    return named


@pytest.mark.parametrize("case", [c for c in CASES if _openfeature_comparable(c)], ids=str)
def test_case_through_openfeature(case: Any, domains: dict[str, str]) -> None:
    context = _of_context(case.context)
    assert context is not None
    details = _openfeature_details(domains[case.config_name], case, context)
    expect = case.expect
    value = details.value
    if isinstance(value, float) and type(expect.value) is int:
        assert value.is_integer()
        value = int(value)  # the float getter serves every number as a float
    _check(
        case,
        value,
        details.variant,
        None if details.reason is None else str(details.reason),
        None if details.error_code is None else str(details.error_code),
    )


def test_most_cases_are_checked_through_openfeature() -> None:
    assert sum(_openfeature_comparable(c) for c in CASES) >= 0.8 * len(CASES)


def test_a_missing_offline_file_is_fatal_not_a_traceback(tmp_path: Path) -> None:
    client = RolloutClient(None, "test", offline_config=tmp_path / "missing.json")
    result = client.evaluate("anything", {"targeting_key": "u"}, "fallback")
    assert (result.value, result.reason, result.error_code) == (
        "fallback",
        "ERROR",
        "PROVIDER_FATAL",
    )
    assert "missing.json" in (result.error_message or "")
    assert not client.wait_until_ready(0)
