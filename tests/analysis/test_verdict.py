"""Combining criterion verdicts into a stage verdict."""

from __future__ import annotations

import pytest

from rollout.analysis import CriterionResult, SeriesPoint, Verdict, combine


def _r(verdict: Verdict, name: str = "error_rate < 1%", reason: str = "why") -> CriterionResult:
    return CriterionResult(name, verdict, reason)


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ([Verdict.PASS, Verdict.FAIL, Verdict.ERROR, Verdict.INCONCLUSIVE], Verdict.FAIL),
        ([Verdict.PASS, Verdict.ERROR, Verdict.INCONCLUSIVE], Verdict.ERROR),
        ([Verdict.PASS, Verdict.INCONCLUSIVE], Verdict.INCONCLUSIVE),
        ([Verdict.PASS, Verdict.PASS], Verdict.PASS),
    ],
)
def test_the_worst_verdict_wins(verdicts: list[Verdict], expected: Verdict) -> None:
    assert combine([_r(v) for v in verdicts], final=False).verdict is expected


def test_reasons_quote_the_deciding_criterion() -> None:
    results = [
        _r(Verdict.PASS),
        _r(Verdict.FAIL, "error_rate: no regression", "canary errors 2.1% vs control 1.0%"),
        _r(Verdict.FAIL, "latency_p99 < 300ms", "latency p99 312 ms is above the limit"),
    ]
    stage = combine(results, final=False)
    assert stage.reason == (
        "failed error_rate: no regression: canary errors 2.1% vs control 1.0% (and 1 more)"
    )
    assert stage.results == tuple(results)
    error = combine([_r(Verdict.ERROR, reason="the data are inconsistent")], final=True)
    assert error.reason == "cannot judge error_rate < 1%: the data are inconsistent"
    assert combine([_r(Verdict.PASS)], final=True).reason == "the criterion is met"


def test_a_stage_without_criteria_is_bake_time() -> None:
    assert combine([], final=False).verdict is Verdict.INCONCLUSIVE
    done = combine([], final=True)
    assert (done.verdict, done.reason) == (
        Verdict.PASS,
        "no criteria to judge; the stage's time is up",
    )


def test_verdict_values_are_the_engines_words() -> None:
    assert [v.value for v in Verdict] == ["pass", "fail", "inconclusive", "error"]


def test_results_serialise_for_the_dashboard() -> None:
    result = CriterionResult(
        "error_rate < 1%", Verdict.PASS, "fine", {"canary_value": 0.004},
        (SeriesPoint(60.0, 0.004, None, 0.01),),
    )  # fmt: skip
    assert result.to_dict() == {
        "criterion": "error_rate < 1%",
        "verdict": "pass",
        "reason": "fine",
        "numbers": {"canary_value": 0.004},
        "series": [[60.0, 0.004, None, 0.01]],
    }
